"""Tunables of the collector process: ports' limits, batching and backpressure.

Separate from `collector.config.Settings` (where ClickHouse lives, retention) because
these only concern the ingest path and tests shrink them to provoke backpressure.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class CollectorOptions:
    # Request limits. The decompressed cap defends against gzip bombs.
    max_body_bytes: int = 16 * MIB
    max_decompressed_bytes: int = 64 * MIB
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

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_decompressed_bytes", "batch_max_rows", "queue_max_rows"):
            if getattr(self, name) <= 0:
                raise ValueError(f"collector option {name} must be > 0")
        if self.batch_max_delay_s <= 0:
            raise ValueError("collector option batch_max_delay_s must be > 0")
