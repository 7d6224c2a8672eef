"""Exporter and processor wrappers that never raise, never wait twice, and count.

The connector must not notice telemetry trouble: an unreachable collector, a crashing
exporter or a full queue. `SafeExporter` wraps any span or log exporter: exceptions
become failures, and after a failure a circuit breaker drops batches immediately (and
counts them) for a growing back-off instead of paying the exporter's timeout again on
every batch, so `flush()` / `shutdown()` stay bounded while the collector is down.

With a `SpanRedactor` (instrumentation.export_redaction) every span batch is redacted
first, so neither the exporter nor the spool ever sees a user-set attribute, status or
exception message in clear.

With a `Spool` (see instrumentation.spool) a batch that cannot be delivered is encoded
as an OTLP request and kept on disk by `_on_undelivered` instead of being dropped, and a
successful export wakes the spool's drainer (the collector is back).

`CountingSpanProcessor` / `CountingLogProcessor` count what enters the batch queue and
detect queue overflow, so `ExportStats` can report every item that never reached the
collector.
"""

# The SDK must never raise into the connector: its hooks catch broadly on purpose.
# ruff: noqa: BLE001

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import LogRecordProcessor, ReadableLogRecord, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from connlog.instrumentation.export_redaction import SpanRedactor
from connlog.instrumentation.spool import Spool

_log = logging.getLogger("connlog.sdk")


@dataclass
class SignalStats:
    """Counters for one signal (spans or logs). Totals are exact after shutdown."""

    submitted: int = 0  # handed to the batch processor
    exported: int = 0  # accepted by the exporter
    failed: int = 0  # exporter returned failure or raised
    shed: int = 0  # dropped by the circuit breaker without trying
    queue_dropped: int = 0  # dropped because the batch queue was full
    spooled: int = 0  # not delivered now but kept in the on-disk spool (sent later)
    spool_dropped: int = 0  # could not be spooled (spool full): included in failed / shed

    @property
    def dropped(self) -> int:
        return self.failed + self.shed + self.queue_dropped


# Guards the `submitted` / `queue_dropped` increments, which come from every thread that
# ends a span or writes a log record (`+=` on an attribute is not atomic).
_count_lock = threading.RLock()


class SafeExporter:
    """Shared logic of the span and log exporter wrappers."""

    signal = "traces"

    def __init__(
        self,
        inner: Any,
        stats: SignalStats,
        *,
        min_backoff: float = 2.0,
        max_backoff: float = 60.0,
        spool: Spool | None = None,
        on_delivered: Callable[[], None] | None = None,
    ):
        self._inner = inner
        self._stats = stats
        self._spool = spool
        self._on_delivered = on_delivered
        self._lock = threading.Lock()
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._backoff = min_backoff
        self._open_until = 0.0

    def _export(self, batch: Sequence[Any], ok: Any) -> bool:
        n = len(batch)
        if time.monotonic() < self._open_until:
            spooled = self._on_undelivered(batch)
            with self._lock:
                if spooled:
                    self._stats.spooled += n
                else:
                    self._stats.shed += n
            return False
        try:
            success = bool(self._inner.export(batch) == ok)
        except Exception:
            _log.debug("exporter raised", exc_info=True)
            success = False
        spooled = False if success else self._on_undelivered(batch)
        with self._lock:
            if success:
                self._stats.exported += n
                self._backoff = self._min_backoff
                self._open_until = 0.0
            else:
                if spooled:
                    self._stats.spooled += n
                else:
                    self._stats.failed += n
                self._open_until = time.monotonic() + self._backoff
                self._backoff = min(self._max_backoff, self._backoff * 2)
        if success and self._on_delivered is not None:
            self._on_delivered()
        return success

    def _encode(self, batch: Sequence[Any]) -> bytes:
        data: bytes = encode_spans(batch).SerializeToString()
        return data

    def _on_undelivered(self, batch: Sequence[Any]) -> bool:
        """Keep an undelivered batch in the spool as an OTLP request; True if kept."""
        if self._spool is None or not batch:
            return False
        try:
            if self._spool.put(self.signal, self._encode(batch)):
                return True
        except Exception:
            _log.debug("spooling failed", exc_info=True)
        with self._lock:
            self._stats.spool_dropped += len(batch)
        return False

    def shutdown(self) -> None:
        try:
            self._inner.shutdown()
        except Exception:
            _log.debug("exporter shutdown raised", exc_info=True)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        try:
            return bool(self._inner.force_flush(timeout_millis))
        except Exception:
            _log.debug("exporter force_flush raised", exc_info=True)
            return False


class SafeSpanExporter(SafeExporter, SpanExporter):
    """`SafeExporter` for spans; with `redactor`, every batch is redacted before anything else."""

    def __init__(
        self, inner: Any, stats: SignalStats, *, redactor: SpanRedactor | None = None, **kwargs: Any
    ):
        super().__init__(inner, stats, **kwargs)
        self._redactor = redactor

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._redactor is not None:
            spans = self._redactor.spans(spans)
        ok = self._export(spans, SpanExportResult.SUCCESS)
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE


class SafeLogExporter(SafeExporter, LogRecordExporter):
    signal = "logs"

    def _encode(self, batch: Sequence[Any]) -> bytes:
        data: bytes = encode_logs(batch).SerializeToString()
        return data

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        ok = self._export(batch, LogRecordExportResult.SUCCESS)
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE


def _queue_full(processor: object) -> bool:
    # The SDK's BatchProcessor silently evicts the oldest item when its deque is full;
    # peek at it to count that. Private attributes, so any surprise means "not full".
    try:
        queue = processor._batch_processor._queue  # type: ignore[attr-defined]
        return len(queue) >= int(queue.maxlen)
    except Exception:
        return False


def _wait_for_room(processor: object, max_wait: float) -> bool:
    """True if the batch queue is (still) full after waiting up to `max_wait` seconds.

    A burst (100k entities in a tight loop) outruns the exporter; waiting a few
    milliseconds for the worker to drain beats the SDK's silent eviction. While the
    collector is down the circuit breaker drains the queue at once, so this never
    stalls a connector for long.
    """
    if not _queue_full(processor):
        return False
    now = time.monotonic()
    if max_wait <= 0 or now < _stuck_until.get(id(processor), 0.0):
        return True
    deadline = now + max_wait
    while time.monotonic() < deadline:
        time.sleep(0.001)
        if not _queue_full(processor):
            return False
    # The exporter is stuck, not just busy: stop waiting for a while so the connector
    # is not slowed by `max_wait` on every span.
    _stuck_until[id(processor)] = time.monotonic() + 30.0
    return True


_stuck_until: dict[int, float] = {}


class _Counting:
    """Shared body of the counting processors: count, wait briefly for room, delegate, never raise."""

    _kind = "processor"

    def __init__(
        self, inner: SpanProcessor | LogRecordProcessor, stats: SignalStats, *, max_wait: float = 0.0
    ) -> None:
        self._inner: Any = inner
        self._stats = stats
        self._max_wait = max_wait

    def _submit(self, deliver: Callable[[], None]) -> None:
        try:
            full = _wait_for_room(self._inner, self._max_wait)
            with _count_lock:
                self._stats.submitted += 1
                if full:
                    self._stats.queue_dropped += 1
            deliver()
        except Exception:
            _log.debug("%s raised", self._kind, exc_info=True)

    def shutdown(self) -> None:
        try:
            self._inner.shutdown()
        except Exception:
            _log.debug("%s shutdown raised", self._kind, exc_info=True)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        try:
            return bool(self._inner.force_flush(timeout_millis))
        except Exception:
            _log.debug("%s flush raised", self._kind, exc_info=True)
            return False


class CountingSpanProcessor(_Counting, SpanProcessor):
    """Delegates to a batch span processor; counts submissions and queue overflow."""

    _kind = "span processor"

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        self._submit(lambda: self._inner.on_end(span))


class CountingLogProcessor(_Counting, LogRecordProcessor):
    """Delegates to a batch log processor; counts submissions and queue overflow."""

    _kind = "log processor"

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        self._submit(lambda: self._inner.on_emit(log_record))
