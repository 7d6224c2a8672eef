"""Issue 10 item 11: optional ingest authentication, bearer keys bound to connectors.

Checked on HTTP and gRPC against a running collector on chDB, and end to end with the
connlog SDK configured only through the standard `OTEL_EXPORTER_OTLP_HEADERS`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import grpc
import httpx
import pytest
from google.rpc.status_pb2 import Status  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

import connlog as cl
from connlog.collector.config import ENV_INGEST_KEYS, ENV_INGEST_KEYS_FILE, ConfigError, Settings
from connlog.collector.ingest_auth import IngestKeys
from connlog.collector.options import CollectorOptions
from connlog.collector.schema.migrate import apply_schema
from connlog.collector.schema.names import TRACES
from connlog.collector.server import CollectorServer
from connlog.collector.store import connect
from tests.otlp_samples import span, traces_request
from tests.pipeline import Pipeline

SHOP_KEY = "ingest-key-shopify-0001"
GATEWAY_KEY = "ingest-key-gateway-0002"
ENTRIES = [
    {"key": SHOP_KEY, "connectors": ["shopify"], "name": "shopify"},
    {"key": GATEWAY_KEY, "connectors": ["*"], "name": "gateway"},
]
PB = {"Content-Type": "application/x-protobuf"}


@pytest.fixture
def secured(base_settings: Settings) -> Iterator[Pipeline]:
    settings = replace(base_settings, database=f"t_{uuid.uuid4().hex[:8]}")
    client = connect(settings)
    apply_schema(client, settings)
    server = CollectorServer(
        settings,
        http_port=0,
        grpc_port=0,
        options=CollectorOptions(batch_max_delay_s=0.2),
        ingest_keys=IngestKeys.from_entries(ENTRIES),
    )
    server.start()
    try:
        yield Pipeline(server, client, settings)
    finally:
        server.stop()
        client.command(f"DROP DATABASE IF EXISTS {settings.database} SYNC")
        client.close()


def _post(p: Pipeline, service: str, key: str | None) -> httpx.Response:
    headers = dict(PB)
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    body = traces_request(span(f"from {service}"), service=service).SerializeToString()
    return httpx.post(f"{p.http_endpoint}/v1/traces", content=body, headers=headers, timeout=10)


def _stored(p: Pipeline) -> list[tuple[str, str]]:
    p.flush()
    sql = f"SELECT ServiceName, SpanName FROM {TRACES} ORDER BY ServiceName, SpanName"
    return [(str(r[0]), str(r[1])) for r in p.client.query(sql).result_rows]


def _message(resp: httpx.Response) -> str:
    return str(Status.FromString(resp.content).message)


def test_http_keys_are_required_and_bound_to_their_connectors(secured: Pipeline) -> None:
    missing = _post(secured, "shopify", None)
    assert missing.status_code == 401 and "Bearer" in missing.headers["www-authenticate"]
    assert "missing ingest key" in _message(missing)
    assert _post(secured, "shopify", "not-a-configured-key-000").status_code == 401
    other = _post(secured, "stripe", SHOP_KEY)
    assert other.status_code == 403
    assert "'stripe'" in _message(other) and "shopify" in _message(other)
    assert _post(secured, "shopify", SHOP_KEY).status_code == 200
    assert _post(secured, "stripe", GATEWAY_KEY).status_code == 200  # "*" writes any connector
    assert _stored(secured) == [("shopify", "from shopify"), ("stripe", "from stripe")]
    stats = secured.stats
    assert stats["requests_unauthenticated"] == 2 and stats["requests_forbidden"] == 1


def test_a_request_mixing_connectors_is_refused_whole(secured: Pipeline) -> None:
    request = traces_request(span("mine"), service="shopify")
    other = traces_request(span("theirs"), service="stripe")
    request.resource_spans.extend(other.resource_spans)
    resp = httpx.post(
        f"{secured.http_endpoint}/v1/traces",
        content=request.SerializeToString(),
        headers={**PB, "Authorization": f"Bearer {SHOP_KEY}"},
        timeout=10,
    )
    assert resp.status_code == 403
    assert _stored(secured) == []


def test_grpc_uses_the_authorization_metadata(secured: Pipeline) -> None:
    with grpc.insecure_channel(secured.grpc_endpoint) as channel:
        stub = TraceServiceStub(channel)  # type: ignore[no-untyped-call]
        with pytest.raises(grpc.RpcError) as err:
            stub.Export(traces_request(span("anon"), service="shopify"), timeout=10)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        auth = (("authorization", f"Bearer {SHOP_KEY}"),)
        with pytest.raises(grpc.RpcError) as err:
            stub.Export(traces_request(span("x"), service="stripe"), timeout=10, metadata=auth)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        stub.Export(traces_request(span("grpc ok"), service="shopify"), timeout=10, metadata=auth)
    assert _stored(secured) == [("shopify", "grpc ok")]


def test_stats_needs_an_ingest_key_and_probes_do_not(secured: Pipeline) -> None:
    base = secured.http_endpoint
    assert httpx.get(f"{base}/stats", timeout=10).status_code == 401
    ok = httpx.get(f"{base}/stats", headers={"Authorization": f"Bearer {SHOP_KEY}"}, timeout=10)
    assert ok.status_code == 200 and "counters" in ok.json()
    assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
    assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_the_sdk_sends_the_key_from_otel_exporter_otlp_headers(
    secured: Pipeline, monkeypatch: pytest.MonkeyPatch, protocol: str
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer%20{SHOP_KEY}")
    endpoint = secured.http_endpoint if protocol == "http/protobuf" else secured.grpc_endpoint
    handle = cl.init(connector="shopify", endpoint=endpoint, protocol=protocol)
    try:
        with cl.run(sync_type="full", trigger="manual"):
            pass
        assert handle.flush()
    finally:
        handle.shutdown()
    assert handle.stats().dropped == 0
    assert {service for service, _ in _stored(secured)} == {"shopify"}
    assert secured.stats["requests_unauthenticated"] == 0


def test_the_sdk_without_the_header_is_refused(secured: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_HEADERS", raising=False)
    handle = cl.init(connector="shopify", endpoint=secured.http_endpoint, export_timeout=2)
    try:
        with cl.run(sync_type="full", trigger="manual"):
            pass
        handle.flush()
    finally:
        handle.shutdown()
    assert secured.stats["requests_unauthenticated"] >= 1
    assert _stored(secured) == []


def test_configuration_is_checked_at_start(tmp_path: Path) -> None:
    assert not IngestKeys.from_env({}).enabled
    for bad, reason in [
        ([{"key": SHOP_KEY, "connectors": []}], "non-empty list"),
        ([{"key": SHOP_KEY}], "non-empty list"),
        ([{"key": "short", "connectors": ["a"]}], "at least 16"),
        ([{"key": SHOP_KEY, "connectors": ["a"], "role": "admin"}], "unknown field"),
        ({"key": SHOP_KEY}, "JSON list"),
    ]:
        with pytest.raises(ConfigError, match=reason):
            IngestKeys.from_env({ENV_INGEST_KEYS: json.dumps(bad)})
    with pytest.raises(ConfigError, match="not valid JSON"):
        IngestKeys.from_env({ENV_INGEST_KEYS: "[{"})
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(ENTRIES[:1]))
    keys = IngestKeys.from_env({ENV_INGEST_KEYS_FILE: str(path), ENV_INGEST_KEYS: json.dumps(ENTRIES[1:])})
    assert keys.authenticate(f"Bearer {SHOP_KEY}").connectors == frozenset({"shopify"})
    assert keys.authenticate(f"bearer {GATEWAY_KEY}").connectors is None
    with pytest.raises(ConfigError, match=ENV_INGEST_KEYS_FILE):
        IngestKeys.from_env({ENV_INGEST_KEYS_FILE: str(tmp_path / "absent.json")})


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_spooled_telemetry_is_replayed_with_the_key(
    secured: Pipeline, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, protocol: str
) -> None:
    """What the SDK kept on disk while the collector was down goes out with the same header."""
    from connlog.instrumentation.spool import Spool, grpc_sender, http_sender

    spool = Spool(tmp_path / "spool")
    assert spool.put("traces", traces_request(span("spooled"), service="shopify").SerializeToString())
    sender = (
        http_sender(lambda signal: f"{secured.http_endpoint}/v1/{signal}", 10)
        if protocol == "http/protobuf"
        else grpc_sender(secured.grpc_endpoint, True, 10)
    )
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_HEADERS", raising=False)
    assert spool.drain(sender) == 0  # refused without the key: kept for later
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", f"Authorization=Bearer%20{SHOP_KEY}")
    assert spool.drain(sender) == 1
    secured.flush()
    assert {service for service, _ in _stored(secured)} == {"shopify"}
