"""Bad input at the endpoints, and the secrets corpus sent as raw OTLP (bypassing the SDK).

Extends tests/collector/test_collector_fuzz.py (which fuzzes the decoder alone) to the running
HTTP and gRPC receivers: every reject is a 4xx / INVALID_ARGUMENT, never a 5xx, the
server stays healthy, and valid data sent in between is all stored.
"""

from __future__ import annotations

import gzip
import json
import threading
from typing import Any

import grpc
import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2_grpc import LogsServiceStub
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from connlog.collector.schema.names import LOGS, TRACES
from connlog.instrumentation import semconv as sc
from tests.otlp_samples import START_NS, kv, logs_request, span, traces_request
from tests.pipeline import Pipeline
from tests.secrets_corpus import CASES, REGISTERED, log_message, request_for

PB = "application/x-protobuf"
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))

any_values = st.recursive(
    st.builds(AnyValue, string_value=st.text(max_size=30))
    | st.builds(AnyValue, int_value=st.integers(-(2**63), 2**63 - 1))
    | st.builds(AnyValue, double_value=st.floats())
    | st.builds(AnyValue, bool_value=st.booleans())
    | st.builds(AnyValue, bytes_value=st.binary(max_size=30))
    | st.just(AnyValue()),
    lambda inner: (
        st.lists(inner, max_size=3).map(lambda vs: AnyValue(array_value={"values": vs}))
        | st.lists(st.tuples(st.text(max_size=8), inner), max_size=3).map(
            lambda kvs: AnyValue(kvlist_value={"values": [KeyValue(key=k, value=v) for k, v in kvs]})
        )
    ),
    max_leaves=12,
)
spans = st.builds(
    lambda tid, sid, parent, start, end, attrs, name: span(
        name, trace_id=tid, span_id=sid, parent=parent
    ).__class__(
        trace_id=tid,
        span_id=sid,
        parent_span_id=parent,
        name=name,
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        attributes=[KeyValue(key=k, value=v) for k, v in attrs],
    ),
    st.binary(min_size=0, max_size=20),
    st.binary(min_size=0, max_size=10),
    st.sampled_from([b"", b"\x01" * 8, b"\x02" * 3]),
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**64 - 1),
    st.lists(st.tuples(st.text(max_size=10), any_values), max_size=5),
    st.text(max_size=20),
)


class Sent:
    """Valid spans sent between the fuzz cases, to check they are all stored."""

    def __init__(self) -> None:
        self.n = 0
        self.lock = threading.Lock()

    def valid(self, pipeline: Pipeline) -> None:
        with self.lock:
            self.n += 1
            n = self.n
        body = traces_request(span(f"canary-{n}", span_id=(10**6 + n).to_bytes(8, "big"))).SerializeToString()
        resp = httpx.post(f"{pipeline.http_endpoint}/v1/traces", content=body, headers={"Content-Type": PB})
        assert resp.status_code == 200


def _check_http(resp: httpx.Response) -> None:
    assert resp.status_code < 500, (resp.status_code, resp.text[:200])
    if resp.status_code >= 400:
        assert resp.status_code in (400, 413, 415), resp.status_code
        assert resp.content  # a google.rpc.Status body saying why


def _ends_healthy(pipeline: Pipeline, sent: Sent) -> None:
    assert httpx.get(f"{pipeline.http_endpoint}/healthz").status_code == 200
    pipeline.flush()
    canaries = pipeline.client.query(f"SELECT count() FROM {TRACES} WHERE startsWith(SpanName, 'canary-')")
    assert canaries.result_rows == [(sent.n,)]


def _ld(tag: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (tag byte already includes wire type 2)."""
    n, out = len(payload), bytearray([tag])
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out) + payload


def _deeply_nested_request(depth: int) -> bytes:
    """A request whose one span carries an AnyValue nested `depth` arrays deep (built by hand:
    the Python protobuf runtime refuses to build it, but a peer can send it)."""
    value = AnyValue(string_value="leaf").SerializeToString()
    for _ in range(depth):
        value = _ld(0x2A, _ld(0x0A, value))  # AnyValue.array_value{values: [value]}
    attribute = _ld(0x0A, b"deep") + _ld(0x12, value)  # KeyValue{key, value}
    span_bytes = span("deep").SerializeToString() + _ld(0x4A, attribute)  # Span.attributes
    return _ld(0x0A, _ld(0x12, _ld(0x12, span_bytes)))  # request.resource_spans.scope_spans.spans


def test_fuzz_http_endpoints(pipeline: Pipeline) -> None:
    sent = Sent()
    cases = {"n": 0}
    url = pipeline.http_endpoint

    @FUZZ
    @given(
        body=st.binary(max_size=400) | spans.map(lambda s: traces_request(s).SerializeToString()),
        signal=st.sampled_from(["traces", "logs"]),
        ctype=st.sampled_from([PB, "application/json", "text/plain", ""]),
        mode=st.sampled_from(["plain", "gzip", "bad-gzip", "truncated"]),
    )
    def case(body: bytes, signal: str, ctype: str, mode: str) -> None:
        headers = {"Content-Type": ctype}
        if mode == "gzip":
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        elif mode == "bad-gzip":
            headers["Content-Encoding"] = "gzip"
        elif mode == "truncated":
            body = body[: len(body) // 2]
        _check_http(httpx.post(f"{url}/v1/{signal}", content=body, headers=headers, timeout=30))
        cases["n"] += 1
        if cases["n"] % 10 == 0:
            sent.valid(pipeline)

    case()
    # Fixed nasties: invalid UTF-8 in a string field, deep nesting, a huge body, JSON bombs.
    bad_utf8 = bytes.fromhex("0a0c") + b"\x12\x0a\x12\x08\x12\x06\x2a\x04\xff\xfe\xfd\xfc"
    nested = _deeply_nested_request(300)
    for body, ctype in [
        (bad_utf8, PB),
        (nested, PB),
        (b"\x0a" + b"\xff" * 10, PB),
        (b"[" * 100_000, "application/json"),
        (
            json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}).encode(),
            "application/json",
        ),
        (b"\x00" * (17 * 1024 * 1024), PB),
    ]:
        _check_http(httpx.post(f"{url}/v1/traces", content=body, headers={"Content-Type": ctype}, timeout=60))
        cases["n"] += 1
    sent.valid(pipeline)
    _ends_healthy(pipeline, sent)
    print(f"http fuzz cases: {cases['n']}")


def test_fuzz_grpc_endpoints(pipeline: Pipeline) -> None:
    sent = Sent()
    cases = {"n": 0}
    channel = grpc.insecure_channel(pipeline.grpc_endpoint)
    raw = {
        "traces": channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export"),
        "logs": channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export"),
    }

    @FUZZ
    @given(
        body=st.binary(max_size=400) | spans.map(lambda s: traces_request(s).SerializeToString()),
        signal=st.sampled_from(["traces", "logs"]),
    )
    def case(body: bytes, signal: str) -> None:
        try:
            raw[signal](body, timeout=30)
        except grpc.RpcError as err:
            assert err.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED), err
        cases["n"] += 1
        if cases["n"] % 10 == 0:
            sent.valid(pipeline)

    try:
        case()
        # Records with every attribute type through the typed stubs.
        record = LogRecord(body=AnyValue(kvlist_value={"values": [kv("k", bytes_value=b"\xff\x00")]}))
        LogsServiceStub(channel).Export(logs_request(record), timeout=30)
        TraceServiceStub(channel).Export(traces_request(span("typed")), timeout=30)
    finally:
        channel.close()
    sent.valid(pipeline)
    _ends_healthy(pipeline, sent)
    print(f"grpc fuzz cases: {cases['n']}")


# --------------------------------------------------------------------------- secrets corpus
def _corpus_requests() -> tuple[Any, Any]:
    """Every corpus case as raw OTLP: attributes, URLs, bodies, exception events, logs."""
    spans_out = []
    records = []
    for n, case in enumerate(CASES):
        sid = (n + 1).to_bytes(8, "big")
        s = span(f"call {n}", span_id=sid)
        if case.via == "log":
            records.append(LogRecord(time_unix_nano=START_NS, body=AnyValue(string_value=log_message(case))))
            s.status.message = log_message(case)
        else:
            method, url, kwargs = request_for(case, "https://api.example.com")
            request = httpx.Request(method, url, **kwargs)
            attrs = [
                kv(sc.HTTP_REQUEST_METHOD, string_value=method),
                kv(sc.URL_FULL, string_value=str(request.url)),
            ]
            attrs += [
                kv(sc.HTTP_REQUEST_HEADER_PREFIX + k.lower(), string_value=v)
                for k, v in request.headers.items()
            ]
            if request.content:
                attrs.append(kv(sc.HTTP_REQUEST_BODY, string_value=request.content.decode()))
                attrs.append(
                    kv(sc.HTTP_REQUEST_CONTENT_TYPE, string_value=request.headers.get("content-type", ""))
                )
            s.attributes.extend(attrs)
            event = s.events.add(name="exception", time_unix_nano=s.start_time_unix_nano)
            event.attributes.append(
                kv(sc.EXCEPTION_MESSAGE, string_value=f"call failed: {method} {request.url}")
            )
            s.name = f"{method} {request.url}"
            records.append(
                LogRecord(time_unix_nano=START_NS, body=AnyValue(string_value=f"retrying {request.url}"))
            )
        spans_out.append(s)
    return traces_request(*spans_out), logs_request(*records)


def _all_text(client: Any, database: str) -> str:
    tables = [
        r[0]
        for r in client.query(f"SELECT name FROM system.tables WHERE database = '{database}'").result_rows
    ]
    chunks = []
    for table in tables:
        engine = client.query(
            f"SELECT engine FROM system.tables WHERE database = '{database}' AND name = '{table}'"
        ).result_rows[0][0]
        if engine in ("Null", "MaterializedView"):
            continue
        rows = client.query(f"SELECT * FROM {database}.{table}").result_rows
        chunks.append(f"{table}: {len(rows)} {rows!r}")
    return "\n".join(chunks)


def test_secrets_corpus_sent_raw_never_reaches_storage(pipeline: Pipeline, monkeypatch) -> None:
    traces, logs = _corpus_requests()
    for path, msg in (("traces", traces), ("logs", logs)):
        resp = httpx.post(
            f"{pipeline.http_endpoint}/v1/{path}",
            content=msg.SerializeToString(),
            headers={"Content-Type": PB},
        )
        assert resp.status_code == 200
    pipeline.flush()
    assert pipeline.client.query(f"SELECT count() FROM {TRACES}").result_rows == [(len(CASES),)]
    assert pipeline.client.query(f"SELECT count() FROM {LOGS}").result_rows == [(len(CASES),)]
    haystack = _all_text(pipeline.client, pipeline.database)
    pattern_cases = [c for c in CASES if c.via != "registered"]
    leaked = [c.id for c in pattern_cases if c.secret in haystack or c.secret.lower() in haystack.lower()]
    assert not leaked, leaked
    assert "[REDACTED:" in haystack
    # Registered values are unknown server-side unless configured: they pass with defaults...
    assert any(c.secret in haystack for c in CASES if c.via == "registered")
    # ...and the WAL never held a raw secret either (redaction runs before the append).
    wal_bytes = b"".join(p.read_bytes() for p in pipeline.server.wal_dir.glob("*.log"))
    assert not [c.id for c in pattern_cases if c.secret.encode() in wal_bytes]


def test_registered_secrets_from_the_environment(pipeline_factory, monkeypatch, tmp_path) -> None:
    secrets_file = tmp_path / "secrets.txt"
    secrets_file.write_text("\n".join(REGISTERED[3:]) + "\n")
    monkeypatch.setenv("CONNLOG_REDACT_SECRETS", ",".join(REGISTERED[:3]))
    monkeypatch.setenv("CONNLOG_REDACT_SECRETS_FILE", str(secrets_file))
    p = pipeline_factory()
    traces, logs = _corpus_requests()
    for path, msg in (("traces", traces), ("logs", logs)):
        resp = httpx.post(
            f"{p.http_endpoint}/v1/{path}", content=msg.SerializeToString(), headers={"Content-Type": PB}
        )
        assert resp.status_code == 200
    p.flush()
    haystack = _all_text(p.client, p.database)
    leaked = [c.id for c in CASES if c.secret in haystack]
    assert not leaked, leaked
