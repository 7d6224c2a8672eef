"""ExportTraceServiceRequest -> column-oriented rows of `otel_traces_ingest`.

One loop over resource -> scope -> span appending straight into per-column lists; values
are produced exactly as the clickhouseexporter writes them (see `collector.anyvalue`).
Spans with ids of the wrong length are rejected individually (partial success).
"""

from __future__ import annotations

from typing import Any, Final, Unpack

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from connlog.collector.anyvalue import attributes_to_map
from connlog.collector.batch import ColumnBatch, DecodeContext, Refusals
from connlog.collector.schema.names import TRACES_INGEST, TRACES_INGEST_COLUMNS
from connlog.instrumentation.semconv import SERVICE_NAME

SPAN_KINDS: Final = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
STATUS_CODES: Final = ("Unset", "Ok", "Error")
# Rough per-row memory cost on top of the attribute text, for the backlog bound.
_ROW_OVERHEAD: Final = 600


_KIND_BY_VALUE: Final = dict(enumerate(SPAN_KINDS))
_STATUS_BY_VALUE: Final = dict(enumerate(STATUS_CODES))


def decode_traces(request: ExportTraceServiceRequest, **context: Unpack[DecodeContext]) -> ColumnBatch:
    """All valid spans of `request`; invalid ones are counted in `.rejected` with reasons.

    With `retention_days` > 0, spans that start before the retention cut-off are refused
    (the table's TTL would delete them on insert).
    """
    refused = Refusals(context)
    time_problem = refused.time_problem
    cols: list[list[Any]] = [[] for _ in TRACES_INGEST_COLUMNS]
    (
        c_ts,
        c_trace,
        c_span,
        c_parent,
        c_state,
        c_name,
        c_kind,
        c_service,
        c_res_attrs,
        c_scope_name,
        c_scope_version,
        c_attrs,
        c_duration,
        c_status,
        c_status_msg,
        c_ev_ts,
        c_ev_name,
        c_ev_attrs,
        c_ln_trace,
        c_ln_span,
        c_ln_state,
        c_ln_attrs,
    ) = cols
    kind_name = _KIND_BY_VALUE.get
    status_name = _STATUS_BY_VALUE.get

    for resource_spans in request.resource_spans:
        res_attrs = attributes_to_map(resource_spans.resource.attributes)
        service = res_attrs.get(SERVICE_NAME, "")
        for scope_spans in resource_spans.scope_spans:
            scope_name = scope_spans.scope.name
            scope_version = scope_spans.scope.version
            for span in scope_spans.spans:
                trace_id = span.trace_id
                span_id = span.span_id
                parent = span.parent_span_id
                if len(trace_id) != 16 or len(span_id) != 8 or len(parent) not in (0, 8):
                    refused.add(
                        f"span {span.name!r}: trace_id must be 16 bytes, span_id 8 bytes and "
                        f"parent_span_id 0 or 8 bytes (got {len(trace_id)}, {len(span_id)}, "
                        f"{len(parent)})"
                    )
                    continue
                start = span.start_time_unix_nano
                end = span.end_time_unix_nano
                events = span.events
                latest = max(start, end, *(e.time_unix_nano for e in events)) if events else max(start, end)
                problem = time_problem(start, latest)
                if problem is not None:
                    refused.add(f"span {span.name!r}: {problem}")
                    continue
                c_ts.append(start)
                c_trace.append(trace_id.hex())
                c_span.append(span_id.hex())
                c_parent.append(parent.hex())
                c_state.append(span.trace_state)
                c_name.append(span.name)
                c_kind.append(kind_name(span.kind, "Unspecified"))
                c_service.append(service)
                c_res_attrs.append(res_attrs)
                c_scope_name.append(scope_name)
                c_scope_version.append(scope_version)
                c_attrs.append(attributes_to_map(span.attributes))
                c_duration.append(end - start if end > start else 0)
                status = span.status
                c_status.append(status_name(status.code, "Unset"))
                c_status_msg.append(status.message)
                if events:
                    c_ev_ts.append([e.time_unix_nano for e in events])
                    c_ev_name.append([e.name for e in events])
                    c_ev_attrs.append([attributes_to_map(e.attributes) for e in events])
                else:
                    c_ev_ts.append([])
                    c_ev_name.append([])
                    c_ev_attrs.append([])
                links = span.links
                if links:
                    c_ln_trace.append([ln.trace_id.hex() for ln in links])
                    c_ln_span.append([ln.span_id.hex() for ln in links])
                    c_ln_state.append([ln.trace_state for ln in links])
                    c_ln_attrs.append([attributes_to_map(ln.attributes) for ln in links])
                else:
                    c_ln_trace.append([])
                    c_ln_span.append([])
                    c_ln_state.append([])
                    c_ln_attrs.append([])

    return refused.batch(TRACES_INGEST, "spans", TRACES_INGEST_COLUMNS, cols, _ROW_OVERHEAD)
