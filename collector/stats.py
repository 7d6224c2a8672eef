"""Process-wide counters of what the collector received, wrote, rejected and dropped.

Kept as one small lock-protected dict rather than a metrics library so `/stats`, the
tests and the benchmark read the same numbers without another dependency. Counter
names are `<signal>_<event>` (e.g. `spans_written`); see `COUNTERS` for the full list.
"""

from __future__ import annotations

import threading
from typing import Final

ITEM_KINDS: Final = ("spans", "logs")
EVENTS: Final = (
    "received",  # decoded and accepted into the write queue
    "rejected",  # invalid items refused inside an otherwise valid request (partial_success)
    "refused",  # valid items turned away because the write backlog was full (client retries)
    "written",  # inserted into ClickHouse
    "dropped",  # accepted but lost: the insert failed after all retries (no WAL)
    "replayed",  # read back from the WAL at start (acknowledged by an earlier run)
    "dead_lettered",  # rejected permanently by ClickHouse, kept in the dead-letter directory
    "deferred",  # still failing at shutdown: left in the WAL for the next start
)
COUNTERS: Final[tuple[str, ...]] = (
    *(f"{signal}_{event}" for signal in ITEM_KINDS for event in EVENTS),
    "batches_written",
    "batches_failed",
    "insert_retries",
    "requests_invalid",
    "requests_backpressured",
    "requests_wal_full",
    "batches_dead_lettered",
    "requests_unauthenticated",  # no or unknown ingest key (401 / UNAUTHENTICATED)
    "requests_forbidden",  # a key writing a connector it is not bound to (403 / PERMISSION_DENIED)
    "requests_timed_out",  # body not received within body_read_timeout_s (408)
)


class Stats:
    """Thread-safe monotonically increasing counters; the handlers and the writer share one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, int] = dict.fromkeys(COUNTERS, 0)

    def add(self, name: str, n: int = 1) -> None:
        if n == 0:
            return
        with self._lock:
            self._values[name] = self._values.get(name, 0) + n

    def get(self, name: str) -> int:
        with self._lock:
            return self._values.get(name, 0)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._values)
