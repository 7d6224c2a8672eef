"""A real ClickHouse sink with a fault injected before each insert, for the collector's tests.

The reliability and backpressure tests make inserts fail, hang or refuse some batches
while everything else stays real (chDB, WAL, batcher). Each fault is a subclass that
overrides `before`; the insert itself is always the real one, with the batcher's
idempotency token passed through.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connlog.collector.sink import ClickHouseSink


class FaultySink(ClickHouseSink):
    def before(self, columns: Sequence[str], data: list[list[Any]]) -> None:
        """Raise or wait here to inject a fault; the insert runs when this returns."""

    def write(
        self, table: str, columns: Sequence[str], data: list[list[Any]], *, token: str | None = None
    ) -> None:
        self.before(columns, data)
        super().write(table, columns, data, token=token)
