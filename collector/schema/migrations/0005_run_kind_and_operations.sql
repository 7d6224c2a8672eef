-- run kind, operation status/owner/target/queued time and the job tick on connector_runs
ALTER TABLE ${db}.${local:connector_runs}${on_cluster}
    ADD COLUMN IF NOT EXISTS RunKind LowCardinality(String),
    ADD COLUMN IF NOT EXISTS OperationStatus LowCardinality(String),
    ADD COLUMN IF NOT EXISTS OperationOwner String,
    ADD COLUMN IF NOT EXISTS OperationTarget String,
    ADD COLUMN IF NOT EXISTS OperationQueuedAt DateTime64(9, 'UTC'),
    ADD COLUMN IF NOT EXISTS JobTick DateTime64(9, 'UTC');

${if_cluster} ALTER TABLE ${db}.connector_runs${on_cluster}
    ADD COLUMN IF NOT EXISTS RunKind LowCardinality(String),
    ADD COLUMN IF NOT EXISTS OperationStatus LowCardinality(String),
    ADD COLUMN IF NOT EXISTS OperationOwner String,
    ADD COLUMN IF NOT EXISTS OperationTarget String,
    ADD COLUMN IF NOT EXISTS OperationQueuedAt DateTime64(9, 'UTC'),
    ADD COLUMN IF NOT EXISTS JobTick DateTime64(9, 'UTC');

ALTER TABLE ${db}.connector_runs_mv${on_cluster} MODIFY QUERY
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
    toUInt64OrZero(SpanAttributes['connector.error_count']) AS ErrorCount, SpanAttributes['connector.rate_limited'] = 'true' AS RateLimited,
    SpanAttributes['enduser.id'] AS EnduserId,
    SpanAttributes['connector.run.schedule'] AS Schedule,
    SpanAttributes['connector.run.kind'] AS RunKind,
    SpanAttributes['connector.operation.status'] AS OperationStatus,
    SpanAttributes['connector.operation.owner'] AS OperationOwner,
    SpanAttributes['connector.operation.target'] AS OperationTarget,
    parseDateTime64BestEffortOrZero(SpanAttributes['connector.operation.queued_at'], 9, 'UTC') AS OperationQueuedAt,
    parseDateTime64BestEffortOrZero(SpanAttributes['connector.run.job_tick'], 9, 'UTC') AS JobTick
FROM ${db}.otel_traces_ingest
WHERE SpanAttributes['connector.role'] IN ('run', 'run_start');
