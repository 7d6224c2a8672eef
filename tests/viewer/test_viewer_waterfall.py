"""The trace waterfall of a run of more than 5,000 spans stays usable in Chromium (issue 14,
point 3): the page loads every span, the filter box narrows the rows, the error button
reveals and marks each error bar in turn (even inside a collapsed span), and collapse hides
children. Page size and server time are the benchmark's (`bench/viewer.py`), not asserted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from connlog import datagen
from connlog.collector.config import Settings
from connlog.query_api.timeutil import NS, now_ns
from tests.viewer.support import ADMIN, Served, page_as, served, shot

MIN_SPANS = 5_000


@pytest.fixture(scope="module")
def big() -> datagen.Dataset:
    """One successful run of three steps, 30 pages each of 40 records: about 5,200 spans, a few
    records failed (error spans) among them."""
    end = (now_ns() // (60 * NS)) * 60 * NS
    return datagen.generate(
        seed=3,
        runs=1,
        running=0,
        failure_rate=0.0,
        pages=(30, 30),
        entities=(40, 40),
        end_ns=end,
        span_days=0.01,
    )


@pytest.fixture(scope="module")
def big_env(base_settings: Settings, big: datagen.Dataset) -> Iterator[Served]:
    with served(base_settings, big, "waterfall") as srv:
        yield srv


@pytest.fixture(scope="module")
def page(browser: Browser, big_env: Served) -> Iterator[Page]:
    with page_as(browser, big_env.url, ADMIN) as p:
        yield p


def _visible(page: Page) -> int:
    return int(page.evaluate("document.querySelectorAll('#waterfall .span-row:not([hidden])').length"))


def test_waterfall_of_5000_spans_filters_jumps_to_errors_and_collapses(
    page: Page, big_env: Served, big: datagen.Dataset
) -> None:
    truth = big.runs[0]
    assert truth.span_count >= MIN_SPANS
    resp = page.goto(f"{big_env.url}/runs/{truth.run_id}/trace")
    assert resp is not None and resp.status == 200
    rows = page.locator("#waterfall .span-row")
    expect(rows).to_have_count(truth.span_count)
    expect(page.locator("#span-count")).to_have_text(f"{truth.span_count} of {truth.span_count} spans shown")
    errors = page.locator(".span-row.span-error")
    n_errors = errors.count()
    assert n_errors >= 2

    # Filter: only rows whose text has the words stay; clearing brings every row back.
    page.fill("#span-filter", "page 7")
    expect(page.locator("#span-count")).not_to_have_text(
        f"{truth.span_count} of {truth.span_count} spans shown"
    )
    shown = page.locator("#waterfall .span-row:not([hidden])")
    labels = [t.lower() for t in shown.locator(".span-label").all_inner_texts()]
    assert labels and len(labels) < truth.span_count and all("page 7" in t for t in labels)
    page.fill("#span-filter", "")
    expect(page.locator("#span-count")).to_have_text(f"{truth.span_count} of {truth.span_count} spans shown")

    # Collapse all: only the run and its children (steps, start marker) remain; each error is
    # still reachable.
    top = page.locator(".span-row[data-depth='0'], .span-row[data-depth='1']").count()
    assert top >= 1 + len(truth.steps)
    page.click("#collapse-all")
    assert _visible(page) == top
    page.click("#first-error")
    first = page.locator(".span-row.current")
    expect(first).to_have_count(1)
    expect(first).to_have_class("span-row span-error hit current")
    expect(first).to_be_in_viewport()
    assert first.get_attribute("data-id") == errors.first.get_attribute("data-id")
    expect(page.locator("#first-error")).to_have_text(f"Next error (1 of {n_errors})")
    shot(page, "trace-5000.png")
    page.click("#first-error")
    second = page.locator(".span-row.current")
    assert second.get_attribute("data-id") == errors.nth(1).get_attribute("data-id")
    expect(second).to_be_in_viewport()

    # Fold one step by its own button: its rows go, the others' stay.
    page.click("#expand-all")
    assert _visible(page) == truth.span_count
    step = page.locator(".span-row[data-depth='1']:has(a[href*='/steps/'])").first
    step.locator("button.fold").click()
    assert top < _visible(page) < truth.span_count
