"""One recorded outgoing HTTP exchange, shared by every client library the SDK patches.

httpx, urllib3 (and `requests` on top of it) and aiohttp each have their own request and
response objects; their patches (`httpx_capture`, `urllib3_capture`, `aiohttp_capture`)
only translate those into the plain values `HttpCall` takes, so the span name, the
attribute keys, redaction, body caps, resend counting, rate-limit headroom and causes are
the same whichever library a connector (or its vendor client) uses.

Lifecycle: `HttpCall(...)` starts the CLIENT span when the request is sent;
`on_response()` when headers arrive; `feed()` as the connector reads body bytes (the
patches tee, they never read ahead); `finish()` when the body is done or the response is
closed; `fail()` when no response came or the body stream broke. `__del__` ends a span
whose response was never closed.

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
from collections.abc import Iterable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from connlog.instrumentation._init import Handle, active_handle
from connlog.instrumentation.causes import cause_for_exception, cause_for_status
from connlog.instrumentation.counters import Node, current_node
from connlog.instrumentation.payload import BodyCapture, body_attributes, header_attributes
from connlog.instrumentation.ratelimit import ratelimit_attributes
from connlog.instrumentation.semconv import (
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
    STEP_NAME,
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
DEFAULT_PORTS = {"http": 80, "https": 443}


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


# ---------------------------------------------------------------------- guards
def should_record() -> Handle | None:
    """The active handle when this call is to be recorded (initialised, enabled, not suppressed)."""
    handle = active_handle()
    if handle is None or handle.closed or handle.settings.disabled:
        return None
    if otel_context.get_value(_SUPPRESS_INSTRUMENTATION_KEY):
        return None
    return handle


def internal(handle: Handle | None, what: str) -> None:
    """Count and debug-log an exception swallowed by a capture hook."""
    _log.debug("connlog internal error in %s", what, exc_info=True)
    if handle is not None:
        handle.internal_error()


# ---------------------------------------------------------------------- one call
class HttpCall:
    """State of one recorded HTTP exchange, from send to stream close."""

    __slots__ = (
        "_done",
        "_failed",
        "_responded",
        "body_headers",
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

    def __init__(
        self,
        handle: Handle,
        *,
        method: str,
        raw_url: str,
        scheme: str,
        host: str,
        port: int | None,
        path: str,
        query: str,
        headers: Iterable[tuple[str, str]],
        content: bytes | None,
        streamed_body: bool,
    ) -> None:
        """`path` is the decoded path, `query` the raw query string (may be empty).

        `content` is the request body when it is known up front; `streamed_body` says a
        body will be fed later through `request_capture` (None content, not streamed:
        no body, or one that cannot be captured without consuming it).
        """
        self.handle = handle
        self._done = False
        self._failed = False
        self._responded = False
        self.declared_size: int | None = None
        self.response_capture: BodyCapture | None = None
        self.response_headers: dict[str, str] = {}
        self.body_headers: dict[str, str] = {}
        self.request_capture: BodyCapture | None = None
        redactor = handle.redactor
        settings = handle.settings
        self.full_url = redactor.url(raw_url)
        path = redactor.secrets(path)
        template = url_template(path)
        attrs: dict[str, Any] = {
            ROLE: Role.HTTP.value,
            HTTP_DIRECTION: Direction.OUTGOING.value,
            HTTP_REQUEST_METHOD: method,
            URL_FULL: self.full_url,
            URL_PATH: path,
            URL_TEMPLATE: template,
            URL_SCHEME: scheme,
            SERVER_ADDRESS: host,
            SERVER_PORT: port or DEFAULT_PORTS.get(scheme, 0),
        }
        if query:
            attrs[URL_QUERY] = redactor.query(query)
        header_attrs, self.request_headers = header_attributes(redactor, headers, False)
        attrs.update(header_attrs)
        parent = trace.get_current_span()
        resend = _resend_count(parent.get_span_context().span_id, method, raw_url, content)
        if resend:
            attrs[HTTP_REQUEST_RESEND_COUNT] = resend
        if settings.capture_bodies:
            capture = BodyCapture(settings.body_cap)
            if content is not None:
                capture.feed(content)
                attrs.update(body_attributes(redactor, capture, self.request_headers, response=False))
            elif streamed_body:
                self.request_capture = capture
        self.node: Node | None = current_node.get()
        if self.node is not None and self.node.step_name is not None:
            attrs[STEP_NAME] = self.node.step_name
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
    def on_response(
        self,
        status: int,
        headers: Iterable[tuple[str, str]],
        http_version: str | None = None,
        decoded: bool = False,
    ) -> None:
        """Headers arrived. `decoded`: the library hands the body over already decompressed."""
        self._responded = True
        self.finish_request_body()
        span = self.span
        redactor = self.handle.redactor
        header_attrs, self.response_headers = header_attributes(redactor, headers, True)
        self.body_headers = self.response_headers
        if decoded and "content-encoding" in self.response_headers:
            self.body_headers = {k: v for k, v in self.response_headers.items() if k != "content-encoding"}
        attrs: dict[str, Any] = {HTTP_RESPONSE_STATUS_CODE: status}
        attrs.update(header_attrs)
        attrs.update(ratelimit_attributes(self.response_headers))
        if http_version:
            attrs[NETWORK_PROTOCOL_VERSION] = http_version
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
            self.node.note_http(self.full_url, status, cause.value if cause is not None else None)
        if self.handle.settings.capture_bodies:
            self.response_capture = BodyCapture(self.handle.settings.body_cap)
            length = self.response_headers.get("content-length")
            if length is not None and length.isdigit() and not decoded:
                self.declared_size = int(length)

    def feed(self, chunk: bytes) -> None:
        capture = self.response_capture
        if capture is not None:
            capture.feed(chunk)

    @property
    def done(self) -> bool:
        return self._done

    @property
    def responded(self) -> bool:
        """`on_response` was called (the response headers are recorded)."""
        return self._responded

    def fail(self, exc: BaseException) -> None:
        """The exchange failed (no response, or the body stream broke); ends the span."""
        if self._done:
            return
        try:
            self.finish_request_body()
            span = self.span
            cause = cause_for_exception(exc)
            message = self.handle.redactor.text(str(exc))
            span.set_attributes({ERROR_TYPE: type(exc).__name__, FAILURE_CAUSE: cause.value})
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {message}"[:1024]))
            if self.node is not None:
                if not self._failed:
                    self.node.add_error()
                self.node.note_failed_call(self.full_url, cause.value)
            self._failed = True
        except Exception:
            internal(self.handle, "http fail")
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
                        self.handle.redactor, capture, self.body_headers, True, self.declared_size
                    )
                )
        except Exception:
            internal(self.handle, "http body")
        self.span.end()

    def __del__(self) -> None:
        # A response that was never closed: end the span when it is garbage collected.
        try:
            if not self._done:
                self.finish()
        except Exception:
            pass
