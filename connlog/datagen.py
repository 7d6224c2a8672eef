"""Deterministic, realistic connector telemetry as OTLP requests, with the truth about it.

Tests, dashboards checks and benchmarks need data that looks like production (runs with
steps, pages, records and HTTP calls with JSON bodies, failures of every cause, retries,
rate limits, running runs) *and* an independent account of what was sent, so query results
can be compared with it. The requests are OTLP protobuf, so they go through the real ingest
path (the collector's HTTP endpoint) exactly as an SDK's would.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter as Tally
from collections.abc import Iterator
from dataclasses import dataclass, field

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from connlog.instrumentation import semconv as sc

AttrValue = str | int | bool | float

CONNECTORS: tuple[str, ...] = ("hubspot", "chargebee", "netsuite")
TENANTS: tuple[str, ...] = ("acme", "globex", "initech")
STEPS: dict[str, tuple[str, ...]] = {
    "hubspot": ("contacts", "companies", "deals"),
    "chargebee": ("customers", "subscriptions", "invoices"),
    "netsuite": ("vendors", "bills"),
}
HOSTS: dict[str, str] = {
    "hubspot": "api.hubapi.com",
    "chargebee": "acme.chargebee.com",
    "netsuite": "1234.suitetalk.api.netsuite.com",
}
# (status, cause, exception type, message) of the calls that fail.
FAILURES: tuple[tuple[int, sc.FailureCause, str, str], ...] = (
    (401, sc.FailureCause.AUTH, "httpx.HTTPStatusError", "Client error '401 Unauthorized'"),
    (404, sc.FailureCause.NOT_FOUND, "httpx.HTTPStatusError", "Client error '404 Not Found'"),
    (429, sc.FailureCause.RATE_LIMITED, "httpx.HTTPStatusError", "Client error '429 Too Many Requests'"),
    (500, sc.FailureCause.SERVER_ERROR, "httpx.HTTPStatusError", "Server error '500 Internal Server Error'"),
    (0, sc.FailureCause.TIMEOUT, "httpx.ReadTimeout", "timed out"),
    (200, sc.FailureCause.SHAPE_MISMATCH, "json.decoder.JSONDecodeError", "Expecting value: line 1 column 1"),
)
SEVERITIES: tuple[tuple[int, str], ...] = ((9, "INFO"), (13, "WARN"), (17, "ERROR"), (5, "DEBUG"))


@dataclass
class RunTruth:
    """What one generated run is, for comparing query answers with what was sent."""

    run_id: str
    connector: str
    tenant: str
    version: str
    sync_type: str
    trigger: str
    job_id: str
    start_ns: int
    end_ns: int
    status: str
    exit_code: int | None
    failure_cause: str
    counters: dict[str, int]
    steps: list[str]
    external_ids: list[str]
    calls: int
    failed_calls: int
    span_count: int


@dataclass
class Dataset:
    trace_requests: list[ExportTraceServiceRequest] = field(default_factory=list)
    log_requests: list[ExportLogsServiceRequest] = field(default_factory=list)
    runs: list[RunTruth] = field(default_factory=list)
    spans: int = 0
    logs: int = 0
    call_causes: Tally[str] = field(default_factory=Tally)  # failed calls per cause
    log_severities: Tally[str] = field(default_factory=Tally)

    def run(self, run_id: str) -> RunTruth:
        return next(r for r in self.runs if r.run_id == run_id)


def _kv(key: str, value: AttrValue) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _attrs(d: dict[str, AttrValue]) -> list[KeyValue]:
    return [_kv(k, v) for k, v in d.items()]


class _Ids:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def trace(self) -> bytes:
        return self.rng.getrandbits(128).to_bytes(16, "big")

    def span(self) -> bytes:
        return (self.rng.getrandbits(63) | 1).to_bytes(8, "big")


def _json_body(rng: random.Random, size: int, ident: str) -> str:
    """A JSON document of about `size` bytes that looks like a CRM/billing record page."""
    rec: dict[str, object] = {
        "id": ident,
        "properties": {"email": f"{ident}@example.com", "name": f"Name {ident}"},
    }
    filler: list[str] = []
    length = len(json.dumps(rec))  # running length: the loop stays linear in the body size
    while length < size:
        note = f"note {rng.randrange(10**9)} lorem ipsum dolor sit amet"
        filler.append(note)
        length += len(note)
    rec["notes"] = filler
    return json.dumps(rec)


@dataclass
class _Builder:
    """Builds the spans of one run; counts what it builds."""

    rng: random.Random
    ids: _Ids
    trace_id: bytes
    connector: str
    body_size: tuple[int, int]
    spans: list[Span] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    calls: int = 0
    failed_calls: int = 0
    causes: Tally[str] = field(default_factory=Tally)

    def span(
        self,
        name: str,
        parent: bytes,
        start: int,
        end: int,
        attrs: dict[str, AttrValue],
        *,
        kind: Span.SpanKind.ValueType = Span.SPAN_KIND_INTERNAL,
        error: str = "",
        events: list[Span.Event] | None = None,
        span_id: bytes | None = None,
    ) -> bytes:
        sid = span_id or self.ids.span()
        status = (
            Status(code=Status.STATUS_CODE_ERROR, message=error)
            if error
            else Status(code=Status.STATUS_CODE_OK)
        )
        self.spans.append(
            Span(
                trace_id=self.trace_id,
                span_id=sid,
                parent_span_id=parent,
                name=name,
                kind=kind,
                start_time_unix_nano=start,
                end_time_unix_nano=end,
                attributes=_attrs(attrs),
                status=status,
                events=events or [],
            )
        )
        return sid

    def call(
        self,
        parent: bytes,
        start: int,
        method: str,
        path: str,
        failure: tuple[int, sc.FailureCause, str, str] | None,
        *,
        resend: int = 0,
        record: str = "",
    ) -> tuple[int, sc.FailureCause | None]:
        host = HOSTS[self.connector]
        duration = self.rng.randint(20, 900) * 1_000_000
        status = 200 if failure is None else failure[0]
        cause = None if failure is None else failure[1]
        url = f"https://{host}{path}?limit=100"
        attrs: dict[str, AttrValue] = {
            sc.ROLE: sc.Role.HTTP.value,
            sc.HTTP_DIRECTION: sc.Direction.OUTGOING.value,
            sc.HTTP_REQUEST_METHOD: method,
            sc.URL_FULL: url,
            sc.URL_PATH: path,
            sc.URL_TEMPLATE: path.rsplit("/", 1)[0] + "/{id}" if record else path,
            sc.SERVER_ADDRESS: host,
            sc.SERVER_PORT: 443,
            sc.HTTP_REQUEST_HEADER_PREFIX + "authorization": sc.redacted("header"),
            sc.HTTP_REQUEST_HEADER_PREFIX + "accept": "application/json",
            sc.HTTP_REQUEST_BODY: json.dumps({"id": record}) if method != "GET" else "",
        }
        if resend:
            attrs[sc.HTTP_REQUEST_RESEND_COUNT] = resend
        if status:
            body = _json_body(self.rng, self.rng.randint(*self.body_size), record or path)
            attrs[sc.HTTP_RESPONSE_STATUS_CODE] = status
            attrs[sc.HTTP_RESPONSE_HEADER_PREFIX + "content-type"] = "application/json"
            attrs[sc.HTTP_RESPONSE_HEADER_PREFIX + "x-ratelimit-remaining"] = str(self.rng.randint(0, 100))
            attrs[sc.HTTP_RESPONSE_BODY] = (
                body if status < 400 else json.dumps({"error": failure and failure[3]})
            )
            attrs[sc.HTTP_RESPONSE_BODY_SIZE] = len(attrs[sc.HTTP_RESPONSE_BODY])  # type: ignore[arg-type]
            attrs[sc.RATELIMIT_REMAINING] = int(
                str(attrs[sc.HTTP_RESPONSE_HEADER_PREFIX + "x-ratelimit-remaining"])
            )
        error = ""
        if cause is not None and cause != sc.FailureCause.SHAPE_MISMATCH:
            attrs[sc.FAILURE_CAUSE] = cause.value
            attrs[sc.ERROR_TYPE] = str(status) if status else "httpx.ReadTimeout"
            error = failure[3] if failure else ""
            self.failed_calls += 1
            self.causes[cause.value] += 1
            if cause == sc.FailureCause.RATE_LIMITED:
                attrs[sc.RATE_LIMITED] = "true"
                attrs[sc.RETRY_AFTER] = 2
        self.calls += 1
        self.span(method, parent, start, start + duration, attrs, kind=Span.SPAN_KIND_CLIENT, error=error)
        return duration, cause

    def log(self, span_id: bytes, ts: int, severity: tuple[int, str], body: str) -> None:
        self.logs.append(
            LogRecord(
                time_unix_nano=ts,
                observed_time_unix_nano=ts,
                severity_number=severity[0],  # type: ignore[arg-type]
                severity_text=severity[1],
                body=AnyValue(string_value=body),
                trace_id=self.trace_id,
                span_id=span_id,
                attributes=_attrs({sc.LOG_RECORD_LOGGER: f"connectors.{self.connector}"}),
            )
        )


def _fault_event(ts: int, failure: tuple[int, sc.FailureCause, str, str], url: str) -> Span.Event:
    attrs: dict[str, AttrValue] = {
        sc.EXCEPTION_TYPE: failure[2],
        sc.EXCEPTION_MESSAGE: f"{failure[3]} for url '{url}'",
        sc.EXCEPTION_STACKTRACE: f'Traceback (most recent call last):\n  File "sync.py"\n{failure[2]}\n',
        sc.FAULT_URL: url,
    }
    if failure[0]:
        attrs[sc.FAULT_STATUS_CODE] = failure[0]
    return Span.Event(time_unix_nano=ts, name=sc.EXCEPTION_EVENT, attributes=_attrs(attrs))


def _gen_run(
    rng: random.Random,
    ids: _Ids,
    connector: str,
    tenant: str,
    start: int,
    *,
    failure: tuple[int, sc.FailureCause, str, str] | None,
    running: bool,
    body_size: tuple[int, int],
    pages: tuple[int, int],
    entities: tuple[int, int],
    run_no: int,
) -> tuple[_Builder, RunTruth]:
    b = _Builder(rng=rng, ids=ids, trace_id=ids.trace(), connector=connector, body_size=body_size)
    run_sid = ids.span()
    sync_type = rng.choice([t.value for t in sc.SyncType])
    trigger = rng.choice([t.value for t in sc.Trigger])
    job_id = f"job-{connector}-{tenant}"
    run_attrs: dict[str, AttrValue] = {
        sc.ROLE: sc.Role.RUN.value,
        sc.RUN_SYNC_TYPE: sync_type,
        sc.RUN_TRIGGER: trigger,
        sc.RUN_JOB_ID: job_id,
        sc.RUN_JOB_TICK: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start // 10**9)),
        sc.CONNECTOR_TENANT: tenant,
    }
    # The start marker, as the SDK emits it: child of the run span, at the run's start.
    b.span(sc.SPAN_RUN_START, run_sid, start, start, {**run_attrs, sc.ROLE: sc.Role.RUN_START.value})
    run_counts: Tally[str] = Tally()
    t = start + 5_000_000
    step_names = list(STEPS[connector])
    fail = failure is not None
    fail_at = (rng.randrange(len(step_names)), failure) if failure else None
    run_cause = ""
    external_ids: list[str] = []
    done_steps: list[str] = []
    for si, step in enumerate(step_names):
        step_sid = ids.span()
        step_start = t
        step_counts: Tally[str] = Tally()
        step_failure = fail_at[1] if fail_at and fail_at[0] == si else None
        step_rate_limited = False
        n_pages = rng.randint(*pages)
        for pi in range(n_pages):
            page_sid = ids.span()
            page_start = t
            page_counts: Tally[str] = Tally()
            page_failure = step_failure if step_failure and pi == n_pages - 1 else None
            # A rate-limited page: a 429 then a successful resend.
            if rng.random() < 0.1 and not page_failure:
                d, _ = b.call(page_sid, t, "GET", f"/crm/v3/objects/{step}", FAILURES[2])
                t += d + 1_000_000
                step_rate_limited = True
                d, _ = b.call(page_sid, t, "GET", f"/crm/v3/objects/{step}", None, resend=1)
            else:
                d, _ = b.call(
                    page_sid,
                    t,
                    "GET",
                    f"/crm/v3/objects/{step}",
                    page_failure
                    if page_failure and page_failure[1] != sc.FailureCause.SHAPE_MISMATCH
                    else None,
                )
            t += d
            page_events = []
            page_error = ""
            page_attrs: dict[str, AttrValue] = {
                sc.ROLE: sc.Role.PAGE.value,
                sc.PAGE_NUMBER: pi + 1,
                sc.STEP_NAME: step,
            }
            if pi:
                page_attrs[sc.PAGE_CURSOR] = f"cursor-{run_no}-{si}-{pi}"
            if page_failure:
                url = f"https://{HOSTS[connector]}/crm/v3/objects/{step}?limit=100"
                page_events.append(_fault_event(t, page_failure, url))
                page_attrs[sc.FAILURE_CAUSE] = page_failure[1].value
                page_error = page_failure[3]
                run_cause = page_failure[1].value
            else:
                for _ in range(rng.randint(*entities)):
                    ext = f"{step[:3]}-{rng.randrange(10**6):06d}"
                    external_ids.append(ext)
                    action: sc.EntityAction = rng.choice(
                        [a for a in sc.EntityAction if a != sc.EntityAction.FAIL]
                    )
                    if rng.random() < 0.05:
                        action = sc.EntityAction.FAIL
                    ent_attrs: dict[str, AttrValue] = {
                        sc.ROLE: sc.Role.ENTITY.value,
                        sc.ENTITY_EXTERNAL_ID: ext,
                        sc.ENTITY_TYPE: step.rstrip("s"),
                        sc.ENTITY_ACTION: action.value,
                        sc.STEP_NAME: step,
                    }
                    if action in (sc.EntityAction.CREATE, sc.EntityAction.UPDATE, sc.EntityAction.UNCHANGED):
                        ent_attrs[sc.ENTITY_INTERNAL_ID] = f"int-{ext}"
                    if action == sc.EntityAction.SKIP:
                        ent_attrs[sc.ENTITY_REASON] = "archived in source"
                    ent_error = ""
                    if action == sc.EntityAction.FAIL:
                        ent_attrs[sc.ENTITY_REASON] = "missing required field email"
                        ent_attrs[sc.FAILURE_CAUSE] = sc.FailureCause.SHAPE_MISMATCH.value
                        ent_error = "missing required field email"
                    ent_sid = ids.span()
                    ent_start = t
                    if action in (sc.EntityAction.CREATE, sc.EntityAction.UPDATE):
                        method = "POST" if action == sc.EntityAction.CREATE else "PATCH"
                        d, _ = b.call(ent_sid, t, method, f"/internal/records/{ext}", None, record=ext)
                        t += d
                    t += 1_000_000
                    b.span(
                        sc.SPAN_ENTITY, page_sid, ent_start, t, ent_attrs, error=ent_error, span_id=ent_sid
                    )
                    page_counts[sc.Counter.FETCHED.value] += 1
                    page_counts[sc.ACTION_COUNTER[action].value] += 1
            for k, v in page_counts.items():
                page_attrs[sc.count_key(k)] = v
            t += 2_000_000
            b.span(
                sc.SPAN_PAGE,
                step_sid,
                page_start,
                t,
                page_attrs,
                error=page_error,
                events=page_events,
                span_id=page_sid,
            )
            step_counts.update(page_counts)
            if page_failure:
                break
        step_attrs: dict[str, AttrValue] = {sc.ROLE: sc.Role.STEP.value, sc.STEP_NAME: step}
        step_attrs.update({sc.count_key(k): v for k, v in step_counts.items()})
        step_attrs[sc.ERROR_COUNT] = step_counts[sc.Counter.FAILED.value] + (1 if step_failure else 0)
        if step_rate_limited:
            step_attrs[sc.RATE_LIMITED] = "true"
        if step_failure:
            step_attrs[sc.FAILURE_CAUSE] = step_failure[1].value
        t += 3_000_000
        b.span(
            sc.SPAN_STEP,
            run_sid,
            step_start,
            t,
            step_attrs,
            error=step_failure[3] if step_failure else "",
            span_id=step_sid,
        )
        b.log(step_sid, t, SEVERITIES[0], f"step {step} done: {dict(step_counts)}")
        run_counts.update(step_counts)
        done_steps.append(step)
        if step_failure:
            b.log(step_sid, t, SEVERITIES[2], f"step {step} failed: {step_failure[3]}")
            break
        if running and si == 0:
            break
    status = (
        sc.RunStatus.RUNNING.value
        if running
        else (sc.RunStatus.ERROR.value if fail else sc.RunStatus.OK.value)
    )
    exit_code = None if running else (1 if fail else 0)
    counters = {c.value: run_counts[c.value] for c in sc.Counter}
    if not running:
        attrs = {**run_attrs, sc.RUN_STATUS: status, sc.RUN_EXIT_CODE: exit_code or 0}
        attrs.update({sc.count_key(k): v for k, v in counters.items()})
        attrs[sc.ERROR_COUNT] = counters[sc.Counter.FAILED.value] + (1 if fail else 0)
        if run_cause:
            attrs[sc.FAILURE_CAUSE] = run_cause
        b.spans.append(
            Span(
                trace_id=b.trace_id,
                span_id=run_sid,
                name=sc.SPAN_RUN,
                kind=Span.SPAN_KIND_INTERNAL,
                start_time_unix_nano=start,
                end_time_unix_nano=t,
                attributes=_attrs(attrs),
                status=Status(
                    code=Status.STATUS_CODE_ERROR if fail else Status.STATUS_CODE_OK,
                    message=fail_at[1][3] if fail_at else "",
                ),
            )
        )
    b.log(run_sid, start, SEVERITIES[3], f"run started for {tenant}")
    truth = RunTruth(
        run_id=b.trace_id.hex(),
        connector=connector,
        tenant=tenant,
        version="1.4.0",
        sync_type=sync_type,
        trigger=trigger,
        job_id=job_id,
        start_ns=start,
        end_ns=t,
        status=status,
        exit_code=exit_code,
        failure_cause=run_cause,
        counters=counters,
        steps=done_steps,
        external_ids=external_ids,
        calls=b.calls,
        failed_calls=b.failed_calls,
        span_count=len(b.spans),
    )
    return b, truth


def generate(
    *,
    seed: int = 7,
    runs: int = 24,
    failure_rate: float = 0.3,
    running: int = 1,
    connectors: tuple[str, ...] = CONNECTORS,
    tenants: tuple[str, ...] = TENANTS,
    end_ns: int | None = None,
    span_days: float = 1.0,
    body_size: tuple[int, int] = (200, 2000),
    pages: tuple[int, int] = (1, 3),
    entities: tuple[int, int] = (2, 5),
) -> Dataset:
    """A dataset of `runs` runs spread over `span_days` ending at `end_ns` (default: now).

    The same seed and end time give the same bytes. The last `running` runs have a start
    marker but no run span (still running). Roughly `failure_rate` of the rest fail, cycling
    through every failure cause.
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not crypto
    ids = _Ids(rng)
    end = end_ns if end_ns is not None else time.time_ns()
    begin = end - int(span_days * 86400 * 10**9)
    ds = Dataset()
    n_fail = round(failure_rate * max(runs - running, 0))
    # Failing runs, each with the next cause in turn so a small dataset has every cause.
    fail_slots = sorted(rng.sample(range(max(runs - running, 0)), n_fail)) if n_fail else []
    failure_of = {slot: FAILURES[k % len(FAILURES)] for k, slot in enumerate(fail_slots)}
    scope = InstrumentationScope(name=sc.INSTRUMENTATION_SCOPE, version="0.1.0")
    for i in range(runs):
        connector = connectors[i % len(connectors)]
        tenant = tenants[(i // len(connectors)) % len(tenants)]
        is_running = i >= runs - running
        start = begin + (end - begin) * i // max(runs, 1) + rng.randrange(10**9)
        if is_running:
            start = end - 60 * 10**9
        b, truth = _gen_run(
            rng,
            ids,
            connector,
            tenant,
            start,
            failure=failure_of.get(i),
            running=is_running,
            body_size=body_size,
            pages=pages,
            entities=entities,
            run_no=i,
        )
        resource = Resource(
            attributes=_attrs(
                {
                    sc.SERVICE_NAME: connector,
                    sc.SERVICE_VERSION: "1.4.0",
                    sc.CONNECTOR_TENANT: tenant,
                    sc.DEPLOYMENT_ENVIRONMENT: "prod",
                    sc.PROCESS_PID: 4242,
                }
            )
        )
        ds.trace_requests.append(
            ExportTraceServiceRequest(
                resource_spans=[
                    ResourceSpans(resource=resource, scope_spans=[ScopeSpans(scope=scope, spans=b.spans)])
                ]
            )
        )
        ds.log_requests.append(
            ExportLogsServiceRequest(
                resource_logs=[
                    ResourceLogs(resource=resource, scope_logs=[ScopeLogs(scope=scope, log_records=b.logs)])
                ]
            )
        )
        ds.runs.append(truth)
        ds.spans += len(b.spans)
        ds.logs += len(b.logs)
        ds.call_causes.update(b.causes)
        ds.log_severities.update(rec.severity_text for rec in b.logs)
    ds.call_causes = +ds.call_causes
    return ds


def iter_bodies(ds: Dataset) -> Iterator[tuple[str, bytes]]:
    """(path, protobuf body) for every request, traces first: what an exporter would POST."""
    for tr in ds.trace_requests:
        yield "/v1/traces", tr.SerializeToString()
    for lr in ds.log_requests:
        yield "/v1/logs", lr.SerializeToString()


def send(ds: Dataset, endpoint: str, *, timeout: float = 30.0) -> None:
    """POST the dataset to an OTLP/HTTP endpoint (our collector or any other); raise on non-2xx."""
    import httpx

    with httpx.Client(base_url=endpoint, timeout=timeout) as client:
        for path, body in iter_bodies(ds):
            resp = client.post(path, content=body, headers={"Content-Type": "application/x-protobuf"})
            resp.raise_for_status()


# --------------------------------------------------------------------------- jobs, operations, stdio
# The seed features of issue 12.9, apart from `generate` so existing datasets keep their bytes:
# a scheduled job's ticks (one can be skipped), asynchronous operations (runs of another
# kind) and process output captured by `init(capture_stdio=True)`.

TRACEBACK: tuple[str, ...] = (
    "Traceback (most recent call last):",
    '  File "/app/build.py", line 42, in <module>',
    "    compile_assets(config)",
    '  File "/app/build.py", line 17, in compile_assets',
    "    raise RuntimeError('asset bundle failed: missing file styles.css')",
    "RuntimeError: asset bundle failed: missing file styles.css",
)


@dataclass
class _Resource:
    connector: str
    tenant: str

    def resource(self) -> Resource:
        return Resource(
            attributes=_attrs(
                {
                    sc.SERVICE_NAME: self.connector,
                    sc.SERVICE_VERSION: "1.4.0",
                    sc.CONNECTOR_TENANT: self.tenant,
                    sc.DEPLOYMENT_ENVIRONMENT: "prod",
                }
            )
        )


def _append(
    ds: Dataset,
    res: _Resource,
    spans: list[Span],
    logs: list[LogRecord],
    stdio: list[LogRecord] | None = None,
) -> None:
    scope = InstrumentationScope(name=sc.INSTRUMENTATION_SCOPE, version="0.1.0")
    resource = res.resource()
    ds.trace_requests.append(
        ExportTraceServiceRequest(
            resource_spans=[
                ResourceSpans(resource=resource, scope_spans=[ScopeSpans(scope=scope, spans=spans)])
            ]
        )
    )
    scopes = [ScopeLogs(scope=scope, log_records=logs)]
    if stdio:
        scopes.append(ScopeLogs(scope=InstrumentationScope(name=sc.STDIO_SCOPE), log_records=stdio))
    ds.log_requests.append(
        ExportLogsServiceRequest(resource_logs=[ResourceLogs(resource=resource, scope_logs=scopes)])
    )
    ds.spans += len(spans)
    ds.logs += len(logs) + len(stdio or [])
    ds.log_severities.update(rec.severity_text for rec in logs + (stdio or []))


def _iso(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns // 10**9))


def _lean_run(
    ids: _Ids,
    res: _Resource,
    start: int,
    duration: int,
    attrs: dict[str, AttrValue],
    *,
    status: str,
    error: str = "",
    cause: str = "",
    fetched: int = 0,
) -> tuple[bytes, bytes, list[Span]]:
    """A run (or operation) with its start marker and, unless still running, its run span and one
    step: what the SDK sends for a short job, without pages or calls."""
    trace, run_sid = ids.trace(), ids.span()
    base = {**attrs, sc.CONNECTOR_TENANT: res.tenant}
    spans = [
        Span(
            trace_id=trace, span_id=ids.span(), parent_span_id=run_sid, name=sc.SPAN_RUN_START,
            kind=Span.SPAN_KIND_INTERNAL, start_time_unix_nano=start, end_time_unix_nano=start,
            attributes=_attrs({**base, sc.ROLE: sc.Role.RUN_START.value, sc.RUN_STATUS: sc.RunStatus.RUNNING.value}),
            status=Status(code=Status.STATUS_CODE_OK),
        )
    ]  # fmt: skip
    if status == sc.RunStatus.RUNNING.value:
        return trace, run_sid, spans
    end = start + duration
    counts = {sc.count_key(sc.Counter.FETCHED): fetched, sc.count_key(sc.Counter.UNCHANGED): fetched}
    failed = status == sc.RunStatus.ERROR.value
    code = Status.STATUS_CODE_ERROR if failed else Status.STATUS_CODE_OK
    step_attrs: dict[str, AttrValue] = {sc.ROLE: sc.Role.STEP.value, sc.STEP_NAME: "sync", **counts}
    run_attrs: dict[str, AttrValue] = {
        **base, sc.ROLE: sc.Role.RUN.value, sc.RUN_STATUS: status, sc.RUN_EXIT_CODE: 1 if failed else 0, **counts,
    }  # fmt: skip
    if cause:
        step_attrs[sc.FAILURE_CAUSE] = run_attrs[sc.FAILURE_CAUSE] = cause
        run_attrs[sc.ERROR_COUNT] = step_attrs[sc.ERROR_COUNT] = 1
    events = []
    if failed:
        events.append(
            Span.Event(
                time_unix_nano=end - 1_000_000, name=sc.EXCEPTION_EVENT,
                attributes=_attrs({sc.EXCEPTION_TYPE: "RuntimeError", sc.EXCEPTION_MESSAGE: error,
                                   sc.EXCEPTION_STACKTRACE: "\n".join(TRACEBACK)}),
            )
        )  # fmt: skip
    spans.append(
        Span(
            trace_id=trace, span_id=ids.span(), parent_span_id=run_sid, name=sc.SPAN_STEP,
            kind=Span.SPAN_KIND_INTERNAL, start_time_unix_nano=start + 1_000_000, end_time_unix_nano=end - 500_000,
            attributes=_attrs(step_attrs), status=Status(code=code, message=error), events=events,
        )
    )  # fmt: skip
    spans.append(
        Span(
            trace_id=trace, span_id=run_sid, name=sc.SPAN_RUN, kind=Span.SPAN_KIND_INTERNAL,
            start_time_unix_nano=start, end_time_unix_nano=end, attributes=_attrs(run_attrs),
            status=Status(code=code, message=error),
        )
    )  # fmt: skip
    return trace, run_sid, spans


def _truth(
    trace: bytes, res: _Resource, attrs: dict[str, AttrValue], start: int, end: int, status: str, cause: str
) -> RunTruth:
    running = status == sc.RunStatus.RUNNING.value
    return RunTruth(
        run_id=trace.hex(), connector=res.connector, tenant=res.tenant, version="1.4.0",
        sync_type=str(attrs.get(sc.RUN_SYNC_TYPE, "")), trigger=str(attrs.get(sc.RUN_TRIGGER, "")),
        job_id=str(attrs.get(sc.RUN_JOB_ID, "")), start_ns=start, end_ns=end, status=status,
        exit_code=None if running else int(status == sc.RunStatus.ERROR.value), failure_cause=cause,
        counters={c.value: 0 for c in sc.Counter}, steps=[] if running else ["sync"], external_ids=[],
        calls=0, failed_calls=0, span_count=1 if running else 3,
    )  # fmt: skip


def job_runs(
    ticks_ns: list[int],
    *,
    connector: str = "hubspot",
    tenant: str = "acme",
    job_id: str = "hubspot-every-15min",
    schedule: str = "every 900s",
    failed: frozenset[int] = frozenset(),
    delay_ns: int = 2 * 10**9,
    record_tick: bool = True,
    seed: int = 5,
    ds: Dataset | None = None,
) -> Dataset:
    """Runs of a scheduled job, one per tick time (start `delay_ns` after it); the ticks at the
    indexes in `failed` end in error. Leave a time out of `ticks_ns` to make a tick that
    did not fire. `record_tick=False` sends no `job_tick`, as an SDK not told the tick."""
    ds = ds if ds is not None else Dataset()
    ids = _Ids(random.Random(seed))  # noqa: S311 - reproducible test data
    res = _Resource(connector, tenant)
    for i, tick in enumerate(ticks_ns):
        attrs: dict[str, AttrValue] = {
            sc.RUN_KIND: sc.RunKind.SYNC.value, sc.RUN_SYNC_TYPE: sc.SyncType.INCREMENTAL.value,
            sc.RUN_TRIGGER: sc.Trigger.SCHEDULE.value, sc.RUN_JOB_ID: job_id, sc.RUN_SCHEDULE: schedule,
        }  # fmt: skip
        if record_tick:
            attrs[sc.RUN_JOB_TICK] = _iso(tick)
        status = sc.RunStatus.ERROR.value if i in failed else sc.RunStatus.OK.value
        cause = sc.FailureCause.SERVER_ERROR.value if i in failed else ""
        start, dur = tick + delay_ns, 3 * 10**9
        trace, run_sid, spans = _lean_run(
            ids,
            res,
            start,
            dur,
            attrs,
            status=status,
            error="upstream 503" if cause else "",
            cause=cause,
            fetched=4,
        )
        logs = [
            _log_record(trace, run_sid, start, (9, "INFO"), f"tick {_iso(tick)}: incremental sync", connector)
        ]
        _append(ds, res, spans, logs)
        ds.runs.append(_truth(trace, res, attrs, start, start + dur, status, cause))
    return ds


def _log_record(
    trace: bytes, span: bytes, ts: int, severity: tuple[int, str], body: str, connector: str,
    stream: sc.LogStream | None = None,
) -> LogRecord:  # fmt: skip
    attrs: dict[str, AttrValue] = (
        {sc.LOG_STREAM: stream.value}
        if stream is not None
        else {sc.LOG_RECORD_LOGGER: f"connectors.{connector}"}
    )
    return LogRecord(
        time_unix_nano=ts, observed_time_unix_nano=ts, severity_number=severity[0],  # type: ignore[arg-type]
        severity_text=severity[1], body=AnyValue(string_value=body), trace_id=trace, span_id=span,
        attributes=_attrs(attrs),
    )  # fmt: skip


def operations(end_ns: int | None = None, *, connector: str = "hubspot", tenant: str = "acme", seed: int = 6,
               ds: Dataset | None = None) -> Dataset:  # fmt: skip
    """Three operations (runs of another kind) ending before `end_ns`: a deploy to staging that
    was queued then done, a build that failed with its traceback on stderr (captured stdio),
    and an environment sync still running; the build and the deploy print to stdout too."""
    ds = ds if ds is not None else Dataset()
    end = end_ns if end_ns is not None else time.time_ns()
    ids = _Ids(random.Random(seed))  # noqa: S311 - reproducible test data
    res = _Resource(connector, tenant)
    minute = 60 * 10**9
    specs: tuple[tuple[sc.RunKind, str, str, int, int, str], ...] = (
        (sc.RunKind.DEPLOY, "ops-bot", "staging", 50 * minute, 4 * minute, sc.OperationStatus.DONE.value),
        (sc.RunKind.BUILD, "ci", "image:1.4.1", 30 * minute, 2 * minute, sc.OperationStatus.FAILED.value),
        (sc.RunKind.ENVIRONMENT_SYNC, "alice", "prod", 5 * minute, 0, sc.OperationStatus.RUNNING.value),
    )
    for kind, owner, target, ago, duration, op_status in specs:
        queued = end - ago
        start = queued + 30 * 10**9 if kind == sc.RunKind.DEPLOY else queued
        attrs: dict[str, AttrValue] = {
            sc.RUN_KIND: kind.value, sc.OPERATION_OWNER: owner, sc.OPERATION_TARGET: target,
            sc.OPERATION_STATUS: op_status,
        }  # fmt: skip
        if kind == sc.RunKind.DEPLOY:
            attrs[sc.OPERATION_QUEUED_AT] = _iso(queued)
        status = {
            sc.OperationStatus.DONE.value: sc.RunStatus.OK.value,
            sc.OperationStatus.FAILED.value: sc.RunStatus.ERROR.value,
        }.get(op_status, sc.RunStatus.RUNNING.value)
        error = TRACEBACK[-1] if status == sc.RunStatus.ERROR.value else ""
        cause = sc.FailureCause.ERROR.value if error else ""
        trace, run_sid, spans = _lean_run(
            ids, res, start, duration, attrs, status=status, error=error, cause=cause
        )
        for s in spans:  # the marker says running whatever the outcome, as the SDK's does
            if s.name == sc.SPAN_RUN_START:
                s.attributes.append(_kv(sc.OPERATION_STATUS, sc.OperationStatus.RUNNING.value))
        logs = [
            _log_record(trace, run_sid, start, (9, "INFO"), f"{kind.value} of {target} by {owner}", connector)
        ]
        out = [
            _log_record(trace, run_sid, start + k * 10**9, (9, "INFO"), line, connector, sc.LogStream.STDOUT)
            for k, line in enumerate((f"starting {kind.value} of {target}", "step 1/2 done"), start=1)
        ]
        if error:
            t = start + duration - 2 * 10**6
            out += [
                _log_record(trace, run_sid, t + k, (17, "ERROR"), line, connector, sc.LogStream.STDERR)
                for k, line in enumerate(TRACEBACK)
            ]
        _append(ds, res, spans, logs, out)
        ds.runs.append(_truth(trace, res, attrs, start, start + duration, status, cause))
    return ds


def extras(end_ns: int | None = None) -> Dataset:
    """The demo's seed features: a job every 15 minutes over the last two hours with one tick
    skipped (so a missed tick shows) and one failed, plus `operations` (with stdout/stderr)."""
    end = end_ns if end_ns is not None else time.time_ns()
    step = 900 * 10**9
    last = end - end % step  # the newest tick at or before `end`
    ticks = [last - k * step for k in range(8, -1, -1) if k != 3]  # the tick 45 minutes before is missing
    ds = job_runs(ticks, failed=frozenset({2}))
    return operations(end, ds=ds)
