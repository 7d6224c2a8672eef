"""Parsed OTLP request -> decoded batch, through the checks both front ends must apply alike.

Order matters: content limits first (before any row is built, so an amplifying request
costs nothing), then the ingest key's connector binding, then decoding, which refuses
individual spans/records (bad ids, timestamps out of range or older than the retention)
into `partial_success`. HTTP and gRPC call the same `Intake`, so they refuse the same
requests with the same messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

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

    def traces(
        self,
        request: ExportTraceServiceRequest,
        principal: IngestPrincipal,
        wire_size: int,
        *,
        exact: bool = True,
    ) -> ColumnBatch:
        """`exact`: `wire_size` is the protobuf size of `request` (not so for an OTLP/JSON body)."""
        check_traces(request, self.options, wire_size if exact else None)
        principal.authorize(sorted(trace_services(request)))
        return decode_traces(request, wire_size=wire_size, retention_days=self.retention_days)

    def logs(
        self,
        request: ExportLogsServiceRequest,
        principal: IngestPrincipal,
        wire_size: int,
        *,
        exact: bool = True,
    ) -> ColumnBatch:
        check_logs(request, self.options, wire_size if exact else None)
        principal.authorize(sorted(log_services(request)))
        return decode_logs(request, wire_size=wire_size, retention_days=self.retention_days)

    def admit(
        self,
        signal: str,
        request: Message,
        principal: IngestPrincipal,
        wire_size: int,
        *,
        exact: bool = True,
    ) -> ColumnBatch:
        """`traces` or `logs` by signal name ("traces" or "logs")."""
        if signal == "traces":
            assert isinstance(request, ExportTraceServiceRequest)
            return self.traces(request, principal, wire_size, exact=exact)
        assert isinstance(request, ExportLogsServiceRequest)
        return self.logs(request, principal, wire_size, exact=exact)
