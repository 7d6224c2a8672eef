"""Inbound webhooks: the ASGI middleware records SERVER spans, redacted, without breaking streams."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from opentelemetry.trace import SpanKind, StatusCode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

import connlog as cl
from connlog.instrumentation import semconv as sc
from tests.sdk.helpers import LocalServer, Telemetry, attrs


async def hook(request: Request) -> Response:
    chunks = [c async for c in request.stream()]
    body = b"".join(chunks)
    with cl.entity("wh-1", type="event", action="create"):
        pass
    return JSONResponse({"received": len(body), "chunks": len(chunks), "session_token": "resp-tok-77"})


async def download(request: Request) -> Response:
    async def gen() -> AsyncIterator[bytes]:
        for i in range(5):
            yield f"line {i}\n".encode()

    return StreamingResponse(gen(), media_type="text/plain")


async def crash(request: Request) -> Response:
    raise RuntimeError("handler crashed")


async def created(request: Request) -> Response:
    return Response(status_code=401)


webhook_app = Starlette(
    routes=[
        Route("/hooks/{source}/{hid}", hook, methods=["POST"]),
        Route("/download", download),
        Route("/crash", crash),
        Route("/unauth", created),
    ]
)


def server_spans(tel: Telemetry, n: int) -> list:
    """The server span ends in the server thread just after the last byte is sent: wait for it."""
    deadline = time.monotonic() + 5
    while True:
        spans = [s for s in tel.spans() if s.kind is SpanKind.SERVER]
        if len(spans) >= n or time.monotonic() > deadline:
            return spans
        time.sleep(0.01)


@pytest.fixture(scope="module")
def hook_server() -> Iterator[LocalServer]:
    srv = LocalServer(cl.ConnlogASGIMiddleware(webhook_app))
    yield srv
    srv.stop()


def test_webhook_server_span(tel: Telemetry, hook_server: LocalServer) -> None:
    def body() -> Iterator[bytes]:
        yield b'{"event": "contact.created", '
        yield b'"secret": "wh-secret-1", "id": 5}'

    r = httpx.post(
        hook_server.url + "/hooks/hubspot/123456?signature=sig-abc",
        content=body(),
        headers={"X-Hub-Signature": "sha256=deadbeef", "Content-Type": "application/json"},
    )
    assert r.json()["received"] == 62 and r.json()["chunks"] >= 1
    spans = server_spans(tel, 1)
    assert len(spans) == 1
    span = spans[0]
    a = attrs(span)
    assert a[sc.ROLE] == "webhook" and a[sc.HTTP_DIRECTION] == "incoming"
    assert span.name == "POST /hooks/hubspot/{id}"
    assert a[sc.HTTP_REQUEST_METHOD] == "POST" and a[sc.HTTP_RESPONSE_STATUS_CODE] == 200
    assert a[sc.URL_QUERY] == "signature=[REDACTED:query:signature]"
    assert "sig-abc" not in a[sc.URL_FULL]
    assert a[sc.HTTP_REQUEST_HEADER_PREFIX + "x-hub-signature"] == "[REDACTED:header]"
    assert (
        "wh-secret-1" not in a[sc.HTTP_REQUEST_BODY]
        and '"event": "contact.created"' in a[sc.HTTP_REQUEST_BODY]
    )
    assert "resp-tok-77" not in a[sc.HTTP_RESPONSE_BODY]
    assert a[sc.HTTP_REQUEST_BODY_SIZE] == 62
    assert a[sc.CLIENT_ADDRESS] == "127.0.0.1"
    # work done in the handler nests under the webhook span
    ent = tel.one("entity")
    assert ent.parent.span_id == span.context.span_id


def test_streaming_response_through_middleware(tel: Telemetry, hook_server: LocalServer) -> None:
    with httpx.stream("GET", hook_server.url + "/download") as r:
        lines = list(r.iter_lines())
    assert lines == [f"line {i}" for i in range(5)]
    (span,) = server_spans(tel, 1)
    assert attrs(span)[sc.HTTP_RESPONSE_BODY] == "".join(f"line {i}\n" for i in range(5))
    assert attrs(span)[sc.HTTP_REQUEST_BODY] == ""


def test_handler_crash_and_4xx(tel: Telemetry, hook_server: LocalServer) -> None:
    assert httpx.get(hook_server.url + "/crash").status_code == 500
    assert httpx.get(hook_server.url + "/unauth").status_code == 401
    spans = {s.name: s for s in server_spans(tel, 2)}
    crash = spans["GET /crash"]
    assert crash.status.status_code is StatusCode.ERROR
    assert attrs(crash)[sc.ERROR_TYPE] in ("RuntimeError", "500")
    unauth = attrs(spans["GET /unauth"])
    assert unauth[sc.FAILURE_CAUSE] == "auth"
    assert spans["GET /unauth"].status.status_code is not StatusCode.ERROR


def test_middleware_passthrough_without_init(hook_server: LocalServer) -> None:
    assert cl.active_handle() is None
    assert httpx.get(hook_server.url + "/download").text.startswith("line 0")
