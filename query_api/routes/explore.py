"""Traces (waterfall), search, root faults and logs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from connlog.query_api import paths
from connlog.query_api.models import FaultPage, LogRow, Page, Trace
from connlog.query_api.queries.common import trace_id as _trace_id
from connlog.query_api.queries.faults import FaultFilters, list_faults
from connlog.query_api.queries.logs import LogFilters, list_logs
from connlog.query_api.queries.search import search_in_run, search_runs
from connlog.query_api.queries.traces import get_trace
from connlog.query_api.routes.deps import (
    Caller,
    Db,
    SearchQuery,
    TraceIdPath,
    fault_filters,
    log_filters,
    window,
)
from connlog.query_api.timeline_models import TimelineResult

router = APIRouter()


@router.get(paths.TRACE, response_model=Trace, tags=["traces"], summary="Waterfall of a trace")
def trace(
    caller: Caller,
    db: Db,
    trace_id: TraceIdPath,
) -> Trace:
    return get_trace(db, _trace_id(trace_id, "trace_id"), caller.scope)


@router.get(
    paths.SEARCH, response_model=TimelineResult, tags=["search"], summary="Find runs or spans by value"
)
def search(
    request: Request, caller: Caller, db: Db, params: Annotated[SearchQuery, Query()]
) -> TimelineResult:
    """Without `scope`: runs in the time range (default 24h; pass `from` for more) mentioning `q`;
    for a record id also its timeline (`timeline`: each run's action, reason and cause for it).
    With `scope=<run_id>`: the steps, pages, entities and calls of that run that match."""
    if params.scope is not None:
        return search_in_run(db, params.q, params.scope, caller.scope)
    return search_runs(db, params.q, params.time_range(window(request)), caller.scope)


@router.get(paths.FAULTS, response_model=FaultPage, tags=["faults"], summary="Root faults across runs")
def faults(caller: Caller, db: Db, filters: Annotated[FaultFilters, Depends(fault_filters)]) -> FaultPage:
    """Response headers of the failed call are included for admin keys only."""
    return list_faults(db, filters, caller.scope)


@router.get(paths.LOGS, response_model=Page[LogRow], tags=["logs"], summary="Log records, newest first")
def logs(caller: Caller, db: Db, filters: Annotated[LogFilters, Depends(log_filters)]) -> Page[LogRow]:
    return list_logs(db, filters, caller.scope)
