"""The chDB writer (Arrow through `Python()`) stores exactly what the portable Native writer stores.

Both sinks get the same decoded batch (every attribute value type, events, links, unicode,
nanosecond timestamps) into the same ingest table and views; the stored rows must be equal.
The Arrow sink must also keep the WAL's dedup token and raise errors that
`collector.insert_errors` classifies like clickhouse-connect's.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, SeverityNumber

from connlog.collector.arrow_batch import UnsupportedType, builder
from connlog.collector.batch import ColumnBatch
from connlog.collector.chdb_sink import ChdbArrowSink
from connlog.collector.config import Settings
from connlog.collector.decode_logs import decode_logs
from connlog.collector.decode_traces import decode_traces
from connlog.collector.insert_errors import is_permanent
from connlog.collector.schema.names import LOGS, LOGS_INGEST, TRACES, TRACES_INGEST
from connlog.collector.sink import ClickHouseSink, sink_for_url
from tests.collector_env import fresh_database
from tests.otlp_samples import START_NS, kv, logs_request, span, traces_request


def _spans_batch() -> ColumnBatch:
    spans = []
    for i in range(4):
        s = span(f"span-{i} ünïcode", span_id=bytes([i + 1]) * 8)
        s.attributes.extend(
            [
                kv("http.request.body.content", string_value='{"a": "é", "n": ' + str(i) + "}"),
                kv("n", int_value=-i),
                kv("f", double_value=1.5e-7),
                kv("ok", bool_value=True),
                kv("raw", bytes_value=b"\x00\xff"),
                kv("list", array_value={"values": [{"string_value": "x"}, {"int_value": 2}]}),
            ]
        )
        if i % 2:
            ev = s.events.add(time_unix_nano=START_NS + 7, name="exception")
            ev.attributes.append(kv("exception.message", string_value=f"boom {i}"))
            link = s.links.add(trace_id=bytes(16), span_id=bytes([9]) * 8, trace_state="k=v")
            link.attributes.append(kv("l", string_value="1"))
        spans.append(s)
    return decode_traces(traces_request(*spans))


def _logs_batch() -> ColumnBatch:
    records = [
        LogRecord(
            time_unix_nano=START_NS + i,
            severity_number=SeverityNumber.SEVERITY_NUMBER_WARN,
            severity_text="WARN",
            body=AnyValue(string_value=f"m{i}"),
        )
        for i in range(3)
    ]
    for r in records:
        r.attributes.append(kv("k", string_value="v"))
    return decode_logs(logs_request(*records))


@pytest.fixture(scope="module")
def two_databases(base_settings: Settings) -> Iterator[tuple[Client, Client]]:
    with (
        fresh_database(base_settings, "native") as (_, native),
        fresh_database(base_settings, "arrow") as (_, arrow),
    ):
        yield native, arrow


def _rows(client: Client, table: str) -> list[Any]:
    return [tuple(r) for r in client.query(f"SELECT * FROM {table} ORDER BY Timestamp, SpanId").result_rows]


@pytest.mark.parametrize(
    ("make", "ingest", "stored"), [(_spans_batch, TRACES_INGEST, TRACES), (_logs_batch, LOGS_INGEST, LOGS)]
)
def test_arrow_sink_stores_what_the_native_sink_stores(
    two_databases: tuple[Client, Client], make: Any, ingest: str, stored: str
) -> None:
    native, arrow = two_databases
    batch = make()
    ClickHouseSink(native).write(ingest, batch.columns, batch.data, token=f"{ingest}-1")
    ChdbArrowSink(arrow).write(ingest, batch.columns, batch.data, token=f"{ingest}-1")
    expected = _rows(native, stored)
    assert len(expected) == batch.rows
    assert _rows(arrow, stored) == expected


def test_same_token_is_stored_once_and_a_new_token_is_new_data(ch_client: Client) -> None:
    sink = ChdbArrowSink(ch_client)
    batch = _spans_batch()

    def count() -> int:
        return int(str(ch_client.command(f"SELECT count() FROM {TRACES}")))

    sink.write(TRACES_INGEST, batch.columns, batch.data, token="t'1")  # quoting of the token
    sink.write(TRACES_INGEST, batch.columns, batch.data, token="t'1")  # the replay
    assert count() == batch.rows
    sink.write(TRACES_INGEST, batch.columns, batch.data, token="t-2")
    assert count() == 2 * batch.rows


def test_errors_are_classified_like_clickhouse_connect_ones(ch_client: Client) -> None:
    sink = ChdbArrowSink(ch_client)
    batch = _spans_batch()
    with pytest.raises(DatabaseError) as missing:
        sink.write("no_such_table", batch.columns, batch.data)
    assert missing.value.code == 60 and not is_permanent(missing.value)  # UNKNOWN_TABLE: schema not there yet
    bad = [list(col) for col in batch.data]
    bad[0][0] = "not a timestamp"
    with pytest.raises(Exception) as wrong:
        sink.write(TRACES_INGEST, batch.columns, bad)
    assert is_permanent(wrong.value)
    with pytest.raises(ValueError, match="plain table name"):
        sink.write("x; DROP TABLE y", batch.columns, batch.data)


def test_the_writer_follows_the_dsn_scheme() -> None:
    assert sink_for_url("chdb:///var/lib/connlog") is ChdbArrowSink
    assert sink_for_url("http://clickhouse:8123") is ClickHouseSink
    assert sink_for_url("https://clickhouse:8443") is ClickHouseSink


def test_a_type_without_an_arrow_shape_goes_through_the_native_writer(ch_client: Client) -> None:
    ch_client.command("CREATE TABLE uuids (id UUID, n UInt8) ENGINE = Memory")
    sink = ChdbArrowSink(ch_client)
    value = uuid.UUID("12345678-1234-5678-1234-567812345678")
    sink.write("uuids", ("id", "n"), [[value], [7]])
    assert ch_client.query("SELECT id, n FROM uuids").result_rows == [(value, 7)]
    with pytest.raises(UnsupportedType, match="UUID"):
        builder("UUID")
