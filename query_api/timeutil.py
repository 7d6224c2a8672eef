"""Time parsing and formatting shared by filters, rows and cursors.

Accepted instants: ISO 8601 (`2026-01-31T12:00:00Z`, offsets allowed, naive means UTC, a
bare date means its midnight UTC) or a Unix epoch number: seconds, or milliseconds when
larger than 10^11 (so both `date +%s` and JavaScript's `Date.now()` work).

Every instant must fall in 1970..2100: inside DateTime64(9)'s range (1900..2262), so no
value can overflow the column, the nanosecond arithmetic or the query parameters; anything
else (huge, negative, NaN or infinite numbers, year 9999) is a ValueError, never an
OverflowError.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

NS = 1_000_000_000
_MS_THRESHOLD = 10**11
_MIN_NS = 0
_MAX_S = 4_102_444_800  # 2100-01-01: DateTime64(9) cannot hold much more
_MAX_NS = _MAX_S * NS
_MAX_TEXT = 64  # longer than any ISO 8601 instant
_RANGE_ERROR = "time must be between 1970 and 2100"


def parse_instant(raw: str) -> int:
    """An instant as integer nanoseconds since the epoch; ValueError with a readable reason."""
    text = raw.strip()
    if not text:
        raise ValueError("empty time")
    if len(text) > _MAX_TEXT:
        raise ValueError("expected ISO 8601 (e.g. 2026-01-31T12:00:00Z) or epoch seconds")
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isnan(number):
        if math.isinf(number):
            raise ValueError("time must be finite")
        seconds = number / 1000 if abs(number) >= _MS_THRESHOLD else number
        if not 0 <= seconds <= _MAX_S:  # checked before scaling: 1e308 * 1e9 is inf
            raise ValueError(_RANGE_ERROR)
        ns = int(seconds * NS)
    else:
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError as exc:
            raise ValueError("expected ISO 8601 (e.g. 2026-01-31T12:00:00Z) or epoch seconds") from exc
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        try:
            ns = int(dt.timestamp()) * NS + dt.microsecond * 1000
        except (OverflowError, ValueError) as exc:  # year 1 or 9999 shifted out of range by its offset
            raise ValueError(_RANGE_ERROR) from exc
    if not _MIN_NS <= ns <= _MAX_NS:
        raise ValueError(_RANGE_ERROR)
    return ns


def iso(ns: int) -> str:
    """Nanoseconds since the epoch as ISO 8601 UTC with microseconds and a `Z`."""
    seconds, rest = divmod(int(ns), NS)
    dt = datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 1000)
    return dt.isoformat().replace("+00:00", "Z")


def now_ns() -> int:
    return int(datetime.now(UTC).timestamp() * NS)


def ms(ns: int | None) -> float | None:
    return None if ns is None else round(int(ns) / 1_000_000, 3)
