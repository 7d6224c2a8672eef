"""Views beside the drill-down: trace waterfall, calls, faults, logs, search, connectors, job ticks, export.

Each page calls the query functions the JSON routes call, with the signed-in caller's scope.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from connlog.instrumentation import semconv as sc
from connlog.query_api.auth import Principal
from connlog.query_api.errors import ApiError
from connlog.query_api.models import TraceSpan
from connlog.query_api.queries.calls import list_calls
from connlog.query_api.queries.common import MAX_PAGE, trace_id
from connlog.query_api.queries.faults import list_faults
from connlog.query_api.queries.logs import list_logs
from connlog.query_api.queries.runs import list_runs
from connlog.query_api.queries.search import search_in_run, search_runs
from connlog.query_api.queries.traces import get_trace
from connlog.query_api.timeutil import NS, now_ns
from connlog.query_api.viewer import params as vp
from connlog.query_api.viewer.access import db as db_client
from connlog.query_api.viewer.access import guarded, signin_redirect, who
from connlog.query_api.viewer.render import page
from connlog.query_api.viewer.routes import list_screen, query_of, run_head
from connlog.query_api.viewer.urls import CONNECTORS, EXPORT, FAULTS, HOME, JOBS, LOGS, RUN, SEARCH, TRACE

router = APIRouter(include_in_schema=False)


def _tree_order(spans: list[TraceSpan]) -> tuple[list[TraceSpan], dict[str, int]]:
    """Spans depth-first (each parent followed by its children, in start order) and their depth.

    Start order alone is not enough: a child that starts in the same nanosecond as its parent
    may sort before it. Spans whose parent is missing (not sent, or cut) are roots.
    """
    ids = {s.span_id for s in spans}
    children: dict[str, list[TraceSpan]] = {}
    roots: list[TraceSpan] = []
    for s in spans:  # already in start order
        if s.parent_id in ids and s.parent_id != s.span_id:
            children.setdefault(s.parent_id, []).append(s)
        else:
            roots.append(s)
    out: list[TraceSpan] = []
    depth: dict[str, int] = {}
    stack = [(r, 0) for r in reversed(roots)]
    while stack:
        span, d = stack.pop()
        if span.span_id in depth:
            continue  # a cycle in bad data: show each span once
        depth[span.span_id] = d
        out.append(span)
        stack.extend((c, d + 1) for c in reversed(children.get(span.span_id, [])))
    return out, depth


@router.get(TRACE, response_class=HTMLResponse)
def trace_page(request: Request, run_id: str) -> Response:
    def render(principal: Principal) -> Response:
        rid = trace_id(run_id, "run_id")
        with db_client(request) as db:
            trace = get_trace(db, rid, principal.scope)
        rows, depth = _tree_order(trace.spans)
        root = rows[0]
        total = trace.duration_ms or 1.0
        crumbs = [("Runs", HOME), (f"{root.service} run {rid[:8]}", RUN.format(run_id=rid)), ("trace", None)]
        return page(
            request,
            "trace.html",
            trace=trace,
            spans=rows,
            root=root,
            depth=depth,
            total=total,
            search_run=rid,
            crumbs=crumbs,
        )

    return guarded(request, render)


@router.get(FAULTS, response_class=HTMLResponse)
def faults_page(request: Request) -> Response:
    return list_screen(
        request,
        "faults.html",
        "faults",
        lambda db, q, p: list_faults(db, vp.fault_filters(q), p.scope),
        groups=lambda result: result.groups,
    )


SYSLOG_LEVELS: Final = (
    ("", "any"),
    ("7", "7 debug"),
    ("6", "6 info"),
    ("4", "4 warning"),
    ("3", "3 error"),
    ("2", "2 critical"),
)


@router.get(LOGS, response_class=HTMLResponse)
def logs_page(request: Request) -> Response:
    return list_screen(
        request,
        "logs.html",
        "logs",
        lambda db, q, p: list_logs(db, vp.log_filters(q), p.scope),
        levels=SYSLOG_LEVELS,
    )


@router.get(SEARCH, response_class=HTMLResponse)
def search_page(request: Request) -> Response:
    def render(principal: Principal) -> Response:
        q = query_of(request)
        text = (q.get("q") or "").strip()
        run = vp.optional_run(q)
        result = None
        head = None
        if text:
            with db_client(request) as db:
                if run is not None:
                    result = search_in_run(db, text, run, principal.scope)
                    head = run_head(db, principal, run)
                else:
                    result = search_runs(
                        db, text, vp.time_range({**q, "range": q.get("range") or "30d"}), principal.scope
                    )
        return page(
            request, "search.html", result=result, text=text, run=head, filters=q, presets=list(vp.PRESETS)
        )

    return guarded(request, render)


@router.get(CONNECTORS, response_class=HTMLResponse)
def connectors_page(request: Request) -> Response:
    """One card per connector seen in the last 30 days: last run, 24 h failures."""

    def render(principal: Principal) -> Response:
        with db_client(request) as db:
            recent = list_runs(
                db, vp.run_filters({"range": "30d", "limit": str(MAX_PAGE)}), principal.scope
            ).items
        cards: dict[str, dict[str, Any]] = {}
        day_ago = now_ns() - 86400 * NS
        for r in recent:  # newest first: the first row per connector is its last run
            card = cards.setdefault(r.connector, {"last": r, "failures_24h": 0, "runs_24h": 0})
            if r.start_ns >= day_ago:
                card["runs_24h"] += 1
                card["failures_24h"] += r.status == sc.RunStatus.ERROR.value
        return page(request, "connectors.html", cards=sorted(cards.items()))

    return guarded(request, render)


@router.get(JOBS, response_class=HTMLResponse)
def jobs_page(request: Request) -> Response:
    """Scheduled jobs: each job's runs as ticks on one time axis, so a gap shows at a glance."""

    def render(principal: Principal) -> Response:
        q = {"range": "7d", **query_of(request), "trigger": sc.Trigger.SCHEDULE.value, "limit": str(MAX_PAGE)}
        filters = vp.run_filters(q)
        with db_client(request) as db:
            runs = list_runs(db, filters, principal.scope).items
        start = filters.time.start_ns
        end = filters.time.end_ns or now_ns()
        span = max(end - start, 1)
        jobs: dict[str, list[Any]] = {}
        for r in sorted(runs, key=lambda r: r.start_ns):
            jobs.setdefault(f"{r.connector} · {r.job_id or '(no job id)'}", []).append(r)
        rows = [
            {
                "job": name,
                "runs": rs,
                "last": rs[-1],
                "failed": sum(r.status == sc.RunStatus.ERROR.value for r in rs),
                "ticks": [(r, round((r.start_ns - start) * 100 / span, 3)) for r in rs],
            }
            for name, rs in sorted(jobs.items())
        ]
        return page(
            request,
            "jobs.html",
            jobs=rows,
            filters=query_of(request),
            presets=list(vp.PRESETS),
            capped=len(runs) >= MAX_PAGE,
        )

    return guarded(request, render)


# ------------------------------------------------------------------------------ export


@router.get(EXPORT)
async def export(request: Request, kind: str, fmt: str) -> Response:
    """The API's export of the same filters and row cap, for a browser session (cookie, not header)."""
    from connlog.query_api.routes.export import _respond  # the API's export itself, not a copy

    listers: dict[str, tuple[Callable[..., Any], Callable[[vp.Query], Any]]] = {
        "runs": (list_runs, vp.run_filters),
        "calls": (list_calls, vp.call_filters),
        "logs": (list_logs, vp.log_filters),
    }
    principal = who(request)
    if principal is None:
        return signin_redirect(request)
    if kind not in listers or fmt not in ("csv", "pdf"):
        return page(request, "error.html", 404, error=ApiError(404, "not_found", f"no export {kind}.{fmt}"))
    lister, parse = listers[kind]
    try:
        filters = parse({k: v for k, v in query_of(request).items() if k not in ("cursor", "limit")})
        response: Response = await _respond(request, principal, kind, fmt, lister, filters, None)
    except ApiError as exc:
        return page(request, "error.html", exc.status, error=exc)
    return response


__all__ = ["router"]
