"""Where batches end up: the writer boundary between the batcher and ClickHouse.

The batcher only knows `Sink.write`; a test's slow or failing writer (fault injection)
slots in here without touching the receive path. A sink whose `write` accepts a `token`
keyword receives the batch's deduplication token (see collector.wal).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol
from urllib.parse import urlparse

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.insert import InsertContext


class Sink(Protocol):
    def write(self, table: str, columns: Sequence[str], data: list[list[Any]]) -> None:
        """Persist column-oriented rows; raise on failure (the batcher retries).

        Implementations may add `*, token: str | None = None`: the same token for the
        same rows on every retry and replay, for an idempotent insert.
        """

    def close(self) -> None:
        """Release connections; called once when the collector stops."""


class ClickHouseSink:
    """One `INSERT` per call through clickhouse-connect, column-oriented (no transposition).

    Insert contexts (the table's column types) are cached per table so each batch costs
    one round trip instead of a DESCRIBE plus the insert; a failed insert drops the cached
    context in case the table changed. The client is used from the writer thread only;
    the lock just makes that explicit.
    """

    def __init__(self, client: Client) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._contexts: dict[tuple[str, tuple[str, ...]], InsertContext] = {}

    def write(
        self, table: str, columns: Sequence[str], data: list[list[Any]], *, token: str | None = None
    ) -> None:
        """`token` becomes `insert_deduplication_token`: a replayed block is dropped by ClickHouse
        if it was stored before (needs `non_replicated_deduplication_window` on plain MergeTree)."""
        key = (table, tuple(columns))
        with self._lock:
            context = self._contexts.get(key)
            if context is None:
                context = self._client.create_insert_context(table, list(columns), column_oriented=True)
            settings = dict(context.settings or {})
            settings.pop("insert_deduplication_token", None)
            if token is not None:
                settings["insert_deduplication_token"] = token
            context.settings = settings
            try:
                self._client.insert(data=data, context=context)
            except BaseException:
                self._contexts.pop(key, None)
                raise
            finally:
                context.data = None  # release the rows; the context only keeps column types
            self._contexts[key] = context

    def close(self) -> None:
        with self._lock:
            self._client.close()


def sink_for_url(url: str) -> Callable[[Client], Sink]:
    """The writer for a ClickHouse URL: Arrow through chDB's `Python()` for `chdb://` (see
    `collector.chdb_sink`), clickhouse-connect's Native inserts for a server."""
    if urlparse(url).scheme == "chdb":
        from connlog.collector.chdb_sink import ChdbArrowSink  # needs chdb + pyarrow: lazily

        return ChdbArrowSink
    return ClickHouseSink
