"""Seed features of issue 12 item 9 on the viewer's screens, in Chromium, over runs made with
the real SDK and sent through the real collector into chDB:

- Logs: the connector's application logs and its captured stdout/stderr (`capture_stdio=True`)
  apart (tabs) and marked line by line;
- Job ticks: a job scheduled every 10 minutes whose ticks stopped for half an hour (two
  expected ticks missed, drawn hollow red at their expected times), each fired tick linking
  to its run (`list_jobs`);
- Operations: runs of another kind (`cl.operation`: a deploy done, a build failed, a sync to an
  environment still running) with their state, owner, target and times, with their own filter.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

import connlog as cl
from connlog.collector.config import Settings
from tests.viewer.support import ADMIN, SCOPED, SCOPED_CONNECTOR, collecting, page_as, serving, shot

APP_LINE = "fetched 40 contacts from page 3"
STDOUT_LINE = "progress: 40/120 contacts"
STDERR_LINE = "DeprecationWarning: the v2 endpoint is going away"
OTHER = "chargebee"


JOB = "contacts-every-10m"
INTERVAL = timedelta(minutes=10)
# Minutes before the (minute-aligned) base time of each tick that fired; -30 and -20 did not.
FIRED = (-60, -50, -40, -10)


@dataclass
class Item9Env:
    url: str
    sync_run: str
    job_runs: list[str]  # in FIRED order
    ticks: list[datetime]  # the due time of each fired tick, FIRED order
    missed: list[datetime]
    deploy: str  # done, owner ana, target prod (hubspot)
    build: str  # failed, owner ci-bot (hubspot)
    env_sync: str  # still running (chargebee)
    queued_at: datetime


def _sync_with_output(endpoint: str) -> str:
    """A sync whose connector logs through logging and also prints to stdout and stderr."""
    handle = cl.init(
        connector=SCOPED_CONNECTOR, endpoint=endpoint, protocol="http/protobuf", capture_stdio=True
    )
    try:
        with cl.run(sync_type="full", trigger="manual") as r, cl.step("contacts"):
            logging.getLogger("connector.hubspot").warning(APP_LINE)
            print(STDOUT_LINE)
            sys.stderr.write(STDERR_LINE + "\n")
            run_id = str(r.run_id)
        assert handle.flush()
    finally:
        handle.shutdown()
    return run_id


def _scheduled(endpoint: str, base: datetime) -> tuple[list[str], list[datetime]]:
    """Runs of one job started by its schedule at the FIRED ticks (the tick each recorded)."""
    handle = cl.init(connector=SCOPED_CONNECTOR, endpoint=endpoint, protocol="http/protobuf")
    runs: list[str] = []
    ticks = [base + timedelta(minutes=m) for m in FIRED]
    try:
        for tick in ticks:
            with cl.run(
                sync_type="incremental", trigger="schedule", job_id=JOB, job_tick=tick, schedule=INTERVAL
            ) as r:
                pass
            runs.append(str(r.run_id))
        assert handle.flush()
    finally:
        handle.shutdown()
    return runs, ticks


def _operations(endpoint: str, queued_at: datetime) -> tuple[str, str]:
    handle = cl.init(connector=SCOPED_CONNECTOR, endpoint=endpoint, protocol="http/protobuf")
    try:
        with cl.operation("deploy", owner="ana", target="prod", queued_at=queued_at) as deploy:
            pass
        try:
            with cl.operation("build", owner="ci-bot", target="image:1.2") as build:
                raise RuntimeError("compiler exited with 2")
        except RuntimeError:
            pass
        assert handle.flush()
    finally:
        handle.shutdown()
    return str(deploy.run_id), str(build.run_id)


@pytest.fixture(scope="module")
def item9(base_settings: Settings) -> Iterator[Item9Env]:
    with collecting(base_settings, "item9") as (settings, collector):
        endpoint = collector.http_endpoint
        sync_run = _sync_with_output(endpoint)
        base = datetime.now(UTC).replace(second=0, microsecond=0)
        job_runs, ticks = _scheduled(endpoint, base)
        queued_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
        deploy, build = _operations(endpoint, queued_at)
        # An operation still running: entered, its start marker flushed, not ended.
        running = cl.init(connector=OTHER, endpoint=endpoint, protocol="http/protobuf")
        try:
            env_sync = cl.operation("sync_env", owner="bob", target="staging")
            # Entered in a thread of its own: the test thread's current scope stays empty
            # (a scope left open here would parent the spans of every later test).
            worker = threading.Thread(target=env_sync.__enter__)
            worker.start()
            worker.join()
            assert running.flush()
            assert collector.flush(30)
            missed = [base + timedelta(minutes=m) for m in (-30, -20)]
            with serving(settings, "viewer-item9") as (url, _):
                yield Item9Env(
                    url, sync_run, job_runs, ticks, missed, deploy, build, str(env_sync.run_id), queued_at
                )
        finally:
            running.shutdown()


@pytest.fixture(scope="module")
def admin(browser: Browser, item9: Item9Env) -> Iterator[Page]:
    with page_as(browser, item9.url, ADMIN) as page:
        yield page


def _bodies(page: Page) -> dict[str, str]:
    """Message -> the stream mark shown on its line."""
    rows = page.locator("table.logs tbody tr[data-stream]").all()
    return {r.locator("td.message").inner_text(): r.locator(".stream-mark").inner_text() for r in rows}


def test_logs_show_application_logs_and_stdio_apart(admin: Page, item9: Item9Env) -> None:
    page = admin
    page.goto(f"{item9.url}/logs?run={item9.sync_run}&range=1h")
    lines = _bodies(page)
    assert lines[APP_LINE] == "app" and lines[STDOUT_LINE] == "stdout" and lines[STDERR_LINE] == "stderr"
    shot(page, "logs-streams.png")
    page.click("nav.streams a[data-stream='app']")
    page.wait_for_url("**stream=app*")
    assert set(_bodies(page).values()) == {"app"} and APP_LINE in _bodies(page)
    expect(page.locator("nav.streams a.on")).to_have_text("Application logs")
    page.click("nav.streams a[data-stream='stdio']")
    page.wait_for_url("**stream=stdio*")
    assert _bodies(page) == {STDOUT_LINE: "stdout", STDERR_LINE: "stderr"}
    assert f"run={item9.sync_run}" in page.url  # the tab keeps the other filters
    # The filter form keeps the tab: applying a severity stays on stdio.
    page.select_option("select[name=severity]", "3")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**severity=3*")
    assert "stream=stdio" in page.url and _bodies(page) == {STDERR_LINE: "stderr"}
    page.click("nav.streams a[data-stream='stderr']")
    page.wait_for_url("**stream=stderr*")
    assert _bodies(page) == {STDERR_LINE: "stderr"}


def _ops(page: Page) -> dict[str, dict[str, str]]:
    heads = [h.strip() for h in page.locator("table.operations thead th").all_inner_texts()]
    out: dict[str, dict[str, str]] = {}
    for row in page.locator("table.operations tbody tr.op-row").all():
        cells = [c.strip() for c in row.locator("td").all_inner_texts()]
        out[str(row.get_attribute("data-run"))] = dict(zip(heads, cells, strict=True))
    return out


def test_operations_list_their_state_owner_target_and_times(admin: Page, item9: Item9Env) -> None:
    page = admin
    page.goto(f"{item9.url}/")
    page.click("header.top nav a:text-is('Operations')")
    page.wait_for_url("**/operations")
    ops = _ops(page)
    assert set(ops) == {item9.deploy, item9.build, item9.env_sync}  # the sync run is not listed
    deploy, build, running = ops[item9.deploy], ops[item9.build], ops[item9.env_sync]
    assert (deploy["State"], deploy["Kind"], deploy["Owner"], deploy["Target"]) == (
        "done",
        "deploy",
        "ana",
        "prod",
    )
    assert deploy["Queued"] == item9.queued_at.strftime("%Y-%m-%d %H:%M:%S")
    assert deploy["Started"] and deploy["Finished"] >= deploy["Started"]
    assert (build["State"], build["Kind"], build["Owner"], build["Target"]) == (
        "failed",
        "build",
        "ci-bot",
        "image:1.2",
    )
    assert (running["State"], running["Connector"], running["Owner"]) == ("running", OTHER, "bob")
    assert running["Finished"].endswith("so far") and running["Queued"] == ""
    shot(page, "operations.png")
    # Its own filters: state, kind; a link to each operation's run page.
    page.select_option("select[name=operation_status]", "failed")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**operation_status=failed*")
    assert set(_ops(page)) == {item9.build}
    page.goto(f"{item9.url}/operations?kind=deploy")
    assert set(_ops(page)) == {item9.deploy}
    page.locator(f"tr[data-run='{item9.deploy}'] a:text-is('run ›')").click()
    page.wait_for_url(f"**/runs/{item9.deploy}")


def test_scoped_key_sees_only_its_connectors_operations(browser: Browser, item9: Item9Env) -> None:
    with page_as(browser, item9.url, SCOPED) as page:
        page.goto(f"{item9.url}/operations")
        assert set(_ops(page)) == {item9.deploy, item9.build}


def test_job_ticks_show_fired_ticks_as_links_and_missed_ones_hollow(admin: Page, item9: Item9Env) -> None:
    page = admin
    page.goto(f"{item9.url}/jobs?range=24h")
    row = page.locator(f"tr[data-job='{SCOPED_CONNECTOR} · {JOB}']")
    expect(row).to_have_attribute("data-missed", str(len(item9.missed)))
    expect(row.locator("td").nth(1)).to_have_text("every 600s")
    fired = row.locator("a.tick")
    assert [str(a.get_attribute("href")) for a in fired.all()] == [f"/runs/{r}" for r in item9.job_runs]
    missed = row.locator(".tick-missed")
    expected = [m.strftime("%Y-%m-%dT%H:%M:%S") for m in item9.missed]
    assert [str(m.get_attribute("data-expected"))[:19] for m in missed.all()] == expected
    # Drawn where they were due: between the third and the fourth fired tick, in order.
    x = [box["x"] for box in (t.bounding_box() for t in fired.all()) if box]
    mx = [box["x"] for box in (m.bounding_box() for m in missed.all()) if box]
    assert x[2] < mx[0] < mx[1] < x[3]
    assert missed.first.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(255, 255, 255)"
    listed = row.locator(".missed-list .missed-at").all_inner_texts()
    assert listed == [m.strftime("%Y-%m-%d %H:%M:%S") for m in item9.missed]
    # The sync run without a job is no job; a fired tick opens its run.
    assert page.locator("tr[data-job]").count() == 1
    fired.nth(3).click()
    page.wait_for_url(f"**/runs/{item9.job_runs[3]}")
    page.goto(f"{item9.url}/jobs?range=1h")  # the hour the ticks span, for a person to see
    shot(page, "job-ticks-missed.png")
    page.locator(f"tr[data-job='{SCOPED_CONNECTOR} · {JOB}'] a.tick").last.click()
    page.wait_for_url(f"**/runs/{item9.job_runs[3]}")


def test_runs_list_marks_operations_by_kind_and_links_to_them(admin: Page, item9: Item9Env) -> None:
    page = admin
    page.goto(f"{item9.url}/?range=1h")
    deploy = page.locator(f"tr.run-row[data-run='{item9.deploy}'] a.kind")
    expect(deploy).to_have_text("deploy")
    shot(page, "runs-with-operations.png")
    assert (
        page.locator(f"tr.run-row[data-run='{item9.sync_run}'] a.kind").count() == 0
    )  # a sync is no operation
    deploy.click()
    page.wait_for_url("**/operations?kind=deploy")
    assert set(_ops(page)) == {item9.deploy}
