"""End to end: the real OpenTelemetry SDK exporters (HTTP and gRPC) -> collector -> chDB.

Rows are read back from the storage tables the materialized views fill and compared
field by field with what the SDK recorded, in the clickhouseexporter's value format.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from connlog.collector.schema.names import LOGS, TRACES
from connlog.instrumentation.semconv import SERVICE_NAME
from tests.pipeline import Pipeline

RESOURCE = Resource.create(
    {SERVICE_NAME: "shopify-connector", "deployment.environment": "test", "host.cpu": 4}
)


def _span_exporter(pipeline: Pipeline, protocol: str) -> Any:
    if protocol == "http":
        return HttpSpanExporter(endpoint=f"{pipeline.http_endpoint}/v1/traces")
    return GrpcSpanExporter(endpoint=pipeline.grpc_endpoint, insecure=True)


def _log_exporter(pipeline: Pipeline, protocol: str) -> Any:
    if protocol == "http":
        return HttpLogExporter(endpoint=f"{pipeline.http_endpoint}/v1/logs")
    return GrpcLogExporter(endpoint=pipeline.grpc_endpoint, insecure=True)


@pytest.fixture
def tracing(
    pipeline: Pipeline, request: pytest.FixtureRequest
) -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    provider = TracerProvider(resource=RESOURCE)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(_span_exporter(pipeline, request.param)))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    yield provider, memory
    provider.shutdown()


def _traces(pipeline: Pipeline) -> dict[str, dict[str, Any]]:
    pipeline.flush()
    result = pipeline.client.query(
        f"SELECT toUnixTimestamp64Nano(Timestamp) AS Ts, TraceId, SpanId, ParentSpanId, TraceState, SpanName,"
        f" SpanKind, ServiceName, ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration,"
        f" StatusCode, StatusMessage, arrayMap(t -> toUnixTimestamp64Nano(t), Events.Timestamp) AS EvTs,"
        f" Events.Name AS EvName, Events.Attributes AS EvAttrs, Links.TraceId AS LnTrace,"
        f" Links.SpanId AS LnSpan, Links.Attributes AS LnAttrs FROM {TRACES}"
    )
    return {row["SpanName"]: row for row in result.named_results()}


@pytest.mark.parametrize("tracing", ["http", "grpc"], indirect=True)
def test_spans_round_trip_field_by_field(
    pipeline: Pipeline, tracing: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, memory = tracing
    tracer = provider.get_tracer("connlog.tests", "1.2.3")
    with tracer.start_as_current_span("other") as other:
        other_ctx = other.get_span_context()
    with tracer.start_as_current_span(
        "sync run",
        kind=SpanKind.SERVER,
        attributes={"z.last": "z", "a.int": 42, "b.bool": True, "c.float": 1.5, "d.list": ["x", "y"]},
        links=[Link(other_ctx, {"link.kind": "follows"})],
    ) as root:
        root.add_event("page fetched", {"page": 3})
        with tracer.start_as_current_span("GET /orders", kind=SpanKind.CLIENT) as child:
            child.set_status(Status(StatusCode.ERROR, "HTTP 500"))
        root.set_status(Status(StatusCode.OK))

    rows = _traces(pipeline)
    assert set(rows) == {"other", "sync run", "GET /orders"}
    recorded: dict[str, ReadableSpan] = {s.name: s for s in memory.get_finished_spans()}

    root_row, child_row = rows["sync run"], rows["GET /orders"]
    root_span, child_span = recorded["sync run"], recorded["GET /orders"]
    assert root_span.context is not None and child_span.context is not None
    assert root_row["TraceId"] == f"{root_span.context.trace_id:032x}"
    assert root_row["SpanId"] == f"{root_span.context.span_id:016x}"
    assert root_row["ParentSpanId"] == ""
    assert child_row["ParentSpanId"] == root_row["SpanId"]
    assert child_row["TraceId"] == root_row["TraceId"]
    # Nanosecond precision survives the whole path.
    assert root_row["Ts"] == root_span.start_time
    assert root_span.end_time is not None and root_span.start_time is not None
    assert root_row["Duration"] == root_span.end_time - root_span.start_time
    assert root_row["SpanKind"] == "Server"
    assert child_row["SpanKind"] == "Client"
    assert rows["other"]["SpanKind"] == "Internal"
    assert root_row["StatusCode"] == "Ok"
    assert (child_row["StatusCode"], child_row["StatusMessage"]) == ("Error", "HTTP 500")
    assert rows["other"]["StatusCode"] == "Unset"
    assert root_row["ServiceName"] == "shopify-connector"
    assert root_row["ResourceAttributes"][SERVICE_NAME] == "shopify-connector"
    assert root_row["ResourceAttributes"]["host.cpu"] == "4"
    assert (root_row["ScopeName"], root_row["ScopeVersion"]) == ("connlog.tests", "1.2.3")
    attrs = root_row["SpanAttributes"]
    assert attrs == {"a.int": "42", "b.bool": "true", "c.float": "1.5", "d.list": '["x","y"]', "z.last": "z"}
    assert list(attrs) == sorted(attrs)
    assert root_row["EvName"] == ["page fetched"]
    assert root_row["EvAttrs"] == [{"page": "3"}]
    assert root_row["EvTs"] == [root_span.events[0].timestamp]
    assert root_row["LnTrace"] == [f"{other_ctx.trace_id:032x}"]
    assert root_row["LnSpan"] == [f"{other_ctx.span_id:016x}"]
    assert root_row["LnAttrs"] == [{"link.kind": "follows"}]
    assert child_row["EvName"] == [] and child_row["LnTrace"] == []

    stats = pipeline.stats
    assert stats["spans_received"] == stats["spans_written"] == 3
    assert stats["spans_rejected"] == stats["spans_dropped"] == 0


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_logs_round_trip_field_by_field(pipeline: Pipeline, protocol: str) -> None:
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(SimpleLogRecordProcessor(_log_exporter(pipeline, protocol)))
    handler = LoggingHandler(level=logging.DEBUG, logger_provider=provider)
    pylog = logging.getLogger(f"connlog.tests.e2e.{protocol}")
    pylog.propagate = False
    pylog.setLevel(logging.DEBUG)
    pylog.addHandler(handler)
    tracer = TracerProvider(resource=RESOURCE).get_tracer("t")
    before = time.time_ns()
    try:
        with tracer.start_as_current_span("run") as span:
            pylog.warning("rate limited by %s", "api.example.com", extra={"retry.after": 30})
            ctx = span.get_span_context()
        pylog.info("outside any span")
        after = time.time_ns()
        provider.force_flush()
    finally:
        pylog.removeHandler(handler)
        provider.shutdown()

    pipeline.flush()
    rows = {
        r["Body"]: r
        for r in pipeline.client.query(
            "SELECT toUnixTimestamp64Nano(Timestamp) AS Ts, TraceId, SpanId, TraceFlags, SeverityText,"
            " SeverityNumber, ServiceName, Body, ResourceAttributes, ScopeName, LogAttributes"
            f" FROM {LOGS}"
        ).named_results()
    }
    assert set(rows) == {"rate limited by api.example.com", "outside any span"}
    warn = rows["rate limited by api.example.com"]
    assert warn["TraceId"] == f"{ctx.trace_id:032x}"
    assert warn["SpanId"] == f"{ctx.span_id:016x}"
    assert warn["TraceFlags"] == int(ctx.trace_flags) & 0xFF and warn["TraceFlags"] & 1
    assert (warn["SeverityText"], warn["SeverityNumber"]) == ("WARN", 13)
    assert warn["ServiceName"] == "shopify-connector"
    assert warn["ResourceAttributes"]["deployment.environment"] == "test"
    assert warn["ScopeName"] == f"connlog.tests.e2e.{protocol}"
    assert warn["LogAttributes"]["retry.after"] == "30"
    assert list(warn["LogAttributes"]) == sorted(warn["LogAttributes"])
    assert before <= warn["Ts"] <= after
    plain = rows["outside any span"]
    assert (plain["TraceId"], plain["SpanId"], plain["TraceFlags"]) == ("", "", 0)
    assert (plain["SeverityText"], plain["SeverityNumber"]) == ("INFO", 9)
    assert pipeline.stats["logs_written"] == 2
