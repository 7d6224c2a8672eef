"""Query-string filters, each declared once: the JSON routes, the exports and the viewer read them.

One Pydantic model per filter family (`RunFilterParams`, `CallFilterParams`,
`FaultFilterParams`, `LogFilterParams`, `EntityFilterParams`, `JobFilterParams`, plus `PageParams` and
`SearchParams`). Each field carries its range check (times within 1970..2100, limits,
statuses, severities, ids, lengths, signed cursors), so a bad value is refused while
parsing, with the parameter named, and never reaches a query. The models forbid unknown
names: a misspelt filter must not silently widen a result.

    # a FastAPI route (see routes/deps.py for the dependency functions):
    def runs(params: Annotated[RunFilterParams, Query()]) -> ...

    # any other caller with a mapping of query parameters (the viewer):
    params = RunFilterParams.model_validate(dict(request.query_params))  # pydantic.ValidationError
    filters = params.to_filters(default_window_ns)                        # -> queries.runs.RunFilters

Field names are the API's parameter names (`from` is the alias of `from_`). Every check is
done by `model_validate`; `to_filters` only converts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Annotated, Any, Protocol

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from connlog.instrumentation import semconv as sc
from connlog.query_api import cursor
from connlog.query_api.errors import ApiError
from connlog.query_api.queries.calls import MAX_PARENTS, CallFilters
from connlog.query_api.queries.common import DEFAULT_PAGE, MAX_PAGE, TimeRange, span_id, trace_id
from connlog.query_api.queries.entities import EntityFilters
from connlog.query_api.queries.faults import FaultFilters
from connlog.query_api.queries.jobs import JobFilters
from connlog.query_api.queries.logs import LogFilters, StreamFilter
from connlog.query_api.queries.runs import KIND_OPERATION, KIND_SYNC, RunFilters
from connlog.query_api.queries.severity import threshold
from connlog.query_api.queries.status_filter import StatusFilter
from connlog.query_api.timeutil import parse_instant

MAX_TEXT = 500  # free-text filters (names, ids, URL fragments)
MAX_DURATION_MS = 1e12  # ~31 years


def _refused(reason: str) -> PydanticCustomError:
    return PydanticCustomError("invalid_parameter", reason)


def _checked(check: Callable[[str], Any]) -> Callable[[str | None], str | None]:
    """A validator from a parser that raises ApiError/ValueError: the value stays the raw text."""

    def validate(value: str | None) -> str | None:
        if value is None:
            return None
        try:
            check(value)
        except ApiError as exc:
            raise _refused(exc.reason) from exc
        except ValueError as exc:
            raise _refused(str(exc)) from exc
        return value

    return validate


def _clean_trace(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return trace_id(value, "")
    except ApiError as exc:
        raise _refused(exc.reason) from exc


def _clean_span(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return span_id(value, "")
    except ApiError as exc:
        raise _refused(exc.reason) from exc


Text = Annotated[str | None, Field(max_length=MAX_TEXT)]
Enduser = Annotated[
    str | None,
    Field(max_length=MAX_TEXT, description="End user or login the run/call was made for (`enduser.id`)."),
]
Instant = Annotated[str | None, Field(max_length=64), AfterValidator(_checked(parse_instant))]
Cursor = Annotated[
    str | None,
    Field(max_length=cursor.MAX_LENGTH, description="`next_cursor` of the previous page."),
    AfterValidator(_checked(cursor.check)),
]
_TRACE = AfterValidator(_clean_trace)
_STATUS = AfterValidator(_checked(StatusFilter.parse))
RunId = Annotated[
    str | None, Field(max_length=64, description="Run id (trace id): 32 hex characters."), _TRACE
]
ScopeRunId = Annotated[
    str | None, Field(max_length=64, description="A run id: search inside that run."), _TRACE
]
StepId = Annotated[
    str | None,
    Field(max_length=64, description="Step span id: calls below that step."),
    AfterValidator(_clean_span),
]


def _clean_spans(value: str | None) -> str | None:
    """Comma-separated span ids, each checked and lower-cased, duplicates dropped."""
    if value is None:
        return None
    ids = list(dict.fromkeys(v for v in (_clean_span(p) for p in value.split(",")) if v))
    if len(ids) > MAX_PARENTS:
        raise _refused(f"at most {MAX_PARENTS} span ids")
    return ",".join(ids)


ParentIds = Annotated[
    str | None,
    Field(
        max_length=MAX_PARENTS * 17,
        description="Calls whose parent span is one of these span ids (comma-separated, up to"
        f" {MAX_PARENTS}): a step's `step_id` gives the calls made directly under that step, outside"
        " any page or record. With `run`, a read of that run's rows only.",
    ),
    AfterValidator(_clean_spans),
]
CallStatus = Annotated[str | None, Field(max_length=20, description="404, 400-499, >=400, <300"), _STATUS]
FaultStatus = Annotated[str | None, Field(max_length=20, description="404, 400-499, >=400"), _STATUS]
DurationMs = Annotated[float | None, Field(ge=0, le=MAX_DURATION_MS, allow_inf_nan=False)]


def _value(enum: StrEnum | None) -> str | None:
    """Enum parameters travel to the queries as plain strings."""
    return None if enum is None else str(enum.value)


class QueryParams(BaseModel):
    """Base of every query model: frozen, unknown names refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeParams(QueryParams):
    """`from`/`to`; `to` is declared first so the order check can name `from`, as it always did."""

    to: Instant = Field(None, description="End (exclusive): ISO 8601 or epoch. Default: open.")
    from_: Instant = Field(
        None, alias="from", description="Start: ISO 8601 or epoch seconds/ms. Default: `to` - 24h."
    )

    @field_validator("from_")
    @classmethod
    def _before_to(cls, value: str | None, info: ValidationInfo) -> str | None:
        end = info.data.get("to")
        if value is not None and end is not None and parse_instant(value) >= parse_instant(end):
            raise _refused("must be earlier than `to`")
        return value

    def time_range(self, default_window_ns: int) -> TimeRange:
        """The window; no `from`: `to` (or now) minus `default_window_ns`."""
        start = None if self.from_ is None else parse_instant(self.from_)
        end = None if self.to is None else parse_instant(self.to)
        return TimeRange.resolve(start, end, default_window_ns)


class PageParams(QueryParams):
    cursor: Cursor = None
    limit: int = Field(DEFAULT_PAGE, ge=1, le=MAX_PAGE, description=f"Page size (max {MAX_PAGE}).")


class RunFilterParams(PageParams, TimeParams):
    """`GET /runs` and the runs exports."""

    connector: Text = None
    status: sc.RunStatus | None = None
    sync_type: Annotated[
        str | None, Field(max_length=100, description="full, incremental, background...")
    ] = None
    trigger: Text = None
    job_id: Text = None
    version: Text = None
    tenant: Text = None
    min_duration_ms: DurationMs = None
    has_failures: bool | None = None
    failure_cause: sc.FailureCause | None = None
    enduser: Enduser = None
    kind: Annotated[
        str | None,
        Field(
            max_length=100,
            pattern=r"^[A-Za-z0-9_.-]+$",
            description=f"`{KIND_SYNC}` (syncs), `{KIND_OPERATION}` (every other kind: build, deploy...)"
            " or one kind. Default: every kind.",
        ),
    ] = None
    operation_status: sc.OperationStatus | None = None

    def to_filters(self, default_window_ns: int) -> RunFilters:
        return RunFilters(
            time=self.time_range(default_window_ns),
            connector=self.connector,
            status=_value(self.status),
            sync_type=self.sync_type,
            trigger=self.trigger,
            job_id=self.job_id,
            version=self.version,
            tenant=self.tenant,
            min_duration_ms=self.min_duration_ms,
            has_failures=self.has_failures,
            failure_cause=_value(self.failure_cause),
            enduser=self.enduser,
            kind=self.kind,
            operation_status=_value(self.operation_status),
            cursor=self.cursor,
            limit=self.limit,
        )


class CallFilterParams(PageParams, TimeParams):
    """`GET /calls` and the calls exports."""

    direction: sc.Direction | None = None
    connector: Text = None
    host: Text = None
    method: Annotated[str | None, Field(max_length=16, pattern=r"^[A-Za-z]+$")] = None
    status: CallStatus = None
    failure_cause: sc.FailureCause | None = None
    url_contains: Text = None
    run: RunId = None
    step: StepId = None
    entity: Annotated[str | None, Field(max_length=MAX_TEXT, description="Entity external id.")] = None
    parent: ParentIds = None
    min_duration_ms: DurationMs = None
    enduser: Enduser = None

    def to_filters(self, default_window_ns: int) -> CallFilters:
        return CallFilters(
            time=self.time_range(default_window_ns),
            direction=_value(self.direction),
            connector=self.connector,
            host=self.host,
            method=self.method,
            status=None if self.status is None else StatusFilter.parse(self.status),
            failure_cause=_value(self.failure_cause),
            url_contains=self.url_contains,
            run_id=self.run,
            step_id=self.step,
            entity=self.entity,
            parents=tuple(self.parent.split(",")) if self.parent else (),
            min_duration_ms=self.min_duration_ms,
            enduser=self.enduser,
            cursor=self.cursor,
            limit=self.limit,
        )


class FaultFilterParams(PageParams, TimeParams):
    """`GET /faults`."""

    connector: Text = None
    run: RunId = None
    cause: sc.FailureCause | None = None
    host: Text = None
    status: FaultStatus = None
    type: Text = None

    def to_filters(self, default_window_ns: int) -> FaultFilters:
        return FaultFilters(
            time=self.time_range(default_window_ns),
            connector=self.connector,
            run_id=self.run,
            cause=_value(self.cause),
            host=self.host,
            status=None if self.status is None else StatusFilter.parse(self.status),
            type=self.type,
            cursor=self.cursor,
            limit=self.limit,
        )


class LogFilterParams(PageParams, TimeParams):
    """`GET /logs` and the logs exports."""

    severity: Annotated[
        str | None,
        Field(max_length=20, description="This and worse: syslog 0-7 (3 = err) or a name (error, warn...)."),
        AfterValidator(_checked(lambda v: threshold(v, None))),
    ] = None
    severity_number: int | None = Field(None, ge=1, le=24, description="This and worse: OpenTelemetry 1-24.")
    connector: Text = None
    run: RunId = None
    text: Text = None
    stream: StreamFilter | None = Field(
        None,
        description="`app` (the connector's logging), `stdout` or `stderr` (captured by"
        " `init(capture_stdio=True)`), `stdio` (both). Default: every stream.",
    )

    def to_filters(self, default_window_ns: int) -> LogFilters:
        return LogFilters(
            time=self.time_range(default_window_ns),
            min_severity=threshold(self.severity, self.severity_number),
            connector=self.connector,
            run_id=self.run,
            text=self.text,
            stream=_value(self.stream),
            cursor=self.cursor,
            limit=self.limit,
        )


class JobFilterParams(TimeParams):
    """`GET /jobs`: jobs with their ticks in the time range (a list, not paged: one row per job)."""

    connector: Text = None
    tenant: Text = None
    job_id: Text = None

    def to_filters(self, default_window_ns: int) -> JobFilters:
        return JobFilters(
            time=self.time_range(default_window_ns),
            connector=self.connector,
            tenant=self.tenant,
            job_id=self.job_id,
        )


class EntityFilterParams(PageParams):
    """`GET /runs/{run_id}/entities`."""

    step: Annotated[str | None, Field(max_length=200, description="Step span id or step name.")] = None
    action: sc.EntityAction | None = None
    external_id: Text = None

    def to_filters(self) -> EntityFilters:
        return EntityFilters(
            step=self.step,
            action=_value(self.action),
            external_id=self.external_id,
            cursor=self.cursor,
            limit=self.limit,
        )


class SearchParams(TimeParams):
    """`GET /search`: runs mentioning `q` in the window, or spans inside the run `scope`."""

    q: str = Field(
        min_length=1, max_length=MAX_TEXT, description="Record id, job id, URL fragment, error text, run id."
    )
    scope: ScopeRunId = None


class _Errors(Protocol):
    def errors(self) -> Sequence[Any]: ...


def first_error(exc: _Errors) -> tuple[str | None, str]:
    """(field, reason) of the first error of a pydantic or FastAPI validation error.

    The location's `query`/`path`/`body`/`header` part is dropped: `("query", "from")` -> `from`.
    """
    errors = exc.errors()
    if not errors:
        return None, "invalid value"
    first = errors[0]
    parts = [str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body", "header")]
    return (".".join(parts) or None), str(first.get("msg", "invalid value"))


__all__ = [
    "CallFilterParams",
    "EntityFilterParams",
    "FaultFilterParams",
    "JobFilterParams",
    "LogFilterParams",
    "PageParams",
    "QueryParams",
    "RunFilterParams",
    "SearchParams",
    "TimeParams",
    "first_error",
]
