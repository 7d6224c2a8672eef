"""Bounded write queue + background writer: batches by rows and by time, one insert per table.

Receivers call `submit`, which only appends to an in-memory queue and returns at once,
so a slow ClickHouse never stalls a request; when the backlog (queued plus being
written) would exceed its row or byte bound, `submit` refuses and the front end answers
429/503 / UNAVAILABLE so the exporter retries later — memory stays bounded. A single
writer thread merges queued batches per table and hands them to the `Sink`.

With a `WriteAheadLog` (the collector's default) `submit` returns only once the batch is
fsynced to it, each insert is preceded by a durable INTENT carrying its deduplication
token, transient insert failures are retried with capped backoff until they succeed
(nothing acknowledged is dropped; the backlog bound turns the outage into 429s), and a
batch ClickHouse rejects permanently is split per request and the culprit set aside in
the dead-letter directory. Without a WAL the original behaviour holds: a few retries,
then the rows are counted as dropped.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from connlog.collector.batch import BatchTransform, ColumnBatch
from connlog.collector.dead_letter import DeadLetter
from connlog.collector.insert_errors import is_permanent
from connlog.collector.options import CollectorOptions
from connlog.collector.sink import Sink
from connlog.collector.stats import Stats
from connlog.collector.wal import ReplayUnit, WriteAheadLog, merge

log = logging.getLogger("connlog.collector.batcher")


class TransformError(ValueError):
    """The row transform (redaction hook) raised; the request is rejected."""


class Unavailable(RuntimeError):
    """The batcher is stopping (or its WAL cannot be written) and accepts nothing more."""


def apply_transform(transform: BatchTransform, batch: ColumnBatch) -> ColumnBatch:
    """`transform(batch)`, a failure turned into `TransformError` (the request is rejected).

    Shared by `Batcher.submit` and the decode workers (`collector.decode_pool`), which run
    the redaction before the batch reaches the parent: one rule, one message.
    """
    try:
        return transform(batch)
    except Exception as exc:
        raise TransformError(f"row transform failed: {exc}") from exc


@dataclass
class _Item:
    """A queued unit: WAL seqs (empty without a WAL), its batch, and a fixed dedup token.

    Items with a token come from a replayed INTENT and must be inserted exactly as they
    are (never merged), so ClickHouse recognises the block if it was stored before.
    """

    seqs: tuple[int, ...]
    batch: ColumnBatch
    token: str | None = None


class _Deferred(Exception):
    """Stopping while ClickHouse still fails: the rows stay in the WAL for the next start."""


class _Dropped(Exception):
    """No WAL and the retries are exhausted: the rows are lost (counted)."""


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
        wal: WriteAheadLog | None = None,
        dead_letter: DeadLetter | None = None,
    ) -> None:
        self._sink = sink
        self._wal = wal
        self._dead_letter = dead_letter
        # Sinks that take a `token` keyword get the deduplication token (test doubles
        # with the plain three-argument `write` keep working, without dedup).
        try:
            self._sink_takes_token = "token" in inspect.signature(sink.write).parameters
        except (TypeError, ValueError):
            self._sink_takes_token = False
        self._stats = stats
        self._options = options or CollectorOptions()
        self._transform = transform
        self._clock = clock
        self._cond = threading.Condition()
        self._queue: deque[tuple[int, _Item]] = deque()
        self._inflight = 0  # submits between reserving room and queueing (WAL fsync)
        self._give_up_at = float("inf")  # when stopping: stop retrying, leave rows in the WAL
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
        """Write everything accepted so far, then end the writer thread.

        With a WAL, rows ClickHouse still refuses after `timeout` stay in the WAL and are
        replayed on the next start instead of holding the shutdown forever.
        """
        with self._cond:
            self._stopping = True
            self._give_up_at = self._clock() + max(timeout - 1.0, 0.0)
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

    def wal_status(self) -> dict[str, int] | None:
        """The WAL's size, batches not yet in ClickHouse, appends and fsyncs (None without one)."""
        wal = self._wal
        if wal is None:
            return None
        return {
            "bytes": wal.size_bytes,
            "pending_batches": wal.pending_batches(),
            "appends": wal.appended,
            "fsyncs": wal.fsyncs,
        }

    # ------------------------------------------------------------------ receive side
    def submit(self, batch: ColumnBatch) -> bool:
        """Queue a decoded batch; False when the backlog is full (nothing was queued).

        Runs the row transform first (in the caller's thread) so only transformed rows
        are ever held. Raises `TransformError` if it fails, `Unavailable` when stopping.
        """
        if self._transform is not None and batch.rows:
            batch = apply_transform(self._transform, batch)
        if batch.rows == 0:
            return True
        opts = self._options
        with self._cond:
            if self._stopping:
                raise Unavailable("collector is shutting down")
            busy = self._pending_rows > 0
            full = busy and (
                self._pending_rows + batch.rows > opts.queue_max_rows
                or self._pending_bytes + batch.nbytes > opts.queue_max_bytes
            )
            if not full:  # reserve the room before the (slow) WAL append
                self._pending_rows += batch.rows
                self._pending_bytes += batch.nbytes
                self._inflight += 1
        if full:
            self._refused(batch)
            return False
        seqs: tuple[int, ...] = ()
        try:
            if self._wal is not None:
                seq = self._wal.append(batch)
                if seq is None:
                    self._unreserve(batch)
                    self._stats.add("requests_wal_full")
                    self._refused(batch)
                    return False
                seqs = (seq,)
        except OSError as exc:
            self._unreserve(batch)
            log.error("event=wal_append_failed error=%r", exc)
            raise Unavailable(f"write-ahead log unavailable: {exc}") from exc
        with self._cond:
            self._inflight -= 1
            self._enqueued_seq += 1
            self._queue.append((self._enqueued_seq, _Item(seqs, batch)))
            self._cond.notify_all()
        self._stats.add(f"{batch.signal}_received", batch.rows)
        return True

    def _refused(self, batch: ColumnBatch) -> None:
        self._stats.add(f"{batch.signal}_refused", batch.rows)
        self._stats.add("requests_backpressured")

    def _unreserve(self, batch: ColumnBatch) -> None:
        with self._cond:
            self._pending_rows -= batch.rows
            self._pending_bytes -= batch.nbytes
            self._inflight -= 1
            self._cond.notify_all()

    def replay(self, units: list[ReplayUnit]) -> None:
        """Queue what the WAL still holds from an earlier run (call before receiving).

        Bypasses the backlog bound: the rows are already acknowledged; new requests get
        429 until the backlog drains.
        """
        with self._cond:
            for unit in units:
                self._enqueued_seq += 1
                self._queue.append((self._enqueued_seq, _Item(unit.seqs, unit.batch, unit.token)))
                self._pending_rows += unit.batch.rows
                self._pending_bytes += unit.batch.nbytes
                self._stats.add(f"{unit.batch.signal}_replayed", unit.batch.rows)
            self._cond.notify_all()

    # ------------------------------------------------------------------ writer thread
    def _run(self) -> None:
        acc: dict[str, tuple[list[_Item], float]] = {}
        acc_rows: dict[str, int] = {}
        sealed: list[_Item] = []
        last_seq = self._done_seq
        while True:
            with self._cond:
                while True:
                    now = self._clock()
                    while self._queue:
                        seq, item = self._queue.popleft()
                        last_seq = seq
                        table = item.batch.table
                        if item.token is not None:
                            sealed.append(item)
                        elif table in acc:
                            acc[table][0].append(item)
                        else:
                            acc[table] = ([item], now)
                        acc_rows[table] = acc_rows.get(table, 0) + item.batch.rows
                    if self._due_fast(acc, acc_rows, sealed, now):
                        break
                    if self._stopping and not acc and not sealed and not self._inflight:
                        return
                    if acc:
                        oldest = min(t0 for _, t0 in acc.values())
                        self._cond.wait(max(oldest + self._options.batch_max_delay_s - now, 0.001))
                    else:
                        self._cond.wait(0.5 if self._stopping else None)
            # Both tables are written whenever either is due: keeps `_done_seq` a simple
            # prefix of the accepted sequence, which is what `flush` waits on.
            rows = nbytes = 0
            for item in sealed:
                self._write_group([item], item.token)
            for items, _ in acc.values():
                self._write_group(items, None)
            for item in sealed + [i for items, _ in acc.values() for i in items]:
                rows += item.batch.rows
                nbytes += item.batch.nbytes
            acc.clear()
            acc_rows.clear()
            sealed.clear()
            with self._cond:
                self._pending_rows -= rows
                self._pending_bytes -= nbytes
                self._done_seq = last_seq
                self._cond.notify_all()

    def _due_fast(
        self,
        acc: dict[str, tuple[list[_Item], float]],
        acc_rows: dict[str, int],
        sealed: list[_Item],
        now: float,
    ) -> bool:
        """`_due` with row counts kept incrementally (no re-summing per wake-up)."""
        if sealed:
            return True
        if self._stopping or self._flush_target > self._done_seq:
            return bool(acc) or self._flush_target > self._done_seq
        opts = self._options
        return any(
            acc_rows[table] >= opts.batch_max_rows or now - t0 >= opts.batch_max_delay_s
            for table, (_, t0) in acc.items()
        )

    # ------------------------------------------------------------------ inserting
    def _token_for(self, table: str, seqs: tuple[int, ...]) -> str | None:
        if self._wal is None or not seqs:
            return None
        return f"connlog-{self._wal.epoch}-{table}-{seqs[0]}-{seqs[-1]}-{len(seqs)}"

    def _write_group(self, items: list[_Item], token: str | None) -> None:
        """Insert `items` (one table) as one block; split them if the block is poison."""
        batch = merge([i.batch for i in items])
        seqs = tuple(s for i in items for s in i.seqs)
        if token is None:
            token = self._token_for(batch.table, seqs)
        if self._wal is not None and seqs and token is not None:
            self._wal.intent(batch.table, seqs, token)
        try:
            self._insert(batch, token)
        except _Deferred:
            self._stats.add(f"{batch.signal}_deferred", batch.rows)
            return
        except _Dropped:
            return
        except Exception as exc:  # noqa: BLE001 - `_insert` raises only permanent failures here
            if len(items) > 1:
                log.warning(
                    "event=insert_split table=%s rows=%d parts=%d error=%r",
                    batch.table,
                    batch.rows,
                    len(items),
                    exc,
                )
                for n, item in enumerate(items):
                    self._write_group([item], f"{token}/{n}" if token else None)
                return
            self._set_aside(batch, seqs, token, exc)
        else:
            self._stats.add("batches_written")
            self._stats.add(f"{batch.signal}_written", batch.rows)
        if self._wal is not None and seqs:
            self._wal.done(seqs)

    def _set_aside(
        self, batch: ColumnBatch, seqs: tuple[int, ...], token: str | None, exc: Exception
    ) -> None:
        reason = f"{type(exc).__name__}: {exc}"[:2000]
        path = None
        if self._dead_letter is not None:
            try:
                path = self._dead_letter.put(batch, reason, token)
            except OSError as err:
                log.error("event=dead_letter_write_failed error=%r", err)
        if path is None:
            self._stats.add(f"{batch.signal}_dropped", batch.rows)
        else:
            self._stats.add(f"{batch.signal}_dead_lettered", batch.rows)
            self._stats.add("batches_dead_lettered")
        self._stats.add("batches_failed")
        log.error(
            "event=dead_letter table=%s rows=%d seqs=%s file=%s reason=%r",
            batch.table,
            batch.rows,
            f"{seqs[0]}-{seqs[-1]}" if seqs else "-",
            path,
            reason[:300],
        )

    def _sink_write(self, batch: ColumnBatch, token: str | None) -> None:
        if self._sink_takes_token:
            self._sink.write(batch.table, batch.columns, batch.data, token=token)  # type: ignore[call-arg]
        else:
            self._sink.write(batch.table, batch.columns, batch.data)

    def _insert(self, batch: ColumnBatch, token: str | None) -> None:
        """Insert until success; raise the error if permanent, `_Deferred` / `_Dropped` else."""
        opts = self._options
        durable = self._wal is not None
        attempt = 0
        while True:
            started = time.perf_counter()
            try:
                self._sink_write(batch, token)
            except Exception as exc:  # classified below: permanent ones propagate
                if is_permanent(exc):
                    raise
                attempt += 1
                if not durable and attempt > opts.insert_retries:
                    self._stats.add("batches_failed")
                    self._stats.add(f"{batch.signal}_dropped", batch.rows)
                    log.error(
                        "event=insert_failed table=%s rows=%d attempts=%d error=%r",
                        batch.table,
                        batch.rows,
                        attempt,
                        exc,
                    )
                    raise _Dropped from exc
                if durable and self._clock() >= self._give_up_at:
                    log.warning(
                        "event=insert_deferred table=%s rows=%d reason=stopping error=%r",
                        batch.table,
                        batch.rows,
                        exc,
                    )
                    raise _Deferred from exc
                self._stats.add("insert_retries")
                delay = min(opts.insert_backoff_s * (2 ** min(attempt - 1, 20)), opts.insert_backoff_max_s)
                if durable:
                    delay = min(delay, max(self._give_up_at - self._clock(), 0.0))
                log.warning(
                    "event=insert_retry table=%s rows=%d attempt=%d delay_s=%.2f error=%r",
                    batch.table,
                    batch.rows,
                    attempt,
                    delay,
                    exc,
                )
                with self._cond:  # sleep, but wake up early when `stop` is called
                    self._cond.wait_for(lambda: self._stopping and self._clock() >= self._give_up_at, delay)
                continue
            log.debug(
                "event=batch_written table=%s rows=%d ms=%.1f",
                batch.table,
                batch.rows,
                (time.perf_counter() - started) * 1000,
            )
            return
