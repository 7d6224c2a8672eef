"""Every route path of the query API, defined once.

The routers register these, and the CLI, log links, the demo and tests build URLs from them,
so a path changes in one place. Paths under `API_PREFIX` are relative to it.
"""

from __future__ import annotations

from typing import Final

API_PREFIX: Final = "/api/v1"

RUNS: Final = "/runs"
RUN: Final = "/runs/{run_id}"
RUN_PAGES: Final = "/runs/{run_id}/steps/{step_id}/pages"
RUN_ENTITIES: Final = "/runs/{run_id}/entities"
CALLS: Final = "/calls"
CALL: Final = "/calls/{call_id}"
TRACE: Final = "/traces/{trace_id}"
SEARCH: Final = "/search"
FAULTS: Final = "/faults"
LOGS: Final = "/logs"
JOBS: Final = "/jobs"  # scheduled jobs and their ticks
EXPORT: Final = "/export/{kind}.{fmt}"
SQL: Final = "/sql"
SETTINGS: Final = "/settings"  # admin: settings in force, stored volume

# Probes, outside the prefix and without a key.
HEALTHZ: Final = "/healthz"
READYZ: Final = "/readyz"
DOCS: Final = "/docs"


def api(path: str, **params: str) -> str:
    """The absolute path of a route: `api(RUN, run_id=x)` -> `/api/v1/runs/x`."""
    return API_PREFIX + path.format(**params)
