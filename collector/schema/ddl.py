"""The ClickHouse DDL, rendered from settings (database, retention, cluster).

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
- Bulky columns use the table's `default_compression_codec` (ZSTD(1) while hot) so the
  RECOMPRESS TTL can move older parts to a heavier codec; small typed columns carry explicit
  Delta/T64 codecs, which RECOMPRESS leaves alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from collector.config import Retention, Settings
from collector.schema import names as n
from collector.store import check_identifier
from instrumentation import semconv as sc

HOT_CODEC: Final = "ZSTD(1)"
COLD_CODEC: Final = "ZSTD(9)"
MAP: Final = "Map(LowCardinality(String), String)"


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
)


def _table_settings(extra: str = "") -> str:
    return (
        f"SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1,"
        f" default_compression_codec = '{HOT_CODEC}'{extra}"
    )


def _ttl_sql(table: StorageTable, retention: Retention) -> str:
    ttl = table.ttl(retention)
    return f"\nTTL {ttl}" if ttl else ""


# --------------------------------------------------------------------------- column lists
_TRACE_COLUMNS: Final = f"""
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String,
    SpanId String,
    ParentSpanId String,
    TraceState String,
    SpanName LowCardinality(String),
    SpanKind LowCardinality(String),
    ServiceName LowCardinality(String),
    ResourceAttributes {MAP},
    ScopeName String,
    ScopeVersion String,
    SpanAttributes {MAP},
    Duration UInt64 CODEC(T64, ZSTD(1)),
    StatusCode LowCardinality(String),
    StatusMessage String,
    Events Nested (Timestamp DateTime64(9), Name LowCardinality(String), Attributes {MAP}),
    Links Nested (TraceId String, SpanId String, TraceState String, Attributes {MAP})"""

_LOG_COLUMNS: Final = f"""
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String,
    SpanId String,
    TraceFlags UInt8,
    SeverityText LowCardinality(String),
    SeverityNumber UInt8,
    ServiceName LowCardinality(String),
    Body String,
    ResourceSchemaUrl LowCardinality(String),
    ResourceAttributes {MAP},
    ScopeSchemaUrl LowCardinality(String),
    ScopeName String,
    ScopeVersion String,
    ScopeAttributes {MAP},
    LogAttributes {MAP}"""

# Connector columns of otel_traces: (name, type, expression over the ingest row).
_attr = "SpanAttributes['{}']".format
CONNECTOR_COLUMNS: Final[tuple[tuple[str, str, str], ...]] = (
    (
        n.C_ROLE,
        "LowCardinality(String)",
        f"multiIf({_attr(sc.ROLE)} != '', {_attr(sc.ROLE)},"
        f" SpanKind = 'Client' AND {_attr(sc.HTTP_REQUEST_METHOD)} != '', '{sc.Role.HTTP}',"
        f" SpanKind = 'Server' AND {_attr(sc.HTTP_REQUEST_METHOD)} != '', '{sc.Role.WEBHOOK}', '')",
    ),
    (
        n.C_TENANT,
        "LowCardinality(String)",
        f"if(ResourceAttributes['{sc.CONNECTOR_TENANT}'] != '',"
        f" ResourceAttributes['{sc.CONNECTOR_TENANT}'], {_attr(sc.CONNECTOR_TENANT)})",
    ),
    (n.C_SYNC_TYPE, "LowCardinality(String)", _attr(sc.RUN_SYNC_TYPE)),
    (n.C_TRIGGER, "LowCardinality(String)", _attr(sc.RUN_TRIGGER)),
    (n.C_JOB_ID, "String", _attr(sc.RUN_JOB_ID)),
    (n.C_STEP_NAME, "LowCardinality(String)", _attr(sc.STEP_NAME)),
    (n.C_ENTITY_TYPE, "LowCardinality(String)", _attr(sc.ENTITY_TYPE)),
    (n.C_ENTITY_EXTERNAL_ID, "String", _attr(sc.ENTITY_EXTERNAL_ID)),
    (n.C_ENTITY_INTERNAL_ID, "String", _attr(sc.ENTITY_INTERNAL_ID)),
    (n.C_ENTITY_ACTION, "LowCardinality(String)", _attr(sc.ENTITY_ACTION)),
    (n.C_FAILURE_CAUSE, "LowCardinality(String)", _attr(sc.FAILURE_CAUSE)),
    (n.C_HTTP_METHOD, "LowCardinality(String)", _attr(sc.HTTP_REQUEST_METHOD)),
    (n.C_HTTP_STATUS, "UInt16", f"toUInt16OrZero({_attr(sc.HTTP_RESPONSE_STATUS_CODE)})"),
    (n.C_HTTP_HOST, "LowCardinality(String)", _attr(sc.SERVER_ADDRESS)),
    (n.C_HTTP_URL, "String", _attr(sc.URL_FULL)),
    (n.C_HTTP_URL_TEMPLATE, "LowCardinality(String)", _attr(sc.URL_TEMPLATE)),
    (
        n.C_HTTP_DIRECTION,
        "LowCardinality(String)",
        f"multiIf({_attr(sc.HTTP_DIRECTION)} != '', {_attr(sc.HTTP_DIRECTION)},"
        f" SpanKind = 'Client' AND {_attr(sc.HTTP_REQUEST_METHOD)} != '', '{sc.Direction.OUTGOING}',"
        f" SpanKind = 'Server' AND {_attr(sc.HTTP_REQUEST_METHOD)} != '', '{sc.Direction.INCOMING}', '')",
    ),
    (n.C_RATE_LIMITED, "Bool", f"{_attr(sc.RATE_LIMITED)} = 'true'"),
)

_PAYLOAD_KEY_TEST: Final = " OR ".join(
    [f"startsWith(k, '{p}')" for p in sc.PAYLOAD_KEY_PREFIXES] + [f"k = '{k}'" for k in sc.PAYLOAD_KEYS]
)


def _is_payload_key() -> str:
    return f"({_PAYLOAD_KEY_TEST})"


def _header_map(prefix: str) -> str:
    """Headers of one direction with the attribute prefix removed: {'content-type': ...}."""
    return (
        f"mapApply((k, v) -> (substring(k, {len(prefix) + 1}), v),"
        f" mapFilter((k, v) -> startsWith(k, '{prefix}'), SpanAttributes))"
    )


# Search-index fields: (field name, attribute key).
SEARCH_FIELDS: Final[tuple[tuple[str, str], ...]] = (
    ("external_id", sc.ENTITY_EXTERNAL_ID),
    ("internal_id", sc.ENTITY_INTERNAL_ID),
    ("job_id", sc.RUN_JOB_ID),
)


# --------------------------------------------------------------------------- statements
def _storage_table(
    t: Target,
    table: StorageTable,
    columns: str,
    order: str,
    retention: Retention,
    *,
    partition: str,
    indexes: str = "",
    extra_settings: str = "",
) -> list[str]:
    local = t.storage_name(table.name)
    stmts = [
        f"CREATE TABLE IF NOT EXISTS {t.q(local)}{t.on_cluster}\n({columns}{indexes}\n)\n"
        f"ENGINE = {t.engine()}\nPARTITION BY {partition}\nORDER BY {order}"
        f"{_ttl_sql(table, retention)}\n{_table_settings(extra_settings)}"
    ]
    if t.cluster:
        stmts.append(
            f"CREATE TABLE IF NOT EXISTS {t.q(table.name)}{t.on_cluster} AS {t.q(local)}\n"
            f"ENGINE = Distributed({t.cluster}, {t.database}, {local}, cityHash64(TraceId))"
        )
    return stmts


def _table(name: str) -> StorageTable:
    return next(s for s in STORAGE_TABLES if s.name == name)


def initial_schema(settings: Settings) -> list[str]:
    """Migration 1: every table and view, in dependency order."""
    t = target_of(settings)
    r = settings.retention
    connector_cols = "".join(f",\n    {name} {typ}" for name, typ, _ in CONNECTOR_COLUMNS)
    stmts: list[str] = []

    # Landing tables: the exporter's columns, Null engine (rows only feed the views).
    stmts.append(
        f"CREATE TABLE IF NOT EXISTS {t.q(n.TRACES_INGEST)}{t.on_cluster}\n({_TRACE_COLUMNS}\n)\nENGINE = Null"
    )
    stmts.append(
        f"CREATE TABLE IF NOT EXISTS {t.q(n.LOGS_INGEST)}{t.on_cluster}\n({_LOG_COLUMNS}\n)\nENGINE = Null"
    )

    trace_indexes = (
        ",\n    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1"
        ",\n    INDEX idx_span_id SpanId TYPE bloom_filter(0.001) GRANULARITY 1"
        ",\n    INDEX idx_external_id EntityExternalId TYPE bloom_filter(0.01) GRANULARITY 1"
        ",\n    INDEX idx_internal_id EntityInternalId TYPE bloom_filter(0.01) GRANULARITY 1"
        ",\n    INDEX idx_http_status HttpStatus TYPE minmax GRANULARITY 1"
        ",\n    INDEX idx_duration Duration TYPE minmax GRANULARITY 1"
        ",\n    INDEX idx_url HttpUrl TYPE ngrambf_v1(3, 8192, 3, 0) GRANULARITY 1"
        ",\n    INDEX idx_status_message StatusMessage TYPE tokenbf_v1(8192, 3, 0) GRANULARITY 1"
        ",\n    INDEX idx_events_name Events.Name TYPE bloom_filter(0.01) GRANULARITY 1"
    )
    stmts += _storage_table(
        t,
        _table(n.TRACES),
        _TRACE_COLUMNS + connector_cols,
        "(ServiceName, Role, toStartOfHour(Timestamp), TraceId)",
        r,
        partition="toDate(Timestamp)",
        indexes=trace_indexes,
    )
    stmts += _storage_table(
        t,
        _table(n.PAYLOADS),
        "\n    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),\n    TraceId String,\n    SpanId String,"
        f"\n    ServiceName LowCardinality(String),\n    RequestHeaders {MAP},\n    ResponseHeaders {MAP},"
        "\n    RequestBody String,\n    ResponseBody String",
        "(ServiceName, TraceId, SpanId)",
        r,
        partition="toDate(Timestamp)",
        indexes=",\n    INDEX idx_span_id SpanId TYPE bloom_filter(0.001) GRANULARITY 1",
    )
    stmts += _storage_table(
        t,
        _table(n.TRACE_ID_TS),
        "\n    TraceId String,\n    Start DateTime CODEC(Delta, ZSTD(1)),\n    End DateTime CODEC(Delta, ZSTD(1)),"
        "\n    ServiceName LowCardinality(String)",
        "(TraceId, Start)",
        r,
        partition="toDate(Start)",
        indexes=",\n    INDEX idx_trace_id TraceId TYPE bloom_filter(0.01) GRANULARITY 1",
    )
    stmts += _storage_table(
        t,
        _table(n.SEARCH_INDEX),
        "\n    Value String,\n    Field LowCardinality(String),\n    ServiceName LowCardinality(String),"
        "\n    Timestamp DateTime CODEC(Delta, ZSTD(1)),\n    TraceId String,\n    SpanId String",
        "(Value, Timestamp)",
        r,
        partition="toDate(Timestamp)",
    )
    stmts += _storage_table(
        t,
        _table(n.LOGS),
        _LOG_COLUMNS.replace(
            "\n    TraceId String,",
            "\n    TimestampTime DateTime DEFAULT toDateTime(Timestamp),\n    TraceId String,",
            1,
        )
        + f",\n    {n.C_LOG_TENANT} LowCardinality(String)",
        "(ServiceName, TimestampTime, Timestamp)",
        r,
        partition="toDate(TimestampTime)",
        indexes=(
            ",\n    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1"
            ",\n    INDEX idx_severity SeverityNumber TYPE minmax GRANULARITY 1"
            ",\n    INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 1"
        ),
    )

    # Views: ingest -> storage. On a cluster they write through the Distributed tables.
    ingest_cols = ", ".join(f"`{c}`" for c in n.TRACES_INGEST_COLUMNS if c != "SpanAttributes")
    connector_exprs = "".join(f",\n    {expr} AS {name}" for name, _, expr in CONNECTOR_COLUMNS)
    stmts.append(
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {t.q(n.TRACES_MV)}{t.on_cluster} TO {t.q(n.TRACES)} AS\n"
        f"SELECT {ingest_cols},\n    mapFilter((k, v) -> NOT {_is_payload_key()}, SpanAttributes) AS SpanAttributes"
        f"{connector_exprs}\nFROM {t.q(n.TRACES_INGEST)}"
    )
    stmts.append(
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {t.q(n.PAYLOADS_MV)}{t.on_cluster} TO {t.q(n.PAYLOADS)} AS\n"
        f"SELECT Timestamp, TraceId, SpanId, ServiceName,\n"
        f"    {_header_map(sc.HTTP_REQUEST_HEADER_PREFIX)} AS RequestHeaders,\n"
        f"    {_header_map(sc.HTTP_RESPONSE_HEADER_PREFIX)} AS ResponseHeaders,\n"
        f"    {_attr(sc.HTTP_REQUEST_BODY)} AS RequestBody,\n    {_attr(sc.HTTP_RESPONSE_BODY)} AS ResponseBody\n"
        f"FROM {t.q(n.TRACES_INGEST)}\nWHERE arrayExists(k -> {_is_payload_key()}, mapKeys(SpanAttributes))"
    )
    stmts.append(
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {t.q(n.TRACE_ID_TS_MV)}{t.on_cluster} TO {t.q(n.TRACE_ID_TS)} AS\n"
        "SELECT TraceId, toDateTime(min(Timestamp)) AS Start, toDateTime(max(Timestamp)) + 1 AS End,"
        " ServiceName\n"
        f"FROM {t.q(n.TRACES_INGEST)}\nWHERE TraceId != ''\nGROUP BY TraceId, ServiceName"
    )
    pairs = ", ".join(f"('{field}', {_attr(key)})" for field, key in SEARCH_FIELDS)
    stmts.append(
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {t.q(n.SEARCH_INDEX_MV)}{t.on_cluster} TO {t.q(n.SEARCH_INDEX)} AS\n"
        "SELECT pair.2 AS Value, pair.1 AS Field, ServiceName, toDateTime(Timestamp) AS Timestamp, TraceId, SpanId\n"
        f"FROM {t.q(n.TRACES_INGEST)}\nARRAY JOIN arrayFilter(p -> p.2 != '', [{pairs}]) AS pair"
    )
    log_cols = ", ".join(f"`{c}`" for c in n.LOGS_INGEST_COLUMNS)
    stmts.append(
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {t.q(n.LOGS_MV)}{t.on_cluster} TO {t.q(n.LOGS)} AS\n"
        f"SELECT {log_cols}, toDateTime(Timestamp) AS TimestampTime,"
        f" ResourceAttributes['{sc.CONNECTOR_TENANT}'] AS {n.C_LOG_TENANT}\nFROM {t.q(n.LOGS_INGEST)}"
    )
    return stmts


# Inserts carry a deterministic `insert_deduplication_token` per batch (the collector's
# write-ahead log replays a batch with the same token), so a replay after a crash or a lost
# acknowledgement adds no rows. Non-replicated MergeTree tables only deduplicate within this
# window of recent blocks (Replicated tables use `replicated_deduplication_window`).
DEDUP_WINDOW: Final = 1000


def dedup_window(settings: Settings) -> list[str]:
    """Migration 2: keep a deduplication window on the storage tables that existed then."""
    t = target_of(settings)
    return [
        f"ALTER TABLE {t.q(t.storage_name(name))}{t.on_cluster}"
        f" MODIFY SETTING non_replicated_deduplication_window = {DEDUP_WINDOW}"
        for name in (n.TRACES, n.PAYLOADS, n.TRACE_ID_TS, n.SEARCH_INDEX, n.LOGS)
    ]


def _run_select(source: str) -> str:
    """Run rows from `source` (the ingest table, or otel_traces for the backfill): both have
    the exporter's columns, so one SELECT serves the view and the backfill."""
    status = (
        f"multiIf({_attr(sc.RUN_STATUS)} != '', {_attr(sc.RUN_STATUS)},"
        f" {_attr(sc.ROLE)} = '{sc.Role.RUN_START}', '{sc.RunStatus.RUNNING}',"
        f" StatusCode = 'Error', '{sc.RunStatus.ERROR}', '{sc.RunStatus.OK}')"
    )
    exprs = {name: expr for name, _, expr in CONNECTOR_COLUMNS}
    counters = "".join(
        f",\n    toUInt64OrZero({_attr(sc.count_key(c))}) AS {col}"
        for c, col in n.RUN_COUNTER_COLUMNS.items()
    )
    return (
        f"SELECT Timestamp, TraceId, SpanId, ServiceName,\n    {exprs[n.C_TENANT]} AS {n.C_TENANT},"
        f"\n    ResourceAttributes['{sc.SERVICE_VERSION}'] AS {n.C_VERSION},"
        f"\n    {exprs[n.C_SYNC_TYPE]} AS {n.C_SYNC_TYPE}, {exprs[n.C_TRIGGER]} AS {n.C_TRIGGER},"
        f" {exprs[n.C_JOB_ID]} AS {n.C_JOB_ID},"
        f"\n    {_attr(sc.ROLE)} = '{sc.Role.RUN}' AS {n.C_FINISHED}, {status} AS {n.C_RUN_STATUS},"
        f"\n    toInt32OrZero({_attr(sc.RUN_EXIT_CODE)}) AS {n.C_EXIT_CODE}, StatusMessage,"
        f" {exprs[n.C_FAILURE_CAUSE]} AS {n.C_FAILURE_CAUSE}, Duration{counters},"
        f"\n    toUInt64OrZero({_attr(sc.ERROR_COUNT)}) AS {n.C_ERROR_COUNT},"
        f" {exprs[n.C_RATE_LIMITED]} AS {n.C_RATE_LIMITED}"
        f"\nFROM {source}\nWHERE {_attr(sc.ROLE)} IN ('{sc.Role.RUN}', '{sc.Role.RUN_START}')"
    )


def runs_table(settings: Settings) -> list[str]:
    """Migration 3: `connector_runs`, one narrow row per run start and per finished run.

    The runs list, the failures overview and "the runs that touched record X" read only this
    table: typed status, exit code and counters instead of the wide attribute map of
    `otel_traces`. A run has a `Finished = false` row from its start marker and, once it
    ends, a `Finished = true` row; readers take the finished row when there is one.
    """
    t = target_of(settings)
    counters = "".join(f",\n    {col} UInt64 CODEC(T64, ZSTD(1))" for col in n.RUN_COUNTER_COLUMNS.values())
    columns = (
        "\n    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),\n    TraceId String,\n    SpanId String,"
        f"\n    ServiceName LowCardinality(String),\n    {n.C_TENANT} LowCardinality(String),"
        f"\n    {n.C_VERSION} LowCardinality(String),\n    {n.C_SYNC_TYPE} LowCardinality(String),"
        f"\n    {n.C_TRIGGER} LowCardinality(String),\n    {n.C_JOB_ID} String,\n    {n.C_FINISHED} Bool,"
        f"\n    {n.C_RUN_STATUS} LowCardinality(String),\n    {n.C_EXIT_CODE} Int32,\n    StatusMessage String,"
        f"\n    {n.C_FAILURE_CAUSE} LowCardinality(String),\n    Duration UInt64 CODEC(T64, ZSTD(1)){counters},"
        f"\n    {n.C_ERROR_COUNT} UInt64 CODEC(T64, ZSTD(1)),\n    {n.C_RATE_LIMITED} Bool"
    )
    stmts = _storage_table(
        t, _table(n.RUNS), columns, "(ServiceName, Timestamp, TraceId)", settings.retention,
        partition="toDate(Timestamp)",
        indexes=",\n    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1",
        extra_settings=f", non_replicated_deduplication_window = {DEDUP_WINDOW}",
    )  # fmt: skip
    stmts.append(
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {t.q(n.RUNS_MV)}{t.on_cluster} TO {t.q(n.RUNS)} AS\n"
        + _run_select(t.q(n.TRACES_INGEST))
    )
    # Backfill what was stored before this migration (the view sees only new inserts).
    stmts.append(f"INSERT INTO {t.q(n.RUNS)}\n" + _run_select(t.q(n.TRACES)))
    return stmts


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
