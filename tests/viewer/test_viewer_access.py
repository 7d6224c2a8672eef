"""Viewer access without a browser: sign-in cookie flags, CSRF refusals, escaping, auth off, errors.

Runs against the same app and data as the browser tests (`viewer_support`), through
Starlette's TestClient, so each HTTP detail (Set-Cookie attributes, status codes, raw HTML)
is checked exactly.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from connlog.query_api.app import create_app
from connlog.query_api.auth import AuthConfig
from connlog.query_api.viewer.session import CSRF_COOKIE, SESSION_COOKIE
from tests.viewer.support import ADMIN, HOSTILE_STEP, VIEWER, ViewerEnv


@pytest.fixture
def client(viewer_env: ViewerEnv) -> Iterator[TestClient]:
    yield TestClient(viewer_env.app, follow_redirects=False)


def _csrf(client: TestClient) -> str:
    resp = client.get("/signin")
    assert resp.status_code == 200
    cookie = next(h for h in resp.headers.get_list("set-cookie") if h.startswith(CSRF_COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    token = re.search(r'name="csrf" value="([^"]+)"', resp.text)
    assert token is not None
    return token.group(1)


def _sign_in(client: TestClient, key: str) -> None:
    resp = client.post("/signin", data={"csrf": _csrf(client), "key": key, "next": "/"})
    assert resp.status_code == 303, resp.text


def test_pages_need_a_session(client: TestClient) -> None:
    resp = client.get("/calls?status=500")
    assert resp.status_code == 303 and resp.headers["location"].startswith(
        "/signin?next=%2Fcalls%3Fstatus%3D500"
    )
    assert client.get("/fragments/runs").status_code == 401
    assert client.get("/export/runs.csv").status_code == 303


def test_sign_in_sets_a_strict_httponly_session_cookie_not_the_key(client: TestClient) -> None:
    resp = client.post("/signin", data={"csrf": _csrf(client), "key": ADMIN, "next": "/faults"})
    assert resp.status_code == 303 and resp.headers["location"] == "/faults"
    cookie = next(h for h in resp.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE + "="))
    flags = [p.strip().lower() for p in cookie.split(";")]
    assert "httponly" in flags and "samesite=strict" in flags and "path=/" in flags
    assert ADMIN not in cookie and ADMIN not in resp.headers["location"]
    assert client.get("/").status_code == 200


def test_sign_in_refuses_missing_or_cross_site_csrf(client: TestClient) -> None:
    token = _csrf(client)
    for data, headers in (
        ({"key": ADMIN}, {}),  # no token
        ({"key": ADMIN, "csrf": "forged"}, {}),  # not the cookie's token
        ({"key": ADMIN, "csrf": token}, {"Origin": "https://evil.example"}),
        ({"key": ADMIN, "csrf": token}, {"Sec-Fetch-Site": "cross-site"}),
    ):
        resp = client.post("/signin", data=data, headers=headers)
        assert resp.status_code == 403, data
        assert not any(h.startswith(SESSION_COOKIE) for h in resp.headers.get_list("set-cookie"))
    assert client.get("/").status_code == 303  # still signed out


def test_wrong_key_and_foreign_next_are_refused(client: TestClient) -> None:
    resp = client.post("/signin", data={"csrf": _csrf(client), "key": "not-a-key-0000000000", "next": "/"})
    assert resp.status_code == 401 and "Unknown API key" in resp.text
    resp = client.post("/signin", data={"csrf": _csrf(client), "key": ADMIN, "next": "//evil.example/x"})
    assert resp.status_code == 303 and resp.headers["location"] == "/"


def test_sign_out_needs_the_session_token_and_ends_the_session(client: TestClient) -> None:
    _sign_in(client, VIEWER)
    page = client.get("/").text
    token = re.search(r'action="/signout".*?name="csrf" value="([^"]+)"', page, re.S)
    assert token is not None
    assert client.post("/signout", data={"csrf": "forged"}).status_code == 403
    assert client.get("/").status_code == 200  # the forged sign-out changed nothing
    resp = client.post("/signout", data={"csrf": token.group(1)})
    assert resp.status_code == 303
    assert client.get("/").status_code == 303


def test_hostile_values_are_escaped_in_the_html(client: TestClient, viewer_env: ViewerEnv) -> None:
    _sign_in(client, ADMIN)
    html = client.get(f"/runs/{viewer_env.hostile_run}").text
    assert HOSTILE_STEP not in html
    assert "&lt;script&gt;window.__pwned=&#34;step&#34;&lt;/script&gt;" in html
    assert "onerror=" not in html.replace("onerror=&#34;", "")


def test_bad_filters_and_unknown_runs_are_error_pages(client: TestClient) -> None:
    _sign_in(client, ADMIN)
    resp = client.get("/?status=bogus")
    api = client.get("/api/v1/runs?status=bogus", headers={"Authorization": f"Bearer {ADMIN}"})  # same words
    assert resp.status_code == api.status_code == 422
    assert api.json()["error"]["message"] in html.unescape(resp.text)
    resp = client.get("/runs/" + "0" * 32)
    assert resp.status_code == 404 and "not found" in resp.text
    assert client.get("/runs/not-an-id").status_code == 422


def test_deep_link_restores_every_filter(client: TestClient) -> None:
    _sign_in(client, ADMIN)
    html = client.get("/?range=7d&status=error&connector=hubspot&job_id=job-x&failure_cause=auth").text
    assert "<option selected>error</option>" in html and "<option selected>auth</option>" in html
    assert 'name="connector" value="hubspot"' in html and 'name="job_id" value="job-x"' in html
    assert 'class="preset on" href="/?' in html and ">7d<" in html


def test_auth_off_needs_no_sign_in(viewer_env: ViewerEnv) -> None:
    app = create_app(viewer_env.settings, auth=AuthConfig(disabled=True))
    with TestClient(app, follow_redirects=False) as c:
        resp = c.get("/")
        assert resp.status_code == 200 and "Sign out" not in resp.text
        assert c.get("/signin").status_code == 303


def test_pages_follow_the_api_cursors(client: TestClient, viewer_env: ViewerEnv) -> None:
    _sign_in(client, ADMIN)
    seen: list[str] = []
    url: str | None = "/?range=7d&limit=4"
    while url:
        html = client.get(url).text
        rows = re.findall(r'data-run="([0-9a-f]{32})"', html)
        assert 0 < len(rows) <= 4
        seen += rows
        nxt = re.search(r'rel="next" href="([^"]+)"', html)
        url = nxt.group(1).replace("&amp;", "&") if nxt else None
        assert url is None or ("limit=4" in url and "range=7d" in url and "cursor=" in url)
    assert len(seen) == len(set(seen)) == len(viewer_env.truth)
