"""Rate-limit headroom from response headers.

APIs announce their limits in three dialects: the IETF draft (`RateLimit-Limit`,
`RateLimit-Remaining`, `RateLimit-Reset` in seconds), the de-facto `X-RateLimit-*`
(whose reset is sometimes seconds, sometimes a Unix epoch) and `Retry-After`
(seconds or an HTTP date). Normalising them to integers in seconds lets one panel show
"how close are we to the wall" for every connector.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

from connlog.instrumentation.semconv import RATELIMIT_LIMIT, RATELIMIT_REMAINING, RATELIMIT_RESET, RETRY_AFTER

# A reset larger than this is a Unix timestamp rather than a delay (≈ 2001-09-09).
_EPOCH_THRESHOLD = 1_000_000_000


def _first_number(value: str) -> float | None:
    # `RateLimit-Limit: 100, 100;w=60` -> 100 (the first quota is the effective one).
    head = value.split(",", 1)[0].split(";", 1)[0].strip()
    try:
        return float(head)
    except ValueError:
        return None


def _seconds_until(value: str, now: float) -> int | None:
    number = _first_number(value)
    if number is not None:
        if number > _EPOCH_THRESHOLD:
            number -= now
        return max(0, math.ceil(number))
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return max(0, math.ceil(when.timestamp() - now))


def ratelimit_attributes(headers: Mapping[str, str], now: float | None = None) -> dict[str, int]:
    """Span attributes for the rate-limit headers present in `headers` (lower-case keys)."""
    out: dict[str, int] = {}
    if not headers:
        return out
    now = time.time() if now is None else now
    for prefix in ("ratelimit-", "x-ratelimit-"):
        limit = headers.get(prefix + "limit")
        if limit is not None and RATELIMIT_LIMIT not in out and (n := _first_number(limit)) is not None:
            out[RATELIMIT_LIMIT] = int(n)
        remaining = headers.get(prefix + "remaining")
        if remaining is not None and RATELIMIT_REMAINING not in out:
            if (n := _first_number(remaining)) is not None:
                out[RATELIMIT_REMAINING] = int(n)
        reset = headers.get(prefix + "reset")
        if reset is not None and RATELIMIT_RESET not in out and (s := _seconds_until(reset, now)) is not None:
            out[RATELIMIT_RESET] = s
    retry_after = headers.get("retry-after")
    if retry_after is not None and (s := _seconds_until(retry_after, now)) is not None:
        out[RETRY_AFTER] = s
    return out
