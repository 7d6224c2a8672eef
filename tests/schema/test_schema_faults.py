"""`connector_faults` (migration 7): the faults list reads it and answers as the old path did.

Before migration 7 the faults list expanded every `exception` span event of the window over
`otel_traces` (ARRAY JOIN). `OLD_ROOTS` below is that query verbatim; running `list_faults` and
`get_run` with it swapped in gives the old answer on the same database, which the new path
must equal: same faults, groups, order, cursors and response headers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest
from clickhouse_connect.driver.client import Client

from connlog.collector.config import Settings
from connlog.collector.schema import names as n
from connlog.collector.schema.migrate import MIGRATIONS, apply_schema, current_ttl
from connlog.instrumentation import semconv as sc
from connlog.query_api.models import FaultPage
from connlog.query_api.queries import faults
from connlog.query_api.queries.common import TimeRange
from connlog.query_api.queries.faults import FaultFilters, list_faults
from connlog.query_api.queries.runs import get_run
from connlog.query_api.queries.status_filter import StatusFilter
from connlog.query_api.scope import FULL, Scope
from connlog.query_api.sqlbuild import Conditions, Params
from tests.api_env import ApiEnv
from tests.schema.upgrades import database_at, upgrades_after

FAULTS_VERSION = next(m.version for m in MIGRATIONS if m.name.startswith(n.FAULTS))
VIEWER = Scope(payloads=False)


def _ev(key: str) -> str:
    return f"ev_attrs['{key}']"


# The root-faults query before migration 7 (query_api/queries/faults.py at b8aae79).
OLD_ROOTS = f"""
SELECT
    {n.C_TRACE_ID} AS run_id, {n.C_SPAN_ID} AS span_id, {n.C_SERVICE_NAME} AS connector,
    toUnixTimestamp64Nano(ev_ts) AS ts_ns,
    {_ev(sc.EXCEPTION_TYPE)} AS type,
    if({_ev(sc.FAULT_URL)} != '', {_ev(sc.FAULT_URL)}, {n.C_HTTP_URL}) AS uri,
    if({n.C_HTTP_HOST} != '', {n.C_HTTP_HOST}, domain(uri)) AS host,
    if({_ev(sc.EXCEPTION_MESSAGE)} != '', {_ev(sc.EXCEPTION_MESSAGE)}, {n.C_STATUS_MESSAGE}) AS message,
    if(toUInt16OrZero({_ev(sc.FAULT_STATUS_CODE)}) > 0, toUInt16OrZero({_ev(sc.FAULT_STATUS_CODE)}),
       {n.C_HTTP_STATUS}) AS status_code,
    if({n.C_FAILURE_CAUSE} != '', {n.C_FAILURE_CAUSE}, {_ev(sc.FAILURE_CAUSE)}) AS cause
FROM {n.TRACES}
ARRAY JOIN `{n.C_EVENTS_TIMESTAMP}` AS ev_ts, `{n.C_EVENTS_NAME}` AS ev_name, `{n.C_EVENTS_ATTRIBUTES}` AS ev_attrs
{{where}}
ORDER BY ts_ns ASC, span_id ASC
LIMIT 1 BY run_id, type, message
"""


def _old_base_where(params: Params, scope: Scope) -> Conditions:
    where = Conditions(params)
    scope.apply(where)
    where.add(f"has(`{n.C_EVENTS_NAME}`, '{sc.EXCEPTION_EVENT}')")
    where.add(f"ev_name = '{sc.EXCEPTION_EVENT}'")
    return where


@contextmanager
def old_path() -> Iterator[None]:
    """The faults queries as they were before migration 7 (reading `otel_traces`)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(faults, "_ROOTS", OLD_ROOTS)
        mp.setattr(faults, "_base_where", _old_base_where)
        yield


def _pages(client: Client, f: FaultFilters, scope: Scope) -> list[FaultPage]:
    """Every page of a listing, following its cursors."""
    pages = [list_faults(client, f, scope)]
    while pages[-1].next_cursor:
        pages.append(list_faults(client, replace(f, cursor=pages[-1].next_cursor), scope))
    return pages


def _both(client: Client, f: FaultFilters, scope: Scope) -> tuple[list[FaultPage], list[FaultPage]]:
    with old_path():
        old = _pages(client, f, scope)
    return old, _pages(client, f, scope)


# --------------------------------------------------------------------------- the api dataset
def test_faults_list_equals_the_old_path_for_every_filter_and_scope(api: ApiEnv, api_db: Client) -> None:
    time = TimeRange(api.start_ns - 10**9)
    everything = list_faults(api_db, FaultFilters(time=time, limit=1000), FULL)
    assert len(everything.items) >= 3 and everything.next_cursor is None
    first = everything.items[0]
    mid = everything.items[len(everything.items) // 2]
    host = next(g.key for g in everything.groups.by_host if g.key != "unknown")
    cases = [
        (FaultFilters(time=time, limit=2), FULL),
        (FaultFilters(time=time, limit=3), VIEWER),
        (FaultFilters(time=TimeRange(mid.timestamp_ns - 10**9, api.end_ns), limit=2), FULL),
        (FaultFilters(time=time, connector=first.connector), FULL),
        (FaultFilters(time=time, run_id=first.run_id), FULL),
        (FaultFilters(time=time, cause=first.cause, limit=2), FULL),
        (FaultFilters(time=time, host=host), VIEWER),
        (FaultFilters(time=time, type=first.type), FULL),
        (FaultFilters(time=time, status=StatusFilter.parse("400-499")), FULL),
        (FaultFilters(time=time, limit=2), Scope(connectors=(first.connector,), payloads=True)),
        (FaultFilters(time=time), Scope(connectors=("nobody",))),
    ]
    for f, scope in cases:
        old, new = _both(api_db, f, scope)
        assert new == old, (f, scope)
    assert any(p.items for p in _both(api_db, cases[0][0], FULL)[1])


def test_run_detail_faults_equal_the_old_path(api: ApiEnv, api_db: Client) -> None:
    failing = [t for t in api.truth if t.status == "error"]
    assert failing
    for t in failing:
        for scope in (FULL, VIEWER):
            with old_path():
                old = get_run(api_db, t.run_id, scope)
            new = get_run(api_db, t.run_id, scope)
            assert new.faults == old.faults and new == old
    assert any(get_run(api_db, t.run_id, FULL).faults for t in failing)


# --------------------------------------------------------------------------- upgrade
def _span(
    ts: dt.datetime,
    trace: str,
    span: str,
    parent: str,
    attrs: dict[str, str],
    events: list[tuple[dt.datetime, str, dict[str, str]]],
    *,
    service: str = "hubspot",
    status: tuple[str, str] = ("Unset", ""),
) -> list[object]:
    return [
        ts, trace, span, parent, "", "span", "Internal", service, {sc.SERVICE_NAME: service}, "connlog", "0.1.0",
        dict(sorted(attrs.items())), 1_000_000, status[0], status[1],
        [e[0] for e in events], [e[1] for e in events], [e[2] for e in events], [], [], [], [],
    ]  # fmt: skip


def _faulty_spans(now: dt.datetime, prefix: str) -> list[list[object]]:
    """Faults that exercise each fallback of the definition, a propagated duplicate, a
    non-exception event and a failed call child with response headers."""
    t = [now + dt.timedelta(seconds=s) for s in range(10)]
    a, b, c = ((prefix + x) * 16 for x in "abc")
    exc = sc.EXCEPTION_EVENT
    http = {
        sc.ROLE: sc.Role.PAGE.value,
        sc.URL_FULL: "https://api.example.com/v1/items?page=2",
        sc.SERVER_ADDRESS: "api.example.com",
        sc.HTTP_RESPONSE_STATUS_CODE: "500",
        sc.FAILURE_CAUSE: "server_error",
    }
    server_error = {sc.EXCEPTION_TYPE: "ServerError", sc.EXCEPTION_MESSAGE: "500 from /v1/items"}
    long = "x" * 80
    return [
        # the root fault, with a non-exception event beside it
        _span(t[1], a, prefix + "1" * 15, prefix + "0" * 15, http,
              [(t[1], "log", {"k": "v"}), (t[2], exc, server_error)], status=("Error", "boom")),
        # the same exception propagated to the parent, later: deduplicated away
        _span(t[0], a, prefix + "0" * 15, "", {sc.ROLE: sc.Role.STEP.value}, [(t[3], exc, server_error)]),
        # message from StatusMessage, URL / status / cause from the event, host from the URL
        _span(t[4], b, prefix + "2" * 15, "", {sc.ROLE: sc.Role.STEP.value},
              [(t[6], exc, {sc.EXCEPTION_TYPE: "AuthError", sc.FAULT_URL: "https://auth.example.com/token",
                            sc.FAULT_STATUS_CODE: "401", sc.FAILURE_CAUSE: "auth"})],
              status=("Error", "timed out after 30s")),
        # its failed call child, whose response headers an admin sees on the fault
        _span(t[5], b, prefix + "3" * 15, prefix + "2" * 15,
              {sc.ROLE: sc.Role.HTTP.value, sc.HTTP_REQUEST_METHOD: "POST", sc.HTTP_RESPONSE_STATUS_CODE: "401",
               sc.URL_FULL: "https://auth.example.com/token", "http.response.header.content-type": "text/plain"},
              [], status=("Error", "")),
        # another connector, a long message
        _span(t[7], c, prefix + "4" * 15, "", {sc.ROLE: sc.Role.STEP.value},
              [(t[8], exc, {sc.EXCEPTION_TYPE: "ValueError", sc.EXCEPTION_MESSAGE: long})], service="chargebee"),
        # an event that is not an exception: not a fault
        _span(t[9], c, prefix + "5" * 15, "", {sc.ROLE: sc.Role.STEP.value}, [(t[9], "retry", {})],
              service="chargebee"),
    ]  # fmt: skip


def test_database_at_migration_6_upgrades_listing_its_old_faults_identically(base_settings: Settings) -> None:
    with database_at(base_settings, FAULTS_VERSION - 1) as (client, settings):
        cols = list(n.TRACES_INGEST_COLUMNS)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0) - dt.timedelta(minutes=5)
        client.insert(n.TRACES_INGEST, _faulty_spans(now, "a"), column_names=cols)
        f = FaultFilters(time=TimeRange(0), limit=2)
        with old_path():
            before = {scope: _pages(client, f, scope) for scope in (FULL, VIEWER)}
        assert [fault.run_id[0] for p in before[FULL] for fault in p.items] == ["a", "a", "a"]

        assert apply_schema(client, settings) == upgrades_after(FAULTS_VERSION - 1)
        for scope, old in before.items():
            assert _pages(client, f, scope) == old  # backfilled: listed as before the upgrade
        items = [fault for p in before[FULL] for fault in p.items]
        assert [(x.type, x.message, x.uri, x.host, x.status_code, x.cause) for x in items] == [
            ("ValueError", "x" * 80, "", "", None, ""),
            ("AuthError", "timed out after 30s", "https://auth.example.com/token", "auth.example.com", 401, "auth"),
            ("ServerError", "500 from /v1/items", "https://api.example.com/v1/items?page=2", "api.example.com",
             500, "server_error"),
        ]  # fmt: skip
        assert items[1].response_headers == {"content-type": "text/plain"}

        # Rows ingested after the upgrade arrive through the view, each event once.
        client.insert(n.TRACES_INGEST, _faulty_spans(now + dt.timedelta(minutes=1), "d"), column_names=cols)
        for scope in (FULL, VIEWER):
            old, new = _both(client, f, scope)
            assert new == old and sum(len(p.items) for p in new) == 6
        stored = client.query(f"SELECT count() FROM {n.FAULTS}").result_rows[0][0]
        assert stored == 8  # 4 exception events per batch
        assert current_ttl(client, settings.database, n.FAULTS) == current_ttl(
            client, settings.database, n.TRACES
        )
        assert apply_schema(client, settings) == []
