"""OTLP/gRPC receiver: TraceService and LogsService on the generated servicer base classes.

gRPC decompresses; the servicers decode and queue. The methods are registered with a
raw-bytes handler that parses with the generated message classes itself, so a malformed
message gets INVALID_ARGUMENT (grpcio's own deserializer would answer INTERNAL).
Backlog full maps to UNAVAILABLE — the status OTLP exporters retry with backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from collector.batch import ColumnBatch
from collector.batcher import Batcher, TransformError, Unavailable
from collector.decode_logs import decode_logs
from collector.decode_traces import decode_traces
from collector.options import CollectorOptions
from collector.otlp_codec import (
    PROTOBUF,
    BadRequest,
    logs_response,
    parse_logs,
    parse_traces,
    traces_response,
)
from collector.stats import Stats

log = logging.getLogger("collector.grpc")


def _queue(batcher: Batcher, stats: Stats, batch: ColumnBatch, context: Any) -> None:
    """Submit or abort the RPC with the right status (`context.abort` raises)."""
    try:
        accepted = batcher.submit(batch)
    except TransformError as exc:
        stats.add("requests_invalid")
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    except Unavailable as exc:
        context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
    if not accepted:
        context.abort(grpc.StatusCode.UNAVAILABLE, "write backlog full, retry later")
    if batch.rejected:
        stats.add(f"{batch.signal}_rejected", batch.rejected)


class TraceService(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
    def __init__(self, batcher: Batcher, stats: Stats) -> None:
        self._batcher = batcher
        self._stats = stats

    def Export(self, request: ExportTraceServiceRequest, context: Any) -> ExportTraceServiceResponse:
        batch = decode_traces(request, wire_size=request.ByteSize())
        _queue(self._batcher, self._stats, batch, context)
        return traces_response(batch)


class LogsService(logs_service_pb2_grpc.LogsServiceServicer):  # type: ignore[misc]
    def __init__(self, batcher: Batcher, stats: Stats) -> None:
        self._batcher = batcher
        self._stats = stats

    def Export(self, request: ExportLogsServiceRequest, context: Any) -> ExportLogsServiceResponse:
        batch = decode_logs(request, wire_size=request.ByteSize())
        _queue(self._batcher, self._stats, batch, context)
        return logs_response(batch)


def _raw_handler(parse: Callable[[bytes], Any], export: Callable[[Any, Any], Any]) -> grpc.RpcMethodHandler:
    def handle(raw: bytes, context: Any) -> bytes:
        try:
            request = parse(raw)
        except BadRequest as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        data: bytes = export(request, context).SerializeToString()
        return data

    # No (de)serializers: the handler receives and returns bytes.
    return grpc.unary_unary_rpc_method_handler(handle)


def create_grpc_server(
    batcher: Batcher, stats: Stats, options: CollectorOptions, host: str, port: int
) -> tuple[grpc.Server, int]:
    """A not yet started server and the port it actually bound (port 0 = ephemeral)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=options.grpc_workers, thread_name_prefix="connlog-grpc"),
        options=[
            ("grpc.max_receive_message_length", options.max_decompressed_bytes),
            ("grpc.so_reuseport", 0),
        ],
    )
    traces = TraceService(batcher, stats)
    logs = LogsService(batcher, stats)
    trace_name = trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name
    logs_name = logs_service_pb2.DESCRIPTOR.services_by_name["LogsService"].full_name
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                trace_name, {"Export": _raw_handler(lambda b: parse_traces(b, PROTOBUF), traces.Export)}
            ),
            grpc.method_handlers_generic_handler(
                logs_name, {"Export": _raw_handler(lambda b: parse_logs(b, PROTOBUF), logs.Export)}
            ),
        )
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind OTLP/gRPC on {host}:{port}")
    return server, bound
