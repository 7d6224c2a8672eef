"""Settings of the query API itself (page and export caps, SQL limits, default window)."""

from __future__ import annotations

from dataclasses import dataclass, field

from query_api.queries.adhoc import SqlLimits
from query_api.queries.common import DEFAULT_WINDOW_NS


@dataclass(frozen=True)
class ApiSettings:
    default_window_ns: int = DEFAULT_WINDOW_NS  # lists without `from`: the last 24 hours
    export_default_rows: int = 1000
    export_max_rows: int = 100_000
    pool_size: int = 4
    sql: SqlLimits = field(default_factory=SqlLimits)
