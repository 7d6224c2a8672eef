"""What each query reads: tables touched and granule estimates (EXPLAIN ESTIMATE).

Lists and viewer drill-downs never read the payload table; drill-downs into one run start
with the trace-id lookup table; record search is a search-index read. On this small dataset
every part is one granule, so ratios are checked in the benchmark, not here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from test_api_support import ApiEnv, api  # noqa: F401 - session fixture

from collector.schema import names as n
from collector.store import connect
from query_api.db import ReadStats, collect_stats
from query_api.queries.calls import CallFilters, get_call, list_calls
from query_api.queries.common import TimeRange
from query_api.queries.entities import EntityFilters, list_entities
from query_api.queries.faults import FaultFilters, list_faults
from query_api.queries.logs import LogFilters, list_logs
from query_api.queries.pages import list_pages
from query_api.queries.runs import RunFilters, get_run, list_runs
from query_api.queries.search import search_in_run, search_runs
from query_api.queries.traces import get_trace
from query_api.scope import FULL, Scope

VIEWER = Scope(payloads=False)


@pytest.fixture(scope="module")
def ch(api: ApiEnv) -> Iterator[Client]:  # noqa: F811
    client = connect(api.settings)
    yield client
    client.close()


def _reads(fn: Callable[[], Any]) -> ReadStats:
    with collect_stats(estimate=True) as stats:
        fn()
    return stats


def test_lists_and_viewer_routes_never_read_payloads(api: ApiEnv, ch: Client) -> None:  # noqa: F811
    time = TimeRange(api.start_ns - 10**9)
    t = next(t for t in api.truth if t.status == "error")
    step = next(s.span_id for s in api.sent.by_trace[t.run_id] if s.attrs.get("connector.role") == "step")
    call = next(s.span_id for s in api.sent.by_trace[t.run_id] if s.attrs.get("connector.role") == "http")
    cases: dict[str, Callable[[], Any]] = {
        "runs": lambda: list_runs(ch, RunFilters(time=time), FULL),
        "run": lambda: get_run(ch, t.run_id, VIEWER),
        "pages": lambda: list_pages(ch, t.run_id, step, FULL),
        "entities": lambda: list_entities(ch, t.run_id, EntityFilters(), FULL),
        "calls": lambda: list_calls(ch, CallFilters(time=time, status=None), FULL),
        "call (viewer)": lambda: get_call(ch, call, VIEWER),
        "trace": lambda: get_trace(ch, t.run_id, FULL),
        "search": lambda: search_runs(ch, t.job_id, time, FULL),
        "search in run": lambda: search_in_run(ch, t.steps[0], t.run_id, FULL),
        "faults (viewer)": lambda: list_faults(ch, FaultFilters(time=time), VIEWER),
        "logs": lambda: list_logs(ch, LogFilters(time=time), FULL),
    }
    for name, fn in cases.items():
        stats = _reads(fn)
        assert n.PAYLOADS not in stats.granule_rows, name
        assert stats.queries >= 1
    admin = _reads(lambda: get_call(ch, call, FULL))
    assert n.PAYLOADS in admin.granule_rows


def test_drill_downs_start_from_the_trace_id_lookup(api: ApiEnv, ch: Client) -> None:  # noqa: F811
    t = api.truth[1]
    stats = _reads(lambda: get_run(ch, t.run_id, VIEWER))
    assert stats.per_query[0][0] == "trace_bounds" and n.TRACE_ID_TS in stats.granule_rows
    total = int(ch.command(f"SELECT count() FROM {n.TRACES}"))
    assert 0 < stats.granule_rows[n.TRACES] <= total * 3


def test_record_search_is_an_index_read(api: ApiEnv, ch: Client) -> None:  # noqa: F811
    ext = next(x for t in api.truth for x in t.external_ids)
    stats = _reads(lambda: search_runs(ch, ext, TimeRange(api.start_ns - 10**9), FULL))
    assert stats.per_query[0][0] == "search_index" and n.SEARCH_INDEX in stats.granule_rows
    assert n.PAYLOADS not in stats.granule_rows


def test_read_statistics_reach_the_response_headers(api: ApiEnv) -> None:  # noqa: F811
    resp = api.get("/api/v1/runs")
    assert int(resp.headers["x-connlog-read-rows"]) > 0 and int(resp.headers["x-connlog-read-bytes"]) > 0
