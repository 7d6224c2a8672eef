"""Shared helpers: machine facts, robust statistics, result files and rich tables.

Timings on a shared machine are noisy, so every area compares its variants in the same
run and reports ratios; the helpers here keep that uniform (medians, p50/p95, one JSON
file per area with the machine it ran on).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
# Overridable so concurrent smoke runs (CI, several engineers' test runs) never share files.
RESULTS_DIR = Path(os.environ.get("CONNLOG_BENCH_RESULTS") or ROOT / "bench" / "results")
DATA_DIR = ROOT / "bench" / "data"
SMOKE_DIR_ENV = "CONNLOG_BENCH_SMOKE_DIR"

console = Console(width=160)


def machine() -> dict[str, Any]:
    """What the numbers were measured on: cores, CPU, memory, Python, load at the start."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor()
    mem_gib = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    versions: dict[str, str] = {}
    for mod in ("chdb", "clickhouse_connect", "httpx", "opentelemetry.sdk.version", "logfire", "grpc"):
        try:
            m = __import__(mod, fromlist=["x"])
            versions[mod] = str(getattr(m, "__version__", getattr(m, "VERSION", "")))
        except Exception:
            continue
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": mem_gib,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "loadavg_at_start": list(os.getloadavg()),
        "versions": versions,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def clickhouse_version(client: Any) -> str:
    try:
        return str(client.command("SELECT version()"))
    except Exception:
        return ""


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def write_results(area: str, payload: dict[str, Any], *, smoke: bool) -> Path:
    """bench/results/<area>[-smoke].json, with the machine facts under "machine"."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{area}{'-smoke' if smoke else ''}.json"
    doc = {"area": area, "smoke": smoke, "machine": machine(), **payload}
    path.write_text(json.dumps(doc, indent=2, default=str))
    console.print(f"[dim]wrote {path}[/dim]")
    return path


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    t = Table(title=title, title_justify="left")
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if i == 0 else "right")
    for r in rows:
        t.add_row(*[fmt(v) for v in r])
    console.print(t)


def fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        return f"{v:.3g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def run_module(
    module: str, *args: str, timeout: float = 7200, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m <module> <args>` in a fresh interpreter (own chDB directory, own httpx patches)."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )


class CpuTimer:
    """Wall and process-CPU seconds of a block (process CPU includes chDB's threads)."""

    def __enter__(self) -> CpuTimer:
        self._w = time.perf_counter()
        self._c = time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._w
        self.cpu = time.process_time() - self._c
