"""OTLP/gRPC status mapping and the bounded write backlog (429 / UNAVAILABLE + retry).

Backpressure is provoked with a real ClickHouse sink held behind a gate: the writer is
slow, not fake, and rows still land in chDB once the gate opens.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import grpc
import httpx
import pytest
from clickhouse_connect.driver.client import Client
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.logs.v1.logs_service_pb2_grpc import LogsServiceStub
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from connlog.collector.options import CollectorOptions
from connlog.collector.schema.names import LOGS, TRACES
from tests.faulty_sink import FaultySink
from tests.otlp_samples import START_NS, logs_request, span, traces_request
from tests.pipeline import Pipeline, PipelineFactory


@pytest.fixture
def channel(pipeline: Pipeline) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(pipeline.grpc_endpoint) as ch:
        yield ch


def _ids(n: int, first: int = 0) -> list[Any]:
    return [span(f"s{i}", span_id=(i + 1).to_bytes(8, "big")) for i in range(first, first + n)]


def _post_traces(p: Pipeline, *spans: Any) -> httpx.Response:
    """The spans as one OTLP/HTTP protobuf request to the pipeline's collector."""
    return httpx.post(
        f"{p.http_endpoint}/v1/traces",
        content=traces_request(*spans).SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )


def test_grpc_partial_success_for_wrong_length_ids(pipeline: Pipeline, channel: grpc.Channel) -> None:
    request = traces_request(span("good"), span("bad", span_id=b"\x01"))
    response: ExportTraceServiceResponse = TraceServiceStub(channel).Export(request, timeout=10)
    assert response.partial_success.rejected_spans == 1
    pipeline.flush()
    assert pipeline.client.query(f"SELECT SpanName FROM {TRACES}").result_rows == [("good",)]


def test_grpc_gzip_logs(pipeline: Pipeline, channel: grpc.Channel) -> None:
    request = logs_request(LogRecord(time_unix_nano=START_NS, severity_text="INFO"))
    response = LogsServiceStub(channel).Export(request, timeout=10, compression=grpc.Compression.Gzip)
    assert response == ExportLogsServiceResponse()
    pipeline.flush()
    rows = pipeline.client.query(
        f"SELECT SeverityText, toUnixTimestamp64Nano(Timestamp) FROM {LOGS}"
    ).result_rows
    assert rows == [("INFO", START_NS)]


def test_grpc_malformed_message_is_invalid_argument(pipeline: Pipeline, channel: grpc.Channel) -> None:
    raw = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
    with pytest.raises(grpc.RpcError) as err:
        raw(b"\xff\xff\xff\xff", timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    TraceServiceStub(channel).Export(traces_request(span("still serving")), timeout=10)
    pipeline.flush()
    assert pipeline.client.query(f"SELECT SpanName FROM {TRACES}").result_rows == [("still serving",)]


class GatedSink(FaultySink):
    """A real ClickHouse sink that waits for `gate` before each insert: a slow writer."""

    def __init__(self, client: Client) -> None:
        super().__init__(client)
        self.gate = threading.Event()
        self.waiting = threading.Event()

    def before(self, columns: Sequence[str], data: list[list[Any]]) -> None:
        self.waiting.set()
        assert self.gate.wait(30), "test never opened the gate"


def test_backlog_full_gives_429_and_unavailable_then_recovers(pipeline_factory: PipelineFactory) -> None:
    sinks: list[GatedSink] = []

    def make_sink(client: Client) -> GatedSink:
        sinks.append(GatedSink(client))
        return sinks[-1]

    p = pipeline_factory(
        CollectorOptions(queue_max_rows=5, batch_max_delay_s=0.01, retry_after_s=2), sink_factory=make_sink
    )
    sink = sinks[0]
    url = f"{p.http_endpoint}/v1/traces"
    headers = {"Content-Type": "application/x-protobuf"}
    first = _post_traces(p, *_ids(3))
    assert first.status_code == 200
    assert sink.waiting.wait(10)  # the writer holds 3 rows and is stuck

    # 3 + 3 > 5: refused, with a retry hint; nothing is queued.
    # The refused spans are new ones (3..5): a retry of identical span ids would be a
    # duplicate, which the storage tables' deduplication window rightly drops.
    second = httpx.post(
        url,
        content=gzip.compress(traces_request(*_ids(3, first=3)).SerializeToString()),
        headers={**headers, "Content-Encoding": "gzip"},
    )
    assert second.status_code == 429
    assert second.headers["Retry-After"] == "2"
    with grpc.insecure_channel(p.grpc_endpoint) as ch:
        with pytest.raises(grpc.RpcError) as err:
            TraceServiceStub(ch).Export(traces_request(*_ids(3, first=3)), timeout=10)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        # Health endpoints keep answering while the writer is stuck.
        assert httpx.get(f"{p.http_endpoint}/healthz").status_code == 200
        stats = httpx.get(f"{p.http_endpoint}/stats").json()
        assert stats["backlog"]["rows"] == 3
        assert stats["counters"]["spans_refused"] == 6
        assert stats["counters"]["requests_backpressured"] == 2

        sink.gate.set()
        p.flush()
        retry = TraceServiceStub(ch).Export(traces_request(*_ids(3, first=3)), timeout=10)
        assert retry == ExportTraceServiceResponse()
    p.flush()
    assert p.client.query(f"SELECT count() FROM {TRACES}").result_rows == [(6,)]
    assert p.stats["spans_written"] == 6


def test_transform_seam_rewrites_rows_before_queueing(pipeline_factory: PipelineFactory) -> None:
    from connlog.collector.batch import ColumnBatch

    def redact(batch: ColumnBatch) -> ColumnBatch:
        if batch.signal == "spans":
            names = batch.column("SpanName")
            names[:] = ["<redacted>" for _ in names]
        return batch

    p = pipeline_factory(transform=redact)
    resp = _post_traces(p, span("secret"))
    assert resp.status_code == 200
    p.flush()
    assert p.client.query(f"SELECT SpanName FROM {TRACES}").result_rows == [("<redacted>",)]


def test_failing_transform_rejects_request(pipeline_factory: PipelineFactory) -> None:
    from connlog.collector.batch import ColumnBatch

    def broken(batch: ColumnBatch) -> ColumnBatch:
        raise KeyError("no rule")

    p = pipeline_factory(transform=broken)
    resp = _post_traces(p, span("x"))
    assert resp.status_code == 400
    with grpc.insecure_channel(p.grpc_endpoint) as ch, pytest.raises(grpc.RpcError) as err:
        TraceServiceStub(ch).Export(traces_request(span("x")), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_concurrent_http_and_grpc_senders_lose_nothing(pipeline: Pipeline) -> None:
    def http_sender(worker: int) -> None:
        with httpx.Client() as client:
            for i in range(10):
                spans = [
                    span("h", span_id=(worker * 1000 + i * 10 + j + 1).to_bytes(8, "big")) for j in range(10)
                ]
                resp = client.post(
                    f"{pipeline.http_endpoint}/v1/traces",
                    content=traces_request(*spans).SerializeToString(),
                    headers={"Content-Type": "application/x-protobuf"},
                )
                assert resp.status_code == 200

    def grpc_sender(worker: int) -> None:
        with grpc.insecure_channel(pipeline.grpc_endpoint) as ch:
            stub = LogsServiceStub(ch)
            for _ in range(10):
                stub.Export(logs_request(*[LogRecord(time_unix_nano=START_NS)] * 10), timeout=10)

    errors: list[BaseException] = []

    def guarded(fn: Any, worker: int) -> None:
        try:
            fn(worker)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=guarded, args=(fn, w)) for w in range(3) for fn in (http_sender, grpc_sender)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    pipeline.flush()
    assert pipeline.client.query(f"SELECT count(), uniqExact(SpanId) FROM {TRACES}").result_rows == [
        (300, 300)
    ]
    assert pipeline.client.query(f"SELECT count() FROM {LOGS}").result_rows == [(300,)]
    stats = pipeline.stats
    assert stats["spans_written"] == stats["spans_received"] == 300
    assert stats["logs_written"] == stats["logs_received"] == 300
