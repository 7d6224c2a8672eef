"""The viewer's "user" filter (issue 14, by user) on the runs and calls pages, and the user
shown on a run and a call, over runs sent through the SDK and the real collector
(`enduser_env`, shared with tests/api/test_api_enduser.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.api.test_api_enduser import ALICE, BOB, CAROL, EnduserEnv, enduser_env
from tests.api_env import ADMIN, SCOPED

__all__ = ["enduser_env"]  # the fixture, imported for pytest


def _signed_in(env: EnduserEnv, key: str) -> TestClient:
    client = TestClient(env.app, follow_redirects=False)
    page = client.get("/signin")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    resp = client.post("/signin", data={"csrf": token.group(1), "key": key, "next": "/"})
    assert resp.status_code == 303, resp.text
    return client


@pytest.fixture
def admin(enduser_env: EnduserEnv) -> Iterator[TestClient]:
    with _signed_in(enduser_env, ADMIN) as client:
        yield client


def _page(client: TestClient, path: str, **params: str) -> str:
    resp = client.get(path, params=params)
    assert resp.status_code == 200, resp.text
    return str(resp.text)


def _runs_on(html: str) -> set[str]:
    return set(re.findall(r'data-run="([0-9a-f]{32})"', html))


def _calls_on(html: str) -> set[str]:
    return set(re.findall(r'data-call="([0-9a-f]{16})"', html))


def _call_ids(client: TestClient, env: EnduserEnv, *labels: str) -> set[str]:
    """Call ids of the calls with these labels, read from the unfiltered JSON list."""
    items = client.get("/api/v1/calls", headers={"Authorization": f"Bearer {ADMIN}"}).json()["items"]
    wanted = {env.urls[label] for label in labels}
    return {c["call_id"] for c in items if c["url"] in wanted}


def test_runs_page_filters_by_user(admin: TestClient, enduser_env: EnduserEnv) -> None:
    r = enduser_env.runs
    assert _runs_on(_page(admin, "/")) == set(r.values())
    html = _page(admin, "/", enduser=ALICE)
    assert _runs_on(html) == {r["A"], r["D"]}
    assert f'name="enduser" value="{ALICE}"' in html  # the input keeps the filter
    assert _runs_on(_page(admin, "/", enduser=BOB)) == {r["B"]}
    assert _runs_on(_page(admin, "/fragments/runs", enduser=BOB)) == {r["B"]}  # live refresh keeps it
    with _signed_in(enduser_env, SCOPED) as scoped:
        assert _runs_on(_page(scoped, "/", enduser=ALICE)) == {r["A"]}


def test_calls_page_filters_by_user(admin: TestClient, enduser_env: EnduserEnv) -> None:
    env = enduser_env
    html = _page(admin, "/calls", enduser=CAROL)
    assert _calls_on(html) == _call_ids(admin, env, "C-carol")
    assert f'<td class="enduser">{CAROL}</td>' in html
    alice = _call_ids(admin, env, "A-1", "A-2", "A-record", "D-1")
    assert _calls_on(_page(admin, "/calls", enduser=ALICE)) == alice
    with _signed_in(env, SCOPED) as scoped:
        assert _calls_on(_page(scoped, "/calls", enduser=ALICE)) == _call_ids(
            admin, env, "A-1", "A-2", "A-record"
        )


def test_run_and_call_pages_show_the_user(admin: TestClient, enduser_env: EnduserEnv) -> None:
    env = enduser_env
    run_html = _page(admin, f"/runs/{env.runs['A']}")
    assert 'id="run-enduser"' in run_html and ALICE in run_html
    assert 'id="run-enduser"' not in _page(admin, f"/runs/{env.runs['C']}")
    (carol_call,) = _call_ids(admin, env, "C-carol")
    call_html = _page(admin, f"/calls/{carol_call}", run=env.runs["C"])
    assert re.search(r'id="call-enduser"[^>]*>' + re.escape(CAROL) + "<", call_html)
    (outside,) = _call_ids(admin, env, "C-outside")
    assert 'id="call-enduser"' not in _page(admin, f"/calls/{outside}", run=env.runs["C"])
