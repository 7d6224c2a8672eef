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
# ruff: noqa: BLE001, S110

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from instrumentation._init import Handle, active_handle
from instrumentation.causes import cause_for_exception, cause_for_status
from instrumentation.counters import Node, current_node
from instrumentation.payload import BodyCapture, body_attributes, header_attributes
from instrumentation.ratelimit import ratelimit_attributes
from instrumentation.semconv import (
    ERROR_TYPE,
    FAILURE_CAUSE,
    HTTP_DIRECTION,
    HTTP_REQUEST_METHOD,
    HTTP_REQUEST_RESEND_COUNT,
    HTTP_RESPONSE_STATUS_CODE,
    NETWORK_PROTOCOL_VERSION,
    RATE_LIMITED,
    ROLE,
    SERVER_ADDRESS,
    SERVER_PORT,
    URL_FULL,
    URL_PATH,
    URL_QUERY,
    URL_SCHEME,
    URL_TEMPLATE,
    Direction,
    Role,
)

_log = logging.getLogger("connlog.sdk")

_ID_SEGMENT = re.compile(
    r"^(?:\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|[0-9a-fA-F]{16,}|(?=[^/]*\d)[A-Za-z0-9_.:~-]{12,}|[^/]*@[^/]*)$"
)
# Short ids with a separator and a digit: `co-01`, `cus_0001`, `int-c-002`, `2026-11-22`.
_SEPARATED_ID = re.compile(r"^[A-Za-z0-9.:~]*[-_][A-Za-z0-9_.:~-]*$")
_VERSION = re.compile(r"(?<![A-Za-z0-9])v\d+(?:\.\d+)*(?![A-Za-z0-9])")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_id(segment: str) -> bool:
    if _ID_SEGMENT.match(segment):
        return True
    # A version token (`v3`, `api-v2`) is part of the route, not an id.
    return bool(_SEPARATED_ID.match(segment)) and any(c.isdigit() for c in _VERSION.sub("", segment))


def url_template(path: str) -> str:
    """The path with id-like segments replaced by `{id}`: numbers, UUIDs, long hex,
    long tokens containing a digit, short separated ids with a digit (`co-01`,
    `cus_0001`), e-mail addresses. Groups `/contacts/123` and `/contacts/456` as one
    endpoint, and keeps span names low-cardinality."""
    if not path:
        return "/"
    segments = path.split("/")
    changed = False
    for i, seg in enumerate(segments):
        if seg and _is_id(seg):
            segments[i] = "{id}"
            changed = True
    return "/".join(segments) if changed else path


# ---------------------------------------------------------------------- resend tracking
_sends: OrderedDict[tuple[Any, ...], int] = OrderedDict()
_sends_lock = threading.Lock()
_MAX_SENDS = 10_000


def _resend_count(parent_span_id: int, method: str, url: str, content: bytes | None) -> int:
    if not parent_span_id:
        return 0
    key = (parent_span_id, method, url, hash(content) if content is not None else None)
    with _sends_lock:
        seen = _sends.get(key)
        count = 0 if seen is None else seen + 1
        _sends[key] = count
        _sends.move_to_end(key)
        if len(_sends) > _MAX_SENDS:
            _sends.popitem(last=False)
    return count


# ---------------------------------------------------------------------- one call
class _Call:
    """State of one recorded HTTP exchange, from send to stream close."""

    __slots__ = (
        "_done",
        "_failed",
        "declared_size",
        "full_url",
        "handle",
        "node",
        "request_capture",
        "request_headers",
        "response_capture",
        "response_headers",
        "span",
    )

    def __init__(self, handle: Handle, request: httpx.Request) -> None:
        self.handle = handle
        self._done = False
        self._failed = False
        self.declared_size: int | None = None
        self.response_capture: BodyCapture | None = None
        self.response_headers: dict[str, str] = {}
        self.request_capture: BodyCapture | None = None
        redactor = handle.redactor
        settings = handle.settings
        url = request.url
        method = request.method
        raw_url = str(url)
        self.full_url = redactor.url(raw_url)
        path = redactor.secrets(url.path)
        template = url_template(path)
        scheme = url.scheme
        attrs: dict[str, Any] = {
            ROLE: Role.HTTP.value,
            HTTP_DIRECTION: Direction.OUTGOING.value,
            HTTP_REQUEST_METHOD: method,
            URL_FULL: self.full_url,
            URL_PATH: path,
            URL_TEMPLATE: template,
            URL_SCHEME: scheme,
            SERVER_ADDRESS: url.host,
            SERVER_PORT: url.port or _DEFAULT_PORTS.get(scheme, 0),
        }
        query = url.query
        if query:
            attrs[URL_QUERY] = redactor.query(query.decode("ascii", errors="replace"))
        header_attrs, self.request_headers = header_attributes(redactor, request.headers.multi_items(), False)
        attrs.update(header_attrs)
        content: bytes | None = getattr(request, "_content", None)
        parent = trace.get_current_span()
        resend = _resend_count(parent.get_span_context().span_id, method, raw_url, content)
        if resend:
            attrs[HTTP_REQUEST_RESEND_COUNT] = resend
        if settings.capture_bodies:
            capture = BodyCapture(settings.body_cap)
            if content is not None:
                capture.feed(content)
                attrs.update(body_attributes(redactor, capture, self.request_headers, response=False))
            else:
                self.request_capture = capture
        self.node: Node | None = current_node.get()
        self.span: Span = handle.tracer.start_span(
            f"{method} {template}", kind=SpanKind.CLIENT, attributes=attrs
        )

    # -- request side
    def finish_request_body(self) -> None:
        capture, self.request_capture = self.request_capture, None
        if capture is not None:
            self.span.set_attributes(
                body_attributes(self.handle.redactor, capture, self.request_headers, response=False)
            )

    # -- response side
    def on_response(self, response: httpx.Response) -> None:
        self.finish_request_body()
        span = self.span
        status = response.status_code
        redactor = self.handle.redactor
        header_attrs, self.response_headers = header_attributes(
            redactor, response.headers.multi_items(), True
        )
        attrs: dict[str, Any] = {HTTP_RESPONSE_STATUS_CODE: status}
        attrs.update(header_attrs)
        attrs.update(ratelimit_attributes(self.response_headers))
        version = response.extensions.get("http_version")
        if isinstance(version, bytes):
            attrs[NETWORK_PROTOCOL_VERSION] = version.decode("ascii", "replace").removeprefix("HTTP/")
        cause = cause_for_status(status)
        if cause is not None:
            attrs[ERROR_TYPE] = str(status)
            attrs[FAILURE_CAUSE] = cause.value
            if status == 429:
                attrs[RATE_LIMITED] = "true"
            span.set_status(Status(StatusCode.ERROR))
            self._failed = True
            if self.node is not None:
                self.node.add_error()
        span.set_attributes(attrs)
        if self.node is not None:
            self.node.note_http(self.full_url, status)
        if self.handle.settings.capture_bodies:
            self.response_capture = BodyCapture(self.handle.settings.body_cap)
            length = self.response_headers.get("content-length")
            if length is not None and length.isdigit():
                self.declared_size = int(length)

    def feed(self, chunk: bytes) -> None:
        capture = self.response_capture
        if capture is not None:
            capture.feed(chunk)

    def fail(self, exc: BaseException) -> None:
        """The exchange failed (no response, or the body stream broke); ends the span."""
        try:
            self.finish_request_body()
            span = self.span
            cause = cause_for_exception(exc)
            message = self.handle.redactor.text(str(exc))
            span.set_attributes({ERROR_TYPE: type(exc).__name__, FAILURE_CAUSE: cause.value})
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {message}"[:1024]))
            if not self._failed and self.node is not None:
                self.node.add_error()
            self._failed = True
        except Exception:
            _internal(self.handle, "http fail")
        self.finish()

    def finish(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            capture = self.response_capture
            if capture is not None:
                self.span.set_attributes(
                    body_attributes(
                        self.handle.redactor, capture, self.response_headers, True, self.declared_size
                    )
                )
        except Exception:
            _internal(self.handle, "http body")
        self.span.end()

    def __del__(self) -> None:
        # A response that was never closed: end the span when it is garbage collected.
        try:
            if not self._done:
                self.finish()
        except Exception:
            pass


def _internal(handle: Handle | None, what: str) -> None:
    _log.debug("connlog internal error in %s", what, exc_info=True)
    if handle is not None:
        handle.internal_error()


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


def _should_record() -> Handle | None:
    handle = active_handle()
    if handle is None or handle.closed or handle.settings.disabled:
        return None
    if otel_context.get_value(_SUPPRESS_INSTRUMENTATION_KEY):
        return None
    return handle


def _begin(handle: Handle, request: httpx.Request) -> tuple[_Call | None, Any]:
    try:
        call = _Call(handle, request)
    except Exception:
        _internal(handle, "http start")
        return None, None
    original_stream = None
    if call.request_capture is not None:
        original_stream = request.stream
        request.stream = _TeeRequestStream(original_stream, call.request_capture)
    return call, original_stream


def _patched_handle_request(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
    handle = _should_record()
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
        call.on_response(response)
        response.stream = _TeeSyncStream(response.stream, call)  # type: ignore[arg-type]
    except Exception:
        _internal(handle, "http response")
        call.finish()
    return response


async def _patched_handle_async_request(
    self: httpx.AsyncHTTPTransport, request: httpx.Request
) -> httpx.Response:
    handle = _should_record()
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
        call.on_response(response)
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
