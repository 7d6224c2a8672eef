"""Property tests: no body, however malformed, makes the decoder raise anything but BadRequest.

That is what guarantees the HTTP receiver answers 4xx (never 500) to bad input. The same
bodies also go through the per-request limits (which may only raise LimitExceeded), gzip
bodies of any number of members through `gunzip`, and any int32 severity through the clamp.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from connlog.collector.batch import ColumnBatch
from connlog.collector.decode_logs import SEVERITY_MAX, SEVERITY_MIN, clamp_severity
from connlog.collector.limits import LimitExceeded, check_logs, check_traces
from connlog.collector.options import CollectorOptions
from connlog.collector.otlp_codec import JSON, PROTOBUF, BadRequest, TooLarge, decode_body, gunzip, parse_body
from tests.otlp_samples import json_traces, span, traces_request

# Small limits, so generated requests hit them.
TIGHT = CollectorOptions(
    max_items_per_request=3,
    max_attributes=3,
    max_attribute_bytes=64,
    max_resource_bytes=64,
    max_fanout_bytes=128,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
# Keys that OTLP/JSON uses, so generated documents reach deep into the parser.
otlp_keys = st.sampled_from(
    [
        "resourceSpans",
        "scopeSpans",
        "spans",
        "traceId",
        "spanId",
        "attributes",
        "value",
        "kind",
        "links",
        "resourceLogs",
        "scopeLogs",
        "logRecords",
        "body",
        "startTimeUnixNano",
        "stringValue",
        "intValue",
    ]
)
otlp_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet="0123456789abcdefxyz", max_size=34),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(otlp_keys, inner, max_size=4),
    max_leaves=25,
)


def _within_limits_or_limit_exceeded(signal: str, body: bytes, content_type: str) -> None:
    try:
        request = parse_body(signal, body, content_type)
    except BadRequest:
        return
    try:
        if isinstance(request, ExportLogsServiceRequest):
            check_logs(request, TIGHT)
        else:
            check_traces(request, TIGHT)  # type: ignore[arg-type]
    except LimitExceeded as exc:
        assert "max_" in str(exc)  # the message names the option


def _decodes_or_bad_request(signal: str, body: bytes, content_type: str) -> None:
    _within_limits_or_limit_exceeded(signal, body, content_type)
    try:
        batch = decode_body(signal, body, content_type)
    except BadRequest:
        return
    assert isinstance(batch, ColumnBatch)
    assert all(len(col) == batch.rows for col in batch.data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=300), signal=st.sampled_from(["traces", "logs"]))
def test_random_bytes_as_protobuf(body: bytes, signal: str) -> None:
    _decodes_or_bad_request(signal, body, PROTOBUF)


@settings(max_examples=100, deadline=None)
@given(cut=st.integers(min_value=0, max_value=400), flip=st.integers(min_value=0, max_value=255))
def test_mutated_valid_protobuf(cut: int, flip: int) -> None:
    good = bytearray(traces_request(span("a"), span("b", span_id=b"\x05" * 8)).SerializeToString())
    if good:
        good[cut % len(good)] ^= flip
    _decodes_or_bad_request("traces", bytes(good[: max(cut, 1)]), PROTOBUF)
    _decodes_or_bad_request("traces", bytes(good), PROTOBUF)


@settings(max_examples=150, deadline=None)
@given(doc=st.one_of(json_values, otlp_like), signal=st.sampled_from(["traces", "logs"]))
def test_arbitrary_json_documents(doc: Any, signal: str) -> None:
    _decodes_or_bad_request(signal, json.dumps(doc).encode(), JSON)


@settings(max_examples=100, deadline=None)
@given(
    path=st.lists(st.sampled_from(["resourceSpans", 0, "scopeSpans", "spans", "traceId"]), max_size=5),
    value=json_values,
)
def test_valid_json_with_one_field_replaced(path: list[Any], value: Any) -> None:
    doc: Any = json_traces()
    target = doc
    for key in path:
        if isinstance(target, dict) and isinstance(key, str) and key in target:
            target = target[key]
        elif isinstance(target, list) and isinstance(key, int) and target:
            target = target[0]
    if isinstance(target, dict):
        for k in list(target)[:1]:
            target[k] = value
    _decodes_or_bad_request("traces", json.dumps(doc).encode(), JSON)


@settings(max_examples=100, deadline=None)
@given(parts=st.lists(st.binary(max_size=64), min_size=1, max_size=5), tail=st.binary(max_size=8))
def test_gzip_of_any_number_of_members(parts: list[bytes], tail: bytes) -> None:
    body = b"".join(gzip.compress(p) for p in parts)
    limit = 128
    whole = b"".join(parts)
    if len(whole) <= limit:
        assert gunzip(body, limit) == whole
    else:
        try:
            gunzip(body, limit)
        except TooLarge:
            pass
    try:  # trailing bytes: another member, padding or garbage, never anything but a 4xx
        out = gunzip(body + tail, limit)
    except (BadRequest, TooLarge):
        return
    assert out == whole


@settings(max_examples=100, deadline=None)
@given(number=st.integers(min_value=-(2**31), max_value=2**31 - 1))
def test_any_severity_number_lands_in_the_otel_range(number: int) -> None:
    clamped = clamp_severity(number)
    assert SEVERITY_MIN <= clamped <= SEVERITY_MAX
    assert clamped == number or not SEVERITY_MIN <= number <= SEVERITY_MAX
