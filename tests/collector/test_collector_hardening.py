"""Issue 10 items 4, 6, 9, 10 and 12 against a running collector on chDB.

4: per-request content limits refuse amplifying requests before fan-out (413 / INVALID_ARGUMENT).
6: every member of a multi-member gzip body is stored (the cap counts them all).
9: spans and records older than the retention are refused in partial_success, not dropped.
10: severity numbers are clamped to the OTel range 0..24.
12: a stalled body gets 408 after body_read_timeout_s; open requests are capped (503).
"""

from __future__ import annotations

import gzip
import socket
import time

import grpc
import httpx
import pytest
from google.rpc.status_pb2 import Status  # type: ignore[import-untyped]
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, SeverityNumber
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from connlog.collector.batch import NS_PER_DAY
from connlog.collector.config import ENV_COLLECTOR_LIMITS, ENV_RETENTION_DAYS, ConfigError
from connlog.collector.decode_logs import clamp_severity, decode_logs
from connlog.collector.decode_traces import decode_traces
from connlog.collector.limits import LimitExceeded, check_logs, check_traces
from connlog.collector.options import CollectorOptions
from connlog.collector.otlp_codec import BadRequest, TooLarge, gunzip
from connlog.collector.schema.names import LOGS, TRACES
from tests.otlp_samples import START_NS, kv, logs_request, span, traces_request
from tests.pipeline import Pipeline, PipelineFactory

PB = {"Content-Type": "application/x-protobuf"}


def _post(p: Pipeline, path: str, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(f"{p.http_endpoint}{path}", content=body, headers={**PB, **headers}, timeout=30)


def _status(resp: httpx.Response) -> Status:
    status = Status()
    status.ParseFromString(resp.content)
    return status


def _spans(n: int) -> list[Span]:
    return [span(f"s{i}", span_id=(i + 1).to_bytes(8, "big")) for i in range(n)]


def _count(p: Pipeline, table: str) -> int:
    p.flush()
    return int(p.client.query(f"SELECT count() FROM {table}").result_rows[0][0])


# --------------------------------------------------------------------------- item 4: limits
def test_the_reported_amplifying_request_is_refused_before_fan_out(pipeline: Pipeline) -> None:
    """581 KB on the wire (one 512 KB resource attribute, 1,000 spans) used to take RSS +1.2 GB."""
    request = traces_request(*_spans(1_000))
    request.resource_spans[0].resource.attributes.append(kv("blob", string_value="x" * 512 * 1024))
    resp = _post(pipeline, "/v1/traces", request.SerializeToString())
    assert resp.status_code == 413
    assert "max_resource_bytes" in _status(resp).message
    assert pipeline.stats["spans_received"] == 0
    resp = _post(pipeline, "/v1/traces", traces_request(span("after")).SerializeToString())
    assert resp.status_code == 200 and _count(pipeline, TRACES) == 1


@pytest.mark.parametrize(
    ("limit", "build"),
    [
        ("max_items_per_request", lambda: traces_request(*_spans(11))),
        ("max_attributes", lambda: traces_request(_with_attrs(span("many"), 21))),
        ("max_attribute_bytes", lambda: traces_request(_with_attrs(span("big"), 1, size=5_000))),
        ("max_fanout_bytes", lambda: _fanout_request()),
    ],
)
def test_each_limit_is_named_in_the_413(pipeline_factory: PipelineFactory, limit: str, build: object) -> None:
    options = CollectorOptions(
        batch_max_delay_s=0.2,
        max_items_per_request=10,
        max_attributes=20,
        max_attribute_bytes=4_096,
        max_resource_bytes=2_048,
        max_fanout_bytes=8_000,
    )
    p = pipeline_factory(options)
    resp = _post(p, "/v1/traces", build().SerializeToString())  # type: ignore[operator]
    assert resp.status_code == 413, resp.content
    assert limit in _status(resp).message
    with grpc.insecure_channel(p.grpc_endpoint) as channel:
        with pytest.raises(grpc.RpcError) as err:
            TraceServiceStub(channel).Export(build(), timeout=10)  # type: ignore[no-untyped-call,operator]
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and limit in (err.value.details() or "")
    assert _count(p, TRACES) == 0


def _with_attrs(s: Span, n: int, size: int = 4) -> Span:
    for i in range(n):
        s.attributes.append(kv(f"k{i}", string_value="v" * size))
    return s


def _fanout_request() -> ExportTraceServiceRequest:
    request = traces_request(*_spans(8))
    request.resource_spans[0].resource.attributes.append(kv("r", string_value="r" * 1_500))
    return request


def test_log_limits_cover_bodies_and_scope_attributes() -> None:
    options = CollectorOptions(max_attribute_bytes=1_000, max_resource_bytes=500)
    check_logs(logs_request(LogRecord(time_unix_nano=START_NS)), options)  # within limits
    big_body = logs_request(LogRecord(time_unix_nano=START_NS))
    big_body.resource_logs[0].scope_logs[0].log_records[0].body.string_value = "b" * 2_000
    with pytest.raises(LimitExceeded, match="max_attribute_bytes"):
        check_logs(big_body, options)
    scoped = logs_request(LogRecord(time_unix_nano=START_NS))
    scoped.resource_logs[0].scope_logs[0].scope.attributes.append(kv("s", string_value="s" * 600))
    with pytest.raises(LimitExceeded, match="max_resource_bytes"):
        check_logs(scoped, options)
    events = traces_request(span("ev"))
    ev = events.resource_spans[0].scope_spans[0].spans[0].events.add()
    ev.attributes.append(kv("e", string_value="e" * 2_000))
    with pytest.raises(LimitExceeded, match="event"):
        check_traces(events, options)


# --------------------------------------------------------------------------- item 6: gzip
def test_multi_member_gzip_stores_every_member(pipeline: Pipeline) -> None:
    first = traces_request(span("member one", span_id=b"\x01" * 8)).SerializeToString()
    second = traces_request(span("member two", span_id=b"\x02" * 8)).SerializeToString()
    # Concatenated protobuf messages merge their repeated fields: both spans are in the body.
    body = gzip.compress(first) + gzip.compress(second)
    resp = _post(pipeline, "/v1/traces", body, **{"Content-Encoding": "gzip"})
    assert resp.status_code == 200
    pipeline.flush()
    rows = pipeline.client.query(f"SELECT SpanName FROM {TRACES} ORDER BY SpanName").result_rows
    assert rows == [("member one",), ("member two",)]


def test_gunzip_members_cap_and_garbage() -> None:
    assert gunzip(gzip.compress(b"ab") + gzip.compress(b"cd") + b"\0\0", 10) == b"abcd"
    with pytest.raises(TooLarge, match="max_decompressed_bytes"):
        gunzip(gzip.compress(b"x" * 6) + gzip.compress(b"y" * 6), 10)  # each fits, together not
    with pytest.raises(BadRequest):
        gunzip(gzip.compress(b"ab") + b"not gzip", 10)
    with pytest.raises(BadRequest, match="truncated"):
        gunzip(gzip.compress(b"ab") + gzip.compress(b"cd")[:-4], 10)


# --------------------------------------------------------------------------- item 9: retention
def test_spans_and_logs_older_than_the_retention_are_refused_not_acknowledged(pipeline: Pipeline) -> None:
    days = pipeline.settings.retention.days
    assert days > 0
    old = START_NS - (days + 1) * NS_PER_DAY
    stale = span("stale", span_id=b"\x09" * 8)
    stale.start_time_unix_nano, stale.end_time_unix_nano = old, old + 10
    resp = _post(pipeline, "/v1/traces", traces_request(span("fresh"), stale).SerializeToString())
    assert resp.status_code == 200
    answer = ExportTraceServiceResponse.FromString(resp.content)
    assert answer.partial_success.rejected_spans == 1
    assert "retention" in answer.partial_success.error_message
    assert ENV_RETENTION_DAYS in answer.partial_success.error_message
    resp = _post(
        pipeline,
        "/v1/logs",
        logs_request(LogRecord(time_unix_nano=old), LogRecord(time_unix_nano=START_NS)).SerializeToString(),
    )
    logs_answer = ExportLogsServiceResponse.FromString(resp.content)
    assert logs_answer.partial_success.rejected_log_records == 1
    assert _count(pipeline, TRACES) == 1 and _count(pipeline, LOGS) == 1
    assert pipeline.stats["spans_rejected"] == 1 and pipeline.stats["spans_received"] == 1


def test_retention_zero_keeps_everything() -> None:
    old = span("1990", span_id=b"\x03" * 8)
    old.start_time_unix_nano = 631_152_000 * 10**9
    assert decode_traces(traces_request(old), retention_days=0).rows == 1
    assert decode_traces(traces_request(old), retention_days=30).rejected == 1


# --------------------------------------------------------------------------- item 10: severity
def test_severity_numbers_are_clamped_to_the_otel_range(pipeline: Pipeline) -> None:
    records = [
        LogRecord(time_unix_nano=START_NS + i, severity_number=SeverityNumber.ValueType(n))
        for i, n in enumerate((-5, 9, 99))
    ]
    assert _post(pipeline, "/v1/logs", logs_request(*records).SerializeToString()).status_code == 200
    pipeline.flush()
    rows = pipeline.client.query(f"SELECT SeverityNumber FROM {LOGS} ORDER BY Timestamp").result_rows
    assert [r[0] for r in rows] == [0, 9, 24]
    assert decode_logs(
        logs_request(LogRecord(time_unix_nano=START_NS, severity_number=SeverityNumber.ValueType(-1)))
    ).data[5] == [0]
    assert [clamp_severity(n) for n in (-(2**31), 0, 24, 25)] == [0, 0, 24, 24]


# --------------------------------------------------------------------------- item 12: slow clients
def _stalled(p: Pipeline, sent: int = 10, declared: int = 1_000) -> socket.socket:
    """A connection that sent the headers and `sent` of `declared` body bytes, then stalls."""
    sock = socket.create_connection((p.server.host, p.server.http_port), timeout=30)
    head = (
        f"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    )
    sock.sendall(head.encode() + b"\0" * sent)
    return sock


def test_a_stalled_body_gets_408(pipeline_factory: PipelineFactory) -> None:
    p = pipeline_factory(CollectorOptions(batch_max_delay_s=0.2, body_read_timeout_s=0.5))
    sock = _stalled(p)
    started = time.monotonic()
    answer = sock.recv(4096)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
    assert time.monotonic() - started < 10
    assert p.stats["requests_timed_out"] == 1
    assert _post(p, "/v1/traces", traces_request(span("ok")).SerializeToString()).status_code == 200


def test_open_requests_are_capped_and_freed(pipeline_factory: PipelineFactory) -> None:
    limit = 4
    p = pipeline_factory(CollectorOptions(batch_max_delay_s=0.2, max_open_requests=limit))
    stalled = []
    for _ in range(limit):
        stalled.append(_stalled(p))
        time.sleep(0.1)
    for sock in stalled:  # all `limit` are open and waiting, none was turned away
        sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            sock.recv(100)
    resp = _post(p, "/v1/traces", traces_request(span("over")).SerializeToString())
    assert resp.status_code == 503
    for sock in stalled:
        sock.close()
    deadline = time.monotonic() + 10
    while True:
        resp = _post(p, "/v1/traces", traces_request(span("after")).SerializeToString())
        if resp.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert resp.status_code == 200
    assert _count(p, TRACES) == 1


def test_limits_are_read_from_the_environment() -> None:
    env = {
        ENV_COLLECTOR_LIMITS["max_resource_bytes"]: "100",
        ENV_COLLECTOR_LIMITS["body_read_timeout_s"]: "2.5",
    }
    options = CollectorOptions.from_env(env)
    assert options.max_resource_bytes == 100 and options.body_read_timeout_s == 2.5
    assert CollectorOptions.from_env({}) == CollectorOptions()
    with pytest.raises(ConfigError, match=ENV_COLLECTOR_LIMITS["max_attributes"]):
        CollectorOptions.from_env({ENV_COLLECTOR_LIMITS["max_attributes"]: "0"})
    with pytest.raises(ConfigError, match="must be a number"):
        CollectorOptions.from_env({ENV_COLLECTOR_LIMITS["max_open_requests"]: "many"})
    assert set(ENV_COLLECTOR_LIMITS) <= set(CollectorOptions.__dataclass_fields__)
