"""Outgoing HTTP calls made with urllib3, and so with `requests` (and every vendor client
built on it, such as stripe's `RequestsClient`), as CLIENT spans like httpx's.

Patch points, at class level so pools created before `init()` are covered:

- `HTTPConnectionPool._make_request`: one call on the wire. urllib3's own retries and
  redirects go through it once per attempt, so each attempt is its own span, as with
  httpx. `requests` sends through urllib3's `urlopen` → `_make_request`: it is recorded
  here once and never patched itself, so a requests call is one span, not two.
- `HTTPResponse._raw_read`: the body bytes as urllib3 reads them from the socket,
  before decompression. This is a tee, not a read-ahead: with `preload_content=False`
  (what `requests` uses, and `stream=True` downloads) the bytes are copied when the
  connector reads them; with preloading urllib3 itself reads the body before returning.
- `HTTPResponse.release_conn` / `close`: the span ends when the body is exhausted or the
  response is released or closed, whichever comes first.

- `HTTPResponse._handle_chunk`: urllib3 2.x reads a chunked body (most API responses)
  in `read_chunked`, past `_raw_read`, one raw chunk at a time through this method: the
  same tee. Under urllib3-future, which reads chunks through `_raw_read`, a chunk read
  inside a `_raw_read` of the same call is not fed twice.

A request body given as bytes or text is captured; a file or generator body is sent
untouched and not captured (it cannot be copied without consuming it).
"""

# The SDK must never raise into the connector: its hooks catch broadly on purpose.
# ruff: noqa: BLE001

from __future__ import annotations

import threading
from contextvars import ContextVar
from typing import Any
from urllib.parse import unquote, urlsplit

from connlog.instrumentation._init import Handle
from connlog.instrumentation.class_patches import ClassPatches, Target
from connlog.instrumentation.http_call import DEFAULT_PORTS, HttpCall, internal, should_record

_HTTP_VERSIONS = {9: "0.9", 10: "1.0", 11: "1.1", 20: "2", 30: "3"}
_CALL_ATTR = "_connlog_call"

# The call whose response `_make_request` is waiting for: a preloading response reads its
# body inside urllib3 before `_make_request` returns, so the tee must find its call here.
_pending: ContextVar[HttpCall | None] = ContextVar("connlog_urllib3_pending", default=None)

_local = threading.local()  # the call whose `_raw_read` is running on this thread

_patches = ClassPatches()


def _new_call(handle: Handle, pool: Any, method: str, url: str, body: Any, headers: Any) -> HttpCall:
    scheme = str(getattr(pool, "scheme", "http") or "http")
    host = str(getattr(pool, "host", "") or "")
    port = getattr(pool, "port", None)
    if url.startswith(("http://", "https://")):
        raw_url = url  # through a proxy: the absolute URL
        parts = urlsplit(url)
        scheme, host, port = parts.scheme, parts.hostname or host, parts.port
    else:
        netloc = host if port in (None, DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
        raw_url = f"{scheme}://{netloc}{url}"
        parts = urlsplit(raw_url)
    content: bytes | None
    if isinstance(body, bytes):
        content = body
    elif isinstance(body, str):
        content = body.encode("utf-8")
    else:
        content = None
    items = list(headers.items()) if headers is not None else []
    return HttpCall(
        handle,
        method=method,
        raw_url=raw_url,
        scheme=scheme,
        host=host,
        port=int(port) if isinstance(port, int) else None,
        path=unquote(parts.path) or "/",
        query=parts.query,
        headers=[(str(k), str(v)) for k, v in items],
        content=content,
        streamed_body=False,
    )


def _bind(call: HttpCall, response: Any) -> None:
    """Headers are known: record them and tie the response's body reads to the call."""
    setattr(response, _CALL_ATTR, call)
    call.on_response(
        int(response.status),
        [(str(k), str(v)) for k, v in response.headers.items()],
        _HTTP_VERSIONS.get(getattr(response, "version", 0)),
    )


def _patched_make_request(self: Any, conn: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
    original = _patches.original("_make_request")
    handle = should_record()
    if handle is None:
        return original(self, conn, method, url, *args, **kwargs)
    try:
        body = kwargs.get("body", args[0] if args else None)
        headers = kwargs.get("headers", args[1] if len(args) > 1 else None)
        call: HttpCall | None = _new_call(handle, self, method, url, body, headers)
    except Exception:
        internal(handle, "urllib3 start")
        call = None
    if call is None:
        return original(self, conn, method, url, *args, **kwargs)
    token = _pending.set(call)
    try:
        response = original(self, conn, method, url, *args, **kwargs)
    except BaseException as exc:
        call.fail(exc)
        raise
    finally:
        _pending.reset(token)
    try:
        if not hasattr(response, "status") or not hasattr(response, "headers"):
            call.finish()  # a multiplexed promise (urllib3-future): no response yet
        else:
            if not call.responded:
                _bind(call, response)
            else:
                setattr(response, _CALL_ATTR, call)
            if getattr(response, "_fp", None) is None:
                call.finish()  # nothing left to read
    except Exception:
        internal(handle, "urllib3 response")
        call.finish()
    return response


def _call_of(response: Any) -> HttpCall | None:
    call = getattr(response, _CALL_ATTR, None)
    if call is not None:
        return call  # type: ignore[no-any-return]
    pending = _pending.get()
    if pending is None or pending.done or pending.responded:
        return None
    try:
        _bind(pending, response)
    except Exception:
        internal(pending.handle, "urllib3 bind")
        return None
    return pending


def _patched_raw_read(self: Any, *args: Any, **kwargs: Any) -> Any:
    original = _patches.original("_raw_read")
    call = _call_of(self) if _patches.installed else None
    if call is None or call.done:
        return original(self, *args, **kwargs)
    # urllib3 releases the connection inside `_raw_read`, before returning the last bytes:
    # the release is noted here and the span ends once those bytes are fed.
    _local.reading = call
    _local.released = False
    try:
        data = original(self, *args, **kwargs)
    except BaseException as exc:
        call.fail(exc)
        raise
    finally:
        _local.reading = None
    try:
        if data:
            call.feed(data)
        amt = args[0] if args else kwargs.get("amt")
        if not data or amt is None or _local.released:
            call.finish()  # end of body, the whole rest read at once, or released
    except Exception:
        internal(call.handle, "urllib3 body")
    return data


def _patched_handle_chunk(self: Any, *args: Any, **kwargs: Any) -> Any:
    original = _patches.original("_handle_chunk")
    call = _call_of(self) if _patches.installed else None
    if call is None or call.done or getattr(_local, "reading", None) is call:
        return original(self, *args, **kwargs)
    try:
        data = original(self, *args, **kwargs)
    except BaseException as exc:
        call.fail(exc)
        raise
    try:
        if data:
            call.feed(data)
    except Exception:
        internal(call.handle, "urllib3 chunk")
    return data


def _ender(name: str) -> Any:
    def patched(self: Any, *args: Any, **kwargs: Any) -> Any:
        call = getattr(self, _CALL_ATTR, None)
        try:
            return _patches.original(name)(self, *args, **kwargs)
        finally:
            if call is not None and getattr(_local, "reading", None) is call:
                _local.released = True
            elif call is not None and not call.done:
                try:
                    call.finish()
                except Exception:
                    internal(call.handle, f"urllib3 {name}")

    patched.__name__ = name
    return patched


def _targets() -> tuple[Target, ...]:
    from urllib3.connectionpool import HTTPConnectionPool
    from urllib3.response import HTTPResponse

    return (
        (HTTPConnectionPool, "_make_request", _patched_make_request),
        (HTTPResponse, "_raw_read", _patched_raw_read),
        (HTTPResponse, "_handle_chunk", _patched_handle_chunk),
        (HTTPResponse, "release_conn", _ender("release_conn")),
        (HTTPResponse, "close", _ender("close")),
    )


def install() -> bool:
    """Patch urllib3 if it is importable (idempotent); False when it is not installed."""
    return _patches.install(_targets)


def uninstall() -> None:
    """Restore urllib3."""
    _patches.uninstall()
