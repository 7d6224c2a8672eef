"""HTTP calls: the list across connectors and one call with its payload."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from connlog.query_api import paths
from connlog.query_api.models import CallDetail, CallRow, Page
from connlog.query_api.queries.calls import CallFilters, get_call, list_calls
from connlog.query_api.queries.common import span_id, trace_id
from connlog.query_api.routes.deps import Caller, Db, SpanIdPath, call_filters

router = APIRouter(tags=["calls"])


@router.get(paths.CALLS, response_model=Page[CallRow], summary="HTTP calls, newest first")
def calls(caller: Caller, db: Db, filters: Annotated[CallFilters, Depends(call_filters)]) -> Page[CallRow]:
    return list_calls(db, filters, caller.scope)


@router.get(paths.CALL, response_model=CallDetail, summary="One call: request and response")
def call(
    caller: Caller,
    db: Db,
    call_id: SpanIdPath,
    run: Annotated[
        str | None, Query(max_length=64, description="Run id, if known: makes the look-up a key read.")
    ] = None,
) -> CallDetail:
    """Headers and bodies are returned to admin keys only (`payload_visible`)."""
    run_id = None if run is None else trace_id(run, "run")
    return get_call(db, span_id(call_id, "call_id"), caller.scope, run_id=run_id)
