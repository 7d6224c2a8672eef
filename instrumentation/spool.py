"""Bounded on-disk spool of OTLP requests the collector could not take (yet).

Why: a connector must run normally while the collector is down for minutes, and what it
recorded meanwhile should arrive when the collector is back — not be dropped by the
circuit breaker. `SafeExporter` hands every undelivered batch here; it is serialized
with the OTLP protobuf encoders (`encode_spans` / `encode_logs`), so a file is a
ready-to-send request body (already redacted: redaction happens before export). A
background thread sends the files oldest first once the collector answers again, and
`Spool.drain` also runs when a later process starts on the same directory.

Opt-in: `init(spool_dir=..., spool_max_bytes=...)` or `CONNLOG_SPOOL_DIR` /
`CONNLOG_SPOOL_MAX_BYTES`. Files are `<time_ns>-<n>-<signal>.pb`, written to a temporary
name and renamed, so a crash never leaves a half file that looks complete. When the cap
is reached new batches are dropped and counted (`SignalStats.spool_dropped`).
"""

# The SDK must never raise into the connector: its hooks catch broadly on purpose.
# ruff: noqa: BLE001

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

_log = logging.getLogger("connlog.sdk")

DEFAULT_MAX_BYTES: Final = 256 * 1024 * 1024
SIGNALS: Final = ("traces", "logs")
Sender = Callable[[str, bytes], bool]  # (signal, request bytes) -> delivered?


class Spool:
    """Thread-safe: exporter threads `put`, one background thread `drain`s."""

    def __init__(self, directory: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._drain_lock = threading.Lock()
        self._counter = itertools.count()
        directory.mkdir(parents=True, exist_ok=True)
        for tmp in directory.glob("*.tmp"):
            tmp.unlink(missing_ok=True)
        self._bytes = sum(p.stat().st_size for p in self.files())

    def files(self) -> list[Path]:
        return sorted(self.directory.glob("*.pb"))

    @property
    def size_bytes(self) -> int:
        with self._lock:
            return self._bytes

    def put(self, signal: str, payload: bytes) -> bool:
        """Keep one request body; False (nothing written) when the cap would be exceeded."""
        with self._lock:
            if self._bytes + len(payload) > self.max_bytes:
                return False
            self._bytes += len(payload)
            name = f"{time.time_ns():020d}-{next(self._counter):06d}-{signal}.pb"
        path = self.directory / name
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_bytes(payload)
            tmp.replace(path)
        except OSError:
            _log.debug("spool write failed", exc_info=True)
            with self._lock:
                self._bytes -= len(payload)
            return False
        return True

    def drain(self, send: Sender) -> int:
        """Send spooled requests oldest first, deleting each delivered one; stop at the first failure.

        Returns the number of requests delivered. Never raises.
        """
        delivered = 0
        if not self._drain_lock.acquire(blocking=False):
            return 0  # another thread is draining
        try:
            for path in self.files():
                signal = path.stem.rsplit("-", 1)[-1]
                try:
                    payload = path.read_bytes()
                except OSError:
                    continue
                try:
                    ok = signal in SIGNALS and send(signal, payload)
                except Exception:
                    _log.debug("spool send raised", exc_info=True)
                    ok = False
                if not ok:
                    break
                path.unlink(missing_ok=True)
                with self._lock:
                    self._bytes -= len(payload)
                delivered += 1
        finally:
            self._drain_lock.release()
        return delivered


def otlp_headers(signal: str) -> dict[str, str]:
    """The headers the OTLP exporters send for `signal` (`traces` or `logs`), read from the same
    standard variables (`OTEL_EXPORTER_OTLP_<SIGNAL>_HEADERS`, else `OTEL_EXPORTER_OTLP_HEADERS`),
    so a replay from the spool carries the ingest key as the live export did."""
    import os

    from opentelemetry.sdk.environment_variables import (
        OTEL_EXPORTER_OTLP_HEADERS,
        OTEL_EXPORTER_OTLP_LOGS_HEADERS,
        OTEL_EXPORTER_OTLP_TRACES_HEADERS,
    )
    from opentelemetry.util.re import parse_env_headers

    per_signal = {"traces": OTEL_EXPORTER_OTLP_TRACES_HEADERS, "logs": OTEL_EXPORTER_OTLP_LOGS_HEADERS}
    raw = os.environ.get(per_signal.get(signal, ""), "") or os.environ.get(OTEL_EXPORTER_OTLP_HEADERS, "")
    return dict(parse_env_headers(raw, liberal=True)) if raw else {}


def http_sender(endpoint_for: Callable[[str], str], timeout: float) -> Sender:
    """POST the bytes as OTLP/HTTP protobuf; delivered on 2xx.

    Instrumentation is suppressed for these calls: the SDK's httpx capture would
    otherwise record telemetry about sending telemetry.
    """
    import httpx
    from opentelemetry import context
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY

    def send(signal: str, payload: bytes) -> bool:
        token = context.attach(context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        try:
            resp = httpx.post(
                endpoint_for(signal),
                content=payload,
                headers={**otlp_headers(signal), "Content-Type": "application/x-protobuf"},
                timeout=timeout,
            )
        finally:
            context.detach(token)
        return 200 <= resp.status_code < 300

    return send


def grpc_sender(target: str, insecure: bool, timeout: float) -> Sender:
    """Call the OTLP/gRPC Export methods with the raw bytes (no re-encoding)."""
    import grpc

    channel = (
        grpc.insecure_channel(target)
        if insecure
        else grpc.secure_channel(target, grpc.ssl_channel_credentials())
    )
    methods = {
        "traces": channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export"),
        "logs": channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export"),
    }

    def send(signal: str, payload: bytes) -> bool:
        try:
            metadata = tuple((k.lower(), v) for k, v in otlp_headers(signal).items())
            methods[signal](payload, timeout=timeout, metadata=metadata or None)
        except grpc.RpcError:
            return False
        return True

    return send


class SpoolDrainer:
    """Background thread: every `interval` seconds (and at start), drain the spool."""

    def __init__(self, spool: Spool, send: Sender, interval: float = 5.0) -> None:
        self._spool = spool
        self._send = send
        self._interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.delivered = 0
        self._thread = threading.Thread(target=self._run, name="connlog-spool", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Drain now (called after a successful export: the collector is back)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._spool.files():
                self.delivered += self._spool.drain(self._send)
            self._wake.wait(self._interval)
            self._wake.clear()

    def stop(self, final_drain: bool = True) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(10)
        if final_drain and self._spool.files():
            self.delivered += self._spool.drain(self._send)


def default_spool_dir(connector: str) -> Path:
    """`$CONNLOG_SPOOL_DIR/<connector>` when set (the documented default location otherwise)."""
    base = os.environ.get("CONNLOG_SPOOL_DIR") or str(Path.home() / ".cache" / "connlog" / "spool")
    return Path(base) / connector
