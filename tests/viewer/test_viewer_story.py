"""A record's timeline and the calls made directly under a run or a step, in Chromium, over
runs made with the real SDK (`story_env`, shared with tests/api/test_api_timeline.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from connlog.collector.http_thread import ThreadedServer
from tests.api.test_api_timeline import (
    FAIL_REASON,
    INTERNAL,
    OTHER_CONNECTOR,
    RECORD,
    SKIP_REASON,
    STORY,
    StoryEnv,
    story_env,
)
from tests.viewer.support import ADMIN, SCOPED, SCOPED_CONNECTOR, page_as, shot

__all__ = ["story_env"]  # the fixture, imported for pytest


@pytest.fixture(scope="module")
def story_url(story_env: StoryEnv) -> Iterator[str]:
    server = ThreadedServer(story_env.app, name="viewer-story")
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def admin(browser: Browser, story_url: str) -> Iterator[Page]:
    with page_as(browser, story_url, ADMIN) as page:
        yield page


def test_record_timeline_shows_each_runs_action_and_reason(
    admin: Page, story_url: str, story_env: StoryEnv
) -> None:
    page, runs = admin, story_env.runs
    page.goto(f"{story_url}/?range=24h")
    page.fill("#search-box", RECORD)
    page.press("#search-box", "Enter")
    page.wait_for_url("**/search?*")
    touches = page.locator("ol.timeline li.touch")
    expect(touches).to_have_count(len(STORY))
    # Newest first, one per run, each with its action, connector and run status.
    assert [t.get_attribute("data-run") for t in touches.all()] == list(reversed(runs))
    assert [t.get_attribute("data-action") for t in touches.all()] == [a for a, _ in reversed(STORY)]
    for touch, (_, connector) in zip(touches.all(), reversed(STORY), strict=True):
        assert touch.locator(".conn").inner_text() == connector
        expect(touch.locator(".run .status")).to_have_text("ok")
    skipped = page.locator(f"li.touch[data-run='{runs[2]}']")
    expect(skipped.locator(".why")).to_have_text(SKIP_REASON)
    failed = page.locator(f"li.touch[data-run='{runs[3]}']")
    expect(failed.locator(".why")).to_contain_text(FAIL_REASON)
    expect(failed.locator(".why .cause")).to_have_text("shape_mismatch")
    created = page.locator(f"li.touch[data-run='{runs[0]}']")
    expect(created.locator("a.record")).to_contain_text(f"{RECORD} → {INTERNAL}")
    shot(page, "record-timeline.png", full_page=True)
    # Each entry opens that run's record page.
    failed.locator("a.record").click()
    page.wait_for_url(f"**/runs/{runs[3]}/entities/*")
    expect(page.locator("table.kv")).to_contain_text(FAIL_REASON)
    expect(page.locator(".action-fail")).to_have_text("fail")


def test_scoped_key_timeline_leaves_out_other_connectors(browser: Browser, story_url: str) -> None:
    with page_as(browser, story_url, SCOPED) as page:
        page.goto(f"{story_url}/search?q={RECORD}")
        connectors = {c.strip() for c in page.locator("ol.timeline li.touch .conn").all_inner_texts()}
        assert connectors == {SCOPED_CONNECTOR} and OTHER_CONNECTOR not in page.locator("main").inner_text()


def test_calls_directly_under_the_run_and_a_step_are_shown_and_marked(
    admin: Page, story_url: str, story_env: StoryEnv
) -> None:
    page, urls, run = admin, story_env.urls, story_env.runs[0]
    page.goto(f"{story_url}/runs/{run}")
    direct = page.locator("table.direct-calls tbody tr")
    expect(direct).to_have_count(2)
    by_url = {r.locator("td.url").inner_text(): r for r in direct.all()}
    assert set(by_url) == {urls["refresh"], urls["login"]}
    expect(by_url[urls["refresh"]].locator(".flag.direct")).to_have_text("directly under run")
    expect(by_url[urls["login"]].locator(".flag.direct")).to_have_text("directly under step contacts")
    # Every call of the run, each placed: the page's and the record's calls are not marked direct.
    places = {
        r.locator("td.url").inner_text(): r.get_attribute("data-place")
        for r in page.locator("table.all-calls tbody tr").all()
    }
    assert places == {
        urls["refresh"]: "run",
        urls["login"]: "step",
        urls["page"]: "page",
        urls["record"]: "entity",
    }
    expect(page.locator("table.all-calls tr[data-place='entity'] .place")).to_have_text("record rec-7")
    shot(page, "run-direct-calls.png", full_page=True)
    # The step's page lists its own direct call (the login), not the run's refresh.
    page.locator("table.steps a").first.click()
    page.wait_for_url("**/steps/*")
    assert page.locator("table.calls tbody td.url").all_inner_texts() == [urls["login"]]
    # A run without such calls says so.
    page.goto(f"{story_url}/runs/{story_env.runs[1]}")
    expect(page.locator("#no-direct-calls")).to_be_visible()


def test_direct_calls_page_through_the_api_cursors(admin: Page, story_url: str, story_env: StoryEnv) -> None:
    """A run with more direct calls than a page of its table (`calls_limit=1`): each page holds
    one, "Older" follows the API's cursor to the next, and together they are every direct call."""
    page, urls, run = admin, story_env.urls, story_env.runs[0]
    page.goto(f"{story_url}/runs/{run}?calls_limit=1")
    seen: list[str] = []
    for _ in range(3):
        rows = page.locator("table.direct-calls tbody tr")
        expect(rows).to_have_count(1)
        seen.append(rows.locator("td.url").inner_text())
        older = page.locator("#direct-pager a[rel=next]")
        if not older.count():
            break
        older.click()
        page.wait_for_url("**calls_cursor=*")
    # Newest first, as the API lists them: the step's login, then the refresh made before it.
    assert seen == [urls["login"], urls["refresh"]]
    shot(page, "run-direct-calls-paged.png", full_page=True)
    page.locator("#direct-pager a", has_text="Newest").click()
    expect(page.locator("table.direct-calls tbody td.url")).to_have_text([seen[0]])
    # A forged cursor is refused with the page's own parameter named.
    resp = page.goto(f"{story_url}/runs/{run}?calls_cursor=forged")
    assert resp is not None and resp.status == 422
    assert "calls_cursor" in page.locator("main").inner_text()
