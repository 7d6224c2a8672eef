"""Dependencies shared by the routers: the caller, a pooled client, filters from parameters.

Filter dependencies turn query parameters into the query modules' filter objects, so the
list routes and the export routes accept exactly the same parameters.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Literal

from clickhouse_connect.driver.client import Client
from fastapi import Depends, Header, Path, Query, Request

from instrumentation import semconv as sc
from query_api.auth import AuthConfig, Principal
from query_api.config import ApiSettings
from query_api.db import ClientPool
from query_api.errors import ApiError, invalid
from query_api.queries.adhoc import SqlRunner
from query_api.queries.calls import CallFilters
from query_api.queries.common import DEFAULT_PAGE, MAX_PAGE, TimeRange, span_id, trace_id
from query_api.queries.faults import FaultFilters
from query_api.queries.logs import LogFilters
from query_api.queries.runs import RunFilters
from query_api.queries.severity import threshold
from query_api.queries.status_filter import StatusFilter
from query_api.timeutil import parse_instant


@dataclass
class AppState:
    """Everything the routes need, stored on `app.state.connlog`."""

    auth: AuthConfig
    pool: ClientPool
    sql: SqlRunner
    settings: ApiSettings


def state(request: Request) -> AppState:
    st: AppState = request.app.state.connlog
    return st


def principal(
    request: Request,
    authorization: Annotated[
        str | None, Header(description="Bearer <API key>", include_in_schema=False)
    ] = None,
) -> Principal:
    p = state(request).auth.authenticate(authorization)
    request.state.principal = p
    return p


def admin(p: Annotated[Principal, Depends(principal)]) -> Principal:
    if not p.is_admin:
        raise ApiError(403, "forbidden", "this route needs an admin key")
    return p


def client(request: Request) -> Iterator[Client]:
    with state(request).pool.client() as c:
        yield c


Caller = Annotated[Principal, Depends(principal)]
Db = Annotated[Client, Depends(client)]


def _instant(raw: str | None, field: str) -> int | None:
    if raw is None:
        return None
    try:
        return parse_instant(raw)
    except ValueError as exc:
        raise invalid(field, str(exc)) from exc


def time_range(
    request: Request,
    from_: Annotated[
        str | None,
        Query(alias="from", description="Start: ISO 8601 or epoch seconds/ms. Default: `to` - 24h."),
    ] = None,
    to: Annotated[str | None, Query(description="End (exclusive): ISO 8601 or epoch. Default: open.")] = None,
) -> TimeRange:
    start, end = _instant(from_, "from"), _instant(to, "to")
    return TimeRange.resolve(start, end, state(request).settings.default_window_ns)


Time = Annotated[TimeRange, Depends(time_range)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"Page size (max {MAX_PAGE}).")]
Cursor = Annotated[str | None, Query(max_length=2000, description="`next_cursor` of the previous page.")]
Text = Annotated[str | None, Query(max_length=500)]

StatusName = Literal["ok", "error", "running"]
Direction = Literal["outgoing", "incoming"]
CauseName = sc.FailureCause
ActionName = sc.EntityAction


def enum_value(value: StrEnum | None) -> str | None:
    """Enum parameters travel to queries as plain strings."""
    return None if value is None else str(value.value)


SyncTypeName = Annotated[str | None, Query(max_length=100, description="full, incremental, background...")]


RUN_ID_PATTERN = r"^[0-9a-fA-F]{32}$"
SPAN_ID_PATTERN = r"^[0-9a-fA-F]{16}$"
SpanIdPath = Annotated[str, Path(pattern=SPAN_ID_PATTERN, description="Span id: 16 hex characters.")]


def run_id_param(
    run_id: Annotated[str, Path(pattern=RUN_ID_PATTERN, description="Run (trace) id: 32 hex characters.")],
) -> str:
    return trace_id(run_id, "run_id")


def optional_trace(value: str | None, field: str) -> str | None:
    return None if value is None else trace_id(value, field)


def optional_span(value: str | None, field: str) -> str | None:
    return None if value is None else span_id(value, field)


def status_filter(value: str | None, field: str = "status") -> StatusFilter | None:
    return None if value is None else StatusFilter.parse(value, field)


def run_filters(
    time: Time,
    connector: Text = None,
    status: Annotated[StatusName | None, Query()] = None,
    sync_type: SyncTypeName = None,
    trigger: Text = None,
    job_id: Text = None,
    version: Text = None,
    tenant: Text = None,
    min_duration_ms: Annotated[float | None, Query(ge=0, le=1e12)] = None,
    has_failures: bool | None = None,
    failure_cause: Annotated[CauseName | None, Query()] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
) -> RunFilters:
    return RunFilters(
        time=time,
        connector=connector,
        status=status,
        sync_type=sync_type,
        trigger=trigger,
        job_id=job_id,
        version=version,
        tenant=tenant,
        min_duration_ms=min_duration_ms,
        has_failures=has_failures,
        failure_cause=enum_value(failure_cause),
        cursor=cursor,
        limit=limit,
    )


def call_filters(
    time: Time,
    direction: Annotated[Direction | None, Query()] = None,
    connector: Text = None,
    host: Text = None,
    method: Annotated[str | None, Query(max_length=16, pattern=r"^[A-Za-z]+$")] = None,
    status: Annotated[str | None, Query(max_length=20, description="404, 400-499, >=400, <300")] = None,
    failure_cause: Annotated[CauseName | None, Query()] = None,
    url_contains: Text = None,
    run: Annotated[str | None, Query(description="Run id (trace id).")] = None,
    step: Annotated[str | None, Query(description="Step span id: calls below that step.")] = None,
    entity: Annotated[str | None, Query(max_length=500, description="Entity external id.")] = None,
    min_duration_ms: Annotated[float | None, Query(ge=0, le=1e12)] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
) -> CallFilters:
    return CallFilters(
        time=time,
        direction=direction,
        connector=connector,
        host=host,
        method=method,
        status=status_filter(status),
        failure_cause=enum_value(failure_cause),
        url_contains=url_contains,
        run_id=optional_trace(run, "run"),
        step_id=optional_span(step, "step"),
        entity=entity,
        min_duration_ms=min_duration_ms,
        cursor=cursor,
        limit=limit,
    )


def fault_filters(
    time: Time,
    connector: Text = None,
    run: Annotated[str | None, Query(description="Run id (trace id).")] = None,
    cause: Annotated[CauseName | None, Query()] = None,
    host: Text = None,
    status: Annotated[str | None, Query(max_length=20, description="404, 400-499, >=400")] = None,
    type: Text = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
) -> FaultFilters:
    return FaultFilters(
        time=time,
        connector=connector,
        run_id=optional_trace(run, "run"),
        cause=enum_value(cause),
        host=host,
        status=status_filter(status),
        type=type,
        cursor=cursor,
        limit=limit,
    )


def log_filters(
    time: Time,
    severity: Annotated[
        str | None,
        Query(max_length=20, description="This and worse: syslog 0-7 (3 = err) or a name (error, warn...)."),
    ] = None,
    severity_number: Annotated[int | None, Query(description="This and worse: OpenTelemetry 1-24.")] = None,
    connector: Text = None,
    run: Annotated[str | None, Query(description="Run id (trace id).")] = None,
    text: Text = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
) -> LogFilters:
    return LogFilters(
        time=time,
        min_severity=threshold(severity, severity_number),
        connector=connector,
        run_id=optional_trace(run, "run"),
        text=text,
        cursor=cursor,
        limit=limit,
    )
