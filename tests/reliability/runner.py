"""A collector in its own process for the kill/restart tests (chDB: one process per data dir).

python tests/reliability/runner.py serve DATA_DIR HTTP_PORT GRPC_PORT [FAIL_SECONDS]
    apply the schema (plus the dedup window the WAL's idempotent replay relies on),
    start a CollectorServer, print "READY" and serve until SIGTERM / SIGINT, then stop
    gracefully. FAIL_SECONDS > 0 makes every insert fail (transiently) for that long
    after start: fault injection at the Sink boundary.
python tests/reliability/runner.py count DATA_DIR
    print {"otel_traces": n, "otel_logs": n, ...} as JSON (run it only while no
    other process owns DATA_DIR).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from clickhouse_connect.driver.client import Client

from connlog.collector.config import Settings
from connlog.collector.options import CollectorOptions
from connlog.collector.schema.ddl import STORAGE_TABLES
from connlog.collector.schema.migrate import apply_schema
from connlog.collector.server import CollectorServer
from connlog.collector.sink import ClickHouseSink
from connlog.collector.store import connect

STORAGE = tuple(table.name for table in STORAGE_TABLES)


class FailingForAWhile(ClickHouseSink):
    """Fault injection: every insert raises ConnectionError until `until` (monotonic)."""

    def __init__(self, client: Client, until: float) -> None:
        super().__init__(client)
        self.until = until

    def write(
        self, table: str, columns: Sequence[str], data: list[list[Any]], *, token: str | None = None
    ) -> None:
        if time.monotonic() < self.until:
            raise ConnectionError("injected: clickhouse unavailable")
        super().write(table, columns, data, token=token)


def serve(data_dir: Path, http_port: int, grpc_port: int, fail_seconds: float) -> None:
    settings = Settings(data_dir=data_dir)
    client = connect(settings)
    apply_schema(client, settings)
    client.close()
    until = time.monotonic() + fail_seconds
    server = CollectorServer(
        settings,
        http_port=http_port,
        grpc_port=grpc_port,
        options=CollectorOptions(batch_max_delay_s=0.2, insert_backoff_s=0.05, insert_backoff_max_s=0.5),
        sink_factory=lambda c: FailingForAWhile(c, until),
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    print("READY", flush=True)
    stop.wait()
    server.stop()
    print("STOPPED", json.dumps(server.stats.snapshot()), flush=True)


def count(data_dir: Path) -> None:
    client = connect(Settings(data_dir=data_dir))
    out = {t: int(client.query(f"SELECT count() FROM {t}").result_rows[0][0]) for t in STORAGE}
    out["distinct_spans"] = int(client.query("SELECT uniqExact(SpanId) FROM otel_traces").result_rows[0][0])
    names = [str(r[0]) for r in client.query("SELECT SpanName FROM otel_traces").result_rows]
    print(json.dumps({"counts": out, "names": names}), flush=True)


if __name__ == "__main__":
    cmd, directory = sys.argv[1], Path(sys.argv[2])
    if cmd == "serve":
        fail = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
        serve(directory, int(sys.argv[3]), int(sys.argv[4]), fail)
    else:
        count(directory)
