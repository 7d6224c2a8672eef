"""Opaque cursors: the last row's sort key, base64url JSON, tagged with the list it belongs to.

A cursor is only a position (no filters inside), so a client must send the same filters
with it; a cursor from another list or a tampered one is a 422 naming `cursor`.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from query_api.errors import invalid


def encode(kind: str, key: list[Any]) -> str:
    raw = json.dumps([kind, *key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(kind: str, token: str, types: tuple[type, ...]) -> list[Any]:
    """The sort key in `token`, checked against the expected kind and value types."""
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise invalid("cursor", "not a cursor returned by this API") from exc
    if not isinstance(data, list) or len(data) != len(types) + 1 or data[0] != kind:
        raise invalid("cursor", "cursor belongs to another list")
    values = data[1:]
    for value, typ in zip(values, types, strict=True):
        if not isinstance(value, typ) or isinstance(value, bool):
            raise invalid("cursor", "malformed cursor")
        if isinstance(value, int) and not -(2**63) <= value < 2**63:
            raise invalid("cursor", "malformed cursor")
    return values
