"""Stored volume per connlog table, from `system.parts`: what the settings page shows.

"Why are the logs empty?" is often answered by the store itself: no rows at all (nothing
arrived), or only recent partitions (retention dropped the rest). `system.parts` has the
figures without reading any data: rows, bytes on disk, compressed and uncompressed sizes
and partitions of the active parts. On a cluster the parts live in `<table>_local` and
these are the figures of the node the API is connected to.
"""

from __future__ import annotations

from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from connlog.collector.config import Settings
from connlog.collector.schema.ddl import STORAGE_TABLES, target_of
from connlog.query_api.db import fetch

_PARTS_SQL = """
SELECT table,
       sum(rows),
       sum(bytes_on_disk),
       sum(data_compressed_bytes),
       sum(data_uncompressed_bytes),
       count(),
       toString(toDate(min(min_time))),
       toString(toDate(max(max_time)))
FROM system.parts
WHERE database = {database:String} AND active AND table IN {tables:Array(String)}
GROUP BY table
"""


@dataclass(frozen=True)
class TableStorage:
    """One storage table's active parts; a table with no parts has zeros and no partitions."""

    table: str
    rows: int = 0
    bytes_on_disk: int = 0
    compressed_bytes: int = 0
    uncompressed_bytes: int = 0
    parts: int = 0
    oldest_partition: str | None = None
    newest_partition: str | None = None

    @property
    def compression_ratio(self) -> float | None:
        """Uncompressed / compressed bytes; None while the table holds nothing."""
        return self.uncompressed_bytes / self.compressed_bytes if self.compressed_bytes else None


def table_storage(client: Client, settings: Settings) -> list[TableStorage]:
    """Every storage table of `settings.database`, in schema order, present or empty.

    Tables are named as in the schema (`otel_traces`, ...), even on a cluster where the
    parts belong to `<table>_local`.
    """
    target = target_of(settings)
    part_table = {target.storage_name(t.name): t.name for t in STORAGE_TABLES}
    rows = fetch(
        client,
        _PARTS_SQL,
        {"database": target.database, "tables": list(part_table)},
        label="storage",
    )
    found = {
        part_table[str(r[0])]: TableStorage(
            table=part_table[str(r[0])],
            rows=int(r[1]),
            bytes_on_disk=int(r[2]),
            compressed_bytes=int(r[3]),
            uncompressed_bytes=int(r[4]),
            parts=int(r[5]),
            oldest_partition=str(r[6]),
            newest_partition=str(r[7]),
        )
        for r in rows
    }
    return [found.get(t.name, TableStorage(t.name)) for t in STORAGE_TABLES]
