"""Outgoing HTTP calls made with httpx, as CLIENT spans with headers and bodies.

Patch point: `httpx.HTTPTransport.handle_request` and
`httpx.AsyncHTTPTransport.handle_async_request`, replaced at class level. Every client
that sends through httpx's default transports is covered, including clients created
before `init()`; each redirect hop and each retry is its own span. Custom transports
(`MockTransport`, `ASGITransport`) are not the network and are not recorded.

Body capture without breaking streams: the transport returns as soon as headers
arrive. The response stream is replaced by a tee (`_TeeSyncStream` / `_TeeAsyncStream`)
that copies bytes into a capped buffer *as the connector reads them*, and the span ends
when httpx closes the stream: after `response.read()` for ordinary calls, at the end of
`with client.stream(...)` for streamed ones. Nothing is read ahead, so streamed
downloads stay streamed and the connector sees exactly the bytes it would have seen.
Streamed request bodies are teed the same way while httpcore sends them.

Resend rule (`http.request.resend_count`): a send of the same method, URL and body
(by hash; streamed bodies ignored) under the same parent span as an earlier send counts
as a resend; the n-th repeat gets n. Sends with no parent span are not counted.
"""

# The SDK must never raise into the connector: its hooks catch broadly on purpose.
# ruff: noqa: BLE001

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx

from connlog.instrumentation._init import Handle
from connlog.instrumentation.http_call import HttpCall, internal, should_record, url_template
from connlog.instrumentation.payload import BodyCapture

__all__ = ["install", "uninstall", "url_template"]

_internal = internal
_Call = HttpCall  # the name the stream tees annotate with


def _new_call(handle: Handle, request: httpx.Request) -> HttpCall:
    url = request.url
    content: bytes | None = getattr(request, "_content", None)
    return HttpCall(
        handle,
        method=request.method,
        raw_url=str(url),
        scheme=url.scheme,
        host=url.host,
        port=url.port,
        path=url.path,
        query=url.query.decode("ascii", errors="replace"),
        headers=request.headers.multi_items(),
        content=content,
        streamed_body=content is None,
    )


def _on_response(call: HttpCall, response: httpx.Response) -> None:
    version = response.extensions.get("http_version")
    text = version.decode("ascii", "replace").removeprefix("HTTP/") if isinstance(version, bytes) else None
    call.on_response(response.status_code, response.headers.multi_items(), text)


# ---------------------------------------------------------------------- streams
class _TeeSyncStream(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, call: _Call) -> None:
        self._inner = inner
        self._call = call

    def __iter__(self) -> Iterator[bytes]:
        call = self._call
        try:
            for chunk in self._inner:
                call.feed(chunk)
                yield chunk
        except Exception as exc:
            call.fail(exc)
            raise

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._call.finish()


class _TeeAsyncStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, call: _Call) -> None:
        self._inner = inner
        self._call = call

    async def __aiter__(self) -> AsyncIterator[bytes]:
        call = self._call
        try:
            async for chunk in self._inner:
                call.feed(chunk)
                yield chunk
        except Exception as exc:
            call.fail(exc)
            raise

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._call.finish()


class _TeeRequestStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """Copies a streamed request body while httpcore sends it."""

    def __init__(self, inner: Any, capture: BodyCapture) -> None:
        self._inner = inner
        self._capture = capture

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._capture.feed(chunk)
            yield chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._capture.feed(chunk)
            yield chunk


# ---------------------------------------------------------------------- patches
_installed = False
_orig_sync: Any = None
_orig_async: Any = None


def _begin(handle: Handle, request: httpx.Request) -> tuple[_Call | None, Any]:
    try:
        call = _new_call(handle, request)
    except Exception:
        _internal(handle, "http start")
        return None, None
    original_stream = None
    if call.request_capture is not None:
        original_stream = request.stream
        request.stream = _TeeRequestStream(original_stream, call.request_capture)
    return call, original_stream


def _patched_handle_request(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
    handle = should_record()
    if handle is None:
        return _orig_sync(self, request)  # type: ignore[no-any-return]
    call, original_stream = _begin(handle, request)
    if call is None:
        return _orig_sync(self, request)  # type: ignore[no-any-return]
    try:
        response: httpx.Response = _orig_sync(self, request)
    except BaseException as exc:
        call.fail(exc)
        raise
    finally:
        if original_stream is not None:
            request.stream = original_stream
    try:
        _on_response(call, response)
        response.stream = _TeeSyncStream(response.stream, call)  # type: ignore[arg-type]
    except Exception:
        _internal(handle, "http response")
        call.finish()
    return response


async def _patched_handle_async_request(
    self: httpx.AsyncHTTPTransport, request: httpx.Request
) -> httpx.Response:
    handle = should_record()
    if handle is None:
        return await _orig_async(self, request)  # type: ignore[no-any-return]
    call, original_stream = _begin(handle, request)
    if call is None:
        return await _orig_async(self, request)  # type: ignore[no-any-return]
    try:
        response: httpx.Response = await _orig_async(self, request)
    except BaseException as exc:
        call.fail(exc)
        raise
    finally:
        if original_stream is not None:
            request.stream = original_stream
    try:
        _on_response(call, response)
        response.stream = _TeeAsyncStream(response.stream, call)  # type: ignore[arg-type]
    except Exception:
        _internal(handle, "http response")
        call.finish()
    return response


def install() -> None:
    """Patch httpx's default transports (idempotent)."""
    global _installed, _orig_sync, _orig_async
    if _installed:
        return
    _orig_sync = httpx.HTTPTransport.handle_request
    _orig_async = httpx.AsyncHTTPTransport.handle_async_request
    httpx.HTTPTransport.handle_request = _patched_handle_request  # type: ignore[method-assign]
    httpx.AsyncHTTPTransport.handle_async_request = _patched_handle_async_request  # type: ignore[method-assign]
    _installed = True


def uninstall() -> None:
    """Restore httpx's transports."""
    global _installed
    if not _installed:
        return
    httpx.HTTPTransport.handle_request = _orig_sync  # type: ignore[method-assign]
    httpx.AsyncHTTPTransport.handle_async_request = _orig_async  # type: ignore[method-assign]
    _installed = False
