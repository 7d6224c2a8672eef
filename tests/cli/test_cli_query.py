"""The `connlog` query commands as a user types them: over `--api-url` with keys, and in-process
on the data directory, on the same dataset; `--json` is the API's JSON; short ids; clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from connlog import cli_ids
from connlog.cli import app
from connlog.cli_query import since_epoch
from connlog.collector.http_thread import ThreadedServer
from connlog.query_api import paths
from connlog.query_api.app import create_app
from tests.api_env import ADMIN, SCOPED, SCOPED_CONNECTOR, VIEWER, ApiEnv, _auth

ENV = {"COLUMNS": "250"}
NARROW = {"COLUMNS": "80"}
WAYS = ("http", "dir")


@pytest.fixture(scope="module")
def api_url(api: ApiEnv) -> Iterator[str]:
    server = ThreadedServer(create_app(api.settings, auth=_auth()), name="api-under-test")
    server.start()
    yield server.url
    server.stop()


def _cli(api_url: str, key: str | None, *args: str, env: dict[str, str] = ENV) -> tuple[int, str]:
    base = ["--api-url", api_url] + (["--token", key] if key else [])
    result = CliRunner().invoke(app, [*args, *base], env=env)
    return result.exit_code, result.output


def _dir(api: ApiEnv, *args: str, env: dict[str, str] = ENV) -> tuple[int, str]:
    """In-process on the data directory (this test process already owns it, as chDB requires)."""
    base = ["--data-dir", str(api.settings.data_dir), "--database", api.settings.database]
    result = CliRunner().invoke(app, [*args, *base], env=env)
    return result.exit_code, result.output


def _either(way: str, api: ApiEnv, api_url: str, *args: str, env: dict[str, str] = ENV) -> tuple[int, str]:
    return _cli(api_url, ADMIN, *args, env=env) if way == "http" else _dir(api, *args, env=env)


def _failed(api: ApiEnv) -> Any:
    return next(t for t in api.truth if t.status == "error" and t.steps)


def test_runs_lists_what_was_sent(api: ApiEnv, api_url: str) -> None:
    code, out = _cli(api_url, VIEWER, "runs", "--since", "3d", "--limit", "500", "--full-ids")
    assert code == 0, out
    for truth in api.truth:
        assert truth.run_id in out
    code, out = _cli(api_url, VIEWER, "runs", "--since", "3d", "--status", "running", "--limit", "500")
    running = [t.run_id[:8] for t in api.truth if t.status == "running"]
    assert running and all(r in out for r in running)
    assert not [t.run_id for t in api.truth if t.status != "running" and t.run_id[:8] in out]


@pytest.mark.parametrize("way", WAYS)
def test_run_tree_shows_steps_faults_and_every_call(way: str, api: ApiEnv, api_url: str) -> None:
    failed = _failed(api)
    code, out = _either(way, api, api_url, "run", failed.run_id[:8])
    assert code == 0, out
    for step in failed.steps:
        assert f"step {step}" in out
    assert f"fault [{failed.failure_cause}]" in out
    calls = api.all_items(paths.api(paths.CALLS), run=failed.run_id, limit=500)
    assert len(calls) == failed.calls
    assert all(c["call_id"][:8] in out for c in calls)


def test_scoped_key_sees_only_its_connector(api: ApiEnv, api_url: str) -> None:
    code, out = _cli(api_url, SCOPED, "runs", "--since", "3d", "--limit", "500")
    assert code == 0, out
    for truth in api.truth:
        assert (truth.run_id[:8] in out) == (truth.connector == SCOPED_CONNECTOR)
    other = next(t for t in api.truth if t.connector != SCOPED_CONNECTOR)
    code, out = _cli(api_url, SCOPED, "run", other.run_id)
    assert code == 1 and "404" in out


@pytest.mark.parametrize("way", WAYS)
def test_search_finds_the_run_of_a_record(way: str, api: ApiEnv, api_url: str) -> None:
    truth = next(t for t in api.truth if t.external_ids)
    code, out = _either(way, api, api_url, "search", truth.external_ids[0])
    assert code == 0, out
    assert truth.run_id[:8] in out


def test_sql_needs_admin_and_refuses_writes(api_url: str) -> None:
    code, out = _cli(api_url, ADMIN, "sql", "SELECT count() AS spans FROM otel_traces")
    assert code == 0 and "spans" in out, out
    code, out = _cli(api_url, VIEWER, "sql", "SELECT 1")
    assert code == 1 and "403" in out
    code, out = _cli(api_url, ADMIN, "sql", "DROP TABLE otel_traces")
    assert code == 1 and "400" in out
    code, out = _cli(api_url, None, "runs")
    assert code == 1 and "401" in out and "--token" in out


def test_bad_since_is_a_usage_error() -> None:
    assert since_epoch("2h", now=10_000) == 10_000 - 7200
    result = CliRunner().invoke(app, ["runs", "--since", "yesterday"], env=ENV)
    assert result.exit_code == 2
    assert "--since" in result.output


@pytest.mark.parametrize("way", WAYS)
def test_new_commands_answer(way: str, api: ApiEnv, api_url: str) -> None:
    failed = _failed(api)
    code, out = _either(
        way, api, api_url, "logs", "--since", "3d", "--min-severity", "error", "--limit", "500"
    )
    assert code == 0, out
    errors = api.all_items(paths.api(paths.LOGS), severity="error", limit=500)
    assert errors and all(r["severity_number"] >= 17 for r in errors)
    assert all(r["body"][:20] in out for r in errors[:20])
    code, out = _either(
        way, api, api_url, "logs", "--since", "3d", "--run", failed.run_id[:10], "--text", "step"
    )
    assert code == 0, out
    assert f"step {failed.steps[0]}" in out

    truth = next(t for t in api.truth if t.external_ids and t.steps)
    code, out = _either(
        way, api, api_url, "entities", truth.run_id[:8], "--step", truth.steps[0], "--limit", "500"
    )
    assert code == 0, out
    rows = api.all_items(paths.api(paths.RUN_ENTITIES, run_id=truth.run_id), step=truth.steps[0], limit=500)
    assert rows and all(r["external_id"] in out for r in rows)
    step_id = api.ok(paths.api(paths.RUN, run_id=truth.run_id))["steps"][0]["step_id"]
    code, by_id = _either(
        way, api, api_url, "entities", truth.run_id[:8], "--step", step_id[:6], "--limit", "500"
    )
    assert code == 0 and by_id == out, by_id
    code, out = _either(way, api, api_url, "entities", truth.run_id[:8], "--step", "no-such-step")
    assert code == 1 and "the run has no step 'no-such-step'" in out and truth.steps[0] in out

    code, out = _either(way, api, api_url, "faults", "--since", "3d", "--run", failed.run_id[:8])
    assert code == 0, out
    assert failed.run_id[:8] in out and failed.failure_cause in out and "by cause:" in out

    bad = next(c for c in api.all_items(paths.api(paths.CALLS), status=">=400", limit=500))
    code, out = _either(way, api, api_url, "call", bad["call_id"][:8])
    assert code == 0, out
    assert f"call {bad['call_id'][:8]}" in out and str(bad["http_status"]) in out
    assert "request" in out and "response" in out and "cause" in out


@pytest.mark.parametrize("way", WAYS)
def test_json_is_the_apis_json(way: str, api: ApiEnv, api_url: str) -> None:
    failed = _failed(api)
    rid = failed.run_id
    call = api.all_items(paths.api(paths.CALLS), run=rid, limit=500)[0]
    since = str(since_epoch("3d"))  # the CLI computes the same bound within the test's second
    cases: list[tuple[list[str], str, dict[str, Any]]] = [
        (["runs", "--since", "3d", "--limit", "500"], paths.api(paths.RUNS), {"from": since, "limit": 500}),
        (["run", rid[:8]], paths.api(paths.RUN, run_id=rid), {}),
        (
            ["calls", "--run", rid[:8], "--since", "3d"],
            paths.api(paths.CALLS),
            {"run": rid, "from": since, "limit": 50},
        ),
        (["call", call["call_id"][:8]], paths.api(paths.CALL, call_id=call["call_id"]), {"run": rid}),
        (["entities", rid[:8]], paths.api(paths.RUN_ENTITIES, run_id=rid), {"limit": 100}),
        (["faults", "--since", "3d"], paths.api(paths.FAULTS), {"from": since, "limit": 50}),
        (
            ["logs", "--min-severity", "warn", "--since", "3d", "--limit", "500"],
            paths.api(paths.LOGS),
            {"severity": "warn", "from": since, "limit": 500},
        ),
    ]
    for args, url, params in cases:
        for _ in range(3):  # a second boundary between the two reads shifts `from`: read again
            code, out = _either(way, api, api_url, *args, "--json")
            assert code == 0, out
            if json.loads(out) == api.ok(
                url, **{**params, "from": str(since_epoch("3d"))} if "from" in params else params
            ):
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"{args}: --json differs from the API's answer")


@pytest.mark.parametrize("way", WAYS)
def test_prefixes_resolve_or_say_why_not(
    way: str,
    api: ApiEnv,
    api_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    truth = api.truth[0]
    code, out = _either(way, api, api_url, "run", truth.run_id[:8], "--full-ids")
    assert code == 0 and f"run {truth.run_id}" in out, out
    code, out = _either(way, api, api_url, "run", "0000000")
    assert code == 1 and "no run id starts with '0000000'" in out and "Traceback" not in out
    code, out = _either(way, api, api_url, "run", "xyz1")
    assert code == 1 and "not a run id" in out
    # 30 runs over 16 hex digits: some first character is shared; allow one-character prefixes.
    monkeypatch.setattr(cli_ids, "MIN_PREFIX", 1)
    firsts = [t.run_id[0] for t in api.truth]
    shared = next(c for c in firsts if firsts.count(c) > 1)
    code, out = _either(way, api, api_url, "entities", shared)
    assert code == 1 and "ambiguous" in out and "give more characters" in out, out
    matching = [t.run_id for t in api.truth if t.run_id.startswith(shared)]
    assert sum(r in out for r in matching) >= 2


def test_eighty_columns_wrap_no_id(api: ApiEnv) -> None:
    failed = _failed(api)
    for args, key in (
        (["runs", "--since", "3d", "--limit", "500"], "run_id"),
        (["calls", "--since", "3d", "--limit", "200"], "call_id"),
        (["logs", "--since", "3d", "--limit", "200"], "run_id"),
        (["faults", "--since", "3d"], "run_id"),
        (["entities", failed.run_id[:8], "--limit", "200"], "external_id"),
    ):
        code, out = _dir(api, *args, env=NARROW)
        assert code == 0, out
        _, raw = _dir(api, *args, "--json")
        items = json.loads(raw)["items"]
        assert items
        for item in items:
            if item[key]:
                assert item[key][:8] in out, (args, item[key])
        for line in out.splitlines():
            assert len(line) <= 80 or line.startswith("more: --cursor"), (args, line)
        assert not any(t.run_id in out for t in api.truth)  # short ids only


def test_export_writes_files_both_ways(api: ApiEnv, api_url: str, tmp_path: Path) -> None:
    for way in WAYS:
        for kind, fmt, magic in (("runs", "csv", b"run_id"), ("calls", "pdf", b"%PDF"), ("logs", "csv", b"")):
            dest = tmp_path / f"{way}-{kind}.{fmt}"
            code, out = _either(
                way, api, api_url, "export", kind, "--format", fmt, "-o", str(dest), "--since", "3d"
            )
            assert code == 0, out
            assert dest.exists() and dest.stat().st_size > 0 and magic in dest.read_bytes()[:200]
    code, out = _cli(
        api_url, ADMIN, "export", "logs", "-o", str(tmp_path / "x.csv"), "--min-severity", "nope"
    )
    assert code == 1 and "severity" in out and not (tmp_path / "x.csv").exists()


def test_data_dir_without_schema_says_how_to_create_it(api: ApiEnv) -> None:
    from connlog.collector.store import connect

    name = f"noschema_{int(time.time())}"
    result = CliRunner().invoke(
        app, ["runs", "--data-dir", str(api.settings.data_dir), "--database", name], env=ENV
    )
    try:
        assert result.exit_code == 1
        assert f"no connlog schema in database '{name}'" in result.output
        assert f"connlog schema apply --data-dir {api.settings.data_dir} --database {name}" in result.output
        assert "Traceback" not in result.output
    finally:
        client = connect(api.settings)
        client.command(f"DROP DATABASE IF EXISTS {name}")
        client.close()


HOLD = """
import sys
from pathlib import Path
from connlog.collector.config import Settings
from connlog.collector.store import connect
client = connect(Settings(data_dir=Path(sys.argv[1])))  # kept open: chDB holds the lock while open
print("ready", flush=True)
sys.stdin.read()
"""


def test_data_dir_owned_by_another_process_suggests_api_url(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        result = CliRunner().invoke(app, ["runs", "--data-dir", str(tmp_path)], env=ENV)
        assert result.exit_code == 1
        assert f"in use by process {holder.pid}" in result.output
        assert "--api-url http://127.0.0.1:8080" in result.output
        assert "Traceback" not in result.output
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=60)


def test_a_printed_cursor_works_in_the_next_process(api: ApiEnv) -> None:
    """On a data directory each command is its own process: the signing secret is kept there."""
    import json as _json

    from connlog.query_api import cursor

    code, out = _dir(api, "runs", "--limit", "2", "--since", "7d", "--json")
    assert code == 0, out
    first = _json.loads(out)
    assert first["next_cursor"]
    cursor.configure(b"a-fresh-process-has-another-random-secret")
    code, out = _dir(api, "runs", "--limit", "2", "--since", "7d", "--json", "--cursor", first["next_cursor"])
    assert code == 0, out
    second = _json.loads(out)
    assert {r["run_id"] for r in second["items"]}.isdisjoint({r["run_id"] for r in first["items"]})
