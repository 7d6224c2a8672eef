"""Table and column names of the ClickHouse schema: a public interface, defined once.

Users write ad-hoc SQL against these names and the official OpenTelemetry Collector's
clickhouseexporter inserts into the ingest tables, so nothing here is renamed except
through a migration. The collector, query API, dashboards and tests import these
constants instead of spelling names themselves.
"""

from __future__ import annotations

from typing import Final

from connlog.instrumentation import semconv as sc

# --------------------------------------------------------------------------- tables
# Landing tables (Null engine): the exporter's INSERT shape. Materialized views fan
# each inserted block out into the storage tables below.
TRACES_INGEST: Final = "otel_traces_ingest"
LOGS_INGEST: Final = "otel_logs_ingest"

# Storage tables. `otel_traces` / `otel_logs` keep the exporter's column names so the
# Grafana ClickHouse plugin's OTel defaults read them unchanged.
TRACES: Final = "otel_traces"  # span metadata, payload keys removed
PAYLOADS: Final = "otel_traces_payloads"  # headers and bodies of HTTP spans, stored apart
TRACE_ID_TS: Final = "otel_traces_trace_id_ts"  # trace id -> time range lookup
SEARCH_INDEX: Final = "connector_search_index"  # record id / job id / URL path -> run lookup
LOGS: Final = "otel_logs"
RUNS: Final = "connector_runs"  # one narrow row per run start marker and per finished run
FAULTS: Final = "connector_faults"  # migration 7: one narrow row per exception event (a fault)
RECORD_TOUCHES: Final = "connector_record_touches"  # migration 8: one row per entity span and record id
MIGRATIONS: Final = "connlog_schema_migrations"

# Materialized views (ingest -> storage).
TRACES_MV: Final = "otel_traces_mv"
PAYLOADS_MV: Final = "otel_traces_payloads_mv"
TRACE_ID_TS_MV: Final = "otel_traces_trace_id_ts_mv"
SEARCH_INDEX_MV: Final = "connector_search_index_mv"
LOGS_MV: Final = "otel_logs_mv"
RUNS_MV: Final = "connector_runs_mv"
FAULTS_MV: Final = "connector_faults_mv"
RECORD_TOUCHES_MV: Final = "connector_record_touches_mv"

# --------------------------------------------------------------------------- ingest contract
# Exactly the columns the clickhouseexporter names in its INSERT statements, in order.
TRACES_INGEST_COLUMNS: Final[tuple[str, ...]] = (
    "Timestamp",
    "TraceId",
    "SpanId",
    "ParentSpanId",
    "TraceState",
    "SpanName",
    "SpanKind",
    "ServiceName",
    "ResourceAttributes",
    "ScopeName",
    "ScopeVersion",
    "SpanAttributes",
    "Duration",
    "StatusCode",
    "StatusMessage",
    "Events.Timestamp",
    "Events.Name",
    "Events.Attributes",
    "Links.TraceId",
    "Links.SpanId",
    "Links.TraceState",
    "Links.Attributes",
)

LOGS_INGEST_COLUMNS: Final[tuple[str, ...]] = (
    "Timestamp",
    "TraceId",
    "SpanId",
    "TraceFlags",
    "SeverityText",
    "SeverityNumber",
    "ServiceName",
    "Body",
    "ResourceSchemaUrl",
    "ResourceAttributes",
    "ScopeSchemaUrl",
    "ScopeName",
    "ScopeVersion",
    "ScopeAttributes",
    "LogAttributes",
)

# --------------------------------------------------------------------------- columns
# Exporter columns (shared by ingest and storage tables).
C_TIMESTAMP: Final = "Timestamp"
C_TRACE_ID: Final = "TraceId"
C_SPAN_ID: Final = "SpanId"
C_PARENT_SPAN_ID: Final = "ParentSpanId"
C_SPAN_NAME: Final = "SpanName"
C_SPAN_KIND: Final = "SpanKind"
C_SERVICE_NAME: Final = "ServiceName"
C_RESOURCE_ATTRIBUTES: Final = "ResourceAttributes"
C_SPAN_ATTRIBUTES: Final = "SpanAttributes"
C_DURATION: Final = "Duration"
C_STATUS_CODE: Final = "StatusCode"
C_STATUS_MESSAGE: Final = "StatusMessage"
C_EVENTS_TIMESTAMP: Final = "Events.Timestamp"
C_EVENTS_NAME: Final = "Events.Name"
C_EVENTS_ATTRIBUTES: Final = "Events.Attributes"
C_SEVERITY_TEXT: Final = "SeverityText"
C_SEVERITY_NUMBER: Final = "SeverityNumber"
C_BODY: Final = "Body"
C_LOG_ATTRIBUTES: Final = "LogAttributes"
C_TIMESTAMP_TIME: Final = "TimestampTime"  # exporter's DateTime copy of Timestamp (logs)

# Connector columns of `otel_traces`, extracted from attributes by the materialized view.
C_ROLE: Final = "Role"
C_TENANT: Final = "Tenant"
C_SYNC_TYPE: Final = "SyncType"
C_TRIGGER: Final = "Trigger"
C_JOB_ID: Final = "JobId"
C_STEP_NAME: Final = "StepName"
C_ENTITY_TYPE: Final = "EntityType"
C_ENTITY_EXTERNAL_ID: Final = "EntityExternalId"
C_ENTITY_INTERNAL_ID: Final = "EntityInternalId"
C_ENTITY_ACTION: Final = "EntityAction"
C_FAILURE_CAUSE: Final = "FailureCause"
C_HTTP_METHOD: Final = "HttpMethod"
C_HTTP_STATUS: Final = "HttpStatus"
C_HTTP_HOST: Final = "HttpHost"
C_HTTP_URL: Final = "HttpUrl"
C_HTTP_URL_TEMPLATE: Final = "HttpUrlTemplate"
C_HTTP_DIRECTION: Final = "HttpDirection"
C_RATE_LIMITED: Final = "RateLimited"
C_ENDUSER_ID: Final = "EnduserId"  # migration 4: OpenTelemetry's enduser.id (the login a call was made for)
C_ENTITY_REASON: Final = "EntityReason"  # migration 6: why an entity was skipped or failed

# `otel_traces_payloads`.
C_REQUEST_HEADERS: Final = "RequestHeaders"
C_RESPONSE_HEADERS: Final = "ResponseHeaders"
C_REQUEST_BODY: Final = "RequestBody"
C_RESPONSE_BODY: Final = "ResponseBody"

# `otel_traces_trace_id_ts` (the exporter's names).
C_START: Final = "Start"
C_END: Final = "End"

# `connector_search_index`.
C_VALUE: Final = "Value"
C_FIELD: Final = "Field"

# `connector_runs` (besides Timestamp, TraceId, SpanId, ServiceName, Tenant, SyncType, Trigger,
# JobId, StatusMessage, FailureCause, Duration, RateLimited as above).
C_VERSION: Final = "Version"
C_FINISHED: Final = "Finished"  # false on the run_start marker row, true on the run span's row
C_RUN_STATUS: Final = "RunStatus"  # ok / error
C_EXIT_CODE: Final = "ExitCode"
C_ERROR_COUNT: Final = "ErrorCount"
C_SCHEDULE: Final = "Schedule"  # migration 4: the schedule the run's job follows (cron or interval)
# Migration 5: what the run is (`connector.run.kind`: '' or `sync` for a sync, else the
# operation's kind), the operation's fields, and the schedule tick that fired the run
# (`connector.run.job_tick`; 1970-01-01 when not recorded, as for OperationQueuedAt).
C_RUN_KIND: Final = "RunKind"
C_OPERATION_STATUS: Final = "OperationStatus"
C_OPERATION_OWNER: Final = "OperationOwner"
C_OPERATION_TARGET: Final = "OperationTarget"
C_OPERATION_QUEUED_AT: Final = "OperationQueuedAt"
C_JOB_TICK: Final = "JobTick"
# One UInt64 column per counter, named like the Counter enum: fetched -> Fetched, ...
RUN_COUNTER_COLUMNS: Final[dict[str, str]] = {c.value: c.value.capitalize() for c in sc.Counter}

# Logs: connector column of `otel_logs` (from the resource's `connector.tenant`).
C_LOG_TENANT: Final = "Tenant"

# `connector_faults` (migration 7; besides Timestamp = the span's start, TraceId, SpanId,
# ServiceName, HttpStatus, FailureCause as above): the fault's fields as the faults list shows them.
C_FAULT_TIMESTAMP: Final = "FaultTimestamp"  # the exception event's time
C_FAULT_TYPE: Final = "FaultType"
C_FAULT_MESSAGE: Final = "FaultMessage"
C_FAULT_URL: Final = "FaultUrl"
C_FAULT_HOST: Final = "FaultHost"
