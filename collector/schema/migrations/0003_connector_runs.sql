-- connector_runs: one narrow row per run
CREATE TABLE IF NOT EXISTS ${db}.${local:connector_runs}${on_cluster}
(
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String,
    SpanId String,
    ServiceName LowCardinality(String),
    Tenant LowCardinality(String),
    Version LowCardinality(String),
    SyncType LowCardinality(String),
    Trigger LowCardinality(String),
    JobId String,
    Finished Bool,
    RunStatus LowCardinality(String),
    ExitCode Int32,
    StatusMessage String,
    FailureCause LowCardinality(String),
    Duration UInt64 CODEC(T64, ZSTD(1)),
    Fetched UInt64 CODEC(T64, ZSTD(1)),
    Created UInt64 CODEC(T64, ZSTD(1)),
    Updated UInt64 CODEC(T64, ZSTD(1)),
    Unchanged UInt64 CODEC(T64, ZSTD(1)),
    Skipped UInt64 CODEC(T64, ZSTD(1)),
    Deleted UInt64 CODEC(T64, ZSTD(1)),
    Failed UInt64 CODEC(T64, ZSTD(1)),
    ErrorCount UInt64 CODEC(T64, ZSTD(1)),
    RateLimited Bool,
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = ${engine:MergeTree}
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, Timestamp, TraceId)
${ttl:connector_runs}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, default_compression_codec = 'ZSTD(1)', non_replicated_deduplication_window = 1000;

${distributed:connector_runs};

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.connector_runs_mv${on_cluster} TO ${db}.connector_runs AS
SELECT Timestamp, TraceId, SpanId, ServiceName,
    if(ResourceAttributes['connector.tenant'] != '', ResourceAttributes['connector.tenant'], SpanAttributes['connector.tenant']) AS Tenant,
    ResourceAttributes['service.version'] AS Version,
    SpanAttributes['connector.run.sync_type'] AS SyncType, SpanAttributes['connector.run.trigger'] AS Trigger, SpanAttributes['connector.run.job_id'] AS JobId,
    SpanAttributes['connector.role'] = 'run' AS Finished, multiIf(SpanAttributes['connector.run.status'] != '', SpanAttributes['connector.run.status'], SpanAttributes['connector.role'] = 'run_start', 'running', StatusCode = 'Error', 'error', 'ok') AS RunStatus,
    toInt32OrZero(SpanAttributes['connector.run.exit_code']) AS ExitCode, StatusMessage, SpanAttributes['connector.failure.cause'] AS FailureCause, Duration,
    toUInt64OrZero(SpanAttributes['connector.count.fetched']) AS Fetched,
    toUInt64OrZero(SpanAttributes['connector.count.created']) AS Created,
    toUInt64OrZero(SpanAttributes['connector.count.updated']) AS Updated,
    toUInt64OrZero(SpanAttributes['connector.count.unchanged']) AS Unchanged,
    toUInt64OrZero(SpanAttributes['connector.count.skipped']) AS Skipped,
    toUInt64OrZero(SpanAttributes['connector.count.deleted']) AS Deleted,
    toUInt64OrZero(SpanAttributes['connector.count.failed']) AS Failed,
    toUInt64OrZero(SpanAttributes['connector.error_count']) AS ErrorCount, SpanAttributes['connector.rate_limited'] = 'true' AS RateLimited
FROM ${db}.otel_traces_ingest
WHERE SpanAttributes['connector.role'] IN ('run', 'run_start');

INSERT INTO ${db}.connector_runs
SELECT Timestamp, TraceId, SpanId, ServiceName,
    if(ResourceAttributes['connector.tenant'] != '', ResourceAttributes['connector.tenant'], SpanAttributes['connector.tenant']) AS Tenant,
    ResourceAttributes['service.version'] AS Version,
    SpanAttributes['connector.run.sync_type'] AS SyncType, SpanAttributes['connector.run.trigger'] AS Trigger, SpanAttributes['connector.run.job_id'] AS JobId,
    SpanAttributes['connector.role'] = 'run' AS Finished, multiIf(SpanAttributes['connector.run.status'] != '', SpanAttributes['connector.run.status'], SpanAttributes['connector.role'] = 'run_start', 'running', StatusCode = 'Error', 'error', 'ok') AS RunStatus,
    toInt32OrZero(SpanAttributes['connector.run.exit_code']) AS ExitCode, StatusMessage, SpanAttributes['connector.failure.cause'] AS FailureCause, Duration,
    toUInt64OrZero(SpanAttributes['connector.count.fetched']) AS Fetched,
    toUInt64OrZero(SpanAttributes['connector.count.created']) AS Created,
    toUInt64OrZero(SpanAttributes['connector.count.updated']) AS Updated,
    toUInt64OrZero(SpanAttributes['connector.count.unchanged']) AS Unchanged,
    toUInt64OrZero(SpanAttributes['connector.count.skipped']) AS Skipped,
    toUInt64OrZero(SpanAttributes['connector.count.deleted']) AS Deleted,
    toUInt64OrZero(SpanAttributes['connector.count.failed']) AS Failed,
    toUInt64OrZero(SpanAttributes['connector.error_count']) AS ErrorCount, SpanAttributes['connector.rate_limited'] = 'true' AS RateLimited
FROM ${db}.otel_traces
WHERE SpanAttributes['connector.role'] IN ('run', 'run_start');
