"""The connector process's stdout and stderr as OpenTelemetry logs (`init(capture_stdio=True)`).

A connector that crashes before its first log line (an import error, a bad config)
leaves only a traceback on stderr, which a scheduler usually throws away. With
`capture_stdio=True`, `sys.stdout` and `sys.stderr` are wrapped: everything still goes
to the original stream unchanged, and each complete line is also emitted as a log
record under the logger scope `connlog.stdio` with `connector.log.stream` =
`stdout` / `stderr` (INFO / ERROR), so a viewer shows it apart from application logs.
The uncaught exception's traceback is written to stderr by `sys.excepthook` before the
SDK's exit hook flushes, so it reaches the collector.

Only writes through Python's `sys.stdout` / `sys.stderr` are seen; output written to
file descriptors 1 and 2 directly (C extensions, child processes) is not. Lines are
redacted like log messages; a partial last line is emitted at shutdown.
"""

# The SDK must never raise into the connector: its hooks catch broadly on purpose.
# ruff: noqa: BLE001, S110

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

from opentelemetry._logs import SeverityNumber
from opentelemetry.context import get_current

from connlog.instrumentation._init import active_handle
from connlog.instrumentation.semconv import LOG_STREAM, STDIO_SCOPE, LogStream

_MAX_LINE = 16 * 1024
_guard = threading.local()


class _TeeText:
    """A text stream that writes through to `inner` and emits each line as a log record."""

    def __init__(self, inner: TextIO, stream: LogStream) -> None:
        self._inner = inner
        self._stream = stream
        self._partial = ""
        self._lock = threading.Lock()
        self._severity = (
            (SeverityNumber.ERROR, "ERROR") if stream is LogStream.STDERR else (SeverityNumber.INFO, "INFO")
        )

    def write(self, text: str) -> int:
        written = self._inner.write(text)
        if getattr(_guard, "active", False):
            return written  # the SDK (or the exporter) writing while we emit: no loop
        try:
            with self._lock:
                data = self._partial + text
                lines = data.split("\n")
                self._partial = lines.pop()
                if len(self._partial) > _MAX_LINE:
                    lines.append(self._partial)
                    self._partial = ""
            for line in lines:
                self._emit(line)
        except Exception:
            pass
        return written

    def flush_partial(self) -> None:
        with self._lock:
            line, self._partial = self._partial, ""
        if line:
            self._emit(line)

    def _emit(self, line: str) -> None:
        handle = active_handle()
        if handle is None or handle.closed or not line.strip():
            return
        _guard.active = True
        try:
            number, text = self._severity
            handle.logger_provider.get_logger(STDIO_SCOPE).emit(
                timestamp=time.time_ns(),
                context=get_current(),
                severity_number=number,
                severity_text=text,
                body=handle.redactor.text(line.rstrip("\r")),
                attributes={LOG_STREAM: self._stream.value},
            )
        except Exception:
            handle.internal_error()
        finally:
            _guard.active = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


_installed: dict[str, _TeeText] = {}


def install() -> None:
    """Wrap `sys.stdout` and `sys.stderr` (idempotent)."""
    for name, stream in (("stdout", LogStream.STDOUT), ("stderr", LogStream.STDERR)):
        current = getattr(sys, name)
        if isinstance(current, _TeeText) or current is None:
            continue
        tee = _TeeText(current, stream)
        _installed[name] = tee
        setattr(sys, name, tee)


def flush() -> None:
    """Emit partial last lines (called before the SDK flushes at shutdown)."""
    for tee in list(_installed.values()):
        try:
            tee.flush_partial()
        except Exception:
            pass


def uninstall() -> None:
    """Put the original streams back (only if nobody replaced ours since)."""
    flush()
    for name, tee in list(_installed.items()):
        if getattr(sys, name) is tee:
            setattr(sys, name, tee._inner)
        del _installed[name]
