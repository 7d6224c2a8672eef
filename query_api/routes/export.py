"""`/export/{runs|calls|logs}.{csv|pdf}`: the list routes' filters, a row cap, streamed."""

# No `from __future__ import annotations` here: the endpoints are built in a closure and
# FastAPI must see the real `Depends(dep)` objects, not strings naming closure variables.

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from query_api import paths
from query_api.auth import Principal
from query_api.errors import invalid
from query_api.export import chunks, csv_stream, pdf_bytes
from query_api.queries.calls import CallFilters, list_calls
from query_api.queries.common import MAX_PAGE
from query_api.queries.logs import LogFilters, list_logs
from query_api.queries.runs import RunFilters, list_runs
from query_api.routes.deps import AppState, Caller, call_filters, log_filters, run_filters, state

router = APIRouter(tags=["export"])

MEDIA = {"csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}


def _rows(
    st: AppState, caller: Principal, lister: Callable[..., Any], filters: Any, cap: int
) -> Iterator[BaseModel]:
    """Every row up to `cap`, in list pages of up to MAX_PAGE.

    The first page is read before the response starts, so a bad cursor or a failing query
    is still an error response rather than a truncated file; later pages stream.
    """
    f = replace(filters, limit=min(MAX_PAGE, cap))
    with st.pool.client() as db:
        first = lister(db, f, caller.scope)

    def stream() -> Iterator[BaseModel]:
        nonlocal f
        page, sent = first, 0
        while True:
            for item in page.items[: cap - sent]:
                yield item
                sent += 1
            if page.next_cursor is None or sent >= cap:
                return
            f = replace(f, cursor=page.next_cursor, limit=min(MAX_PAGE, cap - sent))
            with st.pool.client() as db:
                page = lister(db, f, caller.scope)

    return stream()


def _cap(request: Request, rows: int | None) -> int:
    settings = state(request).settings
    if rows is None:
        return settings.export_default_rows
    if not 1 <= rows <= settings.export_max_rows:
        raise invalid("rows", f"must be between 1 and {settings.export_max_rows}")
    return rows


Rows = Annotated[int | None, Query(description="Row cap (default 1000).")]


def _respond(
    request: Request,
    caller: Principal,
    kind: str,
    fmt: str,
    lister: Callable[..., Any],
    filters: Any,
    rows: int | None,
) -> StreamingResponse:
    st = state(request)
    cap = _cap(request, rows)
    items = _rows(st, caller, lister, filters, cap)
    filename = f"connlog-{kind}.{fmt}"
    body: Iterator[bytes]
    if fmt == "csv":
        body = csv_stream(kind, items)
    else:
        body = chunks(pdf_bytes(kind, f"connlog {kind}", items))
    return StreamingResponse(
        body, media_type=MEDIA[fmt], headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


def _register(kind: str, fmt: str, dep: Callable[..., Any], lister: Callable[..., Any]) -> None:
    def endpoint(
        request: Request, caller: Caller, filters: Annotated[Any, Depends(dep)], rows: Rows = None
    ) -> StreamingResponse:
        return _respond(request, caller, kind, fmt, lister, filters, rows)

    endpoint.__name__ = f"export_{kind}_{fmt}"
    router.add_api_route(
        paths.EXPORT.format(kind=kind, fmt=fmt),
        endpoint,
        methods=["GET"],
        summary=f"Export {kind} as {fmt.upper()}",
        response_class=StreamingResponse,
        responses={200: {"content": {MEDIA[fmt].split(";")[0]: {}}}},
    )


for _fmt in ("csv", "pdf"):
    _register("runs", _fmt, run_filters, list_runs)
    _register("calls", _fmt, call_filters, list_calls)
    _register("logs", _fmt, log_filters, list_logs)

__all__ = ["CallFilters", "LogFilters", "RunFilters", "router"]
