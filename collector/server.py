"""Run the collector in-process: OTLP/HTTP (uvicorn thread) + OTLP/gRPC + the batch writer.

Everything runs on background threads so `connlog serve`, the demo and the tests can
host the collector next to the query API in one process — which chDB requires anyway,
since one process may open only one chDB data directory.

    server = CollectorServer(settings, http_port=0, grpc_port=0)
    server.start()            # returns once both ports are listening
    ...                       # export to server.http_endpoint / server.grpc_endpoint
    server.flush()            # everything received so far is in ClickHouse
    server.stop()             # graceful: stop receiving, write the backlog, close
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import grpc
from clickhouse_connect.driver.client import Client

from connlog.collector.batch import BatchTransform
from connlog.collector.batcher import Batcher
from connlog.collector.config import ENV_INGEST_KEYS, ENV_INGEST_KEYS_FILE, Settings
from connlog.collector.dead_letter import DeadLetter
from connlog.collector.decode_pool import DecodePool
from connlog.collector.grpc_server import create_grpc_server
from connlog.collector.http_app import create_app
from connlog.collector.http_thread import ThreadedServer
from connlog.collector.ingest_auth import IngestKeys
from connlog.collector.intake import Intake
from connlog.collector.options import CollectorOptions
from connlog.collector.redact import chain, default_redaction
from connlog.collector.schema.names import LOGS, LOGS_INGEST, TRACES, TRACES_INGEST
from connlog.collector.sink import Sink, sink_for_url
from connlog.collector.stats import MemoryProbe, Stats
from connlog.collector.store import connect
from connlog.collector.wal import WriteAheadLog

log = logging.getLogger("connlog.collector.server")

ClientFactory = Callable[[], Client]
_REQUIRED_TABLES = (TRACES_INGEST, LOGS_INGEST, TRACES, LOGS)
SinkFactory = Callable[[Client], Sink]


def configure_logging(level: int = logging.INFO) -> None:
    """key=value lines for connlog's own events (messages are already `event=... k=v`), on
    stderr; installed by the server commands (`connlog serve`, `collector`, `api`)."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter(
            "ts=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s", "%Y-%m-%dT%H:%M:%S"
        )
    )
    root = logging.getLogger("connlog")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def _exists(client: Client, table: str) -> bool:
    return str(client.command(f"EXISTS TABLE {table}")).strip() == "1"


class CollectorServer:
    """OTLP/HTTP + OTLP/gRPC receivers feeding one batcher that inserts into the ingest tables.

    `client_factory` opens ClickHouse clients (default: `collector.store.connect(settings)`),
    one for the writer and one for /readyz. `sink_factory` wraps the writer client
    (default `sink_for_url`: `ChdbArrowSink` on chDB, `ClickHouseSink` on a server; tests pass a
    slow one to provoke backpressure).
    `transform` is an extra row transform applied to each decoded batch before queueing,
    after the built-in server-side redaction (`collector.redact`, on unless
    `options.redact` is False). With `options.wal_enabled` (default) accepted batches
    go through a write-ahead log in `wal_dir` (`<data_dir>/wal/<database>`) and
    permanently rejected ones to `<wal_dir>/dead-letter`. Port 0 binds an ephemeral port; `.http_port` / `.grpc_port` report the real ones.
    `ingest_keys` (default: `CONNLOG_INGEST_KEYS[_FILE]`, see `collector.ingest_auth`)
    turns ingest authentication on; without keys ingest is open, which `start` logs.
    Spans and records older than `settings.retention.days` are refused (partial success).
    With `options.decode_workers` > 0, parsing, admission, decoding and the built-in
    redaction run in that many worker processes (`collector.decode_pool`); `transform`
    still runs here, after them. This process keeps chDB, the WAL and the batcher.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        http_port: int = 4318,
        grpc_port: int = 4317,
        host: str = "127.0.0.1",
        client_factory: ClientFactory | None = None,
        options: CollectorOptions | None = None,
        transform: BatchTransform | None = None,
        sink_factory: SinkFactory | None = None,
        ingest_keys: IngestKeys | None = None,
    ) -> None:
        self.settings = settings
        self.host = host
        self.http_port = http_port
        self.grpc_port = grpc_port
        self.options = options or CollectorOptions.from_env()
        self.stats = Stats()
        self.intake = Intake(
            self.options,
            IngestKeys.from_env() if ingest_keys is None else ingest_keys,
            settings.retention.days,
        )
        self._client_factory = client_factory or (lambda: connect(settings))
        self._sink_factory: SinkFactory = sink_factory or sink_for_url(settings.resolved_clickhouse_url)
        self._transform = transform
        self._batcher: Batcher | None = None
        self._sink: Sink | None = None
        self.wal: WriteAheadLog | None = None
        self.wal_dir = settings.data_dir / "wal" / settings.database
        self.dead_letter = DeadLetter(self.wal_dir / "dead-letter")
        self._ready_client: Client | None = None
        self._ready_lock = threading.Lock()
        self._grpc: grpc.Server | None = None
        self._http: ThreadedServer | None = None
        self.pool: DecodePool | None = None
        self.memory = MemoryProbe.for_settings(settings)  # what `/stats` says holds memory

    @property
    def http_endpoint(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def grpc_endpoint(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    @property
    def batcher(self) -> Batcher:
        if self._batcher is None:
            raise RuntimeError("collector not started")
        return self._batcher

    # ------------------------------------------------------------------ readiness
    def ready(self) -> tuple[bool, str]:
        """ClickHouse answers and the ingest tables and the storage tables they feed exist."""
        try:
            with self._ready_lock:
                if self._ready_client is None:
                    self._ready_client = self._client_factory()
                client = self._ready_client
                missing = [t for t in _REQUIRED_TABLES if not _exists(client, t)]
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready", reported as text
            return False, f"clickhouse unreachable: {exc}"
        if missing:
            return False, f"schema missing: {', '.join(missing)}"
        return True, "ok"

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 15.0) -> None:
        """Open the writer client, start the batcher, then listen on both ports.

        On any failure everything already started is stopped again before re-raising.
        """
        try:
            self._start(timeout)
        except BaseException:
            self.stop(grace=0)
            raise
        log.info(
            "event=collector_started http=%s grpc=%s database=%s",
            self.http_endpoint,
            self.grpc_endpoint,
            self.settings.database,
        )
        if self.intake.keys.enabled:
            log.info("event=ingest_auth_on keys=%d", len(self.intake.keys.keys))
        else:
            log.warning(
                "event=ingest_auth_off detail=%r",
                f"no {ENV_INGEST_KEYS} / {ENV_INGEST_KEYS_FILE}: anyone reaching the OTLP ports "
                "can write any connector",
            )

    def _start(self, timeout: float) -> None:
        opts = self.options
        replay = []
        if opts.wal_enabled:
            self.wal = WriteAheadLog(
                self.wal_dir,
                max_bytes=opts.wal_max_bytes,
                segment_bytes=opts.wal_segment_bytes,
                fsync=opts.wal_fsync,
            )
            replay = self.wal.open()
        self._sink = self._sink_factory(self._client_factory())
        if opts.decode_workers > 0:
            # Started before the ports open, so the first requests do not wait for workers.
            self.pool = DecodePool(opts.decode_workers, self.intake, self.stats, redact=opts.redact)
            self.pool.start()
        # With a pool the workers redact; only the extra transform is left for this process.
        redaction = default_redaction() if opts.redact and self.pool is None else None
        transform = chain(redaction, self._transform)
        self._batcher = Batcher(
            self._sink,
            self.stats,
            opts,
            transform=transform,
            wal=self.wal,
            dead_letter=self.dead_letter if self.wal is not None else None,
        )
        self._batcher.replay(replay)
        self._batcher.start()

        self._grpc, self.grpc_port = create_grpc_server(
            self._batcher, self.stats, self.options, self.host, self.grpc_port, self.intake, self.pool
        )
        self._grpc.start()

        app = create_app(
            self._batcher, self.stats, self.options, self.ready, self.intake, self.pool, self.memory
        )
        self._http = ThreadedServer(
            app,
            host=self.host,
            port=self.http_port,
            name="otlp-http",
            # uvicorn counts the arriving connection too: +1 serves exactly max_open_requests.
            limit_concurrency=self.options.max_open_requests + 1,
        )
        self._http.start(timeout)
        self.http_port = self._http.port

    def flush(self, timeout: float = 30.0) -> bool:
        """Block until everything received so far is written to ClickHouse."""
        return self.batcher.flush(timeout)

    def stop(self, grace: float = 5.0) -> None:
        """Stop receiving, write the backlog, close clients. Safe to call twice."""
        if self._grpc is not None:
            self._grpc.stop(grace).wait(grace)
            self._grpc = None
        if self._http is not None:
            self._http.stop(grace)
            self._http = None
        if self.pool is not None:  # after the receivers: the requests they finish need it
            self.pool.close()
            self.pool = None
        if self._batcher is not None:
            self._batcher.stop()
        if self._sink is not None:
            self._sink.close()
            self._sink = None
        if self.wal is not None:
            self.wal.close()
            self.wal = None
        self.memory.close()
        with self._ready_lock:
            if self._ready_client is not None:
                self._ready_client.close()
                self._ready_client = None
        log.info("event=collector_stopped counters=%s", self.stats.snapshot())

    def __enter__(self) -> CollectorServer:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
