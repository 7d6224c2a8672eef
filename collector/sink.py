"""Where batches end up: the writer boundary between the batcher and ClickHouse.

The batcher only knows `Sink.write`; a later WAL (durability issue) or a test's slow
writer slots in here without touching the receive path.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Protocol

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.insert import InsertContext


class Sink(Protocol):
    def write(self, table: str, columns: Sequence[str], data: list[list[Any]]) -> None:
        """Persist column-oriented rows; raise on failure (the batcher retries)."""

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

    def write(self, table: str, columns: Sequence[str], data: list[list[Any]]) -> None:
        key = (table, tuple(columns))
        with self._lock:
            context = self._contexts.get(key)
            if context is None:
                context = self._client.create_insert_context(table, list(columns), column_oriented=True)
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
