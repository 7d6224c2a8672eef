"""`connlog jobs`, `connlog runs --kind` and `connlog logs --stream` (issue 12.9) as a user types
them, over `--api-url` and on the data directory, on `datagen.extras` (the demo's data: a
job every 15 minutes with one tick skipped and one failed, three operations, stdout/stderr)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

from connlog import datagen
from connlog.cli import app
from connlog.collector.config import Settings
from connlog.collector.http_thread import ThreadedServer
from connlog.query_api.app import create_app
from connlog.query_api.timeutil import NS, now_ns
from tests.api_env import ADMIN, _auth
from tests.collector_env import fresh_database, store

WIDE = {"COLUMNS": "200"}
NARROW = {"COLUMNS": "80"}
WAYS = ("http", "dir")


@dataclass
class Env:
    settings: Settings
    url: str
    ds: datagen.Dataset


@pytest.fixture(scope="module")
def env(base_settings: Settings) -> Iterator[Env]:
    ds = datagen.extras(now_ns() // NS * NS)
    with fresh_database(base_settings, "clijobs") as (settings, _):
        store(settings, ds)
        server = ThreadedServer(create_app(settings, auth=_auth()), name="api-under-test")
        server.start()
        try:
            yield Env(settings, server.url, ds)
        finally:
            server.stop()


def _run(env: Env, way: str, *args: str, cols: dict[str, str] = WIDE) -> str:
    target = (
        ["--api-url", env.url, "--token", ADMIN]
        if way == "http"
        else ["--data-dir", str(env.settings.data_dir), "--database", env.settings.database]
    )
    result = CliRunner().invoke(app, [*args, *target], env=cols)
    assert result.exit_code == 0, result.output
    return result.output


def _narrow(out: str) -> None:
    for line in out.splitlines():
        assert len(line) <= 80 or line.startswith("more: --cursor"), line


@pytest.mark.parametrize("way", WAYS)
def test_jobs_show_ticks_and_the_missed_one(env: Env, way: str) -> None:
    data = json.loads(_run(env, way, "jobs", "--since", "3h", "--json"))
    job = next(j for j in data if j["job_id"] == "hubspot-every-15min")
    assert job["missed_count"] == 1 and job["interval_s"] == 900
    assert [t["status"] for t in job["ticks"] if not t["missed"]].count("error") == 1
    out = _run(env, way, "jobs", "--since", "3h", "--ticks", "20", cols=NARROW)
    _narrow(out)
    assert "job hubspot-every-15min" in out and "every 900s" in out and "missed 1" in out
    assert out.count("MISSED") == 1
    runs = [t["run_id"] for t in job["ticks"] if t["run_id"]]
    assert all(r[:8] in out for r in runs) and not any(r in out for r in runs)  # short ids
    assert "□" in out and "■" in out  # the strip: fired and missed ticks
    assert "no scheduled job" in _run(env, way, "jobs", "--job-id", "nope")


@pytest.mark.parametrize("way", WAYS)
def test_runs_kind_lists_operations(env: Env, way: str) -> None:
    out = _run(env, way, "runs", "--kind", "operation", "--since", "3h", cols=NARROW)
    _narrow(out)
    assert "Operations" in out
    for kind, owner, state in (
        ("deploy", "ops-bot", "done"),
        ("build", "ci", "failed"),
        ("environment", "alice", "running"),
    ):
        line = next(ln for ln in out.splitlines() if kind in ln)
        assert owner in line and state in line, line
    data = json.loads(_run(env, way, "runs", "--kind", "deploy", "--since", "3h", "--json"))
    assert [(i["kind"], i["operation"]["status"], i["operation"]["target"]) for i in data["items"]] == [
        ("deploy", "done", "staging")
    ]
    syncs = json.loads(_run(env, way, "runs", "--kind", "sync", "--since", "3h", "--json"))["items"]
    assert syncs and {i["kind"] for i in syncs} == {"sync"} and all(i["job_id"] for i in syncs)
    mixed = _run(env, way, "runs", "--since", "3h", "--limit", "100", cols=NARROW)
    _narrow(mixed)
    assert "deploy" in mixed and "environment" in mixed  # an operation says its kind


@pytest.mark.parametrize("way", WAYS)
def test_logs_stream(env: Env, way: str) -> None:
    out = _run(env, way, "logs", "--stream", "stderr", "--since", "3h", cols=NARROW)
    _narrow(out)
    assert "stderr" in out and "RuntimeError: asset bundle failed" in out
    assert "stdout" not in out
    data = json.loads(_run(env, way, "logs", "--stream", "stdio", "--since", "3h", "--json"))
    assert {i["stream"] for i in data["items"]} == {"stdout", "stderr"}
    every = json.loads(_run(env, way, "logs", "--since", "3h", "--limit", "500", "--json"))["items"]
    assert {i["stream"] for i in every} == {"app", "stdout", "stderr"}


def test_bad_kind_or_stream_is_one_clear_line(env: Env) -> None:
    for args, name in ((["runs", "--kind", "a b"], "kind"), (["logs", "--stream", "stdwhat"], "stream")):
        result = CliRunner().invoke(app, [*args, "--api-url", env.url, "--token", ADMIN], env=WIDE)
        assert result.exit_code == 1 and "422" in result.output and name in result.output, result.output
        assert "Traceback" not in result.output
