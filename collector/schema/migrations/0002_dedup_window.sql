-- deduplication window for idempotent replays
ALTER TABLE ${db}.${local:otel_traces}${on_cluster} MODIFY SETTING non_replicated_deduplication_window = 1000;

ALTER TABLE ${db}.${local:otel_traces_payloads}${on_cluster} MODIFY SETTING non_replicated_deduplication_window = 1000;

ALTER TABLE ${db}.${local:otel_traces_trace_id_ts}${on_cluster} MODIFY SETTING non_replicated_deduplication_window = 1000;

ALTER TABLE ${db}.${local:connector_search_index}${on_cluster} MODIFY SETTING non_replicated_deduplication_window = 1000;

ALTER TABLE ${db}.${local:otel_logs}${on_cluster} MODIFY SETTING non_replicated_deduplication_window = 1000;
