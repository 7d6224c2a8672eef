"""Migrations are fixed text; an old database upgrades without losing rows; the docs name every column."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from connlog.collector.config import Settings
from connlog.collector.schema import ddl
from connlog.collector.schema import names as n
from connlog.collector.schema.migrate import MIGRATIONS, applied_versions, apply_schema
from connlog.collector.schema.templates import render
from connlog.instrumentation import semconv as sc
from tests.schema.upgrades import database_at, upgrades_after

ROOT = Path(__file__).resolve().parents[2]

# sha256 of each migration file. An applied migration never changes: a schema change after
# today is a new numbered file. Add its digest here when you add it; never edit one above.
FROZEN = {
    1: "9a98619892de2772d211608163d083b06e2231c7a688dc285dd7afe3bba2a932",
    2: "43fd53681501bbc09865c3626f687fff4230e727ee0a7c7f6251dffc7aa5d30d",
    3: "90760693aceda611990160b59844271809b5c3af059d3b7250a8f8a0d245711c",
    4: "426fee07f784990d22aeb6b598cad6b6484f5f89a6548f50e22b609aba271905",
    5: "197a35d3905129e627c3e28bc498e31673ff5629870f427c6ddf72ec389e73df",
    6: "34898dd2001fc90c36b13d75d0947e4b025212db4c95ef1492ca37ddd132dbb8",
    7: "f09ca1698a23c148cfb0de4629a1ec98fab0aaf6e573636bfc0b735ceddabdc3",
    8: "5440454c8d8e972b75822c2588cff68ea49c49ef826a5492f5cb45814b4ab8a7",
}


def test_every_migration_file_is_frozen() -> None:
    assert {m.version: m.digest for m in MIGRATIONS} == FROZEN


def test_unknown_placeholder_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown migration placeholder"):
        render("SELECT 1 FROM ${dbx}.t", Settings())


# Additive migrations, the tables they ALTER and the view they re-point with MODIFY QUERY
# (None: the new columns are DEFAULT expressions, filled without a change to the view): on a
# cluster, each `_local` table and its Distributed table get the columns and every statement
# runs ON CLUSTER.
ADDITIVE: list[tuple[int, tuple[str, ...], str | None]] = [
    (4, (n.TRACES, n.RUNS), n.RUNS_MV),
    (5, (n.RUNS,), n.RUNS_MV),
    (6, (n.TRACES,), None),
]


@pytest.mark.parametrize(("version", "altered", "view"), ADDITIVE)
def test_additive_migration_cluster_variant_alters_local_and_distributed_tables(
    version: int, altered: tuple[str, ...], view: str | None
) -> None:
    migration = MIGRATIONS[version - 1]
    single = migration.statements(Settings())
    cluster = migration.statements(Settings(cluster="prod"))
    assert not any("ON CLUSTER" in s or "_local" in s for s in single)
    assert len(cluster) == len(single) + len(altered)  # the Distributed tables get the columns too
    for stmt in cluster:
        assert " ON CLUSTER prod" in stmt, stmt
    for table in altered:
        assert any(s.startswith(f"ALTER TABLE connlog.{table}_local ON CLUSTER prod") for s in cluster)
        assert any(s.startswith(f"ALTER TABLE connlog.{table} ON CLUSTER prod") for s in cluster)
    modified = [s for s in cluster if " MODIFY QUERY" in s]
    if view is None:
        assert not modified
    else:
        assert any(s.startswith(f"ALTER TABLE connlog.{view} ON CLUSTER prod MODIFY QUERY") for s in modified)


# Migrations that add a table fed by its own view and backfilled: on a cluster the table is a
# `_local` table plus a Distributed one, the view writes through the Distributed table, and
# the backfill inserts into it too.
NEW_TABLES = [
    (7, n.FAULTS, n.FAULTS_MV, "toDate(Timestamp)"),
    (8, n.RECORD_TOUCHES, n.RECORD_TOUCHES_MV, "toMonday(Timestamp)"),
]


@pytest.mark.parametrize(("version", "table", "view", "partition"), NEW_TABLES)
def test_new_table_migration_cluster_variant_writes_through_the_distributed_table(
    version: int, table: str, view: str, partition: str
) -> None:
    migration = MIGRATIONS[version - 1]
    single = migration.statements(Settings())
    cluster = migration.statements(Settings(cluster="prod"))
    assert not any("ON CLUSTER" in s or "_local" in s for s in single)
    assert len(cluster) == len(single) + 1  # the Distributed table
    assert cluster[0].startswith(f"CREATE TABLE IF NOT EXISTS connlog.{table}_local ON CLUSTER prod")
    assert f"PARTITION BY {partition}" in cluster[0]
    assert f"non_replicated_deduplication_window = {ddl.DEDUP_WINDOW}" in cluster[0]
    assert f"ENGINE = Distributed(prod, connlog, {table}_local, cityHash64(TraceId))" in cluster[1]
    assert f"connlog.{view} ON CLUSTER prod TO connlog.{table} AS" in cluster[2]
    assert cluster[3].startswith(f"INSERT INTO connlog.{table}\n")


def _span(ts: dt.datetime, trace: str, span: str, role: str, attrs: dict[str, str]) -> list[object]:
    return [
        ts, trace, span, "", "", "run", "Internal", "hubspot",
        {sc.SERVICE_NAME: "hubspot", sc.CONNECTOR_TENANT: "acme"}, "connlog", "0.1.0",
        dict(sorted({sc.ROLE: role, **attrs}.items())), 1_000, "Unset", "", [], [], [], [], [], [], [],
    ]  # fmt: skip


def test_database_at_migration_3_upgrades_keeping_rows_and_fills_new_columns(base_settings: Settings) -> None:
    """Created at migration 3 with data, upgraded: old rows stay, new rows fill the new columns."""
    with database_at(base_settings, 3) as (client, settings):
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        extra = {"enduser.id": "ops@acme.test", "connector.run.schedule": "0 * * * *"}
        client.insert(
            n.TRACES_INGEST,
            [_span(now, "a" * 32, "1" * 16, sc.Role.RUN, {sc.RUN_STATUS: "ok", **extra})],
            column_names=list(n.TRACES_INGEST_COLUMNS),
        )
        assert apply_schema(client, settings) == upgrades_after(3)
        assert applied_versions(client, settings) == {m.version for m in MIGRATIONS}
        client.insert(
            n.TRACES_INGEST,
            [_span(now, "b" * 32, "2" * 16, sc.Role.RUN, {sc.RUN_STATUS: "ok", **extra})],
            column_names=list(n.TRACES_INGEST_COLUMNS),
        )
        runs = client.query(
            f"SELECT TraceId, {n.C_RUN_STATUS}, {n.C_ENDUSER_ID}, {n.C_SCHEDULE} FROM {n.RUNS} ORDER BY TraceId"
        ).result_rows
        assert runs == [
            ("a" * 32, "ok", "", ""),  # stored before the upgrade: kept, new columns empty
            ("b" * 32, "ok", "ops@acme.test", "0 * * * *"),
        ]
        spans = client.query(f"SELECT TraceId, {n.C_ENDUSER_ID} FROM {n.TRACES} ORDER BY TraceId").result_rows
        assert spans == [("a" * 32, ""), ("b" * 32, "ops@acme.test")]
        assert apply_schema(client, settings) == []


def test_database_at_migration_4_upgrades_keeping_rows_and_fills_run_kind_columns(
    base_settings: Settings,
) -> None:
    """Created at migration 4 with runs and an operation, upgraded: old rows stay (kind empty,
    which reads as a sync), new rows fill kind, operation fields and the job tick."""
    with database_at(base_settings, 4) as (client, settings):
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        op = {
            sc.RUN_KIND: sc.RunKind.DEPLOY.value,
            sc.OPERATION_STATUS: sc.OperationStatus.FAILED.value,
            sc.OPERATION_OWNER: "ops-bot",
            sc.OPERATION_TARGET: "staging",
            sc.OPERATION_QUEUED_AT: "2026-03-01T10:00:00+00:00",
            sc.RUN_JOB_TICK: "2026-03-01T09:00:00+00:00",
        }
        cols = list(n.TRACES_INGEST_COLUMNS)
        client.insert(
            n.TRACES_INGEST, [_span(now, "a" * 32, "1" * 16, sc.Role.RUN, {**op})], column_names=cols
        )
        assert apply_schema(client, settings) == upgrades_after(4)
        client.insert(
            n.TRACES_INGEST, [_span(now, "b" * 32, "2" * 16, sc.Role.RUN, {**op})], column_names=cols
        )
        client.insert(n.TRACES_INGEST, [_span(now, "c" * 32, "3" * 16, sc.Role.RUN, {})], column_names=cols)
        runs = client.query(
            f"SELECT TraceId, {n.C_RUN_KIND}, {n.C_OPERATION_STATUS}, {n.C_OPERATION_OWNER},"
            f" {n.C_OPERATION_TARGET}, toString({n.C_OPERATION_QUEUED_AT}), toString({n.C_JOB_TICK})"
            f" FROM {n.RUNS} ORDER BY TraceId"
        ).result_rows
        zero = "1970-01-01 00:00:00.000000000"
        assert runs == [
            ("a" * 32, "", "", "", "", zero, zero),  # stored before the upgrade: kept, columns empty
            ("b" * 32, "deploy", "failed", "ops-bot", "staging", "2026-03-01 10:00:00.000000000",
             "2026-03-01 09:00:00.000000000"),
            ("c" * 32, "", "", "", "", zero, zero),  # a sync without a tick
        ]  # fmt: skip
        assert apply_schema(client, settings) == []


def test_database_at_migration_5_upgrades_writing_entity_reason_into_old_parts(
    base_settings: Settings,
) -> None:
    """Created at migration 5 with entity spans, upgraded: every row is kept, old parts get
    `EntityReason` written into them (MATERIALIZE), new rows fill it on insert."""
    with database_at(base_settings, 5) as (client, settings):
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        cols = list(n.TRACES_INGEST_COLUMNS)
        old = [
            _span(now, "a" * 32, "1" * 16, sc.Role.ENTITY, {sc.ENTITY_REASON: "archived in source"}),
            _span(now, "a" * 32, "2" * 16, sc.Role.ENTITY, {sc.ENTITY_ACTION: "create"}),
            _span(now, "a" * 32, "3" * 16, sc.Role.RUN, {sc.RUN_STATUS: "ok"}),
        ]
        client.insert(n.TRACES_INGEST, old, column_names=cols)
        assert apply_schema(client, settings) == upgrades_after(5)
        new = _span(now, "b" * 32, "4" * 16, sc.Role.ENTITY, {sc.ENTITY_REASON: "missing email"})
        client.insert(n.TRACES_INGEST, [new], column_names=cols)
        spans = client.query(
            f"SELECT {n.C_SPAN_ID}, {n.C_ROLE}, {n.C_ENTITY_REASON} FROM {n.TRACES} ORDER BY {n.C_SPAN_ID}"
        ).result_rows
        assert spans == [
            ("1" * 16, "entity", "archived in source"),
            ("2" * 16, "entity", ""),
            ("3" * 16, "run", ""),
            ("4" * 16, "entity", "missing email"),
        ]
        # The mutation runs in the background: once done, every part holds the column itself.
        where = "database = {d:String} AND table = {t:String}"
        args = {"d": settings.database, "t": n.TRACES}
        for _ in range(300):
            if not client.query(
                f"SELECT count() FROM system.mutations WHERE {where} AND NOT is_done", parameters=args
            ).result_rows[0][0]:
                break
            time.sleep(0.1)
        parts = client.query(
            f"SELECT name, has(groupArray(column), {{c:String}}) FROM system.parts_columns"
            f" WHERE {where} AND active GROUP BY name",
            parameters={**args, "c": n.C_ENTITY_REASON},
        ).result_rows
        assert parts and all(has for _, has in parts), parts
        assert apply_schema(client, settings) == []


def test_readme_documents_every_column_of_the_live_schema(ch_client: Client) -> None:
    """What users query is what the migrations made, so the check reads the live tables."""
    readme = (ROOT / "README.md").read_text()
    cols = ch_client.query(
        "SELECT DISTINCT name FROM system.columns WHERE database = currentDatabase()"
        " AND table NOT LIKE '.inner%' AND table != {m:String}",
        parameters={"m": n.MIGRATIONS},
    ).result_rows
    missing = sorted(c for (c,) in cols if f"`{c}`" not in readme and c.split(".")[0] not in readme)
    assert not missing, f"README schema section does not mention: {missing}"
