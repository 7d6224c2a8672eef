"""Outgoing HTTP calls made with aiohttp (and vendor clients on it, such as slack_sdk's
`AsyncWebClient`), as CLIENT spans like httpx's.

Patch points, at class level so sessions created before `init()` are covered:

- `ClientRequest.send`: one request on the wire (each redirect hop is its own span);
  the request line, the headers aiohttp actually sends and a bytes/JSON/form body.
- `ClientResponse.start`: the response headers arrived (or a read timeout / reset while
  waiting for them fails the span).
- `StreamReader._read_nowait_chunk`: every body read path of aiohttp (`read()`,
  `text()`, `json()`, `content.iter_chunked()`, `readline()`) takes bytes out of the
  response buffer through it, so the tee copies exactly what the connector reads, when
  it reads it; nothing is read ahead. The bytes are already decompressed when the
  session decompresses (the default), which the capture is told.
- `ClientResponse.release` / `close`: the span ends at the end of the body or when the
  response is released or closed.
- `ClientSession._request`: only to record a call that failed before anything was sent
  (connection refused, connect timeout) as a failed span.
"""

# The SDK must never raise into the connector: its hooks catch broadly on purpose.
# ruff: noqa: BLE001

from __future__ import annotations

from collections.abc import Awaitable
from contextvars import ContextVar
from typing import Any

from connlog.instrumentation._init import Handle
from connlog.instrumentation.class_patches import ClassPatches, Target
from connlog.instrumentation.http_call import HttpCall, internal, should_record

_CALL_ATTR = "_connlog_call"
_MAX_STREAMS = 10_000

# StreamReader has __slots__: its call is found by id. The entry holds the stream, so
# the id cannot be reused while the entry exists; entries go when the call finishes.
_streams: dict[int, tuple[Any, HttpCall]] = {}
# Calls started inside the current `ClientSession._request` (to spot a call that failed
# before `send`).
_attempts: ContextVar[list[HttpCall] | None] = ContextVar("connlog_aiohttp_attempts", default=None)

_patches = ClassPatches()


def _body_bytes(body: Any) -> bytes | None:
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    value = getattr(body, "_value", None)  # BytesPayload, JsonPayload, FormData's payload
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return None


def _new_call(handle: Handle, method: str, url: Any, headers: Any, body: Any) -> HttpCall:
    items = [(str(k), str(v)) for k, v in headers.items()] if headers is not None else []
    return HttpCall(
        handle,
        method=str(method).upper(),
        raw_url=str(url),
        scheme=str(url.scheme),
        host=str(url.host or ""),
        port=url.port,
        path=str(url.path) or "/",
        query=str(url.raw_query_string),
        headers=items,
        content=_body_bytes(body),
        streamed_body=False,
    )


def _finish(call: HttpCall, stream: Any) -> None:
    _streams.pop(id(stream), None)
    call.finish()


async def _failing(call: HttpCall, step: Awaitable[Any]) -> Any:
    """Await one of aiohttp's own steps; its failure (refused, reset, timeout, cancelled)
    fails the call, then propagates to the connector unchanged."""
    try:
        return await step
    except BaseException as exc:
        call.fail(exc)
        raise


async def _patched_send(self: Any, conn: Any) -> Any:
    original = _patches.original("send")
    handle = should_record()
    if handle is None:
        return await original(self, conn)
    try:
        call: HttpCall | None = _new_call(handle, self.method, self.url, self.headers, self.body)
        attempts = _attempts.get()
        if attempts is not None and call is not None:
            attempts.append(call)
    except Exception:
        internal(handle, "aiohttp start")
        call = None
    if call is None:
        return await original(self, conn)
    response = await _failing(call, original(self, conn))
    try:
        setattr(response, _CALL_ATTR, call)
    except Exception:
        internal(handle, "aiohttp send")
        call.finish()
    return response


async def _patched_start(self: Any, connection: Any) -> Any:
    original = _patches.original("start")
    call: HttpCall | None = getattr(self, _CALL_ATTR, None)
    if call is None or call.done:
        return await original(self, connection)
    result = await _failing(call, original(self, connection))
    try:
        version = getattr(self, "version", None)
        text = f"{version.major}.{version.minor}" if version is not None else None
        session = getattr(self, "_session", None)
        decoded = bool(getattr(session, "_auto_decompress", True))
        call.on_response(int(self.status), [(str(k), str(v)) for k, v in self.headers.items()], text, decoded)
        content = self.content
        if getattr(content, "_eof", False) and not getattr(content, "_buffer", True):
            call.finish()  # no body (HEAD, 204)
        else:
            if len(_streams) >= _MAX_STREAMS:
                _, (old_stream, old_call) = next(iter(_streams.items()))
                _finish(old_call, old_stream)
            _streams[id(content)] = (content, call)
    except Exception:
        internal(call.handle, "aiohttp response")
        call.finish()
    return result


def _patched_read_chunk(self: Any, n: int) -> bytes:
    data: bytes = _patches.original("_read_nowait_chunk")(self, n)
    entry = _streams.get(id(self))
    if entry is not None and entry[0] is self:
        call = entry[1]
        try:
            call.feed(data)
            if self._eof and not self._buffer:
                _finish(call, self)
        except Exception:
            internal(call.handle, "aiohttp body")
    return data


def _ender(name: str) -> Any:
    def patched(self: Any, *args: Any, **kwargs: Any) -> Any:
        call: HttpCall | None = getattr(self, _CALL_ATTR, None)
        try:
            return _patches.original(name)(self, *args, **kwargs)
        finally:
            if call is not None and not call.done:
                try:
                    _finish(call, self.content)
                except Exception:
                    internal(call.handle, f"aiohttp {name}")

    patched.__name__ = name
    return patched


async def _patched_request(self: Any, method: str, str_or_url: Any, *args: Any, **kwargs: Any) -> Any:
    original = _patches.original("_request")
    if should_record() is None:
        return await original(self, method, str_or_url, *args, **kwargs)
    attempts: list[HttpCall] = []
    token = _attempts.set(attempts)
    try:
        return await original(self, method, str_or_url, *args, **kwargs)
    except BaseException as exc:
        handle = should_record()
        if not attempts and handle is not None and isinstance(exc, Exception):
            try:
                from yarl import URL

                url = URL(str(str_or_url))
                base = getattr(self, "_base_url", None)
                if base is not None and not url.is_absolute():
                    url = base.join(url)
                _new_call(handle, method, url, kwargs.get("headers") or {}, None).fail(exc)
            except Exception:
                internal(handle, "aiohttp unsent")
        raise
    finally:
        _attempts.reset(token)


def _targets() -> tuple[Target, ...]:
    from aiohttp import client, client_reqrep, streams

    return (
        (client_reqrep.ClientRequest, "send", _patched_send),
        (client_reqrep.ClientResponse, "start", _patched_start),
        (client_reqrep.ClientResponse, "release", _ender("release")),
        (client_reqrep.ClientResponse, "close", _ender("close")),
        (streams.StreamReader, "_read_nowait_chunk", _patched_read_chunk),
        (client.ClientSession, "_request", _patched_request),
    )


def install() -> bool:
    """Patch aiohttp if it is importable (idempotent); False when it is not installed."""
    return _patches.install(_targets)


def uninstall() -> None:
    """Restore aiohttp."""
    _patches.uninstall()
