"""Jobs: a scheduled job's ticks in a time range, each with the runs it started, and the ticks
the schedule expected that did not fire (`list_jobs`).

A job is (connector, job id) of sync runs (`run(job_id=...)`). Its schedule is the newest
`connector.run.schedule` its runs recorded; a run belongs to a *tick* when it was started
by the schedule (trigger `schedule`) or recorded the tick that fired it (`job_tick`).
Runs of the same recorded tick are one tick (a retried tick); so are runs that start within
the tolerance of the tick before them.

Expected ticks are computed for `every <n>s` schedules (what the SDK records for an
interval): the next tick is due one interval after the previous one that fired, so a
scheduler whose ticks drift a little is not reported as missing them. A tick is **missed**
when no run of the job started within the tolerance (half the interval) of its due time
and that time plus the tolerance has passed. Cron text (five fields, evaluated in UTC by
`cronsim`, the library healthchecks.io runs on) is due at the times it names: a fired tick
within the tolerance of one (half the shortest gap between two due times) is that tick, a
due time with none is missed once its tolerance has passed. Text that is neither is shown
and not evaluated: the ticks are the runs that fired and none is reported missed.

Two reads of `connector_runs` (one narrow row per run start and end): one row per job over
`LOOKBACK_NS` before the range (schedule, newest run, the tick before the range), then the
job runs inside the range.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from clickhouse_connect.driver.client import Client
from cronsim import CronSim, CronSimError

from connlog.collector.schema import names as n
from connlog.collector.schema.concepts import RUN_STATUS, SYNC_ROW, run_state
from connlog.instrumentation import semconv as sc
from connlog.query_api.db import fetch
from connlog.query_api.models import JobSummary, JobTick
from connlog.query_api.queries.common import TimeRange
from connlog.query_api.scope import Scope
from connlog.query_api.sqlbuild import Conditions, Params, ns_expr, ts_param
from connlog.query_api.timeutil import NS, iso, now_ns

LOOKBACK_NS: Final = 30 * 86400 * NS  # a job silent for longer before the range is not listed
MAX_TICKS: Final = 500  # per job, the newest; `ticks_truncated` says when more were due
MAX_RUNS: Final = 20_000  # job runs read in the range, the newest
MAX_DUE: Final = 50_000  # cron due times evaluated per job (a minutely cron over a month is 43,200)

# One row per run of a job: its tick time is the recorded tick, else its start.
_RUN_SQL = f"""
SELECT
    {n.C_TRACE_ID} AS run_id,
    {run_state(n.C_SERVICE_NAME)} AS connector,
    {run_state(n.C_JOB_ID)} AS job_id,
    {ns_expr(f"min({n.C_TIMESTAMP})")} AS start_ns,
    {RUN_STATUS} AS status,
    {run_state(n.C_TRIGGER)} = '{sc.Trigger.SCHEDULE.value}' OR max({n.C_JOB_TICK}) > toDateTime64(0, 9, 'UTC')
        AS by_schedule,
    if(max({n.C_JOB_TICK}) > toDateTime64(0, 9, 'UTC'), {ns_expr(f"max({n.C_JOB_TICK})")}, start_ns) AS tick_ns,
    max({n.C_JOB_TICK}) > toDateTime64(0, 9, 'UTC') AS has_tick,
    {run_state(n.C_TENANT)} AS tenant,
    argMaxIf({n.C_SCHEDULE}, {n.C_FINISHED}, {n.C_SCHEDULE} != '') AS schedule
FROM {n.RUNS}
"""


@dataclass(frozen=True)
class JobFilters:
    time: TimeRange
    connector: str | None = None
    tenant: str | None = None
    job_id: str | None = None


@dataclass
class _Run:
    run_id: str
    start_ns: int
    status: str
    by_schedule: bool
    tick_ns: int
    has_tick: bool


@dataclass
class _Fired:
    """Runs one tick started."""

    at_ns: int
    recorded: bool  # the tick time was recorded by the SDK (job_tick), not taken from a start
    runs: list[_Run] = field(default_factory=list)


@dataclass
class _Job:
    connector: str
    job_id: str
    tenant: str
    schedule: str
    last_start_ns: int
    last_status: str
    before_ns: int | None  # tick time of the job's last tick before the range
    runs: list[_Run] = field(default_factory=list)


def _where(params: Params, scope: Scope, f: JobFilters) -> Conditions:
    where = Conditions(params)
    scope.apply(where)
    if f.connector is not None:
        where.eq(n.C_SERVICE_NAME, f.connector)
    where.add(f"{n.C_JOB_ID} != ''")
    if f.job_id is not None:
        where.eq(n.C_JOB_ID, f.job_id)
    where.add(SYNC_ROW)
    return where


def _having(params: Params, f: JobFilters) -> str:
    return "" if f.tenant is None else f"HAVING tenant = {params.bind(f.tenant, 'String')}"


def _jobs(client: Client, scope: Scope, f: JobFilters, end_ns: int) -> dict[tuple[str, str], _Job]:
    params = Params()
    where = _where(params, scope, f)
    where.add(f"{n.C_TIMESTAMP} >= {ts_param(params, max(f.time.start_ns - LOOKBACK_NS, 0))}")
    where.add(f"{n.C_TIMESTAMP} < {ts_param(params, end_ns)}")
    start = params.bind(f.time.start_ns, "Int64")
    sql = (
        f"SELECT connector, job_id, argMax(tenant, start_ns), argMaxIf(schedule, start_ns, schedule != ''),"
        f" max(start_ns), argMax(status, start_ns), maxIf(tick_ns, by_schedule AND start_ns < {start})"
        f" FROM ({_RUN_SQL}{where.sql()} GROUP BY {n.C_TRACE_ID} {_having(params, f)})"
        f" GROUP BY connector, job_id ORDER BY connector, job_id"
    )
    jobs: dict[tuple[str, str], _Job] = {}
    for connector, job_id, tenant, schedule, last_ns, last_status, before_ns in fetch(
        client, sql, params.values, label="jobs"
    ):
        jobs[(connector, job_id)] = _Job(
            connector, job_id, tenant, schedule, int(last_ns), last_status, int(before_ns) or None
        )
    return jobs


def _runs_in_range(client: Client, scope: Scope, f: JobFilters, jobs: dict[tuple[str, str], _Job]) -> None:
    params = Params()
    where = _where(params, scope, f)
    f.time.apply(where)
    sql = (
        f"{_RUN_SQL}{where.sql()} GROUP BY {n.C_TRACE_ID} {_having(params, f)}"
        f" ORDER BY start_ns DESC LIMIT {params.bind(MAX_RUNS, 'UInt32')}"
    )
    rows: Sequence[tuple[Any, ...]] = fetch(client, sql, params.values, label="job_runs")
    for run_id, connector, job_id, start_ns, status, by_schedule, tick_ns, has_tick, *_ in reversed(rows):
        job = jobs.get((connector, job_id))
        if job is not None:
            job.runs.append(
                _Run(run_id, int(start_ns), status, bool(by_schedule), int(tick_ns), bool(has_tick))
            )


def _fired(runs: list[_Run], tolerance_ns: int) -> list[_Fired]:
    """Ticks that fired, oldest first: runs of one recorded tick together, and a run starting
    within the tolerance of the tick before it joins that tick (a retry)."""
    out: list[_Fired] = []
    for run in sorted((r for r in runs if r.by_schedule), key=lambda r: (r.tick_ns, r.start_ns)):
        last = out[-1] if out else None
        if last is not None and (
            (run.has_tick and last.recorded and run.tick_ns == last.at_ns)
            or (not run.has_tick and run.tick_ns - last.at_ns < tolerance_ns)
        ):
            last.runs.append(run)
        else:
            out.append(_Fired(run.tick_ns, run.has_tick, [run]))
    return out


def _tick(fired: _Fired | None, expected_ns: int | None) -> JobTick:
    if fired is None:
        assert expected_ns is not None
        return JobTick(
            expected_at=iso(expected_ns), expected_at_ns=expected_ns, run_id=None, run_ids=[],
            started_at=None, started_at_ns=None, status=None, missed=True,
        )  # fmt: skip
    outcome = fired.runs[-1]  # the newest attempt says how the tick ended
    return JobTick(
        expected_at=None if expected_ns is None else iso(expected_ns),
        expected_at_ns=expected_ns,
        run_id=outcome.run_id,
        run_ids=[r.run_id for r in fired.runs],
        started_at=iso(fired.runs[0].start_ns),
        started_at_ns=fired.runs[0].start_ns,
        status=outcome.status,
        missed=False,
    )


@dataclass
class _Ticks:
    """Ticks in time order as (runs that fired or None, expected time); models are made only
    for the newest MAX_TICKS (`models`)."""

    items: list[tuple[_Fired | None, int | None]] = field(default_factory=list)
    missed: int = 0
    truncated: bool = False

    def missed_slots(self, slots: range) -> None:
        """Ticks due at `slots` that did not fire."""
        if not slots:
            return
        self.missed += len(slots)
        if len(slots) > MAX_TICKS:
            self.truncated = True
            slots = slots[-MAX_TICKS:]
        self.items.extend((None, e) for e in slots)

    def add(self, fired: _Fired, expected_ns: int | None) -> None:
        self.items.append((fired, expected_ns))

    def models(self) -> list[JobTick]:
        if len(self.items) > MAX_TICKS:
            self.truncated = True
        return [_tick(f, e) for f, e in self.items[-MAX_TICKS:]]


def _evaluate(job: _Job, interval_s: int, start_ns: int, due_ns: int) -> tuple[_Ticks, int]:
    """Ticks of an `every <n>s` job in [start_ns, due_ns), and the next expected tick time."""
    step = interval_s * NS
    tol = step // 2
    out = _Ticks()
    fired = _fired(job.runs, tol)
    prev = job.before_ns if job.before_ns is not None else (fired[0].at_ns if fired else None)
    if prev is None:
        return out, 0
    for f in fired:
        if f.at_ns - prev >= tol:  # not the anchor itself
            # Due ticks strictly before this one (more than the tolerance before it) did not fire.
            out.missed_slots(range(_align(prev + step, step, start_ns), f.at_ns - tol, step))
            slot = prev + max(1, round((f.at_ns - prev) / step)) * step
            out.add(f, slot if abs(f.at_ns - slot) <= tol else None)
        else:
            out.add(f, f.at_ns if f.at_ns == prev and job.before_ns is None else None)
        prev = f.at_ns
    first = prev + step
    # Due and past their tolerance by `due_ns`: missed; the first one not yet past is next.
    past = range(first, due_ns - tol + 1, step)
    out.missed_slots(range(_align(first, step, start_ns), past.stop, step))
    nxt = first + len(past) * step
    return out, nxt


def _cron(schedule: str) -> str | None:
    """The schedule as a five-field cron expression, or None when it is not one."""
    text = schedule.strip()
    if len(text.split()) != 5:
        return None
    try:
        CronSim(text, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError:
        return None
    return text


def _due_times(expr: str, after_ns: int) -> Iterator[int]:
    """Due times of `expr` strictly after `after_ns`, as UTC nanoseconds."""
    for due in CronSim(expr, datetime.fromtimestamp(after_ns / NS, tz=UTC)):
        yield int(due.timestamp()) * NS


def _evaluate_cron(job: _Job, expr: str, start_ns: int, due_ns: int) -> tuple[_Ticks, int | None, int]:
    """Ticks of a cron job in [start_ns, due_ns): (ticks, next due time, tolerance).

    Due times are listed from the job's first known tick on (the one before the range, else
    its first in the range), so a job is never blamed for ticks due before it existed.
    """
    sample = list(itertools.islice(_due_times(expr, max(start_ns, 1)), 9))
    tol = min(b - a for a, b in itertools.pairwise(sample)) // 2  # irregular crons: the shortest gap
    fired = _fired(job.runs, tol)
    anchor = job.before_ns if job.before_ns is not None else (fired[0].at_ns if fired else None)
    out = _Ticks()
    if anchor is None:
        return out, None, tol
    events: list[tuple[int, _Fired | None, int | None]] = []
    pending = deque(fired)  # oldest first; each matches at most one due time
    next_ns: int | None = None
    for count, due in enumerate(_due_times(expr, max(anchor, start_ns) - tol - 1)):
        if count >= MAX_DUE:
            out.truncated = True
            break
        while pending and pending[0].at_ns < due - tol:
            extra = pending.popleft()  # fired off schedule (or before the first due time)
            events.append((extra.at_ns, extra, None))
        if pending and abs(pending[0].at_ns - due) <= tol:
            hit = pending.popleft()
            events.append((hit.at_ns, hit, due))
        elif due + tol <= due_ns:
            if due >= start_ns:
                events.append((due, None, due))
                out.missed += 1
        else:
            next_ns = due
            break
    events.extend((f.at_ns, f, None) for f in pending)
    for _, f, expected in sorted(events, key=lambda e: e[0]):
        if f is None:
            out.items.append((None, expected))
        else:
            out.add(f, expected)
    return out, next_ns, tol


def _align(first: int, step: int, start_ns: int) -> int:
    """The first of `first + k*step` at or after `start_ns` (ticks before the range are not listed)."""
    if first >= start_ns:
        return first
    return first + -(-(start_ns - first) // step) * step


def _summary(job: _Job, start_ns: int, due_ns: int) -> JobSummary:
    interval = sc.schedule_interval(job.schedule)
    cron = _cron(job.schedule) if interval is None else None
    tolerance_s: int | None = None if interval is None else interval // 2
    if interval is not None:
        ticks, nxt = _evaluate(job, interval, start_ns, due_ns)
        next_ns: int | None = nxt or None
    elif cron is not None:
        ticks, next_ns, tol_ns = _evaluate_cron(job, cron, start_ns, due_ns)
        tolerance_s = tol_ns // NS
    else:
        ticks, next_ns = _Ticks(), None
        for f in _fired(job.runs, 0):
            ticks.add(f, None)
    models = ticks.models()
    return JobSummary(
        connector=job.connector,
        job_id=job.job_id,
        tenant=job.tenant,
        schedule=job.schedule,
        interval_s=interval,
        tolerance_s=tolerance_s,
        ticks=models,
        ticks_truncated=ticks.truncated,
        run_count=len(job.runs),
        missed_count=ticks.missed,
        last_run_at=iso(job.last_start_ns),
        last_run_at_ns=job.last_start_ns,
        last_status=job.last_status,
        next_expected_at=None if next_ns is None else iso(next_ns),
        next_expected_at_ns=next_ns,
    )


def list_jobs(client: Client, scope: Scope, filters: JobFilters) -> list[JobSummary]:
    """Jobs with a run in the range or in the `LOOKBACK_NS` before it, by connector and job id,
    each with its ticks in the range, oldest first (a job that stopped firing is listed with
    its missed ticks). Ticks are evaluated up to the range end or now, whichever is earlier."""
    now = now_ns()
    due = min(filters.time.end_ns, now) if filters.time.end_ns is not None else now
    jobs = _jobs(client, scope, filters, due)
    if jobs:
        _runs_in_range(client, scope, filters, jobs)
    return [_summary(job, filters.time.start_ns, due) for job in jobs.values()]


__all__ = ["LOOKBACK_NS", "MAX_TICKS", "JobFilters", "list_jobs"]
