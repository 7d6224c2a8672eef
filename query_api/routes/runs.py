"""Runs, their steps' pages and their entities."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from connlog.query_api import paths
from connlog.query_api.models import EntityRow, Page, PageRow, RunDetail, RunSummary
from connlog.query_api.queries.common import span_id
from connlog.query_api.queries.entities import list_entities
from connlog.query_api.queries.pages import list_pages
from connlog.query_api.queries.runs import RunFilters, get_run, list_runs
from connlog.query_api.routes.deps import (
    Caller,
    Db,
    EntityQuery,
    PageQuery,
    SpanIdPath,
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
    params: Annotated[PageQuery, Query()],
) -> Page[PageRow]:
    sid = span_id(step_id, "step_id")
    return list_pages(db, run_id, sid, caller.scope, cursor=params.cursor, limit=params.limit)


@router.get(paths.RUN_ENTITIES, response_model=Page[EntityRow], summary="Entities (records) of a run")
def entities(
    caller: Caller,
    db: Db,
    run_id: Annotated[str, Depends(run_id_param)],
    params: Annotated[EntityQuery, Query()],
) -> Page[EntityRow]:
    return list_entities(db, run_id, params.to_filters(), caller.scope)
