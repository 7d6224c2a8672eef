"""Every attribute key, span name and enumerated value that crosses a process boundary.

The SDK writes these names, the collector's schema extracts them into columns, the
query API and the dashboards read them. They are defined here once and imported
everywhere else, so a rename is one edit and a typo is an ImportError rather than
an empty panel. `docs/semconv.md` documents each one for people writing SQL.

OpenTelemetry's own semantic-convention names are used where they exist (HTTP, URL,
server, error, exception, process, service); ours live under the `connector.`
namespace.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final

# --------------------------------------------------------------------------- resource
SERVICE_NAME: Final = "service.name"  # = the connector's name
SERVICE_VERSION: Final = "service.version"  # = the connector's version
DEPLOYMENT_ENVIRONMENT: Final = "deployment.environment.name"
PROCESS_PID: Final = "process.pid"
CONNECTOR_NAME: Final = "connector.name"
CONNECTOR_TENANT: Final = "connector.tenant"  # tenant / site / account the sync serves

INSTRUMENTATION_SCOPE: Final = "connlog"


class Role(StrEnum):
    """What a span stands for in the connector model (attribute `connector.role`)."""

    RUN = "run"
    RUN_START = "run_start"  # zero-length marker emitted when a run begins, so running runs show
    STEP = "step"
    PAGE = "page"
    ENTITY = "entity"
    HTTP = "http"  # outgoing call (CLIENT span)
    WEBHOOK = "webhook"  # incoming call (SERVER span)


ROLE: Final = "connector.role"

# --------------------------------------------------------------------------- span names
SPAN_RUN: Final = "connector.run"
SPAN_RUN_START: Final = "connector.run.start"
SPAN_STEP: Final = "connector.step"
SPAN_PAGE: Final = "connector.page"
SPAN_ENTITY: Final = "connector.entity"

# --------------------------------------------------------------------------- run
RUN_SYNC_TYPE: Final = "connector.run.sync_type"  # full / incremental / background / ...
RUN_TRIGGER: Final = "connector.run.trigger"  # schedule / manual / webhook / ...
RUN_JOB_ID: Final = "connector.run.job_id"
RUN_JOB_TICK: Final = "connector.run.job_tick"  # the schedule tick that fired this run (ISO time)
RUN_STATUS: Final = "connector.run.status"
RUN_EXIT_CODE: Final = "connector.run.exit_code"
RUN_SCHEDULE: Final = "connector.run.schedule"  # the schedule the SDK knows: cron text or "every 3600s"
RUN_KIND: Final = "connector.run.kind"  # what the run is: a sync, or an asynchronous operation


_EVERY: Final = re.compile(r"^every (\d+)s$")


def schedule_every(seconds: float) -> str:
    """`connector.run.schedule` of an interval: `every <n>s` (whole seconds)."""
    return f"every {int(seconds)}s"


def schedule_interval(schedule: str) -> int | None:
    """The period in seconds of an `every <n>s` schedule; None for cron text or anything else."""
    match = _EVERY.match(schedule.strip())
    return int(match.group(1)) if match and int(match.group(1)) > 0 else None


class RunKind(StrEnum):
    """`connector.run.kind`: a sync (the default, also when absent) or an operation's kind."""

    SYNC = "sync"
    BUILD = "build"
    DEPLOY = "deploy"
    ENVIRONMENT_SYNC = "environment_sync"  # sync of a connector's config to an environment


# Asynchronous operations (build, deploy, sync to an environment) recorded as runs of
# another kind: `cl.operation(kind=..., owner=...)`.
OPERATION_STATUS: Final = "connector.operation.status"
OPERATION_OWNER: Final = "connector.operation.owner"  # who started it (user, team, bot)
OPERATION_TARGET: Final = "connector.operation.target"  # what it acts on (environment, image...)
OPERATION_QUEUED_AT: Final = "connector.operation.queued_at"  # ISO time it was requested


class OperationStatus(StrEnum):
    """`connector.operation.status`: the one vocabulary of an operation's state. The SDK records
    `running` on the start marker and `done` / `failed` when it ends; `pending` is the state
    between `queued_at` and the start (for producers that report an operation still queued)."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


# OpenTelemetry's end-user id: the person or account a run or entity acts for.
ENDUSER_ID: Final = "enduser.id"


class RunStatus(StrEnum):
    OK = "ok"
    ERROR = "error"
    RUNNING = "running"


class SyncType(StrEnum):
    FULL = "full"
    INCREMENTAL = "incremental"
    BACKGROUND = "background"


class Trigger(StrEnum):
    SCHEDULE = "schedule"
    MANUAL = "manual"
    WEBHOOK = "webhook"


# --------------------------------------------------------------------------- step / page
STEP_NAME: Final = "connector.step.name"
PAGE_NUMBER: Final = "connector.page.number"
PAGE_CURSOR: Final = "connector.page.cursor"

# --------------------------------------------------------------------------- entity
ENTITY_TYPE: Final = "connector.entity.type"
ENTITY_EXTERNAL_ID: Final = "connector.entity.external_id"
ENTITY_INTERNAL_ID: Final = "connector.entity.internal_id"
ENTITY_ACTION: Final = "connector.entity.action"
ENTITY_REASON: Final = "connector.entity.reason"  # skip reason or error text


class EntityAction(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    SKIP = "skip"
    DELETE = "delete"
    FAIL = "fail"


# --------------------------------------------------------------------------- counters
# Rolled up from entities onto their page, step and run spans.
COUNT_PREFIX: Final = "connector.count."


class Counter(StrEnum):
    FETCHED = "fetched"
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    DELETED = "deleted"
    FAILED = "failed"


def count_key(counter: Counter | str) -> str:
    """The attribute key of one counter, e.g. `connector.count.created`."""
    return f"{COUNT_PREFIX}{Counter(counter).value}"


# Which counter an entity action increments.
ACTION_COUNTER: Final[dict[EntityAction, Counter]] = {
    EntityAction.CREATE: Counter.CREATED,
    EntityAction.UPDATE: Counter.UPDATED,
    EntityAction.UNCHANGED: Counter.UNCHANGED,
    EntityAction.SKIP: Counter.SKIPPED,
    EntityAction.DELETE: Counter.DELETED,
    EntityAction.FAIL: Counter.FAILED,
}

RATE_LIMITED: Final = "connector.rate_limited"  # "true" on a call/page/step/run that hit a 429
ERROR_COUNT: Final = "connector.error_count"  # failed calls + failed entities under a step/run

# --------------------------------------------------------------------------- failure cause
FAILURE_CAUSE: Final = "connector.failure.cause"


class FailureCause(StrEnum):
    """A cause an operator can act on, carried by every failed call, page, step and run."""

    AUTH = "auth"  # 401 / 403
    NOT_FOUND = "not_found"  # 404, wrong path
    RATE_LIMITED = "rate_limited"  # 429
    TIMEOUT = "timeout"
    NETWORK = "network"  # connect / DNS / TLS
    SERVER_ERROR = "server_error"  # 5xx
    CLIENT_ERROR = "client_error"  # other 4xx
    SHAPE_MISMATCH = "shape_mismatch"  # response could not be parsed / validated
    ERROR = "error"  # anything else


# --------------------------------------------------------------------------- faults
# Root faults are span events named "exception" (OTel) with these attributes.
EXCEPTION_EVENT: Final = "exception"
EXCEPTION_TYPE: Final = "exception.type"
EXCEPTION_MESSAGE: Final = "exception.message"
EXCEPTION_STACKTRACE: Final = "exception.stacktrace"
FAULT_URL: Final = "connector.fault.url"  # URI of the call that caused the fault, if any
FAULT_STATUS_CODE: Final = "connector.fault.status_code"

# --------------------------------------------------------------------------- HTTP (OTel stable semconv)
HTTP_REQUEST_METHOD: Final = "http.request.method"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
HTTP_REQUEST_RESEND_COUNT: Final = "http.request.resend_count"
URL_FULL: Final = "url.full"
URL_PATH: Final = "url.path"
URL_QUERY: Final = "url.query"
URL_SCHEME: Final = "url.scheme"
URL_TEMPLATE: Final = "url.template"  # path with ids replaced by {id}, for grouping endpoints
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
CLIENT_ADDRESS: Final = "client.address"
ERROR_TYPE: Final = "error.type"
HTTP_REQUEST_BODY_SIZE: Final = "http.request.body.size"
HTTP_RESPONSE_BODY_SIZE: Final = "http.response.body.size"
NETWORK_PROTOCOL_VERSION: Final = "network.protocol.version"

# Payload attributes. Header values are one string (repeated headers joined with ", ").
HTTP_REQUEST_HEADER_PREFIX: Final = "http.request.header."
HTTP_RESPONSE_HEADER_PREFIX: Final = "http.response.header."
HTTP_REQUEST_BODY: Final = "http.request.body.content"
HTTP_RESPONSE_BODY: Final = "http.response.body.content"
HTTP_REQUEST_BODY_TRUNCATED: Final = "connector.http.request.body.truncated"
HTTP_RESPONSE_BODY_TRUNCATED: Final = "connector.http.response.body.truncated"
HTTP_REQUEST_CONTENT_TYPE: Final = "connector.http.request.content_type"
HTTP_RESPONSE_CONTENT_TYPE: Final = "connector.http.response.content_type"
HTTP_DIRECTION: Final = "connector.http.direction"


class Direction(StrEnum):
    OUTGOING = "outgoing"
    INCOMING = "incoming"


# Rate-limit headroom read from standard headers (RateLimit-*, X-RateLimit-*, Retry-After).
RATELIMIT_LIMIT: Final = "connector.http.ratelimit.limit"
RATELIMIT_REMAINING: Final = "connector.http.ratelimit.remaining"
RATELIMIT_RESET: Final = "connector.http.ratelimit.reset"  # seconds until the window resets
RETRY_AFTER: Final = "connector.http.retry_after"  # seconds

# Keys whose values are payload: stored apart from span metadata (see collector.schema).
PAYLOAD_KEY_PREFIXES: Final[tuple[str, ...]] = (HTTP_REQUEST_HEADER_PREFIX, HTTP_RESPONSE_HEADER_PREFIX)
PAYLOAD_KEYS: Final[tuple[str, ...]] = (HTTP_REQUEST_BODY, HTTP_RESPONSE_BODY)

# --------------------------------------------------------------------------- redaction
REDACTED_PREFIX: Final = "[REDACTED"  # replacement text is "[REDACTED:<reason>]"


def redacted(reason: str) -> str:
    """The text that replaces a secret: says that and why, never the value or a hash of it."""
    return f"{REDACTED_PREFIX}:{reason}]"


# --------------------------------------------------------------------------- logs
LOG_RECORD_LOGGER: Final = "code.namespace"  # Python logger name on log records
# Added by the SDK: where the record was logged (OTel `code.*` semantic conventions).
LOG_CODE_FUNCTION: Final = "code.function.name"
LOG_CODE_FILE: Final = "code.file.path"
LOG_CODE_LINE: Final = "code.line.number"
# Process output captured by `init(capture_stdio=True)`: own scope name and stream attribute,
# so a viewer can show it apart from application logs.
STDIO_SCOPE: Final = "connlog.stdio"
LOG_STREAM: Final = "connector.log.stream"


class LogStream(StrEnum):
    STDOUT = "stdout"
    STDERR = "stderr"


# What readers call a record without `connector.log.stream`: the connector's own logging.
LOG_STREAM_APP: Final = "app"
