"""Runs: the list (`list_runs`) and one run with its steps and root faults (`get_run`).

A run is its `run` span plus the zero-length `run_start` marker the SDK emits when it
begins; grouping both by TraceId gives finished and still-running runs in one pass over the
two roles' granules (sort key: ServiceName, Role, hour). Filters on run-level values are
applied after grouping, on the run span's values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.client import Client

from collector.schema import names as n
from instrumentation import semconv as sc
from query_api import cursor as cur
from query_api.db import fetch
from query_api.errors import not_found
from query_api.models import Counters, Page, RunDetail, RunSummary, StepRow
from query_api.queries.common import (
    DEFAULT_PAGE,
    TimeRange,
    TraceBounds,
    attr,
    counter_exprs,
    counters_of,
    trace_bounds,
)
from query_api.queries.faults import faults_of_trace
from query_api.scope import Scope
from query_api.sqlbuild import Conditions, Params, ns_expr
from query_api.timeutil import NS, iso, ms

RUN = sc.Role.RUN.value
RUN_START = sc.Role.RUN_START.value


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
    cursor: str | None = None
    limit: int = DEFAULT_PAGE


_IS_RUN = f"{n.C_ROLE} = '{RUN}'"

# One row per run. Column order is what `_summary` reads.
_RUN_SELECT = f"""
SELECT
    {n.C_TRACE_ID} AS run_id,
    any({n.C_SERVICE_NAME}) AS connector,
    max({n.C_TENANT}) AS tenant,
    max({n.C_RESOURCE_ATTRIBUTES}['{sc.SERVICE_VERSION}']) AS version,
    countIf({_IS_RUN}) > 0 AS finished,
    multiIf(NOT finished, '{sc.RunStatus.RUNNING.value}',
            anyIf({attr(sc.RUN_STATUS)}, {_IS_RUN}) != '', anyIf({attr(sc.RUN_STATUS)}, {_IS_RUN}),
            anyIf({n.C_STATUS_CODE}, {_IS_RUN}) = 'Error', '{sc.RunStatus.ERROR.value}',
            '{sc.RunStatus.OK.value}') AS status,
    max({n.C_SYNC_TYPE}) AS sync_type,
    max({n.C_TRIGGER}) AS trigger,
    max({n.C_JOB_ID}) AS job_id,
    {ns_expr(f"min({n.C_TIMESTAMP})")} AS start_ns,
    if(finished, toNullable(anyIf({n.C_DURATION}, {_IS_RUN})), NULL) AS duration_ns,
    {counter_exprs("any", _IS_RUN)},
    anyIf(toUInt64OrZero({attr(sc.ERROR_COUNT)}), {_IS_RUN}) AS error_count,
    anyIf(toInt64OrNull({attr(sc.RUN_EXIT_CODE)}), {_IS_RUN}) AS exit_code,
    anyIf({n.C_FAILURE_CAUSE}, {_IS_RUN}) AS failure_cause
FROM {n.TRACES}
"""


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
    counters, (error_count, exit_code, failure_cause) = rest[:7], rest[7:]
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
    )


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
    ):
        if value is not None:
            h.eq(column, value)
    if f.min_duration_ms is not None:
        h.add(f"duration_ns >= {params.bind(int(f.min_duration_ms * 1_000_000), 'UInt64')}")
    if f.has_failures is True:
        h.add(f"(error_count > 0 OR status = '{sc.RunStatus.ERROR.value}')")
    elif f.has_failures is False:
        h.add(f"(error_count = 0 AND status != '{sc.RunStatus.ERROR.value}')")
    return h


def list_runs(client: Client, filters: RunFilters, scope: Scope) -> Page[RunSummary]:
    """Runs newest first (start time, then run id as the tiebreaker)."""
    params = Params()
    where = Conditions(params)
    where.in_(n.C_ROLE, [RUN, RUN_START])
    scope.apply(where)
    if filters.connector is not None:
        where.eq(n.C_SERVICE_NAME, filters.connector)
    filters.time.apply(where)
    if filters.run_ids is not None:
        where.in_(n.C_TRACE_ID, filters.run_ids)
    having = _having(filters, params)
    if filters.cursor:
        c_ns, c_id = cur.decode("runs", filters.cursor, (int, str))
        # Both roles are stamped at the run's start, so rows after the cursor's start can go.
        where.add(f"{n.C_TIMESTAMP} <= fromUnixTimestamp64Nano({params.bind(c_ns, 'Int64')}, 'UTC')")
        having.add(f"(start_ns, run_id) < ({params.bind(c_ns, 'Int64')}, {params.bind(c_id, 'String')})")
    sql = (
        f"{_RUN_SELECT}{where.sql()}\nGROUP BY {n.C_TRACE_ID}\n{having.sql('HAVING')}\n"
        f"ORDER BY start_ns DESC, run_id DESC\nLIMIT {params.bind(filters.limit + 1, 'UInt32')}"
    )
    rows = fetch(client, sql, params.values, label="list_runs")
    items = [_summary(r) for r in rows[: filters.limit]]
    _fill_running_counters(client, items)
    nxt = cur.encode("runs", [items[-1].start_ns, items[-1].run_id]) if len(rows) > filters.limit else None
    return Page[RunSummary](items=items, next_cursor=nxt, limit=filters.limit)


def _fill_running_counters(client: Client, items: list[RunSummary]) -> None:
    """A running run has no run span yet: its counters so far are the sum of its finished steps."""
    running = [r for r in items if r.status == sc.RunStatus.RUNNING.value]
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


def _steps(client: Client, bounds: TraceBounds) -> list[StepRow]:
    params = Params()
    where = Conditions(params)
    bounds.apply(where)
    where.eq(n.C_ROLE, sc.Role.STEP.value)
    sql = (
        f"SELECT {n.C_SPAN_ID}, {n.C_STEP_NAME}, {ns_expr(n.C_TIMESTAMP)}, {n.C_DURATION}, {n.C_STATUS_CODE},"
        f" {n.C_STATUS_MESSAGE}, {counter_exprs()}, {n.C_RATE_LIMITED},"
        f" toUInt64OrZero({attr(sc.ERROR_COUNT)}), {n.C_FAILURE_CAUSE}"
        f" FROM {n.TRACES} {where.sql()} ORDER BY {n.C_TIMESTAMP}, {n.C_SPAN_ID}"
    )
    out = []
    for row in fetch(client, sql, params.values, label="run_steps"):
        sid, name, start_ns, dur, status, message, *rest = row
        counters, (rate_limited, error_count, cause) = rest[:7], rest[7:]
        out.append(
            StepRow(
                step_id=sid,
                name=name,
                start=iso(start_ns),
                start_ns=int(start_ns),
                duration_ms=ms(dur) or 0.0,
                status=status,
                status_message=message,
                counters=Counters(**counters_of(counters)),
                rate_limited=bool(rate_limited),
                error_count=int(error_count),
                failure_cause=cause,
            )
        )
    return out


def get_run(client: Client, run_id: str, scope: Scope) -> RunDetail:
    """One run: summary, steps in start order, and root faults."""
    bounds = trace_bounds(client, run_id, scope)
    if bounds is None:
        raise not_found(f"run {run_id}")
    summary = run_summary(client, bounds)
    if summary is None:
        raise not_found(f"run {run_id}")
    return RunDetail(
        run=summary,
        steps=_steps(client, bounds),
        faults=faults_of_trace(client, bounds, scope),
    )


__all__ = ["NS", "RunFilters", "get_run", "list_runs", "run_summary"]
