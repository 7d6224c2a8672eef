"""Bounded write queue + background writer: batches by rows and by time, one insert per table.

Receivers call `submit`, which only appends to an in-memory queue and returns at once,
so a slow ClickHouse never stalls a request; when the backlog (queued plus being
written) would exceed its row or byte bound, `submit` refuses and the front end answers
429/503 / UNAVAILABLE so the exporter retries later — memory stays bounded. A single
writer thread merges queued batches per table and hands them to the `Sink`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from collector.batch import BatchTransform, ColumnBatch
from collector.options import CollectorOptions
from collector.sink import Sink
from collector.stats import Stats

log = logging.getLogger("collector.batcher")


class TransformError(ValueError):
    """The row transform (redaction hook) raised; the request is rejected."""


class Unavailable(RuntimeError):
    """The batcher is stopping and accepts nothing more."""


class Batcher:
    """Thread-safe: any number of receiver threads submit, one writer thread inserts."""

    def __init__(
        self,
        sink: Sink,
        stats: Stats,
        options: CollectorOptions | None = None,
        *,
        transform: BatchTransform | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sink = sink
        self._stats = stats
        self._options = options or CollectorOptions()
        self._transform = transform
        self._clock = clock
        self._cond = threading.Condition()
        self._queue: deque[tuple[int, ColumnBatch]] = deque()
        self._pending_rows = 0
        self._pending_bytes = 0
        self._enqueued_seq = 0  # sequence number of the last accepted batch
        self._done_seq = 0  # every batch up to here is written or dropped
        self._flush_target = 0
        self._stopping = False
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="connlog-batcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Write everything accepted so far, then end the writer thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def flush(self, timeout: float = 30.0) -> bool:
        """Block until every batch accepted before this call is written (or dropped).

        Returns False on timeout. Forces an immediate insert instead of waiting for the
        batch delay, so tests and graceful shutdown do not sleep.
        """
        with self._cond:
            target = self._enqueued_seq
            if self._done_seq >= target:
                return True
            self._flush_target = max(self._flush_target, target)
            self._cond.notify_all()
            return self._cond.wait_for(lambda: self._done_seq >= target, timeout)

    def backlog(self) -> dict[str, int]:
        with self._cond:
            return {"rows": self._pending_rows, "bytes": self._pending_bytes, "batches": len(self._queue)}

    # ------------------------------------------------------------------ receive side
    def submit(self, batch: ColumnBatch) -> bool:
        """Queue a decoded batch; False when the backlog is full (nothing was queued).

        Runs the row transform first (in the caller's thread) so only transformed rows
        are ever held. Raises `TransformError` if it fails, `Unavailable` when stopping.
        """
        if self._transform is not None and batch.rows:
            try:
                batch = self._transform(batch)
            except Exception as exc:
                raise TransformError(f"row transform failed: {exc}") from exc
        if batch.rows == 0:
            return True
        opts = self._options
        with self._cond:
            if self._stopping:
                raise Unavailable("collector is shutting down")
            busy = self._pending_rows > 0
            if busy and (
                self._pending_rows + batch.rows > opts.queue_max_rows
                or self._pending_bytes + batch.nbytes > opts.queue_max_bytes
            ):
                full = True
            else:
                full = False
                self._enqueued_seq += 1
                self._queue.append((self._enqueued_seq, batch))
                self._pending_rows += batch.rows
                self._pending_bytes += batch.nbytes
                self._cond.notify_all()
        if full:
            self._stats.add(f"{batch.signal}_refused", batch.rows)
            self._stats.add("requests_backpressured")
            return False
        self._stats.add(f"{batch.signal}_received", batch.rows)
        return True

    # ------------------------------------------------------------------ writer thread
    def _due(self, acc: dict[str, tuple[ColumnBatch, float]], now: float) -> bool:
        if self._stopping or self._flush_target > self._done_seq:
            return bool(acc) or self._flush_target > self._done_seq
        opts = self._options
        return any(
            b.rows >= opts.batch_max_rows or now - t0 >= opts.batch_max_delay_s for b, t0 in acc.values()
        )

    def _run(self) -> None:
        acc: dict[str, tuple[ColumnBatch, float]] = {}
        last_seq = self._done_seq
        while True:
            with self._cond:
                while True:
                    now = self._clock()
                    while self._queue:
                        seq, batch = self._queue.popleft()
                        last_seq = seq
                        if batch.table in acc:
                            acc[batch.table][0].extend(batch)
                        else:
                            acc[batch.table] = (batch, now)
                    if self._due(acc, now):
                        break
                    if self._stopping and not acc:
                        return
                    if acc:
                        oldest = min(t0 for _, t0 in acc.values())
                        self._cond.wait(max(oldest + self._options.batch_max_delay_s - now, 0.001))
                    else:
                        self._cond.wait()
            # Both tables are written whenever either is due: keeps `_done_seq` a simple
            # prefix of the accepted sequence, which is what `flush` waits on.
            rows = nbytes = 0
            for batch, _ in acc.values():
                self._write(batch)
                rows += batch.rows
                nbytes += batch.nbytes
            acc.clear()
            with self._cond:
                self._pending_rows -= rows
                self._pending_bytes -= nbytes
                self._done_seq = last_seq
                self._cond.notify_all()

    def _write(self, batch: ColumnBatch) -> None:
        opts = self._options
        attempts = opts.insert_retries + 1
        for attempt in range(attempts):
            started = time.perf_counter()
            try:
                self._sink.write(batch.table, batch.columns, batch.data)
            except Exception as exc:  # noqa: BLE001 - any sink failure is retried, then counted
                if attempt + 1 < attempts:
                    self._stats.add("insert_retries")
                    delay = opts.insert_backoff_s * (2**attempt)
                    log.warning(
                        "event=insert_retry table=%s rows=%d attempt=%d delay_s=%.2f error=%r",
                        batch.table,
                        batch.rows,
                        attempt + 1,
                        delay,
                        exc,
                    )
                    time.sleep(delay)
                    continue
                self._stats.add("batches_failed")
                self._stats.add(f"{batch.signal}_dropped", batch.rows)
                log.error(
                    "event=insert_failed table=%s rows=%d attempts=%d error=%r",
                    batch.table,
                    batch.rows,
                    attempts,
                    exc,
                )
                return
            self._stats.add("batches_written")
            self._stats.add(f"{batch.signal}_written", batch.rows)
            log.debug(
                "event=batch_written table=%s rows=%d ms=%.1f",
                batch.table,
                batch.rows,
                (time.perf_counter() - started) * 1000,
            )
            return
