"""The Grafana dashboards, defined in Python and written out as JSON (`python -m connlog.dashboards.build`).

Why generate: every table and column a query names comes from `collector.schema.names`, every
attribute key from `instrumentation.semconv`, and every derived concept (run status, failed
run, failed call, the counters) from `collector.schema.concepts`, the definitions the query API
reads too. A rename breaks the build here (and the JSON-is-current test) instead of leaving an
empty panel in production, and "failed" means the same on a dashboard as in the API.
`tests/test_dashboards_json.py` fails on a column or table name spelled here as a literal.
The JSON files next to this module are what Grafana provisions and what `connlog dashboards
push` uploads; the same test fails when they drift from this module.

Query rules every panel follows (the tests check them):
- `$__timeFilter(Timestamp)` on every table read, plus `Role` (and `ServiceName` where the
  panel knows it) on `otel_traces`, whose sort key is (ServiceName, Role, hour, TraceId);
  logs also filter `TimestampTime`, the second key column of `otel_logs`.
- Run-level panels read `connector_runs` grouped by TraceId, like the query API: a run's
  state is its finished row's, else its start marker's (`concepts.run_state`); filters on
  run-level values apply to that state (HAVING), the connector to rows (its sort key).
- A run or call page resolves its trace's service and time bounds from
  `otel_traces_trace_id_ts` first, so its reads are primary-key ranges.
- Only the Call detail dashboard reads `otel_traces_payloads`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

from connlog.collector.schema import names as n
from connlog.collector.schema.concepts import (
    CALL_ROLES_SQL,
    COUNTER_COLUMNS,
    FAILED_CALL,
    FAILED_RUN,
    RUN_STATUS,
    run_state,
)
from connlog.dashboards import layout
from connlog.dashboards.layout import JSON
from connlog.dashboards.plugin import DATASOURCE_TYPE, DATASOURCE_UID
from connlog.instrumentation import semconv as sc

__all__ = [
    "DASHBOARDS",
    "DASHBOARD_DIR",
    "DATASOURCE_TYPE",
    "DATASOURCE_UID",
    "UID_CALL",
    "UID_LOGS",
    "UID_OVERVIEW",
    "UID_RUN",
    "UID_RUNS",
    "cond_all",
    "load_all",
    "render",
    "write",
]

DASHBOARD_DIR: Final = Path(__file__).resolve().parent

UID_OVERVIEW: Final = "connlog-failures"
UID_RUNS: Final = "connlog-runs"
UID_RUN: Final = "connlog-run-detail"
UID_CALL: Final = "connlog-call-detail"
UID_LOGS: Final = "connlog-logs"

R = sc.Role
ATTR = f"{n.C_SPAN_ATTRIBUTES}['{{}}']".format


def _q(s: str) -> str:
    return f"'{s}'"


STRUCTURE_ROLES: Final = f"({_q(R.RUN)}, {_q(R.STEP)}, {_q(R.PAGE)}, {_q(R.ENTITY)})"
# Every role plus '' (spans from plain OTel instrumentation): the whole trace, still by key.
ALL_ROLES: Final = "(" + ", ".join(_q(r) for r in R) + ", '')"
# A span's own outcome (OTel status), for steps, pages, records.
SPAN_STATUS: Final = f"if({n.C_STATUS_CODE} = 'Error', 'error', 'ok')"


def span_counter_cols() -> str:
    """A step's or page's counters, from its span attributes: `... AS fetched, ..., ... AS errors`."""
    cols = [f"toUInt64OrZero({ATTR(sc.count_key(c))}) AS {c.value}" for c in sc.Counter]
    cols.append(f"toUInt64OrZero({ATTR(sc.ERROR_COUNT)}) AS errors")
    return ",\n  ".join(cols)


def run_counter_cols() -> str:
    """A run's counters, from its `connector_runs` state (grouped by TraceId), named like the API's."""
    cols = [f"{run_state(col)} AS {c.value}" for c, col in COUNTER_COLUMNS.items()]
    cols.append(f"{run_state(n.C_ERROR_COUNT)} AS errors")
    return ",\n  ".join(cols)


def cond_all(condition: str, var: str) -> str:
    """`$__conditionalAll`, with the condition parenthesised: the plugin pastes it verbatim, so an
    `a OR b` condition would otherwise escape the surrounding `AND`s (time filter, Role)."""
    return f"$__conditionalAll(({condition}), ${var})"


TIME: Final = f"$__timeFilter({n.C_TIMESTAMP})"
CONNECTOR_FILTER: Final = cond_all(f"{n.C_SERVICE_NAME} IN (${{connector:singlequote}})", "connector")
# On span rows (calls); run panels filter the run's tenant state instead (RUN_TENANT_FILTER).
TENANT_FILTER: Final = cond_all(f"{n.C_TENANT} IN (${{tenant:singlequote}})", "tenant")

# --------------------------------------------------------------------------- runs (connector_runs)
# Row filter of every run-level read: the time range and the connector (the table's sort key).
RUNS_WHERE: Final = f"{TIME} AND {CONNECTOR_FILTER}"
# Filters on a run's state, for HAVING after GROUP BY TraceId.
RUN_TENANT_FILTER: Final = cond_all(f"{run_state(n.C_TENANT)} IN (${{tenant:singlequote}})", "tenant")
RUN_SYNC_TYPE_FILTER: Final = cond_all(
    f"{run_state(n.C_SYNC_TYPE)} IN (${{sync_type:singlequote}})", "sync_type"
)
RUN_STATUS_FILTER: Final = cond_all(f"{RUN_STATUS} IN (${{status:singlequote}})", "status")
RUN_SEARCH_FILTER: Final = cond_all(
    f"{n.C_TRACE_ID} IN (SELECT {n.C_TRACE_ID} FROM {n.SEARCH_INDEX}"
    f" WHERE {n.C_VALUE} = ${{search:sqlstring}} AND {TIME})"
    f" OR {n.C_TRACE_ID} = ${{search:sqlstring}} OR {run_state(n.C_JOB_ID)} = ${{search:sqlstring}}"
    f" OR positionCaseInsensitive({run_state(n.C_STATUS_MESSAGE)}, ${{search:sqlstring}}) > 0",
    "search",
)

# One row per run, the columns the Runs table and the Run panel show (GROUP BY TraceId).
RUN_COLUMNS: Final = f"""{n.C_TRACE_ID} AS run_id,
  {run_state(n.C_SERVICE_NAME)} AS connector,
  {run_state(n.C_TENANT)} AS tenant,
  {RUN_STATUS} AS status,
  {run_state(n.C_SYNC_TYPE)} AS sync_type,
  {run_state(n.C_TRIGGER)} AS run_trigger,
  {run_state(n.C_JOB_ID)} AS job_id,
  min({n.C_TIMESTAMP}) AS started,
  if(max({n.C_FINISHED}), {run_state(n.C_DURATION)} / 1e9, NULL) AS duration_s,
  {run_counter_cols()},
  {run_state(n.C_FAILURE_CAUSE)} AS failure_cause,
  {run_state(n.C_STATUS_MESSAGE)} AS message"""

# The runs of the Connector failures dashboard, one row each, for the panels to aggregate.
PER_RUN: Final = f"""(
  SELECT {n.C_TRACE_ID} AS run_id, min({n.C_TIMESTAMP}) AS started, {run_state(n.C_SERVICE_NAME)} AS connector,
    {run_state(n.C_JOB_ID)} AS job_id, max({n.C_FINISHED}) AS is_finished, {FAILED_RUN} AS is_failed,
    {run_state(n.C_FAILURE_CAUSE)} AS failure_cause
  FROM {n.RUNS}
  WHERE {RUNS_WHERE}
  GROUP BY {n.C_TRACE_ID}
  HAVING {RUN_TENANT_FILTER}
)"""

# Run detail / call detail: the trace's bounds and service, from the trace-id lookup table.
RUN_CTE: Final = f"""WITH ${{run_id:sqlstring}} AS run,
  (SELECT min({n.C_START}) FROM {n.TRACE_ID_TS} WHERE {n.C_TRACE_ID} = run) AS run_from,
  (SELECT max({n.C_END}) + 1 FROM {n.TRACE_ID_TS} WHERE {n.C_TRACE_ID} = run) AS run_to,
  (SELECT any({n.C_SERVICE_NAME}) FROM {n.TRACE_ID_TS} WHERE {n.C_TRACE_ID} = run) AS run_service"""
IN_RUN: Final = (
    f"{n.C_SERVICE_NAME} = run_service AND {n.C_TRACE_ID} = run"
    f" AND {n.C_TIMESTAMP} >= run_from AND {n.C_TIMESTAMP} <= run_to AND {TIME}"
)


# --------------------------------------------------------------------------- links
def _link_run(field_name: str) -> JSON:
    return layout.field_link(
        field_name,
        "Open run detail",
        f"/d/{UID_RUN}/connlog-run-detail?var-run_id=${{__value.raw}}&${{__url_time_range}}",
    )


def _link_call(field_name: str) -> JSON:
    return layout.field_link(
        field_name,
        "Open call detail",
        f"/d/{UID_CALL}/connlog-call-detail?var-call_id=${{__value.raw}}&var-run_id=${{run_id}}&${{__url_time_range}}",
    )


_unit = layout.unit

CONNECTOR_VAR_SQL: Final = f"""
SELECT DISTINCT {n.C_SERVICE_NAME} FROM {n.RUNS}
WHERE {TIME}
ORDER BY {n.C_SERVICE_NAME}"""
TENANT_VAR_SQL: Final = f"""
SELECT DISTINCT {n.C_TENANT} FROM {n.RUNS}
WHERE {n.C_TENANT} != '' AND {RUNS_WHERE}
ORDER BY {n.C_TENANT}"""


# --------------------------------------------------------------------------- Connector failures
def failures_dashboard() -> JSON:
    p = layout.Panels()
    calls_where = f"{n.C_ROLE} IN {CALL_ROLES_SQL} AND {TIME} AND {CONNECTOR_FILTER} AND {TENANT_FILTER}"
    p.add(
        "stat",
        "Runs in range",
        "Finished runs, failed runs, runs still going and the failure rate for the selected connectors. "
        "A rising failure rate is the first thing to look at: open the Runs dashboard filtered on status=error.",
        f"""
SELECT countIf(is_finished) AS finished, countIf(is_failed) AS failed, countIf(NOT is_finished) AS running,
  round(100 * failed / greatest(finished, 1), 1) AS failure_rate_pct
FROM {PER_RUN}""",
        w=24,
        h=4,
        options={
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "none",
            "textMode": "value_and_name",
        },
    )
    p.add(
        "timeseries",
        "Failed runs per connector",
        "Runs that ended in error, per connector and interval of their start. A connector that fails every "
        "interval needs its credentials or endpoint checked; a single spike is usually a source outage.",
        f"""
SELECT $__timeInterval(started) AS time, connector, count() AS failed_runs
FROM {PER_RUN}
WHERE is_failed
GROUP BY time, connector
ORDER BY time""",
        custom={"drawStyle": "bars", "stacking": {"mode": "normal"}, "fillOpacity": 80},
    )
    p.add(
        "bargauge",
        "Failure rate per connector",
        "Share of finished runs that failed, per connector, over the range. Above a few percent: open Runs for "
        "that connector and look at the failure cause column.",
        f"""
SELECT connector, round(100 * countIf(is_failed) / count(), 1) AS failure_rate_pct
FROM {PER_RUN}
WHERE is_finished
GROUP BY connector
ORDER BY failure_rate_pct DESC""",
        unit="percent",
        options={
            "displayMode": "gradient",
            "orientation": "horizontal",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": True},
        },
    )
    p.add(
        "piechart",
        "Failure causes (failed runs)",
        "Why runs failed. auth: renew credentials; rate_limited: lower concurrency or widen the schedule; "
        "server_error/timeout: the source API is unhealthy; shape_mismatch: the API changed its response.",
        f"""
SELECT if(failure_cause = '', 'unknown', failure_cause) AS cause, count() AS failed_runs
FROM {PER_RUN}
WHERE is_failed
GROUP BY cause
ORDER BY failed_runs DESC""",
        options={
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": True},
            "legend": {"displayMode": "table", "placement": "right", "values": ["value"]},
        },
    )
    p.add(
        "table",
        "Error rate per host",
        "HTTP calls per API host: total, failed (HTTP >= 400, or no response: timeout or connection error), "
        "failure rate and 429s. A host with a high rate across all connectors is an outage on its side.",
        f"""
SELECT {n.C_HTTP_HOST} AS host, count() AS calls, countIf({FAILED_CALL}) AS failed,
  round(100 * failed / calls, 1) AS error_rate_pct, countIf({n.C_RATE_LIMITED}) AS rate_limited
FROM {n.TRACES}
WHERE {calls_where}
GROUP BY host
ORDER BY error_rate_pct DESC, calls DESC""",
        overrides=[_unit("error_rate_pct", "percent")],
    )
    p.add(
        "table",
        "Top failing endpoints",
        "Failed calls grouped by host, method, URL template and status (0: no response, a timeout or network "
        "error). Click an example run to see the failing call with its request and response.",
        f"""
SELECT {n.C_HTTP_HOST} AS host, {n.C_HTTP_METHOD} AS method,
  if({n.C_HTTP_URL_TEMPLATE} != '', {n.C_HTTP_URL_TEMPLATE}, path({n.C_HTTP_URL})) AS endpoint,
  {n.C_HTTP_STATUS} AS status, count() AS failures, any({n.C_FAILURE_CAUSE}) AS cause,
  max({n.C_TIMESTAMP}) AS last_seen, argMax({n.C_TRACE_ID}, {n.C_TIMESTAMP}) AS example_run
FROM {n.TRACES}
WHERE {calls_where} AND {FAILED_CALL}
GROUP BY host, method, endpoint, status
ORDER BY failures DESC
LIMIT 20""",
        w=24,
        overrides=[_link_run("example_run")],
    )
    p.add(
        "timeseries",
        "Call latency p50 / p95 / p99 per host",
        "Duration of HTTP calls per host. A p99 climbing towards the client timeout predicts timeout failures.",
        f"""
SELECT $__timeInterval({n.C_TIMESTAMP}) AS time, {n.C_HTTP_HOST} AS host,
  quantile(0.5)({n.C_DURATION}) / 1e6 AS p50, quantile(0.95)({n.C_DURATION}) / 1e6 AS p95,
  quantile(0.99)({n.C_DURATION}) / 1e6 AS p99
FROM {n.TRACES}
WHERE {calls_where}
GROUP BY time, host
ORDER BY time""",
        unit="ms",
    )
    p.add(
        "timeseries",
        "Rate-limit hits per host",
        "Calls answered 429 (or flagged rate-limited by the SDK). Sustained hits mean runs overlap or the schedule "
        "is too tight for the API quota.",
        f"""
SELECT $__timeInterval({n.C_TIMESTAMP}) AS time, {n.C_HTTP_HOST} AS host, count() AS rate_limited_calls
FROM {n.TRACES}
WHERE {calls_where} AND {n.C_RATE_LIMITED}
GROUP BY time, host
ORDER BY time""",
        custom={"drawStyle": "bars", "fillOpacity": 80},
    )
    p.add(
        "table",
        "Schedules that stopped firing",
        "Per connector and job: last run start and the median gap between runs over the range. OVERDUE when the "
        "time since the last start is more than twice the median gap: check the scheduler and the worker.",
        f"""
SELECT connector, job_id, length(starts) AS runs, arrayMax(starts) AS last_start,
  arrayReduce('median', arrayPopFront(arrayDifference(arrayMap(t -> toUnixTimestamp(t), starts)))) AS median_gap_s,
  toUnixTimestamp($__toTime) - toUnixTimestamp(last_start) AS since_last_s,
  if(since_last_s > 2 * median_gap_s, 'OVERDUE', 'on schedule') AS state
FROM (
  SELECT connector, job_id, arraySort(groupArray(started)) AS starts
  FROM {PER_RUN}
  WHERE job_id != ''
  GROUP BY connector, job_id
)
WHERE runs >= 3
ORDER BY state = 'OVERDUE' DESC, since_last_s DESC""",
        w=24,
        overrides=[_unit("median_gap_s", "s"), _unit("since_last_s", "s")],
    )
    variables = [
        layout.query_var("connector", "Connector", CONNECTOR_VAR_SQL),
        layout.query_var("tenant", "Tenant", TENANT_VAR_SQL),
    ]
    return layout.dashboard(
        UID_OVERVIEW,
        "connlog / Connector failures",
        "Which connectors fail, why, against which endpoints, and which schedules stopped firing.",
        p.items,
        variables,
    )


# --------------------------------------------------------------------------- Runs
def runs_dashboard() -> JSON:
    p = layout.Panels()
    having = f"{RUN_TENANT_FILTER} AND {RUN_SYNC_TYPE_FILTER} AND {RUN_SEARCH_FILTER} AND {RUN_STATUS_FILTER}"
    p.add(
        "timeseries",
        "Runs by status",
        "Runs started per interval by status (running = started, not finished yet).",
        f"""
SELECT $__timeInterval(started) AS time, status, count() AS runs
FROM (
  SELECT {n.C_TRACE_ID}, min({n.C_TIMESTAMP}) AS started, {RUN_STATUS} AS status
  FROM {n.RUNS}
  WHERE {RUNS_WHERE}
  GROUP BY {n.C_TRACE_ID}
  HAVING {having}
)
GROUP BY time, status
ORDER BY time""",
        w=24,
        h=6,
        custom={"drawStyle": "bars", "stacking": {"mode": "normal"}, "fillOpacity": 80},
    )
    p.add(
        "table",
        "Runs",
        "One row per run (newest first). Filter with the variables above; the search box matches a run id, job id, "
        "record id (external or internal) or error text. Click a run id for its steps, records, calls and logs.",
        f"""
SELECT
  {RUN_COLUMNS}
FROM {n.RUNS}
WHERE {RUNS_WHERE}
GROUP BY {n.C_TRACE_ID}
HAVING {having}
ORDER BY started DESC, run_id DESC
LIMIT 500""",
        w=24,
        h=16,
        overrides=[_link_run("run_id"), _unit("duration_s", "s")],
    )
    status_opts = [(s.value, s.value) for s in (sc.RunStatus.OK, sc.RunStatus.ERROR, sc.RunStatus.RUNNING)]
    variables = [
        layout.query_var("connector", "Connector", CONNECTOR_VAR_SQL),
        layout.custom_var("status", "Status", status_opts, sc.RunStatus.OK.value, multi=True),
        layout.query_var(
            "sync_type",
            "Sync type",
            f"""
SELECT DISTINCT {n.C_SYNC_TYPE} FROM {n.RUNS}
WHERE {n.C_SYNC_TYPE} != '' AND {RUNS_WHERE}
ORDER BY {n.C_SYNC_TYPE}""",
        ),
        layout.query_var("tenant", "Tenant", TENANT_VAR_SQL),
        layout.textbox("search", "Search", "Run id, job id, record id or error text"),
    ]
    return layout.dashboard(
        UID_RUNS, "connlog / Runs", "Every run with its status, counters and errors.", p.items, variables
    )


# --------------------------------------------------------------------------- Run detail
def _trace_events() -> str:
    """The span events as the Trace panel's `logs` field, in the shape of the plugin's own trace SQL
    (`generateTraceIdQuery`: a `(name, timestamp, fields)` tuple per event, the name in `name`)."""
    return (
        "arrayMap((name, timestamp, attributes) -> tuple(name, toString(toUnixTimestamp64Milli(timestamp)),\n"
        "    arrayMap(key -> map('key', key, 'value', attributes[key]), mapKeys(attributes)))"
        "::Tuple(name String, timestamp String, fields Array(Map(String, String))),\n"
        f"    {n.C_EVENTS_NAME}, {n.C_EVENTS_TIMESTAMP}, {n.C_EVENTS_ATTRIBUTES}) AS logs"
    )


def _tags(column: str) -> str:
    return f"arrayMap(key -> map('key', key, 'value', {column}[key]), mapKeys({column}))"


def run_detail_dashboard() -> JSON:
    p = layout.Panels()
    p.add(
        "table",
        "Run",
        "The run's outcome. If status is error, the failure cause says what to fix; the steps below show where.",
        f"""
{RUN_CTE}
SELECT {RUN_COLUMNS}
FROM {n.RUNS}
WHERE {IN_RUN}
GROUP BY {n.C_TRACE_ID}""",
        w=24,
        h=4,
        overrides=[_unit("duration_s", "s")],
    )
    p.add(
        "table",
        "Steps",
        "Each step with its counters. The failed step carries the failure cause; errors counts failed records "
        "and calls under it.",
        f"""
{RUN_CTE}
SELECT {n.C_STEP_NAME} AS step, {SPAN_STATUS} AS status, {n.C_TIMESTAMP} AS started,
  {n.C_DURATION} / 1e6 AS duration_ms,
  {span_counter_cols()},
  {n.C_RATE_LIMITED} AS rate_limited, {n.C_FAILURE_CAUSE} AS failure_cause, {n.C_STATUS_MESSAGE} AS message
FROM {n.TRACES}
WHERE {n.C_ROLE} = '{R.STEP}' AND {IN_RUN}
ORDER BY started""",
        w=24,
        h=7,
        overrides=[_unit("duration_ms", "ms")],
    )
    p.add(
        "table",
        "Pages",
        "Pages fetched per step with their cursor and counters; a failed page is where the step stopped.",
        f"""
{RUN_CTE}
SELECT {n.C_STEP_NAME} AS step, toUInt32OrZero({ATTR(sc.PAGE_NUMBER)}) AS page, {ATTR(sc.PAGE_CURSOR)} AS cursor,
  {SPAN_STATUS} AS status, {n.C_TIMESTAMP} AS started, {n.C_DURATION} / 1e6 AS duration_ms,
  {span_counter_cols()}, {n.C_FAILURE_CAUSE} AS failure_cause
FROM {n.TRACES}
WHERE {n.C_ROLE} = '{R.PAGE}' AND {IN_RUN}
ORDER BY started""",
        w=24,
        h=7,
        overrides=[_unit("duration_ms", "ms")],
    )
    p.add(
        "table",
        "Records",
        "Every record the run touched, failed ones first, with the action taken and the reason for skips/failures.",
        f"""
{RUN_CTE}
SELECT {n.C_STEP_NAME} AS step, {n.C_ENTITY_TYPE} AS type, {n.C_ENTITY_EXTERNAL_ID} AS external_id,
  {n.C_ENTITY_INTERNAL_ID} AS internal_id, {n.C_ENTITY_ACTION} AS action, {n.C_ENTITY_REASON} AS reason,
  {SPAN_STATUS} AS status, {n.C_TIMESTAMP} AS started, {n.C_DURATION} / 1e6 AS duration_ms
FROM {n.TRACES}
WHERE {n.C_ROLE} = '{R.ENTITY}' AND {IN_RUN}
ORDER BY action = '{sc.EntityAction.FAIL}' DESC, started
LIMIT 2000""",
        overrides=[_unit("duration_ms", "ms")],
        h=10,
    )
    p.add(
        "table",
        "HTTP calls",
        "Calls in order with status and duration (status 0: no response). Click a call id to see its request "
        "and response.",
        f"""
{RUN_CTE}
SELECT {n.C_SPAN_ID} AS call_id, {n.C_TIMESTAMP} AS started, {n.C_HTTP_METHOD} AS method,
  {n.C_HTTP_HOST} AS host, {n.C_HTTP_URL} AS url, {n.C_HTTP_STATUS} AS status, {FAILED_CALL} AS failed,
  {n.C_DURATION} / 1e6 AS duration_ms, {n.C_RATE_LIMITED} AS rate_limited,
  {n.C_FAILURE_CAUSE} AS failure_cause, {n.C_STATUS_MESSAGE} AS message
FROM {n.TRACES}
WHERE {n.C_ROLE} IN {CALL_ROLES_SQL} AND {IN_RUN}
ORDER BY started
LIMIT 2000""",
        overrides=[_link_call("call_id"), _unit("duration_ms", "ms")],
        h=10,
    )
    p.add(
        "traces",
        "Trace",
        "The run as a waterfall: run, steps, pages, records and calls with their attributes and exception events.",
        f"""
{RUN_CTE}
SELECT {n.C_TRACE_ID} AS traceID, {n.C_SPAN_ID} AS spanID, {n.C_PARENT_SPAN_ID} AS parentSpanID,
  {n.C_SERVICE_NAME} AS serviceName, {n.C_SPAN_NAME} AS operationName,
  multiply(toUnixTimestamp64Nano({n.C_TIMESTAMP}), 0.000001) AS startTime,
  multiply({n.C_DURATION}, 0.000001) AS duration,
  {_tags(n.C_SPAN_ATTRIBUTES)} AS tags,
  {_tags(n.C_RESOURCE_ATTRIBUTES)} AS serviceTags,
  {_trace_events()},
  if({n.C_STATUS_CODE} = 'Error', 2, if({n.C_STATUS_CODE} = 'Ok', 1, 0)) AS statusCode,
  {n.C_STATUS_MESSAGE} AS statusMessage, lower({n.C_SPAN_KIND}) AS kind
FROM {n.TRACES}
WHERE {n.C_ROLE} IN {ALL_ROLES} AND {IN_RUN}
ORDER BY startTime
LIMIT 10000""",
        w=24,
        h=14,
    )
    p.add(
        "logs",
        "Logs",
        "Log records emitted during the run, oldest first.",
        f"""
{RUN_CTE}
SELECT {n.C_TIMESTAMP} AS timestamp, {n.C_BODY} AS body, {n.C_SEVERITY_TEXT} AS level,
  {n.C_TRACE_ID} AS traceID, {n.C_SPAN_ID} AS spanID, {n.C_LOG_ATTRIBUTES}['{sc.LOG_RECORD_LOGGER}'] AS logger
FROM {n.LOGS}
WHERE {n.C_SERVICE_NAME} = run_service AND {n.C_TIMESTAMP_TIME} >= run_from AND {n.C_TIMESTAMP_TIME} <= run_to
  AND {n.C_TRACE_ID} = run AND {TIME}
ORDER BY timestamp
LIMIT 5000""",
        w=24,
        h=10,
    )
    variables = [layout.textbox("run_id", "Run id", "Trace id of the run (from the Runs dashboard)")]
    return layout.dashboard(
        UID_RUN,
        "connlog / Run detail",
        "One run: steps, pages, records, calls, trace and logs.",
        p.items,
        variables,
        time_from="now-7d",
        refresh="",
    )


# --------------------------------------------------------------------------- Call detail
CALL_CTE: Final = f"""WITH ${{call_id:sqlstring}} AS call,
  (SELECT any(tuple({n.C_SERVICE_NAME}, {n.C_TRACE_ID}, {n.C_PARENT_SPAN_ID})) FROM {n.TRACES}
   WHERE {n.C_ROLE} IN {CALL_ROLES_SQL} AND {n.C_SPAN_ID} = call AND {TIME}
     AND {cond_all(f"{n.C_TRACE_ID} = ${{run_id:sqlstring}}", "run_id")}) AS c"""
IN_CALL_TRACE: Final = (
    f"{n.C_SERVICE_NAME} = tupleElement(c, 1) AND {n.C_TRACE_ID} = tupleElement(c, 2) AND {TIME}"
)


def _headers_sql(column: str) -> str:
    return f"""
{CALL_CTE}
SELECT h.1 AS header, h.2 AS value
FROM {n.PAYLOADS}
ARRAY JOIN arrayZip(mapKeys({column}), mapValues({column})) AS h
WHERE {IN_CALL_TRACE} AND {n.C_SPAN_ID} = call
ORDER BY header"""


def call_detail_dashboard() -> JSON:
    p = layout.Panels()
    p.add(
        "table",
        "Call",
        "The call's outcome and timing. status 0 means no response (timeout or network error): a failed call.",
        f"""
{CALL_CTE}
SELECT {n.C_TIMESTAMP} AS started, {n.C_HTTP_METHOD} AS method, {n.C_HTTP_URL} AS url,
  {n.C_HTTP_URL_TEMPLATE} AS url_template, {n.C_HTTP_HOST} AS host, {n.C_HTTP_STATUS} AS status,
  {FAILED_CALL} AS failed, {n.C_DURATION} / 1e6 AS duration_ms, {n.C_HTTP_DIRECTION} AS direction,
  {n.C_RATE_LIMITED} AS rate_limited, {n.C_FAILURE_CAUSE} AS failure_cause, {n.C_STATUS_MESSAGE} AS message,
  {ATTR(sc.HTTP_REQUEST_RESEND_COUNT)} AS resend_count, {ATTR(sc.HTTP_RESPONSE_BODY_SIZE)} AS response_bytes,
  {n.C_TRACE_ID} AS run_id
FROM {n.TRACES}
WHERE {n.C_ROLE} IN {CALL_ROLES_SQL} AND {IN_CALL_TRACE} AND {n.C_SPAN_ID} = call""",
        w=24,
        h=4,
        overrides=[_link_run("run_id"), _unit("duration_ms", "ms")],
    )
    p.add(
        "table",
        "Request headers",
        "Headers the connector sent, after redaction (secrets read [REDACTED:...]).",
        _headers_sql(n.C_REQUEST_HEADERS),
        h=8,
    )
    p.add(
        "table",
        "Response headers",
        "Headers the API answered; check rate-limit and retry-after headers here.",
        _headers_sql(n.C_RESPONSE_HEADERS),
        h=8,
    )
    for title, col in (("Request body", n.C_REQUEST_BODY), ("Response body", n.C_RESPONSE_BODY)):
        p.add(
            "table",
            title,
            f"The {title.lower()} as recorded (possibly truncated by the SDK's size limit).",
            f"""
{CALL_CTE}
SELECT {col} AS body
FROM {n.PAYLOADS}
WHERE {IN_CALL_TRACE} AND {n.C_SPAN_ID} = call""",
            h=12,
            custom={"cellOptions": {"type": "json-view"}, "inspect": True},
        )
    p.add(
        "table",
        "Where this call belongs",
        "The run, step, page and record the call was made for (its ancestors in the trace).",
        f"""
{CALL_CTE},
  (SELECT mapFromArrays(groupArray({n.C_SPAN_ID}), groupArray({n.C_PARENT_SPAN_ID})) FROM {n.TRACES}
   WHERE {n.C_ROLE} IN {STRUCTURE_ROLES} AND {IN_CALL_TRACE}) AS parents,
  tupleElement(c, 3) AS p1
SELECT {n.C_ROLE} AS level, {n.C_SPAN_NAME} AS span, {n.C_STEP_NAME} AS step,
  toUInt32OrZero({ATTR(sc.PAGE_NUMBER)}) AS page, {n.C_ENTITY_TYPE} AS record_type,
  {n.C_ENTITY_EXTERNAL_ID} AS external_id, {n.C_ENTITY_ACTION} AS action, {SPAN_STATUS} AS status,
  {n.C_TRACE_ID} AS run_id
FROM {n.TRACES}
WHERE {n.C_ROLE} IN {STRUCTURE_ROLES} AND {IN_CALL_TRACE}
  AND {n.C_SPAN_ID} IN (p1, parents[p1], parents[parents[p1]], parents[parents[parents[p1]]])
ORDER BY indexOf(['{R.RUN}', '{R.STEP}', '{R.PAGE}', '{R.ENTITY}'], level)""",
        w=24,
        h=6,
        overrides=[_link_run("run_id")],
    )
    variables = [
        layout.textbox("call_id", "Call id", "Span id of the HTTP call"),
        layout.textbox(
            "run_id", "Run id", "Optional: the run's trace id, makes the look-up a primary-key read"
        ),
    ]
    return layout.dashboard(
        UID_CALL,
        "connlog / Call detail",
        "One HTTP call: request and response side by side.",
        p.items,
        variables,
        time_from="now-7d",
        refresh="",
    )


# --------------------------------------------------------------------------- Logs
def logs_dashboard() -> JSON:
    p = layout.Panels()
    log_time = f"$__timeFilter({n.C_TIMESTAMP_TIME}) AND {TIME}"
    where = (
        f"{CONNECTOR_FILTER} AND {log_time} AND {n.C_SEVERITY_NUMBER} >= ${{min_severity}}"
        f" AND {cond_all(f'positionCaseInsensitive({n.C_BODY}, ${{search:sqlstring}}) > 0', 'search')}"
    )
    p.add(
        "timeseries",
        "Log volume by severity",
        "Log records per interval at or above the minimum severity. A burst of ERROR lines usually matches failed "
        "runs on the Connector failures dashboard.",
        f"""
SELECT $__timeInterval({n.C_TIMESTAMP}) AS time, {n.C_SEVERITY_TEXT} AS severity, count() AS records
FROM {n.LOGS}
WHERE {where}
GROUP BY time, severity
ORDER BY time""",
        w=24,
        h=6,
        custom={"drawStyle": "bars", "stacking": {"mode": "normal"}, "fillOpacity": 80},
    )
    p.add(
        "logs",
        "Logs",
        "Newest first. The traceID field links to the run that wrote the line.",
        f"""
SELECT {n.C_TIMESTAMP} AS timestamp, {n.C_BODY} AS body, {n.C_SEVERITY_TEXT} AS level,
  {n.C_TRACE_ID} AS traceID, {n.C_SPAN_ID} AS spanID, {n.C_SERVICE_NAME} AS connector, {n.C_LOG_TENANT} AS tenant
FROM {n.LOGS}
WHERE {where}
ORDER BY timestamp DESC
LIMIT 1000""",
        w=24,
        h=18,
        overrides=[_link_run("traceID")],
        options={
            "showTime": True,
            "wrapLogMessage": True,
            "sortOrder": "Descending",
            "enableLogDetails": True,
        },
    )
    severities = [
        ("TRACE", "1"),
        ("DEBUG", "5"),
        ("INFO", "9"),
        ("WARN", "13"),
        ("ERROR", "17"),
        ("FATAL", "21"),
    ]
    variables = [
        layout.query_var(
            "connector",
            "Connector",
            f"""
SELECT DISTINCT {n.C_SERVICE_NAME} FROM {n.LOGS}
WHERE {log_time}
ORDER BY {n.C_SERVICE_NAME}""",
        ),
        layout.custom_var("min_severity", "Minimum severity", severities, "9", multi=False),
        layout.textbox("search", "Search", "Text the log line contains"),
    ]
    return layout.dashboard(
        UID_LOGS, "connlog / Logs", "Connector logs by severity, linked to their runs.", p.items, variables
    )


DASHBOARDS: Final = {
    "connector-failures.json": failures_dashboard,
    "runs.json": runs_dashboard,
    "run-detail.json": run_detail_dashboard,
    "call-detail.json": call_detail_dashboard,
    "logs.json": logs_dashboard,
}


def render() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {name: json.dumps(make(), indent=2, sort_keys=False) + "\n" for name, make in DASHBOARDS.items()}


def write(out_dir: Path = DASHBOARD_DIR) -> list[Path]:
    paths = []
    for name, text in render().items():
        path = out_dir / name
        path.write_text(text)
        paths.append(path)
    return paths


def load_all(directory: Path = DASHBOARD_DIR) -> dict[str, JSON]:
    """The dashboards as provisioned: every `*.json` next to this module, by file name."""
    return {p.name: json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))}


if __name__ == "__main__":
    for written in write():
        print(written)
