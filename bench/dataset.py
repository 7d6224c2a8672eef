"""Large, realistic OTLP datasets from a small `connlog.datagen` base, by replication.

`datagen.generate` builds realistic runs (steps, pages, records, HTTP calls with JSON
bodies, every failure cause) but costs ~1 ms per span with 20 KB bodies, so millions of
spans are made by copying a base set of runs with:

- trace and span ids XOR-ed with a per-copy salt (parent links stay consistent),
- the run moved to its slot in the window: copies are laid out in time order (whole run
  moved together), as live data arrives; scattering them would make every 10k-row insert
  touch every daily partition and measure part creation instead of ingest,
- service.name / tenant renamed into many connectors and tenants,
- record ids suffixed so "which runs touched record X" has realistic fan-out
  (each record id is shared by the copies with the same suffix).

The result is still OTLP protobuf, so the 1M dataset goes through the real collector.
Requests are regrouped into ~512-span exports, the OTel SDK's default batch size.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans

from connlog import datagen
from connlog.instrumentation import semconv as sc

DAY_NS = 86400 * 10**9
EXPORT_SPANS = 512


@dataclass(frozen=True)
class Shape:
    """What to replicate into: spans wanted, time window, naming fan-out."""

    spans: int
    end_ns: int
    days: float = 29.0  # inside the 30-day retention, so TTL never deletes benchmark data
    base_runs: int = 60
    body_size: tuple[int, int] = (200, 20_000)
    connector_variants: int = 8  # x3 datagen connectors
    tenant_variants: int = 20  # x3 datagen tenants
    record_fanout: int = 50  # a record id recurs in ~copies/record_fanout runs
    seed: int = 7


def base_dataset(shape: Shape) -> datagen.Dataset:
    return datagen.generate(
        seed=shape.seed,
        runs=shape.base_runs,
        running=0,
        span_days=shape.days,
        end_ns=shape.end_ns,
        body_size=shape.body_size,
        pages=(1, 3),
        entities=(2, 6),
    )


def _xor(b: bytes, salt: int) -> bytes:
    return (int.from_bytes(b, "big") ^ salt).to_bytes(len(b), "big") if b else b


_RECORD_KEYS = (sc.ENTITY_EXTERNAL_ID, sc.ENTITY_INTERNAL_ID)


def _rename(rs_resource: object, k: int, shape: Shape) -> None:
    for kv in rs_resource.attributes:  # type: ignore[attr-defined]
        if kv.key == sc.SERVICE_NAME:
            kv.value.string_value = f"{kv.value.string_value}-{k % shape.connector_variants}"
        elif kv.key == sc.CONNECTOR_TENANT:
            kv.value.string_value = f"{kv.value.string_value}-{(k // 3) % shape.tenant_variants}"


@dataclass
class Replica:
    traces: list[ResourceSpans]
    logs: list[ResourceLogs]
    spans: int
    log_records: int


def copy_run(
    tr: ExportTraceServiceRequest,
    lr: ExportLogsServiceRequest,
    k: int,
    shape: Shape,
    rng: random.Random,
    new_start: int,
) -> Replica:
    """Copy k of one run (one datagen request pair), moved to `new_start`, renamed, re-identified."""
    tsalt = rng.getrandbits(128)
    ssalt = rng.getrandbits(64)
    suffix = f"-r{k % shape.record_fanout}"
    out_spans: list[ResourceSpans] = []
    n_spans = 0
    starts = [
        span.start_time_unix_nano for rs in tr.resource_spans for ss in rs.scope_spans for span in ss.spans
    ]
    run_start = min(starts) if starts else new_start
    shift = new_start - run_start
    for rs in tr.resource_spans:
        new = ResourceSpans()
        new.CopyFrom(rs)
        _rename(new.resource, k, shape)
        for ss in new.scope_spans:
            for span in ss.spans:
                span.trace_id = _xor(span.trace_id, tsalt)
                span.span_id = _xor(span.span_id, ssalt)
                if span.parent_span_id:
                    span.parent_span_id = _xor(span.parent_span_id, ssalt)
                span.start_time_unix_nano += shift
                span.end_time_unix_nano += shift
                for ev in span.events:
                    ev.time_unix_nano += shift
                if span.name == sc.SPAN_ENTITY:
                    for kv in span.attributes:
                        if kv.key in _RECORD_KEYS:
                            kv.value.string_value += suffix
                n_spans += 1
        out_spans.append(new)
    out_logs: list[ResourceLogs] = []
    n_logs = 0
    for rl in lr.resource_logs:
        newl = ResourceLogs()
        newl.CopyFrom(rl)
        _rename(newl.resource, k, shape)
        for sl in newl.scope_logs:
            for rec in sl.log_records:
                rec.trace_id = _xor(rec.trace_id, tsalt)
                rec.span_id = _xor(rec.span_id, ssalt)
                rec.time_unix_nano += shift
                rec.observed_time_unix_nano += shift
                n_logs += 1
        out_logs.append(newl)
    return Replica(out_spans, out_logs, n_spans, n_logs)


@dataclass
class Export:
    """One pre-serialized export request and how many items it carries."""

    signal: str  # "traces" | "logs"
    body: bytes
    items: int


def exports(shape: Shape, base: datagen.Dataset | None = None) -> Iterator[Export]:
    """Serialized ~512-span trace exports (and the matching log exports) until `shape.spans`."""
    base = base or base_dataset(shape)
    rng = random.Random(shape.seed)
    pending_t: list[ResourceSpans] = []
    pending_l: list[ResourceLogs] = []
    n_t = n_l = 0
    total = 0
    k = 0
    window = int(shape.days * DAY_NS)
    begin = shape.end_ns - window
    # Runs last up to ~hours of synthetic time; leave room so none ends after `end_ns`.
    usable = max(window - 3600 * 10**9, window // 2)
    copies = max(1, round(shape.spans / max(base.spans / len(base.trace_requests), 1)))
    while total < shape.spans:
        i = k % len(base.trace_requests)
        start = begin + usable * min(k, copies) // copies + rng.randrange(10**9)
        rep = copy_run(base.trace_requests[i], base.log_requests[i], k, shape, rng, start)
        k += 1
        pending_t += rep.traces
        pending_l += rep.logs
        n_t += rep.spans
        n_l += rep.log_records
        total += rep.spans
        if n_t >= EXPORT_SPANS or total >= shape.spans:
            yield Export(
                "traces", ExportTraceServiceRequest(resource_spans=pending_t).SerializeToString(), n_t
            )
            yield Export("logs", ExportLogsServiceRequest(resource_logs=pending_l).SerializeToString(), n_l)
            pending_t, pending_l, n_t, n_l = [], [], 0, 0


def log_exports(records: int, end_ns: int, per_request: int = 512, seed: int = 3) -> Iterator[Export]:
    """Log-only exports with realistic application log lines (for logs/s)."""
    base = datagen.generate(seed=seed, runs=12, running=0, end_ns=end_ns, span_days=1.0)
    templates = [
        rec
        for lr in base.log_requests
        for rl in lr.resource_logs
        for sl in rl.scope_logs
        for rec in sl.log_records
    ]
    resource = base.log_requests[0].resource_logs[0].resource
    scope = base.log_requests[0].resource_logs[0].scope_logs[0].scope
    rng = random.Random(seed)
    done = 0
    while done < records:
        n = min(per_request, records - done)
        req = ExportLogsServiceRequest()
        rl = req.resource_logs.add()
        rl.resource.CopyFrom(resource)
        sl = rl.scope_logs.add()
        sl.scope.CopyFrom(scope)
        for j in range(n):
            rec = sl.log_records.add()
            rec.CopyFrom(templates[(done + j) % len(templates)])
            rec.trace_id = rng.getrandbits(128).to_bytes(16, "big")
            rec.body.string_value = f"{rec.body.string_value} page={j} records={rng.randrange(500)}"
        done += n
        yield Export("logs", req.SerializeToString(), n)
