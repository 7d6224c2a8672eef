"""Every dashboard query, expanded as Grafana + the ClickHouse plugin would, run on real data.

The data is `connlog.datagen` telemetry POSTed as OTLP to the real collector, which writes
chDB through the ingest tables and materialized views, so the queries meet the exact storage
the production stack has. Answers are compared with the generator's truth, not with a second
copy of the SQL.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from connlog import datagen
from connlog.collector.config import Settings
from connlog.collector.schema import names
from connlog.collector.schema.names import TRACES_INGEST, TRACES_INGEST_COLUMNS
from connlog.dashboards import build
from connlog.dashboards.macros import ALL, TimeRange, Variable, expand, interval_for
from connlog.instrumentation import semconv as sc
from connlog.query_api.queries.common import TimeRange as ApiTimeRange
from connlog.query_api.queries.runs import RunFilters, list_runs
from connlog.query_api.scope import FULL
from tests.collector_env import fresh_database, store

# The dataset ends at the last full hour: recent enough that the schema's retention TTL
# (30 days) keeps it, fixed within a test session so every query sees the same data.
END_NS = time.time_ns() // (3600 * 10**9) * (3600 * 10**9)
END = datetime.fromtimestamp(END_NS / 1e9, UTC)
RANGE = TimeRange(END - timedelta(days=2), END + timedelta(minutes=1))
RANGE = replace(RANGE, interval=interval_for(RANGE))
DASHBOARDS = build.load_all()


@dataclass
class Env:
    client: Client
    data: datagen.Dataset

    def query(
        self, sql: str, tr: TimeRange = RANGE, variables: Mapping[str, Variable] | None = None
    ) -> Result:
        expanded = expand(sql, tr, variables)
        res = self.client.query(expanded)
        return Result(
            list(res.column_names), [t.name for t in res.column_types], [list(r) for r in res.result_rows]
        )


@dataclass
class Result:
    columns: list[str]
    types: list[str]
    rows: list[list[Any]]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]


@pytest.fixture(scope="module")
def env(base_settings: Settings) -> Iterator[Env]:
    data = datagen.generate(seed=11, runs=36, end_ns=END_NS, span_days=1.0, pages=(1, 2), entities=(1, 3))
    with fresh_database(base_settings) as (settings, client):
        store(settings, data, batch_max_delay_s=0.2)
        yield Env(client, data)


# --------------------------------------------------------------------------- helpers
def panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    return list(dash["panels"])


def panel(file: str, title: str) -> dict[str, Any]:
    return next(p for p in DASHBOARDS[file]["panels"] if p["title"] == title)


def sql_of(file: str, title: str) -> str:
    return str(panel(file, title)["targets"][0]["rawSql"])


def default_vars(env: Env, dash: dict[str, Any], **overrides: Variable) -> dict[str, Variable]:
    """The variables as a freshly opened dashboard has them (All / defaults), plus overrides."""
    out: dict[str, Variable] = {}
    for v in dash["templating"]["list"]:
        name = v["name"]
        if v["type"] == "textbox":
            out[name] = Variable("")
        elif v["type"] == "custom":
            opts = [o["value"] for o in v["options"]]
            out[name] = Variable(v["current"]["value"], options=opts)
        elif v["type"] == "query":
            out[name] = Variable([ALL])
    # Query variables' options come from their own query (Grafana runs them first).
    for v in dash["templating"]["list"]:
        if v["type"] == "query":
            rows = env.query(v["query"]["rawSql"], variables={**out, **overrides}).rows
            out[v["name"]] = Variable([ALL], options=[str(r[0]) for r in rows])
    out.update(overrides)
    return out


def finished(env: Env) -> list[datagen.RunTruth]:
    return [r for r in env.data.runs if r.status != sc.RunStatus.RUNNING]


def failed(env: Env) -> list[datagen.RunTruth]:
    return [r for r in env.data.runs if r.status == sc.RunStatus.ERROR]


def a_failed_run(env: Env) -> datagen.RunTruth:
    return next(r for r in failed(env) if r.failed_calls and r.external_ids)


# --------------------------------------------------------------------------- every query runs
ALL_QUERIES = [
    (file, p["title"], t["rawSql"], p["type"])
    for file, dash in DASHBOARDS.items()
    for p in dash["panels"]
    for t in p["targets"]
]


def _vars_for(env: Env, file: str) -> dict[str, Variable]:
    dash = DASHBOARDS[file]
    run = a_failed_run(env)
    overrides: dict[str, Variable] = {}
    names = {v["name"] for v in dash["templating"]["list"]}
    if "run_id" in names:
        overrides["run_id"] = Variable(run.run_id)
    if "call_id" in names:
        overrides["call_id"] = Variable(_failed_call(env, run.run_id)[0])
    if "status" in names:
        overrides["status"] = Variable([ALL], options=["ok", "error", "running"])
    return default_vars(env, dash, **overrides)


def _failed_call(env: Env, run_id: str) -> tuple[str, int]:
    assert all(ch in "0123456789abcdef" for ch in run_id)
    rows = env.client.query(
        f"SELECT SpanId, HttpStatus FROM otel_traces WHERE TraceId = '{run_id}' AND Role = 'http'"
        " AND StatusCode = 'Error' ORDER BY Timestamp LIMIT 1"
    ).result_rows
    return str(rows[0][0]), int(rows[0][1])


# datagen gives step/page/entity spans fresh ids instead of the ids their children name as
# parent (connlog/datagen.py `_Builder.span`), so ancestry cannot be walked on its data;
# `test_call_context_walks_up_to_the_run` checks this panel on a hand-built trace instead.
ROWS_CHECKED_ELSEWHERE = {("call-detail.json", "Where this call belongs")}

NEEDS = {
    "timeseries": {"time"},
    "traces": {
        "traceID",
        "spanID",
        "parentSpanID",
        "serviceName",
        "operationName",
        "startTime",
        "duration",
        "tags",
        "serviceTags",
    },
    "logs": {"timestamp", "body"},
}


@pytest.mark.parametrize(
    ("file", "title", "sql", "kind"), ALL_QUERIES, ids=[f"{f}:{t}" for f, t, _, _ in ALL_QUERIES]
)
def test_panel_query_runs_and_has_the_shape_its_panel_needs(
    env: Env, file: str, title: str, sql: str, kind: str
) -> None:
    res = env.query(sql, variables=_vars_for(env, file))
    assert NEEDS.get(kind, set()) <= set(res.columns), res.columns
    if kind == "timeseries":
        assert res.types[res.columns.index("time")].startswith("DateTime")
    # The dataset has failures, 429s, running runs, logs and payloads: every panel has rows.
    if (file, title) not in ROWS_CHECKED_ELSEWHERE:
        assert res.rows, f"{file}: {title} returned nothing"


def test_variable_queries_list_what_was_sent(env: Env) -> None:
    connectors = {r.connector for r in env.data.runs}
    tenants = {r.tenant for r in env.data.runs}
    sync_types = {r.sync_type for r in finished(env)}
    for file, dash in DASHBOARDS.items():
        for v in dash["templating"]["list"]:
            if v["type"] != "query":
                continue
            values = {str(r[0]) for r in env.query(v["query"]["rawSql"], variables=_vars_for(env, file)).rows}
            expected = {"connector": connectors, "tenant": tenants, "sync_type": sync_types}[v["name"]]
            assert expected <= values, (file, v["name"])


# --------------------------------------------------------------------------- numbers vs truth
def test_failures_overview_counts_match_what_was_sent(env: Env) -> None:
    f = "connector-failures.json"
    vars_ = _vars_for(env, f)
    stat = env.query(sql_of(f, "Runs in range"), variables=vars_).dicts()[0]
    assert stat["finished"] == len(finished(env))
    assert stat["failed"] == len(failed(env))
    assert stat["running"] == sum(r.status == sc.RunStatus.RUNNING for r in env.data.runs) == 1

    over_time = env.query(sql_of(f, "Failed runs per connector"), variables=vars_).dicts()
    per_conn: Counter[str] = Counter()
    for row in over_time:
        per_conn[row["connector"]] += row["failed_runs"]
    assert per_conn == Counter(r.connector for r in failed(env))

    causes = {
        r["cause"]: r["failed_runs"]
        for r in env.query(sql_of(f, "Failure causes (failed runs)"), variables=vars_).dicts()
    }
    assert causes == dict(Counter(r.failure_cause or "unknown" for r in failed(env)))
    assert len(causes) >= 4  # the generator cycles through the causes

    rates = {
        r["connector"]: r["failure_rate_pct"]
        for r in env.query(sql_of(f, "Failure rate per connector"), variables=vars_).dicts()
    }
    for conn in {r.connector for r in finished(env)}:
        runs = [r for r in finished(env) if r.connector == conn]
        assert rates[conn] == pytest.approx(
            round(100 * sum(r.status == "error" for r in runs) / len(runs), 1)
        )

    hosts = {r["host"]: r for r in env.query(sql_of(f, "Error rate per host"), variables=vars_).dicts()}
    for conn, host in datagen.HOSTS.items():
        runs = [r for r in env.data.runs if r.connector == conn]
        assert hosts[host]["calls"] == sum(r.calls for r in runs)
        assert hosts[host]["failed"] == sum(r.failed_calls for r in runs)
    assert (
        sum(h["rate_limited"] for h in hosts.values()) == env.data.call_causes[sc.FailureCause.RATE_LIMITED]
    )

    endpoints = env.query(sql_of(f, "Top failing endpoints"), variables=vars_).dicts()
    total_failed_calls = sum(r.failed_calls for r in env.data.runs)
    assert sum(e["failures"] for e in endpoints) == total_failed_calls  # fewer than 20 groups here
    # A timeout (no response: status 0, span status Error) is a failed call (concepts.FAILED_CALL).
    timeouts = env.data.call_causes[sc.FailureCause.TIMEOUT]
    assert timeouts > 0
    no_response = [e for e in endpoints if e["status"] == 0]
    assert sum(e["failures"] for e in no_response) == timeouts
    assert {e["cause"] for e in no_response} == {sc.FailureCause.TIMEOUT.value}
    assert {e["example_run"] for e in endpoints} <= {r.run_id for r in env.data.runs}

    hits = env.query(sql_of(f, "Rate-limit hits per host"), variables=vars_).dicts()
    assert sum(h["rate_limited_calls"] for h in hits) == env.data.call_causes[sc.FailureCause.RATE_LIMITED]


def test_connector_variable_narrows_the_overview(env: Env) -> None:
    f = "connector-failures.json"
    only = Variable(["hubspot"], options=list(datagen.CONNECTORS))
    stat = env.query(sql_of(f, "Runs in range"), variables=_vars_for(env, f) | {"connector": only}).dicts()[0]
    assert stat["failed"] == sum(r.connector == "hubspot" for r in failed(env))
    two = Variable(["hubspot", "netsuite"], options=list(datagen.CONNECTORS))
    stat2 = env.query(sql_of(f, "Runs in range"), variables=_vars_for(env, f) | {"connector": two}).dicts()[0]
    assert stat2["finished"] == sum(r.connector in ("hubspot", "netsuite") for r in finished(env))


def test_stopped_schedules_are_flagged_only_when_overdue(env: Env) -> None:
    f = "connector-failures.json"
    sql = sql_of(f, "Schedules that stopped firing")
    on_time = env.query(sql, variables=_vars_for(env, f)).dicts()
    jobs = Counter(r.job_id for r in env.data.runs)
    assert {r["job_id"] for r in on_time} == {j for j, k in jobs.items() if k >= 3}
    assert all(r["state"] == "on schedule" for r in on_time), on_time
    last = {j: max(r.start_ns for r in env.data.runs if r.job_id == j) for j in jobs}
    row = on_time[0]
    assert int(row["last_start"].timestamp()) == last[row["job_id"]] // 10**9
    # Half a day later with no new runs, every job's gap (~6 h) is more than doubled.
    later = TimeRange(RANGE.start, END + timedelta(hours=13), RANGE.interval)
    overdue = env.query(sql, tr=later, variables=_vars_for(env, f)).dicts()
    assert overdue and all(r["state"] == "OVERDUE" for r in overdue)


def test_runs_table_lists_every_run_with_its_status_and_counters(env: Env) -> None:
    f = "runs.json"
    vars_ = _vars_for(env, f)
    rows = {r["run_id"]: r for r in env.query(sql_of(f, "Runs"), variables=vars_).dicts()}
    assert set(rows) == {r.run_id for r in env.data.runs}
    for truth in env.data.runs:
        row = rows[truth.run_id]
        assert row["status"] == truth.status
        assert row["connector"] == truth.connector and row["tenant"] == truth.tenant
        assert row["job_id"] == truth.job_id
        if truth.status != sc.RunStatus.RUNNING:
            assert row["sync_type"] == truth.sync_type and row["run_trigger"] == truth.trigger
            assert {c: row[c] for c in truth.counters} == truth.counters
            assert row["failure_cause"] == truth.failure_cause
            assert row["duration_s"] == pytest.approx((truth.end_ns - truth.start_ns) / 1e9)
        else:
            assert row["duration_s"] is None


def test_runs_filters_status_and_search(env: Env) -> None:
    f = "runs.json"
    errors = Variable(["error"], options=["ok", "error", "running"])
    rows = env.query(sql_of(f, "Runs"), variables=_vars_for(env, f) | {"status": errors}).dicts()
    assert {r["run_id"] for r in rows} == {r.run_id for r in failed(env)}
    running = Variable(["running"], options=["ok", "error", "running"])
    rows = env.query(sql_of(f, "Runs"), variables=_vars_for(env, f) | {"status": running}).dicts()
    assert [r["run_id"] for r in rows] == [r.run_id for r in env.data.runs if r.status == "running"]

    target = next(r for r in env.data.runs if r.external_ids)
    ext = target.external_ids[0]
    rows = env.query(sql_of(f, "Runs"), variables=_vars_for(env, f) | {"search": Variable(ext)}).dicts()
    assert {r["run_id"] for r in rows} == {r.run_id for r in env.data.runs if ext in r.external_ids}
    rows = env.query(
        sql_of(f, "Runs"), variables=_vars_for(env, f) | {"search": Variable(target.run_id)}
    ).dicts()
    assert [r["run_id"] for r in rows] == [target.run_id] and rows[0]["status"] == target.status
    # The search ORs several look-ups; they must stay inside the other filters (connector here).
    other = next(c for c in datagen.CONNECTORS if c != target.connector)
    narrowed = _vars_for(env, f) | {
        "search": Variable(target.run_id),
        "connector": Variable([other], options=list(datagen.CONNECTORS)),
    }
    assert env.query(sql_of(f, "Runs"), variables=narrowed).rows == []
    by_job = env.query(
        sql_of(f, "Runs"), variables=_vars_for(env, f) | {"search": Variable(target.job_id)}
    ).dicts()
    assert {r["run_id"] for r in by_job} == {r.run_id for r in env.data.runs if r.job_id == target.job_id}
    # A quote in the search box is data, not SQL.
    rows = env.query(
        sql_of(f, "Runs"), variables=_vars_for(env, f) | {"search": Variable("x' OR '1'='1")}
    ).dicts()
    assert rows == []


def test_runs_and_failure_counts_agree_with_the_query_api(env: Env) -> None:
    """Both read `connector_runs` with the concepts of `collector.schema.concepts`: same runs, same
    status, same counters, same number of failed and running runs."""
    api = list_runs(
        env.client,
        RunFilters(
            time=ApiTimeRange(int(RANGE.start.timestamp() * 1e9), int(RANGE.end.timestamp() * 1e9)), limit=500
        ),
        FULL,
    ).items
    assert len(api) == len(env.data.runs)
    rows = {
        r["run_id"]: r
        for r in env.query(sql_of("runs.json", "Runs"), variables=_vars_for(env, "runs.json")).dicts()
    }
    assert set(rows) == {r.run_id for r in api}
    for summary in api:
        row = rows[summary.run_id]
        assert (row["status"], row["connector"], row["tenant"], row["job_id"], row["failure_cause"]) == (
            summary.status,
            summary.connector,
            summary.tenant,
            summary.job_id,
            summary.failure_cause,
        )
        if summary.status != sc.RunStatus.RUNNING:
            assert {c.value: row[c.value] for c in sc.Counter} == summary.counters.model_dump()
            assert row["errors"] == summary.error_count
            assert row["duration_s"] * 1000 == pytest.approx(summary.duration_ms)
    f = "connector-failures.json"
    stat = env.query(sql_of(f, "Runs in range"), variables=_vars_for(env, f)).dicts()[0]
    by_status = Counter(s.status for s in api)
    assert (stat["failed"], stat["running"]) == (
        by_status[sc.RunStatus.ERROR],
        by_status[sc.RunStatus.RUNNING],
    )
    assert stat["finished"] == len(api) - by_status[sc.RunStatus.RUNNING]


def test_run_detail_shows_the_run_as_sent(env: Env) -> None:
    f = "run-detail.json"
    run = a_failed_run(env)
    vars_ = _vars_for(env, f) | {"run_id": Variable(run.run_id)}
    summary = env.query(sql_of(f, "Run"), variables=vars_).dicts()
    assert len(summary) == 1 and summary[0]["status"] == "error"
    assert summary[0]["failure_cause"] == run.failure_cause
    steps = env.query(sql_of(f, "Steps"), variables=vars_).dicts()
    assert [s["step"] for s in steps] == run.steps
    assert steps[-1]["status"] == "error" and steps[-1]["failure_cause"] == run.failure_cause
    assert sum(s["fetched"] for s in steps) == run.counters["fetched"]
    records = env.query(sql_of(f, "Records"), variables=vars_).dicts()
    assert sorted(r["external_id"] for r in records) == sorted(run.external_ids)
    calls = env.query(sql_of(f, "HTTP calls"), variables=vars_).dicts()
    assert len(calls) == run.calls
    assert sum(c["failure_cause"] != "" for c in calls) == run.failed_calls
    assert sum(bool(c["failed"]) for c in calls) == run.failed_calls
    trace = env.query(sql_of(f, "Trace"), variables=vars_).dicts()
    assert len(trace) == run.span_count
    assert {t["traceID"] for t in trace} == {run.run_id}
    root = [t for t in trace if t["operationName"] == sc.SPAN_RUN]
    assert len(root) == 1 and root[0]["duration"] == pytest.approx((run.end_ns - run.start_ns) / 1e6)
    assert root[0]["parentSpanID"] == "" and all(
        len(t["parentSpanID"]) == 16 for t in trace if t is not root[0]
    )
    assert any(e["fields"] for t in trace for e in t["logs"])  # the fault event travels as a span log
    # The event's name in the tuple's `name`, its time as epoch milliseconds, as the plugin's own trace SQL.
    events = [e for t in trace for e in t["logs"]]
    assert {e["name"] for e in events} == {sc.EXCEPTION_EVENT}
    assert all(run.start_ns // 10**6 <= int(e["timestamp"]) <= run.end_ns // 10**6 for e in events)
    assert all(sc.EXCEPTION_TYPE in {fld["key"] for fld in e["fields"]} for e in events)
    logs = env.query(sql_of(f, "Logs"), variables=vars_).dicts()
    assert logs and {entry["traceID"] for entry in logs} == {run.run_id}
    # An unknown run id shows nothing rather than erroring.
    empty = _vars_for(env, f) | {"run_id": Variable("0" * 32)}
    assert env.query(sql_of(f, "Steps"), variables=empty).rows == []


def test_call_detail_shows_request_and_response(env: Env) -> None:
    f = "call-detail.json"
    run = a_failed_run(env)
    call_id, status = _failed_call(env, run.run_id)
    for run_var in (Variable(run.run_id), Variable("")):  # with and without the optional run id
        vars_ = _vars_for(env, f) | {"call_id": Variable(call_id), "run_id": run_var}
        summary = env.query(sql_of(f, "Call"), variables=vars_).dicts()
        assert len(summary) == 1 and summary[0]["status"] == status and summary[0]["run_id"] == run.run_id
        req = {
            r["header"]: r["value"] for r in env.query(sql_of(f, "Request headers"), variables=vars_).dicts()
        }
        assert req["authorization"] == sc.redacted("header") and req["accept"] == "application/json"
    if status:
        resp = env.query(sql_of(f, "Response body"), variables=vars_).dicts()
        assert '"error"' in resp[0]["body"]
        headers = {r["header"] for r in env.query(sql_of(f, "Response headers"), variables=vars_).dicts()}
        assert "content-type" in headers


def test_logs_dashboard_severity_threshold(env: Env) -> None:
    f = "logs.json"
    sev = DASHBOARDS[f]["templating"]["list"][1]
    opts = [o["value"] for o in sev["options"]]
    errors_only = _vars_for(env, f) | {"min_severity": Variable("17", options=opts)}
    rows = env.query(sql_of(f, "Logs"), variables=errors_only).dicts()
    assert len(rows) == env.data.log_severities["ERROR"] and {r["level"] for r in rows} == {"ERROR"}
    everything = _vars_for(env, f) | {"min_severity": Variable("1", options=opts)}
    volume = env.query(sql_of(f, "Log volume by severity"), variables=everything).dicts()
    assert (
        Counter({k: v for k, v in _sum_by(volume, "severity", "records").items()}) == env.data.log_severities
    )


def _sum_by(rows: list[dict[str, Any]], key: str, value: str) -> dict[str, int]:
    out: Counter[str] = Counter()
    for r in rows:
        out[r[key]] += r[value]
    return dict(out)


def test_call_context_walks_up_to_the_run(env: Env) -> None:
    """A hand-built run (run > step > page > entity > call) written through the ingest table.

    Built here rather than taken from datagen so the parent links are known exactly; it is
    placed three days back, outside the range the other tests query.
    """
    t0 = END - timedelta(days=3)
    trace_id, service = uuid.uuid4().hex, "ctx-connector"
    ids = {name: uuid.uuid4().hex[:16] for name in ("run", "step", "page", "entity", "call")}
    spans = [  # (key, parent key, name, attributes)
        ("run", None, sc.SPAN_RUN, {sc.ROLE: "run", sc.RUN_STATUS: "error"}),
        ("step", "run", sc.SPAN_STEP, {sc.ROLE: "step", sc.STEP_NAME: "contacts"}),
        ("page", "step", sc.SPAN_PAGE, {sc.ROLE: "page", sc.STEP_NAME: "contacts", sc.PAGE_NUMBER: "2"}),
        (
            "entity",
            "page",
            sc.SPAN_ENTITY,
            {sc.ROLE: "entity", sc.ENTITY_EXTERNAL_ID: "c-1", sc.ENTITY_ACTION: "fail"},
        ),
        (
            "call",
            "entity",
            "POST",
            {
                sc.ROLE: "http",
                sc.HTTP_REQUEST_METHOD: "POST",
                sc.HTTP_RESPONSE_STATUS_CODE: "500",
                sc.HTTP_REQUEST_HEADER_PREFIX + "accept": "application/json",
                sc.HTTP_RESPONSE_BODY: '{"error": "boom"}',
            },
        ),
    ]
    empty_map: dict[str, str] = {}
    rows = []
    for i, (key, parent, name, attrs) in enumerate(spans):
        row = {
            "Timestamp": t0 + timedelta(seconds=i),
            "TraceId": trace_id,
            "SpanId": ids[key],
            "ParentSpanId": ids[parent] if parent else "",
            "TraceState": "",
            "SpanName": name,
            "SpanKind": "Client" if key == "call" else "Internal",
            "ServiceName": service,
            "ResourceAttributes": {sc.SERVICE_NAME: service},
            "ScopeName": "connlog",
            "ScopeVersion": "",
            "SpanAttributes": attrs,
            "Duration": 1_000_000,
            "StatusCode": "Error",
            "StatusMessage": "boom",
            "Events.Timestamp": [],
            "Events.Name": [],
            "Events.Attributes": [],
            "Links.TraceId": [],
            "Links.SpanId": [],
            "Links.TraceState": [],
            "Links.Attributes": [empty_map][:0],
        }
        rows.append([row[c] for c in TRACES_INGEST_COLUMNS])
    env.client.insert(TRACES_INGEST, rows, column_names=list(TRACES_INGEST_COLUMNS))
    f = "call-detail.json"
    tr = TimeRange(t0 - timedelta(hours=1), t0 + timedelta(hours=1), RANGE.interval)
    for run_var in (Variable(trace_id), Variable("")):
        vars_ = {"call_id": Variable(ids["call"]), "run_id": run_var}
        context = env.query(sql_of(f, "Where this call belongs"), tr=tr, variables=vars_).dicts()
        assert [c["level"] for c in context] == ["run", "step", "page", "entity"]
        assert context[2]["page"] == 2 and context[3]["external_id"] == "c-1"
        body = env.query(sql_of(f, "Response body"), tr=tr, variables=vars_).dicts()
        assert body == [{"body": '{"error": "boom"}'}]


TRACE_PANELS = [(f, t, s) for f, t, s, _ in ALL_QUERIES if re.search(r"FROM otel_traces\s", s)]


@pytest.mark.parametrize(("file", "title", "sql"), TRACE_PANELS, ids=[f"{f}:{t}" for f, t, _ in TRACE_PANELS])
def test_trace_queries_use_the_primary_key(env: Env, file: str, title: str, sql: str) -> None:
    """ClickHouse's own plan shows the sort key (Role, and ServiceName where known) pruning."""
    expanded = expand(sql, RANGE, _vars_for(env, file))
    plan = "\n".join(str(r[0]) for r in env.client.query("EXPLAIN indexes = 1 " + expanded).result_rows)
    table = ".otel_traces_payloads" if "FROM otel_traces_payloads" in sql else ".otel_traces"
    reads = [part for part in plan.split("ReadFromMergeTree (")[1:] if part.split(")")[0].endswith(table)]
    assert reads, plan
    # Reads by `_part_offset` (lazy materialization after ORDER BY ... LIMIT) do no index
    # analysis; every read that does must use the key.
    analysed = [
        m
        for read in reads
        if (m := re.search(r"PrimaryKey[^\n]*\n[^\n]*Keys:[^\n]*\n((?:[│ ]+\w+\n)+)", read))
    ]
    assert analysed, plan
    for found in analysed:
        keys = set(found.group(1).replace("│", " ").split())
        # Payloads are keyed (ServiceName, TraceId, SpanId): the call look-up is a key range.
        assert ({"ServiceName", "TraceId"} if table.endswith("payloads") else {"Role"}) <= keys, (keys, plan)
    if "run_service" in sql or "tupleElement(c, 1)" in sql:
        assert "ServiceName" in keys, keys


RUN_PANELS = [(f, t, s) for f, t, s, _ in ALL_QUERIES if f"FROM {names.RUNS}" in s]


@pytest.mark.parametrize(("file", "title", "sql"), RUN_PANELS, ids=[f"{f}:{t}" for f, t, _ in RUN_PANELS])
def test_run_queries_use_the_primary_key(env: Env, file: str, title: str, sql: str) -> None:
    """`connector_runs` is sorted by (ServiceName, Timestamp, TraceId): the time range prunes it."""
    expanded = expand(sql, RANGE, _vars_for(env, file))
    plan = "\n".join(str(r[0]) for r in env.client.query("EXPLAIN indexes = 1 " + expanded).result_rows)
    reads = [p for p in plan.split("ReadFromMergeTree (")[1:] if p.split(")")[0].endswith(f".{names.RUNS}")]
    assert reads, plan
    for read in reads:
        found = re.search(r"PrimaryKey[^\n]*\n[^\n]*Keys:[^\n]*\n((?:[│ ]+\w+\n)+)", read)
        assert found, plan
        keys = set(found.group(1).replace("│", " ").split())
        assert names.C_TIMESTAMP in keys, (keys, plan)
        if "run_service" in sql:
            assert names.C_SERVICE_NAME in keys, keys
