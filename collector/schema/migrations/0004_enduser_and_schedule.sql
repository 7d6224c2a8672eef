-- enduser id on spans and runs, and the schedule a run's job follows
ALTER TABLE ${db}.${local:otel_traces}${on_cluster}
    ADD COLUMN IF NOT EXISTS EnduserId String,
    ADD INDEX IF NOT EXISTS idx_enduser_id EnduserId TYPE bloom_filter(0.01) GRANULARITY 1;

${if_cluster} ALTER TABLE ${db}.otel_traces${on_cluster} ADD COLUMN IF NOT EXISTS EnduserId String;

ALTER TABLE ${db}.${local:connector_runs}${on_cluster}
    ADD COLUMN IF NOT EXISTS EnduserId String,
    ADD COLUMN IF NOT EXISTS Schedule LowCardinality(String);

${if_cluster} ALTER TABLE ${db}.connector_runs${on_cluster}
    ADD COLUMN IF NOT EXISTS EnduserId String,
    ADD COLUMN IF NOT EXISTS Schedule LowCardinality(String);

ALTER TABLE ${db}.otel_traces_mv${on_cluster} MODIFY QUERY
SELECT `Timestamp`, `TraceId`, `SpanId`, `ParentSpanId`, `TraceState`, `SpanName`, `SpanKind`, `ServiceName`, `ResourceAttributes`, `ScopeName`, `ScopeVersion`, `Duration`, `StatusCode`, `StatusMessage`, `Events.Timestamp`, `Events.Name`, `Events.Attributes`, `Links.TraceId`, `Links.SpanId`, `Links.TraceState`, `Links.Attributes`,
    mapFilter((k, v) -> NOT (startsWith(k, 'http.request.header.') OR startsWith(k, 'http.response.header.') OR k = 'http.request.body.content' OR k = 'http.response.body.content'), SpanAttributes) AS SpanAttributes,
    multiIf(SpanAttributes['connector.role'] != '', SpanAttributes['connector.role'], SpanKind = 'Client' AND SpanAttributes['http.request.method'] != '', 'http', SpanKind = 'Server' AND SpanAttributes['http.request.method'] != '', 'webhook', '') AS Role,
    if(ResourceAttributes['connector.tenant'] != '', ResourceAttributes['connector.tenant'], SpanAttributes['connector.tenant']) AS Tenant,
    SpanAttributes['connector.run.sync_type'] AS SyncType,
    SpanAttributes['connector.run.trigger'] AS Trigger,
    SpanAttributes['connector.run.job_id'] AS JobId,
    SpanAttributes['connector.step.name'] AS StepName,
    SpanAttributes['connector.entity.type'] AS EntityType,
    SpanAttributes['connector.entity.external_id'] AS EntityExternalId,
    SpanAttributes['connector.entity.internal_id'] AS EntityInternalId,
    SpanAttributes['connector.entity.action'] AS EntityAction,
    SpanAttributes['connector.failure.cause'] AS FailureCause,
    SpanAttributes['http.request.method'] AS HttpMethod,
    toUInt16OrZero(SpanAttributes['http.response.status_code']) AS HttpStatus,
    SpanAttributes['server.address'] AS HttpHost,
    SpanAttributes['url.full'] AS HttpUrl,
    SpanAttributes['url.template'] AS HttpUrlTemplate,
    multiIf(SpanAttributes['connector.http.direction'] != '', SpanAttributes['connector.http.direction'], SpanKind = 'Client' AND SpanAttributes['http.request.method'] != '', 'outgoing', SpanKind = 'Server' AND SpanAttributes['http.request.method'] != '', 'incoming', '') AS HttpDirection,
    SpanAttributes['connector.rate_limited'] = 'true' AS RateLimited,
    SpanAttributes['enduser.id'] AS EnduserId
FROM ${db}.otel_traces_ingest;

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
    SpanAttributes['connector.run.schedule'] AS Schedule
FROM ${db}.otel_traces_ingest
WHERE SpanAttributes['connector.role'] IN ('run', 'run_start');
