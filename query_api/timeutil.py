"""Time parsing and formatting shared by filters, rows and cursors.

Accepted instants: ISO 8601 (`2026-01-31T12:00:00Z`, offsets allowed, naive means UTC, a
bare date means its midnight UTC) or a Unix epoch number: seconds, or milliseconds when
larger than 10^11 (so both `date +%s` and JavaScript's `Date.now()` work).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

NS = 1_000_000_000
_MS_THRESHOLD = 10**11
_MIN_NS = 0
_MAX_NS = 4_102_444_800 * NS  # 2100-01-01: DateTime64(9) cannot hold much more


def parse_instant(raw: str) -> int:
    """An instant as integer nanoseconds since the epoch; ValueError with a readable reason."""
    text = raw.strip()
    if not text:
        raise ValueError("empty time")
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isnan(number):
        if math.isinf(number):
            raise ValueError("time must be finite")
        seconds = number / 1000 if abs(number) >= _MS_THRESHOLD else number
        ns = int(seconds * NS)
    else:
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError as exc:
            raise ValueError("expected ISO 8601 (e.g. 2026-01-31T12:00:00Z) or epoch seconds") from exc
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        ns = int(dt.timestamp()) * NS + dt.microsecond * 1000
    if not _MIN_NS <= ns <= _MAX_NS:
        raise ValueError("time must be between 1970 and 2100")
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
