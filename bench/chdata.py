"""Benchmark databases in chDB, built once and cached under `bench/data/` (gitignored).

- `q1m` (or any `--spans`): built through the REAL ingest path: OTLP protobuf exports from
  `bench.dataset` POSTed by exporter processes to an in-process `CollectorServer`, which
  decodes, batches and inserts into the ingest tables; the materialized views do the rest.
- `q10m`: the bulk path (allowed only for the big set, and labelled as such everywhere):
  ingest-shaped rows are rebuilt once from `q1m`'s storage tables (payload attributes
  joined back from `otel_traces_payloads`) into a staging table, then copied N times
  `INSERT INTO q10m.otel_traces_ingest SELECT ...` with per-copy trace/span id prefixes,
  a small time shift and per-copy record-id suffixes — still through the views.

Both use retention 0 (keep forever, RECOMPRESS after 7 days as configured) so a cache built
days ago is not expired by TTL, then `OPTIMIZE ... FINAL` once: queries meet merged daily
parts, the steady state of a table older than a few hours, with old partitions recompressed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.common import DATA_DIR, ROOT, SMOKE_DIR_ENV, console
from bench.dataset import Shape, base_dataset, exports

STORAGE_TABLES = (
    "otel_traces",
    "otel_traces_payloads",
    "otel_traces_trace_id_ts",
    "connector_search_index",
    "otel_logs",
    "connector_runs",
    "connector_faults",
    "connector_record_touches",
)
BUILD_VERSION = 2  # bump when the build changes, to invalidate caches


@dataclass
class Built:
    database: str
    spans: int
    logs: int
    end_ns: int
    method: str
    build_s: float
    version: int = BUILD_VERSION


def settings_for(data_dir: Path, database: str) -> Any:
    from connlog.collector.config import Retention, Settings

    return Settings(
        data_dir=data_dir, database=database, retention=Retention(days=0, recompress_days=7, payload_days=0)
    )


def client_for(data_dir: Path, database: str) -> Any:
    from connlog.collector.store import connect

    return connect(settings_for(data_dir, database))


def _marker(data_dir: Path, database: str) -> Path:
    return data_dir / f"{database}.built.json"


def load(data_dir: Path, database: str) -> Built | None:
    path = _marker(data_dir, database)
    if not path.exists():
        return None
    doc = json.loads(path.read_text())
    if doc.get("version") != BUILD_VERSION:
        return None
    return Built(**doc)


def _save(data_dir: Path, built: Built) -> None:
    _marker(data_dir, built.database).write_text(json.dumps(asdict(built), indent=2))


def fresh(data_dir: Path, database: str) -> Any:
    """`database` dropped and recreated at the latest schema; its client."""
    from connlog.collector.schema.migrate import apply_schema

    client = client_for(data_dir, database)
    client.command(f"DROP DATABASE IF EXISTS {database} SYNC")
    client = client_for(data_dir, database)
    apply_schema(client, settings_for(data_dir, database))
    return client


def migrate(data_dir: Path, database: str) -> list[str]:
    """Bring a cached database to the latest schema, as `connlog` does on start.

    A cache built before a migration lacks its tables (e.g. `connector_runs`, which migration 3
    backfills from `otel_traces`); benchmarking the current API against it would fail or
    measure the old schema. What the migration wrote is then merged like the rest.
    """
    from connlog.collector.schema.migrate import apply_schema

    client = client_for(data_dir, database)
    try:
        done = apply_schema(client, settings_for(data_dir, database))
        for t in STORAGE_TABLES if done else ():
            # Only what the migration wrote still has unmerged parts; skip the rest.
            client.command(
                f"OPTIMIZE TABLE {database}.{t} FINAL",
                settings={"optimize_throw_if_noop": 0, "optimize_skip_merged_partitions": 1},
            )
    finally:
        client.close()
    return done


def optimize(client: Any, database: str) -> None:
    for t in STORAGE_TABLES:
        client.command(f"OPTIMIZE TABLE {database}.{t} FINAL", settings={"optimize_throw_if_noop": 0})


def build_ingest(
    data_dir: Path,
    database: str,
    spans: int,
    *,
    senders: int = 2,
    smoke: bool = False,
    days: float = 29.0,
    base_runs: int | None = None,
    body_size: tuple[int, int] = (200, 4000),
) -> Built:
    """`spans` spans over `days` through the real collector (HTTP), from exporter processes.

    With `base_runs` >= the runs needed, every run (and every body) is generated, none copied.
    """
    from bench.ingest import write_frames
    from connlog.collector.options import CollectorOptions
    from connlog.collector.server import CollectorServer

    cached = load(data_dir, database)
    if cached and cached.spans >= spans * 0.99:
        return cached
    t0 = time.perf_counter()
    end_ns = time.time_ns() // (3600 * 10**9) * (3600 * 10**9)
    runs = base_runs or (12 if smoke else 60)
    shape = Shape(spans=spans, end_ns=end_ns, days=days, base_runs=runs, body_size=body_size)
    console.print(f"building {database}: {spans:,} spans through the collector (OTLP/HTTP)...")
    client = fresh(data_dir, database)
    tmp = data_dir / f"{database}.frames"
    tmp.mkdir(parents=True, exist_ok=True)
    files = [tmp / f"{i}.bin" for i in range(senders)]
    all_exports = list(exports(shape, base_dataset(shape)))
    # Whole runs to one sender, in time order, so each insert touches few daily partitions.
    pairs = [all_exports[i : i + 2] for i in range(0, len(all_exports), 2)]
    for i, f in enumerate(files):
        write_frames(f, [e for pair in pairs[i::senders] for e in pair])
    n_spans = sum(e.items for e in all_exports if e.signal == "traces")
    n_logs = sum(e.items for e in all_exports if e.signal == "logs")
    del all_exports, pairs
    server = CollectorServer(
        settings_for(data_dir, database),
        http_port=0,
        grpc_port=0,
        options=CollectorOptions(batch_max_delay_s=0.5),
    )
    server.start()
    try:
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "bench.ingest", "--send", "http", server.http_endpoint, str(f)],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for f in files
        ]
        for p in procs:
            assert p.stdout is not None and p.stdin is not None
            p.stdout.readline()
            p.stdin.write("go\n")
            p.stdin.flush()
        for p in procs:
            if p.wait(7200) != 0:
                raise RuntimeError("sender failed")
        if not server.flush(600):
            raise RuntimeError("collector did not flush")
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    ingest_s = time.perf_counter() - t0
    optimize(client, database)
    stored = int(client.command(f"SELECT count() FROM {database}.otel_traces"))
    if stored != n_spans:
        raise RuntimeError(f"{database}: sent {n_spans} spans, stored {stored}")
    built = Built(
        database,
        n_spans,
        n_logs,
        end_ns,
        "real ingest path (OTLP/HTTP -> collector)",
        round(time.perf_counter() - t0, 1),
    )
    console.print(f"built {database} in {built.build_s:.0f}s (ingest {ingest_s:.0f}s)")
    _save(data_dir, built)
    client.close()
    return built


def _stage_sql(src: str) -> str:
    """Ingest-shaped rows rebuilt from storage: payload attributes joined back into SpanAttributes."""
    from connlog.instrumentation import semconv as sc

    req_h, resp_h = sc.HTTP_REQUEST_HEADER_PREFIX, sc.HTTP_RESPONSE_HEADER_PREFIX
    return f"""
SELECT t.Timestamp, t.TraceId, t.SpanId, t.ParentSpanId, t.TraceState, t.SpanName, t.SpanKind,
    t.ServiceName, t.ResourceAttributes, t.ScopeName, t.ScopeVersion,
    mapConcat(t.SpanAttributes,
        mapApply((k, v) -> (concat('{req_h}', k), v), p.RequestHeaders),
        mapApply((k, v) -> (concat('{resp_h}', k), v), p.ResponseHeaders),
        mapFilter((k, v) -> v != '', map('{sc.HTTP_REQUEST_BODY}', p.RequestBody, '{sc.HTTP_RESPONSE_BODY}', p.ResponseBody))
    ) AS SpanAttributes,
    t.Duration, t.StatusCode, t.StatusMessage,
    t.`Events.Timestamp`, t.`Events.Name`, t.`Events.Attributes`,
    t.`Links.TraceId`, t.`Links.SpanId`, t.`Links.TraceState`, t.`Links.Attributes`
FROM {src}.otel_traces AS t
LEFT JOIN {src}.otel_traces_payloads AS p ON t.TraceId = p.TraceId AND t.SpanId = p.SpanId
"""


def build_bulk(data_dir: Path, database: str, source: Built, copies: int) -> Built:
    """`copies` x the source dataset, replicated inside ClickHouse through the ingest views."""
    from connlog.collector.schema.names import LOGS_INGEST_COLUMNS, TRACES_INGEST_COLUMNS
    from connlog.instrumentation import semconv as sc

    cached = load(data_dir, database)
    if cached and cached.spans >= source.spans * copies * 0.99:
        return cached
    t0 = time.perf_counter()
    console.print(f"building {database}: {copies} x {source.database} by INSERT ... SELECT (bulk path)...")
    client = fresh(data_dir, database)
    src = source.database
    client.command(
        f"CREATE TABLE {database}.bench_stage AS {src}.otel_traces_ingest ENGINE = MergeTree ORDER BY Timestamp"
    )
    client.command(f"INSERT INTO {database}.bench_stage {_stage_sql(src)}")
    cols = ", ".join(f"`{c}`" for c in TRACES_INGEST_COLUMNS)
    log_cols = ", ".join(f"`{c}`" for c in LOGS_INGEST_COLUMNS)
    rec_keys = f"('{sc.ENTITY_EXTERNAL_ID}', '{sc.ENTITY_INTERNAL_ID}')"
    for c in range(copies):
        tag = f"{c:02x}"
        shift_ns = c * 47 * 10**9  # copies interleave in time instead of stacking exactly
        sel = (
            f"SELECT Timestamp + toIntervalNanosecond({shift_ns}) AS Timestamp,"
            f" concat('{tag}', substring(TraceId, 3)) AS TraceId, concat('{tag}', substring(SpanId, 3)) AS SpanId,"
            f" if(ParentSpanId = '', '', concat('{tag}', substring(ParentSpanId, 3))) AS ParentSpanId,"
            " TraceState, SpanName, SpanKind, ServiceName, ResourceAttributes, ScopeName, ScopeVersion,"
            f" mapApply((k, v) -> (k, if(k IN {rec_keys}, concat(v, '-c{c}'), v)), SpanAttributes) AS SpanAttributes,"
            " Duration, StatusCode, StatusMessage,"
            f" arrayMap(x -> x + toIntervalNanosecond({shift_ns}), `Events.Timestamp`) AS `Events.Timestamp`,"
            " `Events.Name`, `Events.Attributes`, `Links.TraceId`, `Links.SpanId`, `Links.TraceState`, `Links.Attributes`"
            f" FROM {database}.bench_stage"
        )
        client.command(f"INSERT INTO {database}.otel_traces_ingest ({cols}) {sel}")
        log_sel = (
            f"SELECT Timestamp + toIntervalNanosecond({shift_ns}) AS Timestamp,"
            f" if(TraceId = '', '', concat('{tag}', substring(TraceId, 3))) AS TraceId,"
            f" if(SpanId = '', '', concat('{tag}', substring(SpanId, 3))) AS SpanId,"
            " TraceFlags, SeverityText, SeverityNumber, ServiceName, Body, ResourceSchemaUrl, ResourceAttributes,"
            f" ScopeSchemaUrl, ScopeName, ScopeVersion, ScopeAttributes, LogAttributes FROM {src}.otel_logs"
        )
        client.command(f"INSERT INTO {database}.otel_logs_ingest ({log_cols}) {log_sel}")
        console.print(f"  copy {c + 1}/{copies} at {time.perf_counter() - t0:.0f}s")
    client.command(f"DROP TABLE {database}.bench_stage SYNC")
    optimize(client, database)
    spans = int(client.command(f"SELECT count() FROM {database}.otel_traces"))
    logs = int(client.command(f"SELECT count() FROM {database}.otel_logs"))
    built = Built(
        database,
        spans,
        logs,
        source.end_ns + (copies - 1) * 47 * 10**9,
        f"bulk: {copies} copies of {src} by INSERT INTO otel_traces_ingest SELECT (views applied)",
        round(time.perf_counter() - t0, 1),
    )
    console.print(f"built {database} in {built.build_s:.0f}s")
    _save(data_dir, built)
    client.close()
    return built


def default_dir(smoke: bool) -> Path:
    """bench/data/chdb (cached); smoke: $CONNLOG_BENCH_SMOKE_DIR (run_all sets a temp dir)."""
    if smoke:
        return Path(os.environ.get(SMOKE_DIR_ENV) or DATA_DIR / "smoke")
    return DATA_DIR / "chdb"


def ensure(
    smoke: bool,
    sizes: tuple[str, ...] = ("1m", "10m"),
    spans_1m: int = 1_000_000,
    copies: int = 10,
    subdir: str = "",
) -> tuple[Path, list[Built]]:
    """The cached datasets (building what is missing). Smoke: 4k spans, x3 bulk, own dir."""
    data_dir = default_dir(smoke)
    if smoke:
        # Smoke areas run side by side, so each may ask for its own directory (chDB allows
        # one process per directory).
        data_dir = data_dir / subdir if subdir else data_dir
        spans_1m, copies = 4_000, 3
    data_dir.mkdir(parents=True, exist_ok=True)
    out: list[Built] = []
    small = build_ingest(data_dir, "q1m", spans_1m, smoke=smoke)
    if "1m" in sizes:
        out.append(small)
    if "10m" in sizes:
        out.append(build_bulk(data_dir, "q10m", small, copies))
    return data_dir, out
