"""`connlog runs | run | calls | search | sql`: the query API from a terminal.

Every command goes through the API's own routes, so the CLI accepts and validates exactly
what the API does: over HTTP with `--api-url` (a running `connlog serve`/`api`, with a key),
or in-process on a data directory when no server owns it (chDB lets one process open a
directory; the files are the caller's, so no key is asked for there).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import httpx
import typer
from rich.console import Console

from connlog.settings_cli import ClickHouseUrl, Database, DataDir, settings_from
from query_api import paths

console = Console()
T = TypeVar("T")

ApiUrl = Annotated[
    str | None,
    typer.Option(
        "--api-url", envvar="CONNLOG_API_URL", help="A running query API; default: open the data directory"
    ),
]
Token = Annotated[str | None, typer.Option("--token", envvar="CONNLOG_API_KEY", help="API key for --api-url")]
Since = Annotated[str, typer.Option(help="How far back: 30m, 24h, 7d")]
Limit = Annotated[int, typer.Option(min=1, max=500, help="Rows to show")]

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def since_epoch(since: str, now: float | None = None) -> int:
    """`24h` -> epoch seconds 24 hours ago; a bad value is a usage error naming the flag."""
    match = _DURATION.match(since.strip())
    if not match:
        raise typer.BadParameter(f"--since takes a number and a unit s/m/h/d, e.g. 24h; got {since!r}")
    return int((now if now is not None else time.time()) - int(match.group(1)) * _UNIT_S[match.group(2)])


class ApiError(Exception):
    """The API answered with its error shape; the message is the API's own."""


class Api:
    """GET/POST against the API's routes, over HTTP or in-process; returns parsed JSON."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def _check(self, resp: httpx.Response) -> Any:
        if resp.status_code >= 400:
            try:
                err = resp.json()["error"]
                message = err.get("message", resp.text)
                if err.get("field"):
                    message = f"{err['field']}: {message}"
            except (ValueError, KeyError, TypeError):
                message = resp.text[:500]
            raise ApiError(f"{resp.status_code}: {message}")
        return resp.json()

    def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self._check(self.client.get(paths.API_PREFIX + path, params=clean))

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self._check(self.client.post(paths.API_PREFIX + path, json=body))


@contextmanager
def open_api(
    api_url: str | None, token: str | None, clickhouse_url: str | None, data_dir: Any, database: str | None
) -> Iterator[Api]:
    if api_url:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with httpx.Client(base_url=api_url, headers=headers, timeout=60) as client:
            yield Api(client)
        return
    import warnings

    with warnings.catch_warnings():  # Starlette's notice about its own httpx use is not the user's business
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from query_api.app import create_app
    from query_api.auth import AuthConfig

    settings = settings_from(clickhouse_url, data_dir, database)
    app = create_app(settings, auth=AuthConfig(disabled=True))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client)


@dataclass(frozen=True)
class Target:
    """Where a command's questions go: a running API, or a data directory opened in-process."""

    api_url: str | None
    token: str | None
    clickhouse_url: str | None
    data_dir: Any
    database: str | None


def ask(target: Target, question: Callable[[Api], T]) -> T:
    """Run `question` against the API; an API or transport error exits 1 with its message."""
    try:
        with open_api(
            target.api_url, target.token, target.clickhouse_url, target.data_dir, target.database
        ) as api:
            return question(api)
    except (ApiError, httpx.HTTPError) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc


def runs(
    connector: Annotated[str | None, typer.Option(help="Connector (service name)")] = None,
    status: Annotated[str | None, typer.Option(help="ok, error or running")] = None,
    failure_cause: Annotated[str | None, typer.Option(help="auth, not_found, rate_limited, timeout…")] = None,
    since: Since = "24h",
    limit: Limit = 50,
    api_url: ApiUrl = None,
    token: Token = None,
    clickhouse_url: ClickHouseUrl = None,
    data_dir: DataDir = None,
    database: Database = None,
) -> None:
    """Runs, newest first, with status, counters and failure cause."""
    from query_api.cli_views import runs_table
    from query_api.models import Page, RunSummary

    params = {"connector": connector, "status": status, "failure_cause": failure_cause}
    target = Target(api_url, token, clickhouse_url, data_dir, database)
    data = ask(target, lambda api: api.get(paths.RUNS, **params, **{"from": since_epoch(since)}, limit=limit))
    console.print(runs_table(Page[RunSummary].model_validate(data)))


def run(
    run_id: Annotated[str, typer.Argument(help="Run id (the trace id)")],
    api_url: ApiUrl = None,
    token: Token = None,
    clickhouse_url: ClickHouseUrl = None,
    data_dir: DataDir = None,
    database: Database = None,
) -> None:
    """One run as a tree: steps, pages, their calls, and the root faults."""
    from query_api.cli_views import run_tree
    from query_api.models import CallRow, Page, PageRow, RunDetail

    target = Target(api_url, token, clickhouse_url, data_dir, database)

    def tree_parts(api: Api) -> tuple[RunDetail, dict[str, list[PageRow]], Page[CallRow]]:
        detail = RunDetail.model_validate(api.get(paths.RUN.format(run_id=run_id)))
        pages = {
            s.step_id: Page[PageRow]
            .model_validate(api.get(paths.RUN_PAGES.format(run_id=run_id, step_id=s.step_id), limit=500))
            .items
            for s in detail.steps
        }
        start = detail.run.start_ns // 10**9 - 1
        calls = Page[CallRow].model_validate(api.get(paths.CALLS, run=run_id, limit=500, **{"from": start}))
        return detail, pages, calls

    detail, pages, call_page = ask(target, tree_parts)
    calls: dict[str, list[CallRow]] = {}
    for call in reversed(call_page.items):
        calls.setdefault(call.parent_id, []).append(call)
    console.print(run_tree(detail, pages, calls))


def calls(
    connector: Annotated[str | None, typer.Option(help="Connector (service name)")] = None,
    status: Annotated[str | None, typer.Option(help="404, 400-499, >=400")] = None,
    host: Annotated[str | None, typer.Option(help="Host")] = None,
    failure_cause: Annotated[str | None, typer.Option(help="auth, not_found, rate_limited, timeout…")] = None,
    run_id: Annotated[str | None, typer.Option("--run", help="Only calls of this run")] = None,
    since: Since = "24h",
    limit: Limit = 50,
    api_url: ApiUrl = None,
    token: Token = None,
    clickhouse_url: ClickHouseUrl = None,
    data_dir: DataDir = None,
    database: Database = None,
) -> None:
    """HTTP calls across connectors, newest first."""
    from query_api.cli_views import calls_table
    from query_api.models import CallRow, Page

    params = {
        "connector": connector,
        "status": status,
        "host": host,
        "failure_cause": failure_cause,
        "run": run_id,
    }
    target = Target(api_url, token, clickhouse_url, data_dir, database)
    data = ask(
        target, lambda api: api.get(paths.CALLS, **params, **{"from": since_epoch(since)}, limit=limit)
    )
    console.print(calls_table(Page[CallRow].model_validate(data)))


def search(
    q: Annotated[str, typer.Argument(help="A record id, internal id, job id, URL fragment or error text")],
    run_id: Annotated[str | None, typer.Option("--run", help="Search inside this run")] = None,
    since: Since = "30d",
    api_url: ApiUrl = None,
    token: Token = None,
    clickhouse_url: ClickHouseUrl = None,
    data_dir: DataDir = None,
    database: Database = None,
) -> None:
    """Which runs (or, with --run, which spans of a run) mention a value."""
    from query_api.cli_views import search_table
    from query_api.models import SearchResult

    target = Target(api_url, token, clickhouse_url, data_dir, database)
    data = ask(target, lambda api: api.get(paths.SEARCH, q=q, scope=run_id, **{"from": since_epoch(since)}))
    console.print(search_table(SearchResult.model_validate(data)))


def sql(
    query: Annotated[str, typer.Argument(help="One read-only SELECT")],
    api_url: ApiUrl = None,
    token: Token = None,
    clickhouse_url: ClickHouseUrl = None,
    data_dir: DataDir = None,
    database: Database = None,
) -> None:
    """Ad-hoc read-only SQL: the API's /sql limits (readonly, time, rows) apply here too."""
    from query_api.cli_views import sql_table
    from query_api.models import SqlResult

    target = Target(api_url, token, clickhouse_url, data_dir, database)
    data = ask(target, lambda api: api.post(paths.SQL, {"query": query}))
    console.print(sql_table(SqlResult.model_validate(data)))
