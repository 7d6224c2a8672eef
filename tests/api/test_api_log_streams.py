"""Process output captured by `init(capture_stdio=True)` listed apart from application logs
(`GET /api/v1/logs?stream=`, issue 12.9).

`datagen.operations` sends three operations whose process printed to stdout and whose
failed build left a traceback on stderr (scope `connlog.stdio`, `connector.log.stream`),
next to the connector's own log records; everything goes through the real collector.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from connlog import datagen
from connlog.collector.config import Settings
from connlog.query_api.app import create_app
from connlog.query_api.timeutil import NS, iso, now_ns
from tests.api_env import ADMIN, _auth, bearer
from tests.collector_env import fresh_database, store

END = now_ns() // NS * NS


@pytest.fixture(scope="module")
def logs_client(base_settings: Settings) -> Iterator[TestClient]:
    with fresh_database(base_settings, "streams") as (settings, _):
        store(settings, datagen.operations(END))
        with TestClient(create_app(settings, auth=_auth()), raise_server_exceptions=False) as tc:
            yield tc


def _logs(client: TestClient, **params: str) -> list[dict[str, Any]]:
    params = {"from": iso(END - 3600 * NS), "limit": "100", **params}
    resp = client.get("/api/v1/logs", params=params, headers=bearer(ADMIN))
    assert resp.status_code == 200, resp.text
    items: list[dict[str, Any]] = resp.json()["items"]
    return items


def test_each_record_says_its_stream(logs_client: TestClient) -> None:
    rows = _logs(logs_client)
    by_stream: dict[str, list[str]] = {}
    for r in rows:
        by_stream.setdefault(r["stream"], []).append(r["body"])
    assert set(by_stream) == {"app", "stdout", "stderr"}
    assert len(by_stream["app"]) == 3  # one line of the connector's own logging per operation
    assert len(by_stream["stdout"]) == 6  # two printed lines per operation
    assert sorted(by_stream["stderr"]) == sorted(datagen.TRACEBACK)


def test_stream_filter(logs_client: TestClient) -> None:
    stderr = _logs(logs_client, stream="stderr")
    assert {r["stream"] for r in stderr} == {"stderr"}
    # Newest first: the traceback reads bottom-up, its last line (the exception) first.
    assert stderr[0]["body"] == datagen.TRACEBACK[-1]
    assert all(r["severity_text"] == "ERROR" and r["run_id"] for r in stderr)
    assert {r["stream"] for r in _logs(logs_client, stream="stdout")} == {"stdout"}
    assert len(_logs(logs_client, stream="stdio")) == 6 + len(datagen.TRACEBACK)
    assert {r["stream"] for r in _logs(logs_client, stream="app")} == {"app"}
    # With the other filters (AND): the failed build's own stderr.
    build = stderr[0]["run_id"]
    assert len(_logs(logs_client, stream="stderr", run=build)) == len(datagen.TRACEBACK)
    assert _logs(logs_client, stream="stdout", text="RuntimeError") == []


def test_stream_filter_refuses_unknown_streams(logs_client: TestClient) -> None:
    resp = logs_client.get("/api/v1/logs", params={"stream": "stdwhat"}, headers=bearer(ADMIN))
    assert resp.status_code == 422 and "stream" in resp.text, resp.text
