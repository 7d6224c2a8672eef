"""Root faults: the `exception` span events where failures started, across runs or in one run.

An exception that propagates through several instrumented spans is recorded on each of
them with the same type and message; the root is the earliest one, so events are
deduplicated per (run, type, message) keeping the first. The events are read from
`connector_faults` (migration 7: one narrow row per exception event, its fields derived
once by the view that fills it), sorted by connector and span start, so a time range or a
run is a key-range read; expanding every span's events over `otel_traces` read every
granule of the window. Response headers are read from the payload table only for admin keys.
"""

from __future__ import annotations

from collections import Counter as Tally
from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.client import Client

from connlog.collector.schema import names as n
from connlog.collector.schema.concepts import FAILED_CALL
from connlog.query_api import cursor as cur
from connlog.query_api.db import fetch
from connlog.query_api.models import Fault, FaultGroups, FaultPage, GroupCount
from connlog.query_api.queries.common import DEFAULT_PAGE, TimeRange, TraceBounds
from connlog.query_api.queries.status_filter import StatusFilter
from connlog.query_api.scope import Scope
from connlog.query_api.sqlbuild import Conditions, Params
from connlog.query_api.timeutil import iso

SHORT_MESSAGE = 65


@dataclass(frozen=True)
class FaultFilters:
    time: TimeRange
    connector: str | None = None
    run_id: str | None = None
    cause: str | None = None
    host: str | None = None
    status: StatusFilter | None = None
    type: str | None = None
    cursor: str | None = None
    limit: int = DEFAULT_PAGE


# Deduplicated root faults with their derived fields; `{where}` filters fault rows by the
# span's Timestamp, ServiceName and TraceId (the table's sort key: a key-range read).
_ROOTS = f"""
SELECT
    {n.C_TRACE_ID} AS run_id, {n.C_SPAN_ID} AS span_id, {n.C_SERVICE_NAME} AS connector,
    toUnixTimestamp64Nano({n.C_FAULT_TIMESTAMP}) AS ts_ns,
    {n.C_FAULT_TYPE} AS type, {n.C_FAULT_URL} AS uri, {n.C_FAULT_HOST} AS host,
    {n.C_FAULT_MESSAGE} AS message, {n.C_HTTP_STATUS} AS status_code, {n.C_FAILURE_CAUSE} AS cause
FROM {n.FAULTS}
{{where}}
ORDER BY ts_ns ASC, span_id ASC
LIMIT 1 BY run_id, type, message
"""


# The columns of a `_ROOTS` row, in the order `_fault` reads them.
_ROOT_COLUMNS = "run_id, span_id, connector, ts_ns, type, uri, host, message, status_code, cause"


def _base_where(params: Params, scope: Scope) -> Conditions:
    where = Conditions(params)
    scope.apply(where)
    return where


def _outer(f: FaultFilters, params: Params) -> Conditions:
    outer = Conditions(params)
    if f.cause is not None:
        outer.eq("cause", f.cause)
    if f.host is not None:
        outer.eq("host", f.host)
    if f.type is not None:
        outer.eq("type", f.type)
    if f.status is not None:
        f.status.apply(outer, "status_code")
    return outer


def _fault(row: tuple[Any, ...], headers: dict[tuple[str, str], dict[str, str]] | None) -> Fault:
    run_id, span_id, connector, ts_ns, type_, uri, host, message, status_code, cause = row
    return Fault(
        run_id=run_id,
        span_id=span_id,
        connector=connector,
        timestamp=iso(ts_ns),
        timestamp_ns=int(ts_ns),
        type=type_,
        uri=uri,
        host=host,
        message_short=message if len(message) <= SHORT_MESSAGE else message[: SHORT_MESSAGE - 1] + "…",
        message=message,
        status_code=int(status_code) or None,
        cause=cause,
        response_headers=None if headers is None else headers.get((run_id, span_id), {}),
    )


def _response_headers(client: Client, rows: list[tuple[Any, ...]]) -> dict[tuple[str, str], dict[str, str]]:
    """Response headers of each fault's failed call: the fault span itself or its failed HTTP child."""
    if not rows:
        return {}
    params = Params()
    services = sorted({r[2] for r in rows})
    traces = sorted({r[0] for r in rows})
    spans = sorted({r[1] for r in rows})
    where = Conditions(params)
    where.in_(n.C_SERVICE_NAME, services)
    where.in_(n.C_TRACE_ID, traces)
    where.add(
        f"{n.C_SPAN_ID} IN {params.bind(spans, 'Array(String)')}"
        f" OR ({FAILED_CALL} AND {n.C_PARENT_SPAN_ID} IN {params.bind(spans, 'Array(String)')})"
    )
    since = f"{n.C_TIMESTAMP} >= fromUnixTimestamp64Nano({params.bind(min(int(r[3]) for r in rows) - 3600 * 10**9, 'Int64')}, 'UTC')"
    where.add(since)
    # The candidate spans (the faults and their failed call children) and their stored
    # response headers in one round trip. A payload row carries its span's Timestamp, so the
    # same lower bound holds on the payload side: it prunes the payload table's day partitions
    # (at 10M over 24 h, 36 granules in 23 parts -> 3 in 1), which its (ServiceName, TraceId,
    # SpanId) key cannot, since a day's part holds about one granule per connector.
    links_sql = f"SELECT {n.C_TRACE_ID}, {n.C_SPAN_ID}, {n.C_PARENT_SPAN_ID}, {n.C_TIMESTAMP} FROM {n.TRACES} {where.sql()}"
    payload = Conditions(params)
    payload.in_(n.C_SERVICE_NAME, services)
    payload.in_(n.C_TRACE_ID, traces)
    payload.add(since)
    payload.add(f"{n.C_SPAN_ID} IN (SELECT {n.C_SPAN_ID} FROM ({links_sql}))")
    found = fetch(
        client,
        f"SELECT l.{n.C_TRACE_ID}, l.{n.C_SPAN_ID}, l.{n.C_PARENT_SPAN_ID}, p.{n.C_RESPONSE_HEADERS}"
        f" FROM ({links_sql}) AS l LEFT JOIN"
        f" (SELECT {n.C_TRACE_ID}, {n.C_SPAN_ID}, {n.C_RESPONSE_HEADERS} FROM {n.PAYLOADS} {payload.sql()}) AS p"
        f" ON l.{n.C_TRACE_ID} = p.{n.C_TRACE_ID} AND l.{n.C_SPAN_ID} = p.{n.C_SPAN_ID}"
        f" ORDER BY l.{n.C_TIMESTAMP}",
        params.values,
        label="fault_headers",
    )
    owner = call_owners(rows, [(str(t), str(s), str(p)) for t, s, p, _ in found])
    headers = {(str(t), str(s)): dict(h) for t, s, _, h in found}
    return {fault: headers.get(call, {}) for fault, call in owner.items()}


def call_owners(
    rows: list[tuple[Any, ...]], links: list[tuple[str, str, str]]
) -> dict[tuple[str, str], tuple[str, str]]:
    """Fault (trace, span) -> the span holding its response: its last failed call child, else itself.

    `links` are (trace, span, parent) of candidate spans in start order; spans that are
    neither faults nor their failed call children are ignored.
    """
    wanted = {(str(r[0]), str(r[1])) for r in rows}
    owner = {fault: fault for fault in wanted}
    for tid, sid, parent in links:
        if (tid, parent) in wanted:
            owner[(tid, parent)] = (tid, sid)
    return owner


def roots_of_trace_sql(params: Params, bounds: TraceBounds, scope: Scope) -> str:
    """The root-faults SELECT of one run (rows as `fault_row` reads them), oldest first."""
    where = _base_where(params, scope)
    bounds.apply(where)
    return _ROOTS.format(where=where.sql())


def fault_row(row: tuple[Any, ...], headers: dict[tuple[str, str], dict[str, str]] | None) -> Fault:
    """A `Fault` from a root-faults row (run_id, span_id, connector, ts_ns, type, uri, host,
    message, status_code, cause) and, for admin keys, the response headers by fault."""
    return _fault(row, headers)


def list_faults(client: Client, f: FaultFilters, scope: Scope) -> FaultPage:
    """Root faults across runs, newest first, with counts per cause, host and status."""
    params = Params()
    where = _base_where(params, scope)
    if f.connector is not None:
        where.eq(n.C_SERVICE_NAME, f.connector)
    if f.run_id is not None:
        where.eq(n.C_TRACE_ID, f.run_id)
    f.time.apply(where)
    inner = _ROOTS.format(where=where.sql())
    outer = _outer(f, params)
    newer = "1"
    if f.cursor:
        c_ns, c_run, c_span = cur.decode("faults", f.cursor, (int, str, str))
        newer = (
            f"(ts_ns, run_id, span_id) < ({params.bind(c_ns, 'Int64')}, {params.bind(c_run, 'String')},"
            f" {params.bind(c_span, 'String')})"
        )
    # One pass over the root faults: the counts per (cause, host, status) and, per group, its
    # newest `limit + 1` faults past the cursor; the page is the newest of those. Two queries
    # (counts, then page) computed the deduplicated roots twice.
    want = params.bind(f.limit + 1, "UInt32")
    group_rows = fetch(
        client,
        f"SELECT cause, host, status_code, count(),"
        f" arraySlice(arrayReverseSort(x -> (x.4, x.1, x.2), groupArrayIf(({_ROOT_COLUMNS}), {newer})), 1, {want})"
        f" FROM ({inner}) {outer.sql()} GROUP BY cause, host, status_code",
        params.values,
        label="list_faults",
    )
    rows = sorted(
        (tuple(r) for g in group_rows for r in g[4]), key=lambda r: (r[3], r[0], r[1]), reverse=True
    )[: f.limit + 1]
    page = rows[: f.limit]
    headers = _response_headers(client, page) if scope.payloads else None
    items = [_fault(r, headers) for r in page]
    nxt = (
        cur.encode("faults", [items[-1].timestamp_ns, items[-1].run_id, items[-1].span_id])
        if len(rows) > f.limit
        else None
    )
    by_cause: Tally[str] = Tally()
    by_host: Tally[str] = Tally()
    by_status: Tally[str] = Tally()
    for cause, host, status, count, _ in group_rows:
        by_cause[cause or "unknown"] += int(count)
        by_host[host or "unknown"] += int(count)
        by_status[str(status) if status else "none"] += int(count)

    def groups(t: Tally[str]) -> list[GroupCount]:
        return [GroupCount(key=k, count=v) for k, v in sorted(t.items(), key=lambda kv: (-kv[1], kv[0]))]

    return FaultPage(
        items=items,
        next_cursor=nxt,
        limit=f.limit,
        groups=FaultGroups(by_cause=groups(by_cause), by_host=groups(by_host), by_status=groups(by_status)),
    )
