"""Every span of one trace with its offset from the trace start: the waterfall."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from connlog.collector.schema import names as n
from connlog.collector.schema.concepts import CALL_ROLES_SQL, SPAN_STATUS
from connlog.instrumentation import semconv as sc
from connlog.query_api.db import fetch
from connlog.query_api.errors import not_found
from connlog.query_api.models import Trace, TraceSpan
from connlog.query_api.queries.common import attr, within_trace
from connlog.query_api.scope import Scope
from connlog.query_api.sqlbuild import ns_expr
from connlog.query_api.timeutil import iso, ms

MAX_SPANS = 20_000  # a waterfall beyond this is unreadable; the rest is cut

# What a person reads on a waterfall bar: the step's name, the page's number, the record's type
# and id, the call's method and path template; the span name otherwise (empty parts fall back).
_LABEL = (
    f"multiIf({n.C_ROLE} = '{sc.Role.STEP.value}', {n.C_STEP_NAME},"
    f" {n.C_ROLE} = '{sc.Role.PAGE.value}' AND {attr(sc.PAGE_NUMBER)} != '', concat('page ', {attr(sc.PAGE_NUMBER)}),"
    f" {n.C_ROLE} = '{sc.Role.ENTITY.value}' AND {n.C_ENTITY_EXTERNAL_ID} != '',"
    f" trimLeft(concat({n.C_ENTITY_TYPE}, ' ', {n.C_ENTITY_EXTERNAL_ID})),"
    f" {n.C_ROLE} IN {CALL_ROLES_SQL} AND {n.C_HTTP_METHOD} != '',"
    f" concat({n.C_HTTP_METHOD}, ' ', if({n.C_HTTP_URL_TEMPLATE} != '', {n.C_HTTP_URL_TEMPLATE}, path({n.C_HTTP_URL}))),"
    f" '')"
)


def get_trace(client: Client, tid: str, scope: Scope) -> Trace:
    _, where = within_trace(client, tid, scope, "trace")
    params = where.params
    rows = fetch(
        client,
        f"SELECT {n.C_SPAN_ID}, {n.C_PARENT_SPAN_ID}, {n.C_SPAN_NAME}, {n.C_ROLE}, {n.C_SERVICE_NAME},"
        f" {n.C_SPAN_KIND}, {SPAN_STATUS}, {n.C_STATUS_MESSAGE}, {ns_expr(n.C_TIMESTAMP)}, {n.C_DURATION},"
        f" {_LABEL}"
        f" FROM {n.TRACES} {where.sql()} ORDER BY {n.C_TIMESTAMP}, {n.C_SPAN_ID} LIMIT {MAX_SPANS}",
        params.values,
        label="trace",
    )
    if not rows:
        raise not_found(f"trace {tid}")
    t0 = min(int(r[8]) for r in rows)
    t1 = max(int(r[8]) + int(r[9]) for r in rows)
    spans = [
        TraceSpan(
            span_id=sid,
            parent_id=parent,
            name=name,
            role=role,
            service=service,
            kind=kind,
            status=status,
            status_message=message,
            start=iso(start),
            start_offset_ms=ms(int(start) - t0) or 0.0,
            duration_ms=ms(dur) or 0.0,
            label=label or name,
        )
        for sid, parent, name, role, service, kind, status, message, start, dur, label in rows
    ]
    return Trace(trace_id=tid, start=iso(t0), duration_ms=ms(t1 - t0) or 0.0, spans=spans)
