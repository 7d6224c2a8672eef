"""The schema on a real chDB: exporter-compatible ingest, storage split, retention, cluster DDL."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from clickhouse_connect.driver.client import Client

from connlog.collector.config import Retention, Settings
from connlog.collector.schema import ddl
from connlog.collector.schema import names as n
from connlog.collector.schema.migrate import (
    LATEST_VERSION,
    applied_versions,
    apply_schema,
    current_ttl,
    render,
)
from connlog.instrumentation import semconv as sc

TRACE = "5b8efff798038103d269b633813fc60c"
SPAN = "eee19b7ec3c1b174"


def _exporter_row(
    ts: dt.datetime, *, trace: str = TRACE, span: str = SPAN, body: str = '{"ok":true}'
) -> list[object]:
    """One span exactly as the clickhouseexporter inserts it (its column list, its value forms)."""
    attrs = {
        sc.ROLE: sc.Role.HTTP.value,
        sc.HTTP_REQUEST_METHOD: "GET",
        sc.HTTP_RESPONSE_STATUS_CODE: "429",
        sc.SERVER_ADDRESS: "api.hubapi.com",
        sc.URL_FULL: "https://api.hubapi.com/crm/v3/objects/contacts?limit=100",
        sc.FAILURE_CAUSE: sc.FailureCause.RATE_LIMITED.value,
        sc.ENTITY_EXTERNAL_ID: "c-001",
        sc.RATE_LIMITED: "true",
        sc.HTTP_REQUEST_HEADER_PREFIX + "authorization": sc.redacted("header"),
        sc.HTTP_RESPONSE_HEADER_PREFIX + "retry-after": "2",
        sc.HTTP_RESPONSE_BODY: body,
    }
    return [
        ts, trace, span, "", "", "GET", "Client", "hubspot",
        {sc.SERVICE_NAME: "hubspot", sc.CONNECTOR_TENANT: "acme"}, "connlog", "0.1.0",
        dict(sorted(attrs.items())), 1_234_567, "Error", "Too Many Requests",
        [ts], ["exception"], [{sc.EXCEPTION_TYPE: "httpx.HTTPStatusError"}], [], [], [], [],
    ]  # fmt: skip


def test_apply_is_idempotent_and_versioned(ch_client: Client, base_settings: Settings) -> None:
    settings = replace(base_settings, database=ch_client.database or "")
    assert applied_versions(ch_client, settings) == set(range(1, LATEST_VERSION + 1))
    assert apply_schema(ch_client, settings) == []
    tables = {r[0] for r in ch_client.query("SHOW TABLES").result_rows}
    for table in (
        n.TRACES_INGEST,
        n.LOGS_INGEST,
        n.TRACES,
        n.PAYLOADS,
        n.TRACE_ID_TS,
        n.SEARCH_INDEX,
        n.LOGS,
    ):
        assert table in tables


def test_exporter_insert_lands_split_into_storage(ch_client: Client) -> None:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    ch_client.insert(n.TRACES_INGEST, [_exporter_row(now)], column_names=list(n.TRACES_INGEST_COLUMNS))

    row = ch_client.query(
        f"SELECT {n.C_ROLE}, {n.C_HTTP_STATUS}, {n.C_HTTP_HOST}, {n.C_FAILURE_CAUSE}, {n.C_TENANT},"
        f" {n.C_ENTITY_EXTERNAL_ID}, {n.C_RATE_LIMITED}, {n.C_HTTP_DIRECTION}, {n.C_SPAN_ATTRIBUTES}"
        f" FROM {n.TRACES}"
    ).result_rows
    assert len(row) == 1
    role, status, host, cause, tenant, ext, limited, direction, attrs = row[0]
    assert (role, status, host, cause, tenant, ext, limited, direction) == (
        "http",
        429,
        "api.hubapi.com",
        "rate_limited",
        "acme",
        "c-001",
        True,
        "outgoing",
    )
    # Payload keys are gone from the metadata table ...
    assert not [k for k in attrs if k.startswith(sc.PAYLOAD_KEY_PREFIXES) or k in sc.PAYLOAD_KEYS]
    # ... and live in the payload table, headers without their prefix.
    req_h, resp_h, body = ch_client.query(
        f"SELECT {n.C_REQUEST_HEADERS}, {n.C_RESPONSE_HEADERS}, {n.C_RESPONSE_BODY} FROM {n.PAYLOADS}"
        " WHERE SpanId = {s:String}",
        parameters={"s": SPAN},
    ).result_rows[0]
    assert req_h == {"authorization": sc.redacted("header")}
    assert resp_h == {"retry-after": "2"}
    assert body == '{"ok":true}'
    # Trace-id lookup and the record search index were filled by their views.
    start, end = ch_client.query(
        f"SELECT {n.C_START}, {n.C_END} FROM {n.TRACE_ID_TS} WHERE TraceId = {{t:String}}",
        parameters={"t": TRACE},
    ).result_rows[0]
    assert start <= now.replace(microsecond=0) < end
    hits = ch_client.query(
        f"SELECT {n.C_FIELD}, TraceId FROM {n.SEARCH_INDEX} WHERE {n.C_VALUE} = {{v:String}}",
        parameters={"v": "c-001"},
    ).result_rows
    assert hits == [("external_id", TRACE)]


def test_list_query_reads_same_bytes_whatever_the_body_size(ch_client: Client) -> None:
    """A filter over calls never reads payload bytes: 100 B and 100 KB bodies cost the same."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    query = f"SELECT count(), max({n.C_HTTP_STATUS}) FROM {n.TRACES} WHERE {n.C_ROLE} = 'http' AND TraceId = {{t:String}}"
    read = []
    for i, size in enumerate((100, 100_000)):
        trace = f"{i:032x}"
        rows = [_exporter_row(now, trace=trace, span=f"{j:016x}", body="x" * size) for j in range(200)]
        ch_client.insert(n.TRACES_INGEST, rows, column_names=list(n.TRACES_INGEST_COLUMNS))
        ch_client.command(f"OPTIMIZE TABLE {n.TRACES} FINAL")
        result = ch_client.query(query, parameters={"t": trace})
        assert result.result_rows[0][0] == 200
        read.append(int(result.summary["read_bytes"]))
    assert read[0] == read[1] or abs(read[0] - read[1]) < 0.05 * read[0], read


def _backdate(client: Client, days: int, trace: str) -> None:
    ts = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=days)
    client.insert(
        n.TRACES_INGEST, [_exporter_row(ts, trace=trace)], column_names=list(n.TRACES_INGEST_COLUMNS)
    )


def test_ttl_deletes_and_recompresses_backdated_rows(ch_client: Client, base_settings: Settings) -> None:
    settings = replace(
        base_settings,
        database=ch_client.database or "",
        retention=Retention(days=30, recompress_days=7, payload_days=14),
    )
    apply_schema(ch_client, settings)
    _backdate(ch_client, 40, "a" * 32)  # past retention: deleted
    _backdate(ch_client, 20, "b" * 32)  # past payload retention only: payload deleted, metadata recompressed
    _backdate(ch_client, 1, "c" * 32)  # fresh: untouched
    for table in (n.TRACES, n.PAYLOADS):
        ch_client.command(f"ALTER TABLE {table} MATERIALIZE TTL", settings={"mutations_sync": 2})
    traces = sorted(r[0][0] for r in ch_client.query(f"SELECT TraceId FROM {n.TRACES}").result_rows)
    payloads = sorted(r[0][0] for r in ch_client.query(f"SELECT TraceId FROM {n.PAYLOADS}").result_rows)
    assert traces == ["b", "c"]
    assert payloads == ["c"]
    codecs: dict[str, str] = {
        str(partition): str(codec)
        for partition, codec in ch_client.query(
            f"SELECT partition, default_compression_codec FROM system.parts WHERE database = currentDatabase()"
            f" AND table = '{n.TRACES}' AND active"
        ).result_rows
    }
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(days=20)).date().isoformat()
    new = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).date().isoformat()
    assert codecs[old] == f"{ddl.COLD_CODEC}"
    assert codecs[new] == ddl.HOT_CODEC


def test_retention_change_reaches_existing_tables(ch_client: Client, base_settings: Settings) -> None:
    settings = replace(base_settings, database=ch_client.database or "")
    forever = replace(settings, retention=Retention(days=0, recompress_days=3, payload_days=0))
    changes = apply_schema(ch_client, forever)
    assert len(changes) == len(ddl.STORAGE_TABLES)
    ttl = current_ttl(ch_client, settings.database, n.TRACES)
    assert "RECOMPRESS" in ttl and "toIntervalDay(3)" in ttl and "toIntervalDay(30)" not in ttl
    assert apply_schema(ch_client, forever) == []
    nothing = replace(settings, retention=Retention(days=0, recompress_days=0, payload_days=0))
    apply_schema(ch_client, nothing)
    assert current_ttl(ch_client, settings.database, n.TRACES) == ""


def test_printed_ddl_shows_ttl_recompress_and_codecs() -> None:
    text = render(Settings())
    assert "RECOMPRESS CODEC(ZSTD(9))" in text
    assert "toIntervalDay(30)" in text
    assert "CODEC(Delta(8), ZSTD(1))" in text
    assert "default_compression_codec = 'ZSTD(1)'" in text
    assert "ENGINE = Null" in text


def test_cluster_ddl_is_replicated_and_distributed() -> None:
    text = render(Settings(cluster="prod"))
    for stmt in text.split(";\n"):
        if stmt.strip().startswith(
            ("CREATE TABLE", "CREATE MATERIALIZED", "CREATE DATABASE", "-- migration")
        ):
            assert " ON CLUSTER prod" in stmt, stmt
    assert f"{n.TRACES}_local ON CLUSTER prod" in text
    assert "ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')" in text
    assert f"ENGINE = Distributed(prod, connlog, {n.TRACES}_local, cityHash64(TraceId))" in text
    # Views write through the Distributed tables, so rows are sharded by trace.
    assert f"TO connlog.{n.TRACES} AS" in text


def test_version_1_database_is_upgraded_to_the_dedup_window(base_settings: Settings) -> None:
    """A database created before migration 2 gets it on the next apply, and only once."""
    from connlog.collector.schema import migrate
    from connlog.collector.store import connect

    settings = replace(base_settings, database="t_upgrade")
    client = connect(settings)
    try:
        client.command(ddl.migrations_table(settings))
        for stmt in migrate.MIGRATIONS[0].statements(settings):
            client.command(stmt)
        client.insert(n.MIGRATIONS, [[1, "initial schema"]], column_names=["version", "name"])
        applied = apply_schema(client, settings)
        assert applied[:3] == [
            "migration 2: deduplication window for idempotent replays",
            "migration 3: connector_runs: one narrow row per run",
            "migration 4: enduser id on spans and runs, and the schedule a run's job follows",
        ]
        assert applied[3:] == [f"migration {m.version}: {m.name}" for m in migrate.MIGRATIONS[4:]]
        assert applied_versions(client, settings) == {m.version for m in migrate.MIGRATIONS}
        windows = client.query(
            "SELECT name, create_table_query FROM system.tables WHERE database = currentDatabase()"
            " AND engine LIKE '%MergeTree' AND name != {m:String}",
            parameters={"m": n.MIGRATIONS},
        ).result_rows
        assert {name for name, _ in windows} == {table.name for table in ddl.STORAGE_TABLES}
        for name, create in windows:
            assert f"non_replicated_deduplication_window = {ddl.DEDUP_WINDOW}" in create, name
        assert apply_schema(client, settings) == []
    finally:
        client.command("DROP DATABASE IF EXISTS t_upgrade SYNC")
        client.close()


def _run_span(ts: dt.datetime, trace: str, span: str, role: str, extra: dict[str, str]) -> list[object]:
    attrs = {sc.ROLE: role, sc.RUN_SYNC_TYPE: "full", sc.RUN_JOB_ID: "job-1", **extra}
    return [
        ts, trace, span, "", "", sc.SPAN_RUN, "Internal", "hubspot",
        {sc.SERVICE_NAME: "hubspot", sc.SERVICE_VERSION: "1.4.0", sc.CONNECTOR_TENANT: "acme"}, "connlog", "0.1.0",
        dict(sorted(attrs.items())), 0 if role == sc.Role.RUN_START else 5_000_000_000,
        "Error" if extra.get(sc.RUN_STATUS) == "error" else "Unset", "", [], [], [], [], [], [], [],
    ]  # fmt: skip


def test_runs_table_has_a_row_per_marker_and_per_finished_run(ch_client: Client) -> None:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    finished = {
        sc.RUN_STATUS: "error", sc.RUN_EXIT_CODE: "2", sc.FAILURE_CAUSE: "timeout",
        sc.count_key(sc.Counter.FETCHED): "12", sc.count_key(sc.Counter.FAILED): "1", sc.ERROR_COUNT: "3",
    }  # fmt: skip
    rows = [
        _run_span(now, "a" * 32, "1" * 16, sc.Role.RUN_START, {}),
        _run_span(now, "a" * 32, "2" * 16, sc.Role.RUN, finished),
        _run_span(now, "b" * 32, "3" * 16, sc.Role.RUN_START, {}),  # still running
    ]
    ch_client.insert(n.TRACES_INGEST, rows, column_names=list(n.TRACES_INGEST_COLUMNS))
    got = ch_client.query(
        f"SELECT TraceId, argMax({n.C_RUN_STATUS}, {n.C_FINISHED}), argMax({n.C_EXIT_CODE}, {n.C_FINISHED}),"
        f" argMax({n.C_FAILURE_CAUSE}, {n.C_FINISHED}), argMax(Fetched, {n.C_FINISHED}),"
        f" argMax(Failed, {n.C_FINISHED}), argMax({n.C_ERROR_COUNT}, {n.C_FINISHED}), any({n.C_TENANT}),"
        f" any({n.C_VERSION}), count() FROM {n.RUNS} GROUP BY TraceId ORDER BY TraceId"
    ).result_rows
    assert got == [
        ("a" * 32, "error", 2, "timeout", 12, 1, 3, "acme", "1.4.0", 2),
        ("b" * 32, "running", 0, "", 0, 0, 0, "acme", "1.4.0", 1),
    ]


def test_migration_3_backfills_runs_stored_before_it(base_settings: Settings) -> None:
    from connlog.collector.schema import migrate
    from connlog.collector.store import connect

    settings = replace(base_settings, database="t_backfill")
    client = connect(settings)
    try:
        client.command(ddl.migrations_table(settings))
        for m in migrate.MIGRATIONS[:2]:
            for stmt in m.statements(settings):
                client.command(stmt)
            client.insert(n.MIGRATIONS, [[m.version, m.name]], column_names=["version", "name"])
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        client.insert(
            n.TRACES_INGEST,
            [_run_span(now, "c" * 32, "4" * 16, sc.Role.RUN, {sc.RUN_STATUS: "ok"})],
            column_names=list(n.TRACES_INGEST_COLUMNS),
        )
        assert apply_schema(client, settings)[0] == "migration 3: connector_runs: one narrow row per run"
        assert client.query(f"SELECT TraceId, {n.C_RUN_STATUS} FROM {n.RUNS}").result_rows == [
            ("c" * 32, "ok")
        ]
    finally:
        client.command("DROP DATABASE IF EXISTS t_backfill SYNC")
        client.close()
