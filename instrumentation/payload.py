"""Header and body capture shared by outgoing (httpx) and incoming (ASGI) calls.

Bodies are captured as bytes while they stream past, up to a cap, and rendered once at
the end: text as text (charset from Content-Type, undecodable bytes replaced), binary
(images, octet-stream, compression we cannot undo) as size and content type only, an
empty body as `""` so "no body" and "not captured" stay distinguishable.
"""

from __future__ import annotations

import codecs
import re
import zlib
from collections.abc import Iterable
from typing import Any

from connlog.instrumentation.redaction import Redactor
from connlog.instrumentation.semconv import (
    HTTP_REQUEST_BODY,
    HTTP_REQUEST_BODY_SIZE,
    HTTP_REQUEST_BODY_TRUNCATED,
    HTTP_REQUEST_CONTENT_TYPE,
    HTTP_REQUEST_HEADER_PREFIX,
    HTTP_RESPONSE_BODY,
    HTTP_RESPONSE_BODY_SIZE,
    HTTP_RESPONSE_BODY_TRUNCATED,
    HTTP_RESPONSE_CONTENT_TYPE,
    HTTP_RESPONSE_HEADER_PREFIX,
)

_TEXT_HINTS = ("json", "xml", "javascript", "x-www-form-urlencoded", "graphql", "yaml", "csv", "html")
_CHARSET = re.compile(r"charset\s*=\s*\"?([\w.:-]+)", re.IGNORECASE)

# (body, size, truncated, content type) keys per direction.
REQUEST_KEYS = (
    HTTP_REQUEST_BODY,
    HTTP_REQUEST_BODY_SIZE,
    HTTP_REQUEST_BODY_TRUNCATED,
    HTTP_REQUEST_CONTENT_TYPE,
)
RESPONSE_KEYS = (
    HTTP_RESPONSE_BODY,
    HTTP_RESPONSE_BODY_SIZE,
    HTTP_RESPONSE_BODY_TRUNCATED,
    HTTP_RESPONSE_CONTENT_TYPE,
)


class BodyCapture:
    """A capped tee buffer: remembers the first `cap` bytes and counts all of them."""

    __slots__ = ("buf", "cap", "size")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.buf = bytearray()
        self.size = 0

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        room = self.cap - len(self.buf)
        if room > 0:
            self.buf += chunk[:room] if len(chunk) > room else chunk


def header_attributes(
    redactor: Redactor, items: Iterable[tuple[str, str]], response: bool
) -> tuple[dict[str, str], dict[str, str]]:
    """(span attributes, lower-case name -> joined raw value) for a header list."""
    joined: dict[str, str] = {}
    for name, value in items:
        lowered = name.lower()
        previous = joined.get(lowered)
        joined[lowered] = value if previous is None else f"{previous}, {value}"
    prefix = HTTP_RESPONSE_HEADER_PREFIX if response else HTTP_REQUEST_HEADER_PREFIX
    attrs = {prefix + name: redactor.header(name, value) for name, value in joined.items()}
    return attrs, joined


def is_text(content_type: str, sample: bytes) -> bool:
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype:
        return ctype.startswith("text/") or any(hint in ctype for hint in _TEXT_HINTS)
    if not sample:
        return True
    head = sample[:1024]
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # a character cut at the sample's end
    return True


def _decompress(data: bytes, encoding: str, cap: int) -> tuple[bytes, bool] | None:
    """Undo gzip/deflate on a (possibly truncated) prefix; None when impossible."""
    if encoding in ("gzip", "x-gzip", "deflate"):
        try:
            wbits = zlib.MAX_WBITS | 32 if encoding != "deflate" else zlib.MAX_WBITS
            try:
                d = zlib.decompressobj(wbits)
                out = d.decompress(data, cap + 1)
            except zlib.error:
                if encoding != "deflate":
                    raise
                d = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as some servers send
                out = d.decompress(data, cap + 1)
            return out[:cap], len(out) > cap
        except zlib.error:
            return None
    return None


def _charset(content_type: str) -> str:
    match = _CHARSET.search(content_type)
    if match:
        try:
            return codecs.lookup(match.group(1)).name
        except LookupError:
            pass
    return "utf-8"


def body_attributes(
    redactor: Redactor,
    capture: BodyCapture,
    headers: dict[str, str],
    response: bool,
    declared_size: int | None = None,
) -> dict[str, Any]:
    """Span attributes for a captured body.

    `headers` are the raw lower-case headers of the message that carried the body.
    `declared_size` (Content-Length) lets a stream closed early still report the full
    size and `truncated=True`.
    """
    body_key, size_key, truncated_key, ctype_key = RESPONSE_KEYS if response else REQUEST_KEYS
    content_type = headers.get("content-type", "")
    size = capture.size
    if declared_size is not None and declared_size > size:
        size = declared_size
    attrs: dict[str, Any] = {size_key: size}
    if content_type:
        attrs[ctype_key] = content_type
    data = bytes(capture.buf)
    truncated = size > len(data)
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding and encoding != "identity" and data:
        decoded = _decompress(data, encoding, capture.cap)
        if decoded is None:
            return attrs  # compressed with something we cannot undo: binary
        data, over_cap = decoded
        truncated = truncated or over_cap
    if not is_text(content_type, data):
        return attrs
    text = data.decode(_charset(content_type), errors="replace")
    attrs[body_key] = redactor.body(text, content_type, complete=not truncated)
    attrs[truncated_key] = truncated
    return attrs
