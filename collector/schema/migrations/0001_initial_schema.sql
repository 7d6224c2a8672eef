-- initial schema
CREATE TABLE IF NOT EXISTS ${db}.otel_traces_ingest${on_cluster}
(
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String,
    SpanId String,
    ParentSpanId String,
    TraceState String,
    SpanName LowCardinality(String),
    SpanKind LowCardinality(String),
    ServiceName LowCardinality(String),
    ResourceAttributes Map(LowCardinality(String), String),
    ScopeName String,
    ScopeVersion String,
    SpanAttributes Map(LowCardinality(String), String),
    Duration UInt64 CODEC(T64, ZSTD(1)),
    StatusCode LowCardinality(String),
    StatusMessage String,
    Events Nested (Timestamp DateTime64(9), Name LowCardinality(String), Attributes Map(LowCardinality(String), String)),
    Links Nested (TraceId String, SpanId String, TraceState String, Attributes Map(LowCardinality(String), String))
)
ENGINE = Null;

CREATE TABLE IF NOT EXISTS ${db}.otel_logs_ingest${on_cluster}
(
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String,
    SpanId String,
    TraceFlags UInt8,
    SeverityText LowCardinality(String),
    SeverityNumber UInt8,
    ServiceName LowCardinality(String),
    Body String,
    ResourceSchemaUrl LowCardinality(String),
    ResourceAttributes Map(LowCardinality(String), String),
    ScopeSchemaUrl LowCardinality(String),
    ScopeName String,
    ScopeVersion String,
    ScopeAttributes Map(LowCardinality(String), String),
    LogAttributes Map(LowCardinality(String), String)
)
ENGINE = Null;

CREATE TABLE IF NOT EXISTS ${db}.${local:otel_traces}${on_cluster}
(
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String,
    SpanId String,
    ParentSpanId String,
    TraceState String,
    SpanName LowCardinality(String),
    SpanKind LowCardinality(String),
    ServiceName LowCardinality(String),
    ResourceAttributes Map(LowCardinality(String), String),
    ScopeName String,
    ScopeVersion String,
    SpanAttributes Map(LowCardinality(String), String),
    Duration UInt64 CODEC(T64, ZSTD(1)),
    StatusCode LowCardinality(String),
    StatusMessage String,
    Events Nested (Timestamp DateTime64(9), Name LowCardinality(String), Attributes Map(LowCardinality(String), String)),
    Links Nested (TraceId String, SpanId String, TraceState String, Attributes Map(LowCardinality(String), String)),
    Role LowCardinality(String),
    Tenant LowCardinality(String),
    SyncType LowCardinality(String),
    Trigger LowCardinality(String),
    JobId String,
    StepName LowCardinality(String),
    EntityType LowCardinality(String),
    EntityExternalId String,
    EntityInternalId String,
    EntityAction LowCardinality(String),
    FailureCause LowCardinality(String),
    HttpMethod LowCardinality(String),
    HttpStatus UInt16,
    HttpHost LowCardinality(String),
    HttpUrl String,
    HttpUrlTemplate LowCardinality(String),
    HttpDirection LowCardinality(String),
    RateLimited Bool,
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_span_id SpanId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_external_id EntityExternalId TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_internal_id EntityInternalId TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_http_status HttpStatus TYPE minmax GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1,
    INDEX idx_url HttpUrl TYPE ngrambf_v1(3, 8192, 3, 0) GRANULARITY 1,
    INDEX idx_status_message StatusMessage TYPE tokenbf_v1(8192, 3, 0) GRANULARITY 1,
    INDEX idx_events_name Events.Name TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = ${engine:MergeTree}
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, Role, toStartOfHour(Timestamp), TraceId)
${ttl:otel_traces}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, default_compression_codec = 'ZSTD(1)';

${distributed:otel_traces};

CREATE TABLE IF NOT EXISTS ${db}.${local:otel_traces_payloads}${on_cluster}
(
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String,
    SpanId String,
    ServiceName LowCardinality(String),
    RequestHeaders Map(LowCardinality(String), String),
    ResponseHeaders Map(LowCardinality(String), String),
    RequestBody String,
    ResponseBody String,
    INDEX idx_span_id SpanId TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = ${engine:MergeTree}
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, TraceId, SpanId)
${ttl:otel_traces_payloads}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, default_compression_codec = 'ZSTD(1)';

${distributed:otel_traces_payloads};

CREATE TABLE IF NOT EXISTS ${db}.${local:otel_traces_trace_id_ts}${on_cluster}
(
    TraceId String,
    Start DateTime CODEC(Delta, ZSTD(1)),
    End DateTime CODEC(Delta, ZSTD(1)),
    ServiceName LowCardinality(String),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = ${engine:MergeTree}
PARTITION BY toDate(Start)
ORDER BY (TraceId, Start)
${ttl:otel_traces_trace_id_ts}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, default_compression_codec = 'ZSTD(1)';

${distributed:otel_traces_trace_id_ts};

CREATE TABLE IF NOT EXISTS ${db}.${local:connector_search_index}${on_cluster}
(
    Value String,
    Field LowCardinality(String),
    ServiceName LowCardinality(String),
    Timestamp DateTime CODEC(Delta, ZSTD(1)),
    TraceId String,
    SpanId String
)
ENGINE = ${engine:MergeTree}
PARTITION BY toDate(Timestamp)
ORDER BY (Value, Timestamp)
${ttl:connector_search_index}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, default_compression_codec = 'ZSTD(1)';

${distributed:connector_search_index};

CREATE TABLE IF NOT EXISTS ${db}.${local:otel_logs}${on_cluster}
(
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TimestampTime DateTime DEFAULT toDateTime(Timestamp),
    TraceId String,
    SpanId String,
    TraceFlags UInt8,
    SeverityText LowCardinality(String),
    SeverityNumber UInt8,
    ServiceName LowCardinality(String),
    Body String,
    ResourceSchemaUrl LowCardinality(String),
    ResourceAttributes Map(LowCardinality(String), String),
    ScopeSchemaUrl LowCardinality(String),
    ScopeName String,
    ScopeVersion String,
    ScopeAttributes Map(LowCardinality(String), String),
    LogAttributes Map(LowCardinality(String), String),
    Tenant LowCardinality(String),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_severity SeverityNumber TYPE minmax GRANULARITY 1,
    INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 1
)
ENGINE = ${engine:MergeTree}
PARTITION BY toDate(TimestampTime)
ORDER BY (ServiceName, TimestampTime, Timestamp)
${ttl:otel_logs}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, default_compression_codec = 'ZSTD(1)';

${distributed:otel_logs};

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.otel_traces_mv${on_cluster} TO ${db}.otel_traces AS
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
    SpanAttributes['connector.rate_limited'] = 'true' AS RateLimited
FROM ${db}.otel_traces_ingest;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.otel_traces_payloads_mv${on_cluster} TO ${db}.otel_traces_payloads AS
SELECT Timestamp, TraceId, SpanId, ServiceName,
    mapApply((k, v) -> (substring(k, 21), v), mapFilter((k, v) -> startsWith(k, 'http.request.header.'), SpanAttributes)) AS RequestHeaders,
    mapApply((k, v) -> (substring(k, 22), v), mapFilter((k, v) -> startsWith(k, 'http.response.header.'), SpanAttributes)) AS ResponseHeaders,
    SpanAttributes['http.request.body.content'] AS RequestBody,
    SpanAttributes['http.response.body.content'] AS ResponseBody
FROM ${db}.otel_traces_ingest
WHERE arrayExists(k -> (startsWith(k, 'http.request.header.') OR startsWith(k, 'http.response.header.') OR k = 'http.request.body.content' OR k = 'http.response.body.content'), mapKeys(SpanAttributes));

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.otel_traces_trace_id_ts_mv${on_cluster} TO ${db}.otel_traces_trace_id_ts AS
SELECT TraceId, toDateTime(min(Timestamp)) AS Start, toDateTime(max(Timestamp)) + 1 AS End, ServiceName
FROM ${db}.otel_traces_ingest
WHERE TraceId != ''
GROUP BY TraceId, ServiceName;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.connector_search_index_mv${on_cluster} TO ${db}.connector_search_index AS
SELECT pair.2 AS Value, pair.1 AS Field, ServiceName, toDateTime(Timestamp) AS Timestamp, TraceId, SpanId
FROM ${db}.otel_traces_ingest
ARRAY JOIN arrayFilter(p -> p.2 != '', [('external_id', SpanAttributes['connector.entity.external_id']), ('internal_id', SpanAttributes['connector.entity.internal_id']), ('job_id', SpanAttributes['connector.run.job_id'])]) AS pair;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.otel_logs_mv${on_cluster} TO ${db}.otel_logs AS
SELECT `Timestamp`, `TraceId`, `SpanId`, `TraceFlags`, `SeverityText`, `SeverityNumber`, `ServiceName`, `Body`, `ResourceSchemaUrl`, `ResourceAttributes`, `ScopeSchemaUrl`, `ScopeName`, `ScopeVersion`, `ScopeAttributes`, `LogAttributes`, toDateTime(Timestamp) AS TimestampTime, ResourceAttributes['connector.tenant'] AS Tenant
FROM ${db}.otel_logs_ingest;
