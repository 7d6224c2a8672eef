"""Injection attempts in every filter, strict parameters, and `/sql` refusing writes and DDL."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest

from connlog.collector.schema import names as n
from connlog.collector.store import connect
from connlog.query_api.errors import ApiError
from connlog.query_api.queries.adhoc import SqlLimits, SqlRunner, check_sql
from tests.api_env import ADMIN, ApiEnv, bearer

ATTACKS = [
    "' OR 1=1 --",
    "\\'",
    "{x:String}",
    "'; DROP TABLE otel_traces; --",
    "%",
    "_",
    "\\",
    "\u0000",
    "é' OR ''='",
]

# (url, free-text parameters) of every list route.
TEXT_FILTERS: list[tuple[str, list[str]]] = [
    ("/api/v1/runs", ["connector", "sync_type", "trigger", "job_id", "version", "tenant", "cursor"]),
    (
        "/api/v1/calls",
        ["connector", "host", "url_contains", "entity", "status", "method", "run", "step", "cursor"],
    ),
    ("/api/v1/faults", ["connector", "host", "type", "status", "run", "cursor"]),
    ("/api/v1/logs", ["connector", "text", "run", "severity", "cursor"]),
    ("/api/v1/search", ["q", "scope"]),
    ("/api/v1/export/calls.csv", ["url_contains", "host"]),
]


def _rows(resp: Any) -> int:
    data = resp.json()
    return len(data.get("items", data.get("runs", [])))


@pytest.mark.parametrize(("url", "params"), TEXT_FILTERS)
def test_injection_in_every_filter_is_inert(api: ApiEnv, url: str, params: list[str]) -> None:
    before = api.client.post(
        "/api/v1/sql", json={"query": f"SELECT count() FROM {n.TRACES}"}, headers=bearer(ADMIN)
    )
    for param in params:
        for attack in ATTACKS:
            extra = {"q": "x"} if url.endswith("/search") and param != "q" else {}
            resp = api.get(url, **{param: attack}, **extra)
            assert resp.status_code in (200, 422), (param, attack, resp.text)
            if resp.status_code == 422:
                assert resp.json()["error"]["field"] == param
            elif not url.endswith(".csv"):
                # `%` and `_` are literal in url_contains/text, so nothing matches any of these values.
                assert _rows(resp) == 0, (param, attack)
    after = api.client.post(
        "/api/v1/sql", json={"query": f"SELECT count() FROM {n.TRACES}"}, headers=bearer(ADMIN)
    )
    assert before.json()["rows"] == after.json()["rows"]


def test_injection_in_path_and_enum_parameters(api: ApiEnv) -> None:
    for attack in ATTACKS:
        seg = quote(attack, safe="")
        for url in (f"/api/v1/runs/{seg}", f"/api/v1/calls/{seg}", f"/api/v1/traces/{seg}"):
            assert api.get(url).status_code in (404, 422)
        for url, param in (
            ("/api/v1/runs", "status"),
            ("/api/v1/calls", "direction"),
            ("/api/v1/faults", "cause"),
        ):
            assert api.get(url, **{param: attack}).status_code == 422


def test_unknown_repeated_and_bad_parameters_are_422(api: ApiEnv) -> None:
    cases = [
        ("/api/v1/runs", {"conector": "hubspot"}, "conector"),
        ("/api/v1/runs", {"limit": "0"}, "limit"),
        ("/api/v1/runs", {"limit": "501"}, "limit"),
        ("/api/v1/runs", {"from": "2026-13-01"}, "from"),
        ("/api/v1/runs", {"from": "2026-01-02", "to": "2026-01-01"}, "from"),
        ("/api/v1/runs", {"to": "inf"}, "to"),
        ("/api/v1/runs", {"has_failures": "maybe"}, "has_failures"),
        ("/api/v1/runs", {"min_duration_ms": "-1"}, "min_duration_ms"),
        ("/api/v1/runs", {"cursor": "eyJ4Ijog"}, "cursor"),
        ("/api/v1/calls", {"status": "4xx"}, "status"),
        ("/api/v1/calls", {"status": "500-400"}, "status"),
        ("/api/v1/calls", {"cursor": api.ok("/api/v1/runs", limit=1)["next_cursor"]}, "cursor"),
        ("/api/v1/logs", {"severity": "loud"}, "severity"),
    ]
    for url, params, field in cases:
        resp = api.get(url, **params)
        assert resp.status_code == 422, (url, params, resp.text)
        assert resp.json()["error"]["field"] == field, (url, params, resp.json())
    resp = api.client.get("/api/v1/runs?connector=a&connector=b", headers=bearer(ADMIN))
    assert resp.status_code == 422 and resp.json()["error"]["field"] == "connector"


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO otel_traces_trace_id_ts (TraceId) VALUES ('x')",
        "ALTER TABLE otel_traces DELETE WHERE 1",
        "DROP TABLE otel_traces",
        "CREATE TABLE x (a Int8) ENGINE = Memory",
        "SYSTEM FLUSH LOGS",
        "TRUNCATE TABLE otel_logs",
        "SET readonly = 0",
        "SELECT 1; DROP TABLE otel_traces",
        "select 1 ; select 2",
        "SELECT 1 INTO OUTFILE '/tmp/x'",
        "GRANT ALL ON *.* TO default",
        "KILL QUERY WHERE 1",
        "OPTIMIZE TABLE otel_traces FINAL",
        "",
        "   ;  ",
        "SELECT 'unterminated",
    ],
)
def test_sql_refuses_anything_but_one_read(api: ApiEnv, sql: str) -> None:
    resp = api.client.post("/api/v1/sql", json={"query": sql}, headers=bearer(ADMIN))
    assert resp.status_code in (400, 422), resp.text
    assert resp.json()["error"]["code"] in (
        "sql_not_read_only",
        "sql_not_allowed",
        "sql_empty",
        "sql_syntax",
        "invalid_parameter",
    )


def test_sql_reads_with_limits_and_engine_side_readonly(api: ApiEnv) -> None:
    def post(q: str) -> httpx.Response:
        resp: httpx.Response = api.client.post("/api/v1/sql", json={"query": q}, headers=bearer(ADMIN))
        return resp

    ok = post(f"SELECT Role, count() AS c FROM {n.TRACES} GROUP BY Role ORDER BY Role;")
    assert ok.status_code == 200
    body = ok.json()
    assert [c["name"] for c in body["columns"]] == ["Role", "c"]
    assert sum(r[1] for r in body["rows"]) == len(api.sent.spans)
    assert body["stats"]["elapsed_ms"] > 0
    # literals may contain ';' and keywords
    assert post("SELECT 'a; DROP TABLE x' AS s").json()["rows"] == [["a; DROP TABLE x"]]
    # settings overrides and file/url access are refused (tests/api/test_api_sql_guard.py has the rest)
    for q in (
        "SELECT 1 SETTINGS readonly = 0",
        "SELECT 1 SETTINGS max_result_rows = 0",
        "SELECT * FROM file('/etc/passwd', 'LineAsString')",
        "SELECT * FROM url('http://127.0.0.1:9/', 'CSV')",
    ):
        resp = post(q)
        assert resp.status_code == 400 and resp.json()["error"]["code"] == "sql_not_allowed", (q, resp.text)
    big = post("SELECT arrayJoin(range(1000000)) AS number")
    assert big.status_code == 200 and big.json()["truncated"] is True and big.json()["row_count"] == 10_000
    assert big.headers["X-Connlog-Sql-Truncated"] == "rows"
    # the list routes' clients were not touched by the SQL session's settings
    assert api.ok("/api/v1/runs", limit=500)["items"]


def test_chdb_honours_readonly_on_a_locked_session(api: ApiEnv) -> None:
    runner = SqlRunner(lambda: connect(api.settings), SqlLimits(max_result_rows=5))
    try:
        session = runner._session()
        with pytest.raises(Exception, match=r"READONLY|readonly"):
            session.command(f"INSERT INTO {n.TRACE_ID_TS} (TraceId) VALUES ('x')")
        with pytest.raises(Exception, match=r"READONLY|readonly"):
            session.command("CREATE TABLE should_not_exist (a Int8) ENGINE = Memory")
        runner._idle.put(session)
        assert runner.run("SELECT arrayJoin(range(100)) AS n").row_count == 5
        # a session that lost its settings (server-side session timeout) is locked again
        fresh = connect(api.settings)
        runner._idle.get_nowait().close()
        runner._idle.put(fresh)
        assert runner.run("SELECT arrayJoin(range(100)) AS n").row_count == 5
        assert str(fresh.command("SELECT getSetting('readonly')")) == "1"
        fresh.close()
    finally:
        runner.close()
    other = connect(api.settings)
    try:
        assert other.command("SELECT getSetting('readonly')") in (0, "0")
        assert other.command(f"SELECT count() FROM {n.TRACE_ID_TS} WHERE TraceId = 'x'") in (0, "0")
    finally:
        other.close()


def test_check_sql_trims_and_refuses_what_needs_no_parser() -> None:
    assert check_sql("  select 1 ;  ") == "select 1"
    assert check_sql("-- note\nSELECT 1") == "-- note\nSELECT 1"
    for q in ("", "  ;  ", "x" * 100_001):
        with pytest.raises(ApiError):
            check_sql(q)


def test_error_shape_for_unknown_routes_methods_and_bodies(api: ApiEnv) -> None:
    for resp, status in (
        (api.client.get("/api/v1/nope", headers=bearer(ADMIN)), 404),
        (api.client.delete("/api/v1/runs", headers=bearer(ADMIN)), 405),
        (api.client.post("/api/v1/sql", json={"query": "SELECT 1", "extra": 1}, headers=bearer(ADMIN)), 422),
        (api.client.post("/api/v1/sql", content=b"not json", headers=bearer(ADMIN)), 422),
        (api.client.get("/api/v1/runs", params={"bogus": "1"}), 401),  # auth before parameter checks
    ):
        assert resp.status_code == status, resp.text
        assert set(resp.json()) == {"error"} and resp.json()["error"]["code"]
    assert api.client.get("/docs").status_code == 200
    spec = api.client.get("/openapi.json").json()
    assert "/api/v1/runs" in spec["paths"] and "/api/v1/export/calls.pdf" in spec["paths"]
    assert api.client.get("/healthz").json() == {"status": "ok"}
    assert api.client.get("/readyz").status_code == 200
