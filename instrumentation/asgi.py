"""Incoming calls (webhooks) as SERVER spans: `ConnlogASGIMiddleware(app)`.

Recorded like outgoing calls (same attribute names, role `webhook`, direction
`incoming`), headers and bodies redacted and capped. The request body is teed from the
`receive` messages the application actually pulls and the response body from the `send`
messages, so streaming in either direction is untouched. The span ends when the response
is complete (or the application fails).
"""

# The SDK must never raise into the connector: its hooks catch broadly on purpose.
# ruff: noqa: BLE001

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from connlog.instrumentation._init import active_handle
from connlog.instrumentation.causes import cause_for_exception, cause_for_status
from connlog.instrumentation.httpx_capture import url_template
from connlog.instrumentation.payload import BodyCapture, body_attributes, header_attributes
from connlog.instrumentation.semconv import (
    CLIENT_ADDRESS,
    ERROR_TYPE,
    FAILURE_CAUSE,
    HTTP_DIRECTION,
    HTTP_REQUEST_METHOD,
    HTTP_RESPONSE_STATUS_CODE,
    NETWORK_PROTOCOL_VERSION,
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

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _decode_headers(raw: Any) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw or ()]


class ConnlogASGIMiddleware:
    """ASGI middleware recording each HTTP request as a connlog webhook span."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handle = active_handle()
        if scope.get("type") != "http" or handle is None or handle.closed or handle.settings.disabled:
            await self.app(scope, receive, send)
            return
        try:
            state = _Exchange(handle, scope)
        except Exception:
            _log.debug("connlog asgi start failed", exc_info=True)
            handle.internal_error()
            await self.app(scope, receive, send)
            return
        token = otel_context.attach(trace.set_span_in_context(state.span))
        try:
            await self.app(scope, state.wrap_receive(receive), state.wrap_send(send))
        except BaseException as exc:
            state.fail(exc)
            raise
        finally:
            state.finish()
            otel_context.detach(token)


class _Exchange:
    def __init__(self, handle: Any, scope: Scope) -> None:
        self.handle = handle
        redactor = handle.redactor
        cap = handle.settings.body_cap
        self.capture_bodies = bool(handle.settings.capture_bodies)
        self.request_capture = BodyCapture(cap)
        self.response_capture = BodyCapture(cap)
        self.response_headers: dict[str, str] = {}
        self.done = False
        method = scope.get("method", "GET")
        scheme = scope.get("scheme", "http")
        path = redactor.secrets(scope.get("path", "/"))
        query = scope.get("query_string", b"").decode("latin-1")
        server = scope.get("server") or (None, None)
        client = scope.get("client") or (None, None)
        header_attrs, self.request_headers = header_attributes(
            redactor, _decode_headers(scope.get("headers")), False
        )
        host = self.request_headers.get("host") or (f"{server[0]}:{server[1]}" if server[0] else "localhost")
        raw_url = f"{scheme}://{host}{scope.get('root_path', '')}{scope.get('path', '/')}"
        if query:
            raw_url += "?" + query
        template = url_template(path)
        attrs: dict[str, Any] = {
            ROLE: Role.WEBHOOK.value,
            HTTP_DIRECTION: Direction.INCOMING.value,
            HTTP_REQUEST_METHOD: method,
            URL_FULL: redactor.url(raw_url),
            URL_PATH: path,
            URL_TEMPLATE: template,
            URL_SCHEME: scheme,
            NETWORK_PROTOCOL_VERSION: str(scope.get("http_version", "1.1")),
        }
        if query:
            attrs[URL_QUERY] = redactor.query(query)
        if server[0]:
            attrs[SERVER_ADDRESS] = str(server[0])
            if server[1]:
                attrs[SERVER_PORT] = int(server[1])
        if client[0]:
            attrs[CLIENT_ADDRESS] = str(client[0])
        attrs.update(header_attrs)
        self.span = handle.tracer.start_span(f"{method} {template}", kind=SpanKind.SERVER, attributes=attrs)

    def wrap_receive(self, receive: Receive) -> Receive:
        async def wrapped() -> Message:
            message = await receive()
            try:
                if self.capture_bodies and message.get("type") == "http.request":
                    self.request_capture.feed(message.get("body", b""))
            except Exception:
                self.handle.internal_error()
            return message

        return wrapped

    def wrap_send(self, send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            try:
                kind = message.get("type")
                if kind == "http.response.start":
                    self._on_start(message)
                elif kind == "http.response.body" and self.capture_bodies:
                    self.response_capture.feed(message.get("body", b""))
            except Exception:
                self.handle.internal_error()
            await send(message)
            try:
                if kind == "http.response.body" and not message.get("more_body", False):
                    self.finish()
            except Exception:
                self.handle.internal_error()

        return wrapped

    def _on_start(self, message: Message) -> None:
        status = int(message.get("status", 200))
        header_attrs, self.response_headers = header_attributes(
            self.handle.redactor, _decode_headers(message.get("headers")), True
        )
        attrs: dict[str, Any] = dict(header_attrs)
        attrs[HTTP_RESPONSE_STATUS_CODE] = status
        cause = cause_for_status(status)
        if cause is not None:
            attrs[ERROR_TYPE] = str(status)
            attrs[FAILURE_CAUSE] = cause.value
            if status >= 500:  # a server span is in error only for 5xx (OTel HTTP semconv)
                self.span.set_status(Status(StatusCode.ERROR))
        self.span.set_attributes(attrs)

    def fail(self, exc: BaseException) -> None:
        try:
            self.span.set_attributes(
                {ERROR_TYPE: type(exc).__name__, FAILURE_CAUSE: cause_for_exception(exc).value}
            )
            self.span.set_status(
                Status(StatusCode.ERROR, self.handle.redactor.text(f"{type(exc).__name__}: {exc}")[:1024])
            )
        except Exception:
            self.handle.internal_error()

    def finish(self) -> None:
        if self.done:
            return
        self.done = True
        try:
            if self.capture_bodies:
                redactor = self.handle.redactor
                self.span.set_attributes(
                    body_attributes(redactor, self.request_capture, self.request_headers, False)
                )
                self.span.set_attributes(
                    body_attributes(redactor, self.response_capture, self.response_headers, True)
                )
        except Exception:
            self.handle.internal_error()
        self.span.end()


def instrument_asgi(app: ASGIApp) -> ConnlogASGIMiddleware:
    """Wrap an ASGI application: `app = cl.instrument_asgi(app)`."""
    return ConnlogASGIMiddleware(app)
