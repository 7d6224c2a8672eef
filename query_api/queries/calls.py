"""HTTP calls across connectors (`list_calls`) and one call with its payload (`get_call`).

The list reads only the `http`/`webhook` roles' granules of `otel_traces` (sort key) and
never the payload table; a run filter narrows to the run's bounds (read in the same query),
step/entity filters first resolve to the span ids below the step or entity, so they stay
primary-key reads. The parent filter (`parents`) lists the calls made directly under given spans. `get_call` reads the
payload row by its primary key (ServiceName, TraceId, SpanId), and only for admin keys.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, Final

from clickhouse_connect.driver.client import Client

from connlog.collector.schema import names as n
from connlog.collector.schema.concepts import SPAN_STATUS
from connlog.instrumentation import semconv as sc
from connlog.query_api import cursor as cur
from connlog.query_api.db import fetch
from connlog.query_api.errors import not_found
from connlog.query_api.models import CallDetail, CallRequest, CallResponse, CallRow, Page, Timing, TriggeredBy
from connlog.query_api.queries.common import (
    DEFAULT_PAGE,
    InlineBounds,
    TimeRange,
    TraceBounds,
    attr,
    trace_bounds,
    within_trace_inline,
)
from connlog.query_api.queries.status_filter import StatusFilter
from connlog.query_api.queries.tree import TREE_COLUMNS, TREE_WIDTH, RunTree, run_tree, tree_from_rows
from connlog.query_api.scope import Scope
from connlog.query_api.sqlbuild import Conditions, Params, like_contains, ns_expr, ts_param
from connlog.query_api.timeutil import NS, iso, ms

CALL_ROLES = (sc.Role.HTTP.value, sc.Role.WEBHOOK.value)
ENTITY_LOOKUP_CAP = 1000  # entity spans followed for an `entity` filter
MAX_PARENTS: Final = 100  # span ids in one `parents` filter (a run's span and its steps)


@dataclass(frozen=True)
class CallFilters:
    time: TimeRange
    direction: str | None = None
    connector: str | None = None
    host: str | None = None
    method: str | None = None
    status: StatusFilter | None = None
    failure_cause: str | None = None
    url_contains: str | None = None
    run_id: str | None = None
    step_id: str | None = None
    entity: str | None = None
    # Calls whose parent span is one of these (span ids): the calls made directly under a step
    # (its id) or under the run and its steps, outside any page or record.
    parents: tuple[str, ...] = ()
    min_duration_ms: float | None = None
    enduser: str | None = None  # see `_enduser_condition`
    cursor: str | None = None
    limit: int = DEFAULT_PAGE


_CALL_COLUMNS = (
    f"{n.C_SPAN_ID}, {n.C_TRACE_ID}, {n.C_PARENT_SPAN_ID}, {n.C_SERVICE_NAME}, {n.C_HTTP_DIRECTION},"
    f" {n.C_HTTP_METHOD}, {n.C_HTTP_URL}, {n.C_HTTP_URL_TEMPLATE}, {n.C_HTTP_HOST}, {n.C_HTTP_STATUS},"
    f" {n.C_FAILURE_CAUSE}, {SPAN_STATUS}, {n.C_STATUS_MESSAGE}, {n.C_RATE_LIMITED},"
    f" toUInt32OrZero({attr(sc.HTTP_REQUEST_RESEND_COUNT)}), {ns_expr(n.C_TIMESTAMP)}, {n.C_DURATION},"
    f" {n.C_ENDUSER_ID}"
)
_CALL_WIDTH = 18  # columns in _CALL_COLUMNS


def _call(row: tuple[Any, ...]) -> CallRow:
    (
        sid,
        tid,
        parent,
        service,
        direction,
        method,
        url,
        template,
        host,
        status,
        cause,
        code,
        message,
        rate_limited,
        resend,
        start_ns,
        dur,
        enduser,
    ) = row
    return CallRow(
        call_id=sid,
        run_id=tid,
        parent_id=parent,
        connector=service,
        direction=direction,
        method=method,
        url=url,
        url_template=template,
        host=host,
        http_status=int(status) or None,
        failure_cause=cause,
        status=code,
        status_message=message,
        rate_limited=bool(rate_limited),
        resend_count=int(resend),
        start=iso(start_ns),
        start_ns=int(start_ns),
        duration_ms=ms(dur) or 0.0,
        enduser=enduser,
    )


def _empty(limit: int) -> Page[CallRow]:
    return Page[CallRow](items=[], next_cursor=None, limit=limit)


def _run_of_step(client: Client, step_id: str, f: CallFilters, scope: Scope) -> str | None:
    """The run a step span belongs to (span-id bloom index within the time range)."""
    params = Params()
    where = Conditions(params)
    scope.apply(where)
    where.eq(n.C_ROLE, sc.Role.STEP.value)
    f.time.apply(where)
    where.eq(n.C_SPAN_ID, step_id)
    rows = fetch(
        client,
        f"SELECT {n.C_TRACE_ID} FROM {n.TRACES} {where.sql()} LIMIT 1",
        params.values,
        label="step_run",
    )
    return str(rows[0][0]) if rows else None


def _entity_spans(client: Client, external_id: str, f: CallFilters, scope: Scope) -> list[tuple[str, str]]:
    """(run id, entity span id) of entities with this external id: a search-index key look-up."""
    params = Params()
    where = Conditions(params)
    where.eq(n.C_VALUE, external_id)
    where.eq(n.C_FIELD, "external_id")
    scope.apply(where)
    where.add(f"{n.C_TIMESTAMP} >= toDateTime({params.bind(f.time.start_ns // NS, 'Int64')}, 'UTC')")
    if f.time.end_ns is not None:
        where.add(f"{n.C_TIMESTAMP} <= toDateTime({params.bind(f.time.end_ns // NS + 1, 'Int64')}, 'UTC')")
    if f.run_id is not None:
        where.eq(n.C_TRACE_ID, f.run_id)
    rows = fetch(
        client,
        f"SELECT DISTINCT {n.C_TRACE_ID}, {n.C_SPAN_ID} FROM {n.SEARCH_INDEX} {where.sql()}"
        f" LIMIT {ENTITY_LOOKUP_CAP}",
        params.values,
        label="entity_lookup",
    )
    return [(str(t), str(s)) for t, s in rows]


def _enduser_condition(f: CallFilters, params: Params, user: str) -> str:
    """Calls made for `user`: the call's own `enduser.id`, or its record's, or its run's.

    The SDK sets `enduser.id` on the run (`run(..., user=)`) and on entity spans
    (`entity(..., user=)`) but does not copy it onto the HTTP spans below them, so a call
    matches through its parent entity span (`otel_traces`, bloom index on EnduserId) or its
    run (`connector_runs`, one narrow row per run). Runs and entities start before their
    calls, so those look-ups are bounded by the window's end only.
    """
    u = params.bind(user, "String")
    end = "" if f.time.end_ns is None else f" AND {n.C_TIMESTAMP} < {ts_param(params, f.time.end_ns)}"
    runs = f"SELECT {n.C_TRACE_ID} FROM {n.RUNS} WHERE {n.C_ENDUSER_ID} = {u}{end}"
    entities = (
        f"SELECT {n.C_TRACE_ID}, {n.C_SPAN_ID} FROM {n.TRACES} WHERE {n.C_ROLE} = '{sc.Role.ENTITY.value}'"
        f" AND {n.C_ENDUSER_ID} = {u}{end}"
    )
    return (
        f"({n.C_ENDUSER_ID} = {u} OR {n.C_TRACE_ID} IN ({runs})"
        f" OR ({n.C_TRACE_ID}, {n.C_PARENT_SPAN_ID}) IN ({entities}))"
    )


def list_calls(client: Client, f: CallFilters, scope: Scope) -> Page[CallRow]:
    """Calls newest first (start time, then call id)."""
    params = Params()
    where = Conditions(params)
    where.in_(n.C_ROLE, CALL_ROLES)
    scope.apply(where)
    run_id = f.run_id
    if f.step_id is not None and run_id is None:
        run_id = _run_of_step(client, f.step_id, f, scope)
        if run_id is None:
            return _empty(f.limit)
    bounds: TraceBounds | None = None
    with_bounds = ""
    if run_id is not None and f.step_id is None:
        # The run's bounds in the same round trip (an unknown or out-of-scope run matches nothing).
        inline = InlineBounds.of(run_id, scope)
        with_bounds = inline.with_clause(params)
        inline.apply(where)
    elif run_id is not None:
        bounds = trace_bounds(client, run_id, scope)  # the step's span tree needs them first
        if bounds is None:
            return _empty(f.limit)
        bounds.apply(where)
    if f.step_id is not None and bounds is not None:
        below = run_tree(client, bounds).descendants([f.step_id])
        if not below:
            return _empty(f.limit)
        where.in_(n.C_SPAN_ID, sorted(below))
    if f.entity is not None:
        pairs = _entity_spans(client, f.entity, f, scope)
        if not pairs:
            return _empty(f.limit)
        where.add(
            f"({n.C_TRACE_ID}, {n.C_PARENT_SPAN_ID}) IN {params.bind(pairs, 'Array(Tuple(String, String))')}"
        )
    if f.parents:
        where.in_(n.C_PARENT_SPAN_ID, f.parents)
    f.time.apply(where)
    for column, value in (
        (n.C_SERVICE_NAME, f.connector),
        (n.C_HTTP_DIRECTION, f.direction),
        (n.C_HTTP_HOST, f.host),
        (n.C_HTTP_METHOD, f.method.upper() if f.method else None),
        (n.C_FAILURE_CAUSE, f.failure_cause),
    ):
        if value is not None:
            where.eq(column, value)
    if f.status is not None:
        f.status.apply(where, n.C_HTTP_STATUS)
    if f.url_contains is not None:
        where.add(f"{n.C_HTTP_URL} LIKE {params.bind(like_contains(f.url_contains), 'String')}")
    if f.min_duration_ms is not None:
        where.add(f"{n.C_DURATION} >= {params.bind(int(f.min_duration_ms * 1_000_000), 'UInt64')}")
    if f.enduser is not None:
        where.add(_enduser_condition(f, params, f.enduser))
    if f.cursor:
        c_ns, c_id = cur.decode("calls", f.cursor, (int, str))
        where.add(f"{n.C_TIMESTAMP} <= {ts_param(params, c_ns)}")
        where.add(
            f"({ns_expr(n.C_TIMESTAMP)}, {n.C_SPAN_ID}) < ({params.bind(c_ns, 'Int64')}, {params.bind(c_id, 'String')})"
        )
    rows = fetch(
        client,
        f"{with_bounds}SELECT {_CALL_COLUMNS} FROM {n.TRACES} {where.sql()}"
        f" ORDER BY {n.C_TIMESTAMP} DESC, {n.C_SPAN_ID} DESC LIMIT {params.bind(f.limit + 1, 'UInt32')}",
        params.values,
        label="list_calls",
    )
    result = page_of([_call(r) for r in rows], f.limit)
    if f.enduser is not None:
        for item in result.items:  # each matched for this user, most through its record or run
            item.enduser = item.enduser or f.enduser
    return result


def run_calls_and_tree(
    client: Client, run_id: str, scope: Scope, limit: int
) -> tuple[Page[CallRow], RunTree]:
    """A run's calls, newest `limit` as `list_calls` with `run` pages them, and its span tree
    (`tree.tree_of`), from one read of the run's spans.

    The run screen shows both, and they are two reads of the same rows; on the embedded
    engine queries run one at a time, so a second round trip costs its whole ~20 ms even
    when issued in parallel. An unknown or out-of-scope run gives an empty page and tree.
    """
    with_bounds, where = within_trace_inline(run_id, scope)
    rows = fetch(
        client,
        f"{with_bounds}SELECT {TREE_COLUMNS}, {_CALL_COLUMNS} FROM {n.TRACES} {where.sql()}",
        where.params.values,
        label="run_calls_and_tree",
    )
    calls = [_call(r[TREE_WIDTH:]) for r in rows if r[2] in CALL_ROLES]
    calls.sort(key=lambda c: (c.start_ns, c.call_id), reverse=True)
    return page_of(calls, limit), tree_from_rows(rows)


def page_of(calls: list[CallRow], limit: int) -> Page[CallRow]:
    """The first `limit` of `calls` (newest first, as `list_calls` orders them) with the cursor
    of the rest: a caller that already holds every matching call (the run page, which reads a
    small run's calls whole) pages them exactly as `list_calls` would."""
    items = calls[:limit]
    nxt = cur.encode("calls", [items[-1].start_ns, items[-1].call_id]) if len(calls) > limit else None
    return Page[CallRow](items=items, next_cursor=nxt, limit=limit)


def _find_call(client: Client, call_id: str, scope: Scope, run_id: str | None) -> tuple[Any, ...] | None:
    params = Params()
    where = Conditions(params)
    where.in_(n.C_ROLE, CALL_ROLES)
    scope.apply(where)
    if run_id is not None:
        bounds = trace_bounds(client, run_id, scope)
        if bounds is None:
            return None
        bounds.apply(where)
    where.eq(n.C_SPAN_ID, call_id)
    rows = fetch(
        client,
        f"SELECT {_CALL_COLUMNS}, {attr(sc.HTTP_REQUEST_BODY_TRUNCATED)} = 'true',"
        f" {attr(sc.HTTP_RESPONSE_BODY_TRUNCATED)} = 'true', {attr(sc.HTTP_REQUEST_CONTENT_TYPE)},"
        f" {attr(sc.HTTP_RESPONSE_CONTENT_TYPE)} FROM {n.TRACES} {where.sql()} LIMIT 1",
        params.values,
        label="find_call",
    )
    return rows[0] if rows else None


def _payload(client: Client, call: CallRow) -> tuple[dict[str, str], dict[str, str], str, str]:
    params = Params()
    where = Conditions(params)
    where.eq(n.C_SERVICE_NAME, call.connector)
    where.eq(n.C_TRACE_ID, call.run_id)
    where.eq(n.C_SPAN_ID, call.call_id)
    rows = fetch(
        client,
        f"SELECT {n.C_REQUEST_HEADERS}, {n.C_RESPONSE_HEADERS}, {n.C_REQUEST_BODY}, {n.C_RESPONSE_BODY}"
        f" FROM {n.PAYLOADS} {where.sql()} LIMIT 1",
        params.values,
        label="call_payload",
    )
    if not rows:
        return {}, {}, "", ""
    req_h, resp_h, req_b, resp_b = rows[0]
    return dict(req_h), dict(resp_h), str(req_b), str(resp_b)


# Headers the transport sets for itself: copying them would make cURL send a stale
# Content-Length (the stored body is redacted and may be cut), or the wrong Host/Connection.
CURL_SKIPPED_HEADERS: Final = frozenset(
    {"host", "connection", "content-length", "transfer-encoding", "keep-alive", "proxy-connection", "te",
     "upgrade", "accept-encoding"}
)  # fmt: skip


def curl_command(method: str, url: str, headers: dict[str, str] | None, body: str | None) -> str:
    """A shell-safe cURL line of the call as stored: secrets stay `[REDACTED:...]`.

    Transport headers are left to cURL (it computes Content-Length from the stored body);
    a compressed response (`accept-encoding`) becomes `--compressed` so the output is text.
    """
    parts = ["curl", "-X", method or "GET", shlex.quote(url)]
    stored = {k.lower(): v for k, v in (headers or {}).items()}
    for key, value in sorted(stored.items()):
        if key not in CURL_SKIPPED_HEADERS:
            parts += ["-H", shlex.quote(f"{key}: {value}")]
    if "accept-encoding" in stored:
        parts.append("--compressed")
    if body:
        parts += ["--data-raw", shlex.quote(body)]
    return " ".join(parts)


def _enduser_of(client: Client, call: CallRow, bounds: TraceBounds, tree: RunTree) -> str:
    """The user a call was made for: its own `enduser.id`, else the nearest ancestor's (record,
    page, step, run), else the run's start marker's (a running run has no run span yet)."""
    if call.enduser:
        return call.enduser
    params = Params()
    where = Conditions(params)
    bounds.apply(where)
    where.add(f"{n.C_ENDUSER_ID} != ''")
    rows = fetch(
        client,
        f"SELECT {n.C_SPAN_ID}, {n.C_ROLE}, {n.C_ENDUSER_ID} FROM {n.TRACES} {where.sql()}",
        params.values,
        label="call_enduser",
    )
    users = {str(sid): str(user) for sid, _role, user in rows}
    for node in tree.ancestors(call.call_id):
        if node.span_id in users:
            return users[node.span_id]
    run_roles = (sc.Role.RUN.value, sc.Role.RUN_START.value)
    return next((str(user) for _sid, role, user in rows if role in run_roles), "")


def _triggered_by(call: CallRow, bounds: TraceBounds | None, tree: RunTree | None) -> TriggeredBy:
    empty = TriggeredBy(
        run_id=call.run_id,
        job_id="",
        step_id=None,
        step="",
        page_id=None,
        page_number=None,
        entity_id=None,
        entity_external_id="",
    )
    if bounds is None or tree is None:
        return empty
    out = empty.model_copy()
    for node in tree.ancestors(call.call_id):
        if node.role == sc.Role.ENTITY.value and out.entity_id is None:
            out.entity_id, out.entity_external_id = node.span_id, node.external_id
        elif node.role == sc.Role.PAGE.value and out.page_id is None:
            out.page_id, out.page_number = node.span_id, node.page_number
        elif node.role == sc.Role.STEP.value and out.step_id is None:
            out.step_id, out.step = node.span_id, node.step
        elif node.role == sc.Role.RUN.value:
            out.job_id = node.job_id
    if not out.job_id:
        out.job_id = next((nd.job_id for nd in tree.nodes.values() if nd.job_id), "")
    return out


def get_call(client: Client, call_id: str, scope: Scope, *, run_id: str | None = None) -> CallDetail:
    """One call: request and response side by side, what triggered it, and a cURL line."""
    row = _find_call(client, call_id, scope, run_id)
    if row is None:
        raise not_found(f"call {call_id}")
    call = _call(row[:_CALL_WIDTH])
    req_trunc, resp_trunc, req_ct, resp_ct = row[_CALL_WIDTH:]
    bounds = trace_bounds(client, call.run_id, scope)
    tree = None if bounds is None else run_tree(client, bounds)
    if bounds is not None and tree is not None:
        call.enduser = _enduser_of(client, call, bounds, tree)
    # Viewers get the call without its payload: headers and bodies stay None (not read at all).
    req_h: dict[str, str] | None = None
    resp_h: dict[str, str] | None = None
    req_b: str | None = None
    resp_b: str | None = None
    if scope.payloads:
        req_h, resp_h, req_b, resp_b = _payload(client, call)
        req_ct = req_ct or req_h.get("content-type", "")
        resp_ct = resp_ct or resp_h.get("content-type", "")
    request = CallRequest(
        method=call.method,
        url=call.url,
        headers=req_h,
        body=req_b,
        body_truncated=bool(req_trunc),
        content_type=req_ct,
    )
    response = CallResponse(
        status=call.http_status,
        headers=resp_h,
        body=resp_b,
        body_truncated=bool(resp_trunc),
        content_type=resp_ct,
    )
    curl = curl_command(call.method, call.url, req_h, req_b)
    return CallDetail(
        call=call,
        timing=Timing(
            start=call.start,
            end=iso(call.start_ns + round(call.duration_ms * 1_000_000)),
            duration_ms=call.duration_ms,
        ),
        request=request,
        response=response,
        triggered_by=_triggered_by(call, bounds, tree),
        payload_visible=scope.payloads,
        curl=curl,
    )
