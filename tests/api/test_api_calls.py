"""HTTP calls: the list and its filters, one call's payload and cURL, and trace waterfalls."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import replace
from urllib.parse import urlsplit

import pytest
from clickhouse_connect.driver.client import Client

from connlog.instrumentation import semconv as sc
from connlog.query_api.db import collect_stats
from connlog.query_api.queries.calls import MAX_PARENTS, CallFilters, list_calls, run_calls_and_tree
from connlog.query_api.queries.common import MAX_PAGE, TimeRange, trace_bounds
from connlog.query_api.queries.tree import run_tree
from connlog.query_api.scope import FULL, Scope
from tests.api_env import SCOPED, SCOPED_CONNECTOR, VIEWER, ApiEnv, SentSpan

CALLS = "/api/v1/calls"


def _sent_calls(api: ApiEnv) -> list[SentSpan]:
    return api.sent.role("http")


def test_every_call_is_listed_newest_first(api: ApiEnv) -> None:
    items = api.all_items(CALLS, limit=137)
    sent = {s.span_id: s for s in _sent_calls(api)}
    assert len(items) == len(sent) == sum(t.calls for t in api.truth)
    assert {c["call_id"] for c in items} == set(sent)
    keys = [(c["start_ns"], c["call_id"]) for c in items]
    assert keys == sorted(keys, reverse=True)
    for c in items:
        s = sent[c["call_id"]]
        assert (c["run_id"], c["method"], c["url"], c["host"]) == (
            s.trace_id,
            s.attrs[sc.HTTP_REQUEST_METHOD],
            s.attrs[sc.URL_FULL],
            s.attrs[sc.SERVER_ADDRESS],
        )
        assert c["http_status"] == (s.attrs.get(sc.HTTP_RESPONSE_STATUS_CODE) or None)
        assert c["failure_cause"] == s.attrs.get(sc.FAILURE_CAUSE, "")
        assert c["duration_ms"] == pytest.approx((s.end_ns - s.start_ns) / 1e6)
        assert c["resend_count"] == s.attrs.get(sc.HTTP_REQUEST_RESEND_COUNT, 0)


@pytest.mark.parametrize(
    ("status", "low", "high"),
    [("404", 404, 404), ("400-499", 400, 499), (">=400", 400, 999), ("<300", 0, 299), (">429", 430, 999)],
)
def test_status_filters(api: ApiEnv, status: str, low: int, high: int) -> None:
    got = {c["call_id"] for c in api.all_items(CALLS, status=status, limit=500)}
    expected = {
        s.span_id
        for s in _sent_calls(api)
        if low <= int(s.attrs.get(sc.HTTP_RESPONSE_STATUS_CODE, 0)) <= high
    }
    assert got == expected


def test_field_filters(api: ApiEnv) -> None:
    sent = _sent_calls(api)
    cases: list[tuple[dict[str, str], Callable[[SentSpan], bool]]] = [
        ({"connector": "netsuite"}, lambda s: s.connector == "netsuite"),
        ({"host": "api.hubapi.com"}, lambda s: s.attrs[sc.SERVER_ADDRESS] == "api.hubapi.com"),
        ({"method": "post"}, lambda s: s.attrs[sc.HTTP_REQUEST_METHOD] == "POST"),
        ({"failure_cause": "rate_limited"}, lambda s: s.attrs.get(sc.FAILURE_CAUSE) == "rate_limited"),
        ({"failure_cause": "timeout"}, lambda s: s.attrs.get(sc.FAILURE_CAUSE) == "timeout"),
        ({"url_contains": "/internal/records/"}, lambda s: "/internal/records/" in s.attrs[sc.URL_FULL]),
        ({"url_contains": "objects/deals"}, lambda s: "objects/deals" in s.attrs[sc.URL_FULL]),
        ({"url_contains": "100%"}, lambda s: False),
        ({"direction": "outgoing"}, lambda s: True),
        ({"direction": "incoming"}, lambda s: False),
        ({"run": api.truth[4].run_id}, lambda s: s.trace_id == api.truth[4].run_id),
        ({"min_duration_ms": "500"}, lambda s: s.end_ns - s.start_ns >= 500_000_000),
        (
            {"connector": "hubspot", "status": ">=400"},
            lambda s: s.connector == "hubspot" and s.attrs.get(sc.HTTP_RESPONSE_STATUS_CODE, 0) >= 400,
        ),
    ]
    for params, keep in cases:
        got = {c["call_id"] for c in api.all_items(CALLS, limit=500, **params)}
        assert got == {s.span_id for s in sent if keep(s)}, params
        assert params == {"url_contains": "100%"} or params == {"direction": "incoming"} or got


def test_step_and_entity_filters_follow_the_span_tree(api: ApiEnv) -> None:
    def below(trace: str, root: str) -> set[str]:
        spans = api.sent.by_trace[trace]
        out: set[str] = set()
        frontier = {root}
        while frontier:
            frontier = {s.span_id for s in spans if s.parent_id in frontier} - out
            out |= frontier
        return {s.span_id for s in spans if s.span_id in out and s.attrs.get(sc.ROLE) == "http"}

    t = api.truth[0]
    for step in api.ok(f"/api/v1/runs/{t.run_id}")["steps"]:
        expected = below(t.run_id, step["step_id"])
        assert {c["call_id"] for c in api.all_items(CALLS, run=t.run_id, step=step["step_id"])} == expected
        assert {c["call_id"] for c in api.all_items(CALLS, step=step["step_id"])} == expected
    assert any(below(t.run_id, s["step_id"]) for s in api.ok(f"/api/v1/runs/{t.run_id}")["steps"])
    entity_calls = 0
    for ext in t.external_ids[:5]:
        entity_spans = [s for s in api.sent.by_trace[t.run_id] if s.attrs.get(sc.ENTITY_EXTERNAL_ID) == ext]
        expected = {
            c.span_id
            for e in entity_spans
            for c in api.sent.by_trace[t.run_id]
            if c.parent_id == e.span_id and c.attrs.get(sc.ROLE) == "http"
        }
        assert {c["call_id"] for c in api.all_items(CALLS, entity=ext)} == expected
        entity_calls += len(expected)
    assert entity_calls
    assert api.all_items(CALLS, entity="no-such-record") == []
    assert api.all_items(CALLS, step="0123456789abcdef") == []


def test_parent_filter_lists_the_calls_made_directly_under_given_spans(api: ApiEnv) -> None:
    """`parent`: calls whose parent span is one of the ids, paged with the usual cursors, with or
    without `run`, scopes applied; bad ids are refused with the parameter named."""
    sent = _sent_calls(api)
    t = next(t for t in api.truth if t.connector != SCOPED_CONNECTOR)
    by_parent: dict[str, set[str]] = {}
    for s in sent:
        if s.trace_id == t.run_id:
            by_parent.setdefault(s.parent_id, set()).add(s.span_id)
    busy = sorted(by_parent, key=lambda p: -len(by_parent[p]))[:3]
    assert len(busy) == 3 and len(by_parent[busy[0]]) > 1
    expected = set().union(*(by_parent[p] for p in busy))
    for params in ({"run": t.run_id}, {}):
        # limit 1: every row comes through a cursor, so paging is what is tested
        got = api.all_items(CALLS, parent=",".join(busy), limit=1, **params)
        assert {c["call_id"] for c in got} == expected and len(got) == len(expected), params
        assert all(c["parent_id"] in busy for c in got)
    one = api.all_items(CALLS, parent=busy[0].upper(), run=t.run_id)
    assert {c["call_id"] for c in one} == by_parent[busy[0]]
    # Combined with another filter, both apply.
    posts = api.all_items(CALLS, parent=",".join(busy), method="post", run=t.run_id)
    assert {c["call_id"] for c in posts} == {
        s.span_id for s in sent if s.span_id in expected and s.attrs[sc.HTTP_REQUEST_METHOD] == "POST"
    }
    # A key scoped to another connector sees none of them.
    assert api.all_items(CALLS, key=SCOPED, parent=",".join(busy)) == []
    for bad in ("xyz", f"{busy[0]},", "0" * 17, ",".join(f"{i:016x}" for i in range(MAX_PARENTS + 1))):
        resp = api.get(CALLS, parent=bad)
        assert resp.status_code == 422, resp.text[:200]
        assert resp.json()["error"]["field"] == "parent"


def test_run_filter_reads_the_runs_bounds_in_the_same_query(api: ApiEnv, api_db: Client) -> None:
    """`run` (with or without `parent`) is one round trip: the bounds come as a scalar subquery;
    an unknown run or one outside the key's scope lists nothing."""
    t = api.truth[2]
    f = CallFilters(time=TimeRange(0, None), run_id=t.run_id, limit=MAX_PAGE)
    with collect_stats() as stats:
        got = list_calls(api_db, f, FULL)
    assert [q[0] for q in stats.per_query] == ["list_calls"]
    assert {c.call_id for c in got.items} == {s.span_id for s in _sent_calls(api) if s.trace_id == t.run_id}
    assert list_calls(api_db, replace(f, run_id="0" * 32), FULL).items == []
    other = Scope(connectors=("no-such-connector",))
    assert list_calls(api_db, f, other).items == []


def test_run_screen_reads_calls_and_tree_in_one_query(api: ApiEnv, api_db: Client) -> None:
    """`run_calls_and_tree` answers what `list_calls` with `run` and `run_tree` answer, in one
    round trip; the cursor of a cut page is `list_calls`'s, and scopes still hide the run."""
    for t in api.truth[:4]:
        f = CallFilters(time=TimeRange(0, None), run_id=t.run_id, limit=2)
        with collect_stats() as stats:
            page, tree = run_calls_and_tree(api_db, t.run_id, FULL, 2)
        assert [q[0] for q in stats.per_query] == ["run_calls_and_tree"]
        expected = list_calls(api_db, f, FULL)
        assert page == expected
        bounds = trace_bounds(api_db, t.run_id, FULL)
        assert bounds is not None
        assert tree == run_tree(api_db, bounds)
        assert set(tree.nodes) == {s.span_id for s in api.sent.spans.values() if s.trace_id == t.run_id}
        if expected.next_cursor:
            older = list_calls(api_db, replace(f, cursor=expected.next_cursor), FULL)
            assert older.items and older.items[0].start_ns <= page.items[-1].start_ns
    hidden, empty = run_calls_and_tree(
        api_db, api.truth[0].run_id, Scope(connectors=("no-such-connector",)), 2
    )
    assert hidden.items == [] and empty.nodes == {}


def test_call_detail_payload_curl_and_trigger(api: ApiEnv) -> None:
    sent = [s for s in _sent_calls(api) if s.attrs.get(sc.HTTP_REQUEST_BODY)][:3] + [
        s for s in _sent_calls(api) if s.attrs.get(sc.HTTP_RESPONSE_STATUS_CODE, 0) >= 400
    ][:2]
    for s in sent:
        d = api.ok(f"{CALLS}/{s.span_id}")
        assert d["payload_visible"] is True
        assert d["timing"]["duration_ms"] == pytest.approx((s.end_ns - s.start_ns) / 1e6)
        assert d["timing"]["start"] < d["timing"]["end"]
        req_headers = {
            k.removeprefix(sc.HTTP_REQUEST_HEADER_PREFIX): v
            for k, v in s.attrs.items()
            if k.startswith(sc.HTTP_REQUEST_HEADER_PREFIX)
        }
        resp_headers = {
            k.removeprefix(sc.HTTP_RESPONSE_HEADER_PREFIX): v
            for k, v in s.attrs.items()
            if k.startswith(sc.HTTP_RESPONSE_HEADER_PREFIX)
        }
        assert d["request"]["headers"] == req_headers
        assert d["request"]["headers"]["authorization"] == sc.redacted("header")
        assert d["response"]["headers"] == resp_headers
        assert d["request"]["body"] == s.attrs.get(sc.HTTP_REQUEST_BODY, "")
        assert d["response"]["body"] == s.attrs.get(sc.HTTP_RESPONSE_BODY, "")
        assert d["response"]["status"] == (s.attrs.get(sc.HTTP_RESPONSE_STATUS_CODE) or None)
        argv = shlex.split(d["curl"])
        assert argv[:4] == ["curl", "-X", s.attrs[sc.HTTP_REQUEST_METHOD], s.attrs[sc.URL_FULL]]
        assert f"authorization: {sc.redacted('header')}" in argv
        assert d["triggered_by"]["run_id"] == s.trace_id
        truth = next(t for t in api.truth if t.run_id == s.trace_id)
        assert d["triggered_by"]["job_id"] == truth.job_id
        parent = api.sent.spans.get(s.parent_id)
        if parent is not None and parent.attrs.get(sc.ROLE) == "page":
            assert d["triggered_by"]["page_id"] == parent.span_id
        # the run hint makes it a key read and gives the same answer
        assert api.ok(f"{CALLS}/{s.span_id}", run=s.trace_id) == d
        viewer = api.ok(f"{CALLS}/{s.span_id}", key=VIEWER)
        assert viewer["payload_visible"] is False
        assert viewer["request"]["headers"] is None and viewer["response"]["body"] is None
        assert "authorization" not in viewer["curl"]
    assert api.get(f"{CALLS}/{'a' * 16}").status_code == 404
    assert api.get(f"{CALLS}/xyz").json()["error"]["field"] == "call_id"


def test_trace_waterfall(api: ApiEnv) -> None:
    for t in api.truth[:6]:
        w = api.ok(f"/api/v1/traces/{t.run_id}")
        sent = {s.span_id: s for s in api.sent.by_trace[t.run_id]}
        assert len(w["spans"]) == t.span_count == len(sent)
        t0 = min(s.start_ns for s in sent.values())
        for span in w["spans"]:
            s = sent[span["span_id"]]
            assert span["parent_id"] == s.parent_id
            assert span["start_offset_ms"] == pytest.approx((s.start_ns - t0) / 1e6, abs=0.001)
            assert span["duration_ms"] == pytest.approx((s.end_ns - s.start_ns) / 1e6, abs=0.001)
            assert span["label"] == _label(span["role"], s)
    assert api.get(f"/api/v1/traces/{'f' * 32}").status_code == 404


def _label(role: str, s: SentSpan) -> str:
    """What a waterfall bar should read, from what was sent."""
    a = s.attrs
    if role == sc.Role.STEP.value:
        return str(a[sc.STEP_NAME])
    if role == sc.Role.PAGE.value and sc.PAGE_NUMBER in a:
        return f"page {a[sc.PAGE_NUMBER]}"
    if role == sc.Role.ENTITY.value and a.get(sc.ENTITY_EXTERNAL_ID):
        return f"{a.get(sc.ENTITY_TYPE, '')} {a[sc.ENTITY_EXTERNAL_ID]}".strip()
    if role in (sc.Role.HTTP.value, sc.Role.WEBHOOK.value) and a.get(sc.HTTP_REQUEST_METHOD):
        path = a.get(sc.URL_TEMPLATE) or urlsplit(str(a[sc.URL_FULL])).path
        return f"{a[sc.HTTP_REQUEST_METHOD]} {path}"
    return s.name
