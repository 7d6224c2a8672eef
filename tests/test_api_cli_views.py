"""The CLI renderers, fed by the same query functions on a client (no HTTP)."""

from __future__ import annotations

from rich.console import Console
from test_api_support import ApiEnv, api  # noqa: F401 - session fixture

from collector.store import connect
from query_api import cli_views
from query_api.db import collect_stats
from query_api.queries.adhoc import SqlRunner
from query_api.queries.calls import CallFilters, list_calls
from query_api.queries.common import TimeRange
from query_api.queries.runs import RunFilters, list_runs
from query_api.queries.search import search_in_run, search_runs
from query_api.scope import FULL


def _text(renderable: object) -> str:
    console = Console(record=True, width=250)
    console.print(renderable)
    return console.export_text()


def test_tables_and_run_tree(api: ApiEnv) -> None:  # noqa: F811
    client = connect(api.settings)
    try:
        time = TimeRange(api.start_ns - 10**9)
        runs = list_runs(client, RunFilters(time=time, limit=5), FULL)
        out = _text(cli_views.runs_table(runs))
        assert all(r.run_id in out for r in runs.items) and "more: --cursor" in out
        calls = list_calls(client, CallFilters(time=time, limit=5), FULL)
        assert all(c.call_id in _text(cli_views.calls_table(calls)) for c in calls.items)
        t = next(t for t in api.truth if t.status == "error")
        with collect_stats() as stats:
            tree = _text(cli_views.run_tree_view(client, t.run_id))
        assert stats.queries >= 3
        assert t.run_id in tree and all(f"step {s}" in tree for s in t.steps) and "fault [" in tree
        ext = next(x for r in api.truth for x in r.external_ids)
        assert ext in _text(
            cli_views.search_table(
                search_in_run(client, ext, next(r.run_id for r in api.truth if ext in r.external_ids), FULL)
            )
        )
        assert "external_id" in _text(cli_views.search_table(search_runs(client, ext, time, FULL)))
        runner = SqlRunner(lambda: connect(api.settings))
        try:
            assert "rows" in _text(cli_views.sql_table(runner.run("SELECT 1 AS one")))
        finally:
            runner.close()
    finally:
        client.close()
