"""Query string -> the query modules' filter dataclasses, for the viewer's pages.

Every filter is the API's own model (`query_api/filters.py`), so a viewer URL and the
JSON/export URL of the same view take the same names and checks and differ only in their
path. What is the viewer's alone: the time presets (`range`) and the runs list's run-id box.
Bad values raise `ApiError` (422) with the field named, as the API does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Final, TypeVar

from pydantic import ValidationError

from connlog.query_api.errors import ApiError, invalid
from connlog.query_api.filters import (
    CallFilterParams,
    EntityFilterParams,
    FaultFilterParams,
    JobFilterParams,
    LogFilterParams,
    PageParams,
    QueryParams,
    RunFilterParams,
    TimeParams,
    first_error,
)
from connlog.query_api.queries.calls import CallFilters
from connlog.query_api.queries.common import TimeRange, trace_id
from connlog.query_api.queries.entities import EntityFilters
from connlog.query_api.queries.faults import FaultFilters
from connlog.query_api.queries.jobs import JobFilters
from connlog.query_api.queries.logs import LogFilters
from connlog.query_api.queries.runs import RunFilters
from connlog.query_api.timeutil import NS

# Time presets of the lists: `range=1h` etc.; `from`/`to` (custom) win over a preset.
PRESETS: Final[dict[str, int]] = {"1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
DEFAULT_PRESET: Final = "24h"
# The run and step pages' table of direct calls pages apart from the page's own list (a step's
# pages use `cursor`/`limit`): its cursor is the API's `next_cursor` of `GET /calls?parent=`.
CALLS_CURSOR: Final = "calls_cursor"
CALLS_LIMIT: Final = "calls_limit"


Query = Mapping[str, str]


M = TypeVar("M", bound=QueryParams)


def parsed(model: type[M], q: Query) -> M:
    """`q` read by the API's own filter model (`query_api/filters.py`): the same names, checks
    and errors as the JSON and export routes. A page's other parameters (`range`, a form's
    empty fields) are left out first; a bad value is the API's 422, naming the parameter."""
    names = {f.alias or name for name, f in model.model_fields.items()}
    data = {k: v for k, v in q.items() if k in names and v.strip()}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        field, reason = first_error(exc)
        raise invalid(field or "query", reason) from exc


def window_ns(q: Query) -> int:
    """The preset `range` (default 24 h) as the window of lists without `from`."""
    preset = q.get("range", "").strip() or DEFAULT_PRESET
    if preset not in PRESETS:
        raise invalid("range", f"must be one of {', '.join(PRESETS)}")
    return PRESETS[preset] * NS


def time_range(q: Query) -> TimeRange:
    """`from`/`to` when given (custom range), else the preset `range` (default 24 h)."""
    return parsed(TimeParams, q).time_range(window_ns(q))


def run_filters(q: Query) -> RunFilters:
    filters = parsed(RunFilterParams, q).to_filters(window_ns(q))
    run = q.get("run", "").strip()  # the viewer's run-id box: the list narrowed to that run
    return replace(filters, run_ids=(trace_id(run, "run"),)) if run else filters


def call_filters(q: Query) -> CallFilters:
    return parsed(CallFilterParams, q).to_filters(window_ns(q))


def direct_call_filters(q: Query, run_id: str, parents: Sequence[str]) -> CallFilters:
    """The calls made directly under `parents` (span ids of the run: its own span and steps, or
    one step), newest first: the API's `GET /calls?run=&parent=`, its cursor and page size read
    from `calls_cursor`/`calls_limit`. The whole run, whatever the lists' window; the ids come
    from the run's own rows, so more than the API's `parent` cap (a run of many steps) is fine."""
    names = {CALLS_CURSOR: "cursor", CALLS_LIMIT: "limit"}
    try:
        f = call_filters({"run": run_id, **{api: q.get(name, "") for name, api in names.items()}})
    except ApiError as exc:
        field = next((name for name, api in names.items() if api == exc.field), exc.field or "query")
        raise invalid(field, exc.reason) from exc
    return replace(f, parents=tuple(parents), time=TimeRange(0, None))


def fault_filters(q: Query) -> FaultFilters:
    return parsed(FaultFilterParams, q).to_filters(window_ns(q))


def log_filters(q: Query) -> LogFilters:
    return parsed(LogFilterParams, q).to_filters(window_ns(q))


def job_filters(q: Query) -> JobFilters:
    """The job ticks page's filters; its window defaults to 7 days (a schedule needs a span)."""
    return parsed(JobFilterParams, q).to_filters(window_ns({"range": "7d", **q}))


def entity_filters(q: Query) -> EntityFilters:
    return parsed(EntityFilterParams, q).to_filters()


def cursor(q: Query) -> str | None:
    """The page's `cursor`, checked (signed) as the API checks it."""
    return parsed(PageParams, q).cursor


def limit(q: Query) -> int:
    return parsed(PageParams, q).limit


def optional_run(q: Query, name: str = "run") -> str | None:
    value = q.get(name, "").strip()
    return trace_id(value, name) if value else None
