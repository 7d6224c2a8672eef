"""Opaque, signed cursors: the last row's sort key, tagged with the list it belongs to.

A cursor is `<payload>.<signature>`: the payload is base64url JSON `[kind, *sort key]`, the
signature an HMAC-SHA256 of the payload (truncated to 128 bits) with a server secret. Only
the API creates cursors, so a forged or edited one (a negative hash, a huge timestamp, a
string where a number goes) is refused as a whole before any of its values reach a query:
a 422 naming `cursor`, never a 500.

The secret is `CONNLOG_CURSOR_SECRET` when set (several API processes behind one address
must share it, and it keeps cursors valid across restarts), otherwise random per process:
a cursor from before a restart is then refused, and the client starts again from the first
page. A cursor is only a position (no filters inside), so a client must send the same
filters with it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from typing import Any, Final

from connlog.query_api.errors import invalid

ENV_CURSOR_SECRET: Final = "CONNLOG_CURSOR_SECRET"  # noqa: S105 - a variable name, not a secret
FIELD: Final = "cursor"
MAX_LENGTH: Final = 2000  # longer than any cursor this API makes
_SIG_BYTES: Final = 16
_MAX_TEXT: Final = 200  # sort key strings are ids and hashes
_NOT_OURS: Final = "not a cursor returned by this API (edited, forged, or from before a restart)"

_secret: bytes | None = None


def configure(secret: str | bytes | None) -> None:
    """Sign with `secret` from now on; None: `CONNLOG_CURSOR_SECRET`, else a fresh random one."""
    global _secret
    if secret is None:
        configured = os.environ.get(ENV_CURSOR_SECRET, "")
        _secret = configured.encode() if configured else secrets.token_bytes(32)
    else:
        _secret = secret.encode() if isinstance(secret, str) else bytes(secret)


def _key() -> bytes:
    if _secret is None:
        configure(None)
    assert _secret is not None
    return _secret


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode("ascii"))


def _sign(payload: str) -> str:
    return _b64(hmac.new(_key(), payload.encode("ascii"), hashlib.sha256).digest()[:_SIG_BYTES])


def encode(kind: str, key: list[Any]) -> str:
    payload = _b64(json.dumps([kind, *key], separators=(",", ":")).encode())
    return f"{payload}.{_sign(payload)}"


def check(token: str) -> None:
    """ValueError unless `token` is a cursor this server signed (any list)."""
    payload, dot, signature = token.rpartition(".")
    if not dot or len(token) > MAX_LENGTH or not payload.isascii() or not signature.isascii():
        raise ValueError(_NOT_OURS)
    if not hmac.compare_digest(_sign(payload), signature):
        raise ValueError(_NOT_OURS)


def decode(kind: str, token: str, types: tuple[type, ...]) -> list[Any]:
    """The sort key in `token`, checked against its signature, the expected kind and value types."""
    try:
        check(token)
        data = json.loads(_unb64(token.rpartition(".")[0]))
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise invalid(FIELD, _NOT_OURS) from exc
    if not isinstance(data, list) or len(data) != len(types) + 1 or data[0] != kind:
        raise invalid(FIELD, "cursor belongs to another list")
    values = data[1:]
    for value, typ in zip(values, types, strict=True):
        if not isinstance(value, typ) or isinstance(value, bool):
            raise invalid(FIELD, "malformed cursor")
        if isinstance(value, int) and not -(2**63) <= value < 2**63:
            raise invalid(FIELD, "malformed cursor")
        if isinstance(value, str) and len(value) > _MAX_TEXT:
            raise invalid(FIELD, "malformed cursor")
    return values
