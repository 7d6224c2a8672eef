"""Telemetry trouble never reaches the connector: unreachable collector, failing exporters, full queues."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Sequence

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import connlog as cl
from connlog.instrumentation import semconv as sc
from tests.sdk.helpers import Telemetry, attrs, start_telemetry


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_unreachable_collector_is_invisible_to_the_connector(server, caplog) -> None:
    handle = cl.init(connector="offline", endpoint=f"http://127.0.0.1:{_closed_port()}", export_timeout=1.0)
    log = logging.getLogger("connector.offline")
    started = time.monotonic()
    with cl.run(sync_type="full"), cl.step("s"), httpx.Client() as client:
        for i in range(3):
            with cl.page(number=i):
                client.get(server.url + "/echo")
                for j in range(20):
                    cl.entity(f"{i}-{j}", action="create")
                log.warning("page %d", i)
    run_time = time.monotonic() - started
    assert run_time < 2.0, run_time  # the run never waits on the collector
    with caplog.at_level(logging.WARNING, logger="connlog.sdk"):
        t0 = time.monotonic()
        handle.shutdown()
        assert time.monotonic() - t0 < 8.0
    stats = handle.stats()
    assert stats.spans.submitted == 1 + 1 + 1 + 3 + 3 + 60  # run, marker, step, pages, calls, entities
    assert stats.spans.exported == 0
    assert stats.spans.dropped == stats.spans.submitted
    assert stats.logs.dropped == stats.logs.submitted == 3
    assert any("dropped" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


class _Raising(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        raise RuntimeError("exporter exploded")


def test_exporter_that_raises_is_contained() -> None:
    handle = cl.init(connector="raising", span_exporter=_Raising())
    with cl.run(), cl.page(number=1):
        cl.entity("a", action="create")
    assert handle.flush() is not None
    handle.shutdown()
    assert handle.stats().spans.dropped == 4  # 1 failed, then shed by the circuit breaker
    assert handle.stats().spans.failed >= 1
    assert handle.stats().spans.exported == 0


class _Blocking(SpanExporter):
    def __init__(self) -> None:
        self.release = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.release.wait(5)
        return SpanExportResult.SUCCESS


def test_full_queue_drops_are_counted_and_memory_bounded(monkeypatch) -> None:
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "16")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4")
    exporter = _Blocking()
    handle = cl.init(connector="full", span_exporter=exporter)
    t0 = time.monotonic()
    with cl.run(), cl.page(number=1):
        for i in range(200):
            cl.entity(str(i), action="create")
    assert time.monotonic() - t0 < 2.0  # never blocked by the stuck exporter
    exporter.release.set()
    handle.shutdown()
    stats = handle.stats()
    assert stats.spans.submitted == 203
    assert stats.spans.queue_dropped > 100
    assert stats.spans.exported + stats.spans.queue_dropped == stats.spans.submitted


def test_internal_errors_are_swallowed_and_counted(tel: Telemetry, server, monkeypatch) -> None:
    def boom(*args, **kwargs):
        raise RuntimeError("redactor bug")

    monkeypatch.setattr(tel.handle.redactor, "url", boom)
    with cl.run(), httpx.Client() as client:
        assert client.get(server.url + "/echo").status_code == 200
    assert tel.handle.stats().internal_errors >= 1
    assert tel.by_role("run")


def test_unknown_protocol_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="protocol"):
        cl.init(connector="x", protocol="carrier-pigeon")


def test_env_defaults(monkeypatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "500")
    handle = cl.init()
    try:
        assert handle.settings.connector == "from-env"
        assert handle.settings.endpoint == "http://127.0.0.1:1"
        assert handle.settings.export_timeout == 0.5
    finally:
        handle.shutdown()


def test_disabled_sdk(monkeypatch, server) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    handle = cl.init(connector="off")
    try:
        with cl.run(), httpx.Client() as client:
            client.get(server.url + "/echo")
        assert handle.stats().spans.submitted == 0
    finally:
        handle.shutdown()


def test_http_span_still_recorded_when_body_capture_off(server) -> None:
    t = start_telemetry(capture_bodies=False)
    try:
        with cl.run(), httpx.Client() as client:
            client.post(server.url + "/echo", json={"a": 1})
        a = attrs(t.one("http"))
        assert sc.HTTP_REQUEST_BODY not in a and sc.HTTP_RESPONSE_BODY not in a
        assert a[sc.HTTP_RESPONSE_STATUS_CODE] == 200
    finally:
        t.handle.shutdown()
