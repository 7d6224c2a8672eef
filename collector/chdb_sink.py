"""The embedded engine's writer: column lists -> Arrow -> `INSERT ... SELECT * FROM Python(...)`.

Why a second sink: clickhouse-connect serializes a `Native` block value by value in
Python and, against chDB, writes it to a temporary file that the engine reads back.
chDB's `Python()` table function reads an Arrow table straight from memory, and the
Arrow columns are built in C from the lists the decoders produce. Measured (bench/ingest.py
raw ceilings): about the same CPU per row in total, but half the time holding the GIL in
the writer thread, which the receiving threads then get. This path exists only
in-process, so `collector.sink.sink_for_url` picks it for `chdb://` DSNs and keeps the
portable `ClickHouseSink` for a server.

Same contract as `ClickHouseSink`: one insert per call, the dedup token as
`insert_deduplication_token`, errors raised as clickhouse-connect `DatabaseError`s with
the ClickHouse code so `collector.insert_errors` classifies them alike.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from typing import Any, Final

from clickhouse_connect.driver.binding import format_str, quote_identifier
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from connlog.collector.arrow_batch import ArrowConverter, UnsupportedType
from connlog.collector.sink import ClickHouseSink

_CODE: Final = re.compile(r"Code:\s*(\d+)")
_IDENT: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def as_database_error(exc: Exception) -> DatabaseError:
    """A chDB engine error as clickhouse-connect raises it (message, numeric `code`)."""
    message = str(exc)
    match = _CODE.search(message)
    return DatabaseError(message, code=int(match.group(1)) if match else None)


class ChdbArrowSink:
    """Inserts through a chDB connection of its own on the client's data directory.

    chDB shares one engine per directory inside a process, so this connection sees the
    same tables as `client`; `client` is kept for the column types (one `DESCRIBE` per
    table) and closed with the sink. Used from the writer thread only; the lock makes
    that explicit.
    """

    def __init__(self, client: Client) -> None:
        import chdb  # the embedded extra; only imported when a chdb:// DSN is used

        path = getattr(client, "path", "")
        if not path or str(path).startswith(":memory:"):
            raise ValueError("ChdbArrowSink needs a chDB client on a data directory")
        self._client = client
        self._database = str(client.database or "default")
        # chDB builds differ in whether `connect` is annotated: call it through Any either way.
        engine: Any = chdb
        self._conn = engine.connect(os.path.realpath(str(path)))
        self._lock = threading.Lock()
        self._converters: dict[tuple[str, tuple[str, ...]], ArrowConverter | None] = {}
        self._native = ClickHouseSink(client)  # for a table with a type Arrow has no shape for

    def _converter(self, table: str, columns: tuple[str, ...]) -> ArrowConverter | None:
        key = (table, columns)
        if key not in self._converters:
            context = self._client.create_insert_context(table, list(columns), column_oriented=True)
            try:
                self._converters[key] = ArrowConverter(columns, [t.name for t in context.column_types])
            except UnsupportedType:
                self._converters[key] = None
        return self._converters[key]

    def write(
        self, table: str, columns: Sequence[str], data: list[list[Any]], *, token: str | None = None
    ) -> None:
        """One `INSERT ... SELECT` of the batch; `token` becomes `insert_deduplication_token`."""
        if not _IDENT.match(table):
            raise ValueError(f"not a plain table name: {table!r}")
        cols = tuple(columns)
        with self._lock:
            conv = self._converter(table, cols)
            if conv is None:
                self._native.write(table, cols, data, token=token)
                return
            connlog_arrow_rows = conv.table(data)  # noqa: F841 - read by name by Python()
            # One reading thread: the Arrow table is in memory already, and more threads only
            # added engine CPU per row (measured: bench/ingest.py raw ceilings).
            settings = " SETTINGS max_threads = 1"
            if token:
                settings += f", insert_deduplication_token = {format_str(token)}"
            sql = (
                f"INSERT INTO {quote_identifier(self._database)}.{quote_identifier(table)} "
                f"({', '.join(quote_identifier(c) for c in cols)}) "
                f"SELECT * FROM Python(connlog_arrow_rows){settings}"
            )
            try:
                self._conn.query(sql)
            except Exception as exc:  # the engine's: the rows were converted above
                self._converters.pop((table, cols), None)  # the table may have changed
                raise as_database_error(exc) from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            self._client.close()
