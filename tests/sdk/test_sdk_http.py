"""Outgoing httpx calls: span shape, bodies, streaming, retries, rate limits, causes."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
from opentelemetry.trace import SpanKind, StatusCode

import connlog as cl
from connlog.instrumentation import semconv as sc
from connlog.instrumentation.httpx_capture import url_template
from tests.sdk.helpers import PNG, Telemetry, attrs, start_telemetry


def test_client_span_shape(tel: Telemetry, server) -> None:
    with cl.run(), cl.page(number=1), httpx.Client() as client:
        client.get(
            server.url + "/crm/v3/objects/contacts/12345?limit=10&hapikey=abc", headers={"X-Trace": "t1"}
        )
    span = tel.one("http")
    a = attrs(span)
    assert span.kind is SpanKind.CLIENT
    assert span.name == "GET /crm/v3/objects/contacts/{id}"
    assert span.parent.span_id == tel.one("page").context.span_id
    port = int(server.url.rsplit(":", 1)[1])
    assert a[sc.HTTP_REQUEST_METHOD] == "GET"
    assert (
        a[sc.URL_FULL]
        == f"{server.url}/crm/v3/objects/contacts/12345?limit=10&hapikey=[REDACTED:query:hapikey]"
    )
    assert a[sc.URL_PATH] == "/crm/v3/objects/contacts/12345"
    assert a[sc.URL_QUERY] == "limit=10&hapikey=[REDACTED:query:hapikey]"
    assert a[sc.URL_TEMPLATE] == "/crm/v3/objects/contacts/{id}"
    assert a[sc.SERVER_ADDRESS] == "127.0.0.1" and a[sc.SERVER_PORT] == port
    assert a[sc.HTTP_RESPONSE_STATUS_CODE] == 200
    assert a[sc.HTTP_DIRECTION] == "outgoing" and a[sc.ROLE] == "http"
    assert a[sc.HTTP_REQUEST_HEADER_PREFIX + "x-trace"] == "t1"
    assert a[sc.HTTP_RESPONSE_HEADER_PREFIX + "content-type"] == "application/json"
    assert '"id":"12345"' in a[sc.HTTP_RESPONSE_BODY]
    assert a[sc.HTTP_RESPONSE_BODY_TRUNCATED] is False
    assert a[sc.HTTP_RESPONSE_BODY_SIZE] == len(a[sc.HTTP_RESPONSE_BODY])
    assert a[sc.HTTP_RESPONSE_CONTENT_TYPE] == "application/json"
    assert sc.ERROR_TYPE not in a and sc.HTTP_REQUEST_RESEND_COUNT not in a


def test_client_created_before_init_and_async(server) -> None:
    sync_client = httpx.Client()
    async_client = httpx.AsyncClient()
    t = start_telemetry()
    try:
        with cl.run():
            sync_client.get(server.url + "/echo")

            async def go() -> None:
                r = await async_client.post(server.url + "/echo", json={"a": 1})
                assert r.json() == {"a": 1}

            asyncio.run(go())
        https = t.by_role("http")
        assert sorted(s.name for s in https) == ["GET /echo", "POST /echo"]
        post = next(s for s in https if s.name == "POST /echo")
        assert attrs(post)[sc.HTTP_REQUEST_BODY] == '{"a":1}'
        assert attrs(post)[sc.HTTP_RESPONSE_BODY] == '{"a":1}'
    finally:
        t.handle.shutdown()
        sync_client.close()


def test_streaming_response_captured_as_read(tel: Telemetry, server) -> None:
    with cl.run(), httpx.Client() as client:
        with client.stream("GET", server.url + "/stream/100000") as resp:
            chunks = resp.iter_bytes()
            total = len(next(chunks))
            # the span stays open while the connector is still reading
            assert not tel.by_role("http")
            total += sum(len(chunk) for chunk in chunks)
            assert total == 100_000
    a = attrs(tel.one("http"))
    assert a[sc.HTTP_RESPONSE_BODY_SIZE] == 100_000
    assert a[sc.HTTP_RESPONSE_BODY_TRUNCATED] is True
    assert len(a[sc.HTTP_RESPONSE_BODY]) == 65536


def test_stream_closed_early(tel: Telemetry, server) -> None:
    with cl.run(), httpx.Client() as client:
        with client.stream("GET", server.url + "/stream/200000") as resp:
            first = next(resp.iter_bytes())
            assert first
    a = attrs(tel.one("http"))
    assert a[sc.HTTP_RESPONSE_BODY].startswith("x")
    assert a[sc.HTTP_RESPONSE_BODY_SIZE] < 200_000


def test_async_streaming(tel: Telemetry, server) -> None:
    async def go() -> int:
        async with httpx.AsyncClient() as client, client.stream("GET", server.url + "/stream/5000") as resp:
            return sum([len(c) async for c in resp.aiter_bytes()])

    with cl.run():
        assert asyncio.run(go()) == 5000
    a = attrs(tel.one("http"))
    assert a[sc.HTTP_RESPONSE_BODY] == "x" * 5000 and a[sc.HTTP_RESPONSE_BODY_TRUNCATED] is False


def test_empty_204_body_is_empty_string(tel: Telemetry, server) -> None:
    with cl.run(), httpx.Client() as client:
        assert client.get(server.url + "/status/204").status_code == 204
    a = attrs(tel.one("http"))
    assert a[sc.HTTP_RESPONSE_BODY] == ""
    assert a[sc.HTTP_RESPONSE_BODY_SIZE] == 0


def test_binary_body_size_and_type_only(tel: Telemetry, server) -> None:
    with cl.run(), httpx.Client() as client:
        assert client.get(server.url + "/binary").content == PNG
        client.post(
            server.url + "/echo",
            content=b"\x00\x01\x02" * 10,
            headers={"content-type": "application/octet-stream"},
        )
    spans = {s.name: attrs(s) for s in tel.by_role("http")}
    png = spans["GET /binary"]
    assert sc.HTTP_RESPONSE_BODY not in png
    assert png[sc.HTTP_RESPONSE_BODY_SIZE] == len(PNG)
    assert png[sc.HTTP_RESPONSE_CONTENT_TYPE] == "image/png"
    echo = spans["POST /echo"]
    assert sc.HTTP_REQUEST_BODY not in echo and echo[sc.HTTP_REQUEST_BODY_SIZE] == 30


def test_gzip_body_is_decoded_and_redacted(tel: Telemetry, server) -> None:
    with cl.run(), httpx.Client() as client:
        assert client.get(server.url + "/gzip").json()["items"]
    a = attrs(tel.one("http"))
    assert '"items"' in a[sc.HTTP_RESPONSE_BODY]
    assert "gz-secret-1" not in a[sc.HTTP_RESPONSE_BODY]
    assert "[REDACTED:json:access_token]" in a[sc.HTTP_RESPONSE_BODY]


def test_truncation_cap_configurable(server) -> None:
    t = start_telemetry(body_cap=10)
    try:
        with cl.run(), httpx.Client() as client:
            client.post(
                server.url + "/echo",
                content=b"abcdefghijklmnopqrstuvwxyz",
                headers={"content-type": "text/plain"},
            )
        a = attrs(t.one("http"))
        assert a[sc.HTTP_REQUEST_BODY] == "abcdefghij" and a[sc.HTTP_REQUEST_BODY_TRUNCATED] is True
        assert a[sc.HTTP_REQUEST_BODY_SIZE] == 26
        assert a[sc.HTTP_RESPONSE_BODY] == "abcdefghij" and a[sc.HTTP_RESPONSE_BODY_TRUNCATED] is True
        assert a[sc.HTTP_RESPONSE_BODY_SIZE] == 26
    finally:
        t.handle.shutdown()


def test_streamed_request_body(tel: Telemetry, server) -> None:
    def gen():
        yield b"part1-"
        yield b"part2"

    with cl.run(), httpx.Client() as client:
        r = client.post(server.url + "/echo", content=gen(), headers={"content-type": "text/plain"})
        assert r.text == "part1-part2"
    a = attrs(tel.one("http"))
    assert a[sc.HTTP_REQUEST_BODY] == "part1-part2"


def test_resend_count(tel: Telemetry, server) -> None:
    with cl.run(), httpx.Client() as client:
        with cl.page(number=1):
            for _ in range(3):
                client.get(server.url + "/status/503")
            client.get(server.url + "/status/200")
            client.post(server.url + "/echo", json={"after": 1})
            client.post(server.url + "/echo", json={"after": 2})  # different body: not a resend
        with cl.page(number=2):
            client.get(server.url + "/status/503")  # other parent: not a resend
    counts = [attrs(s).get(sc.HTTP_REQUEST_RESEND_COUNT, 0) for s in tel.by_role("http")]
    assert counts == [0, 1, 2, 0, 0, 0, 0]


@pytest.mark.parametrize(
    ("path", "cause"),
    [
        ("/status/401", "auth"),
        ("/status/403", "auth"),
        ("/status/404", "not_found"),
        ("/ratelimited", "rate_limited"),
        ("/status/500", "server_error"),
        ("/status/502", "server_error"),
        ("/status/400", "client_error"),
        ("/status/422", "client_error"),
    ],
)
def test_status_causes(tel: Telemetry, server, path: str, cause: str) -> None:
    with cl.run(), cl.step("s"), cl.page(number=1), httpx.Client() as client:
        client.get(server.url + path)
    span = tel.one("http")
    a = attrs(span)
    assert a[sc.FAILURE_CAUSE] == cause
    assert a[sc.ERROR_TYPE] == path.rsplit("/", 1)[1] if "status" in path else a[sc.ERROR_TYPE] == "429"
    assert span.status.status_code is StatusCode.ERROR
    for role in ("page", "step", "run"):
        assert attrs(tel.one(role))[sc.ERROR_COUNT] == 1


def test_rate_limit_headers_and_flag(tel: Telemetry, server) -> None:
    with cl.run(), cl.step("s"), httpx.Client() as client:
        with cl.page(number=1):
            client.get(server.url + "/ratelimited")
        with cl.page(number=2):
            client.get(server.url + "/headroom")
    spans = {s.name: attrs(s) for s in tel.by_role("http")}
    limited = spans["GET /ratelimited"]
    assert limited[sc.RATELIMIT_LIMIT] == 100 and limited[sc.RATELIMIT_REMAINING] == 0
    assert limited[sc.RATELIMIT_RESET] == 30 and limited[sc.RETRY_AFTER] == 7
    assert limited[sc.RATE_LIMITED] == "true"
    head = spans["GET /headroom"]
    assert head[sc.RATELIMIT_LIMIT] == 5000 and head[sc.RATELIMIT_REMAINING] == 4999
    assert 55 <= head[sc.RATELIMIT_RESET] <= 61
    pages = sorted(tel.by_role("page"), key=lambda s: attrs(s)[sc.PAGE_NUMBER])
    assert attrs(pages[0]).get(sc.RATE_LIMITED) == "true"
    assert sc.RATE_LIMITED not in attrs(pages[1])
    assert attrs(tel.one("step"))[sc.RATE_LIMITED] == "true"
    assert attrs(tel.one("run"))[sc.RATE_LIMITED] == "true"


def test_timeout_cause(tel: Telemetry, server) -> None:
    with pytest.raises(httpx.ReadTimeout), cl.run(), cl.page(number=1), httpx.Client(timeout=0.2) as client:
        client.get(server.url + "/slow?s=1")
    http = attrs(tel.one("http"))
    assert http[sc.FAILURE_CAUSE] == "timeout" and http[sc.ERROR_TYPE] == "ReadTimeout"
    for role in ("page", "run"):
        a = attrs(tel.one(role))
        assert a[sc.FAILURE_CAUSE] == "timeout"
        assert a[sc.FAULT_URL].endswith("/slow?s=1")


def test_network_cause(tel: Telemetry) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(httpx.ConnectError), cl.run(), cl.step("s"), httpx.Client() as client:
        client.get(f"http://127.0.0.1:{port}/x")
    assert attrs(tel.one("http"))[sc.FAILURE_CAUSE] == "network"
    assert attrs(tel.one("step"))[sc.FAILURE_CAUSE] == "network"
    assert attrs(tel.one("run"))[sc.FAULT_URL] == f"http://127.0.0.1:{port}/x"


def test_redirect_hops_are_separate_calls(tel: Telemetry, server) -> None:
    with cl.run(), httpx.Client(follow_redirects=False) as client:
        client.get(server.url + "/echo/")  # starlette redirects? either way no crash
    assert tel.by_role("http")


def test_calls_outside_any_scope_still_recorded(tel: Telemetry, server) -> None:
    with httpx.Client() as client:
        client.get(server.url + "/echo")
    span = tel.one("http")
    assert span.parent is None


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/crm/v3/objects/contacts/12345", "/crm/v3/objects/contacts/{id}"),
        ("/users/4f9a8c2e-1b2c-4d5e-8f90-123456789abc/orders", "/users/{id}/orders"),
        ("/v2/items/a1b2c3d4e5f6a7b8", "/v2/items/{id}"),
        ("/v3/oauth2/token", "/v3/oauth2/token"),
        ("/people/someone@example.com", "/people/{id}"),
        ("/crm/v3/objects/companies/co-01", "/crm/v3/objects/companies/{id}"),
        ("/records/int-c-002", "/records/{id}"),
        ("/api/v2/customers/cus_0001", "/api/v2/customers/{id}"),
        ("/reports/2026-11-22/daily", "/reports/{id}/daily"),
        ("/api-v2/crm-objects/list", "/api-v2/crm-objects/list"),
        ("/services/data/v59.0/sobjects", "/services/data/v59.0/sobjects"),
        ("", "/"),
    ],
)
def test_url_template(path: str, template: str) -> None:
    assert url_template(path) == template


def test_unclosed_streamed_response_still_ends_its_span(tel: Telemetry, server) -> None:
    import gc

    client = httpx.Client()
    with cl.run():
        resp = client.send(client.build_request("GET", server.url + "/stream/10"), stream=True)
        assert resp.status_code == 200
        del resp  # never read, never closed
        gc.collect()
    assert tel.one("http").end_time is not None
    client.close()


def test_retries_configured_on_transport_are_covered(tel: Telemetry, server) -> None:
    with cl.run(), httpx.Client(transport=httpx.HTTPTransport(retries=2)) as client:
        client.get(server.url + "/echo")
    assert tel.one("http").name == "GET /echo"
