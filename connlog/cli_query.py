"""`connlog runs | jobs | run | calls | search | sql`: the query API from a terminal.

Every command goes through the API's own routes (see `connlog.cli_target`), so the CLI
accepts and validates exactly what the API does; `--json` prints the API's answer as it
came. Ids may be given as unique prefixes (`connlog run 3f2a9c1e`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Annotated, Any

import typer

from connlog.cli_ids import resolve_run
from connlog.cli_target import Api, Cli, query_command
from connlog.instrumentation import semconv as sc
from connlog.query_api import paths

Since = Annotated[str, typer.Option(help="How far back: 30m, 24h, 7d")]
Limit = Annotated[int, typer.Option(min=1, max=500, help="Rows to show")]
Cursor = Annotated[str | None, typer.Option(help="Next page: the `more: --cursor …` of the previous one")]
RunOption = Annotated[str | None, typer.Option("--run", help="Only this run (id or unique prefix)")]
Connector = Annotated[str | None, typer.Option(help="Connector (service name)")]
Cause = Annotated[
    str | None, typer.Option(help="auth, not_found, rate_limited, timeout, network, server_error…")
]

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_MAX_CALLS = 20  # pages of 500 calls read for one run's tree


def since_epoch(since: str, now: float | None = None) -> int:
    """`24h` -> epoch seconds 24 hours ago; a bad value is a usage error naming the flag."""
    match = _DURATION.match(since.strip())
    if not match:
        raise typer.BadParameter(f"--since takes a number and a unit s/m/h/d, e.g. 24h; got {since!r}")
    return int((now if now is not None else time.time()) - int(match.group(1)) * _UNIT_S[match.group(2)])


def maybe_run(api: Api, run_id: str | None) -> str | None:
    return None if run_id is None else resolve_run(api, run_id)


def show_list(
    cli: Cli,
    path: str,
    model: type[Any],
    render: Callable[[Any, bool, int], Any],
    *,
    since: str,
    limit: int,
    cursor: str | None,
    run_id: str | None = None,
    **filters: Any,
) -> None:
    """A list command: its filters (None ones dropped), `--run` resolved from a prefix, the
    window from `--since`, one page; printed as the API's JSON or as `render`'s table."""
    start = since_epoch(since)

    def ask(api: Api) -> Any:
        run = maybe_run(api, run_id)
        return api.get(path, **filters, run=run, cursor=cursor, limit=limit, **{"from": start})

    cli.show_page(ask, model, render)


@query_command()
def runs(
    connector: Connector = None,
    status: Annotated[str | None, typer.Option(help="ok, error or running")] = None,
    failure_cause: Cause = None,
    kind: Annotated[
        str | None,
        typer.Option(help="sync, operation (builds, deploys…: every other kind) or one kind, e.g. deploy"),
    ] = None,
    operation_status: Annotated[
        str | None,
        typer.Option("--operation-status", help=", ".join(s.value for s in sc.OperationStatus)),
    ] = None,
    since: Since = "24h",
    limit: Limit = 50,
    cursor: Cursor = None,
    *,
    cli: Cli,
) -> None:
    """Runs, newest first, with status, counters and failure cause; operations with --kind."""
    from connlog.query_api.cli_views import operations_table, runs_table
    from connlog.query_api.models import Page, RunSummary
    from connlog.query_api.queries.runs import KIND_SYNC

    table = runs_table if kind in (None, KIND_SYNC) else operations_table
    show_list(
        cli, paths.RUNS, Page[RunSummary], table, since=since, limit=limit, cursor=cursor,
        connector=connector, status=status, failure_cause=failure_cause, kind=kind,
        operation_status=operation_status,
    )  # fmt: skip


@query_command()
def jobs(
    connector: Connector = None,
    tenant: Annotated[str | None, typer.Option(help="Tenant / site / account")] = None,
    job_id: Annotated[str | None, typer.Option("--job-id", help="Only this job")] = None,
    since: Since = "24h",
    ticks: Annotated[int, typer.Option(min=1, max=500, help="Newest ticks listed per job")] = 12,
    *,
    cli: Cli,
) -> None:
    """Scheduled jobs: each tick with the run it started, missed ticks marked (`every <n>s` and cron schedules)."""
    from pydantic import TypeAdapter

    from connlog.query_api.cli_views import jobs_view
    from connlog.query_api.models import JobSummary

    start = since_epoch(since)
    params = {"connector": connector, "tenant": tenant, "job_id": job_id}
    data = cli.ask(lambda api: api.get(paths.JOBS, **params, **{"from": start}))
    if cli.as_json:
        return cli.print_json(data)
    found = TypeAdapter(list[JobSummary]).validate_python(data)
    cli.console.print(jobs_view(found, cli.full_ids, cli.console.width, ticks))


def _all_calls(api: Api, run_id: str, start: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(_MAX_CALLS):
        page = api.get(paths.CALLS, run=run_id, limit=500, cursor=cursor, **{"from": start})
        items += page["items"]
        cursor = page.get("next_cursor")
        if cursor is None:
            break
    return items


@query_command()
def run(
    run_id: Annotated[str, typer.Argument(help="Run id (the trace id) or a unique prefix")],
    *,
    cli: Cli,
) -> None:
    """One run as a tree: steps, pages, every call in its place, and the root faults."""
    from connlog.query_api.cli_views import run_tree
    from connlog.query_api.models import CallRow, Page, PageRow, RunDetail, Trace

    def tree_parts(api: Api) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
        rid = resolve_run(api, run_id)
        detail = api.get(paths.RUN.format(run_id=rid))
        if cli.as_json:
            return detail, {}, {}, []
        pages = {
            s["step_id"]: api.get(paths.RUN_PAGES.format(run_id=rid, step_id=s["step_id"]), limit=500)
            for s in detail["steps"]
        }
        trace = api.get(paths.TRACE.format(trace_id=rid))
        start = detail["run"]["start_ns"] // 10**9 - 1
        return detail, pages, trace, _all_calls(api, rid, start)

    detail, pages, trace, calls = cli.ask(tree_parts)
    if cli.as_json:
        return cli.print_json(detail)
    tree = run_tree(
        RunDetail.model_validate(detail),
        {sid: Page[PageRow].model_validate(p).items for sid, p in pages.items()},
        [CallRow.model_validate(c) for c in calls],
        Trace.model_validate(trace),
        cli.full_ids,
    )
    cli.console.print(tree)


@query_command()
def calls(
    connector: Connector = None,
    status: Annotated[str | None, typer.Option(help="404, 400-499, >=400")] = None,
    host: Annotated[str | None, typer.Option(help="Host")] = None,
    failure_cause: Cause = None,
    run_id: RunOption = None,
    since: Since = "24h",
    limit: Limit = 50,
    cursor: Cursor = None,
    *,
    cli: Cli,
) -> None:
    """HTTP calls across connectors, newest first."""
    from connlog.query_api.cli_views import calls_table
    from connlog.query_api.models import CallRow, Page

    show_list(
        cli, paths.CALLS, Page[CallRow], calls_table, since=since, limit=limit, cursor=cursor, run_id=run_id,
        connector=connector, status=status, host=host, failure_cause=failure_cause,
    )  # fmt: skip


@query_command()
def search(
    q: Annotated[str, typer.Argument(help="A record id, internal id, job id, URL fragment or error text")],
    run_id: Annotated[str | None, typer.Option("--run", help="Search inside this run (id or prefix)")] = None,
    since: Since = "30d",
    *,
    cli: Cli,
) -> None:
    """Which runs (or, with --run, which spans of a run) mention a value."""
    from connlog.query_api.cli_views import search_table
    from connlog.query_api.models import SearchResult

    start = since_epoch(since)
    data = cli.ask(lambda api: api.get(paths.SEARCH, q=q, scope=maybe_run(api, run_id), **{"from": start}))
    if cli.as_json:
        return cli.print_json(data)
    cli.console.print(search_table(SearchResult.model_validate(data), cli.full_ids))


@query_command()
def sql(
    query: Annotated[str, typer.Argument(help="One read-only SELECT")],
    *,
    cli: Cli,
) -> None:
    """Ad-hoc read-only SQL: the API's /sql limits (readonly, time, rows) apply here too."""
    from connlog.query_api.cli_views import sql_table
    from connlog.query_api.models import SqlResult

    data = cli.ask(lambda api: api.post(paths.SQL, {"query": query}))
    if cli.as_json:
        return cli.print_json(data)
    cli.console.print(sql_table(SqlResult.model_validate(data)))
