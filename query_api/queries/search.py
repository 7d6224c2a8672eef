"""Search: which runs mention a value, or which spans of one run match it.

Without a scope, each source is an index read, never a payload scan:
- record ids and job ids: `connector_record_touches` (migration 8; the spans of
  `connector_search_index`, with their entity fields), sorted by (Value, Timestamp) in weekly
  partitions, so "runs that touched record X in the last 30 days" is a range read of ~5 granules;
- URL fragments: `HttpUrl LIKE` on the http/webhook roles, pruned by the ngram skip index;
- error text: `hasToken(StatusMessage, ...)` per word, pruned by the token skip index;
- a run id: the trace-id lookup table.
A one-word value the index knows (a record, internal or job id) is answered by the index alone:
the URL and error-text scans run only for values it does not know (fragments, words, phrases).
When the value is a record id, the record's timeline (what each run found did with it: action,
reason, cause) is one more read: `connector_record_touches` (the entity spans by record id) for
the runs found only, by the id and the runs' time range, so a few granules, never the window.
With `scope=<run_id>`, the run's spans are read within its bounds and matched on ids,
step name, URL and status message.
"""

from __future__ import annotations

import re
from collections import defaultdict

from clickhouse_connect.driver.client import Client

from connlog.collector.schema import names as n
from connlog.instrumentation import semconv as sc
from connlog.query_api.db import fetch
from connlog.query_api.errors import invalid
from connlog.query_api.models import RunHit, RunSummary, SpanHit
from connlog.query_api.queries.common import TimeRange, is_trace_id, trace_bounds, within_trace
from connlog.query_api.queries.entities import ENTITY_COLUMNS, entity_row
from connlog.query_api.queries.runs import RunFilters, list_runs
from connlog.query_api.scope import Scope
from connlog.query_api.sqlbuild import Conditions, Params, like_contains, ns_expr
from connlog.query_api.timeline_models import RecordTouch, TimelineResult
from connlog.query_api.timeutil import NS, iso

MAX_RUNS = 200
MAX_TOUCHES = 2000  # entity rows of a record's timeline (a record is rarely twice in one run)
_RECORD_FIELDS = frozenset({"external_id", "internal_id"})
MIN_FRAGMENT = 3  # the ngram index has n=3: shorter URL fragments would scan
_TOKEN = re.compile(r"[A-Za-z0-9]+")
_ROLE_KIND = {
    sc.Role.STEP.value: "step",
    sc.Role.PAGE.value: "page",
    sc.Role.ENTITY.value: "entity",
    sc.Role.HTTP.value: "call",
    sc.Role.WEBHOOK.value: "call",
    sc.Role.RUN.value: "run",
}


# Which field of a `connector_record_touches` row the searched value is (the row's `Value` is one
# of them), in the search index's field names.
_ID_FIELDS = (
    ("external_id", n.C_ENTITY_EXTERNAL_ID),
    ("internal_id", n.C_ENTITY_INTERNAL_ID),
    ("job_id", n.C_JOB_ID),
)


def _index_hits(client: Client, q: str, time: TimeRange, scope: Scope) -> dict[str, set[str]]:
    """Runs with a span whose record or job id is `q`, and which of those fields matched.

    Read from `connector_record_touches` (migration 8: the spans carrying an id, by the id,
    weekly partitions of small granules), not `connector_search_index` (the same spans, but daily
    partitions: a month is 30 granules). The window keeps the index's bounds: whole seconds,
    from `start` to one second past `end`, inclusive.
    """
    params = Params()
    where = Conditions(params)
    value = params.bind(q, "String")
    where.add(f"{n.C_VALUE} = {value}")
    where.add(f"{n.C_TIMESTAMP} >= toDateTime64({params.bind(time.start_ns // NS, 'Int64')}, 9, 'UTC')")
    if time.end_ns is not None:
        where.add(f"{n.C_TIMESTAMP} < toDateTime64({params.bind(time.end_ns // NS + 2, 'Int64')}, 9, 'UTC')")
    scope.apply(where)
    flags = ", ".join(f"{column} = {value}" for _, column in _ID_FIELDS)
    out: dict[str, set[str]] = defaultdict(set)
    for tid, *hits in fetch(
        client,
        f"SELECT DISTINCT {n.C_TRACE_ID}, {flags} FROM {n.RECORD_TOUCHES} {where.sql()} LIMIT 10000",
        params.values,
        label="search_index",
    ):
        out[str(tid)].update(field for (field, _), hit in zip(_ID_FIELDS, hits, strict=True) if hit)
    return out


def _trace_hits(client: Client, where: Conditions, label: str) -> set[str]:
    rows = fetch(
        client,
        f"SELECT DISTINCT {n.C_TRACE_ID} FROM {n.TRACES} {where.sql()} LIMIT {MAX_RUNS}",
        where.params.values,
        label=label,
    )
    return {str(r[0]) for r in rows}


def _span_hits(client: Client, q: str, time: TimeRange, scope: Scope) -> dict[str, set[str]]:
    """URL fragments on call spans and words of error messages, each its own index-pruned read."""
    out: dict[str, set[str]] = defaultdict(set)
    if len(q) >= MIN_FRAGMENT:
        where = Conditions(Params())
        where.in_(n.C_ROLE, [sc.Role.HTTP.value, sc.Role.WEBHOOK.value])
        scope.apply(where)
        time.apply(where)
        where.add(f"{n.C_HTTP_URL} LIKE {where.params.bind(like_contains(q), 'String')}")
        for tid in _trace_hits(client, where, "search_url"):
            out[tid].add("url")
    tokens = _TOKEN.findall(q)
    if tokens:
        where = Conditions(Params())
        scope.apply(where)
        time.apply(where)
        where.add(f"{n.C_STATUS_CODE} = 'Error'")
        for token in tokens[:8]:
            # hasToken is what the token bloom index answers; it is case-sensitive, so the
            # usual spellings of the word are OR-ed (the index handles OR).
            variants = sorted({token, token.lower(), token.capitalize(), token.upper()})
            where.add(
                " OR ".join(
                    f"hasToken({n.C_STATUS_MESSAGE}, {where.params.bind(v, 'String')})" for v in variants
                )
            )
        for tid in _trace_hits(client, where, "search_error"):
            out[tid].add("error")
    return out


def _span_of(client: Client, ids: list[str], scope: Scope) -> tuple[TimeRange, Scope]:
    """The time range covering these runs and their connectors (as a scope narrowed to them),
    from the trace-id lookup table (key look-ups): the runs' rows are then read by connector,
    time and trace id, the leading columns of `connector_runs`' sort key."""
    params = Params()
    rows = fetch(
        client,
        f"SELECT toUnixTimestamp(min({n.C_START})), toUnixTimestamp(max({n.C_END})),"
        f" groupUniqArray({n.C_SERVICE_NAME}) FROM {n.TRACE_ID_TS}"
        f" WHERE {n.C_TRACE_ID} IN {params.bind(ids, 'Array(String)')}",
        params.values,
        label="search_bounds",
    )
    start_s, end_s, services = rows[0]
    narrowed = Scope(tuple(sorted(str(s) for s in services if scope.allows(str(s)))), scope.payloads)
    return TimeRange(max(int(start_s) - 1, 0) * NS, (int(end_s) + 1) * NS), narrowed


def search_runs(client: Client, q: str, time: TimeRange, scope: Scope) -> TimelineResult:
    """Runs whose spans mention `q`, newest first, each with how it matched; for a record id,
    its timeline (the action and reason of each entity row in those runs)."""
    q = q.strip()
    if not q:
        raise invalid("q", "must not be empty")
    matched: dict[str, set[str]] = defaultdict(set)
    indexed = _index_hits(client, q, time, scope)
    # An id the index knows (one word: a record, internal or job id) is answered by the index
    # alone; the URL and error-text scans are for fragments and words, and cost two more reads.
    sources = (
        (indexed,)
        if indexed and not any(ch.isspace() for ch in q)
        else (indexed, _span_hits(client, q, time, scope))
    )
    for source in sources:
        for tid, how in source.items():
            matched[tid] |= how
    if is_trace_id(q) and trace_bounds(client, q.lower(), scope) is not None:
        matched[q.lower()].add("run_id")
    if not matched:
        return TimelineResult(query=q, scope=None, runs=[], spans=[])
    ids = sorted(matched)[: MAX_RUNS * 5]
    bounds, connectors = _span_of(client, ids, scope)
    page = list_runs(client, RunFilters(time=bounds, run_ids=tuple(ids), limit=MAX_RUNS), connectors)
    runs = [RunHit(run=r, matched=sorted(matched[r.run_id])) for r in page.items]
    records = [r for r in page.items if matched[r.run_id] & _RECORD_FIELDS]
    timeline = _timeline(client, q, records, bounds, scope) if records else []
    return TimelineResult(query=q, scope=None, runs=runs, spans=[], timeline=timeline)


def _timeline(
    client: Client, q: str, runs: list[RunSummary], bounds: TimeRange, scope: Scope
) -> list[RecordTouch]:
    """The entity spans of `runs` whose external or internal id is `q`, newest first.

    Read from `connector_record_touches` (migration 8), sorted by the id: the record's rows of
    the runs' time range are a few granules, where `otel_traces` holds them one per granule
    over a month. Only entity spans of the runs already found (and visible to `scope`) are
    kept: their connectors, time range and trace ids. The table holds one row per span and
    distinct id, so a span whose two ids are both `q` is listed once, as from `otel_traces`.
    """
    params = Params()
    where = Conditions(params)
    where.eq(n.C_VALUE, q)
    bounds.apply(where)
    where.eq(n.C_ROLE, sc.Role.ENTITY.value)
    where.in_(n.C_SERVICE_NAME, sorted({r.connector for r in runs}))
    scope.apply(where)
    where.in_(n.C_TRACE_ID, [r.run_id for r in runs])
    rows = fetch(
        client,
        f"SELECT {n.C_TRACE_ID}, {ENTITY_COLUMNS} FROM {n.RECORD_TOUCHES} {where.sql()}"
        f" ORDER BY {n.C_TIMESTAMP} DESC, {n.C_SPAN_ID} LIMIT {MAX_TOUCHES}",
        params.values,
        label="search_timeline",
    )
    return [RecordTouch(run_id=str(tid), **dict(entity_row(tuple(rest)))) for tid, *rest in rows]


def search_in_run(client: Client, q: str, run_id: str, scope: Scope) -> TimelineResult:
    """Steps, pages, entities and calls of one run that match `q`."""
    q = q.strip()
    if not q:
        raise invalid("q", "must not be empty")
    _, where = within_trace(client, run_id, scope)
    params = where.params
    exact = params.bind(q, "String")
    pattern = params.bind(like_contains(q), "String")
    checks = {
        "external_id": f"{n.C_ENTITY_EXTERNAL_ID} = {exact}",
        "internal_id": f"{n.C_ENTITY_INTERNAL_ID} = {exact}",
        "job_id": f"{n.C_JOB_ID} = {exact}",
        "span_id": f"{n.C_SPAN_ID} = lower({exact})",
        "step": f"{n.C_STEP_NAME} = {exact}",
        "url": f"{n.C_HTTP_URL} ILIKE {pattern}",
        "error": f"{n.C_STATUS_MESSAGE} ILIKE {pattern}",
    }
    where.add(" OR ".join(f"({c})" for c in checks.values()))
    flags = ", ".join(checks.values())
    rows = fetch(
        client,
        f"SELECT {n.C_ROLE}, {n.C_SPAN_ID}, {n.C_SPAN_NAME}, {ns_expr(n.C_TIMESTAMP)}, {flags}"
        f" FROM {n.TRACES} {where.sql()} ORDER BY {n.C_TIMESTAMP}, {n.C_SPAN_ID} LIMIT 1000",
        params.values,
        label="search_in_run",
    )
    spans = [
        SpanHit(
            kind=_ROLE_KIND.get(role, role or "span"),
            span_id=sid,
            name=name,
            matched=[k for k, flag in zip(checks, hits, strict=True) if flag],
            start=iso(start),
            start_ns=int(start),
        )
        for role, sid, name, start, *hits in rows
        if role != sc.Role.RUN_START.value
    ]
    return TimelineResult(query=q, scope=run_id, runs=[], spans=spans)
