"""The unit that flows from the decoders through the batcher to a sink.

Rows are kept column-oriented (one Python list per ingest column) from the moment they
are decoded, so merging batches is `list.extend` per column and the insert needs no
transposition — the cheapest shape for clickhouse-connect's `column_oriented=True`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypedDict

from connlog.collector.config import ENV_RETENTION_DAYS


@dataclass
class ColumnBatch:
    """Rows for one table: `data[i]` holds the values of `columns[i]`, all of length `rows`."""

    table: str
    signal: str  # "spans" or "logs": which counters the rows feed
    columns: tuple[str, ...]
    data: list[list[Any]]
    rows: int
    nbytes: int = 0  # approximate memory cost, for the backlog bound
    rejected: int = 0  # items of the request refused as invalid (not in `data`)
    errors: list[str] = field(default_factory=list)  # first few reasons for `rejected`

    def column(self, name: str) -> list[Any]:
        return self.data[self.columns.index(name)]

    def extend(self, other: ColumnBatch) -> None:
        """Append `other`'s rows (same table and columns) to this batch in place."""
        if other.columns != self.columns:
            raise ValueError(f"cannot merge batches with different columns for {self.table}")
        for mine, theirs in zip(self.data, other.data, strict=True):
            mine.extend(theirs)
        self.rows += other.rows
        self.nbytes += other.nbytes


# The redaction seam: called on every decoded batch before it is queued, so nothing
# unredacted is ever held in the backlog (or, later, written to a WAL). It returns the
# batch to queue (the same or a new one) and must keep `columns` and the row count
# consistent. Rows of one resource share the same attribute dict object, so replace
# maps rather than mutating them. Raising rejects the request (HTTP 400 /
# INVALID_ARGUMENT).
BatchTransform = Callable[[ColumnBatch], ColumnBatch]

MAX_ERROR_MESSAGES = 5

# DateTime64(9) holds nanoseconds in a signed Int64: up to 2262-04-11. OTLP's fixed64 allows
# more; such a timestamp would fail the whole insert, so it is rejected at decode instead.
MAX_TIMESTAMP_NS = 2**63 - 1
TIMESTAMP_RANGE_ERROR = "timestamps must be before 2262-04-11T23:47:16Z (DateTime64(9) range)"

# Rows older than the retention would be inserted and then deleted by the table's TTL, so
# the client would be told they were stored when they were not: they are refused instead
# (counted in `partial_success`). The decoders get the cut-off from `retention_cutoff_ns`.
NS_PER_DAY = 86_400 * 10**9


def retention_cutoff_ns(days: int, now_ns: int) -> int:
    """The oldest timestamp kept under a `days`-day retention (0 = keep forever: no cut-off)."""
    return max(now_ns - days * NS_PER_DAY, 0) if days > 0 else 0


def retention_error(days: int) -> str:
    return (
        f"older than the {days}-day retention ({ENV_RETENTION_DAYS}): "
        "it would be deleted as soon as it is stored"
    )


def rejection_message(batch: ColumnBatch) -> str:
    """The `partial_success.error_message` text: count plus the first reasons."""
    if not batch.rejected:
        return ""
    shown = "; ".join(batch.errors[:MAX_ERROR_MESSAGES])
    return f"{batch.rejected} {batch.signal} rejected: {shown}"


class DecodeContext(TypedDict, total=False):
    """What the decoders take besides the request (`decode_traces(request, **context)`).

    `wire_size`: the request's size, for the backlog's memory estimate; `retention_days`
    > 0 refuses items older than the retention; `now_ns` fixes "now" (tests).
    """

    wire_size: int
    retention_days: int
    now_ns: int | None


class Refusals:
    """The items of one request refused at decode: a count and the first few reasons.

    Shared by both decoders so a refused span and a refused log record are reported the
    same way (`partial_success`), with the same retention cut-off.
    """

    def __init__(self, context: DecodeContext) -> None:
        now = context.get("now_ns")
        self.retention_days = context.get("retention_days", 0)
        self.oldest = retention_cutoff_ns(self.retention_days, time.time_ns() if now is None else now)
        self.wire_size = max(context.get("wire_size", 0), 0)
        self.count = 0
        self.errors: list[str] = []

    def time_problem(self, earliest: int, latest: int) -> str | None:
        """Why an item with these timestamps cannot be stored (None: it can)."""
        if latest > MAX_TIMESTAMP_NS:
            return TIMESTAMP_RANGE_ERROR
        if earliest < self.oldest:
            return retention_error(self.retention_days)
        return None

    def add(self, reason: str) -> None:
        self.count += 1
        if len(self.errors) < MAX_ERROR_MESSAGES:
            self.errors.append(reason)

    def batch(
        self, table: str, signal: str, columns: tuple[str, ...], data: list[list[Any]], row_overhead: int
    ) -> ColumnBatch:
        """The decoded rows (`data[0]` gives the count) with these refusals attached."""
        rows = len(data[0])
        return ColumnBatch(
            table=table,
            signal=signal,
            columns=columns,
            data=data,
            rows=rows,
            nbytes=self.wire_size * 2 + rows * row_overhead,
            rejected=self.count,
            errors=self.errors,
        )
