"""Views beside the drill-down: trace waterfall, calls, faults, logs, search, connectors, job ticks,
operations, export.

Each page calls the query functions the JSON routes call, with the signed-in caller's scope.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from clickhouse_connect.driver.client import Client
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from connlog.instrumentation import semconv as sc
from connlog.query_api.auth import Principal
from connlog.query_api.errors import ApiError
from connlog.query_api.queries.calls import list_calls
from connlog.query_api.queries.common import MAX_PAGE, trace_id
from connlog.query_api.queries.faults import list_faults
from connlog.query_api.queries.jobs import list_jobs
from connlog.query_api.queries.logs import StreamFilter, list_logs
from connlog.query_api.queries.runs import KIND_OPERATION, list_runs
from connlog.query_api.queries.search import search_in_run, search_runs
from connlog.query_api.queries.traces import get_trace
from connlog.query_api.timeutil import NS, now_ns
from connlog.query_api.viewer import params as vp
from connlog.query_api.viewer.access import db as db_client
from connlog.query_api.viewer.access import guarded, signin_redirect, who
from connlog.query_api.viewer.render import page
from connlog.query_api.viewer.routes import list_endpoint, query_of, run_head
from connlog.query_api.viewer.urls import (
    CONNECTORS,
    EXPORT,
    FAULTS,
    HOME,
    JOBS,
    LOGS,
    OPERATIONS,
    RUN,
    SEARCH,
    TRACE,
)
from connlog.query_api.viewer.waterfall import waterfall

router = APIRouter(include_in_schema=False)


@router.get(TRACE, response_class=HTMLResponse)
def trace_page(request: Request, run_id: str) -> Response:
    def render(principal: Principal) -> Response:
        rid = trace_id(run_id, "run_id")
        with db_client(request) as db:
            trace = get_trace(db, rid, principal.scope)
        wf = waterfall(trace)
        service = trace.spans[0].service
        crumbs = [("Runs", HOME), (f"{service} run {rid[:8]}", RUN.format(run_id=rid)), ("trace", None)]
        return page(
            request,
            "trace.html",
            trace=trace,
            wf=wf,
            service=service,
            search_run=rid,
            crumbs=crumbs,
        )

    return guarded(request, render)


SYSLOG_LEVELS: Final = (
    ("", "any"),
    ("7", "7 debug"),
    ("6", "6 info"),
    ("4", "4 warning"),
    ("3", "3 error"),
    ("2", "2 critical"),
)


# The logs page's tabs: application logs and the process's captured output, apart or together.
LOG_STREAMS: Final = (
    ("", "All"),
    (StreamFilter.APP.value, "Application logs"),
    (StreamFilter.STDIO.value, "stdout + stderr"),
    (StreamFilter.STDOUT.value, "stdout"),
    (StreamFilter.STDERR.value, "stderr"),
)
STREAM_WORDS: Final = {
    StreamFilter.APP.value: "written through logging by the connector",
    StreamFilter.STDOUT.value: "printed to the process's standard output (init(capture_stdio=True))",
    StreamFilter.STDERR.value: "written to the process's standard error: tracebacks, warnings",
}


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
    """Scheduled jobs (`list_jobs`, what `GET /api/v1/jobs` returns): each job's ticks on the
    window's time axis, a fired tick linking to its run, a tick the schedule expected that did
    not fire drawn as missed at its expected time."""

    def render(principal: Principal) -> Response:
        q = query_of(request)
        filters = vp.job_filters(q)
        with db_client(request) as db:
            jobs = list_jobs(db, principal.scope, filters)
        start = filters.time.start_ns
        span = max((filters.time.end_ns or now_ns()) - start, 1)

        def left(ns: int) -> float:
            return round(min(max((ns - start) * 100 / span, 0.0), 99.5), 3)

        rows = [
            {
                "job": job,
                "ticks": [
                    # On the schedule's grid when it has one (a tick is when it was due), else
                    # when its run started.
                    (t, left(t.expected_at_ns if t.expected_at_ns is not None else t.started_at_ns or start))
                    for t in job.ticks
                ],
                "missed": [t for t in job.ticks if t.missed],
            }
            for job in sorted(jobs, key=lambda j: (j.connector, j.job_id))
        ]
        return page(request, "jobs.html", jobs=rows, filters=q, presets=list(vp.PRESETS))

    return guarded(request, render)


def _operations(db: Client, q: vp.Query, p: Principal) -> Any:
    """Asynchronous operations (build, deploy, sync to an environment): runs of any kind but
    sync, with their own state, owner, target and times; `kind=` narrows to one kind."""
    return list_runs(db, vp.run_filters({**q, "kind": q.get("kind") or KIND_OPERATION}), p.scope)


# The list screens beside the drill-down: path, template, the template's name for the rows, the
# query function (as the JSON route calls it), and what else the template shows.
for _path, _template, _items, _read, _extra in (
    (
        FAULTS,
        "faults.html",
        "faults",
        lambda db, q, p: list_faults(db, vp.fault_filters(q), p.scope),
        {"groups": lambda result: result.groups},
    ),
    (
        LOGS,
        "logs.html",
        "logs",
        lambda db, q, p: list_logs(db, vp.log_filters(q), p.scope),
        {"levels": SYSLOG_LEVELS, "streams": LOG_STREAMS, "stream_words": STREAM_WORDS},
    ),
    (
        OPERATIONS,
        "operations.html",
        "operations",
        _operations,
        {"operation_states": [s.value for s in sc.OperationStatus]},
    ),
):
    router.add_api_route(
        _path, list_endpoint(_template, _items, _read, **_extra), methods=["GET"], response_class=HTMLResponse
    )


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
