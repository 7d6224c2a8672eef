"""Ad-hoc read-only SQL for admins: whitelisted, on locked-down sessions, bounded.

Layers, each enough on its own for some attack and together for all known ones:
1. `SqlGuard` (query_api/sql_guard.py) parses the statement with ClickHouse's own parser on
   the session that will run it and allows only one SELECT over the connlog tables with
   functions of allowed families: no files, URLs, network, settings, server state,
   dictionaries, `system.*` or table functions.
2. Each session has the limits applied with SET and then `readonly = 1` last, so nothing in
   the query can lift them (a `SETTINGS` clause is refused by the guard and by ClickHouse).
   Per-call settings are *not* used: the chDB backend applies them to commands with SET and
   restores them afterwards, and under readonly the restore fails and the setting leaks
   into the session (found by test).
3. The result is streamed block by block and cut at `max_result_rows` / `max_result_bytes`
   (JSON bytes of the rows kept), then the stream is closed, which stops the query. The
   engine's own `max_result_bytes` only stops *after* a block, and one block can be any
   size (`arrayJoin` makes one row into many), so `max_memory_usage` bounds a block, with
   spilling to disk for large GROUP BY / ORDER BY instead of failing.
4. `AdhocGate` admits at most `max_concurrent` queries in all and `max_concurrent_per_key`
   per API key; the rest are refused at once (429 with Retry-After), never queued, so
   ad-hoc queries cannot hold the worker threads the other routes need.
The sessions are never shared with the other routes.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from ipaddress import IPv4Address, IPv6Address
from typing import Any, Final, Literal
from uuid import UUID

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from connlog.query_api.errors import ApiError, bad_request
from connlog.query_api.models import SqlColumn, SqlResult, SqlStats
from connlog.query_api.sql_guard import FunctionPolicy, SqlGuard, clean_error

MAX_QUERY_CHARS: Final = 100_000
Truncation = Literal["rows", "bytes"]


@dataclass(frozen=True)
class SqlLimits:
    max_execution_time_s: int = 10
    max_result_rows: int = 10_000
    max_result_bytes: int = 50_000_000  # JSON bytes of the returned rows
    max_memory_usage: int = 400_000_000  # per query; also bounds one result block
    max_bytes_before_spill: int = 150_000_000  # GROUP BY / ORDER BY go to disk beyond this
    max_block_size: int = 8192
    max_concurrent: int = 2  # ad-hoc queries running at once, all keys together
    max_concurrent_per_key: int = 1
    retry_after_s: int = 1  # what a refused caller is told to wait


class SqlBusy(Exception):
    """Too many ad-hoc queries running: the caller should retry after `retry_after_s`."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class AdhocGate:
    """Non-blocking admission: a global count and a count per key, refused when full."""

    def __init__(self, total: int, per_key: int, retry_after_s: int) -> None:
        self.total = total
        self.per_key = per_key
        self.retry_after_s = retry_after_s
        self._lock = threading.Lock()
        self._running: Counter[str] = Counter()

    @contextmanager
    def admit(self, key: str) -> Iterator[None]:
        with self._lock:
            if self._running[key] >= self.per_key:
                raise SqlBusy(
                    f"this key already runs {self.per_key} ad-hoc quer{'y' if self.per_key == 1 else 'ies'}; "
                    "retry when it finishes",
                    self.retry_after_s,
                )
            if sum(self._running.values()) >= self.total:
                raise SqlBusy(
                    f"the server already runs {self.total} ad-hoc queries; retry shortly", self.retry_after_s
                )
            self._running[key] += 1
        try:
            yield
        finally:
            with self._lock:
                self._running[key] -= 1
                if self._running[key] <= 0:
                    del self._running[key]

    @property
    def running(self) -> int:
        with self._lock:
            return sum(self._running.values())


def check_sql(sql: str) -> str:
    """The statement without surrounding blanks and a trailing `;`, or a 400 saying why not.

    Only what needs no parsing is checked here; the guard decides what the statement is.
    """
    text = sql.strip()
    if len(text) > MAX_QUERY_CHARS:
        raise bad_request("sql_too_long", f"query is longer than {MAX_QUERY_CHARS} characters", "query")
    text = text.removesuffix(";").rstrip()
    if not text:
        raise bad_request("sql_empty", "query is empty", "query")
    return text


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        if isinstance(value, int) and abs(value) > 2**53:
            return str(value)
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID | IPv4Address | IPv6Address):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return str(value)


@dataclass(frozen=True)
class AdhocOutcome:
    result: SqlResult
    truncated_by: Truncation | None


class SqlRunner:
    """Locked-down sessions (one per concurrent query), the guard and the gate."""

    def __init__(
        self, factory: Callable[[], Client], limits: SqlLimits | None = None, database: str | None = None
    ) -> None:
        self._factory = factory
        self.limits = limits or SqlLimits()
        self._database = database
        self._idle: queue.SimpleQueue[Client] = queue.SimpleQueue()
        self._all: list[Client] = []
        self._lock = threading.Lock()
        self._guard: SqlGuard | None = None
        self.gate = AdhocGate(
            self.limits.max_concurrent, self.limits.max_concurrent_per_key, self.limits.retry_after_s
        )

    def _lock_down(self, client: Client) -> Client:
        """The session re-locked if it lost its settings.

        A ClickHouse server drops an idle HTTP session (and its SETs) after
        `session_timeout`; the next query would then run unrestricted, so the lock is
        verified before every query, not only when the client is created.
        """
        if str(client.command("SELECT getSetting('readonly')")).strip() != "1":
            lim = self.limits
            for name, value in (
                ("max_execution_time", lim.max_execution_time_s),
                ("max_result_rows", lim.max_result_rows),
                ("max_result_bytes", lim.max_result_bytes),
                ("result_overflow_mode", "'break'"),
                ("max_block_size", min(lim.max_result_rows, lim.max_block_size)),
                ("max_memory_usage", lim.max_memory_usage),
                ("max_bytes_before_external_group_by", lim.max_bytes_before_spill),
                ("max_bytes_before_external_sort", lim.max_bytes_before_spill),
                ("readonly", 1),  # last: after this no setting can change
            ):
                client.command(f"SET {name} = {value}")
        return client

    def _session(self) -> Client:
        """A locked-down idle session, or a new one (at most `max_concurrent` exist)."""
        try:
            client = self._idle.get_nowait()
        except queue.Empty:
            client = self._factory()
            with self._lock:
                self._all.append(client)
        return self._lock_down(client)

    def _guard_for(self, client: Client) -> SqlGuard:
        if self._guard is None:
            database = self._database or str(client.command("SELECT currentDatabase()")).strip()
            self._guard = SqlGuard(database, FunctionPolicy.load(client))
        return self._guard

    def run(self, sql: str, key: str = "") -> SqlResult:
        return self.execute(sql, key).result

    def execute(self, sql: str, key: str = "") -> AdhocOutcome:
        """Check, admit and run one statement; `key` names the caller for the per-key limit."""
        statement = check_sql(sql)
        with self.gate.admit(key):
            client = self._session()
            try:
                self._guard_for(client).check(client, statement)
                return self._stream(client, statement)
            finally:
                self._idle.put(client)

    def _stream(self, client: Client, statement: str) -> AdhocOutcome:
        lim = self.limits
        rows: list[list[Any]] = []
        size = 2  # "[]"
        truncated_by: Truncation | None = None
        started = time.perf_counter()
        try:
            with client.query_row_block_stream(statement) as stream:
                source = stream.source
                columns = [
                    SqlColumn(name=name, type=t.name)
                    for name, t in zip(source.column_names, source.column_types, strict=True)
                ]
                for block in stream:
                    for raw in block:
                        if len(rows) >= lim.max_result_rows:
                            truncated_by = "rows"
                            break
                        row = [_json_value(v) for v in raw]
                        size += len(json.dumps(row, ensure_ascii=False, default=str).encode()) + 1
                        if size > lim.max_result_bytes:
                            truncated_by = "bytes"
                            break
                        rows.append(row)
                    if truncated_by is not None:
                        break  # leaving the block closes the stream, which stops the query
                summary = getattr(source, "summary", None) or {}
        except ClickHouseError as exc:
            raise ApiError(400, "sql_error", clean_error(str(exc)), "query") from exc
        if truncated_by is None and len(rows) >= lim.max_result_rows:
            truncated_by = "rows"  # the engine stopped at its own row cap (overflow mode break)
        elapsed_ns = int(summary.get("elapsed_ns", 0)) or int((time.perf_counter() - started) * 1e9)
        return AdhocOutcome(
            SqlResult(
                columns=columns,
                rows=rows,
                row_count=len(rows),
                truncated=truncated_by is not None,
                stats=SqlStats(
                    read_rows=int(summary.get("read_rows", 0)),
                    read_bytes=int(summary.get("read_bytes", 0)),
                    elapsed_ms=round(elapsed_ns / 1e6, 3),
                ),
            ),
            truncated_by,
        )

    def close(self) -> None:
        with self._lock:
            clients, self._all = self._all, []
        for client in clients:
            client.close()
        while True:
            try:
                self._idle.get_nowait()
            except queue.Empty:
                break


_clean = clean_error  # the former name, for callers outside this module
