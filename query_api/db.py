"""Running queries: typed row access, read statistics, and a small client pool.

Every query goes through `fetch`, which records ClickHouse's read_rows/read_bytes into the
current request's `ReadStats` (a context variable). The app reports them as response
headers (`X-Connlog-Read-Rows`, `X-Connlog-Read-Bytes`), so the cost of each route is
visible in tests and benchmarks without a query log (chDB has none).

chDB clients serialise calls per handle, so the app keeps a pool and gives each request its
own client; a remote server is served the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from clickhouse_connect.driver.client import Client

ClientFactory = Callable[[], Client]


@dataclass
class ReadStats:
    """What the queries of one request (or one CLI command) read.

    `read_rows`/`read_bytes` are what the server reports per query (a ClickHouse server:
    rows scanned; chDB reports result-side counts). With `estimate=True` each query is also
    run through `EXPLAIN ESTIMATE`, and `granule_rows[table]` sums the rows of the granules
    the primary key and partition pruning left to read: the engine-independent measure the
    tests and benchmarks use. `query_tables` keeps the same per query, (label, table, rows),
    so a test can say which query read which table.
    """

    queries: int = 0
    read_rows: int = 0
    read_bytes: int = 0
    per_query: list[tuple[str, int, int]] = field(default_factory=list)
    estimate: bool = False
    granule_rows: dict[str, int] = field(default_factory=dict)
    query_tables: list[tuple[str, str, int]] = field(default_factory=list)

    def add(self, label: str, rows: int, nbytes: int) -> None:
        self.queries += 1
        self.read_rows += rows
        self.read_bytes += nbytes
        self.per_query.append((label, rows, nbytes))


current_stats: ContextVar[ReadStats | None] = ContextVar("connlog_read_stats", default=None)


@contextmanager
def collect_stats(*, estimate: bool = False) -> Iterator[ReadStats]:
    """Record the reads of every `fetch` inside the block (and their estimates if asked)."""
    stats = ReadStats(estimate=estimate)
    token = current_stats.set(stats)
    try:
        yield stats
    finally:
        current_stats.reset(token)


def fetch(client: Client, sql: str, params: dict[str, Any], *, label: str = "") -> list[tuple[Any, ...]]:
    """Run a SELECT with bound parameters and return its rows as tuples."""
    result = client.query(sql, parameters=params)
    stats = current_stats.get()
    if stats is not None:
        summary = result.summary or {}
        stats.add(label or "query", int(summary.get("read_rows", 0)), int(summary.get("read_bytes", 0)))
        if stats.estimate:
            for _db, table, _parts, rows, _marks in client.query(
                f"EXPLAIN ESTIMATE {sql}", parameters=params
            ).result_rows:
                stats.granule_rows[str(table)] = stats.granule_rows.get(str(table), 0) + int(rows)
                stats.query_tables.append((label or "query", str(table), int(rows)))
    return [tuple(row) for row in result.result_rows]


class ClientPool:
    """Clients created on demand from a factory, reused across requests, closed at shutdown.

    `close` may run while requests are still in flight or before the app serves again (an
    ASGI lifespan can cycle, e.g. when a tool loads the schema): it closes the idle clients,
    and clients handed out earlier are closed when returned, so the pool never lends a
    closed client.
    """

    def __init__(self, factory: ClientFactory, size: int = 4) -> None:
        self._factory = factory
        self._idle: list[Client] = []
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._generation = 0

    @contextmanager
    def client(self) -> Iterator[Client]:
        with self._slots:
            with self._lock:
                c = self._idle.pop() if self._idle else None
                generation = self._generation
            if c is None:
                c = self._factory()
            try:
                yield c
            finally:
                with self._lock:
                    keep = generation == self._generation
                    if keep:
                        self._idle.append(c)
                if not keep:
                    c.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
            self._generation += 1
        for c in idle:
            c.close()
