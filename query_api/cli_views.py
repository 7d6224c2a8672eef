"""Rich renderings of the query API's answers for the `connlog` CLI.

The commands fetch through the API's routes and hand the typed models to these functions;
nothing here queries anything. Everything is laid out to stay readable in an 80-column
terminal: ids are cut to `SHORT` characters as git does (`full_ids` keeps them whole),
times are `MM-DD HH:MM:SS` UTC, ids and times never wrap, and the columns that matter less
appear only when the terminal is wide (`WIDE` columns or more).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Final

from rich import box
from rich.console import Group, RenderableType
from rich.json import JSON
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from connlog.instrumentation import semconv as sc
from connlog.query_api.models import (
    CallDetail,
    CallRow,
    EntityRow,
    FaultPage,
    HttpMessage,
    JobSummary,
    JobTick,
    LogRow,
    Page,
    PageRow,
    RunDetail,
    RunSummary,
    SearchResult,
    SqlResult,
    Trace,
)

SHORT: Final = 8  # characters of a run/trace/span id shown in tables, as git shows commits
WIDE: Final = 120
MAX_MESSAGE: Final = 300  # characters of a fault message in the table (the JSON has all of it)  # from this width on, tables add their secondary columns
STATUS_STYLE = {
    "ok": "green",
    "error": "bold red",
    "running": "yellow",
    "Ok": "green",
    "Error": "red",
    sc.OperationStatus.DONE.value: "green",
    sc.OperationStatus.FAILED.value: "bold red",
    sc.OperationStatus.RUNNING.value: "yellow",
    sc.OperationStatus.PENDING.value: "cyan",
}

# What each cause means for the person on call, in plain words.
CAUSE_WORDS: Final[dict[str, str]] = {
    sc.FailureCause.AUTH.value: "the API refused the credentials (401/403): check the token, its expiry and scopes",
    sc.FailureCause.NOT_FOUND.value: "the API has no such resource (404): check the URL, ids and API version",
    sc.FailureCause.RATE_LIMITED.value: "the API throttled the connector (429): slow down or wait for Retry-After",
    sc.FailureCause.TIMEOUT.value: "no answer in time: the API is slow or unreachable, or the timeout is too short",
    sc.FailureCause.NETWORK.value: "the connection failed (DNS, connect or TLS): check the host and the network",
    sc.FailureCause.SERVER_ERROR.value: "the API failed on its side (5xx): retry later or contact the vendor",
    sc.FailureCause.CLIENT_ERROR.value: "the API rejected the request (4xx): check the parameters and the body",
    sc.FailureCause.SHAPE_MISMATCH.value: "the response could not be parsed or validated: the API's format changed",
    sc.FailureCause.ERROR.value: "an exception in the connector's own code",
}


def short(value: str, full: bool = False) -> str:
    """The first `SHORT` characters of an id (all of it with `full`)."""
    return value if full else value[:SHORT]


def cause_words(cause: str) -> str:
    """`auth` -> `auth: the API refused the credentials …`; empty for no cause."""
    if not cause:
        return ""
    return f"{cause}: {CAUSE_WORDS[cause]}" if cause in CAUSE_WORDS else cause


# OpenTelemetry span statuses in the words runs use (an unset span status is a success).
_STATUS_WORD = {"Unset": "ok", "Ok": "ok", "Error": "error"}


def _status(value: str) -> Text:
    word = _STATUS_WORD.get(value, value)
    return Text(word, style=STATUS_STYLE.get(word, ""))


def _ms(value: float | None) -> str:
    if value is None:
        return "…"
    return f"{value / 1000:.1f}s" if value >= 1000 else f"{value:.0f}ms"


def _when(iso: str, seconds: bool = True) -> str:
    """`2026-12-02T03:12:34.123Z` -> `12-02 03:12:34` (the title says UTC)."""
    return f"{iso[5:10]} {iso[11 : 19 if seconds else 16]}" if len(iso) >= 19 else iso


def _table(title: str, expand: bool = False) -> Table:
    """A borderless table; `expand` lets its ratio column take the rest of the line."""
    return Table(
        title=title,
        expand=expand,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
        title_justify="left",
    )


def _bare_url(url: str) -> str:
    """The URL without its scheme: the host and path are what a reader compares."""
    return url.split("://", 1)[1] if "://" in url else url


def _http_status(code: int | None, cause: str) -> Text:
    text = "—" if code is None else str(code)
    if code is None and cause == sc.FailureCause.TIMEOUT.value:
        text = "timeout"
    return Text(text, style="red" if (code or 0) >= 400 or (code is None and cause) else "")


def _wide(width: int, full_ids: bool) -> bool:
    """Room for the secondary columns (full ids take 24 more characters)."""
    return width >= WIDE + (24 if full_ids else 0)


def runs_table(page: Page[RunSummary], full_ids: bool = False, width: int = 80) -> Table:
    """Runs. An operation (a run of another kind) says its kind: in the `type` column when the
    terminal is wide, else on a second line under its connector."""
    wide = _wide(width, full_ids)
    kinds = [len(r.kind) for r in page.items if r.kind != sc.RunKind.SYNC.value and not wide]
    table = _table("Runs (UTC)")
    table.add_column("start", no_wrap=True)
    # A full id folds rather than squeezing the words next to it to one letter a line.
    table.add_column("run", no_wrap=not full_ids, overflow="fold")
    table.add_column("connector", overflow="fold", min_width=min(max([9, *kinds]), 16))
    if wide:
        table.add_column("tenant", overflow="fold")
    table.add_column("status", no_wrap=True)
    if wide:
        table.add_column("type")
        table.add_column("trigger")
    table.add_column("took", justify="right", no_wrap=True)
    table.add_column("fetched", justify="right", no_wrap=True)
    if wide:
        table.add_column("created", justify="right")
        table.add_column("updated", justify="right")
    table.add_column("failed", justify="right", no_wrap=True)
    if wide:
        table.add_column("errors", justify="right")
    table.add_column("cause", overflow="fold", min_width=9)
    for r in page.items:
        c = r.counters
        operation = r.kind != sc.RunKind.SYNC.value
        connector = Text(r.connector)
        if operation and not wide:
            connector.append(f"\n{r.kind}", style="cyan")
        cells: list[str | Text] = [_when(r.start, wide), short(r.run_id, full_ids), connector]
        if wide:
            cells.append(r.tenant)
        cells.append(_status(r.status))
        if wide:
            cells += [Text(r.kind, style="cyan") if operation else r.sync_type, r.trigger]
        cells += [_ms(r.duration_ms), str(c.fetched)]
        if wide:
            cells += [str(c.created), str(c.updated)]
        cells.append(Text(str(c.failed), style="red" if c.failed else ""))
        if wide:
            cells.append(str(r.error_count))
        cells.append(Text(r.failure_cause, style="red"))
        table.add_row(*cells)
    return table


def operations_table(page: Page[RunSummary], full_ids: bool = False, width: int = 80) -> Table:
    """Operations (runs of a kind other than sync): kind, state, owner, target, when queued."""
    wide = _wide(width, full_ids)
    table = _table("Operations (UTC)", expand=True)
    table.add_column("start", no_wrap=True)
    table.add_column("run", no_wrap=not full_ids, overflow="fold")
    if wide:
        table.add_column("connector", overflow="fold")
        table.add_column("queued", no_wrap=True)
    table.add_column("kind", overflow="fold", min_width=6)
    table.add_column("state", no_wrap=True)
    table.add_column("owner", overflow="fold", min_width=6)
    table.add_column("target", overflow="fold", ratio=1, min_width=8)
    table.add_column("took", justify="right", no_wrap=True)
    if wide:
        table.add_column("cause", overflow="fold")
    for r in page.items:
        op = r.operation
        state = op.status if op is not None and op.status else r.status
        cells: list[str | Text] = [_when(r.start, wide), short(r.run_id, full_ids)]
        if wide:
            cells += [r.connector, _when(op.queued_at) if op is not None and op.queued_at else "—"]
        cells += [
            r.kind,
            _status(state),
            (op.owner if op is not None else "") or "—",
            (op.target if op is not None else "") or "—",
            _ms(r.duration_ms),
        ]
        if wide:
            cells.append(Text(r.failure_cause, style="red"))
        table.add_row(*cells)
    return table


# One mark per tick in a job's strip: fired and how it ended, or missed.
_TICK_MARK: Final[dict[str | None, tuple[str, str]]] = {
    "ok": ("■", "green"),
    "error": ("■", "bold red"),
    "running": ("■", "yellow"),
    None: ("□", "bold red"),  # missed
}


def _tick_mark(tick: JobTick) -> tuple[str, str]:
    return _TICK_MARK[None] if tick.missed else _TICK_MARK.get(tick.status, ("■", ""))


def jobs_view(jobs: list[JobSummary], full_ids: bool = False, width: int = 80, ticks: int = 12) -> Group:
    """Each job: a line of what it is, a strip of every tick (■ fired, colour = outcome; □ missed),
    then its newest `ticks` ticks as a table, missed ones marked MISSED."""
    if not jobs:
        return Group(Text("no scheduled job ran in this time range", style="dim"))
    parts: list[RenderableType] = []
    for job in jobs:
        missed = Text(f"  missed {job.missed_count}", style="bold red") if job.missed_count else Text("")
        head = Text.assemble(
            (f"job {job.job_id}", "bold"),
            f"  {job.connector}" + (f"/{job.tenant}" if job.tenant else ""),
            f"  {job.schedule or '(no schedule recorded)'}",
            missed,
        )
        last = f"last run {_when(job.last_run_at)} " if job.last_run_at else "no run "
        info = Text.assemble(
            last,
            _status(job.last_status) if job.last_status else "",
            f"   next expected {_when(job.next_expected_at)}" if job.next_expected_at else "",
            f"   {job.run_count} runs in range",
            ""
            if job.tolerance_s is not None or not job.schedule
            else "   (schedule not understood: missed ticks not computed)",
            style="dim",
        )
        strip = Text(overflow="fold")
        for tick in job.ticks:
            mark, style = _tick_mark(tick)
            strip.append(mark, style=style)
        if job.ticks_truncated:
            strip.append(" (older ticks not shown)", style="dim")
        table = _table("", expand=False)
        for col in ("due", "started", "run", "status"):
            table.add_column(col, no_wrap=True)
        table.add_column("note", overflow="fold")
        for tick in job.ticks[-ticks:]:
            if tick.missed:
                table.add_row(
                    _when(tick.expected_at or ""),
                    "—",
                    "—",
                    "—",
                    Text("MISSED: no run started", style="bold red"),
                )
                continue
            more = len(tick.run_ids) - 1
            table.add_row(
                _when(tick.expected_at) if tick.expected_at else "—",
                _when(tick.started_at or ""),
                short(tick.run_id or "", full_ids),
                _status(tick.status or ""),
                f"{more + 1} runs (retried)" if more else "",
            )
        if not job.ticks:
            note = Text("no tick in range: its runs were not started by a schedule", style="dim")
            parts += [head, info, note, Text("")]
            continue
        parts += [head, info, strip, table, Text("")]
    return Group(*parts)


def calls_table(page: Page[CallRow], full_ids: bool = False, width: int = 80) -> Table:
    wide = _wide(width, full_ids)
    table = _table("HTTP calls (UTC)", expand=True)
    table.add_column("start", no_wrap=True)
    table.add_column("id", no_wrap=True)
    if wide:
        table.add_column("run", no_wrap=True)
        table.add_column("connector", overflow="fold")
    table.add_column("call", no_wrap=True)
    table.add_column("took", justify="right", no_wrap=True)
    table.add_column("url", overflow="fold", ratio=1)
    table.add_column("cause", overflow="fold")
    for c in page.items:
        cells: list[str | Text] = [_when(c.start), short(c.call_id, full_ids)]
        if wide:
            cells += [short(c.run_id, full_ids), c.connector]
        cells += [
            Text.assemble(f"{c.method} ", _http_status(c.http_status, c.failure_cause)),
            _ms(c.duration_ms),
            _bare_url(c.url),
            Text(c.failure_cause, style="red"),
        ]
        table.add_row(*cells)
    return table


def search_table(result: SearchResult, full_ids: bool = False) -> Table:
    title = f"Search {result.query!r}" + (f" in run {short(result.scope, full_ids)}" if result.scope else "")
    table = _table(title)
    if result.scope:
        for col in ("start", "kind", "span"):
            table.add_column(col, no_wrap=True)
        table.add_column("name", overflow="fold")
        table.add_column("matched", overflow="fold")
        for s in result.spans:
            table.add_row(_when(s.start), s.kind, short(s.span_id, full_ids), s.name, ", ".join(s.matched))
        return table
    for col in ("start", "run"):
        table.add_column(col, no_wrap=True)
    table.add_column("connector", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("matched", overflow="fold")
    for h in result.runs:
        table.add_row(
            _when(h.run.start),
            short(h.run.run_id, full_ids),
            h.run.connector,
            _status(h.run.status),
            ", ".join(h.matched),
        )
    return table


def sql_table(result: SqlResult) -> Table:
    table = Table(
        caption=f"{result.row_count} rows{' (truncated)' if result.truncated else ''},"
        f" read {result.stats.read_rows} rows / {result.stats.read_bytes} bytes",
        box=box.SIMPLE_HEAD,
    )
    for col in result.columns:
        table.add_column(f"{col.name}\n[dim]{col.type}[/dim]", overflow="fold")
    for row in result.rows:
        table.add_row(*["NULL" if v is None else str(v) for v in row])
    return table


def logs_table(page: Page[LogRow], full_ids: bool = False, width: int = 80) -> Table:
    wide = _wide(width, full_ids)
    table = _table("Logs (UTC)", expand=True)
    table.add_column("time", no_wrap=True)
    table.add_column("level", no_wrap=True)
    table.add_column("run", no_wrap=True)
    table.add_column("stream", no_wrap=True)
    if wide:
        table.add_column("connector", overflow="fold")
        table.add_column("logger", overflow="fold")
    table.add_column("message", overflow="fold", ratio=1)
    for row in page.items:
        level = row.severity_text or str(row.severity_number)
        style = "red" if row.severity_number >= 17 else "yellow" if row.severity_number >= 13 else ""
        cells: list[str | Text] = [
            _when(row.timestamp),
            Text(level, style=style),
            short(row.run_id, full_ids) or "—",
            Text(row.stream, style="" if row.stream == sc.LOG_STREAM_APP else "magenta"),
        ]
        if wide:
            cells += [row.connector, row.logger]
        cells.append(row.body)
        table.add_row(*cells)
    return table


def entities_table(page: Page[EntityRow], full_ids: bool = False, width: int = 80) -> Table:
    wide = _wide(width, full_ids)
    table = _table("Entities", expand=True)
    if wide:
        table.add_column("entity", no_wrap=True)
        table.add_column("step", overflow="fold")
    table.add_column("type", overflow="fold")
    table.add_column("external id", overflow="fold")
    table.add_column("internal id", overflow="fold")
    table.add_column("action", no_wrap=True)
    table.add_column("took", justify="right", no_wrap=True)
    table.add_column("reason / cause", overflow="fold", ratio=1)
    for e in page.items:
        why = " · ".join(x for x in (e.reason, e.failure_cause) if x)
        cells: list[str | Text] = []
        if wide:
            cells += [short(e.entity_id, full_ids), e.step]
        cells += [
            e.type,
            e.external_id,
            e.internal_id or "—",
            Text(e.action, style="red" if e.action == sc.EntityAction.FAIL.value else ""),
            _ms(e.duration_ms),
            Text(why, style="red" if e.failure_cause else ""),
        ]
        table.add_row(*cells)
    return table


def faults_table(page: FaultPage, full_ids: bool = False, width: int = 80) -> Group:
    wide = _wide(width, full_ids)
    table = _table("Root faults (UTC)", expand=True)
    table.add_column("time", no_wrap=True)
    table.add_column("run", no_wrap=True)
    if wide:
        table.add_column("connector", overflow="fold")
    table.add_column("cause", no_wrap=True)
    table.add_column("http", no_wrap=True)
    table.add_column("error", overflow="fold", ratio=1)
    for f in page.items:
        cells: list[str | Text] = [_when(f.timestamp), short(f.run_id, full_ids)]
        if wide:
            cells.append(f.connector)
        where = f" ({f.uri})" if f.uri else ""
        cells += [
            Text(f.cause, style="red"),
            "—" if f.status_code is None else str(f.status_code),
            f"{f.type}: {f.message[:MAX_MESSAGE]}{where}",
        ]
        table.add_row(*cells)
    groups = page.groups

    def line(label: str, items: Iterable[tuple[str, int]]) -> str:
        return f"{label}: " + (", ".join(f"{k or '—'} {v}" for k, v in items) or "none")

    summary = Text(
        "\n".join(
            (
                line("by cause", ((g.key, g.count) for g in groups.by_cause)),
                line("by host", ((g.key, g.count) for g in groups.by_host)),
                line("by status", ((g.key, g.count) for g in groups.by_status)),
            )
        ),
        style="dim",
    )
    return Group(table, summary)


def _call_label(call: CallRow, full_ids: bool) -> Text:
    failed = call.status == "error" or (call.http_status or 0) >= 400
    return Text.assemble(
        (f"{call.method} ", "bold" if failed else ""),
        _http_status(call.http_status, call.failure_cause),
        f" {_ms(call.duration_ms)} ",
        (short(call.call_id, full_ids), "cyan"),
        f" {_bare_url(call.url)}",
        (f"  {call.failure_cause}" if call.failure_cause else "", "red"),
        style="" if failed else "dim",
    )


def run_tree(
    detail: RunDetail,
    pages: dict[str, list[PageRow]],
    calls: Iterable[CallRow],
    trace: Trace | None = None,
    full_ids: bool = False,
) -> Tree:
    """run → steps → pages and calls in time order, every call in its place, then the root faults.

    A call sits under its page; a call made directly under a step (a login POST, a timed-out
    request) under the step; a call under an entity under that entity's page. `trace` (the
    run's spans) gives each call's chain of parents; without it a call whose parent is
    neither a page nor a step goes under the run.
    """
    r = detail.run
    root = Tree(
        Text.assemble(
            (f"run {short(r.run_id, full_ids)} ", "bold"),
            _status(r.status),
            f"  {r.connector}" + (f"/{r.tenant}" if r.tenant else ""),
            f"  {_when(r.start)}  {_ms(r.duration_ms)}",
            (f"  {r.failure_cause}" if r.failure_cause else "", "red"),
        )
    )
    parents = {s.span_id: s.parent_id for s in trace.spans} if trace else {}
    page_ids = {p.page_id for ps in pages.values() for p in ps}
    step_ids = {s.step_id for s in detail.steps}
    placed: dict[str, list[CallRow]] = {}
    for call in calls:
        at, seen = call.parent_id, 0
        while at and at not in page_ids and at not in step_ids and seen < 64:
            at, seen = parents.get(at, ""), seen + 1
        placed.setdefault(at if at in page_ids or at in step_ids else "", []).append(call)

    def add_calls(node: Tree, items: list[CallRow]) -> None:
        for call in sorted(items, key=lambda c: c.start_ns):
            node.add(_call_label(call, full_ids))

    for step in detail.steps:
        c = step.counters
        node = root.add(
            Text.assemble(
                (f"step {step.name} ", "bold"),
                _status(step.status),
                f"  {_ms(step.duration_ms)}  fetched {c.fetched} created {c.created}"
                f" updated {c.updated} failed {c.failed}",
                ("  rate-limited" if step.rate_limited else "", "yellow"),
                (f"  {step.failure_cause}" if step.failure_cause else "", "red"),
            )
        )
        children: list[tuple[int, PageRow | CallRow]] = [(p.start_ns, p) for p in pages.get(step.step_id, [])]
        children += [(call.start_ns, call) for call in placed.get(step.step_id, [])]
        for _, child in sorted(children, key=lambda x: x[0]):
            if isinstance(child, CallRow):
                node.add(_call_label(child, full_ids))
                continue
            p_node = node.add(
                Text.assemble(
                    f"page {child.number if child.number is not None else '?'}  ",
                    _http_status(child.http_status, child.failure_cause),
                    f"  {_ms(child.duration_ms)}",
                    f"  resends {child.resend_count}" if child.resend_count else "",
                    f"  fetched {child.counters.fetched}",
                    (f"  {child.failure_cause}" if child.failure_cause else "", "red"),
                )
            )
            add_calls(p_node, placed.get(child.page_id, []))
    add_calls(root, placed.get("", []))
    for fault in detail.faults:
        root.add(Text(f"fault [{fault.cause}] {fault.type}: {fault.message_short}", style="red"))
    return root


def _body(message: HttpMessage) -> RenderableType:
    if message.body is None:
        return Text("(hidden: payloads need an admin key)", style="dim")
    if not message.body:
        return Text("(empty body)", style="dim")
    try:
        parsed = json.loads(message.body)
    except ValueError:
        body: RenderableType = Text(message.body, overflow="fold")
    else:
        pretty = JSON.from_data(parsed, indent=2)
        pretty.text.no_wrap = False  # long strings (error messages) wrap instead of being cut
        pretty.text.overflow = "fold"
        body = pretty
    if message.body_truncated:
        return Group(body, Text("… (truncated when stored)", style="yellow"))
    return body


def _headers(message: HttpMessage) -> RenderableType:
    if message.headers is None:
        return Text("(headers hidden)", style="dim")
    if not message.headers:
        return Text("(no headers)", style="dim")
    text = Text(overflow="fold")
    for k, v in sorted(message.headers.items()):
        text.append(k, style="bold")
        text.append(f": {v}\n")
    text.rstrip()
    return text


def call_view(detail: CallDetail, full_ids: bool = False) -> Group:
    """One call: what it was, why it failed in plain words, then request | response side by side."""
    c, t, by = detail.call, detail.timing, detail.triggered_by
    head = Text.assemble(
        (f"{c.method} ", "bold"),
        _http_status(c.http_status, c.failure_cause),
        f"  {_ms(t.duration_ms)}  ",
        (c.url, ""),
    )
    where = [f"call {short(c.call_id, full_ids)}", f"run {short(c.run_id, full_ids)}", c.connector]
    if by.step:
        where.append(f"step {by.step}")
    if by.page_number is not None:
        where.append(f"page {by.page_number}")
    if by.entity_external_id:
        where.append(f"entity {by.entity_external_id}")
    lines: list[RenderableType] = [
        head,
        Text("  ".join(where), style="dim"),
        Text(f"at {t.start[:10]} {t.start[11:23]} UTC", style="dim"),
    ]
    if c.resend_count:
        lines.append(Text(f"resent {c.resend_count} time(s)", style="yellow"))
    if c.failure_cause:
        lines.append(Text(f"cause {cause_words(c.failure_cause)}", style="red"))
    if c.status_message:
        lines.append(Text(c.status_message, style="red"))
    sides = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False, show_edge=False)
    sides.add_column(f"request  {detail.request.method}", ratio=1, overflow="fold")
    status = "—" if detail.response.status is None else str(detail.response.status)
    sides.add_column(f"response  {status}", ratio=1, overflow="fold")
    resp = detail.response
    if resp.status is None and not resp.headers and not resp.body:
        nothing = f"(no response: {c.failure_cause or 'the call failed'})"
        sides.add_row(_headers(detail.request), Text(nothing, style="red"))
        sides.add_row("", "")
        sides.add_row(_body(detail.request), "")
    else:
        sides.add_row(_headers(detail.request), _headers(resp))
        sides.add_row("", "")
        sides.add_row(_body(detail.request), _body(resp))
    lines.append(sides)
    if detail.curl:
        lines.append(
            Panel(Text(detail.curl, overflow="fold"), title="curl", title_align="left", box=box.SIMPLE)
        )
    return Group(*lines)
