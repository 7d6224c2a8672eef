"""Settings of the query API itself (page and export caps, SQL limits, default window)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Final

from connlog.collector.config import ConfigError
from connlog.query_api.queries.adhoc import SqlLimits
from connlog.query_api.queries.common import DEFAULT_WINDOW_NS

# The operator's export row cap: no export of any format or role holds more rows.
ENV_EXPORT_MAX_ROWS: Final = "CONNLOG_EXPORT_MAX_ROWS"
DEFAULT_EXPORT_MAX_ROWS: Final = 1000  # as the seeds' tools do


def export_max_rows_from_env() -> int:
    """`CONNLOG_EXPORT_MAX_ROWS`, or 1000; a bad value stops the start with a clear message."""
    raw = os.environ.get(ENV_EXPORT_MAX_ROWS, "").strip()
    if not raw:
        return DEFAULT_EXPORT_MAX_ROWS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{ENV_EXPORT_MAX_ROWS} must be a positive whole number of rows, got {raw!r}")
    return value


@dataclass(frozen=True)
class ApiSettings:
    default_window_ns: int = DEFAULT_WINDOW_NS  # lists without `from`: the last 24 hours
    export_default_rows: int = DEFAULT_EXPORT_MAX_ROWS  # rows of an export without `rows`
    export_max_rows: int = field(default_factory=export_max_rows_from_env)  # cap for every export
    export_timeout_s: float = 30.0  # reading and rendering one export; past it: 503, nothing kept
    pool_size: int = 4
    sql: SqlLimits = field(default_factory=SqlLimits)

    @property
    def export_rows_default(self) -> int:
        """Rows of an export that does not ask: the default, never above the cap."""
        return min(self.export_default_rows, self.export_max_rows)
