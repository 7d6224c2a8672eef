"""The Grafana dashboards, defined in Python and written out as JSON (`python -m dashboards.build`).

Why generate: every table, column and attribute key a query names comes from
`collector.schema.names` and `instrumentation.semconv`, so a rename breaks the build here
(and the JSON-is-current test) instead of leaving an empty panel in production. The JSON
files next to this module are what Grafana provisions and what `connlog dashboards push`
uploads; `tests/test_dashboards_json.py` fails when they drift from this module.

Query rules every panel follows (the tests check them):
- `$__timeFilter(Timestamp)` on every table read, plus `Role` (and `ServiceName` where the
  panel knows it) on `otel_traces`, whose sort key is (ServiceName, Role, hour, TraceId);
  logs also filter `TimestampTime`, the second key column of `otel_logs`.
- A run or call page resolves its trace's service and time bounds from
  `otel_traces_trace_id_ts` first, so its reads are primary-key ranges.
- Only the Call detail dashboard reads `otel_traces_payloads`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from collector.schema import names as n
from instrumentation import semconv as sc

JSON = dict[str, Any]

DATASOURCE_UID: Final = "connlog-clickhouse"
DATASOURCE_TYPE: Final = "grafana-clickhouse-datasource"
DS: Final[JSON] = {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}
DASHBOARD_DIR: Final = Path(__file__).resolve().parent
TAGS: Final = ["connlog"]

# Plugin query formats (grafana-clickhouse-datasource `Format`).
FMT_TIMESERIES: Final = 0
FMT_TABLE: Final = 1
FMT_LOGS: Final = 2
FMT_TRACE: Final = 3

UID_OVERVIEW: Final = "connlog-failures"
UID_RUNS: Final = "connlog-runs"
UID_RUN: Final = "connlog-run-detail"
UID_CALL: Final = "connlog-call-detail"
UID_LOGS: Final = "connlog-logs"

R = sc.Role
ATTR = f"{n.C_SPAN_ATTRIBUTES}['{{}}']".format


def _q(s: str) -> str:
    return f"'{s}'"


ROLE_RUN: Final = _q(R.RUN)
RUN_ROLES: Final = f"({_q(R.RUN)}, {_q(R.RUN_START)})"
CALL_ROLES: Final = f"({_q(R.HTTP)}, {_q(R.WEBHOOK)})"
STRUCTURE_ROLES: Final = f"({_q(R.RUN)}, {_q(R.STEP)}, {_q(R.PAGE)}, {_q(R.ENTITY)})"
# Every role plus '' (spans from plain OTel instrumentation): the whole trace, still by key.
ALL_ROLES: Final = "(" + ", ".join(_q(r) for r in R) + ", '')"

# A finished run's status: the SDK's attribute, else the span status.
RUN_STATUS: Final = (
    f"if({ATTR(sc.RUN_STATUS)} != '', {ATTR(sc.RUN_STATUS)},"
    f" if(StatusCode = 'Error', '{sc.RunStatus.ERROR}', '{sc.RunStatus.OK}'))"
)
RUN_FAILED: Final = f"({ATTR(sc.RUN_STATUS)} = '{sc.RunStatus.ERROR}' OR StatusCode = 'Error')"
CALL_FAILED: Final = "(StatusCode = 'Error' OR HttpStatus >= 400)"
SPAN_STATUS: Final = "if(StatusCode = 'Error', 'error', 'ok')"
COUNTERS: Final = tuple(c.value for c in sc.Counter)


def counter_cols(row_filter: str = "") -> str:
    """`toUInt64OrZero(...) AS fetched, ...`; with `row_filter`, taken from the run row only."""
    cols = []
    for c in COUNTERS:
        expr = ATTR(sc.count_key(c))
        if row_filter:
            expr = f"argMax({expr}, {row_filter})"
        cols.append(f"toUInt64OrZero({expr}) AS {c}")
    err = ATTR(sc.ERROR_COUNT)
    if row_filter:
        err = f"argMax({err}, {row_filter})"
    cols.append(f"toUInt64OrZero({err}) AS errors")
    return ",\n  ".join(cols)


def cond_all(condition: str, var: str) -> str:
    """`$__conditionalAll`, with the condition parenthesised: the plugin pastes it verbatim, so an
    `a OR b` condition would otherwise escape the surrounding `AND`s (time filter, Role)."""
    return f"$__conditionalAll(({condition}), ${var})"


CONNECTOR_FILTER: Final = cond_all("ServiceName IN (${connector:singlequote})", "connector")
TENANT_FILTER: Final = cond_all("Tenant IN (${tenant:singlequote})", "tenant")
TIME: Final = "$__timeFilter(Timestamp)"

# Run detail / call detail: the trace's bounds and service, from the trace-id lookup table.
RUN_CTE: Final = f"""WITH ${{run_id:sqlstring}} AS run,
  (SELECT min(Start) FROM {n.TRACE_ID_TS} WHERE TraceId = run) AS run_from,
  (SELECT max(End) + 1 FROM {n.TRACE_ID_TS} WHERE TraceId = run) AS run_to,
  (SELECT any(ServiceName) FROM {n.TRACE_ID_TS} WHERE TraceId = run) AS run_service"""
IN_RUN: Final = f"ServiceName = run_service AND TraceId = run AND Timestamp >= run_from AND Timestamp <= run_to AND {TIME}"


# --------------------------------------------------------------------------- JSON helpers
def _link_run(field_name: str) -> JSON:
    return _field_link(
        field_name,
        "Open run detail",
        f"/d/{UID_RUN}/connlog-run-detail?var-run_id=${{__value.raw}}&${{__url_time_range}}",
    )


def _link_call(field_name: str) -> JSON:
    return _field_link(
        field_name,
        "Open call detail",
        f"/d/{UID_CALL}/connlog-call-detail?var-call_id=${{__value.raw}}&var-run_id=${{run_id}}&${{__url_time_range}}",
    )


def _field_link(field_name: str, title: str, url: str) -> JSON:
    return {
        "matcher": {"id": "byName", "options": field_name},
        "properties": [{"id": "links", "value": [{"title": title, "url": url}]}],
    }


def _unit(field_name: str, unit: str) -> JSON:
    return {"matcher": {"id": "byName", "options": field_name}, "properties": [{"id": "unit", "value": unit}]}


def _target(sql: str, fmt: int, query_type: str) -> JSON:
    return {
        "refId": "A",
        "datasource": DS,
        "editorType": "sql",
        "format": fmt,
        "queryType": query_type,
        "rawSql": sql.strip(),
    }


_QUERY_TYPE = {
    "timeseries": ("timeseries", FMT_TIMESERIES),
    "table": ("table", FMT_TABLE),
    "stat": ("table", FMT_TABLE),
    "piechart": ("table", FMT_TABLE),
    "bargauge": ("table", FMT_TABLE),
    "logs": ("logs", FMT_LOGS),
    "traces": ("traces", FMT_TRACE),
}


class _Panels:
    """Collects panels with unique ids and a simple left-to-right, top-to-bottom layout."""

    def __init__(self) -> None:
        self.items: list[JSON] = []
        self.x = 0
        self.y = 0
        self.row_h = 0

    def add(
        self,
        kind: str,
        title: str,
        description: str,
        sql: str,
        *,
        w: int = 12,
        h: int = 8,
        overrides: list[JSON] | None = None,
        unit: str | None = None,
        options: JSON | None = None,
        custom: JSON | None = None,
    ) -> JSON:
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        query_type, fmt = _QUERY_TYPE[kind]
        defaults: JSON = {"custom": custom or {}}
        if unit:
            defaults["unit"] = unit
        panel: JSON = {
            "id": len(self.items) + 1,
            "type": kind,
            "title": title,
            "description": description,
            "datasource": DS,
            "gridPos": {"x": self.x, "y": self.y, "w": w, "h": h},
            "targets": [_target(sql, fmt, query_type)],
            "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
            "options": options or {},
        }
        self.items.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)
        return panel


def _query_var(name: str, label: str, sql: str, *, multi: bool = True) -> JSON:
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": DS,
        "query": {"refId": f"var-{name}", "queryType": "sql", "rawSql": sql.strip()},
        "definition": sql.strip(),
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": True,
        "current": {"text": ["All"], "value": ["$__all"]},
        "options": [],
    }


def _custom_var(name: str, label: str, options: list[tuple[str, str]], default: str, *, multi: bool) -> JSON:
    text = {v: t for t, v in options}[default]
    var: JSON = {
        "type": "custom",
        "name": name,
        "label": label,
        "query": ",".join(f"{t} : {v}" if t != v else v for t, v in options),
        "multi": multi,
        "includeAll": multi,
        "options": [{"text": t, "value": v, "selected": not multi and v == default} for t, v in options],
    }
    if multi:
        var["current"] = {"text": ["All"], "value": ["$__all"]}
    else:
        var["current"] = {"text": text, "value": default}
    return var


def _textbox(name: str, label: str, description: str) -> JSON:
    return {
        "type": "textbox",
        "name": name,
        "label": label,
        "description": description,
        "query": "",
        "current": {"text": "", "value": ""},
        "options": [],
    }


def _dashboard(
    uid: str,
    title: str,
    description: str,
    panels: list[JSON],
    variables: list[JSON],
    *,
    time_from: str = "now-24h",
    refresh: str = "1m",
) -> JSON:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": TAGS,
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "timezone": "browser",
        "time": {"from": time_from, "to": "now"},
        "refresh": refresh,
        "templating": {"list": variables},
        "annotations": {"list": []},
        "links": [
            {
                "type": "dashboards",
                "tags": TAGS,
                "asDropdown": True,
                "title": "connlog",
                "keepTime": True,
                "includeVars": False,
            }
        ],
        "panels": panels,
    }


CONNECTOR_VAR_SQL: Final = f"""
SELECT DISTINCT ServiceName FROM {n.TRACES}
WHERE Role IN {RUN_ROLES} AND {TIME}
ORDER BY ServiceName"""
TENANT_VAR_SQL: Final = f"""
SELECT DISTINCT Tenant FROM {n.TRACES}
WHERE Role IN {RUN_ROLES} AND Tenant != '' AND {TIME} AND {CONNECTOR_FILTER}
ORDER BY Tenant"""


# --------------------------------------------------------------------------- Connector failures
def failures_dashboard() -> JSON:
    p = _Panels()
    runs_where = f"Role = {ROLE_RUN} AND {TIME} AND {CONNECTOR_FILTER} AND {TENANT_FILTER}"
    calls_where = f"Role IN {CALL_ROLES} AND {TIME} AND {CONNECTOR_FILTER} AND {TENANT_FILTER}"
    p.add(
        "stat",
        "Runs in range",
        "Finished runs, failed runs, runs still going and the failure rate for the selected connectors. "
        "A rising failure rate is the first thing to look at: open the Runs dashboard filtered on status=error.",
        f"""
SELECT countIf(has_run) AS finished, countIf(has_run AND run_failed) AS failed, countIf(NOT has_run) AS running,
  round(100 * failed / greatest(finished, 1), 1) AS failure_rate_pct
FROM (
  SELECT TraceId, countIf({RUN_ROW}) > 0 AS has_run, countIf({RUN_ROW} AND {RUN_FAILED}) > 0 AS run_failed
  FROM {n.TRACES}
  WHERE Role IN {RUN_ROLES} AND {TIME} AND {CONNECTOR_FILTER} AND {TENANT_FILTER}
  GROUP BY TraceId
)""",
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
        "Runs that ended in error, per connector and interval. A connector that fails every interval needs its "
        "credentials or endpoint checked; a single spike is usually a source outage.",
        f"""
SELECT $__timeInterval(Timestamp) AS time, ServiceName AS connector, count() AS failed_runs
FROM {n.TRACES}
WHERE {runs_where} AND {RUN_FAILED}
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
SELECT ServiceName AS connector, round(100 * countIf({RUN_FAILED}) / count(), 1) AS failure_rate_pct
FROM {n.TRACES}
WHERE {runs_where}
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
SELECT if(FailureCause = '', 'unknown', FailureCause) AS cause, count() AS failed_runs
FROM {n.TRACES}
WHERE {runs_where} AND {RUN_FAILED}
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
        "HTTP calls per API host: total, failed (error status or HTTP >= 400), failure rate and 429s. A host with a "
        "high rate across all connectors is an outage on its side.",
        f"""
SELECT HttpHost AS host, count() AS calls, countIf({CALL_FAILED}) AS failed,
  round(100 * failed / calls, 1) AS error_rate_pct, countIf(RateLimited) AS rate_limited
FROM {n.TRACES}
WHERE {calls_where}
GROUP BY host
ORDER BY error_rate_pct DESC, calls DESC""",
        overrides=[_unit("error_rate_pct", "percent")],
    )
    p.add(
        "table",
        "Top failing endpoints",
        "Failed calls grouped by host, method, URL template and status. Click an example run to see the failing "
        "call with its request and response.",
        f"""
SELECT HttpHost AS host, HttpMethod AS method,
  if(HttpUrlTemplate != '', HttpUrlTemplate, path(HttpUrl)) AS endpoint, HttpStatus AS status,
  count() AS failures, any(FailureCause) AS cause, max(Timestamp) AS last_seen, argMax(TraceId, Timestamp) AS example_run
FROM {n.TRACES}
WHERE {calls_where} AND {CALL_FAILED}
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
SELECT $__timeInterval(Timestamp) AS time, HttpHost AS host,
  quantile(0.5)(Duration) / 1e6 AS p50, quantile(0.95)(Duration) / 1e6 AS p95, quantile(0.99)(Duration) / 1e6 AS p99
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
SELECT $__timeInterval(Timestamp) AS time, HttpHost AS host, count() AS rate_limited_calls
FROM {n.TRACES}
WHERE {calls_where} AND RateLimited
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
  FROM (
    SELECT ServiceName AS connector, JobId AS job_id, TraceId, min(Timestamp) AS started
    FROM {n.TRACES}
    WHERE Role IN {RUN_ROLES} AND JobId != '' AND {TIME} AND {CONNECTOR_FILTER} AND {TENANT_FILTER}
    GROUP BY connector, job_id, TraceId
  )
  GROUP BY connector, job_id
)
WHERE runs >= 3
ORDER BY state = 'OVERDUE' DESC, since_last_s DESC""",
        w=24,
        overrides=[_unit("median_gap_s", "s"), _unit("since_last_s", "s")],
    )
    variables = [
        _query_var("connector", "Connector", CONNECTOR_VAR_SQL),
        _query_var("tenant", "Tenant", TENANT_VAR_SQL),
    ]
    return _dashboard(
        UID_OVERVIEW,
        "connlog / Connector failures",
        "Which connectors fail, why, against which endpoints, and which schedules stopped firing.",
        p.items,
        variables,
    )


# --------------------------------------------------------------------------- Runs
RUN_ROW: Final = f"Role = {ROLE_RUN}"


def runs_dashboard() -> JSON:
    p = _Panels()
    search = (
        f"TraceId IN (SELECT TraceId FROM {n.SEARCH_INDEX} WHERE Value = ${{search:sqlstring}} AND {TIME})"
        " OR TraceId = ${search:sqlstring} OR JobId = ${search:sqlstring}"
        " OR positionCaseInsensitive(StatusMessage, ${search:sqlstring}) > 0"
    )
    where = (
        f"Role IN {RUN_ROLES} AND {TIME} AND {CONNECTOR_FILTER} AND {TENANT_FILTER}"
        f" AND {cond_all('SyncType IN (${sync_type:singlequote})', 'sync_type')}"
        f" AND {cond_all(search, 'search')}"
    )
    p.add(
        "timeseries",
        "Runs by status",
        "Runs started per interval by final status (running = started, not finished yet).",
        f"""
SELECT $__timeInterval(started) AS time, status, count() AS runs
FROM (
  SELECT TraceId, min(Timestamp) AS started,
    if(countIf({RUN_ROW}) = 0, '{sc.RunStatus.RUNNING}', argMax({RUN_STATUS}, {RUN_ROW})) AS status
  FROM {n.TRACES}
  WHERE {where}
  GROUP BY TraceId
  HAVING {cond_all("status IN (${status:singlequote})", "status")}
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
  TraceId AS run_id,
  any(ServiceName) AS connector,
  argMax(Tenant, {RUN_ROW}) AS tenant,
  if(countIf({RUN_ROW}) = 0, '{sc.RunStatus.RUNNING}', argMax({RUN_STATUS}, {RUN_ROW})) AS status,
  argMax(SyncType, {RUN_ROW}) AS sync_type,
  argMax(Trigger, {RUN_ROW}) AS run_trigger,
  argMax(JobId, {RUN_ROW}) AS job_id,
  min(Timestamp) AS started,
  if(countIf({RUN_ROW}) = 0, NULL, maxIf(Duration, {RUN_ROW}) / 1e9) AS duration_s,
  {counter_cols(RUN_ROW)},
  argMax(FailureCause, {RUN_ROW}) AS failure_cause,
  argMax(StatusMessage, {RUN_ROW}) AS message
FROM {n.TRACES}
WHERE {where}
GROUP BY run_id
HAVING {cond_all("status IN (${status:singlequote})", "status")}
ORDER BY started DESC
LIMIT 500""",
        w=24,
        h=16,
        overrides=[_link_run("run_id"), _unit("duration_s", "s")],
    )
    status_opts = [(s.value, s.value) for s in (sc.RunStatus.OK, sc.RunStatus.ERROR, sc.RunStatus.RUNNING)]
    variables = [
        _query_var("connector", "Connector", CONNECTOR_VAR_SQL),
        _custom_var("status", "Status", status_opts, sc.RunStatus.OK.value, multi=True),
        _query_var(
            "sync_type",
            "Sync type",
            f"""
SELECT DISTINCT SyncType FROM {n.TRACES}
WHERE Role IN {RUN_ROLES} AND SyncType != '' AND {TIME} AND {CONNECTOR_FILTER}
ORDER BY SyncType""",
        ),
        _query_var("tenant", "Tenant", TENANT_VAR_SQL),
        _textbox("search", "Search", "Run id, job id, record id or error text"),
    ]
    return _dashboard(
        UID_RUNS, "connlog / Runs", "Every run with its status, counters and errors.", p.items, variables
    )


# --------------------------------------------------------------------------- Run detail
def run_detail_dashboard() -> JSON:
    p = _Panels()
    p.add(
        "table",
        "Run",
        "The run's outcome. If status is error, the failure cause says what to fix; the steps below show where.",
        f"""
{RUN_CTE}
SELECT any(ServiceName) AS connector, argMax(Tenant, {RUN_ROW}) AS tenant,
  if(countIf({RUN_ROW}) = 0, '{sc.RunStatus.RUNNING}', argMax({RUN_STATUS}, {RUN_ROW})) AS status,
  argMax(SyncType, {RUN_ROW}) AS sync_type, argMax(Trigger, {RUN_ROW}) AS run_trigger,
  argMax(JobId, {RUN_ROW}) AS job_id, min(Timestamp) AS started, maxIf(Duration, {RUN_ROW}) / 1e9 AS duration_s,
  {counter_cols(RUN_ROW)},
  argMax(FailureCause, {RUN_ROW}) AS failure_cause, argMax(StatusMessage, {RUN_ROW}) AS message
FROM {n.TRACES}
WHERE Role IN {RUN_ROLES} AND {IN_RUN}""",
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
SELECT StepName AS step, {SPAN_STATUS} AS status, Timestamp AS started, Duration / 1e6 AS duration_ms,
  {counter_cols()},
  RateLimited AS rate_limited, FailureCause AS failure_cause, StatusMessage AS message
FROM {n.TRACES}
WHERE Role = '{R.STEP}' AND {IN_RUN}
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
SELECT StepName AS step, toUInt32OrZero({ATTR(sc.PAGE_NUMBER)}) AS page, {ATTR(sc.PAGE_CURSOR)} AS cursor,
  {SPAN_STATUS} AS status, Timestamp AS started, Duration / 1e6 AS duration_ms,
  {counter_cols()}, FailureCause AS failure_cause
FROM {n.TRACES}
WHERE Role = '{R.PAGE}' AND {IN_RUN}
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
SELECT StepName AS step, EntityType AS type, EntityExternalId AS external_id, EntityInternalId AS internal_id,
  EntityAction AS action, {ATTR(sc.ENTITY_REASON)} AS reason, {SPAN_STATUS} AS status,
  Timestamp AS started, Duration / 1e6 AS duration_ms
FROM {n.TRACES}
WHERE Role = '{R.ENTITY}' AND {IN_RUN}
ORDER BY action = '{sc.EntityAction.FAIL}' DESC, started
LIMIT 2000""",
        overrides=[_unit("duration_ms", "ms")],
        h=10,
    )
    p.add(
        "table",
        "HTTP calls",
        "Calls in order with status and duration. Click a call id to see its request and response.",
        f"""
{RUN_CTE}
SELECT SpanId AS call_id, Timestamp AS started, HttpMethod AS method, HttpHost AS host, HttpUrl AS url,
  HttpStatus AS status, Duration / 1e6 AS duration_ms, RateLimited AS rate_limited,
  FailureCause AS failure_cause, StatusMessage AS message
FROM {n.TRACES}
WHERE Role IN {CALL_ROLES} AND {IN_RUN}
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
SELECT TraceId AS traceID, SpanId AS spanID, ParentSpanId AS parentSpanID, ServiceName AS serviceName,
  SpanName AS operationName, multiply(toUnixTimestamp64Nano(Timestamp), 0.000001) AS startTime,
  multiply(Duration, 0.000001) AS duration,
  arrayMap(key -> map('key', key, 'value', SpanAttributes[key]), mapKeys(SpanAttributes)) AS tags,
  arrayMap(key -> map('key', key, 'value', ResourceAttributes[key]), mapKeys(ResourceAttributes)) AS serviceTags,
  arrayMap((name, ts, attrs) -> tuple(toUnixTimestamp64Milli(ts), arrayConcat([map('key', 'event', 'value', name)],
    arrayMap(key -> map('key', key, 'value', attrs[key]), mapKeys(attrs))))::Tuple(timestamp Int64, fields Array(Map(String, String))),
    Events.Name, Events.Timestamp, Events.Attributes) AS logs,
  if(StatusCode = 'Error', 2, if(StatusCode = 'Ok', 1, 0)) AS statusCode, StatusMessage AS statusMessage,
  lower(SpanKind) AS kind
FROM {n.TRACES}
WHERE Role IN {ALL_ROLES} AND {IN_RUN}
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
SELECT Timestamp AS timestamp, Body AS body, SeverityText AS level, TraceId AS traceID, SpanId AS spanID,
  LogAttributes['{sc.LOG_RECORD_LOGGER}'] AS logger
FROM {n.LOGS}
WHERE ServiceName = run_service AND TimestampTime >= run_from AND TimestampTime <= run_to AND TraceId = run AND {TIME}
ORDER BY timestamp
LIMIT 5000""",
        w=24,
        h=10,
    )
    variables = [_textbox("run_id", "Run id", "Trace id of the run (from the Runs dashboard)")]
    return _dashboard(
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
  (SELECT any(tuple(ServiceName, TraceId, ParentSpanId)) FROM {n.TRACES}
   WHERE Role IN {CALL_ROLES} AND SpanId = call AND {TIME}
     AND {cond_all("TraceId = ${run_id:sqlstring}", "run_id")}) AS c"""
IN_CALL_TRACE: Final = f"ServiceName = tupleElement(c, 1) AND TraceId = tupleElement(c, 2) AND {TIME}"


def _headers_sql(column: str) -> str:
    return f"""
{CALL_CTE}
SELECT h.1 AS header, h.2 AS value
FROM {n.PAYLOADS}
ARRAY JOIN arrayZip(mapKeys({column}), mapValues({column})) AS h
WHERE {IN_CALL_TRACE} AND SpanId = call
ORDER BY header"""


def call_detail_dashboard() -> JSON:
    p = _Panels()
    p.add(
        "table",
        "Call",
        "The call's outcome and timing. status 0 means no response (timeout or network error).",
        f"""
{CALL_CTE}
SELECT Timestamp AS started, HttpMethod AS method, HttpUrl AS url, HttpUrlTemplate AS url_template, HttpHost AS host,
  HttpStatus AS status, Duration / 1e6 AS duration_ms, HttpDirection AS direction, RateLimited AS rate_limited,
  FailureCause AS failure_cause, StatusMessage AS message,
  {ATTR(sc.HTTP_REQUEST_RESEND_COUNT)} AS resend_count, {ATTR(sc.HTTP_RESPONSE_BODY_SIZE)} AS response_bytes,
  TraceId AS run_id
FROM {n.TRACES}
WHERE Role IN {CALL_ROLES} AND {IN_CALL_TRACE} AND SpanId = call""",
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
WHERE {IN_CALL_TRACE} AND SpanId = call""",
            h=12,
            custom={"cellOptions": {"type": "json-view"}, "inspect": True},
        )
    p.add(
        "table",
        "Where this call belongs",
        "The run, step, page and record the call was made for (its ancestors in the trace).",
        f"""
{CALL_CTE},
  (SELECT mapFromArrays(groupArray(SpanId), groupArray(ParentSpanId)) FROM {n.TRACES}
   WHERE Role IN {STRUCTURE_ROLES} AND {IN_CALL_TRACE}) AS parents,
  tupleElement(c, 3) AS p1
SELECT Role AS level, SpanName AS span, StepName AS step, toUInt32OrZero({ATTR(sc.PAGE_NUMBER)}) AS page,
  EntityType AS record_type, EntityExternalId AS external_id, EntityAction AS action,
  {SPAN_STATUS} AS status, TraceId AS run_id
FROM {n.TRACES}
WHERE Role IN {STRUCTURE_ROLES} AND {IN_CALL_TRACE}
  AND SpanId IN (p1, parents[p1], parents[parents[p1]], parents[parents[parents[p1]]])
ORDER BY indexOf(['{R.RUN}', '{R.STEP}', '{R.PAGE}', '{R.ENTITY}'], level)""",
        w=24,
        h=6,
        overrides=[_link_run("run_id")],
    )
    variables = [
        _textbox("call_id", "Call id", "Span id of the HTTP call"),
        _textbox("run_id", "Run id", "Optional: the run's trace id, makes the look-up a primary-key read"),
    ]
    return _dashboard(
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
    p = _Panels()
    where = (
        f"{cond_all('ServiceName IN (${connector:singlequote})', 'connector')}"
        f" AND $__timeFilter(TimestampTime) AND {TIME} AND SeverityNumber >= ${{min_severity}}"
        f" AND {cond_all('positionCaseInsensitive(Body, ${search:sqlstring}) > 0', 'search')}"
    )
    p.add(
        "timeseries",
        "Log volume by severity",
        "Log records per interval at or above the minimum severity. A burst of ERROR lines usually matches failed "
        "runs on the Connector failures dashboard.",
        f"""
SELECT $__timeInterval(Timestamp) AS time, SeverityText AS severity, count() AS records
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
SELECT Timestamp AS timestamp, Body AS body, SeverityText AS level, TraceId AS traceID, SpanId AS spanID,
  ServiceName AS connector, Tenant AS tenant
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
        _query_var(
            "connector",
            "Connector",
            f"""
SELECT DISTINCT ServiceName FROM {n.LOGS}
WHERE $__timeFilter(TimestampTime) AND {TIME}
ORDER BY ServiceName""",
        ),
        _custom_var("min_severity", "Minimum severity", severities, "9", multi=False),
        _textbox("search", "Search", "Text the log line contains"),
    ]
    return _dashboard(
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
