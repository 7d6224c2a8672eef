"""Run every benchmark area, each in its own interpreter, and summarise the targets.

Each area runs in a fresh process: chDB allows one data directory per process and the SDK
variants patch httpx globally. `--smoke` runs tiny versions (seconds; used by CI through
tests/test_bench_smoke.py) on a fresh dataset under bench/data/smoke/.

    python -m bench.run_all            # full: datasets are built once and cached in bench/data/
    python -m bench.run_all --smoke
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from bench.common import RESULTS_DIR, SMOKE_DIR_ENV, console, run_module, table

AREAS = ("sdk_overhead", "ingest", "queries", "storage")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--only", default=",".join(AREAS), help="comma list of areas")
    args = ap.parse_args(argv)
    areas = [a for a in args.only.split(",") if a]
    env: dict[str, str] = {}
    smoke_dir = None
    if args.smoke:
        # A private chDB directory per smoke run: concurrent runs must not share one.
        smoke_dir = tempfile.mkdtemp(prefix="connlog-bench-smoke-")
        env[SMOKE_DIR_ENV] = smoke_dir
    failed = []
    summary = []
    extra = ["--smoke"] if args.smoke else []

    def run(area: str) -> tuple[str, subprocess.CompletedProcess[str], float]:
        t0 = time.perf_counter()
        proc = run_module(f"bench.{area}", *extra, env=env)
        return area, proc, time.perf_counter() - t0

    if args.smoke:
        # Smoke timings mean nothing, so independent areas run side by side to stay near a
        # minute: queries and storage each use their own chDB directory; the SDK and
        # ingest areas share the third lane.
        lanes = [[a] for a in areas if a in ("queries", "storage")]
        lanes.append([a for a in areas if a not in ("queries", "storage")])
        with ThreadPoolExecutor(len(lanes)) as pool:
            futures = [pool.submit(lambda c: [run(a) for a in c], c) for c in lanes if c]
            done = {area: (proc, secs) for f in futures for area, proc, secs in f.result()}
        results = [(a, *done[a]) for a in areas]
    else:
        results = [run(a) for a in areas]
    for area, proc, seconds in results:
        console.print(proc.stdout, end="", markup=False, highlight=False)
        if proc.returncode != 0:
            failed.append(area)
            console.print(
                f"[red]{area} failed ({proc.returncode})[/red]\n{proc.stderr[-4000:]}", markup=False
            )
        summary.append([area, "ok" if proc.returncode == 0 else "FAILED", round(seconds, 1)])
    targets = {}
    for area in areas:
        path = RESULTS_DIR / f"{area}{'-smoke' if args.smoke else ''}.json"
        if path.exists():
            doc = json.loads(path.read_text())
            targets[area] = doc.get("targets") or {"target_met": doc.get("target_met")}
    if smoke_dir:
        shutil.rmtree(smoke_dir, ignore_errors=True)
    table("bench.run_all", ["area", "result", "seconds"], summary)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"run_all{'-smoke' if args.smoke else ''}.json").write_text(
        json.dumps({"areas": summary, "failed": failed, "targets": targets}, indent=2, default=str)
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
