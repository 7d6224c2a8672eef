"""Runs: the list (`list_runs`) and one run with its steps and root faults (`get_run`).

Run rows come from `connector_runs` (migration 3), not from `otel_traces`: one narrow row
per `run_start` marker (`Finished = false`) and one per finished `run` span (`Finished =
true`), with typed status, exit code and counters. Reading the wide `SpanAttributes` map of
`otel_traces` for every run of a month was what made the runs list and the record look-up
slow. A run's state is its finished row if there is one, else its marker (`argMax(...,
Finished)` per TraceId); filters on run-level values are applied after grouping, on that
state. Only a still-running run reads `otel_traces`, for the counters of its finished steps.

Asynchronous operations (build, deploy, sync to an environment: `cl.operation(...)`) are runs
of another kind (migration 5, `RunKind`): the list holds every kind unless `kind` says
`sync`, `operation` (any kind but sync) or one kind; both rows of a run carry its kind, so
that filter prunes rows before grouping.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.client import Client

from connlog.collector.schema import names as n
from connlog.collector.schema.concepts import (
    COUNTER_COLUMNS,
    FAILED_CALL,
    HAS_FAILURES,
    RUN_KIND,
    RUN_STATUS,
    SPAN_STATUS,
    SYNC_ROW,
    run_state,
)
from connlog.instrumentation import semconv as sc
from connlog.query_api import cursor as cur
from connlog.query_api.db import fetch
from connlog.query_api.errors import not_found
from connlog.query_api.models import Counters, Fault, OperationInfo, Page, RunDetail, RunSummary, StepRow
from connlog.query_api.queries.common import (
    DEFAULT_PAGE,
    TimeRange,
    TraceBounds,
    attr,
    counter_exprs,
    counters_of,
    newest_first,
    step_row,
    within_trace_inline,
)
from connlog.query_api.queries.faults import call_owners, fault_row, payload_headers, roots_of_trace_sql
from connlog.query_api.scope import Scope
from connlog.query_api.sqlbuild import Conditions, Params, ns_expr
from connlog.query_api.timeutil import NS, iso, ms

RUNNING = sc.RunStatus.RUNNING.value
# The `kind` filter: `sync`, any operation (every kind but sync), or one operation kind.
KIND_SYNC = sc.RunKind.SYNC.value
KIND_OPERATION = "operation"


@dataclass(frozen=True)
class RunFilters:
    time: TimeRange
    connector: str | None = None
    status: str | None = None
    sync_type: str | None = None
    trigger: str | None = None
    job_id: str | None = None
    version: str | None = None
    tenant: str | None = None
    min_duration_ms: float | None = None
    has_failures: bool | None = None
    failure_cause: str | None = None
    run_ids: tuple[str, ...] | None = None
    enduser: str | None = None  # the end user / login the run was made for (`run(..., user=)`)
    kind: str | None = None  # `sync`, `operation` (any non-sync kind) or one kind; None: all
    operation_status: str | None = None  # pending / running / done / failed (operations only)
    cursor: str | None = None
    limit: int = DEFAULT_PAGE


_COUNTERS = ", ".join(run_state(col) for col in COUNTER_COLUMNS.values())

# One row per run, from `connector_runs` grouped by TraceId. Column order is what `_summary`
# reads.
_RUN_COLUMNS = f"""
    {n.C_TRACE_ID} AS run_id,
    {run_state(n.C_SERVICE_NAME)} AS connector,
    {run_state(n.C_TENANT)} AS tenant,
    {run_state(n.C_VERSION)} AS version,
    max({n.C_FINISHED}) AS finished,
    {RUN_STATUS} AS status,
    {run_state(n.C_SYNC_TYPE)} AS sync_type,
    {run_state(n.C_TRIGGER)} AS trigger,
    {run_state(n.C_JOB_ID)} AS job_id,
    {ns_expr(f"min({n.C_TIMESTAMP})")} AS start_ns,
    if(finished, toNullable({run_state(n.C_DURATION)}), NULL) AS duration_ns,
    {_COUNTERS},
    {run_state(n.C_ERROR_COUNT)} AS error_count,
    if(finished, toNullable(toInt64({run_state(n.C_EXIT_CODE)})), NULL) AS exit_code,
    {run_state(n.C_FAILURE_CAUSE)} AS failure_cause,
    {run_state(n.C_ENDUSER_ID)} AS enduser,
    {RUN_KIND} AS kind,
    {run_state(n.C_OPERATION_STATUS)} AS operation_status,
    {run_state(n.C_OPERATION_OWNER)} AS operation_owner,
    {run_state(n.C_OPERATION_TARGET)} AS operation_target,
    {ns_expr(run_state(n.C_OPERATION_QUEUED_AT))} AS operation_queued_ns"""

_RUN_SELECT = f"SELECT{_RUN_COLUMNS}\nFROM {n.RUNS}\n"


def _summary(row: tuple[Any, ...]) -> RunSummary:
    (
        run_id,
        connector,
        tenant,
        version,
        _finished,
        status,
        sync_type,
        trigger,
        job_id,
        start_ns,
        duration_ns,
        *rest,
    ) = row
    counters, (error_count, exit_code, failure_cause, enduser, kind, *operation) = rest[:7], rest[7:]
    return RunSummary(
        run_id=run_id,
        connector=connector,
        tenant=tenant,
        version=version,
        status=status,
        sync_type=sync_type,
        trigger=trigger,
        job_id=job_id,
        start=iso(start_ns),
        start_ns=int(start_ns),
        duration_ms=ms(duration_ns),
        counters=Counters(**counters_of(counters)),
        error_count=int(error_count),
        exit_code=None if exit_code is None else int(exit_code),
        failure_cause=failure_cause,
        enduser=enduser,
        kind=kind,
        operation=None if kind == KIND_SYNC else _operation(*operation),
    )


def _operation(status: str, owner: str, target: str, queued_ns: int) -> OperationInfo:
    queued = int(queued_ns) or None  # 1970-01-01: not recorded
    return OperationInfo(
        status=status,
        owner=owner,
        target=target,
        queued_at=None if queued is None else iso(queued),
        queued_at_ns=queued,
    )


def _kind(where: Conditions, kind: str) -> None:
    """The `kind` filter, on rows (both rows of a run carry the same kind)."""
    if kind == KIND_SYNC:
        where.add(SYNC_ROW)
    elif kind == KIND_OPERATION:
        where.add(f"NOT {SYNC_ROW}")
    else:
        where.eq(n.C_RUN_KIND, kind)


def _having(f: RunFilters, params: Params) -> Conditions:
    h = Conditions(params)
    for column, value in (
        ("status", f.status),
        ("sync_type", f.sync_type),
        ("trigger", f.trigger),
        ("job_id", f.job_id),
        ("version", f.version),
        ("tenant", f.tenant),
        ("failure_cause", f.failure_cause),
        ("enduser", f.enduser),
        ("operation_status", f.operation_status),
    ):
        if value is not None:
            h.eq(column, value)
    if f.min_duration_ms is not None:
        h.add(f"duration_ns >= {params.bind(int(f.min_duration_ms * 1_000_000), 'UInt64')}")
    if f.has_failures is True:
        h.add(HAS_FAILURES)
    elif f.has_failures is False:
        h.add(f"NOT {HAS_FAILURES}")
    return h


def list_runs(client: Client, filters: RunFilters, scope: Scope) -> Page[RunSummary]:
    """Runs newest first (start time, then run id as the tiebreaker)."""
    params = Params()
    where = Conditions(params)
    scope.apply(where)
    if filters.connector is not None:
        where.eq(n.C_SERVICE_NAME, filters.connector)
    if filters.run_ids is not None:
        where.in_(n.C_TRACE_ID, filters.run_ids)
    if filters.kind is not None:
        _kind(where, filters.kind)
    having = _having(filters, params)
    time = filters.time
    if filters.cursor:
        c_ns, c_id = cur.decode("runs", filters.cursor, (int, str))
        # Both rows of a run are stamped at its start, so rows after the cursor's start can go.
        end = c_ns + 1 if time.end_ns is None else min(time.end_ns, c_ns + 1)
        time = TimeRange(time.start_ns, max(end, time.start_ns + 1))
        having.add(f"(start_ns, run_id) < ({params.bind(c_ns, 'Int64')}, {params.bind(c_id, 'String')})")
    rows = _grouped_runs(client, where, having, time, filters.limit + 1, whole=filters.run_ids is not None)
    items = [_summary(r) for r in rows[: filters.limit]]
    _fill_running_counters(client, items)
    nxt = cur.encode("runs", [items[-1].start_ns, items[-1].run_id]) if len(rows) > filters.limit else None
    return Page[RunSummary](items=items, next_cursor=nxt, limit=filters.limit)


def _grouped_runs(
    client: Client, where: Conditions, having: Conditions, time: TimeRange, want: int, *, whole: bool
) -> list[tuple[Any, ...]]:
    """Up to `want` runs (their state rows) in `time`, newest first; `where` and `having` hold
    every other filter.

    Both rows of a run are stamped at its start, so any time window holds whole runs and
    grouping inside it is exact: windows are read newest first (`newest_first`) until the
    page is full, instead of grouping a month of runs to keep 51. `whole`: one query over the
    range (a list of run ids, as the search asks for, is already small).
    """
    out: list[tuple[Any, ...]] = []
    for window in [time] if whole else newest_first(time):
        w = where.copy()
        window.apply(w)
        sql = (
            f"{_RUN_SELECT}{w.sql()}\nGROUP BY {n.C_TRACE_ID}\n{having.sql('HAVING')}\n"
            f"ORDER BY start_ns DESC, run_id DESC\nLIMIT {w.params.bind(want - len(out), 'UInt32')}"
        )
        out += fetch(client, sql, w.params.values, label="list_runs")
        if len(out) >= want:
            break
    return out


def _fill_running_counters(client: Client, items: list[RunSummary]) -> None:
    """A running run has no run span yet: its counters so far are the sum of its finished steps.

    The only read of `otel_traces` for a list of runs, and only when the page has running runs.
    """
    running = [r for r in items if r.status == RUNNING]
    if not running:
        return
    params = Params()
    where = Conditions(params)
    where.in_(n.C_SERVICE_NAME, sorted({r.connector for r in running}))
    where.eq(n.C_ROLE, sc.Role.STEP.value)
    where.add(
        f"{n.C_TIMESTAMP} >= fromUnixTimestamp64Nano({params.bind(min(r.start_ns for r in running), 'Int64')}, 'UTC')"
    )
    where.in_(n.C_TRACE_ID, [r.run_id for r in running])
    sums = {
        row[0]: row[1:]
        for row in fetch(
            client,
            f"SELECT {n.C_TRACE_ID}, {counter_exprs('sum', '1')}, sum(toUInt64OrZero({attr(sc.ERROR_COUNT)}))"
            f" FROM {n.TRACES} {where.sql()} GROUP BY {n.C_TRACE_ID}",
            params.values,
            label="running_counters",
        )
    }
    for r in running:
        if r.run_id in sums:
            *counters, errors = sums[r.run_id]
            r.counters = Counters(**counters_of(counters))
            r.error_count = int(errors)


def run_summary(client: Client, bounds: TraceBounds) -> RunSummary | None:
    """The summary of one run, read within its bounds."""
    page = list_runs(
        client,
        RunFilters(
            time=TimeRange(bounds.start_ns, bounds.end_ns),
            run_ids=(bounds.trace_id,),
            limit=1,
        ),
        Scope(connectors=bounds.services),
    )
    return page.items[0] if page.items else None


# The columns of `_run_spans`' rows: steps, root faults and failed calls of one run share
# them (UNION ALL needs one shape); each kind fills what it has, the rest are type defaults.
_SPAN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("kind", "String"),
    ("span_id", "String"),
    ("parent_id", "String"),
    ("ts_ns", "Int64"),
    ("name", "String"),
    ("message", "String"),
    ("cause", "String"),
    ("status", "String"),
    ("duration", "UInt64"),
    ("counters", "Array(UInt64)"),
    ("rate_limited", "Bool"),
    ("error_count", "UInt64"),
    ("uri", "String"),
    ("host", "String"),
    ("status_code", "UInt16"),
    ("connector", "String"),
)


def _branch(kind: str, exprs: dict[str, str], source: str) -> str:
    cols = [f"'{kind}' AS kind"] + [
        f"CAST({exprs[name]}, '{type_}') AS {name}"
        if name in exprs
        else f"defaultValueOfTypeName('{type_}') AS {name}"
        for name, type_ in _SPAN_COLUMNS[1:]
    ]
    return f"SELECT {', '.join(cols)}\n{source}"


@dataclass
class _RunSpans:
    steps: list[StepRow]
    faults: list[tuple[Any, ...]]  # root-fault rows as `fault_row` reads them
    calls: list[tuple[str, str, str]]  # failed calls (trace, span, parent), in start order


def _run_spans(client: Client, bounds: TraceBounds, scope: Scope) -> _RunSpans:
    """Steps, root faults and (admin keys) failed calls of one run: one round trip.

    Each part reads `otel_traces` within the run's bounds (a few granules); as one UNION ALL
    they cost one query instead of three sequential ones.
    """
    params = Params()
    where = Conditions(params)
    bounds.apply(where)
    base = where.joined()
    step = {
        "span_id": n.C_SPAN_ID,
        "ts_ns": ns_expr(n.C_TIMESTAMP),
        "name": n.C_STEP_NAME,
        "message": n.C_STATUS_MESSAGE,
        "cause": n.C_FAILURE_CAUSE,
        "status": SPAN_STATUS,
        "duration": n.C_DURATION,
        "counters": f"[{counter_exprs()}]",
        "rate_limited": n.C_RATE_LIMITED,
        "error_count": f"toUInt64OrZero({attr(sc.ERROR_COUNT)})",
    }
    fault = {
        "span_id": "span_id",
        "ts_ns": "ts_ns",
        "name": "type",
        "message": "message",
        "cause": "cause",
        "uri": "uri",
        "host": "host",
        "status_code": "status_code",
        "connector": "connector",
    }
    parts = [
        _branch("step", step, f"FROM {n.TRACES} WHERE {base} AND {n.C_ROLE} = '{sc.Role.STEP.value}'"),
        _branch("fault", fault, f"FROM ({roots_of_trace_sql(params, bounds, scope)})"),
    ]
    if scope.payloads:
        call = {"span_id": n.C_SPAN_ID, "parent_id": n.C_PARENT_SPAN_ID, "ts_ns": ns_expr(n.C_TIMESTAMP)}
        parts.append(_branch("call", call, f"FROM {n.TRACES} WHERE {base} AND {FAILED_CALL}"))
    rows = fetch(client, "\nUNION ALL\n".join(parts), params.values, label="run_spans")
    # UNION ALL keeps no order: every kind is start order, span id as the tiebreaker.
    rows.sort(key=lambda r: (r[3], r[1]))
    out = _RunSpans([], [], [])
    for (
        kind,
        sid,
        parent,
        ts,
        name,
        message,
        cause,
        status,
        dur,
        counters,
        rate_limited,
        errors,
        *fault_cols,
    ) in rows:
        uri, host, status_code, connector = fault_cols
        if kind == "step":
            out.steps.append(
                step_row(sid, name, ts, dur, status, message, counters, rate_limited, errors, cause)
            )
        elif kind == "fault":
            out.faults.append(
                (bounds.trace_id, sid, connector, ts, name, uri, host, message, status_code, cause)
            )
        else:
            out.calls.append((bounds.trace_id, sid, parent))
    return out


def _run_row(client: Client, run_id: str, scope: Scope) -> tuple[TraceBounds, RunSummary] | None:
    """The run's bounds and its row from `connector_runs`, in one query (`within_trace_inline`):
    typically one granule."""
    with_bounds, where = within_trace_inline(run_id, scope)
    sql = f"{with_bounds}SELECT b.1, b.2, b.3,{_RUN_COLUMNS}\nFROM {n.RUNS}\n{where.sql()}\nGROUP BY {n.C_TRACE_ID}"
    rows = fetch(client, sql, where.params.values, label="run_row")
    if not rows:
        return None
    services, start_s, end_s, *row = rows[0]
    visible = tuple(sorted(str(s) for s in services if scope.allows(str(s))))
    # Same bounds as `trace_bounds`: End is already max(start)+1s; one more second covers
    # sub-second rounding of Start.
    return TraceBounds(run_id, visible, (int(start_s) - 1) * NS, (int(end_s) + 1) * NS), _summary(tuple(row))


def get_run(client: Client, run_id: str, scope: Scope) -> RunDetail:
    """One run: summary, steps in start order, and root faults.

    Two sequential queries (the run row with its bounds, then the run's spans), a third only
    for admin keys when the run has faults (their response headers, from the payload table).
    """
    found = _run_row(client, run_id, scope)
    if found is None:
        raise not_found(f"run {run_id}")
    bounds, summary = found
    spans = _run_spans(client, bounds, scope)
    if summary.status == RUNNING and spans.steps:
        # As `_fill_running_counters` does for the list, from the steps already read.
        summary.counters = Counters(
            **{c: sum(getattr(st.counters, c) for st in spans.steps) for c in Counters.model_fields}
        )
        summary.error_count = sum(st.error_count for st in spans.steps)
    headers = (
        payload_headers(client, spans.faults, call_owners(spans.faults, spans.calls))
        if scope.payloads and spans.faults
        else None
    )
    faults: list[Fault] = [fault_row(r, headers) for r in spans.faults]
    return RunDetail(run=summary, steps=spans.steps, faults=faults)


__all__ = ["KIND_OPERATION", "KIND_SYNC", "NS", "RunFilters", "get_run", "list_runs", "run_summary"]
