"""`get_run_and_step`: the header read of the step screen (run row + one step, one query),
against the run detail and the sent spans; and `list_pages`' round trips."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client

from connlog.collector.schema import names as n
from connlog.instrumentation import semconv as sc
from connlog.query_api.db import collect_stats
from connlog.query_api.errors import ApiError
from connlog.query_api.queries.pages import list_pages
from connlog.query_api.queries.runs import get_run_and_step
from connlog.query_api.scope import FULL, Scope
from tests.api_env import SCOPED_CONNECTOR, ApiEnv

RUNS = "/api/v1/runs"


def test_each_step_is_the_row_the_run_detail_shows(api: ApiEnv, api_db: Client) -> None:
    checked = 0
    for t in api.truth:
        detail = api.ok(f"{RUNS}/{t.run_id}")
        for step in detail["steps"]:
            run, row = get_run_and_step(api_db, t.run_id, step["step_id"], FULL)
            assert row.model_dump() == step
            if detail["run"]["status"] != "running":  # the detail sums a running run's steps
                assert run.model_dump() == detail["run"]
            assert run.run_id == t.run_id and run.status == detail["run"]["status"]
            sent = api.sent.spans[step["step_id"]]
            assert row.name == sent.attrs[sc.STEP_NAME]
            assert row.counters.fetched == sent.attrs.get(sc.count_key("fetched"), 0)
            assert row.failure_cause == sent.attrs.get(sc.FAILURE_CAUSE, "")
            checked += 1
    assert checked > 30
    assert any(s["status"] == "error" for t in api.truth for s in api.ok(f"{RUNS}/{t.run_id}")["steps"])


def _step_and_page(api: ApiEnv) -> tuple[str, str, str]:
    """A run, one of its steps and one page span under that step."""
    for t in api.truth:
        for s in api.sent.by_trace[t.run_id]:
            if s.attrs.get(sc.ROLE) == "page":
                return t.run_id, s.parent_id, s.span_id
    raise AssertionError("the dataset has no page spans")


def test_not_a_step_of_this_run_is_404(api: ApiEnv, api_db: Client) -> None:
    run_id, step_id, page_id = _step_and_page(api)
    other = next(t.run_id for t in api.truth if t.run_id != run_id)
    for rid, sid in (
        (run_id, page_id),  # a span of the run, but a page, not a step
        (run_id, "0" * 16),  # no such span
        (other, step_id),  # a step of another run
        ("0" * 32, step_id),  # no such run
    ):
        with pytest.raises(ApiError) as err:
            get_run_and_step(api_db, rid, sid, FULL)
        assert err.value.status == 404 and err.value.message == f"step {sid} in run {rid} not found"


def test_scope_hides_other_connectors_steps(api: ApiEnv, api_db: Client) -> None:
    scoped = Scope(connectors=(SCOPED_CONNECTOR,))
    mine = next(t for t in api.truth if t.connector == SCOPED_CONNECTOR)
    theirs = next(t for t in api.truth if t.connector != SCOPED_CONNECTOR)
    step_of = {
        t.run_id: next(s.span_id for s in api.sent.by_trace[t.run_id] if s.attrs.get(sc.ROLE) == "step")
        for t in (mine, theirs)
    }
    assert (
        get_run_and_step(api_db, mine.run_id, step_of[mine.run_id], scoped)[1].step_id == step_of[mine.run_id]
    )
    with pytest.raises(ApiError) as err:
        get_run_and_step(api_db, theirs.run_id, step_of[theirs.run_id], scoped)
    assert err.value.status == 404


def test_one_query_bounded_by_the_trace_id_table_never_payloads(api: ApiEnv, api_db: Client) -> None:
    """One round trip: the run's bounds from the trace-id table (a scalar subquery), then the
    run's row and the step span within them; never the payload table."""
    run_id, step_id, _ = _step_and_page(api)
    with collect_stats(estimate=True) as stats:
        get_run_and_step(api_db, run_id, step_id, FULL)
    assert [q[0] for q in stats.per_query] == ["run_and_step"]
    assert {t for label, t, _ in stats.query_tables if label == "run_and_step"} >= {n.TRACES, n.RUNS}
    assert n.PAYLOADS not in stats.granule_rows


def test_pages_in_two_round_trips_and_unknown_runs_still_404(api: ApiEnv, api_db: Client) -> None:
    """`list_pages` reads the run's bounds inside its two queries (pages, then their calls): no
    separate bounds look-up unless nothing matched, where an unknown or hidden run is a 404 and
    a known step without pages an empty list."""
    run_id, step_id, page_id = _step_and_page(api)
    with collect_stats() as stats:
        pages = list_pages(api_db, run_id, step_id, FULL)
    assert [q[0] for q in stats.per_query] == ["pages", "page_calls"]
    assert page_id in {p.page_id for p in pages.items} and all(p.call_count for p in pages.items)
    assert list_pages(api_db, run_id, page_id, FULL).items == []  # a page has no pages
    scoped = Scope(connectors=(SCOPED_CONNECTOR,))
    theirs = next(t.run_id for t in api.truth if t.connector != SCOPED_CONNECTOR)
    for rid, scope in (("0" * 32, FULL), (theirs, scoped)):
        with pytest.raises(ApiError) as err:
            list_pages(api_db, rid, step_id, scope)
        assert err.value.status == 404
