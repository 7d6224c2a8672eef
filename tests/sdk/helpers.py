"""Shared helpers for the SDK tests: a real local HTTP server and an in-memory pipeline.

The server is a Starlette app served by uvicorn on 127.0.0.1 (port 0) in a thread, so
requests go through httpx's real HTTP transport: the code path the SDK patches.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

import connlog as cl
from connlog.collector.http_thread import ThreadedServer

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


async def echo(request: Request) -> Response:
    body = await request.body()
    ctype = request.headers.get("content-type", "application/octet-stream")
    return Response(body, media_type=ctype, headers={"x-echo-method": request.method})


async def status(request: Request) -> Response:
    code = int(request.path_params["code"])
    if code == 204:
        return Response(status_code=204)
    return JSONResponse({"status": code}, status_code=code)


async def ratelimited(request: Request) -> Response:
    return JSONResponse(
        {"error": "slow down"},
        status_code=429,
        headers={
            "RateLimit-Limit": "100",
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": "30",
            "Retry-After": "7",
        },
    )


async def headroom(request: Request) -> Response:
    reset = str(int(time.time()) + 60)
    return JSONResponse(
        {"ok": True},
        headers={"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4999", "X-RateLimit-Reset": reset},
    )


async def stream(request: Request) -> Response:
    n = int(request.path_params["n"])

    async def gen() -> AsyncIterator[bytes]:
        sent = 0
        while sent < n:
            chunk = min(4096, n - sent)
            yield b"x" * chunk
            sent += chunk

    return StreamingResponse(gen(), media_type="text/plain")


async def binary(request: Request) -> Response:
    return Response(PNG, media_type="image/png")


async def gzipped(request: Request) -> Response:
    data = gzip.compress(
        json.dumps({"items": [{"id": i} for i in range(5)], "access_token": "gz-secret-1"}).encode()
    )
    return Response(data, media_type="application/json", headers={"content-encoding": "gzip"})


async def slow(request: Request) -> Response:
    await asyncio.sleep(float(request.query_params.get("s", "1")))
    return JSONResponse({"slow": True})


async def bad_json(request: Request) -> Response:
    return Response(b'{"results": [1, 2', media_type="application/json")


async def contacts(request: Request) -> Response:
    return JSONResponse({"results": [{"id": "1"}, {"id": "2"}], "paging": {"next": None}})


async def contact(request: Request) -> Response:
    return JSONResponse({"id": request.path_params["cid"], "properties": {"email": "a@example.com"}})


app = Starlette(
    routes=[
        Route("/echo", echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        Route("/echo/{rest:path}", echo, methods=["GET", "POST", "PUT"]),
        Route("/status/{code:int}", status, methods=["GET", "POST"]),
        Route("/ratelimited", ratelimited),
        Route("/headroom", headroom),
        Route("/stream/{n:int}", stream),
        Route("/binary", binary),
        Route("/gzip", gzipped),
        Route("/slow", slow),
        Route("/bad-json", bad_json),
        Route("/crm/v3/objects/contacts", contacts),
        Route("/crm/v3/objects/contacts/{cid}", contact),
    ]
)


class LocalServer(ThreadedServer):
    """The project's `ThreadedServer` on an ephemeral port, started on construction."""

    def __init__(self, asgi_app: Any = app) -> None:
        super().__init__(asgi_app, name="sdk-test-server")
        self.start(timeout=10)


@dataclass
class Telemetry:
    """An `init()`ed SDK with in-memory exporters."""

    handle: cl.Handle
    spans_exporter: InMemorySpanExporter
    logs_exporter: InMemoryLogRecordExporter

    def spans(self) -> list[ReadableSpan]:
        self.handle.flush()
        return list(self.spans_exporter.get_finished_spans())

    def logs(self) -> list[Any]:
        self.handle.flush()
        return list(self.logs_exporter.get_finished_logs())

    def by_role(self, role: str) -> list[ReadableSpan]:
        return [s for s in self.spans() if (s.attributes or {}).get("connector.role") == role]

    def one(self, role: str) -> ReadableSpan:
        found = self.by_role(role)
        assert len(found) == 1, [s.name for s in found]
        return found[0]


def start_telemetry(**kwargs: Any) -> Telemetry:
    spans = InMemorySpanExporter()
    logs = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    kwargs.setdefault("connector", "testconn")
    handle = cl.init(span_exporter=spans, log_exporter=logs, **kwargs)
    return Telemetry(handle, spans, logs)


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def all_text(spans: list[ReadableSpan], logs: list[Any] = ()) -> Iterator[str]:  # type: ignore[assignment]
    """Every string the exporters received: names, attribute keys/values, events, statuses, logs."""
    for span in spans:
        yield span.name
        if span.status.description:
            yield span.status.description
        for k, v in (span.attributes or {}).items():
            yield k
            yield str(v)
        for ev in span.events:
            yield ev.name
            for k, v in (ev.attributes or {}).items():
                yield k
                yield str(v)
        for v in span.resource.attributes.values():
            yield str(v)
    for item in logs:
        record = getattr(item, "log_record", item)
        yield str(record.body)
        for k, v in (record.attributes or {}).items():
            yield k
            yield str(v)
