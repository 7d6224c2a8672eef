"""The CLI renderers, fed with the API's own answers on the shared dataset (no terminal, no HTTP server)."""

from __future__ import annotations

from rich.console import Console

from connlog.instrumentation import semconv as sc
from connlog.query_api import cli_views, paths
from connlog.query_api.models import (
    CallDetail,
    CallRow,
    EntityRow,
    FaultPage,
    LogRow,
    Page,
    PageRow,
    RunDetail,
    RunSummary,
    SearchResult,
    SqlResult,
    Trace,
)
from tests.api_env import ADMIN, VIEWER, ApiEnv


def _text(renderable: object, width: int = 250) -> str:
    console = Console(record=True, width=width)
    console.print(renderable)
    return console.export_text()


def _failed(api: ApiEnv) -> str:
    return next(t.run_id for t in api.truth if t.status == "error" and t.steps)


def _tree_parts(api: ApiEnv, rid: str) -> tuple[RunDetail, dict[str, list[PageRow]], list[CallRow], Trace]:
    detail = RunDetail.model_validate(api.ok(paths.api(paths.RUN, run_id=rid)))
    pages = {
        s.step_id: Page[PageRow]
        .model_validate(api.ok(paths.api(paths.RUN_PAGES, run_id=rid, step_id=s.step_id), limit=500))
        .items
        for s in detail.steps
    }
    calls = [CallRow.model_validate(c) for c in api.all_items(paths.api(paths.CALLS), run=rid, limit=500)]
    return detail, pages, calls, Trace.model_validate(api.ok(paths.api(paths.TRACE, trace_id=rid)))


def test_tables_use_short_ids_and_fit_eighty_columns(api: ApiEnv) -> None:
    runs = Page[RunSummary].model_validate(api.ok(paths.api(paths.RUNS), limit=5))
    out = _text(cli_views.runs_table(runs), 80)
    assert all(r.run_id[:8] in out and r.run_id not in out for r in runs.items)
    assert max(len(line) for line in out.splitlines()) <= 80
    assert all(r.run_id in _text(cli_views.runs_table(runs, full_ids=True)) for r in runs.items)
    wide = _text(cli_views.runs_table(runs, width=200), 200)
    assert "tenant" in wide and "tenant" not in out
    calls = Page[CallRow].model_validate(api.ok(paths.api(paths.CALLS), limit=5))
    out = _text(cli_views.calls_table(calls), 80)
    assert all(c.call_id[:8] in out for c in calls.items)
    logs = Page[LogRow].model_validate(api.ok(paths.api(paths.LOGS), limit=20, severity="warn"))
    out = _text(cli_views.logs_table(logs), 80)
    assert logs.items and all(r.body[:10] in out for r in logs.items)
    faults = FaultPage.model_validate(api.ok(paths.api(paths.FAULTS), limit=20))
    out = _text(cli_views.faults_table(faults), 80)
    assert faults.items and all(f.run_id[:8] in out and f.cause in out for f in faults.items)
    assert "by cause:" in out
    rid = _failed(api)
    ents = Page[EntityRow].model_validate(api.ok(paths.api(paths.RUN_ENTITIES, run_id=rid), limit=50))
    out = _text(cli_views.entities_table(ents), 80)
    assert all(e.external_id in out and e.action in out for e in ents.items)


def test_search_and_sql(api: ApiEnv) -> None:
    truth = next(t for t in api.truth if t.external_ids)
    ext = truth.external_ids[0]
    hits = SearchResult.model_validate(api.ok(paths.api(paths.SEARCH), q=ext))
    out = _text(cli_views.search_table(hits))
    assert "external_id" in out and truth.run_id[:8] in out
    inside = SearchResult.model_validate(api.ok(paths.api(paths.SEARCH), q=ext, scope=truth.run_id))
    assert ext in _text(cli_views.search_table(inside)) or inside.spans
    result = api.client.post(
        paths.api(paths.SQL), json={"query": "SELECT 1 AS one"}, headers={"Authorization": f"Bearer {ADMIN}"}
    )
    assert "rows" in _text(cli_views.sql_table(SqlResult.model_validate(result.json())))


def test_run_tree_places_every_call(api: ApiEnv) -> None:
    rid = _failed(api)
    detail, pages, calls, trace = _tree_parts(api, rid)
    out = _text(cli_views.run_tree(detail, pages, calls, trace))
    assert rid[:8] in out and all(f"step {s.name}" in out for s in detail.steps) and "fault [" in out
    assert all(c.call_id[:8] in out for c in calls)


def test_run_tree_shows_a_call_made_directly_under_a_step(api: ApiEnv) -> None:
    """A login POST or a timed-out call has the step (not a page) as its parent."""
    rid = _failed(api)
    detail, pages, calls, trace = _tree_parts(api, rid)
    step = detail.steps[-1]
    direct = calls[0].model_copy(
        update={
            "call_id": "feedfacecafe0001",
            "parent_id": step.step_id,
            "http_status": None,
            "failure_cause": "timeout",
            "status": "Error",
            "method": "POST",
            "start_ns": step.start_ns,
        }
    )
    lines = _text(cli_views.run_tree(detail, pages, [*calls, direct], trace)).splitlines()
    at = next(i for i, line in enumerate(lines) if "feedface" in line)
    assert "POST timeout" in lines[at]
    # Its nearest labelled ancestor is the step: one level of indentation below it, no page between.
    step_line = next(i for i, line in enumerate(lines) if f"step {step.name}" in line)
    indent = lines[at].index("POST")
    step_indent = lines[step_line].index("step")
    assert step_line < at and indent == step_indent + 4
    # A call under an entity goes under that entity's page, found through the trace's parents.
    entity = next((s for s in trace.spans if s.role == sc.Role.ENTITY.value), None)
    if entity is not None:
        under = calls[0].model_copy(update={"call_id": "feedfacecafe0002", "parent_id": entity.span_id})
        out = _text(cli_views.run_tree(detail, pages, [*calls, under], trace))
        line = next(x for x in out.splitlines() if "feedface" in x)
        assert line.index("feedface") > step_indent + 8  # below a page, not at step level


def test_call_view_shows_both_sides_and_the_cause_in_words(api: ApiEnv) -> None:
    bad = next(
        c for c in api.all_items(paths.api(paths.CALLS), status=">=400", limit=500) if c["failure_cause"]
    )
    url = paths.api(paths.CALL, call_id=bad["call_id"])
    detail = CallDetail.model_validate(api.ok(url, run=bad["run_id"]))
    out = _text(cli_views.call_view(detail), 80)
    assert max(len(line) for line in out.splitlines()) <= 80
    assert f"call {bad['call_id'][:8]}" in out and "request" in out and "response" in out
    assert cli_views.CAUSE_WORDS[bad["failure_cause"]][:30] in out.replace("\n", " ")
    if detail.response.headers:
        assert next(iter(detail.response.headers)) in out
    hidden = CallDetail.model_validate(api.ok(url, key=VIEWER, run=bad["run_id"]))
    assert "payloads need an admin key" in _text(cli_views.call_view(hidden))


def test_call_view_of_a_call_without_response(api: ApiEnv) -> None:
    """A timed-out call has no status, headers or body on the response side: say so once."""
    calls = api.all_items(paths.api(paths.CALLS), failure_cause="timeout", limit=500)
    assert calls, "the dataset has timed-out calls"
    c = calls[0]
    detail = CallDetail.model_validate(api.ok(paths.api(paths.CALL, call_id=c["call_id"]), run=c["run_id"]))
    out = _text(cli_views.call_view(detail), 80)
    assert "GET timeout" in out or f"{c['method']} timeout" in out
    assert "(no response: timeout)" in out and "cause timeout: no answer in time" in out
