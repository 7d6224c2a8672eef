"""The runs list and the drill-down: run -> step -> page -> entity -> call.

Each page calls the query functions the JSON routes call, with the signed-in caller's scope.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Final
from urllib.parse import quote

from clickhouse_connect.driver.client import Client
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from connlog.instrumentation import semconv as sc
from connlog.query_api.auth import Principal
from connlog.query_api.errors import ApiError
from connlog.query_api.models import CallRow, EntityRow, Page
from connlog.query_api.queries.calls import get_call, list_calls, page_of, run_calls_and_tree
from connlog.query_api.queries.common import MAX_PAGE, TimeRange, span_id, trace_id
from connlog.query_api.queries.entities import EntityFilters, list_entities
from connlog.query_api.queries.pages import list_pages
from connlog.query_api.queries.runs import RunFilters, get_run, get_run_and_step, list_runs
from connlog.query_api.viewer import params as vp
from connlog.query_api.viewer.access import db as db_client
from connlog.query_api.viewer.access import guarded, state, who
from connlog.query_api.viewer.render import body_view, page, url_with
from connlog.query_api.viewer.urls import CALL, CALLS, ENTITY, HOME, PAGE, RUN, RUNS_FRAGMENT, STEP

router = APIRouter(include_in_schema=False)
ENTITY_SCAN_CAP: Final = 2000  # entities of a step read to find those of one page


def in_parallel(request: Request, *reads: Callable[[Client], Any]) -> list[Any]:
    """Independent reads of one page side by side, each on its own pooled client.

    A page that needs the run (or step) header and a list waits for the slower of the two
    instead of their sum; an ApiError from either is raised as usual.
    """

    def one(read: Callable[[Client], Any]) -> Any:
        with db_client(request) as db:
            return read(db)

    with ThreadPoolExecutor(max_workers=len(reads)) as pool:
        return [f.result() for f in [pool.submit(one, r) for r in reads]]


def query_of(request: Request) -> dict[str, str]:
    return dict(request.query_params)


def _runs_context(request: Request, principal: Principal) -> dict[str, Any]:
    q = query_of(request)
    filters = vp.run_filters(q)
    with db_client(request) as db:
        result = list_runs(db, filters, principal.scope)
    return {
        "runs": result.items,
        "next_cursor": result.next_cursor,
        "filters": q,
        "any_running": any(r.status == sc.RunStatus.RUNNING.value for r in result.items),
        "export_rows": state(request).settings.export_rows_default,
        "presets": list(vp.PRESETS),
    }


@router.get(HOME, response_class=HTMLResponse)
def runs_page(request: Request) -> Response:
    return guarded(request, lambda p: page(request, "runs.html", **_runs_context(request, p)))


@router.get(RUNS_FRAGMENT, response_class=HTMLResponse)
def runs_fragment(request: Request) -> Response:
    """The rows of the runs list alone: what the page polls to update running runs."""
    if who(request) is None:
        return HTMLResponse("", status_code=401)
    return guarded(request, lambda p: page(request, "_runs_rows.html", **_runs_context(request, p)))


def _run_calls(db: Client, principal: Principal, run_id: str, below: str | None = None) -> list[CallRow]:
    """Calls of a run (or below one span of it), first MAX_PAGE, oldest first."""
    filters = vp.call_filters({"run": run_id, "step": below or "", "limit": str(MAX_PAGE)})
    # A run's calls are within its bounds: the list window must not hide an old run's calls.
    filters = replace(filters, time=TimeRange(0, None))
    items = list_calls(db, filters, principal.scope).items
    return sorted(items, key=lambda c: (c.start_ns, c.call_id))


def direct_calls(
    db: Client,
    principal: Principal,
    q: dict[str, str],
    rid: str,
    parents: set[str],
    run_calls: list[CallRow] | None = None,
) -> Page[CallRow]:
    """One page of the calls made directly under `parents` (the run's span and its steps, or a
    step), as `list_calls`'s parent filter pages them: every direct call is reachable.

    `run_calls`, when it holds every call of the run (fewer than a full list), gives the first
    page without another read: the same rows and cursor as the query would give."""
    filters = vp.direct_call_filters(q, rid, sorted(parents))
    if not parents:
        return Page[CallRow](items=[], next_cursor=None, limit=filters.limit)
    if run_calls is not None and len(run_calls) < MAX_PAGE and filters.cursor is None:
        mine = [c for c in run_calls if c.parent_id in parents]
        return page_of(sorted(mine, key=lambda c: (c.start_ns, c.call_id), reverse=True), filters.limit)
    return list_calls(db, filters, principal.scope)


def direct_links(request: Request, direct: Page[CallRow]) -> dict[str, str]:
    """The direct-calls table's pager: older (its `next_cursor`) and back to the newest."""
    anchor = "#direct-calls"
    links: dict[str, str] = {}
    older: dict[str, Any] = {vp.CALLS_CURSOR: direct.next_cursor}
    newest: dict[str, Any] = {vp.CALLS_CURSOR: None}
    if direct.next_cursor:
        links["older"] = url_with(request, None, (), **older) + anchor
    if request.query_params.get(vp.CALLS_CURSOR):
        links["newest"] = url_with(request, None, (), **newest) + anchor
    return links


@router.get(RUN, response_class=HTMLResponse)
def run_page(request: Request, run_id: str) -> Response:
    def render(principal: Principal) -> Response:
        rid = trace_id(run_id, "run_id")
        q = query_of(request)
        detail, (newest, tree) = in_parallel(
            request,
            lambda db: get_run(db, rid, principal.scope),
            lambda db: run_calls_and_tree(db, rid, principal.scope, MAX_PAGE),
        )
        calls = sorted(newest.items, key=lambda c: (c.start_ns, c.call_id))
        parents = tree.run_span_ids | {s.step_id for s in detail.steps}
        with db_client(request) as db:
            direct = direct_calls(db, principal, q, rid, parents, calls)
        return page(
            request,
            "run.html",
            detail=detail,
            run=detail.run,
            steps=detail.steps,
            calls=calls,
            direct=direct.items,
            direct_links=direct_links(request, direct),
            direct_total=len(tree.direct_calls()),
            place=tree.place,
            max_calls=MAX_PAGE,
            crumbs=_crumbs(detail.run),
        )

    return guarded(request, render)


def _crumbs(run: Any, *more: tuple[str, str | None]) -> list[tuple[str, str | None]]:
    label = f"{run.connector} run {run.run_id[:8]} ({run.status})"
    return [("Runs", HOME), (label, RUN.format(run_id=run.run_id)), *more]


def run_head(db: Client, principal: Principal, rid: str) -> Any:
    page_ = list_runs(db, RunFilters(time=TimeRange(0, None), run_ids=(rid,), limit=1), principal.scope)
    if not page_.items:
        raise ApiError(404, "not_found", f"run {rid} not found")
    return page_.items[0]


@router.get(STEP, response_class=HTMLResponse)
def step_page(request: Request, run_id: str, step_id: str) -> Response:
    def render(principal: Principal) -> Response:
        rid, sid = trace_id(run_id, "run_id"), span_id(step_id, "step_id")
        q = query_of(request)
        cursor, limit = vp.cursor(q), vp.limit(q)
        # The header needs the run's row and this step's, not the whole run (`get_run` also
        # reads every step, the root faults and failed calls): one query for both.
        (run, step), pages, direct = in_parallel(
            request,
            lambda db: get_run_and_step(db, rid, sid, principal.scope),
            lambda db: list_pages(db, rid, sid, principal.scope, cursor=cursor, limit=limit),
            lambda db: direct_calls(db, principal, q, rid, {sid}),
        )
        crumbs = _crumbs(run, (f"step {step.name}", None))
        return page(
            request,
            "step.html",
            run=run,
            step=step,
            pages=pages.items,
            next_cursor=pages.next_cursor,
            direct=direct.items,
            direct_links=direct_links(request, direct),
            crumbs=crumbs,
        )

    return guarded(request, render)


def _entities_of_page(
    db: Client, principal: Principal, rid: str, step_id: str, page_id: str
) -> list[EntityRow]:
    """Entities of one page: the step's entities filtered by page (list_entities has no page filter)."""
    out: list[EntityRow] = []
    cursor: str | None = None
    read = 0
    while read < ENTITY_SCAN_CAP:
        result = list_entities(
            db, rid, EntityFilters(step=step_id, cursor=cursor, limit=MAX_PAGE), principal.scope
        )
        read += len(result.items)
        out += [e for e in result.items if e.page_id == page_id]
        cursor = result.next_cursor
        if cursor is None:
            break
    return out


@router.get(PAGE, response_class=HTMLResponse)
def page_page(request: Request, run_id: str, step_id: str, page_id: str) -> Response:
    def render(principal: Principal) -> Response:
        rid, sid, pid = trace_id(run_id, "run_id"), span_id(step_id, "step_id"), span_id(page_id, "page_id")
        with db_client(request) as db:
            detail = get_run(db, rid, principal.scope)
            step = next((s for s in detail.steps if s.step_id == sid), None)
            if step is None:
                raise ApiError(404, "not_found", f"step {sid} not found in run {rid}")
            pages = list_pages(db, rid, sid, principal.scope, limit=MAX_PAGE).items
            row = next((p for p in pages if p.page_id == pid), None)
            if row is None:
                raise ApiError(404, "not_found", f"page {pid} not found in step {sid}")
            entities = _entities_of_page(db, principal, rid, sid, pid)
            below = direct_calls(db, principal, {vp.CALLS_LIMIT: str(MAX_PAGE)}, rid, {pid}).items
            calls = sorted(below, key=lambda c: (c.start_ns, c.call_id))  # the page's own calls
        crumbs = _crumbs(
            detail.run,
            (f"step {step.name}", STEP.format(run_id=rid, step_id=sid)),
            (f"page {row.number or ''}", None),
        )
        return page(
            request,
            "page.html",
            run=detail.run,
            step=step,
            row=row,
            entities=entities,
            calls=calls,
            crumbs=crumbs,
        )

    return guarded(request, render)


@router.get(ENTITY, response_class=HTMLResponse)
def entity_page(request: Request, run_id: str, entity_id: str) -> Response:
    def render(principal: Principal) -> Response:
        rid, eid = trace_id(run_id, "run_id"), span_id(entity_id, "entity_id")
        with db_client(request) as db:
            detail = get_run(db, rid, principal.scope)
            calls = _run_calls(db, principal, rid, eid)
            ext = request.query_params.get("external_id")
            found = list_entities(
                db, rid, EntityFilters(external_id=ext or None, limit=MAX_PAGE), principal.scope
            )
        entity = next((e for e in found.items if e.entity_id == eid), None)
        if entity is None:
            raise ApiError(404, "not_found", f"entity {eid} not found in run {rid}")
        step = next((s for s in detail.steps if s.name == entity.step), None)
        more: list[tuple[str, str | None]] = []
        if step is not None:
            more.append((f"step {step.name}", STEP.format(run_id=rid, step_id=step.step_id)))
            more.append(("page", PAGE.format(run_id=rid, step_id=step.step_id, page_id=entity.page_id)))
        more.append((f"entity {entity.external_id}", None))
        return page(
            request,
            "entity.html",
            run=detail.run,
            entity=entity,
            calls=calls,
            step=step,
            crumbs=_crumbs(detail.run, *more),
        )

    return guarded(request, render)


# ------------------------------------------------------------------------------ calls


def list_screen(
    request: Request,
    template: str,
    items: str,
    read: Callable[[Client, dict[str, str], Principal], Any],
    **extra: Any,
) -> Response:
    """One list screen (calls, faults, logs): the page's filters parsed the API's way, one query
    function, a page of rows with the API's cursor; `extra` adds what the template also shows
    (a callable is given the result)."""

    def render(principal: Principal) -> Response:
        q = query_of(request)
        with db_client(request) as db:
            result = read(db, q, principal)
        more = {k: v(result) if callable(v) else v for k, v in extra.items()}
        return page(
            request,
            template,
            **{items: result.items},
            next_cursor=result.next_cursor,
            filters=q,
            presets=list(vp.PRESETS),
            export_rows=state(request).settings.export_rows_default,
            **more,
        )

    return guarded(request, render)


def list_endpoint(
    template: str, items: str, read: Callable[[Client, dict[str, str], Principal], Any], **extra: Any
) -> Callable[[Request], Response]:
    """The route function of one list screen (`list_screen` with these arguments)."""

    def endpoint(request: Request) -> Response:
        return list_screen(request, template, items, read, **extra)

    endpoint.__name__ = f"{items}_page"
    return endpoint


router.add_api_route(
    CALLS,
    list_endpoint("calls.html", "calls", lambda db, q, p: list_calls(db, vp.call_filters(q), p.scope)),
    methods=["GET"],
    response_class=HTMLResponse,
)


@router.get(CALL, response_class=HTMLResponse)
def call_page(request: Request, call_id: str, run: str | None = None) -> Response:
    def render(principal: Principal) -> Response:
        cid = span_id(call_id, "call_id")
        with db_client(request) as db:
            detail = get_call(db, cid, principal.scope, run_id=trace_id(run, "run") if run else None)
        t = detail.triggered_by
        more: list[tuple[str, str | None]] = []
        if t.step_id:
            more.append((f"step {t.step}", STEP.format(run_id=t.run_id, step_id=t.step_id)))
        if t.step_id and t.page_id:
            more.append(
                (
                    f"page {t.page_number or ''}",
                    PAGE.format(run_id=t.run_id, step_id=t.step_id, page_id=t.page_id),
                )
            )
        if t.entity_id:
            more.append(
                (
                    f"entity {t.entity_external_id}",
                    ENTITY.format(run_id=t.run_id, entity_id=t.entity_id)
                    + f"?external_id={quote(t.entity_external_id)}",
                )
            )
        more.append((f"{detail.call.method} call", None))
        resp_headers = detail.response.headers or {}
        retry_after = next((v for k, v in resp_headers.items() if k.lower() == "retry-after"), None)
        return page(
            request,
            "call.html",
            d=detail,
            call=detail.call,
            search_run=detail.call.run_id,
            crumbs=[
                ("Runs", HOME),
                (
                    f"{detail.call.connector} run {detail.call.run_id[:8]}",
                    RUN.format(run_id=detail.call.run_id),
                ),
                *more,
            ],
            req_body=body_view(detail.request.body, detail.request.content_type),
            resp_body=body_view(
                detail.response.body, detail.response.content_type, status=detail.response.status
            ),
            retry_after=retry_after,
        )

    return guarded(request, render)
