"""Hand-built OTLP requests for the collector tests (protobuf messages and OTLP/JSON dicts)."""

from __future__ import annotations

import time
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from connlog.instrumentation.semconv import SERVICE_NAME

TRACE_ID = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
SPAN_ID = bytes.fromhex("b7ad6b7169203331")
# Recent (storage tables have a retention TTL that would drop old rows) with all nine
# sub-second digits set, so any precision loss shows.
START_NS = (time.time_ns() // 10**9 - 60) * 10**9 + 123_456_789


def kv(key: str, **value: Any) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(**value))


def span(name: str, *, trace_id: bytes = TRACE_ID, span_id: bytes = SPAN_ID, parent: bytes = b"") -> Span:
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=START_NS,
        end_time_unix_nano=START_NS + 1_500,
    )


def traces_request(*spans: Span, service: str = "svc") -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.append(kv(SERVICE_NAME, string_value=service))
    ss = rs.scope_spans.add()
    ss.scope.name = "scope"
    ss.spans.extend(spans)
    return request


def logs_request(*records: LogRecord, service: str = "svc") -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    rl.resource.attributes.append(kv(SERVICE_NAME, string_value=service))
    rl.scope_logs.add().log_records.extend(records)
    return request


def json_traces(
    name: str = "json span", trace_id: str = TRACE_ID.hex(), span_id: str = SPAN_ID.hex()
) -> dict[str, Any]:
    """OTLP/JSON as the spec writes it: hex ids, integer enums, camelCase, string int64s."""
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": SERVICE_NAME, "value": {"stringValue": "json-svc"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "json-scope", "version": "0.1"},
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": span_id,
                                "parentSpanId": "",
                                "name": name,
                                "kind": 2,
                                "startTimeUnixNano": str(START_NS),
                                "endTimeUnixNano": str(START_NS + 2_000),
                                "attributes": [
                                    {"key": "n", "value": {"intValue": "7"}},
                                    {"key": "f", "value": {"doubleValue": 0.25}},
                                ],
                                "status": {"code": 2, "message": "boom"},
                                "links": [{"traceId": TRACE_ID.hex(), "spanId": "00f067aa0ba902b7"}],
                                "unknownFutureField": 1,
                            }
                        ],
                    }
                ],
            }
        ]
    }
