"""Request bodies (protobuf or OTLP/JSON, maybe gzip) -> decoded batches, and responses back.

Shared by the HTTP and gRPC front ends so both reject the same things the same way.
OTLP/JSON differs from protobuf's canonical JSON in one point that matters here: trace
and span ids are hex strings, not base64, so they are rewritten before `json_format`.
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any, Final

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.rpc.status_pb2 import Status  # type: ignore[import-untyped]
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from connlog.collector.batch import ColumnBatch, rejection_message
from connlog.collector.decode_logs import decode_logs
from connlog.collector.decode_traces import decode_traces

PROTOBUF: Final = "application/x-protobuf"
JSON: Final = "application/json"
CONTENT_TYPES: Final = (PROTOBUF, JSON)

# google.rpc.Code values used in Status bodies.
RPC_INVALID_ARGUMENT: Final = 3
RPC_DEADLINE_EXCEEDED: Final = 4
RPC_PERMISSION_DENIED: Final = 7
RPC_RESOURCE_EXHAUSTED: Final = 8
RPC_UNAVAILABLE: Final = 14
RPC_UNAUTHENTICATED: Final = 16


class BadRequest(ValueError):
    """The body cannot be decoded; the message is returned to the client as is."""


class TooLarge(ValueError):
    """The body (or its decompressed form) exceeds the configured cap."""


def gunzip(body: bytes, limit: int) -> bytes:
    """Decompress a gzip body, every member of it, refusing to produce more than `limit` bytes.

    RFC 1952 allows several members back to back (what `cat a.gz b.gz` or a streaming
    compressor that restarts produces); their concatenation is the content, so stopping
    after the first would acknowledge data that is never stored. The cap counts all
    members together (gzip bombs).
    """
    out: list[bytes] = []
    produced = 0
    rest = body
    while True:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            chunk = inflater.decompress(rest, limit - produced + 1)
        except zlib.error as exc:
            raise BadRequest(f"invalid gzip body: {exc}") from exc
        produced += len(chunk)
        if produced > limit:
            raise TooLarge(f"decompressed body exceeds {limit} bytes (max_decompressed_bytes)")
        out.append(chunk)
        if not inflater.eof:
            raise BadRequest("invalid gzip body: truncated stream")
        rest = inflater.unused_data
        if not rest.strip(b"\0"):  # end of body (gzip(1) also tolerates zero padding)
            return b"".join(out)


# --------------------------------------------------------------------------- OTLP/JSON ids
_ID_FIELDS: Final = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def _hex_ids_to_base64(obj: dict[str, Any]) -> None:
    for key in _ID_FIELDS:
        value = obj.get(key)
        if isinstance(value, str) and value:
            try:
                raw = bytes.fromhex(value)
            except ValueError as exc:
                raise BadRequest(f"{key} {value[:64]!r} is not a hex string") from exc
            obj[key] = base64.b64encode(raw).decode("ascii")


def _items(obj: dict[str, Any], *keys: str) -> list[dict[str, Any]]:
    """The list under the camelCase or snake_case key, ignoring anything that is not a list of objects."""
    for key in keys:
        value = obj.get(key)
        if isinstance(value, list):
            return [v for v in value if isinstance(v, dict)]
    return []


def _rewrite_trace_ids(doc: dict[str, Any]) -> None:
    for rs in _items(doc, "resourceSpans", "resource_spans"):
        for ss in _items(rs, "scopeSpans", "scope_spans"):
            for span in _items(ss, "spans"):
                _hex_ids_to_base64(span)
                for link in _items(span, "links"):
                    _hex_ids_to_base64(link)


def _rewrite_log_ids(doc: dict[str, Any]) -> None:
    for rl in _items(doc, "resourceLogs", "resource_logs"):
        for sl in _items(rl, "scopeLogs", "scope_logs"):
            for record in _items(sl, "logRecords", "log_records"):
                _hex_ids_to_base64(record)


def _parse_json(body: bytes, message: Message, *, logs: bool) -> None:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise BadRequest(f"invalid JSON body: {exc}") from exc
    if not isinstance(doc, dict):
        raise BadRequest("invalid OTLP/JSON body: top level must be an object")
    if logs:
        _rewrite_log_ids(doc)
    else:
        _rewrite_trace_ids(doc)
    try:
        json_format.ParseDict(doc, message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, AttributeError, RecursionError) as exc:
        raise BadRequest(f"invalid OTLP/JSON body: {exc}") from exc


def _parse_protobuf(body: bytes, message: Message) -> None:
    try:
        message.ParseFromString(body)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise BadRequest(f"invalid protobuf body: {exc}") from exc


def parse_traces(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    if content_type == JSON:
        _parse_json(body, request, logs=False)
    else:
        _parse_protobuf(body, request)
    return request


def parse_logs(body: bytes, content_type: str) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    if content_type == JSON:
        _parse_json(body, request, logs=True)
    else:
        _parse_protobuf(body, request)
    return request


def parse_body(signal: str, body: bytes, content_type: str) -> Message:
    """The export request of `signal` ("traces" or "logs") in an uncompressed body."""
    return parse_traces(body, content_type) if signal == "traces" else parse_logs(body, content_type)


def decode_body(signal: str, body: bytes, content_type: str) -> ColumnBatch:
    """Parse and decode an uncompressed body of `signal` ("traces" or "logs"), no limits applied."""
    if signal == "traces":
        return decode_traces(parse_traces(body, content_type), wire_size=len(body))
    return decode_logs(parse_logs(body, content_type), wire_size=len(body))


# --------------------------------------------------------------------------- responses
def traces_response(batch: ColumnBatch | None) -> ExportTraceServiceResponse:
    """ExportTraceServiceResponse, with partial_success filled when spans were rejected."""
    response = ExportTraceServiceResponse()
    if batch is not None and batch.rejected:
        response.partial_success.rejected_spans = batch.rejected
        response.partial_success.error_message = rejection_message(batch)
    return response


def logs_response(batch: ColumnBatch | None) -> ExportLogsServiceResponse:
    """ExportLogsServiceResponse, with partial_success filled when records were rejected."""
    response = ExportLogsServiceResponse()
    if batch is not None and batch.rejected:
        response.partial_success.rejected_log_records = batch.rejected
        response.partial_success.error_message = rejection_message(batch)
    return response


def export_response(signal: str, batch: ColumnBatch | None) -> Message:
    return traces_response(batch) if signal == "traces" else logs_response(batch)


def encode_message(message: Message, content_type: str) -> bytes:
    if content_type == JSON:
        text: str = json_format.MessageToJson(message, indent=None)
        return text.encode("utf-8")
    data: bytes = message.SerializeToString()
    return data


def status_body(code: int, message: str, content_type: str) -> bytes:
    """A google.rpc.Status error body in the request's encoding, as OTLP/HTTP requires."""
    return encode_message(Status(code=code, message=message), content_type)
