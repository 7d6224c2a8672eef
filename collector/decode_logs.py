"""ExportLogsServiceRequest -> column-oriented rows of `otel_logs_ingest`.

Mirrors the clickhouseexporter: Timestamp is the record's time or, when unset, its
observed time; ids are lowercase hex or '' when absent; the body is flattened like an
attribute value. Records with ids of the wrong length are rejected (partial success).
"""

from __future__ import annotations

from typing import Any, Final, Unpack

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from connlog.collector.anyvalue import any_value_to_str, attributes_to_map
from connlog.collector.batch import ColumnBatch, DecodeContext, Refusals
from connlog.collector.schema.names import LOGS_INGEST, LOGS_INGEST_COLUMNS
from connlog.instrumentation.semconv import SERVICE_NAME

_ROW_OVERHEAD: Final = 400
# OTel SeverityNumber: 1 (TRACE) .. 24 (FATAL4), 0 = unspecified. The column is a UInt8, so
# an out-of-range int32 (e.g. -5) would wrap (to 251) and sort above FATAL: clamp instead.
SEVERITY_MIN: Final = 0
SEVERITY_MAX: Final = 24


def clamp_severity(number: int) -> int:
    """`number` limited to the OTel range: negatives become 0 (unspecified), > 24 becomes 24."""
    return SEVERITY_MIN if number < SEVERITY_MIN else min(number, SEVERITY_MAX)


def decode_logs(request: ExportLogsServiceRequest, **context: Unpack[DecodeContext]) -> ColumnBatch:
    """All valid log records of `request`; invalid ones are counted in `.rejected`.

    With `retention_days` > 0, records older than the retention cut-off are refused
    (the table's TTL would delete them on insert).
    """
    refused = Refusals(context)
    time_problem = refused.time_problem
    cols: list[list[Any]] = [[] for _ in LOGS_INGEST_COLUMNS]
    (
        c_ts,
        c_trace,
        c_span,
        c_flags,
        c_sev_text,
        c_sev_num,
        c_service,
        c_body,
        c_res_schema,
        c_res_attrs,
        c_scope_schema,
        c_scope_name,
        c_scope_version,
        c_scope_attrs,
        c_attrs,
    ) = cols

    for resource_logs in request.resource_logs:
        res_attrs = attributes_to_map(resource_logs.resource.attributes)
        service = res_attrs.get(SERVICE_NAME, "")
        res_schema = resource_logs.schema_url
        for scope_logs in resource_logs.scope_logs:
            scope = scope_logs.scope
            scope_attrs = attributes_to_map(scope.attributes)
            scope_schema = scope_logs.schema_url
            for record in scope_logs.log_records:
                trace_id = record.trace_id
                span_id = record.span_id
                if len(trace_id) not in (0, 16) or len(span_id) not in (0, 8):
                    refused.add(
                        "log record: trace_id must be 0 or 16 bytes and span_id 0 or 8 bytes "
                        f"(got {len(trace_id)}, {len(span_id)})"
                    )
                    continue
                ts = record.time_unix_nano or record.observed_time_unix_nano
                problem = time_problem(ts, ts)
                if problem is not None:
                    refused.add(f"log record: {problem}")
                    continue
                c_ts.append(ts)
                c_trace.append(trace_id.hex())
                c_span.append(span_id.hex())
                c_flags.append(record.flags & 0xFF)
                c_sev_text.append(record.severity_text)
                c_sev_num.append(clamp_severity(record.severity_number))
                c_service.append(service)
                c_body.append(any_value_to_str(record.body))
                c_res_schema.append(res_schema)
                c_res_attrs.append(res_attrs)
                c_scope_schema.append(scope_schema)
                c_scope_name.append(scope.name)
                c_scope_version.append(scope.version)
                c_scope_attrs.append(scope_attrs)
                c_attrs.append(attributes_to_map(record.attributes))

    return refused.batch(LOGS_INGEST, "logs", LOGS_INGEST_COLUMNS, cols, _ROW_OVERHEAD)
