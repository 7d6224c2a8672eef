"""Decoder value formats and batcher mechanics (batching, flush, retries, backlog bound).

The batcher tests use an in-memory `Sink` to observe insert boundaries and to inject
failures; the ClickHouse path itself is covered end to end in the other collector tests.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from connlog.collector.anyvalue import any_value_to_str, attributes_to_map, format_double
from connlog.collector.batch import ColumnBatch
from connlog.collector.batcher import Batcher, Unavailable
from connlog.collector.decode_logs import decode_logs
from connlog.collector.decode_traces import decode_traces
from connlog.collector.options import CollectorOptions
from connlog.collector.schema.names import LOGS_INGEST_COLUMNS, TRACES_INGEST, TRACES_INGEST_COLUMNS
from connlog.collector.stats import Stats
from tests.otlp_samples import SPAN_ID, START_NS, TRACE_ID, kv, logs_request, span, traces_request


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (AnyValue(string_value="héllo"), "héllo"),
        (AnyValue(int_value=-42), "-42"),
        (AnyValue(bool_value=True), "true"),
        (AnyValue(bool_value=False), "false"),
        (AnyValue(double_value=1.0), "1"),
        (AnyValue(double_value=0.1), "0.1"),
        (AnyValue(double_value=1e21), "1000000000000000000000"),
        (AnyValue(double_value=1.5e-7), "0.00000015"),
        (AnyValue(double_value=math.inf), "+Inf"),
        (AnyValue(bytes_value=b"\x00\xff"), "AP8="),
        (AnyValue(), ""),
        (
            AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=1), AnyValue(string_value="a")])),
            '[1,"a"]',
        ),
        (
            AnyValue(
                kvlist_value=KeyValueList(
                    values=[
                        KeyValue(key="z", value=AnyValue(bool_value=True)),
                        KeyValue(key="a", value=AnyValue(double_value=2.5)),
                    ]
                )
            ),
            '{"a":2.5,"z":true}',
        ),
    ],
)
def test_any_value_flattening_matches_exporter(value: AnyValue, expected: str) -> None:
    assert any_value_to_str(value) == expected


def test_format_double_nan_and_negative_zero() -> None:
    assert format_double(math.nan) == "NaN"
    assert format_double(-0.0) == "0"
    assert format_double(-2.5) == "-2.5"


def test_attribute_map_sorted_and_last_duplicate_wins() -> None:
    attrs = attributes_to_map([kv("b", string_value="1"), kv("a", int_value=2), kv("b", string_value="3")])
    assert list(attrs.items()) == [("a", "2"), ("b", "3")]


def test_decode_traces_columns_and_negative_duration() -> None:
    bad_clock = span("clock skew")
    bad_clock.end_time_unix_nano = bad_clock.start_time_unix_nano - 5
    bad_clock.kind = 99  # unknown enum value -> Unspecified
    batch = decode_traces(traces_request(span("ok", parent=SPAN_ID), bad_clock))
    assert batch.columns == TRACES_INGEST_COLUMNS and batch.table == TRACES_INGEST
    assert batch.rows == 2 and all(len(col) == 2 for col in batch.data)
    assert batch.column("Duration") == [1500, 0]
    assert batch.column("SpanKind") == ["Client", "Unspecified"]
    assert batch.column("TraceId") == [TRACE_ID.hex()] * 2
    assert batch.column("ParentSpanId") == [SPAN_ID.hex(), ""]
    assert batch.column("Timestamp") == [START_NS, START_NS]
    assert batch.column("ServiceName") == ["svc", "svc"]


def test_decode_logs_body_and_timestamp_fallback() -> None:
    batch = decode_logs(
        logs_request(
            LogRecord(time_unix_nano=5, observed_time_unix_nano=9, body=AnyValue(int_value=3), flags=0x101),
            LogRecord(observed_time_unix_nano=9, body=AnyValue(string_value="x")),
        )
    )
    assert batch.columns == LOGS_INGEST_COLUMNS
    assert batch.column("Timestamp") == [5, 9]
    assert batch.column("Body") == ["3", "x"]
    assert batch.column("TraceFlags") == [1, 0]
    assert batch.column("TraceId") == ["", ""]


# --------------------------------------------------------------------------- batcher
class RecordingSink:
    """Keeps every insert; fails the first `failures` calls."""

    def __init__(self, failures: int = 0, delay: float = 0.0) -> None:
        self.inserts: list[tuple[str, int]] = []
        self.failures = failures
        self.delay = delay
        self.closed = False

    def write(self, table: str, columns: Sequence[str], data: list[list[Any]]) -> None:
        time.sleep(self.delay)
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("clickhouse went away")
        self.inserts.append((table, len(data[0])))

    def close(self) -> None:
        self.closed = True


def _batch(rows: int, signal: str = "spans") -> ColumnBatch:
    return ColumnBatch(
        table=f"t_{signal}",
        signal=signal,
        columns=("a",),
        data=[list(range(rows))],
        rows=rows,
        nbytes=rows * 10,
    )


def _batcher(sink: RecordingSink, **opts: Any) -> tuple[Batcher, Stats]:
    stats = Stats()
    batcher = Batcher(sink, stats, CollectorOptions(**{"insert_backoff_s": 0.01, **opts}))
    batcher.start()
    return batcher, stats


def test_batches_merge_into_one_insert_per_table_on_flush() -> None:
    sink = RecordingSink()
    batcher, stats = _batcher(sink, batch_max_delay_s=60)
    for _ in range(5):
        assert batcher.submit(_batch(10))
    assert batcher.submit(_batch(4, "logs"))
    assert batcher.flush(5)
    assert sorted(sink.inserts) == [("t_logs", 4), ("t_spans", 50)]
    assert stats.get("spans_written") == 50 and stats.get("batches_written") == 2
    batcher.stop()


def test_row_threshold_triggers_insert_without_flush() -> None:
    sink = RecordingSink()
    batcher, _ = _batcher(sink, batch_max_rows=100, batch_max_delay_s=60)
    batcher.submit(_batch(60))
    time.sleep(0.2)
    assert sink.inserts == []
    batcher.submit(_batch(60))
    deadline = time.monotonic() + 5
    while not sink.inserts and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sink.inserts == [("t_spans", 120)]
    batcher.stop()


def test_time_threshold_triggers_insert() -> None:
    sink = RecordingSink()
    batcher, _ = _batcher(sink, batch_max_delay_s=0.1)
    started = time.monotonic()
    batcher.submit(_batch(1))
    while not sink.inserts and time.monotonic() - started < 5:
        time.sleep(0.005)
    assert sink.inserts == [("t_spans", 1)]
    assert 0.05 < time.monotonic() - started < 2
    batcher.stop()


def test_insert_failures_are_retried_then_counted_as_dropped() -> None:
    sink = RecordingSink(failures=2)
    batcher, stats = _batcher(sink, insert_retries=3)
    batcher.submit(_batch(7))
    assert batcher.flush(5)
    assert sink.inserts == [("t_spans", 7)]
    assert stats.get("insert_retries") == 2 and stats.get("spans_written") == 7

    sink.failures = 10
    batcher.submit(_batch(3))
    assert batcher.flush(5)
    assert stats.get("spans_dropped") == 3 and stats.get("batches_failed") == 1
    assert batcher.backlog()["rows"] == 0  # dropped rows free the backlog
    batcher.stop()


def test_backlog_bound_refuses_and_frees_after_write() -> None:
    sink = RecordingSink(delay=0.3)
    batcher, stats = _batcher(sink, queue_max_rows=10, queue_max_bytes=10_000, batch_max_delay_s=0.01)
    assert batcher.submit(_batch(8))
    assert not batcher.submit(_batch(5))  # 8 + 5 > 10
    assert stats.get("spans_refused") == 5
    assert batcher.flush(5)
    assert batcher.submit(_batch(5))
    # A single batch larger than the bound is accepted when the backlog is empty.
    assert batcher.flush(5)
    assert batcher.submit(_batch(50))
    batcher.stop()
    assert sum(rows for _, rows in sink.inserts) == 63


def test_stop_writes_everything_and_then_refuses() -> None:
    sink = RecordingSink(delay=0.05)
    batcher, _ = _batcher(sink, batch_max_delay_s=60)
    threads = [
        threading.Thread(target=lambda: [batcher.submit(_batch(1)) for _ in range(50)]) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    batcher.stop()
    assert sum(rows for _, rows in sink.inserts) == 200
    with pytest.raises(Unavailable):
        batcher.submit(_batch(1))
