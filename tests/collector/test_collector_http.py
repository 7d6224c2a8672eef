"""OTLP/HTTP receiver behaviour: encodings, the OTLP response contract, and bad input.

Every bad request must get its documented 4xx with a google.rpc.Status body, and the
server must keep storing valid data afterwards.
"""

from __future__ import annotations

import gzip
import json

import httpx
import pytest
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from connlog.collector.options import CollectorOptions
from connlog.collector.schema.names import LOGS, TRACES
from tests.otlp_samples import (
    SPAN_ID,
    START_NS,
    TRACE_ID,
    json_traces,
    kv,
    logs_request,
    span,
    traces_request,
)
from tests.pipeline import Pipeline, PipelineFactory

PB = {"Content-Type": "application/x-protobuf"}
JSON_CT = {"Content-Type": "application/json"}


def _post(p: Pipeline, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{p.http_endpoint}{path}", content=body, headers=headers, timeout=10)


def _span_names(p: Pipeline) -> list[str]:
    p.flush()
    return [r[0] for r in p.client.query(f"SELECT SpanName FROM {TRACES} ORDER BY SpanName").result_rows]


def _assert_still_serving(p: Pipeline, name: str) -> None:
    resp = _post(p, "/v1/traces", traces_request(span(name)).SerializeToString(), PB)
    assert resp.status_code == 200
    assert name in _span_names(p)


def _status(resp: httpx.Response) -> Status:
    status = Status()
    if resp.headers["content-type"].startswith("application/json"):
        status.code = resp.json().get("code", 0)
        status.message = resp.json()["message"]
    else:
        status.ParseFromString(resp.content)
    return status


def test_protobuf_success_returns_empty_export_response(pipeline: Pipeline) -> None:
    resp = _post(pipeline, "/v1/traces", traces_request(span("ok")).SerializeToString(), PB)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/x-protobuf"
    parsed = ExportTraceServiceResponse.FromString(resp.content)
    assert not parsed.HasField("partial_success")
    assert _span_names(pipeline) == ["ok"]


def test_json_body_with_hex_ids_is_accepted(pipeline: Pipeline) -> None:
    resp = _post(pipeline, "/v1/traces", json.dumps(json_traces()).encode(), JSON_CT)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    assert resp.json() == {}
    pipeline.flush()
    row = next(
        pipeline.client.query(
            "SELECT TraceId, SpanId, ParentSpanId, SpanKind, ServiceName, ScopeName, SpanAttributes,"
            " Duration, StatusCode, StatusMessage, Links.SpanId AS L,"
            f" toUnixTimestamp64Nano(Timestamp) AS Ts FROM {TRACES}"
        ).named_results()
    )
    assert row["TraceId"] == TRACE_ID.hex() and row["SpanId"] == SPAN_ID.hex() and row["ParentSpanId"] == ""
    assert (row["SpanKind"], row["ServiceName"], row["ScopeName"]) == ("Server", "json-svc", "json-scope")
    assert row["SpanAttributes"] == {"f": "0.25", "n": "7"}
    assert (row["Duration"], row["StatusCode"], row["StatusMessage"]) == (2000, "Error", "boom")
    assert row["L"] == ["00f067aa0ba902b7"]
    assert row["Ts"] == START_NS


def test_json_logs_with_hex_ids(pipeline: Pipeline) -> None:
    body = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "observedTimeUnixNano": str(START_NS),
                                "severityNumber": 17,
                                "severityText": "ERROR",
                                "traceId": TRACE_ID.hex(),
                                "spanId": SPAN_ID.hex(),
                                "body": {
                                    "kvlistValue": {"values": [{"key": "b", "value": {"intValue": "1"}}]}
                                },
                            }
                        ]
                    }
                ]
            }
        ]
    }
    resp = _post(pipeline, "/v1/logs", json.dumps(body).encode(), JSON_CT)
    assert resp.status_code == 200, resp.text
    pipeline.flush()
    rows = pipeline.client.query(
        f"SELECT TraceId, SpanId, SeverityNumber, Body, toUnixTimestamp64Nano(Timestamp) FROM {LOGS}"
    ).result_rows
    # Timestamp falls back to the observed time when time_unix_nano is 0.
    assert rows == [(TRACE_ID.hex(), SPAN_ID.hex(), 17, '{"b":1}', START_NS)]


def test_gzip_body_is_accepted(pipeline: Pipeline) -> None:
    body = gzip.compress(traces_request(span("zipped")).SerializeToString())
    resp = _post(pipeline, "/v1/traces", body, {**PB, "Content-Encoding": "gzip"})
    assert resp.status_code == 200
    assert _span_names(pipeline) == ["zipped"]


def test_wrong_length_ids_give_partial_success_and_store_the_rest(pipeline: Pipeline) -> None:
    request = traces_request(
        span("good"),
        span("short trace", trace_id=b"\x01" * 8),
        span("bad parent", parent=b"\x02" * 3),
        span("good child", span_id=b"\x03" * 8, parent=SPAN_ID),
    )
    resp = _post(pipeline, "/v1/traces", request.SerializeToString(), PB)
    assert resp.status_code == 200
    parsed = ExportTraceServiceResponse.FromString(resp.content)
    assert parsed.partial_success.rejected_spans == 2
    assert "trace_id must be 16 bytes" in parsed.partial_success.error_message
    assert _span_names(pipeline) == ["good", "good child"]
    assert pipeline.stats["spans_rejected"] == 2

    logs = logs_request(
        LogRecord(time_unix_nano=START_NS, body=kv("", string_value="fine").value),
        LogRecord(time_unix_nano=START_NS, span_id=b"\x01" * 5),
    )
    resp = _post(pipeline, "/v1/logs", logs.SerializeToString(), PB)
    parsed_logs = ExportLogsServiceResponse.FromString(resp.content)
    assert parsed_logs.partial_success.rejected_log_records == 1
    pipeline.flush()
    assert pipeline.client.query(f"SELECT Body FROM {LOGS}").result_rows == [("fine",)]


def test_timestamps_past_datetime64_range_are_rejected_not_fatal(pipeline: Pipeline) -> None:
    """A valid-OTLP uint64 timestamp past 2262 cannot be stored: reject that item, keep the rest."""
    late_span = span("too late")
    late_span.start_time_unix_nano = 2**64 - 1
    late_event = span("late event", span_id=b"\x04" * 8)
    late_event.events.add(time_unix_nano=2**63, name="e")
    request = traces_request(span("on time", span_id=b"\x05" * 8), late_span, late_event)
    resp = _post(pipeline, "/v1/traces", request.SerializeToString(), PB)
    assert resp.status_code == 200
    parsed = ExportTraceServiceResponse.FromString(resp.content)
    assert parsed.partial_success.rejected_spans == 2
    assert "DateTime64(9) range" in parsed.partial_success.error_message
    logs = logs_request(
        LogRecord(time_unix_nano=START_NS, body=kv("", string_value="fine").value),
        LogRecord(time_unix_nano=2**64 - 1, body=kv("", string_value="late").value),
    )
    parsed_logs = ExportLogsServiceResponse.FromString(
        _post(pipeline, "/v1/logs", logs.SerializeToString(), PB).content
    )
    assert parsed_logs.partial_success.rejected_log_records == 1
    pipeline.flush()
    assert _span_names(pipeline) == ["on time"]
    assert pipeline.client.query(f"SELECT Body FROM {LOGS}").result_rows == [("fine",)]


def test_json_partial_success_is_json(pipeline: Pipeline) -> None:
    body = json_traces(trace_id="abcd")
    resp = _post(pipeline, "/v1/traces", json.dumps(body).encode(), JSON_CT)
    assert resp.status_code == 200
    assert resp.json()["partialSuccess"]["rejectedSpans"] == "1"


@pytest.mark.parametrize(
    ("body", "headers", "status", "needle"),
    [
        (traces_request(span("t")).SerializeToString()[:-7], PB, 400, "invalid protobuf"),
        (b"\xff\xff\xff\xff", PB, 400, "invalid protobuf"),
        (b"{not json", JSON_CT, 400, "invalid JSON"),
        (b"[1, 2]", JSON_CT, 400, "top level must be an object"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}', JSON_CT, 400, "not a hex"),
        (b'{"resourceSpans": "nope"}', JSON_CT, 400, "invalid OTLP/JSON"),
        (b"not gzip at all", {**PB, "Content-Encoding": "gzip"}, 400, "invalid gzip"),
        (gzip.compress(b"x" * 1000)[:-10], {**PB, "Content-Encoding": "gzip"}, 400, "gzip"),
        (b"x", {"Content-Type": "text/plain"}, 415, "unsupported content type"),
        (b"x", {**PB, "Content-Encoding": "br"}, 415, "unsupported content encoding"),
    ],
    ids=[
        "truncated-protobuf",
        "garbage-protobuf",
        "invalid-json",
        "json-array",
        "json-bad-hex-id",
        "json-wrong-shape",
        "bad-gzip",
        "truncated-gzip",
        "wrong-content-type",
        "unknown-encoding",
    ],
)
def test_bad_requests_get_4xx_and_server_keeps_serving(
    pipeline: Pipeline, body: bytes, headers: dict[str, str], status: int, needle: str
) -> None:
    resp = _post(pipeline, "/v1/traces", body, headers)
    assert resp.status_code == status, resp.text
    assert needle in _status(resp).message
    assert _status(resp).code == 3  # INVALID_ARGUMENT
    _assert_still_serving(pipeline, "after bad request")
    assert pipeline.stats["requests_invalid"] == 1


def test_empty_body_is_an_empty_successful_export(pipeline: Pipeline) -> None:
    # An empty protobuf message is a valid ExportTraceServiceRequest with no spans.
    resp = _post(pipeline, "/v1/traces", b"", PB)
    assert resp.status_code == 200
    assert ExportTraceServiceResponse.FromString(resp.content) == ExportTraceServiceResponse()
    resp = _post(pipeline, "/v1/logs", b"{}", JSON_CT)
    assert resp.status_code == 200
    _assert_still_serving(pipeline, "after empty")


def test_oversized_bodies_get_413(pipeline_factory: PipelineFactory) -> None:
    p = pipeline_factory(CollectorOptions(max_body_bytes=2_000, max_decompressed_bytes=50_000))
    big = traces_request(*(span(f"s{i}", span_id=i.to_bytes(8, "big")) for i in range(1, 200)))
    resp = _post(p, "/v1/traces", big.SerializeToString(), PB)
    assert resp.status_code == 413
    # A gzip bomb: tiny on the wire, huge once inflated.
    bomb = gzip.compress(b"\x00" * 1_000_000)
    assert len(bomb) < 2_000
    resp = _post(p, "/v1/traces", bomb, {**PB, "Content-Encoding": "gzip"})
    assert resp.status_code == 413
    assert "decompressed" in _status(resp).message
    _assert_still_serving(p, "after 413")


def test_wrong_method_and_path(pipeline: Pipeline) -> None:
    assert httpx.get(f"{pipeline.http_endpoint}/v1/traces").status_code == 405
    assert httpx.post(f"{pipeline.http_endpoint}/v1/metrics", content=b"", headers=PB).status_code == 404


def test_health_ready_and_stats(pipeline: Pipeline) -> None:
    assert httpx.get(f"{pipeline.http_endpoint}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{pipeline.http_endpoint}/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    _post(
        pipeline,
        "/v1/traces",
        traces_request(span("a"), span("b", span_id=b"\x09" * 8)).SerializeToString(),
        PB,
    )
    pipeline.flush()
    stats = httpx.get(f"{pipeline.http_endpoint}/stats").json()
    assert stats["counters"]["spans_received"] == 2
    assert stats["counters"]["spans_written"] == 2
    assert stats["counters"]["batches_written"] >= 1
    assert stats["backlog"] == {"rows": 0, "bytes": 0, "batches": 0}
    memory = stats["memory"]  # what holds this process's memory, engine included (chDB)
    assert memory["rss"] >= memory["rss_anon"] > 0 and memory["rss_file"] > 0
    assert memory["engine.MemoryTracking"] > 0
    assert memory["backlog_bytes"] == 0


def test_readyz_reports_missing_schema(pipeline: Pipeline) -> None:
    pipeline.client.command(f"DROP TABLE {pipeline.database}.otel_logs_ingest")
    ready = httpx.get(f"{pipeline.http_endpoint}/readyz")
    assert ready.status_code == 503
    assert "otel_logs_ingest" in ready.json()["detail"]
