"""The "Settings in force" page: admins see retention, caps and the stored volume; viewers get 403.

Rows per table on the page are compared with `SELECT count()` on the viewer's dataset; one
Chromium screenshot (docs/screenshots/settings.png) is taken the way the browser tests do.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from playwright.sync_api import sync_playwright

from connlog.collector.schema.ddl import STORAGE_TABLES
from connlog.collector.store import connect
from connlog.instrumentation._init import DEFAULT_BODY_CAP
from connlog.query_api.routes.settings import SCOPED_STORAGE_NOTE
from connlog.query_api.viewer.settings_page import ADMINS_ONLY
from connlog.query_api.viewer.urls import SETTINGS
from tests.viewer.support import ADMIN, SCOPED_ADMIN, SCREENSHOTS, VIEWER, ViewerEnv, chromium_path
from tests.viewer.test_viewer_access import _sign_in

NAV_LINK = f'<a href="{SETTINGS}">Settings</a>'
ROW = re.compile(r'<tr data-table="(\w+)">.*?<td class="num rows">([\d,]+)</td>', re.S)


@pytest.fixture
def client(viewer_env: ViewerEnv) -> Iterator[TestClient]:
    yield TestClient(viewer_env.app, follow_redirects=False)


def _page_as(client: TestClient, key: str) -> tuple[int, str]:
    _sign_in(client, key)
    resp = client.get(SETTINGS)
    return resp.status_code, resp.text


def test_admin_sees_settings_and_rows_per_table_as_stored(client: TestClient, viewer_env: ViewerEnv) -> None:
    status, html = _page_as(client, ADMIN)
    assert status == 200, html
    assert NAV_LINK in html
    r = viewer_env.settings.retention
    assert f"{r.days} days" in html and f"after {r.recompress_days} days" in html
    assert f"{DEFAULT_BODY_CAP:,} bytes" in html and "init(body_cap=...)" in html
    shown = {table: int(rows.replace(",", "")) for table, rows in ROW.findall(html)}
    assert list(shown) == [t.name for t in STORAGE_TABLES]
    ch = connect(viewer_env.settings)
    try:
        for table, rows in shown.items():
            count = ch.query(f"SELECT count() FROM {viewer_env.settings.database}.{table}").result_rows[0][0]
            assert rows == count, table
    finally:
        ch.close()
    assert sum(shown.values()) > 0


def test_viewer_gets_an_admins_only_page_and_no_link(client: TestClient) -> None:
    status, html = _page_as(client, VIEWER)
    assert status == 403
    assert escape(ADMINS_ONLY) in html and NAV_LINK not in html
    assert 'id="storage"' not in html
    home = client.get("/")
    assert home.status_code == 200 and NAV_LINK not in home.text


def test_scoped_admin_sees_settings_without_volume(client: TestClient) -> None:
    status, html = _page_as(client, SCOPED_ADMIN)
    assert status == 200
    assert escape(SCOPED_STORAGE_NOTE) in html and 'id="storage"' not in html


def test_settings_page_needs_a_session(client: TestClient) -> None:
    resp = client.get(SETTINGS)
    assert resp.status_code == 303 and resp.headers["location"].startswith("/signin?next=%2Fsettings")


def test_settings_screenshot_in_chromium(viewer_env: ViewerEnv) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            page = browser.new_context(viewport={"width": 1500, "height": 950}).new_page()
            page.goto(viewer_env.url + SETTINGS)
            assert "/signin" in page.url
            page.fill("input[name=key]", ADMIN)
            page.click("button:has-text('Sign in')")
            page.wait_for_url(viewer_env.url + SETTINGS)
            rows = page.locator("#storage tr[data-table]")
            assert rows.count() == len(STORAGE_TABLES)
            page.get_by_role("link", name="Settings").wait_for()
            page.screenshot(path=str(SCREENSHOTS / "settings.png"), full_page=False)
        finally:
            browser.close()
