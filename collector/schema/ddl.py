"""Where DDL goes and the retention it carries; the migrations themselves are fixed SQL files.

The tables and views are created by `migrations/NNNN_*.sql` (see `templates.py`). This module
holds what those templates are rendered with: the target (database, cluster naming) and the
TTL clauses of the storage tables, which `apply_retention` keeps in line with the settings.

Layout, and why:
- Ingest tables (`otel_*_ingest`, Null engine) take the OTel Collector clickhouseexporter's
  INSERT shape, so the official collector (``create_schema: false``) and ours write the
  same database. Materialized views fan each block out to storage; nothing is kept twice.
- `otel_traces` keeps the exporter's columns (the Grafana plugin's OTel defaults read it)
  plus connector columns extracted from attributes (role, step, entity ids, HTTP method/
  status/host, failure cause...). Headers and bodies are *removed* from its SpanAttributes
  and stored in `otel_traces_payloads`, so lists, filters and aggregates never read payload
  bytes, whatever their size.
- Sort keys start with (ServiceName, Role, hour): a runs list, a calls list or a connector's
  failures read only their own role's granules; TraceId follows, so one run's spans of a role
  sit together. `otel_traces_trace_id_ts` maps a trace id to its time range (as the exporter
  does) so trace look-ups prune to a few granules.
- `connector_search_index` maps record ids and job ids to runs ("which runs touched record
  X in the last 30 days") with a primary-key look-up, never a payload scan.
  `connector_record_touches` (migration 8) holds the same spans with their entity fields, in
  weekly partitions: a record look-up and its timeline read ~6 small granules, not one per day
  (index) and one per entity span (`otel_traces`) over a month.
- Bulky columns use the table's `default_compression_codec` (ZSTD(1) while hot) so the
  RECOMPRESS TTL can move older parts to a heavier codec; small typed columns carry explicit
  Delta/T64 codecs, which RECOMPRESS leaves alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from connlog.collector.config import Retention, Settings
from connlog.collector.schema import names as n
from connlog.collector.store import check_identifier

HOT_CODEC: Final = "ZSTD(1)"
COLD_CODEC: Final = "ZSTD(9)"


@dataclass(frozen=True)
class Target:
    """Where DDL goes: database, optional cluster, and the engine naming that follows."""

    database: str
    cluster: str = ""

    @property
    def on_cluster(self) -> str:
        return f" ON CLUSTER {self.cluster}" if self.cluster else ""

    def q(self, table: str) -> str:
        return f"{self.database}.{table}"

    def storage_name(self, table: str) -> str:
        """The table that holds the parts: `<table>_local` on a cluster, else the table itself."""
        return f"{table}_local" if self.cluster else table

    def engine(self, kind: str = "MergeTree", args: str = "") -> str:
        if not self.cluster:
            return f"{kind}({args})"
        replicated = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"
        return f"Replicated{kind}({replicated}{', ' + args if args else ''})"


def target_of(settings: Settings) -> Target:
    cluster = check_identifier(settings.cluster, "cluster") if settings.cluster else ""
    return Target(database=check_identifier(settings.database, "database"), cluster=cluster)


# --------------------------------------------------------------------------- retention
def ttl_clause(time_expr: str, retention: Retention, *, delete_days: int | None = None) -> str:
    """TTL expression list in the form ClickHouse prints back (so apply can compare it)."""
    days = retention.days if delete_days is None else delete_days
    parts = []
    if retention.recompress_days and (not days or retention.recompress_days < days):
        parts.append(
            f"{time_expr} + toIntervalDay({retention.recompress_days}) RECOMPRESS CODEC({COLD_CODEC})"
        )
    if days:
        parts.append(f"{time_expr} + toIntervalDay({days})")
    return ", ".join(parts)


def payload_days(retention: Retention) -> int:
    """Payloads follow metadata unless a shorter payload retention is set."""
    if retention.payload_days and (not retention.days or retention.payload_days < retention.days):
        return retention.payload_days
    return retention.days


@dataclass(frozen=True)
class StorageTable:
    """A MergeTree storage table: its name, the time expression its TTL uses and its TTL days."""

    name: str
    time_expr: str
    payload: bool = False

    def ttl(self, retention: Retention) -> str:
        days = payload_days(retention) if self.payload else None
        return ttl_clause(self.time_expr, retention, delete_days=days)


STORAGE_TABLES: Final[tuple[StorageTable, ...]] = (
    StorageTable(n.TRACES, "toDateTime(Timestamp)"),
    StorageTable(n.PAYLOADS, "toDateTime(Timestamp)", payload=True),
    StorageTable(n.TRACE_ID_TS, "Start"),
    StorageTable(n.SEARCH_INDEX, "Timestamp"),
    StorageTable(n.LOGS, "TimestampTime"),
    StorageTable(n.RUNS, "toDateTime(Timestamp)"),
    StorageTable(n.FAULTS, "toDateTime(Timestamp)"),
    StorageTable(n.RECORD_TOUCHES, "toDateTime(Timestamp)"),
)


# Inserts carry a deterministic `insert_deduplication_token` per batch (the collector's
# write-ahead log replays a batch with the same token), so a replay after a crash or a lost
# acknowledgement adds no rows. Non-replicated MergeTree tables only deduplicate within this
# window of recent blocks (Replicated tables use `replicated_deduplication_window`); migrations
# 2 and 3 set it (as fixed text), and a test checks every storage table carries it.
DEDUP_WINDOW: Final = 1000


def migrations_table(settings: Settings) -> str:
    t = target_of(settings)
    return (
        f"CREATE TABLE IF NOT EXISTS {t.q(n.MIGRATIONS)}{t.on_cluster}\n"
        "(\n    version UInt32,\n    name String,\n    applied_at DateTime DEFAULT now()\n)\n"
        f"ENGINE = {t.engine('ReplacingMergeTree')}\nORDER BY version"
    )


def retention_statements(settings: Settings) -> list[tuple[str, str]]:
    """(table, ALTER ... MODIFY TTL / REMOVE TTL) for every storage table, for the current settings."""
    t = target_of(settings)
    out = []
    for table in STORAGE_TABLES:
        local = t.storage_name(table.name)
        ttl = table.ttl(settings.retention)
        action = f"MODIFY TTL {ttl}" if ttl else "REMOVE TTL"
        out.append((local, f"ALTER TABLE {t.q(local)}{t.on_cluster} {action}"))
    return out
