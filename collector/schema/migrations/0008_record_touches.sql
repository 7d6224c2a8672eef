-- connector_record_touches: one narrow row per span and record or job id, so a record look-up and its timeline are key-range reads
-- A record look-up (GET /search?q=<id>) finds the runs whose spans carry the id (external id,
-- internal id or job id, as connector_search_index does), then lists the record's timeline: the
-- entity spans (Role 'entity') whose external or internal id is the id. The index is partitioned
-- by day (30 granules for a month) and the entity spans sit in otel_traces one per granule over a
-- month; here both are one table sorted by the id (`Value`), partitioned by week, with a small
-- granule, so the look-up reads a few small granules. One row per span and distinct non-empty id
-- (a span whose external and internal ids are equal has one row, so a touch is listed once); which
-- field matched is `EntityExternalId`/`EntityInternalId`/`JobId` = `Value`. The other columns keep
-- their otel_traces names and values (Role derived as otel_traces_mv does), so the timeline selects
-- the same expressions as the entities list. Same TTL days as otel_traces. The view reads the
-- ingest table; the INSERT backfills what otel_traces already holds (the SELECT lists the table's
-- columns in order).
CREATE TABLE IF NOT EXISTS ${db}.${local:connector_record_touches}${on_cluster}
(
    Value String,
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    ServiceName LowCardinality(String),
    TraceId String,
    SpanId String,
    ParentSpanId String,
    Role LowCardinality(String),
    JobId String,
    StepName LowCardinality(String),
    EntityType LowCardinality(String),
    EntityExternalId String,
    EntityInternalId String,
    EntityAction LowCardinality(String),
    EntityReason String,
    StatusCode LowCardinality(String),
    StatusMessage String,
    FailureCause LowCardinality(String),
    Duration UInt64 CODEC(T64, ZSTD(1))
)
ENGINE = ${engine:MergeTree}
PARTITION BY toMonday(Timestamp)
ORDER BY (Value, Timestamp)
${ttl:connector_record_touches}
SETTINGS index_granularity = 1024, ttl_only_drop_parts = 1, default_compression_codec = 'ZSTD(1)', non_replicated_deduplication_window = 1000;

${distributed:connector_record_touches};

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.connector_record_touches_mv${on_cluster} TO ${db}.connector_record_touches AS
SELECT Value, Timestamp, ServiceName, TraceId, SpanId, ParentSpanId,
    multiIf(SpanAttributes['connector.role'] != '', SpanAttributes['connector.role'], SpanKind = 'Client' AND SpanAttributes['http.request.method'] != '', 'http', SpanKind = 'Server' AND SpanAttributes['http.request.method'] != '', 'webhook', '') AS Role,
    SpanAttributes['connector.run.job_id'] AS JobId,
    SpanAttributes['connector.step.name'] AS StepName,
    SpanAttributes['connector.entity.type'] AS EntityType,
    SpanAttributes['connector.entity.external_id'] AS EntityExternalId,
    SpanAttributes['connector.entity.internal_id'] AS EntityInternalId,
    SpanAttributes['connector.entity.action'] AS EntityAction,
    SpanAttributes['connector.entity.reason'] AS EntityReason,
    StatusCode, StatusMessage,
    SpanAttributes['connector.failure.cause'] AS FailureCause,
    Duration
FROM ${db}.otel_traces_ingest
ARRAY JOIN arrayDistinct(arrayFilter(v -> v != '', [SpanAttributes['connector.entity.external_id'], SpanAttributes['connector.entity.internal_id'], SpanAttributes['connector.run.job_id']])) AS Value;

INSERT INTO ${db}.connector_record_touches
SELECT Value, Timestamp, ServiceName, TraceId, SpanId, ParentSpanId, Role, JobId, StepName, EntityType,
    EntityExternalId, EntityInternalId, EntityAction, EntityReason, StatusCode, StatusMessage,
    FailureCause, Duration
FROM ${db}.otel_traces
ARRAY JOIN arrayDistinct(arrayFilter(v -> v != '', [EntityExternalId, EntityInternalId, JobId])) AS Value
WHERE EntityExternalId != '' OR EntityInternalId != '' OR JobId != '';
