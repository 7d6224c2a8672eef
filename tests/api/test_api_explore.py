"""Search, root faults and logs, compared with what was sent."""

from __future__ import annotations

from collections import Counter as Tally

from connlog.instrumentation import semconv as sc
from connlog.query_api.timeutil import NS
from tests.api_env import ApiEnv

SEARCH = "/api/v1/search"


def test_search_by_record_id_job_id_and_run_id(api: ApiEnv) -> None:
    t = next(t for t in api.truth if t.external_ids)
    ext = t.external_ids[0]
    res = api.ok(SEARCH, q=ext)
    assert {h["run"]["run_id"] for h in res["runs"]} == {r.run_id for r in api.truth if ext in r.external_ids}
    assert all("external_id" in h["matched"] for h in res["runs"])
    internal = f"int-{ext}"
    sent_internal = {
        s.trace_id for s in api.sent.role("entity") if s.attrs.get(sc.ENTITY_INTERNAL_ID) == internal
    }
    assert {h["run"]["run_id"] for h in api.ok(SEARCH, q=internal)["runs"]} == sent_internal
    res = api.ok(SEARCH, q=t.job_id)
    assert {h["run"]["run_id"] for h in res["runs"]} == {r.run_id for r in api.truth if r.job_id == t.job_id}
    res = api.ok(SEARCH, q=t.run_id.upper())
    assert [h["run"]["run_id"] for h in res["runs"]] == [t.run_id] and res["runs"][0]["matched"] == ["run_id"]
    assert api.ok(SEARCH, q="nothing-matches-this")["runs"] == []


def test_search_by_url_fragment_and_error_text(api: ApiEnv) -> None:
    res = api.ok(SEARCH, q="objects/deals")
    expected = {s.trace_id for s in api.sent.role("http") if "objects/deals" in s.attrs[sc.URL_FULL]}
    assert {h["run"]["run_id"] for h in res["runs"]} == expected and expected
    res = api.ok(SEARCH, q="Unauthorized")
    expected = {s.trace_id for s in api.sent.spans.values() if s.error and "Unauthorized" in s.message}
    assert {h["run"]["run_id"] for h in res["runs"]} == expected and expected
    assert all("error" in h["matched"] for h in res["runs"])
    assert {h["run"]["run_id"] for h in api.ok(SEARCH, q="unauthorized")["runs"]} == expected


def test_search_window_bounds_the_lookup(api: ApiEnv) -> None:
    t = next(t for t in api.truth if t.external_ids)
    later = str((t.end_ns // NS) + 60)
    assert t.run_id not in {
        h["run"]["run_id"] for h in api.ok(SEARCH, q=t.external_ids[0], **{"from": later})["runs"]
    }


def test_search_inside_a_run(api: ApiEnv) -> None:
    t = next(t for t in api.truth if len(t.external_ids) > 2)
    ext = t.external_ids[1]
    res = api.ok(SEARCH, q=ext, scope=t.run_id)
    hits = [(h["kind"], h["span_id"]) for h in res["spans"]]
    expected_entities = [
        s.span_id for s in api.sent.by_trace[t.run_id] if s.attrs.get(sc.ENTITY_EXTERNAL_ID) == ext
    ]
    expected_calls = [
        s.span_id
        for s in api.sent.by_trace[t.run_id]
        if s.attrs.get(sc.ROLE) == "http" and ext in s.attrs[sc.URL_FULL]
    ]
    assert sorted(hits) == sorted(
        [("entity", e) for e in expected_entities] + [("call", c) for c in expected_calls]
    )
    step = t.steps[0]
    kinds = Tally(h["kind"] for h in api.ok(SEARCH, q=step, scope=t.run_id)["spans"])
    assert kinds["step"] == 1
    assert api.get(SEARCH, q=ext, scope="zz").status_code == 422
    assert api.get(SEARCH, q=ext, scope="0" * 32).status_code == 404


def _sent_faults(api: ApiEnv) -> list[tuple[str, dict[str, object]]]:
    return [
        (s.trace_id, {**e[1], "cause": s.attrs.get(sc.FAILURE_CAUSE, "")})
        for s in api.sent.spans.values()
        for e in s.events
        if e[0] == sc.EXCEPTION_EVENT
    ]


def test_faults_list_groups_and_filters(api: ApiEnv) -> None:
    sent = _sent_faults(api)
    assert sent
    items = api.all_items("/api/v1/faults", limit=2)
    assert sorted((f["run_id"], f["message"]) for f in items) == sorted(
        (tid, e[sc.EXCEPTION_MESSAGE]) for tid, e in sent
    )
    page = api.ok("/api/v1/faults", limit=1)
    by_cause = {g["key"]: g["count"] for g in page["groups"]["by_cause"]}
    assert by_cause == dict(Tally(str(e["cause"]) for _, e in sent))
    by_status = {g["key"]: g["count"] for g in page["groups"]["by_status"]}
    assert by_status == dict(Tally(str(e.get(sc.FAULT_STATUS_CODE, "none")) for _, e in sent))
    assert sum(g["count"] for g in page["groups"]["by_host"]) == len(sent)
    for cause in by_cause:
        assert len(api.all_items("/api/v1/faults", cause=cause)) == by_cause[cause]
    assert len(api.all_items("/api/v1/faults", status="400-499")) == sum(
        1 for _, e in sent if 400 <= int(str(e.get(sc.FAULT_STATUS_CODE, 0))) <= 499
    )
    one = items[0]
    assert [f["span_id"] for f in api.all_items("/api/v1/faults", run=one["run_id"])] == [one["span_id"]]
    assert all(f["response_headers"] is not None for f in items)
    # a fault with an HTTP status carries the failed call's response headers (admin only)
    assert all(
        f["response_headers"].get("content-type") == "application/json"
        for f in items
        if f["status_code"] and f["status_code"] >= 400
    )
    viewer = api.all_items("/api/v1/faults", key="viewer-key-000000000000000")
    assert all(f["response_headers"] is None for f in viewer) and len(viewer) == len(items)


def test_logs_severity_thresholds_in_both_vocabularies(api: ApiEnv) -> None:
    logs = api.sent.logs
    assert {r["span_id"] for r in api.all_items("/api/v1/logs", limit=500)} >= {lg.span_id for lg in logs}
    assert len(api.all_items("/api/v1/logs", limit=7)) == len(logs)
    errors = sum(1 for lg in logs if lg.severity_number >= 17)
    warns = sum(1 for lg in logs if lg.severity_number >= 13)
    infos = sum(1 for lg in logs if lg.severity_number >= 9)
    assert errors and warns >= errors and infos > warns
    for params, count in [
        ({"severity": "error"}, errors),
        ({"severity": "3"}, errors),  # syslog err
        ({"severity": "ERR"}, errors),
        ({"severity_number": "17"}, errors),
        ({"severity": "4"}, warns),  # syslog warning
        ({"severity": "warn"}, warns),
        ({"severity": "6"}, infos),  # syslog info
        ({"severity": "debug"}, len(logs)),
        ({"severity": "emerg"}, 0),
    ]:
        assert len(api.all_items("/api/v1/logs", limit=500, **params)) == count, params
    assert api.get("/api/v1/logs", severity="9").status_code == 422
    assert api.get("/api/v1/logs", severity_number="25").json()["error"]["field"] == "severity_number"


def test_logs_filters_and_span_links(api: ApiEnv) -> None:
    logs = api.sent.logs
    t = api.truth[2]
    got = api.all_items("/api/v1/logs", run=t.run_id)
    assert sorted(r["body"] for r in got) == sorted(lg.body for lg in logs if lg.trace_id == t.run_id)
    assert all(r["run_id"] == t.run_id and len(r["span_id"]) == 16 for r in got)
    assert (
        api.client.get(
            got[0]["trace_url"], headers={"Authorization": "Bearer admin-key-0000000000000000"}
        ).json()["trace_id"]
        == t.run_id
    )
    assert len(api.all_items("/api/v1/logs", connector="chargebee")) == sum(
        1 for lg in logs if lg.connector == "chargebee"
    )
    assert len(api.all_items("/api/v1/logs", text="FAILED:")) == sum(
        1 for lg in logs if "failed:" in lg.body.lower()
    )
    keys = [(r["timestamp_ns"], r["run_id"]) for r in api.all_items("/api/v1/logs", limit=3)]
    assert [k[0] for k in keys] == sorted((k[0] for k in keys), reverse=True)
