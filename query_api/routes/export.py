"""`/export/{runs|calls|logs}.{csv|pdf}`: the list routes' filters, cut at the operator's row cap.

Every export, of every format and for every role, holds at most `ApiSettings.export_max_rows`
rows (`CONNLOG_EXPORT_MAX_ROWS`, default 1000); `rows` asks for fewer and above the cap is a
422 naming it. The response says how many rows it holds, the cap, and whether more rows
matched (`X-Connlog-Export-*` headers; the PDF also says so under its title).

The endpoint is async and does its blocking work (each list page, the rendering) in worker
threads, so the event loop keeps serving. A `Stop` bounds the work: the client going away
(watched while each page is read and while rendering), the request being cancelled (server shutdown)
and the time budget (`export_timeout_s`, then a 503) each stop it within a page. The file is
built before the response starts, so every error, including a bad cursor, is an error
response rather than a truncated file; the row cap bounds what that costs.
"""

# No `from __future__ import annotations` here: the endpoints are built in a closure and
# FastAPI must see the real `Depends(dep)` objects, not strings naming closure variables.

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from connlog.query_api import paths
from connlog.query_api.auth import Principal
from connlog.query_api.config import ENV_EXPORT_MAX_ROWS, ApiSettings
from connlog.query_api.errors import ApiError, invalid
from connlog.query_api.export import ExportRows, ExportStopped, Stop, csv_bytes, pdf_bytes
from connlog.query_api.queries.calls import CallFilters, list_calls
from connlog.query_api.queries.common import MAX_PAGE
from connlog.query_api.queries.logs import LogFilters, list_logs
from connlog.query_api.queries.runs import RunFilters, list_runs
from connlog.query_api.routes.deps import AppState, Caller, call_filters, log_filters, run_filters, state

router = APIRouter(tags=["export"])

MEDIA = {"csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}

# How many exports stopped early, by reason ("cancelled", "timeout"): visible to tests and
# to an operator inspecting the process.
STOPPED: Counter[str] = Counter()

T = TypeVar("T")


async def _in_thread(request: Request, stop: Stop, fn: Callable[[], T]) -> T:
    """`fn()` in a worker thread, stopped (via `stop`) if the client leaves or we are cancelled.

    `abandon_on_cancel` lets a cancelled request (shutdown) return at once; the `finally`
    then sets the stop event, so the abandoned thread ends within a page instead of running on.
    """
    outcome: list[T] = []
    failure: list[Exception] = []

    async def work(tg: anyio.abc.TaskGroup) -> None:
        try:
            outcome.append(await anyio.to_thread.run_sync(fn, abandon_on_cancel=True))
        except Exception as exc:  # noqa: BLE001 - re-raised below, not wrapped in an exception group
            failure.append(exc)
        tg.cancel_scope.cancel()

    async def watch() -> None:
        # A blocking receive, not `request.is_disconnected()`: that polls with a cancelled
        # scope, and behind a BaseHTTPMiddleware the disconnect message is lost that way.
        while (await request.receive())["type"] != "http.disconnect":
            pass
        stop.event.set()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(work, tg)
            tg.start_soon(watch)
    finally:
        if not outcome:
            stop.event.set()
    if failure:
        raise failure[0]
    return outcome[0]


async def _collect(
    request: Request,
    st: AppState,
    caller: Principal,
    kind: str,
    lister: Callable[..., Any],
    filters: Any,
    cap: int,
    stop: Stop,
) -> ExportRows:
    """The rows up to `cap`, in list pages of up to MAX_PAGE, and whether more matched."""
    rows: list[BaseModel] = []
    f = replace(filters, limit=min(MAX_PAGE, cap))

    def page(flt: Any) -> Any:
        with st.pool.client() as db:
            return lister(db, flt, caller.scope)

    while True:
        current = await _in_thread(request, stop, partial(page, f))
        stop.check()
        rows.extend(current.items[: cap - len(rows)])
        more = current.next_cursor is not None or len(current.items) > cap - len(rows)
        if len(rows) >= cap or current.next_cursor is None:
            return ExportRows(kind, rows, cap, truncated=more and len(rows) >= cap)
        f = replace(f, cursor=current.next_cursor, limit=min(MAX_PAGE, cap - len(rows)))


def _cap(settings: ApiSettings, rows: int | None) -> int:
    if rows is None:
        return settings.export_rows_default
    if not 1 <= rows <= settings.export_max_rows:
        raise invalid(
            "rows",
            f"must be between 1 and {settings.export_max_rows} (the export row cap, {ENV_EXPORT_MAX_ROWS})",
        )
    return rows


Rows = Annotated[
    int | None,
    Query(description="Rows to export (default 1000), at most the operator's cap (CONNLOG_EXPORT_MAX_ROWS)."),
]


async def _respond(
    request: Request,
    caller: Principal,
    kind: str,
    fmt: str,
    lister: Callable[..., Any],
    filters: Any,
    rows: int | None,
) -> Response:
    st = state(request)
    cap = _cap(st.settings, rows)
    stop = Stop.after(st.settings.export_timeout_s)
    try:
        export = await _collect(request, st, caller, kind, lister, filters, cap, stop)
        render: Callable[[], bytes] = (
            partial(csv_bytes, export, stop)
            if fmt == "csv"
            else partial(pdf_bytes, export, f"connlog {kind}", stop)
        )
        body = await _in_thread(request, stop, render)
    except ExportStopped as exc:
        STOPPED[exc.reason] += 1
        if exc.reason == "cancelled":
            return Response(status_code=499)  # the client is gone; this is never read
        raise ApiError(
            503,
            "export_timeout",
            f"the export took longer than {st.settings.export_timeout_s:g} s; narrow the filters or lower rows",
        ) from exc
    headers = {"Content-Disposition": f'attachment; filename="connlog-{kind}.{fmt}"', **export.headers()}
    return Response(body, media_type=MEDIA[fmt], headers=headers)


def _register(kind: str, fmt: str, dep: Callable[..., Any], lister: Callable[..., Any]) -> None:
    async def endpoint(
        request: Request, caller: Caller, filters: Annotated[Any, Depends(dep)], rows: Rows = None
    ) -> Response:
        return await _respond(request, caller, kind, fmt, lister, filters, rows)

    endpoint.__name__ = f"export_{kind}_{fmt}"
    router.add_api_route(
        paths.EXPORT.format(kind=kind, fmt=fmt),
        endpoint,
        methods=["GET"],
        summary=f"Export {kind} as {fmt.upper()} (at most the export row cap)",
        response_class=Response,
        responses={200: {"content": {MEDIA[fmt].split(";")[0]: {}}}},
    )


for _fmt in ("csv", "pdf"):
    _register("runs", _fmt, run_filters, list_runs)
    _register("calls", _fmt, call_filters, list_calls)
    _register("logs", _fmt, log_filters, list_logs)

__all__ = ["STOPPED", "CallFilters", "LogFilters", "RunFilters", "router"]
