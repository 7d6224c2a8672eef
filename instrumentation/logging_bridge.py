"""Python `logging` → OpenTelemetry log records, redacted and tied to the current span.

One handler on the root logger, installed once and reporting to whichever handle is
active. The handler does not change any logger's level: records reach it only if the
application's logging configuration lets them through (the root logger defaults to
WARNING; call `logging.basicConfig(level=logging.INFO)` or set levels to export more).

Messages, exception messages and stack traces go through the redactor as free text;
string `extra=` attributes by their key first (`extra={"password": ...}` is hidden
whatever its value looks like), then as free text. This is the only redaction log
records get in the SDK: it runs before the record is queued, so neither the exporter nor
the spool sees a raw value. Records from OpenTelemetry itself and from `connlog.sdk` are not
exported, which would loop (the exporter logging its own failure, exported again...).
"""

# The SDK must never raise into the connector: its hooks catch broadly on purpose.
# ruff: noqa: BLE001

from __future__ import annotations

import logging
import traceback
from typing import Any

from opentelemetry._logs import SeverityNumber
from opentelemetry.context import get_current

from connlog.instrumentation._init import active_handle
from connlog.instrumentation.semconv import (
    EXCEPTION_MESSAGE,
    EXCEPTION_STACKTRACE,
    EXCEPTION_TYPE,
    INSTRUMENTATION_SCOPE,
    LOG_CODE_FILE,
    LOG_CODE_FUNCTION,
    LOG_CODE_LINE,
    LOG_RECORD_LOGGER,
)

_SKIP_PREFIXES = ("opentelemetry", "connlog.sdk")
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}
_SEVERITY = (
    (logging.CRITICAL, SeverityNumber.FATAL, "FATAL"),
    (logging.ERROR, SeverityNumber.ERROR, "ERROR"),
    (logging.WARNING, SeverityNumber.WARN, "WARN"),
    (logging.INFO, SeverityNumber.INFO, "INFO"),
    (logging.DEBUG, SeverityNumber.DEBUG, "DEBUG"),
)


def severity(levelno: int) -> tuple[SeverityNumber, str]:
    for threshold, number, text in _SEVERITY:
        if levelno >= threshold:
            return number, text
    return SeverityNumber.TRACE, "TRACE"


class ConnlogLogHandler(logging.Handler):
    """Exports log records through the active handle's LoggerProvider."""

    def emit(self, record: logging.LogRecord) -> None:
        handle = active_handle()
        if handle is None or handle.closed or not handle.settings.capture_logs:
            return
        if record.name.startswith(_SKIP_PREFIXES):
            return
        try:
            redactor = handle.redactor
            attrs: dict[str, Any] = {
                LOG_RECORD_LOGGER: record.name,
                LOG_CODE_FUNCTION: record.funcName,
                LOG_CODE_FILE: record.pathname,
                LOG_CODE_LINE: record.lineno,
            }
            for key, value in vars(record).items():
                if key in _RESERVED or key.startswith("_"):
                    continue
                if isinstance(value, str):
                    attrs[key] = redactor.attribute(key, value)
                elif isinstance(value, bool | int | float):
                    attrs[key] = value
            if record.exc_info and record.exc_info[1] is not None:
                exc = record.exc_info[1]
                attrs[EXCEPTION_TYPE] = type(exc).__name__
                attrs[EXCEPTION_MESSAGE] = redactor.text(str(exc))
                attrs[EXCEPTION_STACKTRACE] = redactor.text(
                    "".join(traceback.format_exception(*record.exc_info))
                )
            number, text = severity(record.levelno)
            logger = handle.logger_provider.get_logger(INSTRUMENTATION_SCOPE)
            logger.emit(
                timestamp=int(record.created * 1e9),
                context=get_current(),
                severity_number=number,
                severity_text=text,
                body=redactor.text(record.getMessage()),
                attributes=attrs,
            )
        except Exception:
            handle.internal_error()


_handler: ConnlogLogHandler | None = None


def install() -> None:
    """Attach the handler to the root logger once."""
    global _handler
    if _handler is None:
        _handler = ConnlogLogHandler(level=logging.NOTSET)
        logging.getLogger().addHandler(_handler)


def uninstall() -> None:
    global _handler
    if _handler is not None:
        logging.getLogger().removeHandler(_handler)
        _handler = None
