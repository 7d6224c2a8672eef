-- connector_faults: one narrow row per exception event, so the faults list is a key-range read
-- A fault is an `exception` span event. Its fields (the definition the faults list has used since
-- migration 1): the event's exception.type and exception.message (else the span's StatusMessage),
-- the event's connector.fault.url (else the span's url.full), the span's server.address (else the
-- URL's domain), the event's connector.fault.status_code (else the span's response status) and the
-- span's connector.failure.cause (else the event's). `Timestamp` is the span's start (time ranges and
-- a run's bounds filter on it, as on otel_traces); `FaultTimestamp` is the event's time. Same TTL as
-- otel_traces. The view reads the ingest table; the INSERT backfills what otel_traces already holds
-- (the SELECT lists the table's columns in order: INSERT ... SELECT maps by position).
CREATE TABLE IF NOT EXISTS ${db}.${local:connector_faults}${on_cluster}
(
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String,
    SpanId String,
    ServiceName LowCardinality(String),
    FaultTimestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    FaultType LowCardinality(String),
    FaultMessage String,
    FaultUrl String,
    FaultHost LowCardinality(String),
    HttpStatus UInt16,
    FailureCause LowCardinality(String),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = ${engine:MergeTree}
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, Timestamp, TraceId)
${ttl:otel_traces}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, default_compression_codec = 'ZSTD(1)', non_replicated_deduplication_window = 1000;

${distributed:connector_faults};

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.connector_faults_mv${on_cluster} TO ${db}.connector_faults AS
SELECT Timestamp, TraceId, SpanId, ServiceName,
    ev_ts AS FaultTimestamp,
    ev_attrs['exception.type'] AS FaultType,
    if(ev_attrs['exception.message'] != '', ev_attrs['exception.message'], StatusMessage) AS FaultMessage,
    if(ev_attrs['connector.fault.url'] != '', ev_attrs['connector.fault.url'], SpanAttributes['url.full']) AS FaultUrl,
    if(SpanAttributes['server.address'] != '', SpanAttributes['server.address'], domain(FaultUrl)) AS FaultHost,
    if(toUInt16OrZero(ev_attrs['connector.fault.status_code']) > 0, toUInt16OrZero(ev_attrs['connector.fault.status_code']), toUInt16OrZero(SpanAttributes['http.response.status_code'])) AS HttpStatus,
    if(SpanAttributes['connector.failure.cause'] != '', SpanAttributes['connector.failure.cause'], ev_attrs['connector.failure.cause']) AS FailureCause
FROM ${db}.otel_traces_ingest
ARRAY JOIN `Events.Timestamp` AS ev_ts, `Events.Name` AS ev_name, `Events.Attributes` AS ev_attrs
WHERE has(`Events.Name`, 'exception') AND ev_name = 'exception';

INSERT INTO ${db}.connector_faults
SELECT Timestamp, TraceId, SpanId, ServiceName,
    ev_ts AS FaultTimestamp,
    ev_attrs['exception.type'] AS FaultType,
    if(ev_attrs['exception.message'] != '', ev_attrs['exception.message'], StatusMessage) AS FaultMessage,
    if(ev_attrs['connector.fault.url'] != '', ev_attrs['connector.fault.url'], SpanAttributes['url.full']) AS FaultUrl,
    if(SpanAttributes['server.address'] != '', SpanAttributes['server.address'], domain(FaultUrl)) AS FaultHost,
    if(toUInt16OrZero(ev_attrs['connector.fault.status_code']) > 0, toUInt16OrZero(ev_attrs['connector.fault.status_code']), toUInt16OrZero(SpanAttributes['http.response.status_code'])) AS HttpStatus,
    if(SpanAttributes['connector.failure.cause'] != '', SpanAttributes['connector.failure.cause'], ev_attrs['connector.failure.cause']) AS FailureCause
FROM ${db}.otel_traces
ARRAY JOIN `Events.Timestamp` AS ev_ts, `Events.Name` AS ev_name, `Events.Attributes` AS ev_attrs
WHERE has(`Events.Name`, 'exception') AND ev_name = 'exception';
