"""OTLP/gRPC receiver: TraceService and LogsService on the generated servicer base classes.

gRPC decompresses; the servicers decode and queue. The methods are registered with a
raw-bytes handler that parses with the generated message classes itself, so a malformed
message gets INVALID_ARGUMENT (grpcio's own deserializer would answer INTERNAL).
Backlog full maps to UNAVAILABLE — the status OTLP exporters retry with backoff.
Admission (limits, ingest key from the `authorization` metadata, retention) is the same
`collector.intake.Intake` the HTTP receiver uses; at most `max_open_requests` RPCs run
at once (grpcio answers RESOURCE_EXHAUSTED beyond). With a `DecodePool` the raw message
goes to a decode worker after the key check (parse, limits, binding, decode, redaction
there); a worker that dies answers that RPC UNAVAILABLE.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent import futures
from typing import Any, Final, NoReturn

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

from connlog.collector.batch import ColumnBatch
from connlog.collector.batcher import Batcher, TransformError, Unavailable
from connlog.collector.decode_pool import DecodePool, RawRequest
from connlog.collector.ingest_auth import Forbidden, IngestPrincipal, Unauthenticated
from connlog.collector.intake import Intake
from connlog.collector.limits import LimitExceeded
from connlog.collector.options import CollectorOptions
from connlog.collector.otlp_codec import (
    PROTOBUF,
    BadRequest,
    logs_response,
    parse_logs,
    parse_traces,
    traces_response,
)
from connlog.collector.stats import Stats

log = logging.getLogger("connlog.collector.grpc")


# Each refusal of a request and the status it gets, on every path (in-process, decode pool):
# the counter it adds (None: not counted; a body that does not parse never was) and the code.
_REFUSALS: Final[tuple[tuple[type[Exception], str | None, grpc.StatusCode], ...]] = (
    (BadRequest, None, grpc.StatusCode.INVALID_ARGUMENT),
    (LimitExceeded, "requests_invalid", grpc.StatusCode.INVALID_ARGUMENT),
    (TransformError, "requests_invalid", grpc.StatusCode.INVALID_ARGUMENT),
    (Forbidden, "requests_forbidden", grpc.StatusCode.PERMISSION_DENIED),
    (Unavailable, None, grpc.StatusCode.UNAVAILABLE),
)
_REFUSED: Final = tuple(kind for kind, _, _ in _REFUSALS)


def _refuse(stats: Stats, context: Any, exc: Exception) -> NoReturn:
    """Abort the RPC with the status of refusal `exc` (`context.abort` raises)."""
    for kind, counter, code in _REFUSALS:
        if isinstance(exc, kind):
            if counter is not None:
                stats.add(counter)
            context.abort(code, str(exc))
    raise exc


def _queue(batcher: Batcher, stats: Stats, batch: ColumnBatch, context: Any) -> None:
    """Submit or abort the RPC with the right status (`context.abort` raises)."""
    try:
        accepted = batcher.submit(batch)
    except (TransformError, Unavailable) as exc:
        _refuse(stats, context, exc)
    if not accepted:
        context.abort(grpc.StatusCode.UNAVAILABLE, "write backlog full, retry later")
    if batch.rejected:
        stats.add(f"{batch.signal}_rejected", batch.rejected)


def _principal(intake: Intake, stats: Stats, context: Any) -> IngestPrincipal:
    """The caller from the `authorization` metadata, or abort UNAUTHENTICATED."""
    authorization = next(
        (str(v) for k, v in (context.invocation_metadata() or ()) if k == "authorization"), None
    )
    try:
        return intake.authenticate(authorization)
    except Unauthenticated as exc:
        stats.add("requests_unauthenticated")
        context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        raise  # unreachable: abort raises


def _admit(intake: Intake, stats: Stats, signal: str, request: Any, context: Any) -> ColumnBatch:
    principal = _principal(intake, stats, context)
    try:
        return intake.admit(signal, request, principal, request.ByteSize())
    except (LimitExceeded, Forbidden) as exc:
        _refuse(stats, context, exc)


class TraceService(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
    def __init__(self, batcher: Batcher, stats: Stats, intake: Intake) -> None:
        self._batcher = batcher
        self._stats = stats
        self._intake = intake

    def Export(self, request: ExportTraceServiceRequest, context: Any) -> ExportTraceServiceResponse:
        batch = _admit(self._intake, self._stats, "traces", request, context)
        _queue(self._batcher, self._stats, batch, context)
        return traces_response(batch)


class LogsService(logs_service_pb2_grpc.LogsServiceServicer):  # type: ignore[misc]
    def __init__(self, batcher: Batcher, stats: Stats, intake: Intake) -> None:
        self._batcher = batcher
        self._stats = stats
        self._intake = intake

    def Export(self, request: ExportLogsServiceRequest, context: Any) -> ExportLogsServiceResponse:
        batch = _admit(self._intake, self._stats, "logs", request, context)
        _queue(self._batcher, self._stats, batch, context)
        return logs_response(batch)


def _decode_in_pool(
    pool: DecodePool, intake: Intake, stats: Stats, signal: str, raw: bytes, context: Any
) -> ColumnBatch:
    """The batch a decode worker made of `raw`, or abort with the status the in-process path uses."""
    principal = _principal(intake, stats, context)
    try:
        return pool.decode(RawRequest(signal, raw, PROTOBUF, False, principal))
    except _REFUSED as exc:
        _refuse(stats, context, exc)


def _pool_handler(
    pool: DecodePool,
    intake: Intake,
    batcher: Batcher,
    stats: Stats,
    signal: str,
    respond: Callable[[ColumnBatch], Any],
) -> grpc.RpcMethodHandler:
    def handle(raw: bytes, context: Any) -> bytes:
        batch = _decode_in_pool(pool, intake, stats, signal, raw, context)
        # The redaction ran in the worker; `submit` runs only the parent's extra transform.
        _queue(batcher, stats, batch, context)
        data: bytes = respond(batch).SerializeToString()
        return data

    return grpc.unary_unary_rpc_method_handler(handle)


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
    batcher: Batcher,
    stats: Stats,
    options: CollectorOptions,
    host: str,
    port: int,
    intake: Intake | None = None,
    pool: DecodePool | None = None,
) -> tuple[grpc.Server, int]:
    """A not yet started server and the port it actually bound (port 0 = ephemeral).

    With a `pool`, requests are decoded in its worker processes (see `_pool_handler`).
    """
    rules = intake or Intake(options)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=options.grpc_workers, thread_name_prefix="connlog-grpc"),
        maximum_concurrent_rpcs=options.max_open_requests,
        options=[
            ("grpc.max_receive_message_length", options.max_decompressed_bytes),
            ("grpc.so_reuseport", 0),
        ],
    )
    traces = TraceService(batcher, stats, rules)
    logs = LogsService(batcher, stats, rules)
    trace_name = trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name
    logs_name = logs_service_pb2.DESCRIPTOR.services_by_name["LogsService"].full_name
    if pool is None:
        trace_handler = _raw_handler(lambda b: parse_traces(b, PROTOBUF), traces.Export)
        logs_handler = _raw_handler(lambda b: parse_logs(b, PROTOBUF), logs.Export)
    else:
        trace_handler = _pool_handler(pool, rules, batcher, stats, "traces", traces_response)
        logs_handler = _pool_handler(pool, rules, batcher, stats, "logs", logs_response)
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(trace_name, {"Export": trace_handler}),
            grpc.method_handlers_generic_handler(logs_name, {"Export": logs_handler}),
        )
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind OTLP/gRPC on {host}:{port}")
    return server, bound
