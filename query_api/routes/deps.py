"""Dependencies shared by the routers: the caller, a pooled client, filters from parameters.

The filter dependencies (`run_filters`, `call_filters`, `fault_filters`, `log_filters`) read
the query models of `query_api.filters` and return the query modules' filter objects, so
the list routes, the export routes and the viewer accept exactly the same parameters,
declared once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from clickhouse_connect.driver.client import Client
from fastapi import Depends, Header, Path, Query, Request
from pydantic import BaseModel, ConfigDict

from connlog.query_api.auth import AuthConfig, Principal
from connlog.query_api.config import ApiSettings
from connlog.query_api.db import ClientPool
from connlog.query_api.errors import ApiError
from connlog.query_api.filters import (
    CallFilterParams,
    EntityFilterParams,
    FaultFilterParams,
    LogFilterParams,
    PageParams,
    RunFilterParams,
    SearchParams,
)
from connlog.query_api.queries.adhoc import SqlRunner
from connlog.query_api.queries.calls import CallFilters
from connlog.query_api.queries.common import trace_id
from connlog.query_api.queries.faults import FaultFilters
from connlog.query_api.queries.logs import LogFilters
from connlog.query_api.queries.runs import RunFilters


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


class _RouteModel(BaseModel):
    """What a route changes in a filter model: extra="ignore".

    `app.reject_unknown_params` refuses unknown and repeated names for the whole route at
    once (the model's fields and the route's own parameters, such as the exports' `rows`),
    which a model forbidding extras cannot do without also refusing those route parameters.
    A route model lists its filter model first and this one last: Pydantic merges the
    bases' configs in that order, so `extra` comes from here and every other setting, field
    and check stays that of `filters`.
    """

    model_config = ConfigDict(extra="ignore")


class RunQuery(RunFilterParams, _RouteModel):
    """`RunFilterParams` on the runs list and the runs export."""


class CallQuery(CallFilterParams, _RouteModel):
    """`CallFilterParams` on the calls list and the calls export."""


class FaultQuery(FaultFilterParams, _RouteModel):
    """`FaultFilterParams` on the faults list."""


class LogQuery(LogFilterParams, _RouteModel):
    """`LogFilterParams` on the logs list and the logs export."""


class EntityQuery(EntityFilterParams, _RouteModel):
    """`EntityFilterParams` on a run's entities."""


class PageQuery(PageParams, _RouteModel):
    """`PageParams` on a run's pages."""


class SearchQuery(SearchParams, _RouteModel):
    """`SearchParams` on the search route."""


def window(request: Request) -> int:
    """The default time window of lists without `from`, from the API settings."""
    return state(request).settings.default_window_ns


def run_filters(request: Request, params: Annotated[RunQuery, Query()]) -> RunFilters:
    return params.to_filters(window(request))


def call_filters(request: Request, params: Annotated[CallQuery, Query()]) -> CallFilters:
    return params.to_filters(window(request))


def fault_filters(request: Request, params: Annotated[FaultQuery, Query()]) -> FaultFilters:
    return params.to_filters(window(request))


def log_filters(request: Request, params: Annotated[LogQuery, Query()]) -> LogFilters:
    return params.to_filters(window(request))


RUN_ID_PATTERN = r"^[0-9a-fA-F]{32}$"
SPAN_ID_PATTERN = r"^[0-9a-fA-F]{16}$"
SpanIdPath = Annotated[str, Path(pattern=SPAN_ID_PATTERN, description="Span id: 16 hex characters.")]
TraceIdPath = Annotated[str, Path(pattern=RUN_ID_PATTERN, description="Run (trace) id: 32 hex characters.")]


def run_id_param(run_id: TraceIdPath) -> str:
    return trace_id(run_id, "run_id")
