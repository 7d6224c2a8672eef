-- entity reason as a typed column of otel_traces
-- A record's timeline and a run's entities show why an entity was skipped or failed
-- (`connector.entity.reason`). Read from SpanAttributes, that decompresses the whole map of
-- every granule holding one of the entity spans; as its own column it is a narrow read.
-- DEFAULT fills it on every insert (the view that fills otel_traces needs no change) and on
-- reads of parts written before this migration; MATERIALIZE writes it into those parts (a
-- background mutation, so the upgrade does not block on a large table).
ALTER TABLE ${db}.${local:otel_traces}${on_cluster}
    ADD COLUMN IF NOT EXISTS EntityReason String DEFAULT SpanAttributes['connector.entity.reason'];

${if_cluster} ALTER TABLE ${db}.otel_traces${on_cluster}
    ADD COLUMN IF NOT EXISTS EntityReason String DEFAULT SpanAttributes['connector.entity.reason'];

ALTER TABLE ${db}.${local:otel_traces}${on_cluster} MATERIALIZE COLUMN EntityReason;
