"""Decode worker processes (`CONNLOG_DECODE_WORKERS`, collector.decode_pool) change nothing but speed.

Two collectors for the module, alike but for `decode_workers` (0 and 2), take the same
requests over OTLP/HTTP and OTLP/gRPC: they must store the same rows (redacted alike) and
refuse the same requests with the same status and message. A third, one-worker collector
has its worker killed in the middle of a request: that request gets a clear 503 /
UNAVAILABLE, the pool recovers, and every acknowledged span is stored.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
from clickhouse_connect.driver.client import Client
from opentelemetry.proto.collector.logs.v1.logs_service_pb2_grpc import LogsServiceStub
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from connlog import datagen
from connlog.collector.config import ENV_COLLECTOR_LIMITS, ConfigError, Settings
from connlog.collector.decode_pool import CRASHES
from connlog.collector.ingest_auth import IngestKeys
from connlog.collector.options import CollectorOptions
from connlog.collector.schema.names import LOGS, TRACES
from connlog.collector.server import CollectorServer
from connlog.instrumentation import semconv as sc
from connlog.query_api.timeutil import now_ns
from tests.collector_env import drop_database, new_database
from tests.otlp_samples import json_traces, kv, logs_request, span, traces_request

ALL_KEY = "all-connectors-key-0123456789"
BOUND_KEY = "billing-only-key-0123456789"
KEYS = IngestKeys.from_entries(
    [
        {"key": ALL_KEY, "connectors": ["*"], "name": "all"},
        {"key": BOUND_KEY, "connectors": ["billing"], "name": "billing"},
    ]
)
SECRET_TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
PROTOBUF = "application/x-protobuf"


@dataclass
class Collector:
    server: CollectorServer
    client: Client
    settings: Settings

    def post(self, path: str, body: bytes, key: str | None = ALL_KEY, **extra: str) -> httpx.Response:
        headers = {"Content-Type": PROTOBUF, **{k.replace("_", "-"): v for k, v in extra.items()}}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return httpx.post(f"{self.server.http_endpoint}{path}", content=body, headers=headers, timeout=60)

    def grpc_traces(self, request: ExportTraceServiceRequest, key: str | None = ALL_KEY) -> Any:
        metadata = (("authorization", f"Bearer {key}"),) if key is not None else None
        with grpc.insecure_channel(self.server.grpc_endpoint) as channel:
            stub = TraceServiceStub(channel)  # type: ignore[no-untyped-call]
            return stub.Export(request, timeout=60, metadata=metadata)

    def rows(self, table: str) -> list[Sequence[Any]]:
        assert self.server.flush(30)
        return list(self.client.query(f"SELECT * FROM {table} ORDER BY ALL").result_rows)


def _collector(base_settings: Settings, workers: int) -> Collector:
    settings, client = new_database(base_settings, "w")
    options = CollectorOptions(
        batch_max_delay_s=0.1, decode_workers=workers, max_attributes=60, wal_fsync=False
    )
    server = CollectorServer(settings, http_port=0, grpc_port=0, options=options, ingest_keys=KEYS)
    server.start()
    return Collector(server, client, settings)


@pytest.fixture(scope="module")
def pair(base_settings: Settings) -> Iterator[tuple[Collector, Collector]]:
    """(in-process, two workers): the same settings otherwise."""
    made: list[Collector] = []
    try:
        for workers in (0, 2):
            made.append(_collector(base_settings, workers))
        yield made[0], made[1]
    finally:
        for c in made:
            c.server.stop()
            drop_database(c.client, c.settings.database)


def _with_secrets() -> ExportTraceServiceRequest:
    """A span whose header and body hold secrets: the redaction must run on both paths."""
    leaky = span("leaky", span_id=b"\x07" * 8)
    leaky.attributes.extend(
        [
            kv(f"{sc.HTTP_REQUEST_HEADER_PREFIX}authorization", string_value=f"Bearer {SECRET_TOKEN}"),
            kv(sc.HTTP_REQUEST_BODY, string_value=json.dumps({"password": "hunter2hunter2", "q": 1})),
            kv(sc.HTTP_REQUEST_CONTENT_TYPE, string_value="application/json"),
        ]
    )
    return traces_request(leaky, service="billing")


def test_same_rows_over_http_and_grpc(pair: tuple[Collector, Collector]) -> None:
    ds = datagen.generate(seed=5, runs=3, end_ns=now_ns(), span_days=0.2)
    traces = [r.SerializeToString() for r in ds.trace_requests]
    half = len(traces) // 2
    for c in pair:
        for body in traces[:half]:
            assert c.post("/v1/traces", body).status_code == 200
        for r in ds.trace_requests[half:]:
            assert not c.grpc_traces(r).HasField("partial_success")
        with grpc.insecure_channel(c.server.grpc_endpoint) as channel:
            for lr in ds.log_requests:
                LogsServiceStub(channel).Export(  # type: ignore[no-untyped-call]
                    lr, timeout=60, metadata=(("authorization", f"Bearer {ALL_KEY}"),)
                )
        assert c.post("/v1/traces", _with_secrets().SerializeToString()).status_code == 200
        assert c.grpc_traces(_with_secrets()).partial_success.rejected_spans == 0
    plain, pooled = pair
    for table, sent in ((TRACES, ds.spans + 2), (LOGS, ds.logs)):
        rows = pooled.rows(table)
        assert len(rows) == sent
        assert rows == plain.rows(table), table
    stored = repr(pooled.rows(TRACES))
    assert SECRET_TOKEN not in stored and "hunter2hunter2" not in stored
    assert pooled.server.pool is not None and plain.server.pool is None
    auth = {"Authorization": f"Bearer {ALL_KEY}"}
    status = httpx.get(f"{pooled.server.http_endpoint}/stats", headers=auth, timeout=30).json()
    assert status["decode_pool"] == {"workers": 2, "running": 2, "busy": 0}


def _many_attributes() -> ExportTraceServiceRequest:
    s = span("wide", span_id=b"\x09" * 8)
    s.attributes.extend(kv(f"k{i}", string_value="v") for i in range(61))
    return traces_request(s, service="billing")


HTTP_CASES = {
    "malformed": ("/v1/traces", b"\xff\xff\xff not protobuf", ALL_KEY),
    "no key": ("/v1/traces", traces_request(span("x")).SerializeToString(), None),
    "unknown key": ("/v1/traces", traces_request(span("x")).SerializeToString(), "x" * 20),
    "other connector": (
        "/v1/traces",
        traces_request(span("x"), service="crm").SerializeToString(),
        BOUND_KEY,
    ),
    "limit": ("/v1/traces", _many_attributes().SerializeToString(), ALL_KEY),
    "bad span id": (
        "/v1/traces",
        traces_request(span("ok"), span("bad", span_id=b"\x01")).SerializeToString(),
        ALL_KEY,
    ),
    "too old log": (
        "/v1/logs",
        logs_request(LogRecord(time_unix_nano=1_000_000_000, severity_text="INFO")).SerializeToString(),
        ALL_KEY,
    ),
}


@pytest.mark.parametrize("encoding", ["json", "gzip", "gzip bomb"])
def test_http_json_and_gzip_alike(pair: tuple[Collector, Collector], encoding: str) -> None:
    """OTLP/JSON and gzip bodies are parsed and decompressed in the worker as in-process."""
    if encoding == "json":
        body, extra = json.dumps(json_traces("json in worker")).encode(), {"Content_Type": "application/json"}
    elif encoding == "gzip":
        body, extra = gzip.compress(_spans(300, 3).SerializeToString()), {"Content_Encoding": "gzip"}
    else:  # more than max_decompressed_bytes once inflated: refused with 413 before parsing
        bomb = gzip.compress(b"\0" * (CollectorOptions().max_decompressed_bytes + 1))
        body, extra = bomb, {"Content_Encoding": "gzip"}
    plain, pooled = (c.post("/v1/traces", body, **extra) for c in pair)
    assert (pooled.status_code, pooled.content) == (plain.status_code, plain.content)
    assert plain.status_code == (413 if encoding == "gzip bomb" else 200)


@pytest.mark.parametrize("case", sorted(HTTP_CASES))
def test_http_refusals_alike(pair: tuple[Collector, Collector], case: str) -> None:
    path, body, key = HTTP_CASES[case]
    plain, pooled = (c.post(path, body, key) for c in pair)
    assert pooled.status_code == plain.status_code
    assert pooled.content == plain.content
    assert pooled.headers.get("www-authenticate") == plain.headers.get("www-authenticate")
    if case == "bad span id":
        assert plain.status_code == 200 and plain.content  # partial_success, not a refusal
    else:
        assert plain.status_code in (400, 401, 403, 413) or case == "too old log"


GRPC_CASES = {
    "no key": (traces_request(span("x")), None),
    "other connector": (traces_request(span("x"), service="crm"), BOUND_KEY),
    "limit": (_many_attributes(), ALL_KEY),
    "bad span id": (traces_request(span("ok"), span("bad", span_id=b"\x02")), ALL_KEY),
}


def _grpc_outcome(c: Collector, request: ExportTraceServiceRequest, key: str | None) -> tuple[Any, str]:
    try:
        response = c.grpc_traces(request, key)
    except grpc.RpcError as exc:
        return exc.code(), exc.details()
    return grpc.StatusCode.OK, response.SerializeToString().hex()


@pytest.mark.parametrize("case", sorted(GRPC_CASES))
def test_grpc_refusals_alike(pair: tuple[Collector, Collector], case: str) -> None:
    request, key = GRPC_CASES[case]
    plain, pooled = (_grpc_outcome(c, request, key) for c in pair)
    assert pooled == plain
    expected = {
        "no key": grpc.StatusCode.UNAUTHENTICATED,
        "other connector": grpc.StatusCode.PERMISSION_DENIED,
        "limit": grpc.StatusCode.INVALID_ARGUMENT,
        "bad span id": grpc.StatusCode.OK,
    }[case]
    assert plain[0] == expected


def test_grpc_malformed_message(pair: tuple[Collector, Collector]) -> None:
    _, pooled = pair
    with grpc.insecure_channel(pooled.server.grpc_endpoint) as channel:
        call = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        with pytest.raises(grpc.RpcError) as err:
            call(b"\xff\xff\xff", timeout=30, metadata=(("authorization", f"Bearer {ALL_KEY}"),))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_setting_from_env() -> None:
    var = ENV_COLLECTOR_LIMITS["decode_workers"]
    assert var == "CONNLOG_DECODE_WORKERS"
    assert CollectorOptions.from_env({var: "3"}).decode_workers == 3
    assert CollectorOptions.from_env({}).decode_workers == 0
    with pytest.raises(ConfigError, match=var):
        CollectorOptions.from_env({var: "-1"})


def _spans(first: int, n: int) -> ExportTraceServiceRequest:
    return traces_request(
        *(span(f"s{i}", span_id=(i + 1).to_bytes(8, "big")) for i in range(first, first + n))
    )


def _kill_during_request(c: Collector, send: Any) -> Any:
    """Freeze the workers, send in a thread, kill them while the request waits for one."""
    pool = c.server.pool
    assert pool is not None
    pids = pool.worker_pids()
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)  # the request cannot finish before the kill
    outcome: list[Any] = []
    thread = threading.Thread(target=lambda: outcome.append(send()))
    thread.start()
    deadline = time.monotonic() + 30
    while pool.in_flight() == 0:
        assert time.monotonic() < deadline, "request never reached the pool"
        time.sleep(0.01)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    thread.join(60)
    assert not thread.is_alive(), "request hung after its worker died"
    return outcome[0]


def test_killed_worker_fails_that_request_only(base_settings: Settings) -> None:
    c = _collector(base_settings, 1)
    try:
        assert c.post("/v1/traces", _spans(0, 5).SerializeToString()).status_code == 200

        lost = _kill_during_request(c, lambda: c.post("/v1/traces", _spans(100, 5).SerializeToString()))
        assert lost.status_code == 503
        assert b"decode worker died" in lost.content
        assert lost.headers["retry-after"]
        assert c.post("/v1/traces", _spans(5, 5).SerializeToString()).status_code == 200

        def grpc_send() -> Any:
            return _grpc_outcome(c, _spans(200, 5), ALL_KEY)

        code, details = _kill_during_request(c, grpc_send)
        assert code == grpc.StatusCode.UNAVAILABLE and "decode worker died" in details
        assert c.grpc_traces(_spans(10, 5)).partial_success.rejected_spans == 0

        names = (
            [row[0] for row in c.client.query(f"SELECT SpanName FROM {TRACES}").result_rows]
            if c.server.flush(30)
            else []
        )
        assert sorted(names) == sorted(f"s{i}" for i in range(15))
        assert c.server.stats.snapshot()[CRASHES] == 2
        pids = c.server.pool.worker_pids() if c.server.pool else []
    finally:
        c.server.stop()
        drop_database(c.client, c.settings.database)
    time.sleep(0.2)
    for pid in pids:  # shutdown ended the replacement workers too
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_stop_drains_requests_in_workers(base_settings: Settings) -> None:
    """`stop` while requests are being decoded: every acknowledged span is stored, none hangs."""
    c = _collector(base_settings, 1)
    outcomes: list[tuple[int, int]] = []  # (status, spans) per request
    first_answer = threading.Event()

    def send(k: int) -> None:
        try:
            status = c.post("/v1/traces", _spans(1000 + 200 * k, 200).SerializeToString()).status_code
        except httpx.HTTPError:
            status = 0  # the listener was already closed: not acknowledged
        outcomes.append((status, 200))
        first_answer.set()

    threads = [threading.Thread(target=send, args=(k,)) for k in range(6)]
    try:
        for t in threads:
            t.start()
        assert first_answer.wait(60)
        c.server.stop()
        for t in threads:
            t.join(60)
            assert not t.is_alive(), "a request hung through shutdown"
        acked = sum(n for status, n in outcomes if status == 200)
        assert acked >= 200
        stored = int(str(c.client.command(f"SELECT count() FROM {TRACES}")))
        assert stored == acked
        assert all(status in (200, 503, 0) for status, _ in outcomes)
    finally:
        c.server.stop()
        drop_database(c.client, c.settings.database)
