"""Ad-hoc read-only SQL for admins, on a client whose session is locked down.

Two layers, because a text check alone is never enough and the engine check alone gives
poor messages:
1. `check_sql` refuses anything that is not one SELECT/WITH (or EXPLAIN/SHOW/DESCRIBE)
   statement, with a 400 naming the problem: writes, DDL, SYSTEM, SET, several statements.
2. The query runs on a dedicated client whose session has the limits applied with SET and
   then `readonly = 1` last, so nothing in the query can lift them (a `SETTINGS` clause
   changing any setting is refused by ClickHouse). Per-call settings are *not* used: the
   chDB backend applies them to commands with SET and restores them afterwards, and under
   readonly the restore fails and the setting leaks into the session (found by test).
The session client is never shared with the other routes.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from ipaddress import IPv4Address, IPv6Address
from typing import Any
from uuid import UUID

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from query_api.errors import ApiError, bad_request
from query_api.models import SqlColumn, SqlResult, SqlStats

READ_KEYWORDS = ("SELECT", "WITH", "EXPLAIN", "SHOW", "DESCRIBE", "DESC", "EXISTS")
_WORD = re.compile(r"[A-Za-z_]+")
# Strings, quoted identifiers and comments are blanked before looking at the structure.
_LITERALS = re.compile(
    r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.)*\"|`(?:[^`\\]|\\.)*`|--[^\n]*|#[^\n]*|/\*.*?\*/", re.S
)


@dataclass(frozen=True)
class SqlLimits:
    max_execution_time_s: int = 10
    max_result_rows: int = 10_000
    max_result_bytes: int = 50_000_000
    max_memory_usage: int = 2_000_000_000


def check_sql(sql: str) -> str:
    """The statement without a trailing `;`, or a 400 ApiError saying why it is refused."""
    text = sql.strip()
    if not text:
        raise bad_request("sql_empty", "query is empty", "query")
    if len(text) > 100_000:
        raise bad_request("sql_too_long", "query is longer than 100000 characters", "query")
    blanked = _LITERALS.sub(lambda m: " " * len(m.group(0)), text)
    if "'" in blanked or '"' in blanked or "`" in blanked or "/*" in blanked:
        raise bad_request("sql_syntax", "unterminated string, identifier or comment", "query")
    body = blanked.rstrip().rstrip(";").rstrip()
    if ";" in body:
        raise bad_request("sql_multiple_statements", "only one statement is allowed", "query")
    first = _WORD.search(body)
    keyword = first.group(0).upper() if first else ""
    if keyword not in READ_KEYWORDS:
        raise bad_request(
            "sql_not_read_only",
            f"only read queries are allowed ({', '.join(READ_KEYWORDS)}); got {keyword or 'no statement'}",
            "query",
        )
    if re.search(r"\bINTO\s+OUTFILE\b", body, re.I):
        raise bad_request("sql_not_read_only", "INTO OUTFILE is not allowed", "query")
    return text.rstrip().rstrip(";").rstrip()


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


class SqlRunner:
    """Owns the locked-down client; one query at a time (a session is not concurrent)."""

    def __init__(self, factory: Callable[[], Client], limits: SqlLimits | None = None) -> None:
        self._factory = factory
        self.limits = limits or SqlLimits()
        self._client: Client | None = None
        self._lock = threading.Lock()

    def _session(self) -> Client:
        """The locked-down client, re-locked if its session lost the settings.

        A ClickHouse server drops an idle HTTP session (and its SETs) after
        `session_timeout`; the next query would then run unrestricted, so the lock is
        verified before every query, not only when the client is created.
        """
        if self._client is None:
            self._client = self._factory()
        client = self._client
        if str(client.command("SELECT getSetting('readonly')")).strip() != "1":
            lim = self.limits
            for name, value in (
                ("max_execution_time", lim.max_execution_time_s),
                ("max_result_rows", lim.max_result_rows),
                ("max_result_bytes", lim.max_result_bytes),
                ("result_overflow_mode", "'break'"),
                ("max_block_size", min(lim.max_result_rows, 65_536)),
                ("max_memory_usage", lim.max_memory_usage),
                ("readonly", 1),  # last: after this no setting can change
            ):
                client.command(f"SET {name} = {value}")
        return client

    def run(self, sql: str) -> SqlResult:
        statement = check_sql(sql)
        with self._lock:
            client = self._session()
            try:
                result = client.query(statement)
            except ClickHouseError as exc:
                raise ApiError(400, "sql_error", _clean(str(exc)), "query") from exc
        cap = self.limits.max_result_rows
        rows = result.result_rows
        summary = result.summary or {}
        return SqlResult(
            columns=[
                SqlColumn(name=name, type=t.name)
                for name, t in zip(result.column_names, result.column_types, strict=True)
            ],
            rows=[[_json_value(v) for v in row] for row in rows[:cap]],
            row_count=min(len(rows), cap),
            truncated=len(rows) >= cap,
            stats=SqlStats(
                read_rows=int(summary.get("read_rows", 0)),
                read_bytes=int(summary.get("read_bytes", 0)),
                elapsed_ms=round(int(summary.get("elapsed_ns", 0)) / 1e6, 3),
            ),
        )

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def _clean(message: str) -> str:
    """ClickHouse's message without the client's wrapper noise or a version trailer."""
    text = re.sub(r"\(version [^)]*\)", "", message)
    text = re.sub(r"\s+", " ", text).strip()
    m = re.search(r"(Code: \d+\. DB::Exception: .*)", text)
    text = m.group(1) if m else text
    return text[:500]
