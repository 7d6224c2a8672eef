"""What each query reads: tables touched and granule estimates (EXPLAIN ESTIMATE).

Lists and viewer drill-downs never read the payload table; drill-downs into one run start
with the trace-id lookup table; record search is a search-index read. On this small dataset
every part is one granule, so ratios are checked in the benchmark, not here.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from clickhouse_connect.driver.client import Client

from connlog.collector.schema import names as n
from connlog.query_api.db import ReadStats, collect_stats
from connlog.query_api.queries.calls import CallFilters, get_call, list_calls
from connlog.query_api.queries.common import TimeRange
from connlog.query_api.queries.entities import EntityFilters, list_entities
from connlog.query_api.queries.faults import FaultFilters, list_faults
from connlog.query_api.queries.logs import LogFilters, list_logs
from connlog.query_api.queries.pages import list_pages
from connlog.query_api.queries.runs import RunFilters, get_run, list_runs
from connlog.query_api.queries.search import search_in_run, search_runs
from connlog.query_api.queries.traces import get_trace
from connlog.query_api.scope import FULL, Scope
from tests.api_env import ApiEnv

VIEWER = Scope(payloads=False)


def _reads(fn: Callable[[], Any]) -> ReadStats:
    with collect_stats(estimate=True) as stats:
        fn()
    return stats


def test_lists_and_viewer_routes_never_read_payloads(api: ApiEnv, api_db: Client) -> None:
    time = TimeRange(api.start_ns - 10**9)
    t = next(t for t in api.truth if t.status == "error")
    step = next(s.span_id for s in api.sent.by_trace[t.run_id] if s.attrs.get("connector.role") == "step")
    call = next(s.span_id for s in api.sent.by_trace[t.run_id] if s.attrs.get("connector.role") == "http")
    cases: dict[str, Callable[[], Any]] = {
        "runs": lambda: list_runs(api_db, RunFilters(time=time), FULL),
        "run": lambda: get_run(api_db, t.run_id, VIEWER),
        "pages": lambda: list_pages(api_db, t.run_id, step, FULL),
        "entities": lambda: list_entities(api_db, t.run_id, EntityFilters(), FULL),
        "calls": lambda: list_calls(api_db, CallFilters(time=time, status=None), FULL),
        "call (viewer)": lambda: get_call(api_db, call, VIEWER),
        "trace": lambda: get_trace(api_db, t.run_id, FULL),
        "search": lambda: search_runs(api_db, t.job_id, time, FULL),
        "search in run": lambda: search_in_run(api_db, t.steps[0], t.run_id, FULL),
        "faults (viewer)": lambda: list_faults(api_db, FaultFilters(time=time), VIEWER),
        "logs": lambda: list_logs(api_db, LogFilters(time=time), FULL),
    }
    for name, fn in cases.items():
        stats = _reads(fn)
        assert n.PAYLOADS not in stats.granule_rows, name
        assert stats.queries >= 1
    admin = _reads(lambda: get_call(api_db, call, FULL))
    assert n.PAYLOADS in admin.granule_rows


def test_drill_downs_start_from_the_trace_id_lookup(api: ApiEnv, api_db: Client) -> None:
    t = api.truth[1]
    stats = _reads(lambda: get_trace(api_db, t.run_id, VIEWER))
    assert stats.per_query[0][0] == "trace_bounds" and n.TRACE_ID_TS in stats.granule_rows
    total = int(api_db.query(f"SELECT count() FROM {n.TRACES}").result_rows[0][0])
    assert 0 < stats.granule_rows[n.TRACES] <= total * 3


def _tables(stats: ReadStats, *labels: str) -> set[str]:
    return {table for label, table, _ in stats.query_tables if label in labels}


def test_run_detail_is_one_query_and_admin_keys_add_the_payload_table(api: ApiEnv, api_db: Client) -> None:
    """The run row, steps and root faults (`connector_faults`, migration 7) in one query, within
    the run's bounds (the trace-id table as a scalar subquery, which `EXPLAIN ESTIMATE` does not
    list); an admin key's fault headers come from the payload table in that same query, a
    viewer's never touch it."""
    t = next(t for t in api.truth if t.status == "error")
    viewer = _reads(lambda: get_run(api_db, t.run_id, VIEWER))
    assert [q[0] for q in viewer.per_query] == ["run_detail"]
    assert _tables(viewer, "run_detail") == {n.RUNS, n.TRACES, n.FAULTS}
    admin = _reads(lambda: get_run(api_db, t.run_id, FULL))
    assert [q[0] for q in admin.per_query] == ["run_detail"]
    assert _tables(admin, "run_detail") == {n.RUNS, n.TRACES, n.FAULTS, n.PAYLOADS}


def test_run_detail_faults_carry_the_same_headers_as_the_faults_list(api: ApiEnv, api_db: Client) -> None:
    """The headers read inside the run detail query are those the faults list reads its own way
    (`faults.fault_headers`): the failed call's under each fault, else the fault span's own."""
    time = TimeRange(api.start_ns - 10**9)
    failed = [t for t in api.truth if t.status == "error"]
    with_headers = 0
    for t in failed:
        detail = get_run(api_db, t.run_id, FULL)
        listed = list_faults(api_db, FaultFilters(time=time, run_id=t.run_id, limit=500), FULL).items
        assert sorted(detail.faults, key=lambda f: f.span_id) == sorted(listed, key=lambda f: f.span_id)
        with_headers += sum(1 for f in detail.faults if f.response_headers)
        assert all(f.response_headers is None for f in get_run(api_db, t.run_id, VIEWER).faults)
    assert with_headers  # the comparison covered faults that have stored headers


_RUN_LABELS = ("list_runs", "running_counters")


def test_finished_runs_are_listed_and_searched_without_reading_otel_traces(
    api: ApiEnv,
    api_db: Client,
) -> None:
    time = TimeRange(api.start_ns - 10**9)
    for status in ("ok", "error"):
        stats = _reads(partial(list_runs, api_db, RunFilters(time=time, status=status), FULL))
        assert stats.granule_rows.keys() == {n.RUNS}, status
    # A record only finished runs touched: building the run hits reads connector_runs only.
    running = {t.run_id for t in api.truth if t.status == "running"}
    touched: dict[str, set[str]] = {}
    for t in api.truth:
        for ext in t.external_ids:
            touched.setdefault(ext, set()).add(t.run_id)
    ext = next(x for x, runs in sorted(touched.items()) if not runs & running)
    found: list[Any] = []
    stats = _reads(lambda: found.append(search_runs(api_db, ext, time, FULL)))
    assert {h.run.run_id for h in found[0].runs} == touched[ext]
    assert _tables(stats, *_RUN_LABELS) == {n.RUNS}
    # The control: a page with running runs does read their steps from otel_traces.
    stats = _reads(lambda: list_runs(api_db, RunFilters(time=time, status="running"), FULL))
    assert _tables(stats, "list_runs") == {n.RUNS}
    assert _tables(stats, "running_counters") == {n.TRACES}


def test_a_finished_run_is_its_finished_row_not_its_start_marker(api: ApiEnv, api_db: Client) -> None:
    t = next(t for t in api.truth if t.status == "error" and t.counters["fetched"])
    rows = api_db.query(
        f"SELECT {n.C_FINISHED}, {n.C_RUN_STATUS}, Fetched, {n.C_EXIT_CODE} FROM {n.RUNS}"
        f" WHERE {n.C_TRACE_ID} = {{t:String}} ORDER BY {n.C_FINISHED}",
        parameters={"t": t.run_id},
    ).result_rows
    # Both rows exist and disagree, so reading the marker would show up below.
    assert [tuple(r) for r in rows] == [
        (False, "running", 0, 0),
        (True, "error", t.counters["fetched"], t.exit_code),
    ]
    listed = list_runs(
        api_db, RunFilters(time=TimeRange(api.start_ns - 10**9), run_ids=(t.run_id,)), FULL
    ).items
    detail = get_run(api_db, t.run_id, FULL).run
    for run in (listed[0], detail):
        assert (run.status, run.exit_code, run.counters.fetched) == (
            "error",
            t.exit_code,
            t.counters["fetched"],
        )
        assert run.duration_ms is not None


def test_record_search_is_an_index_read(api: ApiEnv, api_db: Client) -> None:
    ext = next(x for t in api.truth for x in t.external_ids)
    stats = _reads(lambda: search_runs(api_db, ext, TimeRange(api.start_ns - 10**9), FULL))
    assert stats.per_query[0][0] == "search_index" and n.RECORD_TOUCHES in stats.granule_rows
    assert n.PAYLOADS not in stats.granule_rows


def test_read_statistics_reach_the_response_headers(api: ApiEnv) -> None:
    resp = api.get("/api/v1/runs")
    assert int(resp.headers["x-connlog-read-rows"]) > 0 and int(resp.headers["x-connlog-read-bytes"]) > 0
