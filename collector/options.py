"""Tunables of the collector process: ports' limits, batching and backpressure.

Separate from `collector.config.Settings` (where ClickHouse lives, retention) because
these only concern the ingest path and tests shrink them to provoke backpressure.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

from connlog.collector.config import ENV_COLLECTOR_LIMITS, ConfigError

MIB = 1024 * 1024


@dataclass(frozen=True)
class CollectorOptions:
    # Request limits. The decompressed cap defends against gzip bombs.
    max_body_bytes: int = 16 * MIB
    max_decompressed_bytes: int = 64 * MIB
    # Per-request content limits, checked on the parsed request before any row is built
    # (collector.limits): resource and scope attributes are copied onto every row, so a
    # small request with a large resource would otherwise expand in memory many times.
    max_items_per_request: int = 100_000  # spans or log records
    max_attributes: int = 1_000  # per resource, scope, span, event, link or log record
    max_attribute_bytes: int = 1 * MIB  # one attribute (key + value) or log body, encoded
    max_resource_bytes: int = 64 * 1024  # resource + scope attributes, encoded
    max_fanout_bytes: int = 32 * MIB  # sum over rows of the resource/scope bytes they copy
    # Slow or stalled clients: the whole body must arrive within this time (408 otherwise),
    # and at most this many connections (HTTP) / RPCs (gRPC) are open at once (503 beyond).
    body_read_timeout_s: float = 30.0
    max_open_requests: int = 1_024
    # Batching: one insert per table when either threshold is reached.
    batch_max_rows: int = 10_000
    batch_max_delay_s: float = 1.0
    # Backpressure: the write backlog (queued + being written) is bounded by rows and bytes.
    queue_max_rows: int = 200_000
    queue_max_bytes: int = 256 * MIB
    retry_after_s: int = 1
    # Insert failures: attempts after the first one, exponential backoff from this base.
    # Without a WAL, attempts after the first one; with a WAL transient failures are
    # retried until they succeed (the backoff doubles up to `insert_backoff_max_s`).
    insert_retries: int = 3
    insert_backoff_s: float = 0.2
    insert_backoff_max_s: float = 30.0
    grpc_workers: int = 4
    # Durability: the write-ahead log under `<data_dir>/wal/<database>` (see collector.wal).
    wal_enabled: bool = True
    wal_max_bytes: int = 1024 * MIB  # cap: when full, requests get 429 + Retry-After
    wal_segment_bytes: int = 64 * MIB
    wal_fsync: bool = True  # only tests and benchmarks of the CPU cost switch it off
    # Server-side redaction of every batch (collector.redact), on unless switched off.
    redact: bool = True
    # Processes that parse, check, decode and redact requests (collector.decode_pool), so
    # ingest uses more than one core; the parent keeps chDB and the WAL. 0 = all of it in
    # the receiving threads of this process. Off by default: each worker costs ~50 MB and
    # a start-up, which `connlog serve`, the demo and the tests (hundreds of collectors)
    # do not need; a dedicated collector sets it (docs/deploy.md §5).
    decode_workers: int = 0

    def __post_init__(self) -> None:
        for name in (
            "max_body_bytes",
            "max_decompressed_bytes",
            "batch_max_rows",
            "queue_max_rows",
            "max_items_per_request",
            "max_attributes",
            "max_attribute_bytes",
            "max_resource_bytes",
            "max_fanout_bytes",
            "max_open_requests",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"collector option {name} must be > 0")
        if self.decode_workers < 0:
            raise ValueError("collector option decode_workers must be >= 0")
        for name in ("batch_max_delay_s", "body_read_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"collector option {name} must be > 0")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CollectorOptions:
        """Defaults with the request limits overridden by `CONNLOG_MAX_*` variables (see config)."""
        env = os.environ if environ is None else environ
        kinds = {f.name: f.type for f in fields(cls)}
        changes: dict[str, int | float] = {}
        for name, var in ENV_COLLECTOR_LIMITS.items():
            raw = env.get(var, "").strip()
            if not raw:
                continue
            try:
                changes[name] = float(raw) if kinds[name] in (float, "float") else int(raw)
            except ValueError as exc:
                raise ConfigError(f"{var} must be a number, got {raw!r}") from exc
        try:
            return cls(**changes)  # type: ignore[arg-type]
        except ValueError as exc:
            raise ConfigError(f"{exc} (from {', '.join(ENV_COLLECTOR_LIMITS[k] for k in changes)})") from exc
