"""`connector_record_touches` (migration 8): a record look-up reads it and answers as before.

Before migration 8 the look-up found the runs in `connector_search_index` (daily partitions) and
read the record's timeline from the entity spans of `otel_traces` (one granule per span over a
month). `old_index_hits` and `old_timeline` below are those queries verbatim; running
`search_runs` with them swapped in gives the old answer on the same database, which the new
path must equal: same runs and match kinds, same touches, fields and order, for every scope.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from clickhouse_connect.driver.client import Client

from connlog.collector.config import Settings
from connlog.collector.schema import names as n
from connlog.collector.schema.migrate import MIGRATIONS, apply_schema, current_ttl
from connlog.instrumentation import semconv as sc
from connlog.query_api.db import fetch
from connlog.query_api.models import RunSummary
from connlog.query_api.queries import search
from connlog.query_api.queries.common import TimeRange
from connlog.query_api.queries.entities import ENTITY_COLUMNS, entity_row
from connlog.query_api.queries.search import MAX_TOUCHES, search_runs
from connlog.query_api.scope import FULL, Scope
from connlog.query_api.sqlbuild import Conditions, Params
from connlog.query_api.timeline_models import RecordTouch, TimelineResult
from connlog.query_api.timeutil import NS
from tests.api_env import ApiEnv
from tests.schema.upgrades import database_at, upgrades_after

TOUCHES_VERSION = next(m.version for m in MIGRATIONS if m.name.startswith(n.RECORD_TOUCHES))


def old_index_hits(client: Client, q: str, time: TimeRange, scope: Scope) -> dict[str, set[str]]:
    """The index look-up before migration 8 (query_api/queries/search.py at 7185ac7)."""
    params = Params()
    where = Conditions(params)
    where.eq(n.C_VALUE, q)
    where.add(f"{n.C_TIMESTAMP} >= toDateTime({params.bind(time.start_ns // NS, 'Int64')}, 'UTC')")
    if time.end_ns is not None:
        where.add(f"{n.C_TIMESTAMP} <= toDateTime({params.bind(time.end_ns // NS + 1, 'Int64')}, 'UTC')")
    scope.apply(where)
    out: dict[str, set[str]] = defaultdict(set)
    for tid, field in fetch(
        client,
        f"SELECT DISTINCT {n.C_TRACE_ID}, {n.C_FIELD} FROM {n.SEARCH_INDEX} {where.sql()} LIMIT 10000",
        params.values,
        label="search_index",
    ):
        out[tid].add(str(field))
    return out


def old_timeline(
    client: Client, q: str, runs: list[RunSummary], bounds: TimeRange, scope: Scope
) -> list[RecordTouch]:
    """The record timeline before migration 8 (query_api/queries/search.py at 7185ac7)."""
    params = Params()
    where = Conditions(params)
    where.in_(n.C_SERVICE_NAME, sorted({r.connector for r in runs}))
    scope.apply(where)
    where.eq(n.C_ROLE, sc.Role.ENTITY.value)
    bounds.apply(where)
    where.in_(n.C_TRACE_ID, [r.run_id for r in runs])
    value = params.bind(q, "String")
    where.add(f"{n.C_ENTITY_EXTERNAL_ID} = {value} OR {n.C_ENTITY_INTERNAL_ID} = {value}")
    rows = fetch(
        client,
        f"SELECT {n.C_TRACE_ID}, {ENTITY_COLUMNS} FROM {n.TRACES} {where.sql()}"
        f" ORDER BY {n.C_TIMESTAMP} DESC, {n.C_SPAN_ID} LIMIT {MAX_TOUCHES}",
        params.values,
        label="search_timeline",
    )
    return [RecordTouch(run_id=str(tid), **dict(entity_row(tuple(rest)))) for tid, *rest in rows]


@contextmanager
def old_path() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(search, "_index_hits", old_index_hits)
        mp.setattr(search, "_timeline", old_timeline)
        yield


def _both(
    client: Client, q: str, scope: Scope, time: TimeRange = TimeRange(0)
) -> tuple[TimelineResult, TimelineResult]:
    with old_path():
        old = search_runs(client, q, time, scope)
    return old, search_runs(client, q, time, scope)


# --------------------------------------------------------------------------- the api dataset
def test_timeline_equals_the_old_path_for_records_and_scopes(api: ApiEnv, api_db: Client) -> None:
    entities = [s for s in api.sent.spans.values() if s.attrs.get(sc.ROLE) == sc.Role.ENTITY.value]
    externals = sorted(
        {str(s.attrs[sc.ENTITY_EXTERNAL_ID]) for s in entities if sc.ENTITY_EXTERNAL_ID in s.attrs}
    )
    internals = sorted(
        {str(s.attrs[sc.ENTITY_INTERNAL_ID]) for s in entities if sc.ENTITY_INTERNAL_ID in s.attrs}
    )
    assert len(externals) >= 4 and internals
    jobs = sorted({str(s.attrs[sc.RUN_JOB_ID]) for s in api.sent.spans.values() if sc.RUN_JOB_ID in s.attrs})
    assert jobs
    connectors = sorted({s.connector for s in entities})
    scopes = [FULL, Scope(payloads=False), Scope(connectors=(connectors[0],)), Scope(connectors=("nobody",))]
    seen = runs = 0
    for q in [*externals[:: max(len(externals) // 6, 1)], *internals[:3], *jobs[:2]]:
        for scope in scopes:
            old, new = _both(api_db, q, scope)
            assert new == old, (q, scope)
            seen += len(new.timeline)
            runs += len(new.runs)
    assert seen > 0 and runs > 0
    # The window's edges: a touch exactly at the start, and one second before it.
    touch = min((s for s in entities if s.attrs.get(sc.ENTITY_EXTERNAL_ID)), key=lambda s: s.start_ns)
    q = str(touch.attrs[sc.ENTITY_EXTERNAL_ID])
    for start_ns in (touch.start_ns, touch.start_ns - NS, touch.start_ns + NS):
        for end_ns in (None, touch.start_ns, touch.start_ns - 2 * NS):
            old, new = _both(api_db, q, FULL, TimeRange(start_ns, end_ns))
            assert new == old, (start_ns, end_ns)


# --------------------------------------------------------------------------- upgrade
def _span(
    ts: dt.datetime,
    trace: str,
    span: str,
    parent: str,
    attrs: dict[str, str],
    *,
    service: str = "hubspot",
    status: tuple[str, str] = ("Unset", ""),
) -> list[object]:
    return [
        ts, trace, span, parent, "", "span", "Internal", service, {sc.SERVICE_NAME: service}, "connlog", "0.1.0",
        dict(sorted(attrs.items())), 2_000_000, status[0], status[1], [], [], [], [], [], [], [],
    ]  # fmt: skip


def _runs(now: dt.datetime, prefix: str) -> list[list[object]]:
    """Two runs of hubspot and one of chargebee touching record `rec-1` (internal `int-1`):
    created, skipped with a reason, failed with a status message and a cause, one entity span
    whose two ids are both `same-1`, a page span carrying an entity id `pg-1` (found, but no
    touch) and a job id `job-1` on the first run."""
    t = [now + dt.timedelta(seconds=s) for s in range(12)]
    a, b, c = ((prefix + x) * 16 for x in "abc")

    def entity(ext: str, internal: str, action: str, **extra: str) -> dict[str, str]:
        ids = {sc.ENTITY_EXTERNAL_ID: ext, sc.ENTITY_INTERNAL_ID: internal}
        attrs = {sc.ROLE: sc.Role.ENTITY.value, sc.STEP_NAME: "contacts", sc.ENTITY_TYPE: "contact"}
        return {**attrs, **{k: v for k, v in ids.items() if v}, sc.ENTITY_ACTION: action, **extra}

    run = {sc.ROLE: sc.Role.RUN.value, sc.RUN_STATUS: "ok"}
    job = {**run, sc.RUN_JOB_ID: "job-1"}
    return [
        _span(t[0], a, prefix + "0" * 15, "", job),
        _span(t[1], a, prefix + "1" * 15, prefix + "0" * 15, entity("rec-1", "int-1", "create")),
        _span(t[2], a, prefix + "2" * 15, prefix + "0" * 15, entity("same-1", "same-1", "update")),
        _span(t[3], a, prefix + "3" * 15, prefix + "0" * 15,
              {sc.ROLE: sc.Role.PAGE.value, sc.ENTITY_EXTERNAL_ID: "pg-1"}),
        _span(t[4], b, prefix + "4" * 15, "", run),
        _span(t[5], b, prefix + "5" * 15, prefix + "4" * 15,
              entity("rec-1", "", "skip", **{sc.ENTITY_REASON: "archived in source"})),
        _span(t[6], b, prefix + "6" * 15, prefix + "4" * 15,
              entity("", "int-1", "fail", **{sc.FAILURE_CAUSE: "shape_mismatch"}),
              status=("Error", "missing required field email")),
        _span(t[7], c, prefix + "7" * 15, "", run, service="chargebee"),
        _span(t[8], c, prefix + "8" * 15, prefix + "7" * 15, entity("rec-1", "cb-1", "create"),
              service="chargebee"),
    ]  # fmt: skip


QUERIES = ("rec-1", "int-1", "same-1", "cb-1", "pg-1", "job-1")
SCOPES = (FULL, Scope(connectors=("hubspot",)), Scope(connectors=("chargebee",)))


def test_database_at_migration_7_upgrades_with_identical_timelines(base_settings: Settings) -> None:
    with database_at(base_settings, TOUCHES_VERSION - 1) as (client, settings):
        cols = list(n.TRACES_INGEST_COLUMNS)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0) - dt.timedelta(minutes=5)
        client.insert(n.TRACES_INGEST, _runs(now, "a"), column_names=cols)
        with old_path():
            before = {(q, s): search_runs(client, q, TimeRange(0), s) for q in QUERIES for s in SCOPES}
        rec = before[("rec-1", FULL)].timeline
        assert [(t.action, t.reason, t.status, t.failure_cause) for t in rec] == [
            ("create", "", "ok", ""),  # chargebee
            ("skip", "archived in source", "ok", ""),
            ("create", "", "ok", ""),
        ]
        assert [t.action for t in before[("int-1", FULL)].timeline] == ["fail", "create"]
        assert before[("int-1", FULL)].timeline[0].reason == "missing required field email"
        assert len(before[("same-1", FULL)].timeline) == 1
        assert before[("rec-1", SCOPES[1])].timeline == rec[1:]
        for q, matched in (("pg-1", ["external_id"]), ("job-1", ["job_id"])):
            assert [h.matched for h in before[(q, FULL)].runs] == [matched], q
        assert before[("pg-1", FULL)].timeline == before[("job-1", FULL)].timeline == []
        assert before[("same-1", FULL)].runs[0].matched == ["external_id", "internal_id"]

        assert apply_schema(client, settings) == upgrades_after(TOUCHES_VERSION - 1)
        for (q, s), old in before.items():
            assert search_runs(client, q, TimeRange(0), s) == old, (q, s)  # backfilled

        # Spans ingested after the upgrade arrive through the view, each touch once.
        client.insert(n.TRACES_INGEST, _runs(now + dt.timedelta(minutes=1), "d"), column_names=cols)
        for q in QUERIES:
            for s in SCOPES:
                old, new = _both(client, q, s)
                assert new == old, (q, s)
        assert len(search_runs(client, "rec-1", TimeRange(0), FULL).timeline) == 6
        stored = client.query(
            f"SELECT {n.C_VALUE}, count() FROM {n.RECORD_TOUCHES} GROUP BY {n.C_VALUE} ORDER BY {n.C_VALUE}"
        ).result_rows
        # per batch: rec-1 on 3 entity spans, int-1 on 2, each other id on one span (same-1 once)
        assert stored == [("cb-1", 2), ("int-1", 4), ("job-1", 2), ("pg-1", 2), ("rec-1", 6), ("same-1", 2)]
        assert current_ttl(client, settings.database, n.RECORD_TOUCHES) == current_ttl(
            client, settings.database, n.TRACES
        )
        assert apply_schema(client, settings) == []
