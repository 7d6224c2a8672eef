"""Per-request content limits, checked on the parsed OTLP request before any row is built.

The body caps (`max_body_bytes`, `max_decompressed_bytes`) bound what is read, not what it
becomes: resource attributes are copied onto every span or log record of the resource
(and log scope attributes onto every record), so a 581 KB request with one 512 KB
resource attribute and 1,000 spans expands to 512 MB of rows. These checks refuse such a
request whole, with a message naming the limit (HTTP 413, gRPC INVALID_ARGUMENT), before
the fan-out happens. The limits are `CollectorOptions` fields.

Cost: attributes are walked one by one only where a size says one of them could be over
the limit. When the whole body is at most `max_attribute_bytes` no attribute can be, so a
typical request costs a `len()` per span or record; otherwise a `ByteSize()` per span or
record (computed in C) picks the few to walk. Event and link attributes are checked inside
such an oversized span (their count adds no fan-out: it is bounded by the body size).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from connlog.collector.options import CollectorOptions
from connlog.collector.otlp_codec import TooLarge

T = TypeVar("T")


class LimitExceeded(TooLarge):
    """The request exceeds a per-request content limit; the message names the option."""


class _Sized(Protocol):
    def ByteSize(self) -> int: ...


def _attributes(attributes: Sequence[KeyValue], what: str, options: CollectorOptions) -> int:
    """Encoded size of `attributes`, after checking their count and each one's size."""
    if len(attributes) > options.max_attributes:
        raise LimitExceeded(
            f"{what} has {len(attributes)} attributes, more than max_attributes={options.max_attributes}"
        )
    total = 0
    for kv in attributes:
        size = kv.ByteSize()
        if size > options.max_attribute_bytes:
            raise LimitExceeded(
                f"{what} attribute {kv.key[:100]!r} is {size} bytes, more than "
                f"max_attribute_bytes={options.max_attribute_bytes}"
            )
        total += size
    return total


def _shared(resource: int, scope: int, rows: int, fanout: int, options: CollectorOptions) -> int:
    """Check the bytes copied onto each row and the running fan-out total; return the new total."""
    shared = resource + scope
    if shared > options.max_resource_bytes:
        raise LimitExceeded(
            f"resource and scope attributes are {shared} bytes, more than "
            f"max_resource_bytes={options.max_resource_bytes} (they are copied onto every row)"
        )
    fanout += shared * rows
    if fanout > options.max_fanout_bytes:
        raise LimitExceeded(
            f"resource and scope attributes copied onto {rows} rows make {fanout} bytes, more than "
            f"max_fanout_bytes={options.max_fanout_bytes}; send fewer rows per request"
        )
    return fanout


def _rows(
    groups: Iterable[tuple[Any, Iterable[tuple[Any, Sequence[T]]]]], options: CollectorOptions
) -> Iterator[T]:
    """The rows (spans or log records) of a request, grouped as (resource, ((scope, rows), ...)),
    yielded after the attributes of their resource and scope, and the running fan-out of those
    onto every row, passed their limits. Spans and log records nest alike; one walk checks both."""
    fanout = 0
    for resource, scopes in groups:
        resource_bytes = _attributes(resource.attributes, "resource", options)
        for scope, rows in scopes:
            scope_bytes = _attributes(scope.attributes, "scope", options)
            fanout = _shared(resource_bytes, scope_bytes, len(rows), fanout, options)
            yield from rows


def _count(items: int, options: CollectorOptions, what: str) -> None:
    if items > options.max_items_per_request:
        raise LimitExceeded(
            f"request has more than {options.max_items_per_request} {what} (max_items_per_request); split it"
        )


def _oversized(item: _Sized, sizes: bool, options: CollectorOptions) -> bool:
    return sizes and item.ByteSize() > options.max_attribute_bytes


def _span(span: Span, options: CollectorOptions) -> None:
    """Walk an oversized span's own, event and link attributes to name the one over a limit."""
    what = f"span {span.name[:100]!r}"
    _attributes(span.attributes, what, options)
    for event in span.events:
        _attributes(event.attributes, f"{what} event {event.name[:100]!r}", options)
    for link in span.links:
        _attributes(link.attributes, f"{what} link", options)


def check_traces(
    request: ExportTraceServiceRequest, options: CollectorOptions, wire_size: int | None = None
) -> None:
    """Raise `LimitExceeded` when `request` breaks a limit; return None otherwise.

    `wire_size`, the encoded size of `request` when known, lets small requests skip the
    per-span size checks.
    """
    _count(sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans), options, "spans")
    sizes = wire_size is None or wire_size > options.max_attribute_bytes
    limit = options.max_attributes
    groups = ((rs.resource, ((ss.scope, ss.spans) for ss in rs.scope_spans)) for rs in request.resource_spans)
    for span in _rows(groups, options):
        if len(span.attributes) > limit or _oversized(span, sizes, options):
            _span(span, options)


def check_logs(
    request: ExportLogsServiceRequest, options: CollectorOptions, wire_size: int | None = None
) -> None:
    """Raise `LimitExceeded` when `request` breaks a limit; return None otherwise (`wire_size`
    as for `check_traces`)."""
    _count(
        sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs),
        options,
        "log records",
    )
    sizes = wire_size is None or wire_size > options.max_attribute_bytes
    groups = (
        (rl.resource, ((sl.scope, sl.log_records) for sl in rl.scope_logs)) for rl in request.resource_logs
    )
    for record in _rows(groups, options):
        if len(record.attributes) > options.max_attributes:
            _attributes(record.attributes, "log record", options)
        if not _oversized(record, sizes, options):
            continue
        _attributes(record.attributes, "log record", options)
        body = record.body.ByteSize()
        if body > options.max_attribute_bytes:
            raise LimitExceeded(
                f"log record body is {body} bytes, more than max_attribute_bytes={options.max_attribute_bytes}"
            )
