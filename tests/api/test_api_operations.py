"""Operations (build, deploy, sync to an environment) listed as runs of another kind (issue 12.9).

Made with the real SDK (`cl.operation(...)`, `cl.run(...)`), sent SDK -> OTLP/HTTP ->
collector -> chDB, read through `GET /api/v1/runs`. Known by construction:

- a sync run (kind `sync`),
- a deploy to staging by ops-bot, queued 5 minutes before it ran, that finished (`done`),
- a build that raised (`failed`),
- an environment sync still running (entered, never left: only its start marker exists),
- a chargebee deploy (outside the scoped key's connector).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

import connlog as cl
from connlog.collector.config import Settings
from connlog.instrumentation import semconv as sc
from connlog.query_api.app import create_app
from tests.api_env import ADMIN, SCOPED, SCOPED_CONNECTOR, _auth, bearer
from tests.collector_env import fresh_database, running_collector, sdk_to

QUEUED = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)


@dataclass
class OpsEnv:
    client: TestClient
    runs: dict[str, str]  # label -> run id


def _send(endpoint: str) -> dict[str, str]:
    ids: dict[str, str] = {}
    with sdk_to(endpoint, SCOPED_CONNECTOR) as handle:
        with cl.run(sync_type="full", trigger="schedule", job_id="hourly", schedule=3600) as r:
            pass
        ids["sync"] = str(r.run_id)
        with cl.operation(sc.RunKind.DEPLOY, owner="ops-bot", target="staging", queued_at=QUEUED) as op:
            pass
        ids["deploy"] = str(op.run_id)
        with contextlib.suppress(RuntimeError), cl.operation("build", owner="ci", target="image:1.2") as op:
            ids["build"] = str(op.run_id)
            raise RuntimeError("compile error")
        running = cl.operation(sc.RunKind.ENVIRONMENT_SYNC, owner="alice", target="prod")
        # Entered and never left (a worker still busy), in a thread of its own so the SDK's
        # current-scope context of this test thread is left as it was.
        worker = threading.Thread(target=running.__enter__)
        worker.start()
        worker.join()
        ids["env_sync"] = str(running.run_id)
        assert handle.flush()
    with sdk_to(endpoint, "chargebee"), cl.operation(sc.RunKind.DEPLOY, owner="ops-bot") as op:
        pass
    ids["other"] = str(op.run_id)
    return ids


@pytest.fixture(scope="module")
def ops_env(base_settings: Settings) -> Iterator[OpsEnv]:
    with fresh_database(base_settings, "ops") as (settings, _):
        with running_collector(settings) as collector:
            runs = _send(collector.http_endpoint)
            assert collector.flush(30)
        with TestClient(create_app(settings, auth=_auth()), raise_server_exceptions=False) as tc:
            yield OpsEnv(tc, runs)


def _items(env: OpsEnv, key: str = ADMIN, **params: str) -> dict[str, dict[str, Any]]:
    resp = env.client.get("/api/v1/runs", params=params, headers=bearer(key))
    assert resp.status_code == 200, resp.text
    return {i["run_id"]: i for i in resp.json()["items"]}


def test_every_kind_is_listed_by_default_with_its_kind(ops_env: OpsEnv) -> None:
    r = ops_env.runs
    items = _items(ops_env)
    assert set(items) == set(r.values())
    assert {label: items[rid]["kind"] for label, rid in r.items()} == {
        "sync": "sync", "deploy": "deploy", "build": "build", "env_sync": "environment_sync", "other": "deploy",
    }  # fmt: skip
    assert items[r["sync"]]["operation"] is None


def test_operation_fields_follow_what_the_sdk_recorded(ops_env: OpsEnv) -> None:
    r, items = ops_env.runs, _items(ops_env)
    deploy = items[r["deploy"]]
    assert deploy["status"] == "ok"
    assert deploy["operation"] == {
        "status": "done", "owner": "ops-bot", "target": "staging",
        "queued_at": QUEUED.isoformat().replace("+00:00", "Z"),
        "queued_at_ns": int(QUEUED.timestamp()) * 10**9,
    }  # fmt: skip
    # queued_at starts the span: the pending interval is part of the operation's duration.
    assert deploy["start_ns"] == deploy["operation"]["queued_at_ns"]
    assert deploy["duration_ms"] >= 5 * 60 * 1000 - 1000
    build = items[r["build"]]
    op = build["operation"]
    assert (build["status"], op["status"], op["owner"]) == ("error", "failed", "ci")
    assert build["operation"]["queued_at"] is None
    env_sync = items[r["env_sync"]]
    assert (env_sync["status"], env_sync["operation"]["status"]) == ("running", "running")
    assert env_sync["operation"]["target"] == "prod"


def test_kind_filter(ops_env: OpsEnv) -> None:
    r = ops_env.runs
    assert set(_items(ops_env, kind="sync")) == {r["sync"]}
    assert set(_items(ops_env, kind="operation")) == {r["deploy"], r["build"], r["env_sync"], r["other"]}
    assert set(_items(ops_env, kind="deploy")) == {r["deploy"], r["other"]}
    assert set(_items(ops_env, kind="deploy", connector=SCOPED_CONNECTOR)) == {r["deploy"]}
    assert set(_items(ops_env, kind="nothing-of-that-kind")) == set()
    assert set(_items(ops_env, kind="operation", operation_status="running")) == {r["env_sync"]}
    assert set(_items(ops_env, operation_status="failed")) == {r["build"]}
    # A scoped key sees its connector's operations only.
    assert set(_items(ops_env, SCOPED, kind="deploy")) == {r["deploy"]}


def test_kind_filter_refuses_bad_values(ops_env: OpsEnv) -> None:
    for params in ({"kind": "a b"}, {"kind": "x" * 101}, {"operation_status": "exploded"}):
        resp = ops_env.client.get("/api/v1/runs", params=params, headers=bearer(ADMIN))
        assert resp.status_code == 422, resp.text
        assert next(iter(params)) in resp.text
