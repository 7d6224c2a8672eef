"""Severity thresholds in either vocabulary: syslog (0 emerg .. 7 debug) or OpenTelemetry (1..24).

`severity=` takes a syslog number or a name from either vocabulary (`err`, `error`,
`warning`, `warn`, `fatal`, `emerg` ...); `severity_number=` takes an OTel number. Both mean
"this and worse" and become an OTel SeverityNumber lower bound.
"""

from __future__ import annotations

from connlog.query_api.errors import invalid

# syslog level -> lowest OTel SeverityNumber of that level.
SYSLOG_TO_OTEL: dict[int, int] = {
    7: 5,  # debug -> DEBUG
    6: 9,  # info -> INFO
    5: 10,  # notice -> INFO2
    4: 13,  # warning -> WARN
    3: 17,  # err -> ERROR
    2: 21,  # crit -> FATAL
    1: 22,  # alert -> FATAL2
    0: 23,  # emerg -> FATAL3
}

NAMES: dict[str, int] = {
    "trace": 1,
    "debug": 5,
    "info": 9,
    "informational": 9,
    "notice": 10,
    "warn": 13,
    "warning": 13,
    "err": 17,
    "error": 17,
    "crit": 21,
    "critical": 21,
    "fatal": 21,
    "alert": 22,
    "emerg": 23,
    "emergency": 23,
    "panic": 23,
}


def threshold(severity: str | None, severity_number: int | None) -> int | None:
    """The OTel SeverityNumber lower bound, or None for no filter; both given: the stricter."""
    bounds: list[int] = []
    if severity is not None:
        text = severity.strip().lower()
        if text.isdigit():
            level = int(text)
            if level not in SYSLOG_TO_OTEL:
                raise invalid("severity", "syslog levels are 0 (emerg) to 7 (debug)")
            bounds.append(SYSLOG_TO_OTEL[level])
        elif text in NAMES:
            bounds.append(NAMES[text])
        else:
            raise invalid("severity", f"unknown severity; use 0-7 or one of {', '.join(sorted(NAMES))}")
    if severity_number is not None:
        if not 1 <= severity_number <= 24:
            raise invalid("severity_number", "OpenTelemetry severity numbers are 1 to 24")
        bounds.append(severity_number)
    return max(bounds) if bounds else None
