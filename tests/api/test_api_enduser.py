"""The `enduser` filter ("by user", issue 14): runs and calls made for one end user / login.

Runs are made with the real SDK (`run(..., user=)`, `entity(..., user=)`), their HTTP calls
go to a local server, and everything travels SDK -> OTLP/HTTP -> collector -> chDB. The
expected answers are what each run was made for, known here by construction:

- hubspot run A for alice (3 calls, one inside a record), hubspot run B for bob (1 call),
- hubspot run C with no run user: one call inside a record made for carol, one outside,
- chargebee run D for alice (1 call): outside the scoped key's connector.

`enduser_env` is imported by the viewer's test of the same filter.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

import connlog as cl
from connlog.collector.config import Settings
from connlog.query_api.app import create_app
from tests.api_env import ADMIN, SCOPED, SCOPED_CONNECTOR, _auth, bearer
from tests.collector_env import fresh_database, running_collector, sdk_to
from tests.sdk.helpers import LocalServer

ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol-login"
OTHER_CONNECTOR = "chargebee"


@dataclass
class EnduserEnv:
    app: Any
    client: TestClient
    runs: dict[str, str]  # label (A..D) -> run id
    urls: dict[str, str]  # label of a call -> its URL, unique per call


def _send_run(
    endpoint: str, base_url: str, connector: str, label: str, user: str | None
) -> tuple[str, dict[str, str]]:
    """One run through the SDK; returns its run id and {call label: URL}."""
    urls: dict[str, str] = {}

    def call(http: httpx.Client, name: str) -> None:
        urls[name] = f"{base_url}/echo?call={name}"
        http.get(urls[name])

    with (
        sdk_to(endpoint, connector),
        cl.run(sync_type="full", trigger="manual", job_id=f"job-{label}", user=user) as r,
        cl.step("contacts"),
        httpx.Client() as http,
    ):
        if label == "C":
            with cl.entity("c-1", type="contact", action="update", user=CAROL):
                call(http, "C-carol")
            call(http, "C-outside")
        else:
            call(http, f"{label}-1")
            if label == "A":
                call(http, "A-2")
                with cl.entity("a-1", type="contact", action="create"):
                    call(http, "A-record")
    return str(r.run_id), urls


@pytest.fixture(scope="module")
def enduser_env(base_settings: Settings) -> Iterator[EnduserEnv]:
    runs: dict[str, str] = {}
    urls: dict[str, str] = {}
    with fresh_database(base_settings, "enduser") as (settings, _):
        target = LocalServer()
        try:
            with running_collector(settings) as collector:
                for label, connector, user in (
                    ("A", SCOPED_CONNECTOR, ALICE),
                    ("B", SCOPED_CONNECTOR, BOB),
                    ("C", SCOPED_CONNECTOR, None),
                    ("D", OTHER_CONNECTOR, ALICE),
                ):
                    runs[label], sent = _send_run(collector.http_endpoint, target.url, connector, label, user)
                    urls.update(sent)
                assert collector.flush(30)
        finally:
            target.stop()
        app = create_app(settings, auth=_auth())
        with TestClient(app, raise_server_exceptions=False) as tc:
            yield EnduserEnv(app, tc, runs, urls)


def _get(env: EnduserEnv, path: str, key: str = ADMIN, **params: str) -> Any:
    resp = env.client.get(path, params=params, headers=bearer(key))
    assert resp.status_code == 200, resp.text
    return resp.json()


def _run_ids(env: EnduserEnv, key: str = ADMIN, **params: str) -> set[str]:
    return {r["run_id"] for r in _get(env, "/api/v1/runs", key, **params)["items"]}


def _call_urls(env: EnduserEnv, key: str = ADMIN, **params: str) -> dict[str, dict[str, Any]]:
    return {c["url"]: c for c in _get(env, "/api/v1/calls", key, **params)["items"]}


def test_runs_filter_by_enduser(enduser_env: EnduserEnv) -> None:
    env, r = enduser_env, enduser_env.runs
    assert _run_ids(env) == set(r.values())
    assert _run_ids(env, enduser=ALICE) == {r["A"], r["D"]}
    assert _run_ids(env, enduser=BOB) == {r["B"]}
    # carol is a record's user, not a run's: the runs list matches run-level users only.
    assert _run_ids(env, enduser=CAROL) == set()
    assert _run_ids(env, enduser="alice") == set()  # exact match, not a prefix
    assert _run_ids(env, enduser="' OR 1=1 --") == set()  # bound, not spliced
    items = _get(env, "/api/v1/runs", enduser=BOB)["items"]
    assert [i["enduser"] for i in items] == [BOB]
    by_id = {i["run_id"]: i["enduser"] for i in _get(env, "/api/v1/runs")["items"]}
    assert by_id == {r["A"]: ALICE, r["B"]: BOB, r["C"]: "", r["D"]: ALICE}
    assert _get(env, f"/api/v1/runs/{r['A']}")["run"]["enduser"] == ALICE


def test_scoped_key_sees_only_its_connector(enduser_env: EnduserEnv) -> None:
    env, r = enduser_env, enduser_env.runs
    assert _run_ids(env, SCOPED, enduser=ALICE) == {r["A"]}
    calls = _call_urls(env, SCOPED, enduser=ALICE)
    assert set(calls) == {env.urls["A-1"], env.urls["A-2"], env.urls["A-record"]}


def test_calls_filter_by_enduser_through_run_and_record(enduser_env: EnduserEnv) -> None:
    env, r, u = enduser_env, enduser_env.runs, enduser_env.urls
    assert len(_call_urls(env)) == len(u)
    alice = _call_urls(env, enduser=ALICE)
    assert set(alice) == {u["A-1"], u["A-2"], u["A-record"], u["D-1"]}
    assert {c["run_id"] for c in alice.values()} == {r["A"], r["D"]}
    assert {c["enduser"] for c in alice.values()} == {ALICE}
    assert set(_call_urls(env, enduser=BOB)) == {u["B-1"]}
    carol = _call_urls(env, enduser=CAROL)
    assert set(carol) == {u["C-carol"]}  # the record's call, not the run's other call
    assert carol[u["C-carol"]]["enduser"] == CAROL
    assert _call_urls(env, enduser="nobody@example.com") == {}
    # Combined with other filters (AND): alice's calls of run D only.
    assert set(_call_urls(env, enduser=ALICE, run=r["D"])) == {u["D-1"]}
    assert set(_call_urls(env, enduser=ALICE, connector=OTHER_CONNECTOR)) == {u["D-1"]}


def test_call_detail_shows_the_nearest_user(enduser_env: EnduserEnv) -> None:
    env = enduser_env
    calls = _call_urls(env)
    expected = {"A-record": ALICE, "B-1": BOB, "C-carol": CAROL, "C-outside": "", "D-1": ALICE}
    for label, user in expected.items():
        row = calls[env.urls[label]]
        detail = _get(env, f"/api/v1/calls/{row['call_id']}", run=row["run_id"])
        assert detail["call"]["enduser"] == user, label


def test_enduser_paginates_and_refuses_bad_values(enduser_env: EnduserEnv) -> None:
    env = enduser_env
    first = _get(env, "/api/v1/calls", enduser=ALICE, limit="3")
    rest = _get(env, "/api/v1/calls", enduser=ALICE, limit="3", cursor=first["next_cursor"])
    seen = [c["url"] for c in first["items"] + rest["items"]]
    assert len(seen) == len(set(seen)) == 4 and rest["next_cursor"] is None
    for path in ("/api/v1/runs", "/api/v1/calls"):
        resp = env.client.get(path, params={"enduser": "x" * 501}, headers=bearer(ADMIN))
        assert resp.status_code == 422, resp.text
        assert "enduser" in resp.text
