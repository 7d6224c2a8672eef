"""requests, urllib3 and aiohttp recorded like httpx: spans, payloads, streams, one span
per wire call (requests sits on urllib3), clients created before `init()`, causes."""

from __future__ import annotations

import asyncio
import json
import socket

import aiohttp
import pytest
import requests
import urllib3
from opentelemetry.trace import SpanKind, StatusCode

import connlog as cl
from connlog.instrumentation import semconv as sc
from tests.sdk.helpers import LocalServer, Telemetry, attrs, start_telemetry

SECRET = "sk_live_REGISTERED_0001"


def _aio(coro_fn):  # type: ignore[no-untyped-def]
    return asyncio.run(coro_fn())


def test_requests_one_span_with_payloads_and_redaction(tel: Telemetry, server: LocalServer) -> None:
    with cl.run(), cl.step("contacts"), cl.page(number=1):
        resp = requests.post(
            server.url + "/echo?hapikey=abc&limit=5",
            json={"name": "ada", "password": "hunter2"},
            headers={"Authorization": f"Bearer {SECRET}", "X-Trace": "t1"},
            timeout=5,
        )
        assert resp.json() == {"name": "ada", "password": "hunter2"}
    (span,) = tel.by_role("http")  # requests on urllib3: one span, not two
    a = attrs(span)
    assert span.kind is SpanKind.CLIENT and span.name == "POST /echo"
    assert span.parent is not None and span.parent.span_id == tel.one("page").context.span_id
    assert a[sc.STEP_NAME] == "contacts"
    assert a[sc.URL_FULL] == f"{server.url}/echo?hapikey=[REDACTED:query:hapikey]&limit=5"
    assert a[sc.URL_PATH] == "/echo" and a[sc.HTTP_RESPONSE_STATUS_CODE] == 200
    assert a[sc.HTTP_REQUEST_HEADER_PREFIX + "authorization"] == "[REDACTED:header]"
    assert a[sc.HTTP_REQUEST_HEADER_PREFIX + "x-trace"] == "t1"
    assert '"name": "ada"' in a[sc.HTTP_REQUEST_BODY] and "hunter2" not in a[sc.HTTP_REQUEST_BODY]
    assert '"name": "ada"' in a[sc.HTTP_RESPONSE_BODY] and "hunter2" not in a[sc.HTTP_RESPONSE_BODY]
    assert a[sc.NETWORK_PROTOCOL_VERSION] == "1.1"
    assert all(SECRET not in str(v) for v in a.values())


def test_requests_stream_stays_a_stream(tel: Telemetry, server: LocalServer) -> None:
    with cl.run(), requests.get(server.url + "/stream/200000", stream=True, timeout=5) as resp:
        chunks = resp.iter_content(4096)
        first = next(chunks)
        assert first and not tel.by_role("http")  # still reading: the span is open
        total = len(first) + sum(len(c) for c in chunks)
    assert total == 200000
    a = attrs(tel.one("http"))
    assert a[sc.HTTP_RESPONSE_BODY_SIZE] == 200000 and a[sc.HTTP_RESPONSE_BODY_TRUNCATED] is True
    assert len(a[sc.HTTP_RESPONSE_BODY]) == 64 * 1024


def test_requests_stream_closed_early_ends_span(tel: Telemetry, server: LocalServer) -> None:
    with cl.run():
        resp = requests.get(server.url + "/stream/200000", stream=True, timeout=5)
        next(resp.iter_content(1024))
        resp.close()
    a = attrs(tel.one("http"))  # ended at close, with what was read (chunked: no declared size)
    assert 0 < a[sc.HTTP_RESPONSE_BODY_SIZE] < 200000


def test_dev_environment_runs_the_real_urllib3() -> None:
    # urllib3-future (via grafana-client -> niquests) overwrites `urllib3` unless installed
    # with URLLIB3_NO_OVERRIDE (Makefile); connectors in the field run the real one.
    assert not hasattr(urllib3, "AsyncPoolManager"), "urllib3-future replaced urllib3"


def test_requests_chunked_body_read_whole(tel: Telemetry, server: LocalServer) -> None:
    # urllib3 2.x reads chunked bodies in read_chunked, past _raw_read: still captured.
    with cl.run():
        assert len(requests.get(server.url + "/stream/5000", timeout=5).content) == 5000
    a = attrs(tel.one("http"))
    assert a[sc.HTTP_RESPONSE_BODY_SIZE] == 5000 and a[sc.HTTP_RESPONSE_BODY_TRUNCATED] is False
    assert len(a[sc.HTTP_RESPONSE_BODY]) == 5000


def test_gzip_decoded_and_redacted_requests(tel: Telemetry, server: LocalServer) -> None:
    with cl.run():
        assert requests.get(server.url + "/gzip", timeout=5).json()["access_token"] == "gz-secret-1"
    body = attrs(tel.one("http"))[sc.HTTP_RESPONSE_BODY]
    assert '"items"' in body and "gz-secret-1" not in body


def test_session_and_pool_created_before_init(server: LocalServer) -> None:
    session = requests.Session()
    pool = urllib3.PoolManager()
    t = start_telemetry()
    try:
        with cl.run():
            session.get(server.url + "/crm/v3/objects/contacts/42", timeout=5)
            r = pool.request(
                "GET", server.url + "/echo", body=b'{"x":1}', headers={"Content-Type": "application/json"}
            )
            assert json.loads(r.data) == {"x": 1}
        names = sorted(s.name for s in t.by_role("http"))
        assert names == ["GET /crm/v3/objects/contacts/{id}", "GET /echo"]
        pooled = next(s for s in t.by_role("http") if s.name == "GET /echo")
        assert attrs(pooled)[sc.HTTP_RESPONSE_BODY] == '{"x":1}'
        assert attrs(pooled)[sc.HTTP_REQUEST_BODY] == '{"x":1}'
    finally:
        t.handle.shutdown()
        session.close()


def test_urllib3_retries_are_separate_spans_with_resend_count(tel: Telemetry, server: LocalServer) -> None:
    pool = urllib3.PoolManager()
    retry = urllib3.Retry(
        total=2,
        status_forcelist=[429],
        backoff_factor=0,
        respect_retry_after_header=False,
        raise_on_status=False,
    )
    with cl.run(), cl.page(number=1):
        r = pool.request("GET", server.url + "/ratelimited", retries=retry)
        assert r.status == 429
    calls = tel.by_role("http")
    assert len(calls) == 3
    counts = sorted(attrs(s).get(sc.HTTP_REQUEST_RESEND_COUNT, 0) for s in calls)
    assert counts == [0, 1, 2]
    a = attrs(calls[0])
    assert a[sc.FAILURE_CAUSE] == "rate_limited" and a[sc.RETRY_AFTER] == 7 and a[sc.RATELIMIT_REMAINING] == 0
    assert attrs(tel.one("page"))[sc.RATE_LIMITED] == "true"


def test_requests_timeout_and_network_causes(tel: Telemetry, server: LocalServer) -> None:
    with pytest.raises(requests.exceptions.Timeout), cl.run(), cl.step("slow"):
        requests.get(server.url + "/slow?s=2", timeout=0.3)
    call = attrs(tel.one("http"))
    assert call[sc.FAILURE_CAUSE] == "timeout" and call[sc.STEP_NAME] == "slow"
    run = attrs(tel.one("run"))
    assert run[sc.FAILURE_CAUSE] == "timeout" and run[sc.FAULT_URL] == f"{server.url}/slow?s=2"

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(requests.exceptions.ConnectionError), cl.run():
        requests.get(f"http://127.0.0.1:{port}/x", timeout=1)
    runs = [attrs(s) for s in tel.by_role("run")]
    assert runs[-1][sc.FAILURE_CAUSE] == "network"


def test_requests_http_error_cause_and_fault(tel: Telemetry, server: LocalServer) -> None:
    with pytest.raises(requests.HTTPError), cl.run(), cl.page(number=1):
        requests.get(server.url + "/status/404", timeout=5).raise_for_status()
    page = tel.one("page")
    assert attrs(page)[sc.FAILURE_CAUSE] == "not_found"
    assert attrs(page)[sc.FAULT_STATUS_CODE] == 404
    assert attrs(page)[sc.FAULT_URL] == f"{server.url}/status/404"
    assert page.status.status_code is StatusCode.ERROR


def test_aiohttp_span_payloads_and_session_before_init(server: LocalServer) -> None:
    async def make() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(headers={"Authorization": f"Bearer {SECRET}"})

    async def go() -> None:
        session = await make()
        t = start_telemetry()
        try:
            async with cl.run(), cl.step("members"), cl.page(number=1):
                async with session.post(server.url + "/echo", json={"a": 1}) as resp:
                    assert await resp.json() == {"a": 1}
                async with session.get(server.url + "/gzip") as resp:
                    assert (await resp.json())["access_token"] == "gz-secret-1"
            spans = {s.name: attrs(s) for s in t.by_role("http")}
            post, gz = spans["POST /echo"], spans["GET /gzip"]
            assert post[sc.HTTP_REQUEST_BODY] == '{"a": 1}' and post[sc.HTTP_RESPONSE_BODY] == '{"a": 1}'
            assert post[sc.HTTP_REQUEST_HEADER_PREFIX + "authorization"] == "[REDACTED:header]"
            assert post[sc.STEP_NAME] == "members" and post[sc.HTTP_RESPONSE_STATUS_CODE] == 200
            assert '"items"' in gz[sc.HTTP_RESPONSE_BODY] and "gz-secret-1" not in gz[sc.HTTP_RESPONSE_BODY]
        finally:
            await session.close()
            t.handle.shutdown()

    asyncio.run(go())


def test_aiohttp_stream_read_as_consumed(tel: Telemetry, server: LocalServer) -> None:
    async def go() -> int:
        async with aiohttp.ClientSession() as session, cl.run():
            async with session.get(server.url + "/stream/150000") as resp:
                total = 0
                async for chunk in resp.content.iter_chunked(4096):
                    total += len(chunk)
                    if total == len(chunk):
                        assert not tel.by_role("http")
                return total

    assert asyncio.run(go()) == 150000
    a = attrs(tel.one("http"))
    assert a[sc.HTTP_RESPONSE_BODY_SIZE] == 150000 and a[sc.HTTP_RESPONSE_BODY_TRUNCATED] is True


def test_aiohttp_timeout_and_refused(tel: Telemetry, server: LocalServer) -> None:
    async def slow() -> None:
        timeout = aiohttp.ClientTimeout(total=0.3)
        async with aiohttp.ClientSession(timeout=timeout) as session, cl.run():
            await session.get(server.url + "/slow?s=2")

    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(slow())
    assert attrs(tel.one("http"))[sc.FAILURE_CAUSE] == "timeout"
    assert attrs(tel.one("run"))[sc.FAILURE_CAUSE] == "timeout"

    async def refused() -> None:
        async with aiohttp.ClientSession() as session, cl.run():
            await session.get("http://127.0.0.1:1/nothing")

    with pytest.raises(aiohttp.ClientConnectionError):
        asyncio.run(refused())
    failed = [attrs(s) for s in tel.by_role("http") if attrs(s)[sc.URL_PATH] == "/nothing"]
    assert failed and failed[0][sc.FAILURE_CAUSE] == "network"


def test_nothing_recorded_or_broken_without_init(server: LocalServer) -> None:
    from connlog.instrumentation import active_handle

    assert active_handle() is None or active_handle().closed  # type: ignore[union-attr]
    assert requests.get(server.url + "/echo", timeout=5).status_code == 200

    async def go() -> int:
        async with aiohttp.ClientSession() as session, session.get(server.url + "/echo") as resp:
            return resp.status

    assert asyncio.run(go()) == 200
