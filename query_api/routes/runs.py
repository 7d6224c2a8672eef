"""Runs, their steps' pages and their entities."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from query_api import paths
from query_api.models import EntityRow, Page, PageRow, RunDetail, RunSummary
from query_api.queries.common import DEFAULT_PAGE, span_id
from query_api.queries.entities import EntityFilters, list_entities
from query_api.queries.pages import list_pages
from query_api.queries.runs import RunFilters, get_run, list_runs
from query_api.routes.deps import (
    ActionName,
    Caller,
    Cursor,
    Db,
    Limit,
    SpanIdPath,
    Text,
    enum_value,
    run_filters,
    run_id_param,
)

router = APIRouter(tags=["runs"])


@router.get(paths.RUNS, response_model=Page[RunSummary], summary="Runs, newest first")
def runs(caller: Caller, db: Db, filters: Annotated[RunFilters, Depends(run_filters)]) -> Page[RunSummary]:
    """Runs started in the time range (default: the last 24 hours), running ones included."""
    return list_runs(db, filters, caller.scope)


@router.get(paths.RUN, response_model=RunDetail, summary="One run: steps and root faults")
def run(caller: Caller, db: Db, run_id: Annotated[str, Depends(run_id_param)]) -> RunDetail:
    return get_run(db, run_id, caller.scope)


@router.get(paths.RUN_PAGES, response_model=Page[PageRow], summary="Pages of a step")
def pages(
    caller: Caller,
    db: Db,
    run_id: Annotated[str, Depends(run_id_param)],
    step_id: SpanIdPath,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
) -> Page[PageRow]:
    return list_pages(db, run_id, span_id(step_id, "step_id"), caller.scope, cursor=cursor, limit=limit)


@router.get(paths.RUN_ENTITIES, response_model=Page[EntityRow], summary="Entities (records) of a run")
def entities(
    caller: Caller,
    db: Db,
    run_id: Annotated[str, Depends(run_id_param)],
    step: Annotated[str | None, Query(max_length=200, description="Step span id or step name.")] = None,
    action: Annotated[ActionName | None, Query()] = None,
    external_id: Text = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
) -> Page[EntityRow]:
    f = EntityFilters(
        step=step, action=enum_value(action), external_id=external_id, cursor=cursor, limit=limit
    )
    return list_entities(db, run_id, f, caller.scope)
