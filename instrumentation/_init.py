"""`init()` and the `Handle` it returns: providers, exporters, patches, lifecycle.

Design choice: the SDK builds its *own* TracerProvider and LoggerProvider, held by the
handle, and never sets the OpenTelemetry globals. A host application (a worker framework,
a web app receiving webhooks) that already configured OpenTelemetry keeps its providers
and exporters untouched; connlog spans still nest under the host's current span through
the shared context. `Handle.tracer_provider` is public for code that wants to add its own
spans to the connlog pipeline.

There is one active handle per process. `init()` with the same settings returns it; with
different settings it flushes and shuts the old one down and installs the new one (the
httpx patches and the logging handler are installed once and always read the active
handle, so they follow the switch).
"""

# The SDK must never raise into the connector: its hooks catch broadly on purpose.
# ruff: noqa: BLE001

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import NoOpTracer, Tracer

from connlog.instrumentation.export_redaction import SpanRedactor
from connlog.instrumentation.redaction import RedactionConfig, Redactor
from connlog.instrumentation.safe_export import (
    CountingLogProcessor,
    CountingSpanProcessor,
    SafeLogExporter,
    SafeSpanExporter,
    SignalStats,
)
from connlog.instrumentation.semconv import (
    CONNECTOR_NAME,
    CONNECTOR_TENANT,
    DEPLOYMENT_ENVIRONMENT,
    INSTRUMENTATION_SCOPE,
    PROCESS_PID,
    SERVICE_NAME,
    SERVICE_VERSION,
)
from connlog.instrumentation.spool import (
    DEFAULT_MAX_BYTES,
    Sender,
    Spool,
    SpoolDrainer,
    default_spool_dir,
    grpc_sender,
    http_sender,
)

_log = logging.getLogger("connlog.sdk")

DEFAULT_HTTP_ENDPOINT = "http://localhost:4318"
DEFAULT_GRPC_ENDPOINT = "http://localhost:4317"
DEFAULT_BODY_CAP = 64 * 1024
SDK_VERSION = "0.1.0"
# The SDK's default span queue (2048) overflows on a burst of entities; a bigger queue plus
# waiting briefly for room (`QUEUE_FULL_WAIT_S`) keeps a 100k-entity run lossless. A queue
# size set explicitly through `OTEL_BSP_MAX_QUEUE_SIZE` / `OTEL_BLRP_MAX_QUEUE_SIZE` is
# taken as a hard bound: then a full queue drops (counted) without waiting.
DEFAULT_QUEUE_SIZE = 16_384
QUEUE_FULL_WAIT_S = 2.0
# The viewer's root address (the query API's root); a run's page is `<viewer>/runs/<run_id>`.
VIEWER_URL_ENV = "CONNLOG_VIEWER_URL"


@dataclass(frozen=True)
class SdkSettings:
    """Everything `init()` resolved, arguments first, then `OTEL_*` variables, then defaults."""

    connector: str
    version: str | None
    environment: str | None
    tenant: str | None
    endpoint: str
    protocol: str
    body_cap: int
    redaction: RedactionConfig
    export_timeout: float
    capture_logs: bool
    capture_bodies: bool
    disabled: bool
    spool_dir: Path | None = None  # None: no spool (undelivered batches are dropped, counted)
    spool_max_bytes: int = DEFAULT_MAX_BYTES
    viewer_url: str | None = None  # init(viewer_url=...) or CONNLOG_VIEWER_URL
    capture_stdio: bool = False  # stdout/stderr as logs (instrumentation.stdio)


@dataclass
class ExportStats:
    """What `Handle.stats()` returns: per-signal counters plus SDK-internal errors."""

    spans: SignalStats = field(default_factory=SignalStats)
    logs: SignalStats = field(default_factory=SignalStats)
    internal_errors: int = 0  # exceptions swallowed inside the SDK's own hooks

    @property
    def dropped(self) -> int:
        return self.spans.dropped + self.logs.dropped


class Handle:
    """The configured SDK: providers, redactor, counters. Obtained from `init()`."""

    def __init__(
        self,
        settings: SdkSettings,
        span_exporter: SpanExporter | None = None,
        log_exporter: LogRecordExporter | None = None,
    ) -> None:
        self.settings = settings
        self.redactor = Redactor(settings.redaction)
        self._stats = ExportStats()
        self._injected = (span_exporter, log_exporter)
        self._closed = False
        self.spool: Spool | None = None
        self._drainer: SpoolDrainer | None = None
        self._flush_thread: threading.Thread | None = None
        self._flush_lock = threading.Lock()
        attrs: dict[str, Any] = {
            SERVICE_NAME: settings.connector,
            CONNECTOR_NAME: settings.connector,
            PROCESS_PID: os.getpid(),
        }
        if settings.version:
            attrs[SERVICE_VERSION] = settings.version
        if settings.environment:
            attrs[DEPLOYMENT_ENVIRONMENT] = settings.environment
        if settings.tenant:
            attrs[CONNECTOR_TENANT] = settings.tenant
        self.resource = Resource.create(attrs)
        self.tracer_provider = TracerProvider(resource=self.resource)
        self.logger_provider = LoggerProvider(resource=self.resource)
        self.tracer: Tracer
        if settings.disabled:
            self.tracer = NoOpTracer()
            return
        span_exp = span_exporter or _otlp_span_exporter(settings)
        log_exp = log_exporter or _otlp_log_exporter(settings)
        if settings.spool_dir is not None:
            try:
                self.spool = Spool(settings.spool_dir, settings.spool_max_bytes)
                self._drainer = SpoolDrainer(self.spool, _spool_sender(settings))
                self._drainer.start()  # also delivers what an earlier process left
            except Exception:
                _log.warning("connlog: spool directory %s unusable; running without", settings.spool_dir)
                self.spool = self._drainer = None
        wake = self._drainer.wake if self._drainer is not None else None
        queue = DEFAULT_QUEUE_SIZE if not os.environ.get("OTEL_BSP_MAX_QUEUE_SIZE") else None
        log_queue = DEFAULT_QUEUE_SIZE if not os.environ.get("OTEL_BLRP_MAX_QUEUE_SIZE") else None
        self.tracer_provider.add_span_processor(
            CountingSpanProcessor(
                BatchSpanProcessor(
                    SafeSpanExporter(
                        span_exp,
                        self._stats.spans,
                        spool=self.spool,
                        on_delivered=wake,
                        redactor=SpanRedactor(self.redactor),
                    ),
                    max_queue_size=queue,
                ),
                self._stats.spans,
                max_wait=QUEUE_FULL_WAIT_S if queue else 0.0,
            )
        )
        self.logger_provider.add_log_record_processor(
            CountingLogProcessor(
                BatchLogRecordProcessor(
                    SafeLogExporter(log_exp, self._stats.logs, spool=self.spool, on_delivered=wake),
                    max_queue_size=log_queue,
                ),
                self._stats.logs,
                max_wait=QUEUE_FULL_WAIT_S if log_queue else 0.0,
            )
        )
        self.tracer = self.tracer_provider.get_tracer(INSTRUMENTATION_SCOPE, SDK_VERSION)

    # ------------------------------------------------------------------ lifecycle
    @property
    def closed(self) -> bool:
        return self._closed

    def internal_error(self) -> None:
        """Count an exception swallowed by an SDK hook (see module `safety`)."""
        self._stats.internal_errors += 1

    def stats(self) -> ExportStats:
        """Live counters. `dropped` is exact after `shutdown()`; before, batches may be in flight."""
        return self._stats

    def flush(self, timeout_millis: int = 10_000) -> bool:
        """Export everything queued so far; bounded by `timeout_millis` per signal. Never raises."""
        if self._closed:
            return True
        ok = True
        for provider in (self.tracer_provider, self.logger_provider):
            try:
                ok = bool(provider.force_flush(timeout_millis)) and ok
            except Exception:
                _log.debug("flush failed", exc_info=True)
                ok = False
        return ok

    def flush_soon(self) -> None:
        """Start a flush in a background thread unless one is running; never blocks the caller.

        Used for the run-start marker, so a running run shows live without the connector
        waiting on the collector.
        """
        if self._closed:
            return
        with self._flush_lock:
            if self._flush_thread is not None and self._flush_thread.is_alive():
                return
            thread = threading.Thread(target=self._flush_spans_quietly, name="connlog-flush", daemon=True)
            self._flush_thread = thread
        thread.start()

    def _flush_spans_quietly(self) -> None:
        try:
            self.tracer_provider.force_flush(int(self.settings.export_timeout * 1000))
        except Exception:
            _log.debug("background flush failed", exc_info=True)

    def shutdown(self, timeout_millis: int = 10_000) -> None:
        """Flush and stop exporting; log a WARNING if anything was dropped. Idempotent, never raises."""
        if self._closed:
            return
        if self.settings.capture_stdio:
            from connlog.instrumentation import stdio

            stdio.flush()
        self.flush(timeout_millis)
        self._closed = True
        for provider in (self.tracer_provider, self.logger_provider):
            try:
                provider.shutdown()
            except Exception:
                _log.debug("shutdown failed", exc_info=True)
        if self._drainer is not None:
            self._drainer.stop(final_drain=True)
        global _active
        with _init_lock:
            if _active is self:
                _active = None
                _uninstall_all()
        stats = self._stats
        if self.spool is not None and self.spool.files():
            _log.warning(
                "connlog: %d undelivered requests (%d bytes) kept in the spool %s; sent on the next start",
                len(self.spool.files()),
                self.spool.size_bytes,
                self.spool.directory,
            )
        if stats.dropped or stats.internal_errors:
            _log.warning(
                "connlog: dropped %d spans and %d log records that never reached the collector "
                "(export failed: %d, shed while collector down: %d, queue full: %d, spool full: %d); "
                "internal errors: %d",
                stats.spans.dropped,
                stats.logs.dropped,
                stats.spans.failed + stats.logs.failed,
                stats.spans.shed + stats.logs.shed,
                stats.spans.queue_dropped + stats.logs.queue_dropped,
                stats.spans.spool_dropped + stats.logs.spool_dropped,
                stats.internal_errors,
            )


# ---------------------------------------------------------------------- exporters
def _otlp_span_exporter(settings: SdkSettings) -> SpanExporter:
    if settings.protocol == "grpc":
        grpc_mod = _import_grpc()
        endpoint, insecure = _grpc_target(settings.endpoint)
        exporter: SpanExporter = grpc_mod[0](
            endpoint=endpoint, insecure=insecure, timeout=settings.export_timeout
        )
        return exporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(
        endpoint=_signal_url(settings.endpoint, "traces"), timeout=settings.export_timeout
    )


def _otlp_log_exporter(settings: SdkSettings) -> LogRecordExporter:
    if settings.protocol == "grpc":
        grpc_mod = _import_grpc()
        endpoint, insecure = _grpc_target(settings.endpoint)
        exporter: LogRecordExporter = grpc_mod[1](
            endpoint=endpoint, insecure=insecure, timeout=settings.export_timeout
        )
        return exporter
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    return OTLPLogExporter(endpoint=_signal_url(settings.endpoint, "logs"), timeout=settings.export_timeout)


def _spool_sender(settings: SdkSettings) -> Sender:
    if settings.protocol == "grpc":
        target, insecure = _grpc_target(settings.endpoint)
        return grpc_sender(target, insecure, settings.export_timeout)
    return http_sender(lambda signal: _signal_url(settings.endpoint, signal), settings.export_timeout)


def _import_grpc() -> tuple[Any, Any]:
    try:
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "connlog: protocol='grpc' needs the gRPC exporter: pip install 'connector-log[grpc]'"
        ) from exc
    return OTLPSpanExporter, OTLPLogExporter


def _grpc_target(endpoint: str) -> tuple[str, bool]:
    """(host:port, insecure): plaintext unless the endpoint says https, as local collectors are."""
    if endpoint.startswith("https://"):
        return endpoint.removeprefix("https://").rstrip("/"), False
    return endpoint.removeprefix("http://").rstrip("/"), True


def _signal_url(endpoint: str, signal: str) -> str:
    base = endpoint.rstrip("/")
    suffix = f"/v1/{signal}"
    if base.endswith(("/v1/traces", "/v1/logs")):
        base = base.rsplit("/v1/", 1)[0]
    return base + suffix


# ---------------------------------------------------------------------- init
_init_lock = threading.RLock()
_active: Handle | None = None
_atexit_registered = False


def active_handle() -> Handle | None:
    """The handle the API and the patches report to, or None before `init()`."""
    return _active


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        return default
    # OTEL_EXPORTER_OTLP_TIMEOUT is specified in milliseconds.
    return value / 1000 if value > 100 else value


def init(
    connector: str | None = None,
    version: str | None = None,
    environment: str | None = None,
    tenant: str | None = None,
    *,
    endpoint: str | None = None,
    protocol: str | None = None,
    secrets: Iterable[str] = (),
    body_cap: int = DEFAULT_BODY_CAP,
    redact_headers: Sequence[str] = (),
    redact_keys: Sequence[str] = (),
    redact_defaults: bool = True,
    export_timeout: float | None = None,
    capture_logs: bool = True,
    capture_bodies: bool = True,
    span_exporter: SpanExporter | None = None,
    log_exporter: LogRecordExporter | None = None,
    spool_dir: str | os.PathLike[str] | None = None,
    spool_max_bytes: int | None = None,
    viewer_url: str | None = None,
    capture_stdio: bool = False,
) -> Handle:
    """Configure connlog for this process and return its `Handle`.

    Arguments win over `OTEL_*` variables (`OTEL_SERVICE_NAME`,
    `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL`,
    `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_SDK_DISABLED`), which win over defaults.
    `redact_headers` / `redact_keys` add regular expressions to the built-in ones;
    `redact_defaults=False` drops the built-ins. `span_exporter` / `log_exporter` replace
    the OTLP exporters (tests, custom sinks).

    `spool_dir` switches on the on-disk spool (instrumentation.spool): batches the
    collector did not take are kept there (up to `spool_max_bytes`, default 256 MiB) and
    sent when it answers again or on the next start. `CONNLOG_SPOOL_DIR=<base>` does the
    same with `<base>/<connector>`; `CONNLOG_SPOOL_MAX_BYTES` sets the cap.

    `viewer_url` (else `CONNLOG_VIEWER_URL`) is the viewer's root, so `run().viewer_url`
    can say where a run's page is. `capture_stdio=True` also exports the process's
    stdout and stderr lines as logs (instrumentation.stdio).

    Raises only for programming errors at configuration time (an unknown protocol, the
    gRPC extra missing); everything after `init()` returns never raises.
    """
    global _active, _atexit_registered
    env = os.environ
    proto = (protocol or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf").strip().lower()
    if proto not in ("http/protobuf", "grpc"):
        raise ValueError(f"connlog: unsupported OTLP protocol {proto!r} (use 'http/protobuf' or 'grpc')")
    default_endpoint = DEFAULT_GRPC_ENDPOINT if proto == "grpc" else DEFAULT_HTTP_ENDPOINT
    settings = SdkSettings(
        connector=connector or env.get("OTEL_SERVICE_NAME") or "unknown_connector",
        version=version,
        environment=environment,
        tenant=tenant,
        endpoint=endpoint or env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or default_endpoint,
        protocol=proto,
        body_cap=max(0, int(body_cap)),
        redaction=RedactionConfig(
            secrets=tuple(s for s in secrets if s),
            header_patterns=tuple(redact_headers),
            key_patterns=tuple(redact_keys),
            use_defaults=redact_defaults,
        ),
        export_timeout=export_timeout
        if export_timeout is not None
        else _env_float("OTEL_EXPORTER_OTLP_TIMEOUT", 10.0),
        capture_logs=capture_logs,
        capture_bodies=capture_bodies,
        disabled=env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true",
    )
    if spool_dir is not None or env.get("CONNLOG_SPOOL_DIR"):
        max_bytes = spool_max_bytes or int(env.get("CONNLOG_SPOOL_MAX_BYTES") or DEFAULT_MAX_BYTES)
        directory = Path(spool_dir) if spool_dir is not None else default_spool_dir(settings.connector)
        settings = replace(settings, spool_dir=directory, spool_max_bytes=max_bytes)
    settings = replace(
        settings,
        viewer_url=(viewer_url or env.get(VIEWER_URL_ENV) or "").strip() or None,
        capture_stdio=capture_stdio,
    )
    with _init_lock:
        current = _active
        if (
            current is not None
            and not current.closed
            and current.settings == settings
            and span_exporter is None
            and log_exporter is None
            and current._injected == (None, None)
        ):
            return current
        if current is not None:
            current.shutdown()
        handle = Handle(settings, span_exporter, log_exporter)
        _active = handle
        from connlog.instrumentation import (
            aiohttp_capture,
            httpx_capture,
            logging_bridge,
            stdio,
            urllib3_capture,
        )

        httpx_capture.install()
        urllib3_capture.install()  # requests sits on urllib3: recorded there, once
        aiohttp_capture.install()
        if settings.capture_stdio:
            stdio.install()
        if settings.capture_logs:
            logging_bridge.install()
        if not _atexit_registered:
            atexit.register(_shutdown_at_exit)
            _atexit_registered = True
        return handle


def _uninstall_all() -> None:
    """Give the process back as it was: library patches, stdout/stderr and the log handler
    (called when the active handle shuts down; the next `init()` installs them again)."""
    from connlog.instrumentation import aiohttp_capture, httpx_capture, logging_bridge, stdio, urllib3_capture

    for module in (httpx_capture, urllib3_capture, aiohttp_capture, stdio, logging_bridge):
        try:
            module.uninstall()
        except Exception:
            _log.debug("uninstall of %s failed", module.__name__, exc_info=True)


def _shutdown_at_exit() -> None:
    handle = _active
    if handle is not None:
        handle.shutdown(timeout_millis=int(handle.settings.export_timeout * 1000))
