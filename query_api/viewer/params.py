"""Query string -> the query modules' filter dataclasses, for the viewer's pages.

One small module on purpose: the JSON routes parse the same parameters in their own layer,
and the coordinator can later switch both to one shared set of models. The names here are
the API's parameter names, so a viewer URL and the JSON/export URL of the same view differ
only in their path. Bad values raise `ApiError` (422) with the field named, as the API does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from connlog.instrumentation import semconv as sc
from connlog.query_api.errors import invalid
from connlog.query_api.queries.calls import CallFilters
from connlog.query_api.queries.common import DEFAULT_PAGE, MAX_PAGE, TimeRange, span_id, trace_id
from connlog.query_api.queries.entities import EntityFilters
from connlog.query_api.queries.faults import FaultFilters
from connlog.query_api.queries.logs import LogFilters
from connlog.query_api.queries.runs import RunFilters
from connlog.query_api.queries.severity import threshold
from connlog.query_api.queries.status_filter import StatusFilter
from connlog.query_api.timeutil import NS, parse_instant

# Time presets of the lists: `range=1h` etc.; `from`/`to` (custom) win over a preset.
PRESETS: Final[dict[str, int]] = {"1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
DEFAULT_PRESET: Final = "24h"

RUN_FIELDS: Final = (
    "connector",
    "status",
    "sync_type",
    "trigger",
    "job_id",
    "version",
    "tenant",
    "failure_cause",
    "min_duration_ms",
    "has_failures",
    "run",
    "enduser",
)
CALL_FIELDS: Final = (
    "direction",
    "connector",
    "host",
    "method",
    "status",
    "failure_cause",
    "url_contains",
    "run",
    "step",
    "entity",
    "min_duration_ms",
    "enduser",
)
FAULT_FIELDS: Final = ("connector", "run", "cause", "host", "status", "type")
LOG_FIELDS: Final = ("severity", "connector", "run", "text")
TIME_FIELDS: Final = ("range", "from", "to")

Query = Mapping[str, str]


def _text(q: Query, name: str, max_len: int = 500) -> str | None:
    value = q.get(name, "").strip()
    if not value:
        return None
    if len(value) > max_len:
        raise invalid(name, f"at most {max_len} characters")
    return value


def _choice(q: Query, name: str, allowed: tuple[str, ...]) -> str | None:
    value = _text(q, name)
    if value is not None and value not in allowed:
        raise invalid(name, f"must be one of {', '.join(allowed)}")
    return value


def _float(q: Query, name: str) -> float | None:
    value = _text(q, name, 30)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError as exc:
        raise invalid(name, "must be a number") from exc
    if not 0 <= number <= 1e12:
        raise invalid(name, "must be between 0 and 1e12")
    return number


def _bool(q: Query, name: str) -> bool | None:
    value = _text(q, name, 10)
    if value is None:
        return None
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise invalid(name, "must be true or false")


def _instant(q: Query, name: str) -> int | None:
    value = _text(q, name, 60)
    if value is None:
        return None
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise invalid(name, str(exc)) from exc


def limit(q: Query) -> int:
    value = _text(q, "limit", 6)
    if value is None:
        return DEFAULT_PAGE
    if not value.isdigit() or not 1 <= int(value) <= MAX_PAGE:
        raise invalid("limit", f"must be between 1 and {MAX_PAGE}")
    return int(value)


def cursor(q: Query) -> str | None:
    return _text(q, "cursor", 2000)


def time_range(q: Query) -> TimeRange:
    """`from`/`to` when given (custom range), else the preset `range` (default 24 h)."""
    start, end = _instant(q, "from"), _instant(q, "to")
    if start is None and end is None:
        preset = _choice(q, "range", tuple(PRESETS)) or DEFAULT_PRESET
        return TimeRange.resolve(None, None, PRESETS[preset] * NS)
    return TimeRange.resolve(start, end, PRESETS[DEFAULT_PRESET] * NS)


def optional_run(q: Query, name: str = "run") -> str | None:
    value = _text(q, name, 64)
    return None if value is None else trace_id(value, name)


def optional_step(q: Query, name: str = "step") -> str | None:
    value = _text(q, name, 32)
    return None if value is None else span_id(value, name)


def _causes() -> tuple[str, ...]:
    return tuple(c.value for c in sc.FailureCause)


def run_filters(q: Query) -> RunFilters:
    run = optional_run(q)
    return RunFilters(
        time=time_range(q),
        connector=_text(q, "connector"),
        status=_choice(q, "status", tuple(s.value for s in sc.RunStatus)),
        sync_type=_text(q, "sync_type", 100),
        trigger=_text(q, "trigger"),
        job_id=_text(q, "job_id"),
        version=_text(q, "version"),
        tenant=_text(q, "tenant"),
        min_duration_ms=_float(q, "min_duration_ms"),
        has_failures=_bool(q, "has_failures"),
        failure_cause=_choice(q, "failure_cause", _causes()),
        run_ids=None if run is None else (run,),
        enduser=_text(q, "enduser"),
        cursor=cursor(q),
        limit=limit(q),
    )


def _status(q: Query, name: str = "status") -> StatusFilter | None:
    value = _text(q, name, 20)
    return None if value is None else StatusFilter.parse(value, name)


def call_filters(q: Query) -> CallFilters:
    method = _text(q, "method", 16)
    if method is not None and not method.isalpha():
        raise invalid("method", "letters only, e.g. GET")
    return CallFilters(
        time=time_range(q),
        direction=_choice(q, "direction", tuple(d.value for d in sc.Direction)),
        connector=_text(q, "connector"),
        host=_text(q, "host"),
        method=method,
        status=_status(q),
        failure_cause=_choice(q, "failure_cause", _causes()),
        url_contains=_text(q, "url_contains"),
        run_id=optional_run(q),
        step_id=optional_step(q),
        entity=_text(q, "entity"),
        min_duration_ms=_float(q, "min_duration_ms"),
        enduser=_text(q, "enduser"),
        cursor=cursor(q),
        limit=limit(q),
    )


def fault_filters(q: Query) -> FaultFilters:
    return FaultFilters(
        time=time_range(q),
        connector=_text(q, "connector"),
        run_id=optional_run(q),
        cause=_choice(q, "cause", _causes()),
        host=_text(q, "host"),
        status=_status(q),
        type=_text(q, "type"),
        cursor=cursor(q),
        limit=limit(q),
    )


def log_filters(q: Query) -> LogFilters:
    return LogFilters(
        time=time_range(q),
        min_severity=threshold(_text(q, "severity", 20), None),
        connector=_text(q, "connector"),
        run_id=optional_run(q),
        text=_text(q, "text"),
        cursor=cursor(q),
        limit=limit(q),
    )


def entity_filters(q: Query) -> EntityFilters:
    return EntityFilters(
        step=_text(q, "step", 200),
        action=_choice(q, "action", tuple(a.value for a in sc.EntityAction)),
        external_id=_text(q, "external_id"),
        cursor=cursor(q),
        limit=limit(q),
    )
