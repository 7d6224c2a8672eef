"""Ingest: spans/s and logs/s from OTLP request to rows in ClickHouse, vs the raw insert ceiling.

Why this shape:
- The collector (HTTP + gRPC receivers, batcher, chDB) runs in this process; the exporters
  are separate processes sending pre-serialized protobuf, so their CPU is not charged to
  the collector. "Per core" is items / CPU-seconds of the collector process (Python and
  chDB's insert threads together), which is what a one-core deployment would sustain and
  is far less sensitive to other load on the machine than wall time.
- The raw ceilings insert the very same rows, already decoded and batched like the
  batcher does (10k rows, column-oriented), into `otel_traces_ingest`: once with
  clickhouse-connect's Native serialization (the portable writer, used for a server) and
  once as Arrow through chDB's `Python()` table function (the embedded writer). The
  collector is compared with the best of them: everything it adds is the gap.
- The breakdown times each stage of the collector path on the same requests in one
  thread, as the collector runs it (parse, limits + decode, server-side redaction, WAL
  encoding, batch merge, insert), and keeps a cProfile.
- `--old REV` (default HEAD) first runs the same benchmark from `git archive REV` in a
  subprocess, so today's code and the working tree are compared in one run
  (`--old ''` skips it).
- `--workers 0,1,2` runs the end-to-end paths once per number of decode worker processes
  (`CONNLOG_DECODE_WORKERS`, collector.decode_pool), `--repeat N` times interleaved, and
  prints them side by side (medians): items/s wall, and per CPU-second where the CPU is
  the collector process's plus its workers' (read from /proc), with the parent's share
  apart (what the one writer process still pays per item). `--workers-only` skips the
  raw ceilings and the one-thread breakdown.

    python -m bench.ingest [--spans N] [--smoke] [--bodies lo,hi] [--old REV]
                           [--workers 0,1,2] [--repeat N] [--workers-only]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.common import ROOT, CpuTimer, clickhouse_version, console, ratio, table, write_results
from bench.dataset import Export, Shape, base_dataset, exports, log_exports

SENDERS = 3
_FRAME = struct.Struct("!cI")


# --------------------------------------------------------------------------- frames on disk
def write_frames(path: Path, items: Iterable[Export]) -> None:
    with path.open("wb") as f:
        for e in items:
            f.write(_FRAME.pack(e.signal[0].encode(), len(e.body)))
            f.write(e.body)


def read_frames(path: Path) -> list[tuple[str, bytes]]:
    data = path.read_bytes()
    out: list[tuple[str, bytes]] = []
    pos = 0
    while pos < len(data):
        sig, n = _FRAME.unpack_from(data, pos)
        pos += _FRAME.size
        out.append(("traces" if sig == b"t" else "logs", data[pos : pos + n]))
        pos += n
    return out


# --------------------------------------------------------------------------- sender process
def sender(protocol: str, endpoint: str, path: Path) -> None:
    """Waits for 'go' on stdin, sends every frame (retrying on backpressure), reports JSON."""
    frames = read_frames(path)
    retries = 0
    print("ready", flush=True)
    sys.stdin.readline()
    t0 = time.perf_counter()
    if protocol == "http":
        import httpx

        with httpx.Client(base_url=endpoint, timeout=60) as client:
            for signal, body in frames:
                while True:
                    r = client.post(
                        f"/v1/{signal}", content=body, headers={"Content-Type": "application/x-protobuf"}
                    )
                    if r.status_code in (429, 503):
                        retries += 1
                        time.sleep(0.05)
                        continue
                    r.raise_for_status()
                    break
    else:
        import grpc

        channel = grpc.insecure_channel(
            endpoint,
            options=[
                ("grpc.max_send_message_length", 64 << 20),
                ("grpc.max_receive_message_length", 64 << 20),
            ],
        )
        methods = {
            "traces": channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export"),
            "logs": channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export"),
        }
        for signal, body in frames:
            while True:
                try:
                    methods[signal](body, timeout=60)
                    break
                except grpc.RpcError as exc:
                    if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED):
                        retries += 1
                        time.sleep(0.05)
                        continue
                    raise
        channel.close()
    print(json.dumps({"seconds": time.perf_counter() - t0, "retries": retries}), flush=True)


# --------------------------------------------------------------------------- phases
def _settings(data_dir: Path, database: str) -> Any:
    from connlog.collector.config import Settings

    return Settings(data_dir=data_dir, database=database)


def _fresh(settings: Any) -> Any:
    from connlog.collector.schema.migrate import apply_schema
    from connlog.collector.store import connect

    client = connect(settings)
    client.command(f"DROP DATABASE IF EXISTS {settings.database} SYNC")
    client = connect(settings)
    apply_schema(client, settings)
    return client


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_of(pids: Iterable[int]) -> float:
    """User + system CPU seconds so far of these processes (the decode workers), from /proc."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone: a replaced worker (counted as `decode_worker_crashes`)
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / _CLOCK_TICKS


def end_to_end(
    data_dir: Path,
    database: str,
    protocol: str,
    shards: list[Path],
    items: int,
    signal: str,
    workers: int = 0,
) -> dict[str, Any]:
    """Start a collector, let the sender processes go, wait until everything is in ClickHouse.

    Raises unless the rows stored equal the items sent.
    """
    from connlog.collector.options import CollectorOptions
    from connlog.collector.server import CollectorServer

    settings = _settings(data_dir, database)
    client = _fresh(settings)
    server = CollectorServer(
        settings,
        http_port=0,
        grpc_port=0,
        options=CollectorOptions(batch_max_delay_s=0.5, decode_workers=workers),
    )
    server.start()
    pids = server.pool.worker_pids() if server.pool is not None else []
    workers_cpu_0 = _cpu_of(pids)
    endpoint = server.http_endpoint if protocol == "http" else server.grpc_endpoint
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.ingest", "--send", protocol, endpoint, str(p)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for p in shards
    ]
    try:
        for p in procs:
            assert p.stdout is not None
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError("sender failed to start")
        with CpuTimer() as t:
            for p in procs:
                assert p.stdin is not None
                p.stdin.write("go\n")
                p.stdin.flush()
            reports = []
            for p in procs:
                assert p.stdout is not None
                line = p.stdout.readline()
                if p.wait(600) != 0 or not line:
                    raise RuntimeError(f"sender exited with {p.returncode}")
                reports.append(json.loads(line))
            if not server.flush(600):
                raise RuntimeError("collector did not flush")
        workers_cpu = _cpu_of(pids) - workers_cpu_0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        server.stop()
    table_name = "otel_traces" if signal == "spans" else "otel_logs"
    stored = int(client.command(f"SELECT count() FROM {table_name}"))
    client.close()
    if stored != items:
        raise RuntimeError(f"{protocol} {signal} with {workers} workers: stored {stored} != sent {items}")
    cpu = t.cpu + workers_cpu
    return {
        "protocol": protocol,
        "signal": signal,
        "workers": workers,
        "items": items,
        "stored": stored,
        "wall_s": round(t.wall, 3),
        "cpu_s": round(cpu, 3),
        "parent_cpu_s": round(t.cpu, 3),
        "workers_cpu_s": round(workers_cpu, 3),
        "parent_us_per_item": round(t.cpu / items * 1e6, 1),
        "per_s_wall": round(items / t.wall),
        "per_cpu_s": round(items / cpu) if cpu else None,
        "sender_retries": sum(r["retries"] for r in reports),
        "collector_stats": {k: v for k, v in server.stats.snapshot().items() if v},
    }


def _decoded_batches(bodies: list[bytes], signal: str, batch_rows: int = 10_000) -> list[Any]:
    from connlog.collector.otlp_codec import PROTOBUF, decode_body

    merged: list[Any] = []
    cur = None
    for body in bodies:
        b = decode_body(signal, body, PROTOBUF)
        if cur is None:
            cur = b
        else:
            cur.extend(b)
        if cur.rows >= batch_rows:
            merged.append(cur)
            cur = None
    if cur is not None:
        merged.append(cur)
    return merged


RAW_WRITERS = ("native", "arrow")


def _sink(client: Any, writer: str) -> Any:
    from connlog.collector.chdb_sink import ChdbArrowSink
    from connlog.collector.sink import ClickHouseSink

    return ChdbArrowSink(client) if writer == "arrow" else ClickHouseSink(client)


def raw_ceiling(
    data_dir: Path, database: str, bodies: list[bytes], signal: str, writer: str = "arrow"
) -> dict[str, Any]:
    """The pre-decoded rows (column-oriented) inserted into the ingest table by one writer:
    `native` (clickhouse-connect) or `arrow` (chDB `Python()`)."""
    settings = _settings(data_dir, database)
    client = _fresh(settings)
    otlp_signal = "traces" if signal == "spans" else "logs"
    batches = _decoded_batches(bodies, otlp_signal)
    sink = _sink(client, writer)
    rows = sum(b.rows for b in batches)
    with CpuTimer() as t:
        for b in batches:
            sink.write(b.table, b.columns, b.data)
    table_name = "otel_traces" if signal == "spans" else "otel_logs"
    stored = int(client.command(f"SELECT count() FROM {table_name}"))
    client.close()
    return {
        "protocol": f"raw insert ({writer})",
        "signal": signal,
        "items": rows,
        "stored": stored,
        "wall_s": round(t.wall, 3),
        "cpu_s": round(t.cpu, 3),
        "per_s_wall": round(rows / t.wall),
        "per_cpu_s": round(rows / t.cpu) if t.cpu else None,
    }


def scrub_transform() -> Any:
    """An example server-side redaction hook: registered secrets scrubbed from payload attributes.

    The collector ships without one (the SDK redacts before export); this measures what a
    deployment adding one would pay, on the `BatchTransform` seam.
    """
    from connlog.instrumentation import semconv as sc
    from connlog.instrumentation.redaction import RedactionConfig, Redactor

    redactor = Redactor(RedactionConfig(secrets=("sk_live_5f3a9c2e7b1d4f6a8c0e2b4d6f8a0c2e",)))
    prefixes = (*sc.PAYLOAD_KEY_PREFIXES, *sc.PAYLOAD_KEYS)

    def transform(batch: Any) -> Any:
        col = batch.column("SpanAttributes")
        for i, attrs in enumerate(col):
            if any(k.startswith(prefixes) for k in attrs):
                col[i] = {k: (redactor.secrets(v) if k.startswith(prefixes) else v) for k, v in attrs.items()}
        return batch

    return transform


def breakdown(data_dir: Path, database: str, bodies: list[bytes]) -> dict[str, Any]:
    """Each stage of the collector path, single-threaded over the same trace requests."""
    from connlog.collector.intake import Intake
    from connlog.collector.otlp_codec import PROTOBUF, parse_traces
    from connlog.collector.redact import default_redaction
    from connlog.collector.wal import _pickle_batch

    settings = _settings(data_dir, database)
    client = _fresh(settings)
    sink = _sink(client, "arrow")
    intake = Intake()
    principal = intake.authenticate(None)
    redaction = default_redaction({})
    stages = {
        "parse (protobuf)": 0.0,
        "limits + decode": 0.0,
        "redaction (server-side rules)": 0.0,
        "WAL encoding": 0.0,
        "batch merge": 0.0,
        "insert (Arrow + chDB views)": 0.0,
    }
    rows = 0
    prof = cProfile.Profile()
    prof.enable()
    cur = None

    def insert(batch: Any) -> None:
        t0 = time.process_time()
        sink.write(batch.table, batch.columns, batch.data)
        stages["insert (Arrow + chDB views)"] += time.process_time() - t0

    for body in bodies:
        t0 = time.process_time()
        req = parse_traces(body, PROTOBUF)
        t1 = time.process_time()
        batch = intake.admit("traces", req, principal, len(body))
        t2 = time.process_time()
        batch = redaction(batch)
        t3 = time.process_time()
        _pickle_batch(batch)
        t4 = time.process_time()
        if cur is None:
            cur = batch
        else:
            cur.extend(batch)
        t5 = time.process_time()
        for name, took in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=False):
            stages[name] += took
        rows += batch.rows
        if cur.rows >= 10_000:
            insert(cur)
            cur = None
    if cur is not None:
        insert(cur)
    prof.disable()
    client.close()
    total = sum(stages.values())
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(20)
    return {
        "spans": rows,
        "stages_cpu_s": {k: round(v, 4) for k, v in stages.items()},
        "stages_share": {k: round(v / total, 3) for k, v in stages.items()},
        "stages_spans_per_cpu_s": {k: (round(rows / v) if v else None) for k, v in stages.items()},
        "spans_per_cpu_s_all_stages": round(rows / total),
        "profile_tottime": buf.getvalue(),
    }


def old_run(rev: str, argv: list[str]) -> dict[str, Any] | None:
    """The same benchmark from `git archive rev`, in a subprocess; its results document."""
    work = Path(tempfile.mkdtemp(prefix="connlog-bench-ingest-old-"))
    tree = work / "tree"
    tree.mkdir()
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    env = {**os.environ, "CONNLOG_BENCH_RESULTS": str(work / "results"), "PYTHONPATH": str(tree)}
    console.print(f"[dim]old code: git {rev} in {tree}[/dim]")
    proc = subprocess.run([sys.executable, "-m", "bench.ingest", *argv, "--tag", "old"], cwd=tree, env=env)
    found = sorted((work / "results").glob("ingest-old*.json"))
    doc = json.loads(found[0].read_text()) if proc.returncode == 0 and found else None
    shutil.rmtree(work, ignore_errors=True)
    if doc is not None:
        doc["rev"] = rev
    return doc


# --------------------------------------------------------------------------- orchestration
def _median_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row per (path, signal, workers): the medians of its repeats, with p95 of wall/s."""
    first = dict(runs[0])
    for k in (
        "wall_s",
        "cpu_s",
        "parent_cpu_s",
        "workers_cpu_s",
        "parent_us_per_item",
        "per_s_wall",
        "per_cpu_s",
    ):
        values = [r[k] for r in runs if r.get(k) is not None]
        if values:
            first[k] = round(statistics.median(values), 3)
    first["repeats"] = len(runs)
    first["per_s_wall_all"] = [r["per_s_wall"] for r in runs]
    first["per_cpu_s_all"] = [r["per_cpu_s"] for r in runs]
    first["sender_retries"] = sum(r["sender_retries"] for r in runs)
    return first


def bench(
    spans: int,
    logs: int,
    smoke: bool,
    body_size: tuple[int, int] = (200, 20_000),
    workers: Sequence[int] = (0,),
    repeat: int = 1,
    workers_only: bool = False,
) -> dict[str, Any]:
    senders = 1 if smoke else SENDERS
    load_start = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="connlog-bench-ingest-"))
    data_dir = work / "chdb"
    end_ns = time.time_ns()
    # Live traffic: one hour of runs ending now (a day-partitioned table gets one part per
    # insert, as in production; see bench.dataset).
    shape = Shape(
        spans=spans,
        end_ns=end_ns,
        days=1 / 24,
        base_runs=6 if smoke else 40,
        body_size=body_size,
    )
    t0 = time.perf_counter()
    base = base_dataset(shape)
    trace_exports = [e for e in exports(shape, base) if e.signal == "traces"]
    log_exps = list(log_exports(logs, end_ns))
    gen_s = time.perf_counter() - t0
    n_spans = sum(e.items for e in trace_exports)
    n_logs = sum(e.items for e in log_exps)
    wire = sum(len(e.body) for e in trace_exports)
    console.print(
        f"data: {n_spans:,} spans in {len(trace_exports)} exports ({wire / 1e6:.0f} MB, "
        f"{wire / n_spans:.0f} B/span on the wire), {n_logs:,} logs; generated in {gen_s:.1f}s"
    )

    def shard(items: list[Export], name: str) -> list[Path]:
        paths = []
        for i in range(senders):
            p = work / f"{name}-{i}.bin"
            write_frames(p, items[i::senders])
            paths.append(p)
        return paths

    t_shards = shard(trace_exports, "traces")
    l_shards = shard(log_exps, "logs")
    runs: list[dict[str, Any]] = []
    if not workers_only:
        for writer in RAW_WRITERS:
            runs.append(
                raw_ceiling(
                    data_dir, f"b_raw_{writer}_spans", [e.body for e in trace_exports], "spans", writer
                )
            )
            runs.append(
                raw_ceiling(data_dir, f"b_raw_{writer}_logs", [e.body for e in log_exps], "logs", writer)
            )
    # Repeats interleaved (every configuration once, then again), so a change in the
    # machine's load spreads over all of them instead of favouring one.
    e2e: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for _ in range(repeat):
        for signal, shards, n in (("spans", t_shards, n_spans), ("logs", l_shards, n_logs)):
            for w in workers:
                for proto in ("http", "grpc"):
                    r = end_to_end(data_dir, f"b_{proto}_{signal}_w{w}", proto, shards, n, signal, w)
                    e2e.setdefault((proto, signal, w), []).append(r)
    runs.extend(_median_runs(rs) for rs in e2e.values())
    bd = None if workers_only else breakdown(data_dir, "b_breakdown", [e.body for e in trace_exports])

    from connlog.collector.config import Settings
    from connlog.collector.store import connect

    c = connect(replace(Settings(data_dir=data_dir), database="default"))
    ch_version = clickhouse_version(c)
    c.close()

    ceilings: dict[str, dict[str, Any]] = {}
    for r in runs:
        if r["protocol"].startswith("raw insert"):
            top = ceilings.get(r["signal"])
            if top is None or (r["per_cpu_s"] or 0) > (top["per_cpu_s"] or 0):
                ceilings[r["signal"]] = r
    for r in runs:
        ceil = ceilings.get(r["signal"])
        if not r["protocol"].startswith("raw insert") and ceil is not None:
            r["ratio_to_ceiling_cpu"] = ratio(r["per_cpu_s"] or 0, ceil["per_cpu_s"] or 0)
            r["ratio_to_ceiling_wall"] = ratio(r["per_s_wall"], ceil["per_s_wall"])
    e2e_spans = [r for r in runs if r["signal"] == "spans" and not r["protocol"].startswith("raw insert")]
    e2e_logs = [r for r in runs if r["signal"] == "logs" and not r["protocol"].startswith("raw insert")]
    best = max(r["per_cpu_s"] or 0 for r in e2e_spans)
    return {
        "clickhouse_version": ch_version,
        "data": {
            "spans": n_spans,
            "logs": n_logs,
            "trace_exports": len(trace_exports),
            "wire_bytes": wire,
            "body_size": list(shape.body_size),
            "senders": senders,
            "workers": list(workers),
            "repeat": repeat,
            "load_avg_start": [round(x, 2) for x in load_start],
            "load_avg_end": [round(x, 2) for x in os.getloadavg()],
        },
        "runs": runs,
        "breakdown": bd,
        "targets": {
            "spans_per_cpu_s_e2e_best": best,
            "spans_per_cpu_s_target": 25_000 if body_size[1] > 1_000 else 50_000,
            "logs_per_cpu_s_e2e_best": max(r["per_cpu_s"] or 0 for r in e2e_logs),
            "logs_per_cpu_s_target": 100_000,
            "ratio_to_ceiling_best": max(r.get("ratio_to_ceiling_cpu") or 0 for r in e2e_spans),
            "ratio_to_ceiling_target": 0.6,
        },
        "work_dir": str(work),
    }


def _path(r: dict[str, Any]) -> str:
    workers = r.get("workers")
    return r["protocol"] if workers is None else f"{r['protocol']}, {workers} workers"


def report(res: dict[str, Any]) -> None:
    rows = [
        [
            _path(r),
            r["signal"],
            r["items"],
            r["stored"],
            r["wall_s"],
            r["cpu_s"],
            r["per_s_wall"],
            r["per_cpu_s"],
            r.get("ratio_to_ceiling_cpu"),
            r.get("sender_retries"),
        ]
        for r in res["runs"]
    ]
    table(
        f"Ingest: OTLP -> ClickHouse ({res['data']['senders']} exporter processes, bodies "
        f"{res['data']['body_size'][0]}-{res['data']['body_size'][1]} B)",
        [
            "path",
            "signal",
            "items",
            "stored",
            "wall s",
            "collector CPU s",
            "items/s (wall)",
            "items/CPU-s (per core)",
            "ratio to raw (CPU)",
            "429/503 retries",
        ],
        rows,
    )
    bd = res["breakdown"]
    if bd is not None:
        table(
            f"Where the collector's time goes ({bd['spans']:,} spans, one thread, CPU seconds)",
            ["stage", "CPU s", "share", "spans/CPU-s if alone"],
            [
                [k, v, bd["stages_share"][k], bd["stages_spans_per_cpu_s"][k]]
                for k, v in bd["stages_cpu_s"].items()
            ],
        )
    if len(res["data"].get("workers", [])) > 1:
        compare_workers(res)
    t = res["targets"]
    for label, got, want in (
        ("spans/CPU-s", t["spans_per_cpu_s_e2e_best"], t["spans_per_cpu_s_target"]),
        ("logs/CPU-s", t["logs_per_cpu_s_e2e_best"], t["logs_per_cpu_s_target"]),
        ("ratio to raw ceiling", t["ratio_to_ceiling_best"], t["ratio_to_ceiling_target"]),
    ):
        console.print(f"target {label} ≥ {want:,}: {'MET' if got >= want else 'MISSED'} ({got:,})")
    old = res.get("old")
    if old:
        compare(old, res)


def compare_workers(res: dict[str, Any]) -> None:
    """Decode workers side by side: each configuration against 0 workers (in-process)."""
    e2e = [r for r in res["runs"] if r.get("workers") is not None]
    base = {(r["protocol"], r["signal"]): r for r in e2e if r["workers"] == 0}
    rows = []
    for r in sorted(e2e, key=lambda r: (r["signal"], r["protocol"], r["workers"])):
        b = base.get((r["protocol"], r["signal"]))
        wall = sorted(r["per_s_wall_all"])
        rows.append(
            [
                r["protocol"],
                r["signal"],
                r["workers"],
                r["stored"] == r["items"],
                r["per_s_wall"],
                wall[0],
                wall[-1],
                ratio(r["per_s_wall"], b["per_s_wall"]) if b else None,
                r["per_cpu_s"],
                ratio(r["per_cpu_s"] or 0, b["per_cpu_s"] or 0) if b else None,
                r["parent_us_per_item"],
                r["workers_cpu_s"],
            ]
        )
    load = res["data"]
    table(
        f"Decode workers (medians of {load['repeat']} interleaved runs; load average "
        f"{load['load_avg_start'][0]} at start, {load['load_avg_end'][0]} at end)",
        [
            "path",
            "signal",
            "workers",
            "stored = sent",
            "items/s wall",
            "min",
            "max",
            "wall ÷ 0 workers",
            "items/CPU-s (parent + workers)",
            "CPU ÷ 0 workers",
            "parent CPU µs/item",
            "workers CPU s",
        ],
        rows,
    )


def compare(old: dict[str, Any], new: dict[str, Any]) -> None:
    """Old code (git) vs the working tree, same benchmark, one table."""

    def key(r: dict[str, Any]) -> tuple[str, str]:
        return ("raw insert (native)" if r["protocol"] == "raw insert" else r["protocol"], r["signal"])

    before = {key(r): r for r in old["runs"]}
    rows = []
    for r in new["runs"]:
        o = before.get(key(r))
        rows.append(
            [
                r["protocol"],
                r["signal"],
                o["per_cpu_s"] if o else None,
                r["per_cpu_s"],
                ratio(r["per_cpu_s"] or 0, o["per_cpu_s"] or 0) if o else None,
                o.get("ratio_to_ceiling_cpu") if o else None,
                r.get("ratio_to_ceiling_cpu"),
            ]
        )
    table(
        f"Old (git {str(old.get('rev', ''))[:10]}) vs new, items per CPU-second",
        [
            "path",
            "signal",
            "old items/CPU-s",
            "new items/CPU-s",
            "new ÷ old",
            "old ÷ its raw",
            "new ÷ best raw",
        ],
        rows,
    )
    console.print(f"one-thread stages, old (CPU s, its own stage list): {old['breakdown']['stages_cpu_s']}")
    if new["breakdown"] is not None:
        console.print(f"one-thread stages, new (CPU s): {new['breakdown']['stages_cpu_s']}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--spans", type=int, default=100_000)
    ap.add_argument("--logs", type=int, default=100_000)
    ap.add_argument(
        "--bodies",
        default="200,20000",
        help="response body size range in bytes (lo,hi); '50,200' isolates per-span cost",
    )
    ap.add_argument("--tag", default="", help="suffix for the results file (ingest-<tag>.json)")
    ap.add_argument("--old", default="HEAD", help="git revision to compare with ('' to skip)")
    ap.add_argument(
        "--workers", default="0,1,2", help="decode worker processes to compare (CONNLOG_DECODE_WORKERS)"
    )
    ap.add_argument("--repeat", type=int, default=1, help="end-to-end runs per configuration (medians)")
    ap.add_argument("--workers-only", action="store_true", help="skip the raw ceilings and the breakdown")
    ap.add_argument("--send", nargs=3, metavar=("PROTOCOL", "ENDPOINT", "FILE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.send:
        sender(args.send[0], args.send[1], Path(args.send[2]))
        return 0
    spans, logs = (1_500, 1_500) if args.smoke else (args.spans, args.logs)
    lo, hi = (int(x) for x in args.bodies.split(","))
    old = None
    if args.old and args.tag != "old":
        old = old_run(args.old, ["--spans", str(spans), "--logs", str(logs), "--bodies", args.bodies])
    workers = [int(w) for w in args.workers.split(",")]
    res = bench(spans, logs, args.smoke, (lo, hi), workers, max(args.repeat, 1), args.workers_only)
    res["old"] = old
    report(res)
    write_results(f"ingest-{args.tag}" if args.tag else "ingest", res, smoke=args.smoke)
    shutil.rmtree(res["work_dir"], ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
