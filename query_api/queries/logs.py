"""Log records: severity threshold, connector, run, text, stream; each linked to its span.

`stream` keeps the connector's own logging (`app`) apart from the process output captured by
`init(capture_stdio=True)` (`stdout`, `stderr`; `stdio` is both): see `concepts.LOG_STREAM`.

`otel_logs` is sorted by (ServiceName, TimestampTime): connector and time prune by key;
`run` uses the TraceId bloom index, `text` the Body token index for whole words.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from clickhouse_connect.driver.client import Client

from connlog.collector.schema import names as n
from connlog.collector.schema.concepts import LOG_STREAM
from connlog.instrumentation import semconv as sc
from connlog.query_api import cursor as cur
from connlog.query_api import paths
from connlog.query_api.db import fetch
from connlog.query_api.models import LogRow, Page
from connlog.query_api.queries.common import DEFAULT_PAGE, TimeRange
from connlog.query_api.scope import Scope
from connlog.query_api.sqlbuild import Conditions, Params, like_contains, ns_expr
from connlog.query_api.timeutil import iso


class StreamFilter(StrEnum):
    """The `stream` filter: one stream, or `stdio` for both captured streams."""

    APP = sc.LOG_STREAM_APP
    STDOUT = sc.LogStream.STDOUT.value
    STDERR = sc.LogStream.STDERR.value
    STDIO = "stdio"


@dataclass(frozen=True)
class LogFilters:
    time: TimeRange
    min_severity: int | None = None
    connector: str | None = None
    run_id: str | None = None
    text: str | None = None
    stream: str | None = None  # a StreamFilter value; None: every stream
    cursor: str | None = None
    limit: int = DEFAULT_PAGE


def list_logs(client: Client, f: LogFilters, scope: Scope) -> Page[LogRow]:
    """Records newest first; ties broken by (trace, span, body hash) so pages never overlap."""
    params = Params()
    where = Conditions(params)
    scope.apply(where)
    if f.connector is not None:
        where.eq(n.C_SERVICE_NAME, f.connector)
    f.time.apply(where)
    if f.min_severity is not None:
        where.add(f"{n.C_SEVERITY_NUMBER} >= {params.bind(f.min_severity, 'UInt8')}")
    if f.run_id is not None:
        where.eq(n.C_TRACE_ID, f.run_id)
    if f.stream == StreamFilter.STDIO:
        where.in_(LOG_STREAM, [s.value for s in sc.LogStream])
    elif f.stream is not None:
        where.eq(LOG_STREAM, f.stream)
    if f.text is not None:
        where.add(f"{n.C_BODY} ILIKE {params.bind(like_contains(f.text), 'String')}")
    key = f"({ns_expr(n.C_TIMESTAMP)}, {n.C_TRACE_ID}, {n.C_SPAN_ID}, cityHash64({n.C_BODY}))"
    if f.cursor:
        c_ns, c_trace, c_span, c_hash = cur.decode("logs", f.cursor, (int, str, str, str))
        where.add(
            f"{key} < ({params.bind(c_ns, 'Int64')}, {params.bind(c_trace, 'String')},"
            f" {params.bind(c_span, 'String')}, {params.bind(int(c_hash), 'UInt64')})"
        )
    rows = fetch(
        client,
        f"SELECT {ns_expr(n.C_TIMESTAMP)}, {n.C_SEVERITY_NUMBER}, {n.C_SEVERITY_TEXT}, {n.C_SERVICE_NAME},"
        f" {n.C_TENANT}, {n.C_BODY},"
        f" {n.C_LOG_ATTRIBUTES}['{sc.LOG_RECORD_LOGGER}'], {n.C_TRACE_ID}, {n.C_SPAN_ID},"
        f" toString(cityHash64({n.C_BODY})), {LOG_STREAM}"
        f" FROM {n.LOGS} {where.sql()} ORDER BY {key} DESC LIMIT {params.bind(f.limit + 1, 'UInt32')}",
        params.values,
        label="logs",
    )
    items = [_log(r) for r in rows[: f.limit]]
    nxt = None
    if len(rows) > f.limit:
        last = rows[f.limit - 1]
        nxt = cur.encode("logs", [int(last[0]), last[7], last[8], last[9]])
    return Page[LogRow](items=items, next_cursor=nxt, limit=f.limit)


def _log(row: tuple[Any, ...]) -> LogRow:
    ts, sev_no, sev_text, service, tenant, body, logger, tid, sid, _, stream = row
    return LogRow(
        timestamp=iso(ts),
        timestamp_ns=int(ts),
        severity_number=int(sev_no),
        severity_text=sev_text,
        connector=service,
        tenant=tenant,
        body=body,
        logger=logger,
        run_id=tid,
        span_id=sid,
        trace_url=paths.api(paths.TRACE, trace_id=tid) if tid else None,
        stream=stream,
    )
