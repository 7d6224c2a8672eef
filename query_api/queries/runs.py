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

from collections.abc import Sequence
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
from connlog.query_api.models import Counters, OperationInfo, Page, RunDetail, RunSummary, StepRow
from connlog.query_api.queries.common import (
    DEFAULT_PAGE,
    InlineBounds,
    TimeRange,
    TraceBounds,
    attr,
    counter_exprs,
    counters_of,
    newest_first,
    step_row,
)
from connlog.query_api.queries.faults import call_owners, fault_row, roots_of_trace_sql
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


# A step span as `step_row` reads it.
_STEP_COLUMNS = (
    f"{n.C_SPAN_ID}, {ns_expr(n.C_TIMESTAMP)}, {n.C_STEP_NAME}, {n.C_DURATION}, {SPAN_STATUS},"
    f" {n.C_STATUS_MESSAGE}, [{counter_exprs()}], {n.C_RATE_LIMITED},"
    f" toUInt64OrZero({attr(sc.ERROR_COUNT)}), {n.C_FAILURE_CAUSE}"
)
_IS_STEP = f"{n.C_ROLE} = '{sc.Role.STEP.value}'"
_STEP_WIDTH = 10  # columns in _STEP_COLUMNS (the counters are one array)


def _step(row: Sequence[Any]) -> StepRow:
    """A `StepRow` from the `_STEP_COLUMNS` of one step span."""
    sid, ts, name, dur, status, message, counters, rate_limited, errors, cause = row
    return step_row(sid, name, ts, dur, status, message, counters, rate_limited, errors, cause)


def _within(bounds: InlineBounds, params: Params, *extra: str) -> str:
    """A WHERE narrowed to the run's inline bounds (and scope), plus `extra` conditions."""
    where = Conditions(params)
    bounds.apply(where)
    for condition in extra:
        where.add(condition)
    return where.sql()


def _run_row_sql(bounds: InlineBounds, params: Params) -> str:
    """The run's row from `connector_runs`, grouped as the list groups it (`_RUN_COLUMNS`)."""
    return f"SELECT{_RUN_COLUMNS}\nFROM {n.RUNS} {_within(bounds, params)}\nGROUP BY {n.C_TRACE_ID}"


# A root-fault row as `fault_row` reads it (the columns of `roots_of_trace_sql`).
_FAULT_COLUMNS = "run_id, span_id, connector, ts_ns, type, uri, host, message, status_code, cause"


def _detail_sql(run_id: str, scope: Scope) -> tuple[str, Params]:
    """The run detail as one query: the run's row from `connector_runs` (grouped as in the
    list), then its steps, root faults and, for admin keys, its failed calls and their stored
    response headers, each one array of tuples from a one-row subquery (cross-joined, so
    `EXPLAIN ESTIMATE` still sees every table the query reads).

    Every part reads within the run's bounds, which the `WITH ... AS b` clause looks up in
    the trace-id table inside the same query (`InlineBounds`): one round trip where there were
    two sequential ones (row and bounds, then spans) and a third for admin keys when the run
    had faults (the headers).
    """
    bounds = InlineBounds.of(run_id, scope)
    params = Params()
    with_bounds = bounds.with_clause(params)

    parts = [
        _run_row_sql(bounds, params),
        f"SELECT groupArray(tuple({_STEP_COLUMNS})) AS steps FROM {n.TRACES} {_within(bounds, params, _IS_STEP)}",
        f"SELECT groupArray(tuple({_FAULT_COLUMNS})) AS faults FROM ({roots_of_trace_sql(params, bounds, scope)})",
    ]
    if scope.payloads:
        # The spans of the run that can hold a fault's response (`call_owners`: a failed call
        # under the fault, else the fault's own span), each with its stored response headers.
        # The payload side is the run's rows by primary key (ServiceName, TraceId) within its
        # days: a granule or two whatever the number of rows, so it is read whole.
        raised = f"has(`{n.C_EVENTS_NAME}`, '{sc.EXCEPTION_EVENT}')"
        candidates = (
            f"SELECT {n.C_SPAN_ID}, {n.C_PARENT_SPAN_ID}, {ns_expr(n.C_TIMESTAMP)} AS ts, {FAILED_CALL} AS failed"
            f" FROM {n.TRACES} {_within(bounds, params, f'{FAILED_CALL} OR {raised}')}"
        )
        parts.append(
            f"SELECT groupArray(tuple(c.{n.C_SPAN_ID}, c.{n.C_PARENT_SPAN_ID}, c.ts, c.failed, p.{n.C_RESPONSE_HEADERS}))"
            f" AS calls FROM ({candidates}) AS c LEFT JOIN"
            f" (SELECT {n.C_SPAN_ID}, {n.C_RESPONSE_HEADERS} FROM {n.PAYLOADS} {_within(bounds, params, '1')}) AS p"
            f" ON c.{n.C_SPAN_ID} = p.{n.C_SPAN_ID}"
        )
    joined = "\nCROSS JOIN ".join(f"({part}) AS p{i}" for i, part in enumerate(parts))
    return f"{with_bounds}SELECT *\nFROM {joined}", params


def get_run(client: Client, run_id: str, scope: Scope) -> RunDetail:
    """One run: summary, steps in start order, and root faults (with their response headers
    for admin keys), in one query (`_detail_sql`)."""
    sql, params = _detail_sql(run_id, scope)
    rows = fetch(client, sql, params.values, label="run_detail")
    if not rows:
        raise not_found(f"run {run_id}")
    width = len(rows[0]) - (3 if scope.payloads else 2)
    run_cols, (step_rows, fault_rows, *admin) = rows[0][:width], rows[0][width:]
    summary = _summary(tuple(run_cols))
    # Every part in start order, span id as the tiebreaker (groupArray keeps no order).
    steps = [_step(r) for r in sorted(step_rows, key=lambda r: (r[1], r[0]))]
    faults = sorted((tuple(r) for r in fault_rows), key=lambda r: (r[3], r[1]))
    if summary.status == RUNNING and steps:
        # As `_fill_running_counters` does for the list, from the steps already read.
        summary.counters = Counters(
            **{c: sum(getattr(st.counters, c) for st in steps) for c in Counters.model_fields}
        )
        summary.error_count = sum(st.error_count for st in steps)
    headers = None
    if admin:
        candidates = sorted(admin[0], key=lambda r: (r[2], r[0]))
        links = [(run_id, str(sid), str(parent)) for sid, parent, _, failed, _ in candidates if failed]
        stored = {(run_id, str(sid)): dict(h) for sid, _, _, _, h in candidates}
        headers = {fault: stored.get(call, {}) for fault, call in call_owners(faults, links).items()}
    return RunDetail(run=summary, steps=steps, faults=[fault_row(r, headers) for r in faults])


def get_run_and_step(client: Client, run_id: str, step_id: str, scope: Scope) -> tuple[RunSummary, StepRow]:
    """A run's summary and one of its steps in one query: what the step screen shows above
    its pages (`get_run` would also read every step, the root faults and failed calls).

    The run row and the step row are one-row subqueries cross-joined under the same inline
    bounds as `_detail_sql`, so the screen pays one round trip for its header instead of two
    (on the embedded engine queries run one at a time). A running run's counters stay as its
    row has them (the list sums its steps; the screen's header shows none). 404 when the run
    is unknown or out of scope, or has no such step.
    """
    bounds = InlineBounds.of(run_id, scope)
    params = Params()
    with_bounds = bounds.with_clause(params)
    this_step = _within(bounds, params, _IS_STEP, f"{n.C_SPAN_ID} = {params.bind(step_id, 'String')}")
    sql = (
        f"{with_bounds}SELECT *\nFROM ({_run_row_sql(bounds, params)}) AS r"
        f"\nCROSS JOIN (SELECT {_STEP_COLUMNS} FROM {n.TRACES} {this_step} LIMIT 1) AS s"
    )
    rows = fetch(client, sql, params.values, label="run_and_step")
    if not rows:
        raise not_found(f"step {step_id} in run {run_id}")
    width = len(rows[0]) - _STEP_WIDTH
    return _summary(tuple(rows[0][:width])), _step(rows[0][width:])


__all__ = [
    "KIND_OPERATION",
    "KIND_SYNC",
    "NS",
    "RunFilters",
    "get_run",
    "get_run_and_step",
    "list_runs",
    "run_summary",
]
