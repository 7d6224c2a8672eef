"""Rich renderings of query results for the `connlog` CLI (tables, and a tree for one run).

The typer commands call the query functions on a chDB directory or server and hand the
typed rows to these renderers; nothing here runs SQL except `run_tree_view`, which
gathers a run's steps, pages and their calls through the same query functions the API uses.
"""

from __future__ import annotations

from clickhouse_connect.driver.client import Client
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from query_api.models import CallRow, Page, PageRow, RunDetail, RunSummary, SearchResult, SqlResult
from query_api.queries.calls import CallFilters, list_calls
from query_api.queries.common import MAX_PAGE, TimeRange
from query_api.queries.pages import list_pages
from query_api.queries.runs import get_run
from query_api.scope import FULL, Scope

STATUS_STYLE = {"ok": "green", "error": "bold red", "running": "yellow", "Ok": "green", "Error": "red"}


def _status(value: str) -> Text:
    return Text(value, style=STATUS_STYLE.get(value, ""))


def _ms(value: float | None) -> str:
    if value is None:
        return "…"
    return f"{value / 1000:.1f}s" if value >= 1000 else f"{value:.0f}ms"


def runs_table(page: Page[RunSummary]) -> Table:
    table = Table(title="Runs", show_lines=False)
    for col in (
        "start",
        "run id",
        "connector",
        "tenant",
        "status",
        "type",
        "trigger",
        "duration",
        "fetched",
        "created",
        "updated",
        "failed",
        "errors",
        "cause",
    ):
        table.add_column(col, no_wrap=col in ("start", "run id"))
    for r in page.items:
        c = r.counters
        table.add_row(
            r.start[:19],
            r.run_id,
            r.connector,
            r.tenant,
            _status(r.status),
            r.sync_type,
            r.trigger,
            _ms(r.duration_ms),
            str(c.fetched),
            str(c.created),
            str(c.updated),
            str(c.failed),
            str(r.error_count),
            r.failure_cause,
        )
    if page.next_cursor:
        table.caption = f"more: --cursor {page.next_cursor}"
    return table


def calls_table(page: Page[CallRow]) -> Table:
    table = Table(title="HTTP calls")
    for col in ("start", "call id", "connector", "method", "status", "duration", "url", "cause"):
        table.add_column(col, no_wrap=col != "url", overflow="fold")
    for c in page.items:
        status = "—" if c.http_status is None else str(c.http_status)
        style = "red" if (c.http_status or 0) >= 400 or c.status == "Error" else ""
        table.add_row(
            c.start[:23],
            c.call_id,
            c.connector,
            c.method,
            Text(status, style=style),
            _ms(c.duration_ms),
            c.url,
            c.failure_cause,
        )
    if page.next_cursor:
        table.caption = f"more: --cursor {page.next_cursor}"
    return table


def search_table(result: SearchResult) -> Table:
    table = Table(title=f"Search {result.query!r}" + (f" in run {result.scope}" if result.scope else ""))
    if result.scope:
        for col in ("start", "kind", "span id", "name", "matched"):
            table.add_column(col)
        for s in result.spans:
            table.add_row(s.start[:23], s.kind, s.span_id, s.name, ", ".join(s.matched))
        return table
    for col in ("start", "run id", "connector", "status", "matched"):
        table.add_column(col)
    for h in result.runs:
        table.add_row(
            h.run.start[:19], h.run.run_id, h.run.connector, _status(h.run.status), ", ".join(h.matched)
        )
    return table


def sql_table(result: SqlResult) -> Table:
    table = Table(
        caption=f"{result.row_count} rows{' (truncated)' if result.truncated else ''},"
        f" read {result.stats.read_rows} rows / {result.stats.read_bytes} bytes"
    )
    for col in result.columns:
        table.add_column(f"{col.name}\n[dim]{col.type}[/dim]")
    for row in result.rows:
        table.add_row(*["NULL" if v is None else str(v) for v in row])
    return table


def run_tree(detail: RunDetail, pages: dict[str, list[PageRow]], calls: dict[str, list[CallRow]]) -> Tree:
    """run → steps → pages → calls, with counters and faults."""
    r = detail.run
    root = Tree(
        Text.assemble(
            (f"run {r.run_id} ", "bold"),
            _status(r.status),
            f"  {r.connector}/{r.tenant}  {r.start[:19]}  {_ms(r.duration_ms)}",
        )
    )
    for step in detail.steps:
        c = step.counters
        label = Text.assemble(
            (f"step {step.name} ", "bold"),
            _status(step.status),
            f"  fetched {c.fetched} created {c.created} updated {c.updated} failed {c.failed}",
            ("  rate-limited" if step.rate_limited else "", "yellow"),
        )
        node = root.add(label)
        for page in pages.get(step.step_id, []):
            p_node = node.add(
                f"page {page.number or '?'}  {page.http_status or '—'}  {_ms(page.duration_ms)}"
                f"  retries {page.retry_count}  {page.url}"
            )
            for call in calls.get(page.page_id, []):
                p_node.add(
                    Text(
                        f"{call.method} {call.http_status or '—'} {_ms(call.duration_ms)} {call.call_id}",
                        style="red" if call.status == "Error" else "dim",
                    )
                )
    for fault in detail.faults:
        root.add(Text(f"fault [{fault.cause}] {fault.type}: {fault.message_short}", style="red"))
    return root


def run_tree_view(client: Client, run_id: str, scope: Scope = FULL) -> Tree:
    """Fetch a run with its pages and their calls and render the tree."""
    detail = get_run(client, run_id, scope)
    pages = {
        s.step_id: list_pages(client, run_id, s.step_id, scope, limit=MAX_PAGE).items for s in detail.steps
    }
    calls: dict[str, list[CallRow]] = {}
    page = list_calls(
        client,
        CallFilters(time=TimeRange(detail.run.start_ns - 10**9, None), run_id=run_id, limit=MAX_PAGE),
        scope,
    )
    for call in reversed(page.items):
        calls.setdefault(call.parent_id, []).append(call)
    return run_tree(detail, pages, calls)
