"""The viewer in a real Chromium (Playwright), on data sent through the real collector into chDB.

Every screen is compared with what was sent (counters, statuses, URLs, headers, bodies,
redaction markers); the tests also write the screenshots README and docs/viewer.md show.
One browser for the module; one signed-in context per key.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from connlog.instrumentation import semconv as sc
from tests.viewer.support import (
    ADMIN,
    HOSTILE_BODY_TEXT,
    HOSTILE_STEP,
    HOSTILE_URL,
    SCOPED,
    SCOPED_CONNECTOR,
    VIEWER,
    ViewerEnv,
    page_as,
    shot,
)

WEEK = "range=7d"


@pytest.fixture(scope="module")
def admin(browser: Browser, viewer_env: ViewerEnv) -> Iterator[Page]:
    with page_as(browser, viewer_env.url, ADMIN, "signin.png") as page:
        yield page


@pytest.fixture(scope="module")
def viewer(browser: Browser, viewer_env: ViewerEnv) -> Iterator[Page]:
    with page_as(browser, viewer_env.url, VIEWER) as page:
        yield page


@pytest.fixture(scope="module")
def scoped(browser: Browser, viewer_env: ViewerEnv) -> Iterator[Page]:
    with page_as(browser, viewer_env.url, SCOPED) as page:
        yield page


def _cells(page: Page, selector: str) -> list[str]:
    return [t.strip() for t in page.locator(selector).all_inner_texts()]


def _target(env: ViewerEnv) -> tuple[Any, Any, Any, Any, Any]:
    """A finished run with an entity that made a call: (truth, step, page, entity, call) sent."""
    for truth in env.truth:
        if truth.status != "ok" or truth.run_id == env.hostile_run:
            continue
        run_span = next(
            s for s in env.sent.by_trace[truth.run_id] if s.attrs.get(sc.ROLE) == sc.Role.RUN.value
        )
        for step in env.children(run_span.span_id, sc.Role.STEP.value):
            for pg in env.children(step.span_id, sc.Role.PAGE.value):
                for ent in env.children(pg.span_id, sc.Role.ENTITY.value):
                    calls = env.children(ent.span_id, sc.Role.HTTP.value)
                    if calls:
                        return truth, step, pg, ent, calls[0]
    raise AssertionError("dataset has no entity with a call")


def test_drill_down_from_runs_list_to_a_call_shows_what_was_sent(admin: Page, viewer_env: ViewerEnv) -> None:
    env, page = viewer_env, admin
    truth, step, pg, ent, call = _target(env)
    page.goto(f"{env.url}/?{WEEK}")
    row = page.locator(f"tr[data-run='{truth.run_id}']")
    expect(row).to_have_attribute("data-status", "ok")
    cells = [c.strip() for c in row.locator("td").all_inner_texts()]
    assert cells[1] == truth.connector and cells[2] == truth.tenant and cells[6] == truth.job_id
    assert cells[7] == ""  # no end user on the generated runs
    assert [int(c) for c in cells[10:17]] == [truth.counters[c.value] for c in sc.Counter]
    assert cells[18] == "0"
    shot(page, "runs-list.png")

    row.locator("td").first.locator("a").click()
    page.wait_for_url(f"**/runs/{truth.run_id}")
    assert _cells(page, "table.steps tbody tr td:first-child") == truth.steps
    shot(page, "run.png")

    page.click(f"a[href='/runs/{truth.run_id}/steps/{step.span_id}']")
    page.wait_for_url(f"**/steps/{step.span_id}")
    sent_pages = env.children(step.span_id, sc.Role.PAGE.value)
    assert _cells(page, "table.pages tbody tr td:first-child") == [
        f"page {p.attrs[sc.PAGE_NUMBER]}" for p in sent_pages
    ]
    shot(page, "step-pages.png")

    page.click(f"a[href$='/pages/{pg.span_id}']")
    page.wait_for_url(f"**/pages/{pg.span_id}")
    sent_entities = env.children(pg.span_id, sc.Role.ENTITY.value)
    assert _cells(page, "table.entities tbody tr td:first-child") == [
        e.attrs[sc.ENTITY_EXTERNAL_ID] for e in sent_entities
    ]
    actions = _cells(page, "table.entities tbody tr td:nth-child(4)")
    assert actions == [e.attrs[sc.ENTITY_ACTION] for e in sent_entities]
    page_calls = env.children(pg.span_id, sc.Role.HTTP.value)
    assert sorted(_cells(page, "table.calls tbody td.url")) == sorted(
        c.attrs[sc.URL_FULL] for c in page_calls
    )
    shot(page, "page-entities.png")

    page.click(f"a[href*='/entities/{ent.span_id}']")
    page.wait_for_url(f"**/entities/{ent.span_id}*")
    assert _cells(page, "table.calls tbody td.url") == [call.attrs[sc.URL_FULL]]
    crumbs = page.locator("nav.crumbs").inner_text()
    assert f"step {step.attrs[sc.STEP_NAME]}" in crumbs and ent.attrs[sc.ENTITY_EXTERNAL_ID] in crumbs
    shot(page, "entity.png")

    page.locator("table.calls tbody td.url a").first.click()
    page.wait_for_url(f"**/calls/{call.span_id}*")
    assert page.locator("#call-url").inner_text() == call.attrs[sc.URL_FULL]
    assert page.locator("#response .http").first.inner_text() == str(call.attrs[sc.HTTP_RESPONSE_STATUS_CODE])
    auth_cell = page.locator("#request table.headers tr:has(th:text-is('authorization')) td")
    expect(auth_cell).to_have_text(sc.redacted("header"))
    expect(auth_cell).to_have_class("redacted")
    shown = page.locator("pre[data-body='response-text']").text_content() or ""
    assert json.loads(shown) == json.loads(call.attrs[sc.HTTP_RESPONSE_BODY])
    assert json.loads(page.locator("pre[data-body='request-text']").text_content() or "") == json.loads(
        call.attrs[sc.HTTP_REQUEST_BODY]
    )
    assert page.locator("#response .json-tree details").count() >= 1  # foldable
    curl = page.locator("#curl-text").inner_text()
    assert curl.startswith(f"curl -X {call.name}") and sc.redacted("header") in curl
    # Links back to every level that triggered it.
    for href in (
        f"/runs/{truth.run_id}",
        f"/steps/{step.span_id}",
        f"/pages/{pg.span_id}",
        f"/entities/{ent.span_id}",
    ):
        assert page.locator(f".trigger a[href*='{href}']").count() >= 1, href
    shot(page, "call-detail.png")


def test_search_from_the_list_and_inside_a_run(admin: Page, viewer_env: ViewerEnv) -> None:
    env, page = viewer_env, admin
    truth, _, _, ent, _ = _target(env)
    ext = ent.attrs[sc.ENTITY_EXTERNAL_ID]
    touched = {t.run_id for t in env.truth if ext in t.external_ids}
    page.goto(f"{env.url}/?{WEEK}")
    page.fill("#search-box", ext)
    page.press("#search-box", "Enter")
    page.wait_for_url("**/search?*")
    assert {r.get_attribute("data-run") for r in page.locator("tr.run-row").all()} == touched
    shot(page, "search-runs.png")
    page.goto(f"{env.url}/runs/{truth.run_id}")
    page.fill("#search-box", ext)
    page.press("#search-box", "Enter")
    page.wait_for_url(f"**/search?*run={truth.run_id}*")
    kinds = _cells(page, "table.hits tbody tr td:first-child")
    assert "entity" in kinds
    assert page.locator(f"table.hits a[href*='{ent.span_id}']").count() >= 1
    shot(page, "search-in-run.png")


def test_filters_change_the_rows(admin: Page, viewer_env: ViewerEnv) -> None:
    env, page = viewer_env, admin
    page.goto(f"{env.url}/?{WEEK}&status=error")
    failed = {t.run_id for t in env.truth if t.status == "error"}
    assert len(failed) >= 2
    assert {r.get_attribute("data-run") for r in page.locator("tr.run-row").all()} == failed
    page.fill("input[name=connector]", "chargebee")
    page.click("form#run-filters button[type=submit]")
    page.wait_for_url("**connector=chargebee*")
    assert "status=error" in page.url and "range=7d" in page.url  # the URL holds every filter
    want = {t.run_id for t in env.truth if t.status == "error" and t.connector == "chargebee"}
    assert {r.get_attribute("data-run") for r in page.locator("tr.run-row").all()} == want
    page.goto(f"{env.url}/?{WEEK}&failure_cause=auth")
    causes = set(_cells(page, "tr.run-row td:last-child"))
    assert causes == {"auth"} or (not causes and not any(t.failure_cause == "auth" for t in env.truth))


def test_export_links_download_the_filtered_rows(admin: Page, viewer_env: ViewerEnv) -> None:
    env, page = viewer_env, admin
    page.goto(f"{env.url}/?{WEEK}&status=error")
    assert "at most 1,000 rows" in page.locator("p.exports").inner_text()
    with page.expect_download() as dl:
        page.click("a[href^='/export/runs.csv']")
    rows = list(csv.reader(io.StringIO(open(dl.value.path(), encoding="utf-8").read())))
    ids = {r[1] for r in rows[1:]}
    assert ids == {t.run_id for t in env.truth if t.status == "error"}
    with page.expect_download() as dl:
        page.click("a[href^='/export/runs.pdf']")
    assert open(dl.value.path(), "rb").read(5) == b"%PDF-"


def test_viewer_key_sees_no_headers_or_bodies(viewer: Page, viewer_env: ViewerEnv) -> None:
    env, page = viewer_env, viewer
    truth, _, _, _, call = _target(env)
    page.goto(f"{env.url}/calls/{call.span_id}?run={truth.run_id}")
    expect(page.locator("#payload-hidden")).to_contain_text("hidden for your role")
    html = page.content()
    body = json.loads(call.attrs[sc.HTTP_RESPONSE_BODY])
    assert str(body["notes"][0]) not in html and sc.redacted("header") not in html
    assert page.locator("pre[data-body]").count() == 0
    shot(page, "call-detail-viewer.png")
    page.goto(f"{env.url}/faults?{WEEK}")
    assert "content-type" not in page.content()
    resp = page.request.get(f"{env.url}/export/calls.csv?{WEEK}&run={truth.run_id}")
    assert resp.status == 200 and str(body["notes"][0]) not in resp.text()


def test_scoped_key_finds_nothing_of_another_connector(scoped: Page, viewer_env: ViewerEnv) -> None:
    env, page = viewer_env, scoped
    mine = {t.run_id for t in env.truth if t.connector == SCOPED_CONNECTOR}
    other = next(t for t in env.truth if t.connector != SCOPED_CONNECTOR and t.external_ids)
    page.goto(f"{env.url}/?{WEEK}")
    assert {r.get_attribute("data-run") for r in page.locator("tr.run-row").all()} == mine
    for path in (f"/runs/{other.run_id}", f"/runs/{other.run_id}/trace", f"/search?q=x&run={other.run_id}"):
        resp = page.goto(env.url + path)
        assert resp is not None and resp.status == 404, path
        assert other.connector not in page.locator("main").inner_text()
    other_call = next(
        s for s in env.sent.by_trace[other.run_id] if s.attrs.get(sc.ROLE) == sc.Role.HTTP.value
    )
    resp = page.goto(f"{env.url}/calls/{other_call.span_id}")
    assert resp is not None and resp.status == 404
    page.goto(f"{env.url}/search?q={other.external_ids[0]}")
    assert page.locator("tr.run-row").count() == 0
    for kind in ("runs", "calls", "logs"):
        text = page.request.get(f"{env.url}/export/{kind}.csv?{WEEK}&connector={other.connector}").text()
        assert other.run_id not in text and len(text.strip().splitlines()) == 1, kind
    page.goto(f"{env.url}/calls?{WEEK}")
    assert set(_cells(page, "table.calls tbody tr td:nth-child(2)")) == {SCOPED_CONNECTOR}
    page.goto(f"{env.url}/connectors")
    assert _cells(page, ".card h2") == [SCOPED_CONNECTOR]


def test_hostile_names_urls_and_bodies_render_as_text(admin: Page, viewer_env: ViewerEnv) -> None:
    env, page = viewer_env, admin
    run = env.hostile_run
    hostile_call = next(
        s
        for s in env.sent.by_trace[run]
        if s.attrs.get(sc.ROLE) == sc.Role.HTTP.value and s.attrs[sc.URL_FULL] == HOSTILE_URL
    )
    page.goto(f"{env.url}/runs/{run}")
    assert HOSTILE_STEP in _cells(page, "table.steps tbody tr td:first-child")
    assert HOSTILE_URL in _cells(page, "table.calls td.url")
    page.goto(f"{env.url}/runs/{run}/trace")
    assert page.get_by_text(HOSTILE_STEP).count() >= 1
    page.goto(f"{env.url}/calls/{hostile_call.span_id}?run={run}")
    assert page.locator("#call-url").inner_text() == HOSTILE_URL
    assert HOSTILE_BODY_TEXT in (page.locator("pre[data-body='request-text']").text_content() or "")
    assert "</pre><script>window.__pwned=" in (page.locator("#response .json-tree").text_content() or "")
    page.goto(f"{env.url}/search?q=x&run={run}")
    for path in (
        f"/runs/{run}",
        f"/runs/{run}/trace",
        f"/calls/{hostile_call.span_id}?run={run}",
        f"/?{WEEK}",
    ):
        page.goto(env.url + path)
        assert page.evaluate("typeof window.__pwned") == "undefined", path
        assert page.locator("img[src=x]").count() == 0


def test_trace_waterfall_bars_filter_and_first_error(admin: Page, viewer_env: ViewerEnv) -> None:
    env, page = viewer_env, admin
    failed = max((t for t in env.truth if t.status == "error"), key=lambda t: t.span_count)
    page.goto(f"{env.url}/runs/{failed.run_id}/trace")
    assert page.locator(".span-row").count() == failed.span_count
    assert page.locator(".span-row.span-error").count() >= 1
    page.click("#first-error")
    expect(page.locator(".span-row.span-error.hit").first).to_be_visible()
    shot(page, "trace.png")
    page.fill("#span-filter", "GET")
    visible = [r for r in page.locator(".span-row").all() if r.is_visible()]
    assert visible and len(visible) < failed.span_count
    assert all("get" in (r.text_content() or "").lower() for r in visible)
    page.fill("#span-filter", "")
    page.click("#collapse-all")
    assert page.locator(".span-row:visible").count() < failed.span_count


def test_faults_logs_and_connectors(admin: Page, viewer_env: ViewerEnv) -> None:
    env, page = viewer_env, admin
    page.goto(f"{env.url}/faults?{WEEK}")
    causes = set(_cells(page, "table.faults tbody tr td:nth-child(7)"))
    assert causes and causes <= {t.failure_cause for t in env.truth if t.failure_cause}
    long = page.locator("table.faults details summary").first
    if long.count():
        assert len(long.inner_text()) <= 66
    shot(page, "faults.png")
    page.goto(f"{env.url}/logs?{WEEK}&severity=3")
    sev = set(_cells(page, "table.logs tbody tr td:nth-child(3)"))
    want = sum(1 for log in env.sent.logs if log.severity_number >= 17)
    assert sev == {"ERROR"} and page.locator("table.logs tbody tr").count() == min(want, 50)
    page.locator("table.logs a:text-is('run')").first.click()
    page.wait_for_url("**/runs/*")
    _shot_logs = page.url
    assert "/runs/" in _shot_logs
    page.goto(f"{env.url}/logs?{WEEK}")
    shot(page, "logs.png")
    page.goto(f"{env.url}/connectors")
    assert sorted(_cells(page, ".card h2")) == sorted({t.connector for t in env.truth})
    shot(page, "connectors.png")
    page.goto(f"{env.url}/jobs?range=7d")
    # Every generated run records the tick that fired it (`job_tick`), so each run of a job is
    # one tick of it, linking to the run (`list_jobs`); datagen records no schedule: none missed.
    ticks: dict[str, set[str]] = {}
    for t in env.truth:
        ticks.setdefault(f"{t.connector} · {t.job_id}", set()).add(f"/runs/{t.run_id}")
    shown = {
        r.get_attribute("data-job"): {str(a.get_attribute("href")) for a in r.locator("a.tick").all()}
        for r in page.locator("tr[data-job]").all()
    }
    assert shown == ticks
    assert page.locator(".tick-missed").count() == 0
    shot(page, "job-ticks.png")


def test_running_run_turns_finished_without_reload(admin: Page, viewer_env: ViewerEnv) -> None:
    env, page = viewer_env, admin
    page.goto(f"{env.url}/?range=24h")
    row = page.locator(f"tr[data-run='{env.live_run}']")
    expect(row).to_have_attribute("data-status", "running")
    expect(row).to_contain_text("running")
    expect(page.locator("#live-note")).to_be_visible()
    page.evaluate("window.__sameDocument = 42")
    env.finish_live_run()
    expect(row).to_have_attribute("data-status", "ok", timeout=20_000)
    assert page.evaluate("window.__sameDocument") == 42  # updated in place, not reloaded
