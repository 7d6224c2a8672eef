"""OTLP/HTTP receiver (`POST /v1/traces`, `POST /v1/logs`) plus health and stats endpoints.

Plain Starlette: the OTLP endpoints take raw bodies, so FastAPI's validation layer would
only add per-request cost. Every failure maps to a 4xx/503 with a google.rpc.Status body
in the request's encoding; decoding never raises past the handler, so bad input cannot
produce a 500 or stop the server.

With ingest keys configured (collector.ingest_auth) the key is checked before the body is
read (401), the connector binding after parsing (403); `/stats` then also needs a valid
ingest key (its counters describe every connector's traffic), while `/healthz` and
`/readyz` stay open for probes. A body that does not arrive within
`body_read_timeout_s` gets 408, so stalled clients cannot hold requests open forever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connlog.collector.batch import ColumnBatch
from connlog.collector.batcher import Batcher, TransformError, Unavailable
from connlog.collector.decode_pool import DecodePool, RawRequest, decode_request
from connlog.collector.ingest_auth import Forbidden, IngestPrincipal, Unauthenticated
from connlog.collector.intake import Intake
from connlog.collector.options import CollectorOptions
from connlog.collector.otlp_codec import (
    CONTENT_TYPES,
    JSON,
    PROTOBUF,
    RPC_DEADLINE_EXCEEDED,
    RPC_INVALID_ARGUMENT,
    RPC_PERMISSION_DENIED,
    RPC_RESOURCE_EXHAUSTED,
    RPC_UNAUTHENTICATED,
    RPC_UNAVAILABLE,
    BadRequest,
    TooLarge,
    encode_message,
    export_response,
    status_body,
)
from connlog.collector.stats import MemoryProbe, Stats

log = logging.getLogger("connlog.collector.http")

ReadyCheck = Callable[[], tuple[bool, str]]
_ENCODINGS: Final = ("", "identity", "gzip")
_CHALLENGE: Final = {"WWW-Authenticate": 'Bearer realm="connlog-ingest"'}


def _error(status: int, rpc_code: int, message: str, content_type: str, **headers: str) -> Response:
    return Response(
        status_body(rpc_code, message, content_type),
        status_code=status,
        media_type=content_type,
        headers=headers or None,
    )


async def _read_capped(request: Request, limit: int) -> bytes:
    """The raw body, aborting as soon as it grows past `limit` (no unbounded buffering)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"body of {declared} bytes exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_body(request: Request, options: CollectorOptions) -> bytes:
    """The capped body, or TimeoutError when it has not fully arrived in `body_read_timeout_s`."""
    async with asyncio.timeout(options.body_read_timeout_s):
        return await _read_capped(request, options.max_body_bytes)


def create_app(
    batcher: Batcher,
    stats: Stats,
    options: CollectorOptions,
    ready_check: ReadyCheck,
    intake: Intake | None = None,
    pool: DecodePool | None = None,
    memory: MemoryProbe | None = None,
) -> Starlette:
    """The ASGI app; `ready_check` answers /readyz (run in a worker thread: it queries ClickHouse).

    `intake` holds the admission rules (limits, ingest keys, retention); by default
    `options`' limits with ingest auth off and no retention cut-off. With a `pool`, bodies
    are decoded (and redacted) in its worker processes; without, in this process. With a
    `memory` probe, `/stats` also says what holds this process's memory.
    """
    rules = intake or Intake(options)

    async def export(request: Request, signal: str) -> Response:
        content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type not in CONTENT_TYPES:
            stats.add("requests_invalid")
            return _error(
                415,
                RPC_INVALID_ARGUMENT,
                f"unsupported content type {content_type!r}; use {PROTOBUF} or {JSON}",
                JSON,
            )
        encoding = request.headers.get("content-encoding", "").strip().lower()
        if encoding not in _ENCODINGS:
            stats.add("requests_invalid")
            return _error(
                415,
                RPC_INVALID_ARGUMENT,
                f"unsupported content encoding {encoding!r}; use gzip",
                content_type,
            )

        try:
            principal = rules.authenticate(request.headers.get("authorization"))
        except Unauthenticated as exc:
            stats.add("requests_unauthenticated")
            return _error(401, RPC_UNAUTHENTICATED, str(exc), content_type, **_CHALLENGE)

        def decode_and_submit(body: bytes, principal: IngestPrincipal) -> tuple[ColumnBatch, bool]:
            # In a worker thread: decoding is CPU work (or waits for a decode worker) and
            # `submit` waits for the WAL's fsync, which must not stall the event loop
            # (concurrent requests then share one fsync through the WAL's group commit).
            raw = RawRequest(signal, body, content_type, encoding == "gzip", principal)
            batch = decode_request(rules, raw) if pool is None else pool.decode(raw)
            return batch, batcher.submit(batch)

        try:
            body = await _read_body(request, options)
        except TimeoutError:
            stats.add("requests_timed_out")
            message = (
                f"request body not received within {options.body_read_timeout_s:g} s (body_read_timeout_s)"
            )
            return _error(408, RPC_DEADLINE_EXCEEDED, message, content_type, Connection="close")
        except TooLarge as exc:
            stats.add("requests_invalid")
            return _error(413, RPC_INVALID_ARGUMENT, str(exc), content_type)
        except ClientDisconnect:
            return Response(status_code=400)
        try:
            batch, accepted = await run_in_threadpool(decode_and_submit, body, principal)
        except TooLarge as exc:
            stats.add("requests_invalid")
            return _error(413, RPC_INVALID_ARGUMENT, str(exc), content_type)
        except Forbidden as exc:
            stats.add("requests_forbidden")
            log.info("event=request_forbidden signal=%s reason=%r", signal, str(exc)[:200])
            return _error(403, RPC_PERMISSION_DENIED, str(exc), content_type)
        except (BadRequest, TransformError) as exc:
            stats.add("requests_invalid")
            log.info("event=request_rejected signal=%s status=400 reason=%r", signal, str(exc)[:200])
            return _error(400, RPC_INVALID_ARGUMENT, str(exc), content_type)
        except Unavailable as exc:
            return _error(503, RPC_UNAVAILABLE, str(exc), content_type, **{"Retry-After": "1"})
        if not accepted:
            return _error(
                429,
                RPC_RESOURCE_EXHAUSTED,
                "write backlog full, retry later",
                content_type,
                **{"Retry-After": str(options.retry_after_s)},
            )
        if batch.rejected:
            stats.add(f"{batch.signal}_rejected", batch.rejected)
        return Response(encode_message(export_response(signal, batch), content_type), media_type=content_type)

    async def traces(request: Request) -> Response:
        return await export(request, "traces")

    async def logs(request: Request) -> Response:
        return await export(request, "logs")

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        ok, detail = await run_in_threadpool(ready_check)
        return JSONResponse({"status": "ready" if ok else "not ready", "detail": detail}, 200 if ok else 503)

    async def stats_endpoint(request: Request) -> Response:
        try:
            rules.authenticate(request.headers.get("authorization"))
        except Unauthenticated as exc:
            return JSONResponse({"error": str(exc)}, 401, headers=_CHALLENGE)
        backlog, wal = batcher.backlog(), batcher.wal_status()
        body: dict[str, object] = {
            "counters": stats.snapshot(),
            "backlog": backlog,
            "wal": wal,
            "decode_pool": pool.status() if pool is not None else None,
        }
        if memory is not None:  # engine figures are a query: off the event loop
            body["memory"] = await run_in_threadpool(memory.breakdown, backlog, wal)
        return JSONResponse(body)

    return Starlette(
        routes=[
            Route("/v1/traces", traces, methods=["POST"]),
            Route("/v1/logs", logs, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/stats", stats_endpoint, methods=["GET"]),
        ]
    )
