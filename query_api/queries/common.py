"""Pieces every query needs: time windows, a run's time bounds, counters, id checks.

Drill-downs into one run first read `otel_traces_trace_id_ts` (sorted by TraceId: a
primary-key look-up) for the run's connector and time range, so the following read of
`otel_traces` prunes by (ServiceName, Role, hour) to a few granules instead of scanning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.client import Client

from connlog.collector.schema import names as n
from connlog.instrumentation import semconv as sc
from connlog.query_api.db import fetch
from connlog.query_api.errors import invalid, not_found
from connlog.query_api.models import Counters, StepRow
from connlog.query_api.scope import Scope
from connlog.query_api.sqlbuild import Conditions, Params, ts_param
from connlog.query_api.timeutil import NS, iso, ms, now_ns

DEFAULT_WINDOW_NS = 24 * 3600 * NS  # lists without `from` look at the last 24 hours
MAX_PAGE = 500
DEFAULT_PAGE = 50

_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")


def trace_id(value: str, field: str = "run_id") -> str:
    v = value.strip().lower()
    if not _HEX32.match(v):
        raise invalid(field, "must be a trace id: 32 hexadecimal characters")
    return v


def span_id(value: str, field: str = "span_id") -> str:
    v = value.strip().lower()
    if not _HEX16.match(v):
        raise invalid(field, "must be a span id: 16 hexadecimal characters")
    return v


def is_trace_id(value: str) -> bool:
    return bool(_HEX32.match(value.strip().lower()))


@dataclass(frozen=True)
class TimeRange:
    """[start, end) in nanoseconds; end None means open-ended (include future clock skew)."""

    start_ns: int
    end_ns: int | None = None

    @classmethod
    def resolve(
        cls, start_ns: int | None, end_ns: int | None, default_window_ns: int = DEFAULT_WINDOW_NS
    ) -> TimeRange:
        """Fill a missing start with `end - window` (end defaults to now); reject inverted ranges."""
        if start_ns is not None and end_ns is not None and start_ns >= end_ns:
            raise invalid("from", "must be earlier than `to`")
        if start_ns is None:
            start_ns = max((end_ns if end_ns is not None else now_ns()) - default_window_ns, 0)
        return cls(start_ns, end_ns)

    def apply(self, where: Conditions, column: str = n.C_TIMESTAMP) -> None:
        where.add(f"{column} >= {ts_param(where.params, self.start_ns)}")
        if self.end_ns is not None:
            where.add(f"{column} < {ts_param(where.params, self.end_ns)}")


# `newest_first`: the newest window read first (a day holds a full page of runs at any
# realistic rate: 1M spans a month is ~900 runs a day).
FIRST_SLICE_NS = 24 * 3600 * NS


def newest_first(time: TimeRange, first_ns: int = FIRST_SLICE_NS) -> list[TimeRange]:
    """`time` as its newest `first_ns`, then the rest (one window if it is not longer).

    A list shown newest first with a LIMIT needs only its newest rows, but a query that
    groups (a run's two rows) or filters on a value must read the whole range before it can
    sort. Asking the newest day first reads a day of a month when the page fills there (the
    usual case); when it does not (a rare filter), the rest is one more query. Two windows,
    not a growing series: each query has a fixed cost (parse, plan, part and mark analysis:
    5-10 ms quiet, far more on a busy machine) that several small windows would pay again.
    An open end stays open in the first window (clock skew).
    """
    anchor = time.end_ns if time.end_ns is not None else now_ns()
    cut = anchor - first_ns
    if cut <= time.start_ns:
        return [time]
    return [TimeRange(cut, time.end_ns), TimeRange(time.start_ns, cut)]


@dataclass(frozen=True)
class TraceBounds:
    trace_id: str
    services: tuple[str, ...]  # the connectors (services) of the trace the caller may see
    start_ns: int
    end_ns: int

    def apply(self, where: Conditions) -> None:
        """Restrict `otel_traces` rows to this trace using its sort key and time range."""
        where.in_(n.C_SERVICE_NAME, self.services)
        where.add(f"{n.C_TIMESTAMP} >= {ts_param(where.params, self.start_ns)}")
        where.add(f"{n.C_TIMESTAMP} < {ts_param(where.params, self.end_ns)}")
        where.eq(n.C_TRACE_ID, self.trace_id)


def trace_bounds(client: Client, tid: str, scope: Scope) -> TraceBounds | None:
    """The connector and time range of a trace, or None if unknown or outside the caller's scope."""
    params = Params()
    rows = fetch(
        client,
        f"SELECT groupUniqArray({n.C_SERVICE_NAME}), toUnixTimestamp(min({n.C_START})),"
        f" toUnixTimestamp(max({n.C_END})),"
        f" count() FROM {n.TRACE_ID_TS} WHERE {n.C_TRACE_ID} = {params.bind(tid, 'String')}",
        params.values,
        label="trace_bounds",
    )
    if not rows or not rows[0][3]:
        return None
    services, start_s, end_s, _ = rows[0]
    visible = tuple(sorted(str(s) for s in services if scope.allows(str(s))))
    if not visible:
        return None
    # End is already max(start)+1s; one more second covers sub-second rounding of Start.
    return TraceBounds(tid, visible, (int(start_s) - 1) * NS, (int(end_s) + 1) * NS)


def step_row(
    sid: str,
    name: str,
    ts: Any,
    dur: Any,
    status: str,
    message: str,
    counters: Any,
    rate_limited: Any,
    errors: Any,
    cause: str,
) -> StepRow:
    """A `StepRow` from a step span's selected columns (the run detail and the step screen)."""
    return StepRow(
        step_id=sid,
        name=name,
        start=iso(ts),
        start_ns=int(ts),
        duration_ms=ms(dur) or 0.0,
        status=status,
        status_message=message,
        counters=Counters(**counters_of(counters)),
        rate_limited=bool(rate_limited),
        error_count=int(errors),
        failure_cause=cause,
    )  # fmt: skip


@dataclass(frozen=True)
class InlineBounds(TraceBounds):
    """The bounds of `within_trace_inline`, for reads in the same query as them.

    `apply` narrows by `b`, the `WITH (...) AS b` scalar subquery of `within_trace_inline`
    (`b.1` the trace's connectors, `b.2`/`b.3` its start/end in seconds), and by the caller's
    scope, instead of by values read in an earlier round trip. ClickHouse evaluates the scalar
    before index analysis (also inside subqueries), so the reads still prune by (ServiceName,
    Timestamp) and the TraceId bloom filter. The inherited `services`/`start_ns`/`end_ns` are
    unknown before the query runs and stay empty.
    """

    scope: Scope

    @classmethod
    def of(cls, run_id: str, scope: Scope) -> InlineBounds:
        return cls(run_id, (), 0, 0, scope)

    def apply(self, where: Conditions) -> None:
        where.add(f"{n.C_SERVICE_NAME} IN b.1")
        self.scope.apply(where)
        where.add(f"{n.C_TIMESTAMP} >= toDateTime64(b.2 - 1, 9, 'UTC')")
        where.add(f"{n.C_TIMESTAMP} < toDateTime64(b.3 + 1, 9, 'UTC')")
        where.eq(n.C_TRACE_ID, self.trace_id)

    def with_clause(self, params: Params) -> str:
        """`WITH (...) AS b`: the trace's connectors and time range from `otel_traces_trace_id_ts`
        (a primary-key look-up). Same bounds as `trace_bounds`: End is already max(start)+1s;
        one more second on each side covers sub-second rounding of Start."""
        tid = params.bind(self.trace_id, "String")
        return (
            f"WITH (SELECT (groupUniqArray({n.C_SERVICE_NAME}), toUnixTimestamp(min({n.C_START})),"
            f" toUnixTimestamp(max({n.C_END}))) FROM {n.TRACE_ID_TS} WHERE {n.C_TRACE_ID} = {tid}) AS b\n"
        )


def within_trace_inline(run_id: str, scope: Scope) -> tuple[str, Conditions]:
    """`within_trace` in the same round trip: a `WITH (...) AS b` clause reading the trace's
    bounds from `otel_traces_trace_id_ts` as a scalar subquery, and a WHERE narrowed to them
    (`InlineBounds`); an unknown or out-of-scope trace simply matches no row."""
    params = Params()
    bounds = InlineBounds.of(run_id, scope)
    with_bounds = bounds.with_clause(params)
    where = Conditions(params)
    bounds.apply(where)
    return with_bounds, where


def within_trace(client: Client, tid: str, scope: Scope, what: str = "run") -> tuple[TraceBounds, Conditions]:
    """The trace's bounds and a WHERE already narrowed to them; 404 when unknown or out of scope.

    Every drill-down starts here, so each reads only its trace's granules.
    """
    bounds = trace_bounds(client, tid, scope)
    if bounds is None:
        raise not_found(f"{what} {tid}")
    where = Conditions(Params())
    bounds.apply(where)
    return bounds, where


def counter_exprs(prefix_agg: str = "", cond: str = "") -> str:
    """SELECT expressions for the seven counters, e.g. `anyIf(toUInt64OrZero(...), cond)`."""
    parts = []
    for c in sc.Counter:
        expr = f"toUInt64OrZero({n.C_SPAN_ATTRIBUTES}['{sc.count_key(c)}'])"
        parts.append(f"{prefix_agg}If({expr}, {cond})" if prefix_agg else expr)
    return ", ".join(parts)


COUNTER_NAMES = tuple(c.value for c in sc.Counter)


def counters_of(values: tuple[Any, ...] | list[Any]) -> dict[str, int]:
    return {name: int(v or 0) for name, v in zip(COUNTER_NAMES, values, strict=True)}


def attr(key: str) -> str:
    """`SpanAttributes['key']` for a semconv key (keys are constants, never user input)."""
    return f"{n.C_SPAN_ATTRIBUTES}['{key}']"
