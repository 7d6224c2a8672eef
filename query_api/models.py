"""Typed rows the queries return and the API serialises; the CLI renders the same objects.

Times are given twice: ISO 8601 UTC text for people and integer nanoseconds since the epoch
for exact comparisons and joins with other tools. Durations are milliseconds (float).
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list; pass `next_cursor` back as `cursor` for the next one (null: the end)."""

    items: list[T]
    next_cursor: str | None = None
    limit: int


class Counters(BaseModel):
    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    deleted: int = 0
    failed: int = 0


class OperationInfo(BaseModel):
    """What an asynchronous operation (`cl.operation(...)`) records beyond a run's fields."""

    status: str = Field(description="pending, running, done or failed (`connector.operation.status`).")
    owner: str = Field(description="Who started it (user, team, bot); empty when not given.")
    target: str = Field(description="What it acts on (environment, image...); empty when not given.")
    queued_at: str | None = Field(description="When it was requested (ISO 8601 UTC); null when not given.")
    queued_at_ns: int | None = None


class RunSummary(BaseModel):
    run_id: str = Field(description="The run's trace id (32 hex characters).")
    connector: str
    tenant: str
    version: str
    status: str = Field(description="ok, error or running (a start marker exists but no run span yet).")
    sync_type: str
    trigger: str
    job_id: str
    start: str
    start_ns: int
    duration_ms: float | None = Field(description="Null while the run is running.")
    counters: Counters
    error_count: int
    exit_code: int | None
    failure_cause: str
    enduser: str = Field(
        "", description="The end user or login the run was made for (`enduser.id`); empty when not set."
    )
    kind: str = Field(
        "sync", description="`sync` (a connector sync) or the kind of an operation: build, deploy..."
    )
    operation: OperationInfo | None = Field(
        None, description="Status, owner, target and queued time of an operation; null for a sync."
    )


class JobTick(BaseModel):
    """One tick of a job's schedule: the runs it started, or a tick that was expected and did not fire."""

    expected_at: str | None = Field(
        description="When the schedule says the tick was due (ISO 8601 UTC); null when the schedule"
        " cannot be evaluated (cron text) or the run was not expected (a schedule-less job)."
    )
    expected_at_ns: int | None = None
    run_id: str | None = Field(
        description="The tick's newest run (its outcome when the tick was retried); null for a missed tick."
    )
    run_ids: list[str] = Field(
        default_factory=list, description="Every run this tick started (a tick retried runs again)."
    )
    started_at: str | None = Field(description="Start of the tick's first run; null for a missed tick.")
    started_at_ns: int | None = None
    status: str | None = Field(description="ok, error or running: `run_id`'s status; null for a missed tick.")
    missed: bool = Field(
        description="True when no run of the job started within the tolerance of `expected_at`."
    )


class JobSummary(BaseModel):
    """A scheduled job (connector + job id) and its ticks in the time range, oldest first."""

    connector: str
    job_id: str
    tenant: str
    schedule: str = Field(
        description="The schedule the SDK recorded: cron text or `every <n>s`; may be empty."
    )
    interval_s: int | None = Field(
        description="The period when the schedule is `every <n>s`; null otherwise (cron text is shown"
        " but not evaluated, so its missed ticks are not computed)."
    )
    tolerance_s: int | None = Field(
        description="How far from `expected_at` a run may start and still count for that tick."
    )
    ticks: list[JobTick]
    ticks_truncated: bool = Field(False, description="Only the newest ticks are listed.")
    run_count: int = Field(description="Runs of the job started in the time range.")
    missed_count: int
    last_run_at: str | None = Field(
        description="Start of the job's newest run (any time before the range end)."
    )
    last_run_at_ns: int | None = None
    last_status: str | None = None
    next_expected_at: str | None = Field(
        description="The next tick the schedule expects after the range end (or now); null when unknown."
    )
    next_expected_at_ns: int | None = None


class StepRow(BaseModel):
    step_id: str
    name: str
    start: str
    start_ns: int
    duration_ms: float
    status: str = Field(description="ok or error: the same words as a run's status.")
    status_message: str
    counters: Counters
    rate_limited: bool
    error_count: int
    failure_cause: str


class Fault(BaseModel):
    """A root fault: an `exception` event where the failure started."""

    run_id: str
    span_id: str
    connector: str
    timestamp: str
    timestamp_ns: int
    type: str
    uri: str
    host: str
    message_short: str = Field(description="The message cut to 65 characters for tables.")
    message: str
    status_code: int | None
    cause: str
    response_headers: dict[str, str] | None = Field(
        default=None, description="Response headers of the failed call (admin keys only)."
    )


class RunDetail(BaseModel):
    run: RunSummary
    steps: list[StepRow]
    faults: list[Fault]


class PageRow(BaseModel):
    page_id: str
    step_id: str
    number: int | None
    cursor: str
    start: str
    start_ns: int
    duration_ms: float
    status: str = Field(description="ok or error: the same words as a run's status.")
    method: str
    url: str
    http_status: int | None
    resend_count: int
    call_count: int
    rate_limited: bool
    ratelimit_remaining: int | None
    counters: Counters
    failure_cause: str


class EntityRow(BaseModel):
    entity_id: str
    page_id: str
    step: str
    type: str
    external_id: str
    internal_id: str
    action: str
    reason: str
    status: str = Field(description="ok or error: the same words as a run's status.")
    failure_cause: str
    start: str
    start_ns: int
    duration_ms: float


class CallRow(BaseModel):
    call_id: str
    run_id: str
    parent_id: str
    connector: str
    direction: str
    method: str
    url: str
    url_template: str
    host: str
    http_status: int | None
    failure_cause: str
    status: str = Field(description="ok or error: the same words as a run's status.")
    status_message: str
    rate_limited: bool
    resend_count: int
    start: str
    start_ns: int
    duration_ms: float
    enduser: str = Field(
        "",
        description="The end user the call was made for: its own `enduser.id`, else its record's,"
        " else its run's. In a list filtered by `enduser`, that value; unfiltered, the call's own.",
    )


class HttpMessage(BaseModel):
    headers: dict[str, str] | None = Field(description="Null when the key may not see payloads.")
    body: str | None = Field(description="Null when the key may not see payloads.")
    body_truncated: bool
    content_type: str


class CallRequest(HttpMessage):
    method: str
    url: str


class CallResponse(HttpMessage):
    status: int | None


class TriggeredBy(BaseModel):
    run_id: str
    job_id: str
    step_id: str | None
    step: str
    page_id: str | None
    page_number: int | None
    entity_id: str | None
    entity_external_id: str


class Timing(BaseModel):
    start: str
    end: str
    duration_ms: float


class CallDetail(BaseModel):
    call: CallRow
    timing: Timing
    request: CallRequest
    response: CallResponse
    triggered_by: TriggeredBy
    payload_visible: bool
    curl: str = Field(description="Ready to paste; secrets stay redacted as stored.")


class TraceSpan(BaseModel):
    span_id: str
    parent_id: str
    name: str
    role: str
    service: str
    kind: str
    status: str = Field(description="ok or error: the same words as a run's status.")
    status_message: str
    start: str
    start_offset_ms: float
    duration_ms: float
    label: str = Field(
        "", description="What the bar shows: step name, page N, record type and id, METHOD path."
    )


class Trace(BaseModel):
    trace_id: str
    start: str
    duration_ms: float
    spans: list[TraceSpan]


class RunHit(BaseModel):
    run: RunSummary
    matched: list[str] = Field(
        description="How the run matched: external_id, internal_id, job_id, url, error, run_id."
    )


class SpanHit(BaseModel):
    kind: str = Field(description="step, page, entity, call or run")
    span_id: str
    name: str
    matched: list[str]
    start: str
    start_ns: int


class SearchResult(BaseModel):
    query: str
    scope: str | None
    runs: list[RunHit]
    spans: list[SpanHit]


class GroupCount(BaseModel):
    key: str
    count: int


class FaultGroups(BaseModel):
    by_cause: list[GroupCount]
    by_host: list[GroupCount]
    by_status: list[GroupCount]


class FaultPage(Page[Fault]):
    groups: FaultGroups


class LogRow(BaseModel):
    timestamp: str
    timestamp_ns: int
    severity_number: int
    severity_text: str
    connector: str
    tenant: str
    body: str
    logger: str
    run_id: str = Field(description="The trace id of the span the record was written in (the run).")
    span_id: str
    trace_url: str | None = Field(description="The waterfall of that trace; null for records outside a span.")
    stream: str = Field(
        "app",
        description="`app` for application logs; `stdout` or `stderr` for process output captured by"
        " `init(capture_stdio=True)`.",
    )


class SqlColumn(BaseModel):
    name: str
    type: str


class SqlStats(BaseModel):
    read_rows: int
    read_bytes: int
    elapsed_ms: float


class SqlResult(BaseModel):
    columns: list[SqlColumn]
    rows: list[list[Any]]
    row_count: int
    truncated: bool
    stats: SqlStats
