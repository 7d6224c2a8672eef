"""Property tests: no body, however malformed, makes the decoder raise anything but BadRequest.

That is what guarantees the HTTP receiver answers 4xx (never 500) to bad input.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.batch import ColumnBatch
from collector.otlp_codec import JSON, PROTOBUF, BadRequest, decode_body
from tests.otlp_samples import json_traces, span, traces_request

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


def _decodes_or_bad_request(signal: str, body: bytes, content_type: str) -> None:
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
