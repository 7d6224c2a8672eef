"""Parsed OTLP request -> decoded batch, through the checks both front ends must apply alike.

Order matters: content limits first (before any row is built, so an amplifying request
costs nothing), then the ingest key's connector binding, then decoding, which refuses
individual spans/records (bad ids, timestamps out of range or older than the retention)
into `partial_success`. HTTP and gRPC call the same `Intake`, so they refuse the same
requests with the same messages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from connlog.collector.anyvalue import any_value_to_str
from connlog.collector.batch import ColumnBatch
from connlog.collector.decode_logs import decode_logs
from connlog.collector.decode_traces import decode_traces
from connlog.collector.ingest_auth import IngestKeys, IngestPrincipal
from connlog.collector.limits import check_logs, check_traces
from connlog.collector.options import CollectorOptions
from connlog.instrumentation.semconv import SERVICE_NAME


def _service(attributes: Iterable[KeyValue]) -> str:
    """`service.name` as the decoders read it (the last occurrence wins, '' when absent)."""
    service = ""
    for kv in attributes:
        if kv.key == SERVICE_NAME:
            service = any_value_to_str(kv.value)
    return service


def trace_services(request: ExportTraceServiceRequest) -> set[str]:
    return {_service(rs.resource.attributes) for rs in request.resource_spans}


def log_services(request: ExportLogsServiceRequest) -> set[str]:
    return {_service(rl.resource.attributes) for rl in request.resource_logs}


@dataclass(frozen=True)
class Intake:
    """The collector's admission rules: limits, ingest keys and retention."""

    options: CollectorOptions = field(default_factory=CollectorOptions)
    keys: IngestKeys = field(default_factory=IngestKeys)
    retention_days: int = 0

    def authenticate(self, authorization: str | None) -> IngestPrincipal:
        """Raises `Unauthenticated` when keys are configured and this header has none of them."""
        return self.keys.authenticate(authorization)

    def admit(
        self,
        signal: str,
        request: Message,
        principal: IngestPrincipal,
        wire_size: int,
        *,
        exact: bool = True,
    ) -> ColumnBatch:
        """Check, authorize and decode one export request of `signal` ("traces" or "logs").

        `exact`: `wire_size` is the protobuf size of `request` (not so for an OTLP/JSON body).
        """
        rules = _SIGNALS[signal]
        assert isinstance(request, rules.request_type)
        rules.check(request, self.options, wire_size if exact else None)
        principal.authorize(sorted(rules.services(request)))
        return rules.decode(request, wire_size=wire_size, retention_days=self.retention_days)


@dataclass(frozen=True)
class _SignalRules:
    """What `Intake.admit` applies to one signal's requests, in its order."""

    request_type: type[Message]
    check: Callable[[Any, CollectorOptions, int | None], None]
    services: Callable[[Any], set[str]]
    decode: Callable[..., ColumnBatch]


_SIGNALS: dict[str, _SignalRules] = {
    "traces": _SignalRules(ExportTraceServiceRequest, check_traces, trace_services, decode_traces),
    "logs": _SignalRules(ExportLogsServiceRequest, check_logs, log_services, decode_logs),
}
