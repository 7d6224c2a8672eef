"""Connectors written against real vendor client libraries, end to end into chDB.

notion-client (httpx), stripe (requests → urllib3) and slack_sdk's AsyncWebClient
(aiohttp), each against a local fake of its API (tests/fakes/apis.py), through the real
collector into chDB. Per library, five runs: a good run, a rejected token (401), a 429
with Retry-After and a retry, a malformed record, a timeout. The stored rows must say
what an operator needs: the cause, the counters, step names on pages/entities/calls,
entity outcomes, the failing call with its payloads; and no credential may be stored in
any column of any table nor in the collector's write-ahead log.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import connlog as cl
from connlog.collector.schema import names as n
from connlog.instrumentation import semconv as sc
from tests.pipeline import Pipeline
from tests.sdk.fakes.apis import (
    NOTION_TOKEN,
    SLACK_TOKEN,
    STRIPE_KEY,
    FakeState,
    notion_app,
    slack_app,
    stripe_app,
)
from tests.sdk.fakes.connectors import notion_sync, slack_sync, stripe_sync
from tests.sdk.helpers import LocalServer

BAD = {
    "notion": "secret_notionREVOKEDtoken9999",
    "stripe": "sk_test_51StripeREVOKEDkey99999999999",
    "slack": "xoxb-9999-8888-SlackREVOKEDtoken99",
}
GOOD = {"notion": NOTION_TOKEN, "stripe": STRIPE_KEY, "slack": SLACK_TOKEN}
STEP = {"notion": "users", "stripe": "customers", "slack": "members"}


def _notion(token: str, url: str, out: dict[str, str]) -> int:
    return notion_sync(token, url, out)


def _stripe(token: str, url: str, out: dict[str, str]) -> int:
    return stripe_sync(token, url, out)


def _slack(token: str, url: str, out: dict[str, str]) -> int:
    return asyncio.run(slack_sync(token, url + "/api/", out))


CONNECTORS: dict[str, tuple[Callable[[FakeState], Any], Callable[[str, str, dict[str, str]], int]]] = {
    "notion": (notion_app, _notion),
    "stripe": (stripe_app, _stripe),
    "slack": (slack_app, _slack),
}


def _rows(pipeline: Any, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    return list(pipeline.client.query(sql, parameters=params).result_rows)


def _spans(pipeline: Any, run_id: str) -> list[dict[str, Any]]:
    db = pipeline.database
    cols = [
        n.C_SPAN_ID,
        n.C_ROLE,
        n.C_STEP_NAME,
        n.C_SPAN_ATTRIBUTES,
        n.C_STATUS_CODE,
        n.C_FAILURE_CAUSE,
        n.C_ENTITY_ACTION,
    ]
    rows = _rows(
        pipeline,
        f"SELECT {', '.join(cols)} FROM {db}.{n.TRACES} WHERE {n.C_TRACE_ID} = {{t:String}} ORDER BY {n.C_TIMESTAMP}",
        t=run_id,
    )
    return [dict(zip(cols, row, strict=True)) for row in rows]


def _one(spans: list[dict[str, Any]], role: str) -> dict[str, Any]:
    found = [s for s in spans if s[n.C_ROLE] == role]
    assert len(found) == 1, (role, len(found))
    return found[0]


def _payload(pipeline: Any, run_id: str, span_id: str) -> tuple[Any, ...]:
    db = pipeline.database
    return _rows(
        pipeline,
        f"SELECT {n.C_REQUEST_HEADERS}, {n.C_RESPONSE_BODY} FROM {db}.{n.PAYLOADS} "
        f"WHERE {n.C_TRACE_ID} = {{t:String}} AND {n.C_SPAN_ID} = {{s:String}}",
        t=run_id,
        s=span_id,
    )[0]


@pytest.fixture
def vendor_server(request: pytest.FixtureRequest) -> Iterator[tuple[LocalServer, FakeState]]:
    state = FakeState()
    srv = LocalServer(CONNECTORS[request.param][0](state))
    yield srv, state
    srv.stop()


def _run(
    name: str, mode: str, pipeline: Any, srv: LocalServer, state: FakeState
) -> tuple[str, BaseException | None]:
    state.reset(mode)
    out: dict[str, str] = {}
    token = BAD[name] if mode == "auth" else GOOD[name]
    error: BaseException | None = None
    try:
        CONNECTORS[name][1](token, srv.url, out)
    except Exception as exc:  # the vendor's own exception type
        error = exc
    assert out["run_id"] and len(out["run_id"]) == 32
    return out["run_id"], error


@pytest.mark.parametrize("vendor_server", list(CONNECTORS), indirect=True)
def test_vendor_connector_scenarios(
    pipeline: Pipeline, vendor_server: tuple[LocalServer, FakeState], request: pytest.FixtureRequest
) -> None:
    name = request.node.callspec.params["vendor_server"]
    srv, state = vendor_server
    wal = _WalWatcher(pipeline.server.wal_dir, f"fake-{name}".encode(), [BAD[name], GOOD[name]])
    handle = cl.init(
        connector=f"fake-{name}", endpoint=pipeline.http_endpoint, viewer_url="http://viewer.local/"
    )
    try:
        runs = {
            mode: _run(name, mode, pipeline, srv, state)
            for mode in ("good", "auth", "ratelimit", "malformed", "timeout")
        }
        assert handle.flush()
    finally:
        handle.shutdown()
    pipeline.flush()
    wal.stop()
    step = STEP[name]

    # good: counters, step names everywhere under the step, entity outcomes
    run_id, error = runs["good"]
    assert error is None
    spans = _spans(pipeline, run_id)
    run = _one(spans, "run")[n.C_SPAN_ATTRIBUTES]
    assert run[sc.RUN_STATUS] == "ok" and run[sc.count_key("fetched")] == "3"
    assert run[sc.count_key("failed")] == "0"
    under_step = [s for s in spans if s[n.C_ROLE] in ("page", "entity", "http")]
    assert {s[n.C_ROLE] for s in under_step} == {"page", "entity", "http"}
    assert {s[n.C_STEP_NAME] for s in under_step} == {step}
    assert len([s for s in spans if s[n.C_ROLE] == "http"]) == 2

    # a rejected token: cause auth on the run, the failing call and its payload kept
    run_id, error = runs["auth"]
    assert error is not None
    spans = _spans(pipeline, run_id)
    run_span = _one(spans, "run")
    run = run_span[n.C_SPAN_ATTRIBUTES]
    assert run_span[n.C_FAILURE_CAUSE] == "auth", (name, type(error), run)
    assert run[sc.FAULT_STATUS_CODE] == "401"
    assert srv.url in run[sc.FAULT_URL]
    assert _one(spans, "page")[n.C_FAILURE_CAUSE] == "auth"
    call = _one(spans, "http")
    assert call[n.C_FAILURE_CAUSE] == "auth" and call[n.C_STEP_NAME] == step
    req_headers, resp_body = _payload(pipeline, run_id, call[n.C_SPAN_ID])
    assert "401" in resp_body or "invalid" in resp_body.lower() or "unauthorized" in resp_body
    assert any("REDACTED" in v for k, v in req_headers.items() if "authorization" in k)

    # 429 with Retry-After, then a retry that succeeds: the run is ok and says it was throttled
    run_id, error = runs["ratelimit"]
    assert error is None, error
    spans = _spans(pipeline, run_id)
    run = _one(spans, "run")[n.C_SPAN_ATTRIBUTES]
    assert run[sc.RUN_STATUS] == "ok" and run[sc.RATE_LIMITED] == "true"
    assert run[sc.count_key("fetched")] == "3"
    calls = [s[n.C_SPAN_ATTRIBUTES] for s in spans if s[n.C_ROLE] == "http"]
    throttled = [c for c in calls if c.get(sc.HTTP_RESPONSE_STATUS_CODE) == "429"]
    assert len(throttled) == 1 and throttled[0][sc.RETRY_AFTER] == "1"
    assert throttled[0][sc.FAILURE_CAUSE] == "rate_limited"
    assert any(c.get(sc.HTTP_REQUEST_RESEND_COUNT) == "1" for c in calls), calls

    # a malformed record: that entity fails (shape_mismatch), the others count, the run is ok
    run_id, error = runs["malformed"]
    assert error is None
    spans = _spans(pipeline, run_id)
    run = _one(spans, "run")[n.C_SPAN_ATTRIBUTES]
    assert run[sc.RUN_STATUS] == "ok"
    assert run[sc.count_key("fetched")] == "3" and run[sc.count_key("failed")] == "1"
    failed = [s for s in spans if s[n.C_ROLE] == "entity" and s[n.C_ENTITY_ACTION] == "fail"]
    assert len(failed) == 1
    assert failed[0][n.C_FAILURE_CAUSE] == "shape_mismatch" and failed[0][n.C_STEP_NAME] == step
    assert "KeyError" in failed[0][n.C_SPAN_ATTRIBUTES][sc.ENTITY_REASON]

    # a timeout: the run fails with cause timeout, and the timed-out call is in the tree
    run_id, error = runs["timeout"]
    assert error is not None
    spans = _spans(pipeline, run_id)
    run_span = _one(spans, "run")
    assert run_span[n.C_FAILURE_CAUSE] == "timeout", (name, type(error), run_span)
    assert srv.url in run_span[n.C_SPAN_ATTRIBUTES][sc.FAULT_URL]
    timed_out = [s for s in spans if s[n.C_ROLE] == "http" and s[n.C_FAILURE_CAUSE] == "timeout"]
    assert timed_out and all(s[n.C_STEP_NAME] == step for s in timed_out)

    _assert_no_credential_stored(pipeline, [BAD[name], GOOD[name]])
    # the WAL: done segments are deleted once in chDB, so it was sampled while the runs went
    assert wal.marker_seen, "the WAL was never sampled while it held this test's batches"
    assert not wal.leaks, wal.leaks


def _assert_no_credential_stored(pipeline: Any, secrets: list[str]) -> None:
    db = pipeline.database
    columns = _rows(
        pipeline,
        "SELECT table, name FROM system.columns WHERE database = {db:String} AND table IN "
        "(SELECT name FROM system.tables WHERE database = {db:String} "
        "AND engine NOT IN ('Null', 'MaterializedView', 'View'))",
        db=db,
    )
    assert len(columns) > 20
    leaks = [
        (table, column)
        for table, column in columns
        if _rows(
            pipeline,
            f"SELECT count() FROM {db}.`{table}` WHERE multiSearchAny(toString(`{column}`), {{s:Array(String)}})",
            s=secrets,
        )[0][0]
    ]
    assert not leaks, leaks
    # control: the same search finds a value that is stored
    assert _rows(
        pipeline,
        f"SELECT count() FROM {db}.{n.TRACES} WHERE multiSearchAny(toString({n.C_SERVICE_NAME}), {{s:Array(String)}})",
        s=["fake-"],
    )[0][0]


class _WalWatcher:
    """Copies every WAL segment's bytes every 20 ms while the runs go (segments are
    deleted once their batches are in chDB, so a look afterwards would see nothing)."""

    def __init__(self, directory: Path, marker: bytes, secrets: list[str]) -> None:
        self.directory = directory
        self.marker = marker
        self.secrets = [s.encode() for s in secrets]
        self.marker_seen = False
        self.leaks: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        if not self.directory.exists():
            return
        for path in self.directory.rglob("*"):
            try:
                data = path.read_bytes() if path.is_file() else b""
            except OSError:
                continue
            self.marker_seen = self.marker_seen or self.marker in data
            self.leaks += [f"{path.name}: {s.decode()}" for s in self.secrets if s in data]

    def _loop(self) -> None:
        while not self._stop.wait(0.02):
            self._sample()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sample()
