"""`python -m bench.run_all --smoke` runs every benchmark area end to end and writes results.

Only that it works and what it writes are checked; timings on a shared CI machine are
noise, so nothing here asserts a number (see docs/performance.md for the real runs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

EXPECTED_KEYS = {
    "sdk_overhead": {"machine", "params", "variants", "ratios", "target_met"},
    "ingest": {"machine", "data", "runs", "breakdown", "targets"},
    "queries": {"machine", "datasets", "sizes"},
    "storage": {"machine", "before", "after", "targets"},
}


@pytest.mark.timeout(300)
def test_bench_smoke_runs_every_area_and_writes_json(tmp_path: Path) -> None:
    results = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run_all", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=290,
        check=False,
        env={**os.environ, "CONNLOG_BENCH_RESULTS": str(results)},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for area, keys in EXPECTED_KEYS.items():
        doc = json.loads((results / f"{area}-smoke.json").read_text())
        assert doc["smoke"] is True
        assert keys <= set(doc), (area, set(doc))
    sdk = json.loads((results / "sdk_overhead-smoke.json").read_text())
    assert set(sdk["variants"]) == {"plain", "otel_bare", "logfire", "ours"}
    assert sdk["variants"]["ours"]["spans_exported_last_round"] > 0
    queries = json.loads((results / "queries-smoke.json").read_text())
    assert set(queries["sizes"]) == {"q1m", "q10m"}
    for size in queries["sizes"].values():
        assert all(200 in r["statuses"] for r in size["results"]), size["results"]
    ingest = json.loads((results / "ingest-smoke.json").read_text())
    assert all(r["stored"] == r["items"] for r in ingest["runs"])
    assert json.loads((results / "run_all-smoke.json").read_text())["failed"] == []
