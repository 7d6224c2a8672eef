"""Collector memory in the soak: engine defaults vs connlog's caps, side by side, one run.

Why this shape:
- The load is the reliability soak's (`tests/reliability/test_reliability_process.py`):
  exporter threads each sending one-span OTLP/HTTP protobuf requests as fast as the
  collector acknowledges them, retrying 429/503; afterwards every acknowledged span is
  reconciled against storage (stored = acked, exactly once).
- Three collector processes run *at the same time*, each on its own data directory with
  its own exporters: "engine-defaults" (every `CONNLOG_CHDB_*` cap set to 0, i.e. chDB's
  own server defaults, which is what the collector ran with before the caps), "capped"
  (connlog's defaults) and "tight" (`CONNLOG_CHDB_MAX_MEMORY_BYTES=--tight-mib`, below
  what the engine tracks under this load, to show a binding cap). Running them
  concurrently gives all the same machine load for the whole duration; alternating
  would give each a different part of it.
- Each collector prints its memory breakdown (`collector.stats.MemoryProbe`, the same
  figures `/stats` reports) every `--interval` seconds; RSS is also read from
  `/proc/<pid>/status` here. First/max/last are taken after a warm-up (the first quarter
  of the samples, as the soak test does) and compared as capped / defaults ratios.

    python -m bench.memory [--seconds 600] [--interval 5] [--workers 4] [--tight-mib 96] [--tag memory] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import ROOT, console, pct, ratio, table, write_results

MIB = 1024 * 1024
COUNTS = (
    "acked",
    "stored",
    "rate_per_s",
    "refused",
    "insert_retries",
    "batches_failed",
    "deferred_at_stop",
    "replayed_at_restart",
    "samples",
)
# Breakdown keys reported with first/p50/p95/max/last (the rest: max only).
SERIES = (
    "rss",
    "rss_anon",
    "rss_file",
    "engine.jemalloc_resident",
    "engine.MemoryTracking",
    "malloc_in_use",
    "malloc_free_held",
    "rss_anon_other",
)
# Every engine cap set to 0: the collector passes nothing and chDB keeps its own defaults.
ENGINE_DEFAULTS_ENV = "engine-defaults"
CAPPED = "capped"
# The total cap set below what the engine tracks under this load: shows what a binding cap
# costs (inserts refused with MEMORY_LIMIT_EXCEEDED, retried from the WAL) and that it
# loses nothing.
TIGHT = "tight"


# --------------------------------------------------------------------------- child process
def serve(data_dir: Path, http_port: int, grpc_port: int, interval: float) -> None:
    """The soak's collector (tests/reliability/runner.py `serve`, same options) plus a line
    `MEM <json>` with the memory breakdown every `interval` seconds."""
    from connlog.collector.config import Settings
    from connlog.collector.options import CollectorOptions
    from connlog.collector.schema.migrate import apply_schema
    from connlog.collector.server import CollectorServer
    from connlog.collector.stats import MemoryProbe
    from connlog.collector.store import connect

    settings = Settings.from_env().with_overrides(data_dir=data_dir)
    client = connect(settings)
    apply_schema(client, settings)
    client.close()
    server = CollectorServer(
        settings,
        http_port=http_port,
        grpc_port=grpc_port,
        options=CollectorOptions(batch_max_delay_s=0.2, insert_backoff_s=0.05, insert_backoff_max_s=0.5),
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    probe = MemoryProbe.for_settings(settings)
    print("READY", flush=True)
    while not stop.wait(interval):
        sample = probe.breakdown(server.batcher.backlog(), server.batcher.wal_status())
        print("MEM", json.dumps(sample), flush=True)
    probe.close()
    server.stop()
    print("STOPPED", json.dumps(server.stats.snapshot()), flush=True)


# --------------------------------------------------------------------------- parent
@dataclass
class Variant:
    name: str
    env: dict[str, str]
    data_dir: Path
    proc: subprocess.Popen[str] | None = None
    url: str = ""
    acked: list[str] = field(default_factory=list)
    samples: list[dict[str, int]] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)

    def start(self, interval: float) -> None:
        from tests.reliability.test_reliability_process import free_port

        http, grpc = free_port(), free_port()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.memory",
                "serve",
                str(self.data_dir),
                str(http),
                str(grpc),
                str(interval),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
            env={**os.environ, **self.env},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("READY"):
            raise RuntimeError(f"{self.name}: collector did not start: {line!r}")
        self.url = f"http://127.0.0.1:{http}"
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            kind, _, rest = line.strip().partition(" ")
            if kind == "MEM":
                self.samples.append(json.loads(rest))
            elif kind == "STOPPED":
                self.counters = json.loads(rest)

    def restart_and_stop(self, interval: float) -> None:
        """Start on the same directory (the WAL replays) and stop once it is written."""
        kept = list(self.samples)
        self.start(interval)
        self.stop()
        self.samples = kept

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        if self.proc.wait(120) != 0:
            raise RuntimeError(f"{self.name}: collector exited with {self.proc.returncode}")
        time.sleep(0.2)  # let the reader thread take the STOPPED line


def engine_defaults_env() -> dict[str, str]:
    from connlog.collector.config import ENV_ENGINE_MEMORY

    return dict.fromkeys(ENV_ENGINE_MEMORY.values(), "0")


def with_other(sample: dict[str, int]) -> dict[str, int]:
    """`rss_anon_other`: anonymous RSS neither allocator accounts for: pymalloc's arenas
    (Python's small objects), thread stacks, pyarrow's pool, other mmaps."""
    known = sample.get("engine.jemalloc_resident", 0) + sample.get("malloc_in_use", 0)
    known += sample.get("malloc_free_held", 0)
    return {**sample, "rss_anon_other": max(0, sample.get("rss_anon", 0) - known)}


def summarize(v: Variant, seconds: float) -> dict[str, Any]:
    warm = [with_other(s) for s in v.samples[len(v.samples) // 4 :] or v.samples]

    def col(key: str) -> list[float]:
        return [s.get(key, 0) / MIB for s in warm]

    out: dict[str, Any] = {
        "acked": len(v.acked),
        "rate_per_s": round(len(v.acked) / seconds, 1),
        "samples": len(v.samples),
        "refused": v.counters.get("spans_refused", 0),
    }
    for key in SERIES:
        values = col(key)
        if values:
            out[f"{key}_mib"] = {
                "first": round(values[0], 1),
                "max": round(max(values), 1),
                "last": round(values[-1], 1),
                "p50": round(pct(values, 50), 1),
                "p95": round(pct(values, 95), 1),
            }
    for key in sorted(
        {k for s in warm for k in s if k.startswith("engine.")} | {"backlog_bytes", "wal_bytes"}
    ):
        values = col(key)
        if values and key not in SERIES:
            out[f"{key}_max_mib"] = round(max(values), 2)
    out["insert_retries"] = v.counters.get("insert_retries", 0)
    out["batches_failed"] = v.counters.get("batches_failed", 0)
    return out


def run(
    seconds: float, interval: float, workers: int, tight_mib: int, tag: str, smoke: bool
) -> dict[str, Any]:
    from connlog.collector.config import ENV_ENGINE_MEMORY
    from tests.reliability.test_reliability_process import reconcile, send

    base = Path(tempfile.mkdtemp(prefix="connlog-memory-"))
    tight = {ENV_ENGINE_MEMORY["max_server_memory_usage"]: str(tight_mib * MIB)}
    variants = [
        Variant(ENGINE_DEFAULTS_ENV, engine_defaults_env(), base / "defaults"),
        Variant(CAPPED, {}, base / "capped"),
        Variant(TIGHT, tight, base / "tight"),
    ]
    load_start = os.getloadavg()
    for v in variants:
        v.start(interval)
    stop = threading.Event()
    threads = [
        threading.Thread(target=send, args=(v.url, w, 10**6, v.acked, stop), daemon=True)
        for v in variants
        for w in range(workers)
    ]
    console.print(
        f"[dim]{len(variants)} collectors, {workers} exporters each, {seconds:.0f} s; data in {base}[/dim]"
    )
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(30)
    for v in variants:
        v.stop()
    results: dict[str, Any] = {}
    for v in variants:
        summary = summarize(v, seconds)
        # Rows the engine still refused at shutdown stay in the WAL ("deferred"); the next
        # start writes them, as in production, before the reconcile.
        summary["deferred_at_stop"] = v.counters.get("spans_deferred", 0)
        if summary["deferred_at_stop"]:
            v.restart_and_stop(interval)
            summary["replayed_at_restart"] = v.counters.get("spans_replayed", 0)
        counts = reconcile(v.data_dir, v.acked, in_flight=0)  # raises unless stored = acked
        results[v.name] = {**summary, "stored": counts["otel_traces"]}
    shutil.rmtree(base, ignore_errors=True)  # kept when a reconcile failed, for inspection
    results["loadavg"] = {"start": list(load_start), "end": list(os.getloadavg())}
    payload = {
        "seconds": seconds,
        "interval": interval,
        "workers": workers,
        "tight_mib": tight_mib,
        "results": results,
    }
    write_results(tag, payload, smoke=smoke)
    report(results, seconds, workers)
    return results


def report(results: dict[str, Any], seconds: float, workers: int) -> None:
    names = (ENGINE_DEFAULTS_ENV, CAPPED, TIGHT)
    d = results[ENGINE_DEFAULTS_ENV]
    rows: list[tuple[Any, ...]] = []
    for key in SERIES:
        if f"{key}_mib" not in d:
            continue
        for stat in ("first", "p50", "p95", "max", "last"):
            values = [results[n].get(f"{key}_mib", {}).get(stat) for n in names]
            rows.append((f"{key} {stat}", *values, *(ratio(v or 0, values[0] or 0) for v in values[1:])))
    for key in sorted(k for k in d if k.endswith("_max_mib")):
        values = [results[n].get(key) for n in names]
        rows.append(
            (
                key.removesuffix("_mib") + " (MiB)",
                *values,
                *(ratio(v or 0, values[0] or 0) for v in values[1:]),
            )
        )
    for key in COUNTS:
        values = [results[n].get(key, 0) for n in names]
        rows.append((key, *values, *(ratio(v, values[0]) for v in values[1:])))
    table(
        f"collector memory, {seconds:.0f} s soak, {workers} exporters per collector (MiB; after warm-up)",
        ("", *names, f"{CAPPED} / defaults", f"{TIGHT} / defaults"),
        rows,
    )
    console.print(f"load average start {results['loadavg']['start']} end {results['loadavg']['end']}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--tight-mib", type=int, default=96, help="total engine cap of the 'tight' variant")
    parser.add_argument("--tag", default="memory")
    parser.add_argument("--smoke", action="store_true", help="20 s, 1 s samples")
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.interval = 20.0, 1.0
    run(args.seconds, args.interval, args.workers, args.tight_mib, args.tag, args.smoke)


if __name__ == "__main__":
    main()
