"""Short ids as git shows them, and unique prefixes resolved through the API's own lists.

A run id is 32 hex characters and a span id 16: either wraps a table in an 80-column
terminal. Tables show the first `query_api.cli_views.SHORT` characters; every command taking an id accepts a
unique prefix of at least `MIN_PREFIX`, looked up in the run (or call) list of the last
`WINDOW_DAYS` days, and says clearly when a prefix matches nothing or several ids.
"""

from __future__ import annotations

import re
import time
from typing import Any, Final

from connlog.cli_target import Api, CliError
from connlog.query_api import paths

MIN_PREFIX: Final = 4
RUN_ID_LEN: Final = 32
SPAN_ID_LEN: Final = 16
WINDOW_DAYS: Final = 90
MAX_PAGES: Final = 40  # 40 pages of 500 rows: the look-up gives up rather than scan forever
_PAGE: Final = 500
_SHOWN: Final = 5  # ids listed in an "ambiguous" message
_HEX = re.compile(r"^[0-9a-f]+$")


def _prefix(value: str, length: int, what: str) -> str:
    p = value.strip().lower()
    if not _HEX.match(p) or len(p) > length:
        raise CliError(f"{value!r} is not a {what} id: up to {length} hexadecimal characters expected")
    if len(p) < MIN_PREFIX:
        raise CliError(f"{what} id prefix {value!r} is too short: give at least {MIN_PREFIX} characters")
    return p


def _scan(api: Api, path: str, key: str, prefix: str, **params: Any) -> list[dict[str, Any]]:
    """Rows of a list route whose `key` starts with `prefix` (stops once it is ambiguous)."""
    found: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    since = int(time.time()) - WINDOW_DAYS * 86400
    for _ in range(MAX_PAGES):
        page = api.get(path, **params, **{"from": since}, limit=_PAGE, cursor=cursor)
        for item in page["items"]:
            if str(item[key]).startswith(prefix):
                found.setdefault(str(item[key]), item)
        cursor = page.get("next_cursor")
        if cursor is None or len(found) > _SHOWN:
            break
    return list(found.values())


def _one(matches: list[dict[str, Any]], key: str, prefix: str, what: str) -> dict[str, Any]:
    if not matches:
        raise CliError(
            f"no {what} id starts with {prefix!r} in the last {WINDOW_DAYS} days",
            f"check the id, or give all of it ({RUN_ID_LEN if what == 'run' else SPAN_ID_LEN} characters)",
        )
    if len(matches) > 1:
        ids = ", ".join(str(m[key]) for m in matches[:_SHOWN]) + (", …" if len(matches) > _SHOWN else "")
        raise CliError(f"{what} id prefix {prefix!r} is ambiguous: it matches {ids}", "give more characters")
    return matches[0]


def resolve_run(api: Api, value: str) -> str:
    """A full run id from an id or a unique prefix of one."""
    prefix = _prefix(value, RUN_ID_LEN, "run")
    if len(prefix) == RUN_ID_LEN:
        return prefix
    return str(_one(_scan(api, paths.RUNS, "run_id", prefix), "run_id", prefix, "run")["run_id"])


def resolve_call(api: Api, value: str, run_id: str | None = None) -> tuple[str, str | None]:
    """(call id, its run id if known) from an id or a unique prefix, optionally within one run."""
    prefix = _prefix(value, SPAN_ID_LEN, "call")
    if len(prefix) == SPAN_ID_LEN:
        return prefix, run_id
    params: dict[str, Any] = {"run": run_id} if run_id else {}
    row = _one(_scan(api, paths.CALLS, "call_id", prefix, **params), "call_id", prefix, "call")
    return str(row["call_id"]), str(row["run_id"])


def resolve_step(steps: list[dict[str, Any]], value: str) -> str:
    """A step name as given, or the full span id of a step whose id starts with `value`."""
    if any(s["name"] == value for s in steps):
        return value
    p = value.strip().lower()
    ids = [str(s["step_id"]) for s in steps if _HEX.match(p) and str(s["step_id"]).startswith(p)]
    if len(ids) == 1:
        return ids[0]
    if len(ids) > 1:
        raise CliError(
            f"step id prefix {value!r} is ambiguous: it matches {', '.join(ids)}", "give more characters"
        )
    names = ", ".join(sorted({str(s["name"]) for s in steps})) or "none"
    raise CliError(f"the run has no step {value!r}", f"its steps: {names}")
