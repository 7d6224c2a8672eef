"""`connlog demo` — the README's first command — run as a user runs it, in its own process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from connlog.demo.fake_api import BILLING_API_KEY, GOOD_TOKEN

FIND_SECRETS = """
import json, sys
import clickhouse_connect
client = clickhouse_connect.get_client(dsn="chdb://" + sys.argv[1])
secrets = json.loads(sys.argv[2])
cols = client.query(
    "SELECT database, table, name FROM system.columns WHERE database = 'connlog'"
    " AND table NOT LIKE '%_ingest' AND table NOT LIKE '%_mv'"
).result_rows
found, rows = [], 0
for db, table, col in cols:
    for secret in secrets:
        n = client.query(
            f"SELECT count() FROM {db}.{table} WHERE positionCaseInsensitive(toString(`{col}`), {{s:String}}) > 0",
            parameters={"s": secret},
        ).result_rows[0][0]
        if n:
            found.append([table, col, secret])
rows = client.query("SELECT count() FROM connlog.otel_traces").result_rows[0][0]
print(json.dumps({"found": found, "spans": rows}))
"""


@pytest.mark.timeout(600)  # six connector processes and a dozen CLI calls on a shared machine
def test_demo_runs_connectors_and_stores_no_secret(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-m", "connlog.cli", "demo", "--no-wait", "--data-dir", str(data_dir),
         "--otlp-http-port", "0", "--otlp-grpc-port", "0", "--api-port", "0"],
        capture_output=True, text=True, timeout=240, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    # The viewer's address comes first, then the demo admin key to sign in with.
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines[0].startswith("viewer") and "http://127.0.0.1:" in lines[0], lines[:3]
    assert "demo admin key" in lines[1], lines[:3]
    assert "zendesk" in out and "is running" in out
    # The three sample connectors ran and their failures were classified.
    for connector, cause in (("hubspot", "shape_mismatch"), ("netsuite", "auth"), ("chargebee", "timeout")):
        assert any(connector in line and cause in line for line in out.splitlines()), (connector, cause, out)
    assert "rate_limited" in out and "not_found" in out
    assert "Where to look" in out and "/docs" in out
    # Nothing secret reached storage, in any column of any table.
    check = subprocess.run(
        [sys.executable, "-c", FIND_SECRETS, str(data_dir / "clickhouse"), json.dumps([GOOD_TOKEN, BILLING_API_KEY])],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    result = json.loads(check.stdout.strip().splitlines()[-1])
    assert result["spans"] > 30
    assert result["found"] == []

    # The query commands work straight on the demo's directory once the demo has stopped.
    def connlog(*args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "connlog.cli", *args, "--data-dir", str(data_dir)],
            capture_output=True, text=True, timeout=120, env=env, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        assert "Warning" not in proc.stderr, proc.stderr
        return proc.stdout

    runs = connlog("runs", "--since", "1d")
    assert all(name in runs for name in ("hubspot", "chargebee", "netsuite"))
    hubspot_run = next(line.split()[2] for line in runs.splitlines() if " hubspot " in line)
    tree = connlog("run", hubspot_run)
    assert "step contacts" in tree and "step deals" in tree and "fault [shape_mismatch]" in tree
    assert re.search(r"\b(retries|resends) 1\b", tree), tree  # the page that got a 429 and was sent again
    assert hubspot_run in connlog("search", "c-001")
    assert "rate_limited" in connlog("calls", "--failure-cause", "rate_limited")

    # The whole range the viewer shows: a scheduled job's ticks, webhooks received, a run
    # still running (its process was stopped mid-run), failures of several causes.
    def count(where: str) -> str:
        return connlog("sql", f"SELECT concat('n=', toString(count())) AS n FROM otel_traces WHERE {where}")

    # finished runs: 3 samples + 3 pipedrive ticks + the demo job's 8 ticks (one of 9 skipped)
    # + 2 finished operations; zendesk and the environment sync never end
    assert "n=16" in count("Role = 'run'")
    jobs = connlog("jobs", "--since", "1d")
    assert "pipedrive-every-15min" in jobs and "MISSED" in jobs, jobs  # the demo job skipped a tick
    ops = connlog("runs", "--since", "1d", "--kind", "operation")
    assert all(word in ops for word in ("deploy", "build", "environment_sync")), ops
    assert "Traceback" in connlog("logs", "--since", "1d", "--stream", "stderr")

    assert "n=3" in count(
        "Role = 'run' AND ServiceName = 'pipedrive' AND SpanAttributes['connector.run.trigger'] = 'schedule'"
    )
    assert "n=3" in count("Role = 'webhook'")
    assert "n=1" in count("Role = 'webhook' AND HttpStatus = 401")
    assert "zendesk" in connlog("runs", "--since", "1d", "--status", "running")
    assert "pipedrive" in connlog("runs", "--since", "1d", "--status", "ok")


def test_demo_refuses_to_wipe_a_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    proc = subprocess.run(
        [sys.executable, "-m", "connlog.cli", "demo", "--no-wait", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "not made by the demo" in proc.stdout
    assert (tmp_path / "precious.txt").read_text() == "keep me"
