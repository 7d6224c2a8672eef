"""A record's timeline (issue 14, search): every run that touched record X, with the action
and reason each time, from `GET /api/v1/search?q=X` (`timeline`), over runs made with the real
SDK and sent through the real collector into chDB.

`story_env` (imported by the viewer's tests) holds, by construction:
- record `rec-42` in five runs: hubspot creates it (internal id `int-42`), updates it, skips it
  ("archived in source"), fails it ("missing required field email", shape_mismatch); chargebee
  creates it too (outside the scoped key's connector);
- in the first run, a token refresh made directly under the run (before any step) and a login
  made directly under the step, beside a page call and a record call.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

import connlog as cl
from connlog.collector.config import Settings
from connlog.collector.schema import names as n
from connlog.collector.store import connect
from connlog.query_api import paths
from connlog.query_api.app import create_app
from connlog.query_api.db import collect_stats, fetch
from connlog.query_api.queries import search as search_module
from connlog.query_api.queries.common import TimeRange
from connlog.query_api.queries.search import search_runs
from connlog.query_api.scope import FULL
from connlog.query_api.timeline_models import TimelineResult
from tests.api_env import ADMIN, SCOPED, SCOPED_CONNECTOR, _auth, bearer
from tests.sdk.helpers import LocalServer
from tests.viewer.support import collecting

RECORD, INTERNAL = "rec-42", "int-42"
OTHER_CONNECTOR = "chargebee"
SKIP_REASON = "archived in source"
FAIL_REASON = "missing required field email"
# (label, connector, what the run does with RECORD), oldest first.
STORY = (
    ("create", SCOPED_CONNECTOR),
    ("update", SCOPED_CONNECTOR),
    ("skip", SCOPED_CONNECTOR),
    ("fail", SCOPED_CONNECTOR),
    ("create", OTHER_CONNECTOR),
)


@dataclass
class StoryEnv:
    app: Any
    settings: Settings
    client: TestClient
    runs: list[str]  # run ids in STORY order
    urls: dict[str, str]  # call label -> URL: refresh (under the run), login (under the step), page, record


def _record(action: str) -> None:
    """What one run does with RECORD, inside a page."""
    with cl.entity(RECORD, type="contact") as ent:
        if action == "create":
            ent.set(action="create", internal_id=INTERNAL)
        elif action == "update":
            ent.set(action="update", internal_id=INTERNAL)
        elif action == "skip":
            ent.skip(SKIP_REASON)
        else:
            ent.fail(FAIL_REASON, cause="shape_mismatch")


def _send_run(
    endpoint: str, base: str, connector: str, action: str, first: bool
) -> tuple[str, dict[str, str]]:
    handle = cl.init(connector=connector, version="2.0", endpoint=endpoint, protocol="http/protobuf")
    urls = {
        "refresh": f"{base}/echo/oauth/token",
        "login": f"{base}/echo/login",
        "page": f"{base}/crm/v3/objects/contacts",
        "record": f"{base}/crm/v3/objects/contacts/42",
    }
    try:
        with (
            cl.run(sync_type="incremental", trigger="manual", job_id=f"story-{action}") as r,
            httpx.Client() as http,
        ):
            if first:
                http.post(urls["refresh"], json={"grant_type": "refresh_token"})
            with cl.step("contacts"):
                if first:
                    http.post(urls["login"], json={"user": "svc"})
                with cl.page(1):
                    http.get(urls["page"])
                    if first:
                        with cl.entity("rec-7", type="contact", action="unchanged"):
                            http.get(urls["record"])
                    _record(action)
            run_id = str(r.run_id)
        assert handle.flush()
    finally:
        handle.shutdown()
    return run_id, urls


@pytest.fixture(scope="module")
def story_env(base_settings: Settings) -> Iterator[StoryEnv]:
    with collecting(base_settings, "story") as (settings, collector):
        target = LocalServer()
        runs: list[str] = []
        urls: dict[str, str] = {}
        try:
            for i, (action, connector) in enumerate(STORY):
                run_id, sent = _send_run(collector.http_endpoint, target.url, connector, action, first=i == 0)
                runs.append(run_id)
                urls = urls or sent
            assert collector.flush(30)
        finally:
            target.stop()
        app = create_app(settings, auth=_auth())
        with TestClient(app, raise_server_exceptions=False) as tc:
            yield StoryEnv(app, settings, tc, runs, urls)


def _search(env: StoryEnv, key: str = ADMIN, **params: str) -> TimelineResult:
    resp = env.client.get(paths.api(paths.SEARCH), params=params, headers=bearer(key))
    assert resp.status_code == 200, resp.text
    return TimelineResult.model_validate(resp.json())


def test_timeline_gives_each_runs_action_and_reason_newest_first(story_env: StoryEnv) -> None:
    env = story_env
    found = _search(env, q=RECORD)
    assert {h.run.run_id for h in found.runs} == set(env.runs)
    # One entry per run, newest first: the runs were made in STORY order.
    assert [t.run_id for t in found.timeline] == list(reversed(env.runs))
    by_run = {t.run_id: t for t in found.timeline}
    for run_id, (action, connector) in zip(env.runs, STORY, strict=True):
        touch = by_run[run_id]
        assert touch.action == action and touch.external_id == RECORD and touch.step == "contacts"
        assert touch.type == "contact" and touch.entity_id and touch.page_id
        assert touch.internal_id == (INTERNAL if action in ("create", "update") else "")
        assert next(h.run.connector for h in found.runs if h.run.run_id == run_id) == connector
    skip, fail = by_run[env.runs[2]], by_run[env.runs[3]]
    assert (skip.reason, skip.status, skip.failure_cause) == (SKIP_REASON, "ok", "")
    assert (fail.reason, fail.status, fail.failure_cause) == (FAIL_REASON, "error", "shape_mismatch")


def test_timeline_by_internal_id_and_only_for_record_ids(story_env: StoryEnv) -> None:
    env = story_env
    by_internal = _search(env, q=INTERNAL)
    assert {t.run_id for t in by_internal.timeline} == {env.runs[0], env.runs[1], env.runs[4]}
    assert {t.action for t in by_internal.timeline} == {"create", "update"}
    by_job = _search(env, q="story-skip")  # a job id finds the run, but is no record
    assert [h.run.run_id for h in by_job.runs] == [env.runs[2]] and by_job.timeline == []
    inside = _search(env, q=RECORD, scope=env.runs[0])
    assert inside.spans and inside.timeline == []
    assert _search(env, q="rec-4").timeline == []  # an exact id, not a prefix


def test_timeline_keeps_to_the_keys_connectors(story_env: StoryEnv) -> None:
    env = story_env
    scoped = _search(env, SCOPED, q=RECORD)
    assert [t.run_id for t in scoped.timeline] == list(reversed(env.runs[:4]))
    assert {h.run.connector for h in scoped.runs} == {SCOPED_CONNECTOR}


def test_timeline_reads_only_the_entity_spans_of_the_runs_found(
    story_env: StoryEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One more query, on `connector_record_touches` only (migration 8: the entity spans by
    record id; never `otel_traces` or payloads), and none for a non-record match. It reads
    typed columns only: the reason is `EntityReason`, never an attribute map."""
    sent: dict[str, str] = {}

    def recording_fetch(client: Any, sql: str, params: dict[str, Any], *, label: str = "") -> Any:
        sent[label] = sql
        return fetch(client, sql, params, label=label)

    monkeypatch.setattr(search_module, "fetch", recording_fetch)
    client = connect(story_env.settings)
    try:
        with collect_stats(estimate=True) as stats:
            found = search_runs(client, RECORD, TimeRange(0), FULL)
        assert len(found.timeline) == len(STORY)
        timeline = [(label, table) for label, table, _ in stats.query_tables if label == "search_timeline"]
        assert timeline == [("search_timeline", n.RECORD_TOUCHES)]
        assert n.C_ENTITY_REASON in sent["search_timeline"]
        assert n.C_SPAN_ATTRIBUTES not in sent["search_timeline"]
        assert n.PAYLOADS not in stats.granule_rows
        with collect_stats() as stats:
            search_runs(client, "story-skip", TimeRange(0), FULL)
        assert "search_timeline" not in {q[0] for q in stats.per_query}
    finally:
        client.close()
