"""`/sql` whitelist (issue 10 items 1 and 5): files, the server, other tables, result size, load.

Every refusal here was a 200 before the AST whitelist: the scalar `file()` returned the
server's environment, `system.*` was readable, and a 500 MB result came back whole.
"""

from __future__ import annotations

import httpx
import pytest

from connlog.collector.schema import names as n
from connlog.collector.store import connect
from connlog.query_api.errors import ApiError
from connlog.query_api.queries.adhoc import SqlLimits, SqlRunner
from connlog.query_api.routes.deps import AppState
from connlog.query_api.routes.sql import TRUNCATED_HEADER
from connlog.query_api.sql_guard import ALLOWED_TABLES, parse_dump
from tests.api_env import ADMIN, SCOPED_ADMIN, VIEWER, ApiEnv, bearer

SQL_URL = "/api/v1/sql"

REFUSED = [
    # files, the environment, the server, settings
    "SELECT file('/proc/self/environ')",
    "SELECT FILE('/etc/passwd')",
    "SELECT lower(file('/proc/self/environ'))",
    "SELECT getSetting('readonly')",
    "SELECT getServerSetting('tcp_port')",
    "SELECT hostName(), version(), uptime()",
    "SELECT currentUser()",
    "SELECT getMacro('replica')",
    "SELECT filesystemAvailable()",
    "SELECT sleep(3)",
    "SELECT throwIf(1)",
    "SELECT dictGet('d', 'a', toUInt64(1))",
    "SELECT joinGet('j', 'v', 1)",
    "SELECT catboostEvaluate('/tmp/model.bin', 1)",
    "SELECT 1 WHERE hasColumnInTable('system', 'users', 'name')",
    # tables outside the connlog ones
    "SELECT * FROM system.settings",
    "SELECT name FROM system.tables",
    "SELECT * FROM system.processes",
    "SELECT 1 WHERE 1 IN system.one",
    "SELECT * FROM default.anything",
    f"SELECT * FROM {n.MIGRATIONS}",
    f"SELECT * FROM {n.TRACES_MV}",
    f"SELECT count() FROM {n.TRACES} WHERE TraceId IN {n.MIGRATIONS}",
    f"SELECT * FROM {n.TRACES} AS t JOIN system.disks AS d ON 1 = 1",
    # table functions, also hidden in a CTE, a subquery or a UNION
    "SELECT * FROM file('/etc/passwd', 'LineAsString')",
    "SELECT * FROM url('http://127.0.0.1:9/', 'CSV', 'a String')",
    "SELECT * FROM remote('127.0.0.1', system.one)",
    "SELECT * FROM s3('http://127.0.0.1:9/b/k', 'CSV', 'a String')",
    "SELECT * FROM executable('id', 'TSV', 'a String')",
    "SELECT * FROM numbers(10)",
    "WITH x AS (SELECT * FROM url('http://127.0.0.1:9/', 'CSV', 'a String')) SELECT * FROM x",
    "SELECT * FROM (SELECT * FROM file('/etc/passwd', 'LineAsString'))",
    "SELECT 1 UNION ALL SELECT file('/etc/hostname')",
    "SELECT 1 WHERE EXISTS (SELECT * FROM system.one)",
    # settings overrides, several statements, output clauses, not a SELECT
    "SELECT 1 SETTINGS readonly = 0",
    "SELECT 1 SETTINGS max_result_rows = 0, max_result_bytes = 0",
    "SELECT 1 UNION ALL SELECT 2 SETTINGS max_execution_time = 0",
    "SELECT 1; SELECT 2",
    "SELECT 1; DROP TABLE otel_traces",
    "SELECT 1 INTO OUTFILE '/tmp/x'",
    "SELECT 1 FORMAT JSON",
    "EXPLAIN SELECT 1",
    "SHOW TABLES",
    "DESCRIBE TABLE otel_traces",
    "INSERT INTO otel_traces_trace_id_ts (TraceId) VALUES ('x')",
    "SET readonly = 0",
    # comment tricks: the parser sees through them
    "/* SELECT 1 */ SELECT file('/etc/passwd')",
    "SELECT 1 -- \n, file('/etc/passwd')",
    "SELECT/**/file/**/('/etc/passwd')",
    # a backticked name with a newline cannot forge lines of the AST dump
    "SELECT 1 AS `x\n    Function file`",
    "SELECT `otel_logs\nx`.a FROM system.one",
]

ALLOWED = [
    f"SELECT Role, count() AS c FROM {n.TRACES} GROUP BY Role ORDER BY Role",
    f"SELECT countIf(StatusCode = 'Error'), quantile(0.5)(Duration), uniqExact(TraceId) FROM {n.TRACES}",
    f"SELECT SpanAttributes['http.url'], t.Events.Name FROM {n.TRACES} AS t LIMIT 1",
    f"WITH r AS (SELECT TraceId FROM {n.RUNS}) SELECT count() FROM {n.TRACES} WHERE TraceId IN r",
    f"SELECT ServiceName FROM {n.LOGS} UNION ALL SELECT ServiceName FROM {n.RUNS}",
    f"SELECT arrayMap(x -> x * 2, [1, 2]), toStartOfHour(now()), lower('A'), cityHash64('a') FROM {n.LOGS}",
    f"SELECT domain('https://a.b/c'), JSONExtractString('{{\"a\":\"b\"}}', 'a'), toUUID(generateUUIDv4()) "
    f"FROM {n.SEARCH_INDEX} LIMIT 1",
    "/* c */ SELECT 'a; DROP TABLE x' AS s -- note",
    "SELECT row_number() OVER (ORDER BY 1), formatReadableSize(1024)",
    "SELECT 1;",
]


def _post(env: ApiEnv, query: str, key: str = ADMIN) -> httpx.Response:
    resp: httpx.Response = env.client.post(SQL_URL, json={"query": query}, headers=bearer(key))
    return resp


@pytest.mark.parametrize("query", REFUSED)
def test_refused_before_anything_runs(api: ApiEnv, query: str) -> None:
    resp = _post(api, query)
    assert resp.status_code == 400, (query, resp.text)
    error = resp.json()["error"]
    assert error["field"] == "query" and error["code"].startswith("sql_") and error["code"] != "sql_error"
    assert "CONNLOG_" not in resp.text and "root:" not in resp.text


@pytest.mark.parametrize("query", ALLOWED)
def test_analyst_queries_still_run(api: ApiEnv, query: str) -> None:
    resp = _post(api, query)
    assert resp.status_code == 200, (query, resp.text)


def test_allowed_tables_are_the_schema_names() -> None:
    assert ALLOWED_TABLES == {
        n.TRACES, n.PAYLOADS, n.TRACE_ID_TS, n.SEARCH_INDEX, n.LOGS, n.RUNS, n.FAULTS, n.RECORD_TOUCHES,
    }  # fmt: skip
    assert not ALLOWED_TABLES & {
        n.TRACES_INGEST,
        n.LOGS_INGEST,
        n.MIGRATIONS,
        n.FAULTS_MV,
        n.RECORD_TOUCHES_MV,
    }


def test_dump_with_forged_lines_is_unreadable() -> None:
    good = ["SelectWithUnionQuery (children 1)", " ExpressionList (children 1)", "  Literal UInt64_1"]
    assert parse_dump(good).children[0].children[0].name == "UInt64_1"
    for forged in (
        [*good, "  Function file"],  # one child too many
        good[:2],  # one child missing
        [*good, "x"],  # not a node line
        [*good, "   Literal 1"],  # skips a level
        ["SelectWithUnionQuery", "SelectWithUnionQuery"],  # two roots
    ):
        with pytest.raises(ApiError):
            parse_dump(forged)


def test_the_issue_result_is_cut_not_returned_whole(api: ApiEnv) -> None:
    """The issue's 500 MB query: refused by the per-query memory cap, never sent."""
    resp = _post(api, "SELECT repeat('x', 1000000) FROM (SELECT arrayJoin(range(500)))")
    assert resp.status_code == 400 and len(resp.content) < 10_000, resp.text[:300]
    assert "memory limit" in resp.json()["error"]["message"].lower()


def test_result_bytes_are_capped_while_streaming(api: ApiEnv) -> None:
    runner = SqlRunner(lambda: connect(api.settings), SqlLimits(max_result_bytes=1_000_000))
    try:
        out = runner.execute("SELECT repeat('x', 10000) AS s FROM (SELECT arrayJoin(range(1000)))")
        assert out.truncated_by == "bytes" and out.result.truncated
        assert 90 <= out.result.row_count < 100  # 10 KB rows under a 1 MB cap
        rows = runner.execute("SELECT arrayJoin(range(100000)) AS n")
        assert rows.truncated_by == "rows" and rows.result.row_count == runner.limits.max_result_rows
        small = runner.execute("SELECT arrayJoin(range(10)) AS n")
        assert small.truncated_by is None and small.result.row_count == 10
    finally:
        runner.close()
    resp = _post(api, "SELECT repeat('x', 100000) AS s FROM (SELECT arrayJoin(range(1000)))")
    assert resp.status_code == 200 and resp.headers[TRUNCATED_HEADER] == "bytes"
    assert resp.json()["truncated"] is True and len(resp.content) <= 50_100_000


def _state(env: ApiEnv) -> AppState:
    st: AppState = env.client.app.state.connlog  # type: ignore[attr-defined]
    return st


def test_saturated_sql_gets_429_while_routes_answer(api: ApiEnv) -> None:
    gate = _state(api).sql.gate
    with gate.admit("admin"):  # the ADMIN key's own query is running
        busy = _post(api, "SELECT 1")
        assert busy.status_code == 429 and busy.headers["Retry-After"] == "1"
        assert busy.json()["error"]["code"] == "too_many_queries" and "this key" in busy.text
    held = [gate.admit(f"other-{i}") for i in range(gate.total)]
    for h in held:
        h.__enter__()
    try:
        busy = _post(api, "SELECT 1")
        assert busy.status_code == 429 and int(busy.headers["Retry-After"]) >= 1
        assert "server" in busy.json()["error"]["message"]
        assert api.ok("/api/v1/runs", limit=5)["items"]  # the normal routes are untouched
        assert api.get("/api/v1/export/runs.csv", rows="5").status_code == 200
    finally:
        for h in held:
            h.__exit__(None, None, None)
    assert gate.running == 0 and _post(api, "SELECT 1").status_code == 200


def test_sql_is_for_unscoped_admins_only(api: ApiEnv) -> None:
    scoped = _post(api, f"SELECT count() FROM {n.TRACES}", SCOPED_ADMIN)
    assert scoped.status_code == 403 and "scoped to connectors" in scoped.json()["error"]["message"]
    assert _post(api, "SELECT 1", VIEWER).status_code == 403
