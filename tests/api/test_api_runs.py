"""Runs, run detail, pages and entities, compared with what datagen sent through the collector."""

from __future__ import annotations

from collections import Counter as Tally
from datetime import UTC, datetime

import pytest

from connlog.instrumentation import semconv as sc
from connlog.query_api.timeutil import NS
from tests.api_env import ApiEnv

RUNS = "/api/v1/runs"


def test_every_run_is_listed_with_its_facts(api: ApiEnv) -> None:
    items = api.all_items(RUNS, limit=7)
    assert sorted(r["run_id"] for r in items) == sorted(t.run_id for t in api.truth)
    by_id = {r["run_id"]: r for r in items}
    for t in api.truth:
        row = by_id[t.run_id]
        assert (row["connector"], row["tenant"], row["version"]) == (t.connector, t.tenant, t.version)
        assert (row["status"], row["sync_type"], row["trigger"], row["job_id"]) == (
            t.status,
            t.sync_type,
            t.trigger,
            t.job_id,
        )
        assert row["start_ns"] == t.start_ns
        assert row["exit_code"] == t.exit_code
        assert row["counters"] == t.counters
        if t.status == "running":
            assert row["duration_ms"] is None
        else:
            assert row["duration_ms"] == pytest.approx((t.end_ns - t.start_ns) / 1e6, abs=0.01)
            assert row["failure_cause"] == t.failure_cause
            assert row["error_count"] == t.counters["failed"] + (1 if t.status == "error" else 0)


def test_newest_first_with_a_stable_tiebreaker_across_pages(api: ApiEnv) -> None:
    items = api.all_items(RUNS, limit=3)
    keys = [(r["start_ns"], r["run_id"]) for r in items]
    assert keys == sorted(keys, reverse=True)
    assert len(set(keys)) == len(keys) == len(api.truth)
    # The two running runs start at the same instant: the run id breaks the tie.
    running = [r for r in items if r["status"] == "running"]
    assert len(running) == 2 and running[0]["start_ns"] == running[1]["start_ns"]


@pytest.mark.parametrize(
    ("param", "attr"),
    [
        ("connector", "connector"),
        ("status", "status"),
        ("sync_type", "sync_type"),
        ("trigger", "trigger"),
        ("job_id", "job_id"),
        ("tenant", "tenant"),
        ("version", "version"),
    ],
)
def test_equality_filters(api: ApiEnv, param: str, attr: str) -> None:
    for value in sorted({getattr(t, attr) for t in api.truth}):
        got = {r["run_id"] for r in api.all_items(RUNS, limit=500, **{param: value})}
        assert got == {t.run_id for t in api.truth if getattr(t, attr) == value}, value


def test_failure_filters(api: ApiEnv) -> None:
    failing = {t.run_id for t in api.truth if t.status == "error" or t.counters["failed"]}
    assert {r["run_id"] for r in api.all_items(RUNS, has_failures="true")} == failing
    assert {r["run_id"] for r in api.all_items(RUNS, has_failures="false")} == {
        t.run_id for t in api.truth
    } - failing
    causes = Tally(t.failure_cause for t in api.truth if t.failure_cause)
    assert len(causes) >= 5
    for cause, count in causes.items():
        assert len(api.all_items(RUNS, failure_cause=cause)) == count


def test_time_range_and_min_duration(api: ApiEnv) -> None:
    starts = sorted(t.start_ns for t in api.truth)
    lo, hi = starts[5] // NS, starts[15] // NS  # whole seconds: `from` inclusive, `to` exclusive
    got = {r["run_id"] for r in api.all_items(RUNS, **{"from": str(lo), "to": str(hi)})}
    expected = {t.run_id for t in api.truth if lo * NS <= t.start_ns < hi * NS}
    assert got == expected and len(expected) == 10
    iso_to = datetime.fromtimestamp(hi, UTC).isoformat()
    assert {r["run_id"] for r in api.all_items(RUNS, **{"from": str(lo * 1000), "to": iso_to})} == expected
    iso_from = "1970-01-01T00:00:00Z"
    assert len(api.all_items(RUNS, **{"from": iso_from})) == len(api.truth)
    durations = sorted((t.end_ns - t.start_ns) / 1e6 for t in api.truth if t.status != "running")
    cut = durations[len(durations) // 2]
    got_long = api.all_items(RUNS, min_duration_ms=str(cut))
    assert len(got_long) == sum(1 for d in durations if d >= cut)


def test_default_window_is_the_last_24_hours(api: ApiEnv) -> None:
    resp = api.client.get(
        RUNS, params={"limit": 500}, headers={"Authorization": "Bearer admin-key-0000000000000000"}
    )
    assert resp.status_code == 200
    horizon = api.end_ns - 24 * 3600 * NS
    assert {r["run_id"] for r in resp.json()["items"]} >= {
        t.run_id for t in api.truth if t.start_ns > horizon + 60 * NS
    }
    assert all(r["start_ns"] >= horizon - 120 * NS for r in resp.json()["items"])


def test_run_detail_steps_and_faults(api: ApiEnv) -> None:
    for t in api.truth:
        d = api.ok(f"{RUNS}/{t.run_id}")
        assert d["run"]["run_id"] == t.run_id and d["run"]["status"] == t.status
        sent_steps = [s for s in api.sent.by_trace[t.run_id] if s.attrs.get(sc.ROLE) == "step"]
        assert (
            [s["name"] for s in d["steps"]]
            == t.steps
            == [s.attrs[sc.STEP_NAME] for s in sorted(sent_steps, key=lambda s: s.start_ns)]
        )
        for step in d["steps"]:
            sent = next(s for s in sent_steps if s.attrs[sc.STEP_NAME] == step["name"])
            assert step["rate_limited"] == (sent.attrs.get(sc.RATE_LIMITED) == "true")
            assert step["counters"]["fetched"] == sent.attrs.get(sc.count_key("fetched"), 0)
            assert step["failure_cause"] == sent.attrs.get(sc.FAILURE_CAUSE, "")
        if t.status != "running":
            totals = {k: sum(s["counters"][k] for s in d["steps"]) for k in t.counters}
            assert totals == t.counters
        sent_faults = [
            (e[1][sc.EXCEPTION_TYPE], e[1][sc.EXCEPTION_MESSAGE])
            for s in api.sent.by_trace[t.run_id]
            for e in s.events
            if e[0] == sc.EXCEPTION_EVENT
        ]
        assert sorted((f["type"], f["message"]) for f in d["faults"]) == sorted(sent_faults)
        if t.failure_cause:
            assert [f["cause"] for f in d["faults"]] == [t.failure_cause]
            assert all(len(f["message_short"]) <= 65 for f in d["faults"])


def test_unknown_and_malformed_run_ids(api: ApiEnv) -> None:
    assert api.get(f"{RUNS}/{'0' * 32}").status_code == 404
    bad = api.get(f"{RUNS}/not-a-run")
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "run_id"


def test_pages_of_each_step_match_the_sent_spans(api: ApiEnv) -> None:
    checked = 0
    for t in api.truth[:10]:
        for step in api.ok(f"{RUNS}/{t.run_id}")["steps"]:
            pages = api.all_items(f"{RUNS}/{t.run_id}/steps/{step['step_id']}/pages", limit=1)
            sent_pages = sorted(
                (
                    s
                    for s in api.sent.by_trace[t.run_id]
                    if s.parent_id == step["step_id"] and s.attrs.get(sc.ROLE) == "page"
                ),
                key=lambda s: (s.start_ns, s.span_id),
            )
            assert [p["page_id"] for p in pages] == [s.span_id for s in sent_pages]
            for p, s in zip(pages, sent_pages, strict=True):
                calls = sorted(
                    (
                        c
                        for c in api.sent.by_trace[t.run_id]
                        if c.parent_id == s.span_id and c.attrs.get(sc.ROLE) == "http"
                    ),
                    key=lambda c: c.start_ns,
                )
                assert p["number"] == s.attrs[sc.PAGE_NUMBER]
                assert p["call_count"] == len(calls)
                if calls:
                    assert p["url"] == calls[-1].attrs[sc.URL_FULL]
                    last = calls[-1].attrs
                    same = [
                        c
                        for c in calls
                        if (c.attrs[sc.HTTP_REQUEST_METHOD], c.attrs[sc.URL_FULL])
                        == (last[sc.HTTP_REQUEST_METHOD], last[sc.URL_FULL])
                    ]
                    assert p["resend_count"] == max(
                        len(same) - 1, *(c.attrs.get(sc.HTTP_REQUEST_RESEND_COUNT, 0) for c in calls)
                    )
                checked += 1
    assert checked > 10
    assert api.get(f"{RUNS}/{api.truth[0].run_id}/steps/xyz/pages").status_code == 422


def test_entities_and_their_filters(api: ApiEnv) -> None:
    for t in api.truth[:8]:
        url = f"{RUNS}/{t.run_id}/entities"
        items = api.all_items(url, limit=4)
        assert sorted(e["external_id"] for e in items) == sorted(t.external_ids)
        sent = {s.span_id: s for s in api.sent.by_trace[t.run_id] if s.attrs.get(sc.ROLE) == "entity"}
        for e in items:
            s = sent[e["entity_id"]]
            assert e["action"] == s.attrs[sc.ENTITY_ACTION]
            assert e["internal_id"] == s.attrs.get(sc.ENTITY_INTERNAL_ID, "")
            assert e["reason"] == s.attrs.get(sc.ENTITY_REASON, "")
        for action in {e["action"] for e in items}:
            got = api.all_items(url, action=action)
            assert len(got) == sum(1 for s in sent.values() if s.attrs[sc.ENTITY_ACTION] == action)
        if t.external_ids:
            ext = t.external_ids[0]
            assert [e["external_id"] for e in api.all_items(url, external_id=ext)] == [ext]
        for step in set(t.steps):
            got = api.all_items(url, step=step)
            assert len(got) == sum(1 for s in sent.values() if s.attrs[sc.STEP_NAME] == step)
    assert api.get(f"{RUNS}/{api.truth[0].run_id}/entities", action="explode").status_code == 422


def test_concurrent_requests_share_the_pool(api: ApiEnv) -> None:
    from concurrent.futures import ThreadPoolExecutor

    t = api.truth[3]
    expected = api.ok(f"{RUNS}/{t.run_id}")
    listed = api.ok(RUNS, limit=500)

    def work(i: int) -> bool:
        if i % 2:
            return bool(api.ok(f"{RUNS}/{t.run_id}") == expected)
        return bool(api.ok(RUNS, limit=500) == listed)

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(work, range(40)))
