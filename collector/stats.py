"""Process-wide counters of what the collector received, wrote, rejected and dropped, and
what holds its memory.

Kept as one small lock-protected dict rather than a metrics library so `/stats`, the
tests and the benchmark read the same numbers without another dependency. Counter
names are `<signal>_<event>` (e.g. `spans_written`); see `COUNTERS` for the full list.
`MemoryProbe.breakdown` is the memory split `/stats` and bench/memory.py report (RSS
file/anonymous, the engine's allocator, tracked memory and caches, the C heap, the
write backlog, the WAL): the figures to read before changing the `CONNLOG_CHDB_*` caps.
"""

from __future__ import annotations

import ctypes
import logging
import re
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlparse

from clickhouse_connect.driver.client import Client

from connlog.collector.config import Settings
from connlog.collector.store import connect

log = logging.getLogger("connlog.collector.stats")

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


# --------------------------------------------------------------------------- memory
# What holds the collector's memory, for `/stats` and bench/memory.py. RSS alone cannot
# tell an operator whether to cap chDB's caches, the write backlog or nothing: chDB's
# shared library alone maps ~200 MiB of file-backed pages that are not "used" memory.

# `system.metrics` gauges of the embedded engine (bytes), reported as `engine.<metric>`.
# MemoryTracking is everything ClickHouse accounts for (the number `max_server_memory_usage`
# caps); the rest are its caches, each bounded by the server setting of the same name.
ENGINE_MEMORY_METRICS: Final = (
    "MemoryTracking",
    "MergesMutationsMemoryTracking",
    "MarkCacheBytes",
    "PrimaryIndexCacheBytes",
    "IndexMarkCacheBytes",
    "UncompressedCacheBytes",
    "IndexUncompressedCacheBytes",
    "QueryCacheBytes",
    "QueryConditionCacheBytes",
    "CompiledExpressionCacheBytes",
    "PageCacheBytes",
)
_STATUS_FIELDS: Final = {
    "VmRSS": "rss",
    "RssAnon": "rss_anon",
    "RssFile": "rss_file",
    "RssShmem": "rss_shmem",
}


def process_memory(pid: int | str = "self") -> dict[str, int]:
    """Resident bytes of a process split as Linux accounts them (`/proc/<pid>/status`).

    `rss_file` is mapped files (chDB's ~530 MB .so, Python's modules): shared, clean and
    reclaimable by the kernel. `rss_anon` is heap and stacks: what caps act on.
    Empty off Linux.
    """
    out: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in _STATUS_FIELDS:
            out[_STATUS_FIELDS[key]] = int(rest.split()[0]) * 1024
    return out


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            *("arena", "ordblks", "smblks", "hblks", "hblkhd"),
            *("usmblks", "fsmblks", "uordblks", "fordblks", "keepcost"),
        )
    ]


def _libc() -> Any:
    try:
        libc = ctypes.CDLL(None)
        libc.mallinfo2.restype = _MallInfo2
    except (OSError, AttributeError):
        return None
    return libc


_LIBC: Final = _libc()


def malloc_memory() -> dict[str, int]:
    """The C heap (glibc `mallinfo2`): bytes in use, and bytes freed but still held.

    CPython's objects over 512 bytes (request bodies, decoded column lists) and the C
    extensions (protobuf, grpc) allocate here; ClickHouse does not (its jemalloc is
    `engine.jemalloc_*`). `malloc_free_held` is what glibc's arenas keep after frees
    (fragmentation, one arena per busy thread), returned by `malloc_trim`. Python's
    small objects live in pymalloc arenas counted by neither. Empty off glibc.
    """
    if _LIBC is None:
        return {}
    info = _LIBC.mallinfo2()
    return {
        "malloc_in_use": int(info.uordblks) + int(info.hblkhd),
        "malloc_free_held": int(info.fordblks),
    }


def arrow_memory() -> dict[str, int]:
    """Bytes held by pyarrow's own pool (the chDB sink's Arrow tables), when it is loaded."""
    pa = sys.modules.get("pyarrow")
    if pa is None:
        return {}
    return {"arrow_allocated": int(pa.total_allocated_bytes())}


def engine_memory(client: Client) -> dict[str, int]:
    """The embedded engine's tracked memory and cache sizes from `system.metrics` (bytes)."""
    result = client.query(
        "SELECT metric, value FROM system.metrics WHERE metric IN {names:Array(String)}",
        parameters={"names": list(ENGINE_MEMORY_METRICS)},
    )
    found = {str(name): int(value) for name, value in result.result_rows}
    out = {f"engine.{name}": found.get(name, 0) for name in ENGINE_MEMORY_METRICS}
    out.update(_jemalloc(client))
    return out


_JEMALLOC_TOTALS: Final = re.compile(r"Allocated: (\d+), active: \d+, .*?resident: (\d+)")


def _jemalloc(client: Client) -> dict[str, int]:
    """ClickHouse's own allocator (jemalloc, linked into chDB; Python's malloc is glibc's):
    `resident` is what the engine holds in RSS, freed pages included until jemalloc's
    decay (5 s) returns them, which MemoryTracking does not count. Empty where the
    build has no `system.jemalloc_stats`."""
    try:
        text = str(client.query("SELECT * FROM system.jemalloc_stats").result_rows[0][0])
    except Exception:  # noqa: BLE001 - optional table, the rest of the breakdown stands
        return {}
    match = _JEMALLOC_TOTALS.search(text)
    if match is None:
        return {}
    return {"engine.jemalloc_allocated": int(match.group(1)), "engine.jemalloc_resident": int(match.group(2))}


class MemoryProbe:
    """Builds the `/stats` memory breakdown; engine figures only for an embedded engine.

    `client_factory` opens a client of the probe's own (a client runs one query at a
    time, and `/stats` must not wait behind an insert) on the *embedded* engine: a
    ClickHouse server's memory is not this process's, and is read on the server.
    """

    def __init__(self, client_factory: Callable[[], Client] | None = None) -> None:
        self._factory = client_factory
        self._client: Client | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_settings(cls, settings: Settings) -> MemoryProbe:
        """Engine figures for a `chdb://` URL (through `collector.store.connect`), none for a
        server."""
        if urlparse(settings.resolved_clickhouse_url).scheme != "chdb":
            return cls()
        return cls(lambda: connect(settings))

    def _engine(self) -> dict[str, int]:
        if self._factory is None:
            return {}
        with self._lock:
            if self._client is None:
                self._client = self._factory()
            try:
                return engine_memory(self._client)
            except Exception:
                client, self._client = self._client, None  # open a fresh one next time
                client.close()
                raise

    def breakdown(
        self, backlog: Mapping[str, int] | None = None, wal: Mapping[str, int] | None = None
    ) -> dict[str, int]:
        """Bytes, flat: `rss*`, `malloc_*`, `arrow_allocated`, `engine.*`, `backlog_bytes`
        (decoded batches waiting for the writer, estimated) and `wal_bytes` (on disk plus
        the group-commit buffer; disk is page cache, not RSS)."""
        out = process_memory()
        out.update(malloc_memory())
        out.update(arrow_memory())
        try:
            out.update(self._engine())
        except Exception as exc:  # noqa: BLE001 - the breakdown must not fail /stats
            log.warning("event=memory_probe_failed error=%r", str(exc))
        if backlog is not None:
            out["backlog_bytes"] = int(backlog.get("bytes", 0))
        if wal is not None:
            out["wal_bytes"] = int(wal.get("bytes", 0))
        return out

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
