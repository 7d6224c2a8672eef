"""The whole secrets corpus end to end: nothing stored, nothing in the WAL, nothing spooled.

Three paths, each on the real engine (chDB) and the real collector:

* SDK → OTLP → collector → chDB: every case the way a connector leaks it (HTTP calls,
  response headers, its own span attributes and statuses, log lines and `extra=`
  fields, exception messages); then no secret in any column of any table, none in the
  collector's WAL, and every `keep` string still stored;
* SDK → spool: the collector is down, so batches go to the on-disk spool; no secret in
  the spool files (they hold what the SDK would have sent);
* raw OTLP → collector: the cases the SDK never sees as requests (response headers, span
  attributes, statuses, exception events, log attributes), sent by a client that does no
  redaction; the collector alone must hide them (`test_reliability_input` sends the
  request-shaped cases the same way).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Status as OtlpStatus
from opentelemetry.trace import Status, StatusCode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import connlog as cl
from connlog.collector.schema import names as n
from connlog.instrumentation import semconv as sc
from tests.pipeline import Pipeline
from tests.sdk.helpers import LocalServer, echo
from tests.secrets_corpus import ALL_CASES, CASES, OTHER_CASES, REGISTERED, SecretCase, request_for

CONNECTOR = "e2e-redaction"
RESPONSE_CASES = [c for c in OTHER_CASES if c.via == "response-header"]


async def respond(request: Request) -> Response:
    """Answers with response header `i` of the corpus (the secret travels server → client)."""
    case = RESPONSE_CASES[int(request.path_params["i"])]
    return Response(b'{"ok": true}', media_type="application/json", headers={case.name: case.value})


app = Starlette(
    routes=[
        Route("/echo", echo, methods=["GET", "POST", "PUT"]),
        Route("/echo/{rest:path}", echo, methods=["GET", "POST", "PUT"]),
        Route("/respond/{i:int}", respond),
    ]
)


@pytest.fixture(scope="module")
def corpus_server() -> Iterator[LocalServer]:
    srv = LocalServer(app)
    yield srv
    srv.stop()


def _send_everything(handle: cl.Handle, base_url: str) -> int:
    """Leak every case of the corpus through the SDK the way a connector would; HTTP calls made."""
    log = logging.getLogger("connector.e2e.redaction")
    log.setLevel(logging.INFO)
    calls = 0
    with cl.run(job_id="redaction"), cl.step("corpus"), httpx.Client() as client:
        for i, case in enumerate(ALL_CASES):
            with cl.page(number=i):
                if case.via == "log":
                    log.warning(case.value)
                elif case.via == "response-header":
                    client.get(f"{base_url}/respond/{RESPONSE_CASES.index(case)}")
                    calls += 1
                elif case.via == "attr":
                    cl.current_span().set_attribute(case.name, case.value)
                elif case.via == "extra":
                    log.warning("extra field case %d", i, extra={case.name: case.value})
                elif case.via == "status":
                    with handle.tracer.start_as_current_span(f"status case {i}") as span:
                        span.set_status(Status(StatusCode.ERROR, case.value))
                elif case.via == "exception":
                    try:
                        with cl.entity(f"exc-{i}", type="corpus"):
                            raise RuntimeError(case.value)
                    except RuntimeError:
                        log.exception("entity failed")
                else:
                    method, url, kwargs = request_for(case, base_url)
                    assert client.request(method, url, **kwargs).status_code == 200, case.id
                    calls += 1
    return calls


def _needles(cases: list[SecretCase]) -> list[str]:
    return sorted({h for c in cases for h in c.hidden})


def _leaks_in_tables(pipeline: Any, needles: list[str]) -> list[tuple[str, str, str]]:
    """(table, column, needle) for every needle found in any column of any stored table."""
    db = pipeline.database
    client = pipeline.client
    columns = client.query(
        "SELECT table, name FROM system.columns WHERE database = {db:String} AND table IN "
        "(SELECT name FROM system.tables WHERE database = {db:String} AND engine NOT IN "
        "('Null', 'MaterializedView', 'View'))",
        parameters={"db": db},
    ).result_rows
    assert columns
    found = []
    for table, column in columns:
        for start in range(0, len(needles), 100):
            chunk = needles[start : start + 100]
            rows = client.query(
                f"SELECT arrayJoin(multiSearchAllPositionsCaseInsensitive(toString(`{column}`), "
                f"{{needles:Array(String)}})) AS pos, count() FROM {db}.`{table}` GROUP BY pos",
                parameters={"needles": chunk},
            ).result_rows
            if any(pos != 0 for pos, _ in rows):
                for needle in chunk:
                    (hits,) = client.query(
                        f"SELECT countIf(positionCaseInsensitive(toString(`{column}`), {{n:String}}) > 0) "
                        f"FROM {db}.`{table}`",
                        parameters={"n": needle},
                    ).result_rows[0]
                    if hits:
                        found.append((table, column, needle))
    return found


def _stored_text(pipeline: Any) -> str:
    db = pipeline.database
    tables = pipeline.client.query(
        "SELECT name FROM system.tables WHERE database = {db:String} AND engine NOT IN "
        "('Null', 'MaterializedView', 'View')",
        parameters={"db": db},
    ).result_rows
    return "\n".join(repr(pipeline.client.query(f"SELECT * FROM {db}.`{t}`").result_rows) for (t,) in tables)


def _wal_bytes(pipeline: Any) -> bytes:
    return b"".join(p.read_bytes() for p in Path(pipeline.server.wal_dir).rglob("*") if p.is_file())


def _missing_keeps(cases: list[SecretCase], haystack: str) -> list[tuple[str, str]]:
    # Stored reprs escape quotes and backslashes: compare on a form without them.
    flat = haystack.replace("\\'", "'").replace('\\"', '"').replace("\\\\", "\\")
    return [(c.id, k) for c in cases for k in c.keep if k not in flat and k not in haystack]


def test_sdk_to_chdb_stores_no_secret_and_keeps_diagnosis(
    pipeline: Pipeline, corpus_server: LocalServer
) -> None:
    handle = cl.init(connector=CONNECTOR, endpoint=pipeline.http_endpoint, secrets=REGISTERED)
    try:
        calls = _send_everything(handle, corpus_server.url)
        assert handle.flush()
        # The WAL holds every accepted request before the batcher runs: check it now.
        wal = _wal_bytes(pipeline)
        assert CONNECTOR.encode() in wal  # control: the WAL is searchable as bytes
        wal_leaks = [c.id for c in ALL_CASES for h in c.hidden if h.encode() in wal]
        assert not wal_leaks, wal_leaks
        pipeline.flush()
        (http_spans,) = pipeline.client.query(
            f"SELECT count() FROM {pipeline.database}.{n.TRACES} WHERE SpanAttributes[{{k:String}}] = 'http'",
            parameters={"k": sc.ROLE},
        ).result_rows[0]
        assert http_spans == calls
        leaks = _leaks_in_tables(pipeline, _needles(ALL_CASES))
        assert not leaks, leaks
        # control: the same search finds values that are stored
        assert {t for t, _, _ in _leaks_in_tables(pipeline, ["db.internal:5432/crm", CONNECTOR])} >= {
            n.TRACES,
            n.LOGS,
        }
        haystack = _stored_text(pipeline)
        assert "[REDACTED:" in haystack
        assert not _missing_keeps(ALL_CASES, haystack)
    finally:
        handle.shutdown()


def _dead_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_sdk_spool_holds_no_secret(corpus_server: LocalServer, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    handle = cl.init(
        connector=CONNECTOR,
        endpoint=_dead_endpoint(),
        secrets=REGISTERED,
        spool_dir=spool,
        export_timeout=1.0,
    )
    try:
        _send_everything(handle, corpus_server.url)
        handle.flush()
        files = sorted(spool.glob("*.pb"))
        assert files, "nothing was spooled"
        data = b"".join(p.read_bytes() for p in files)
        assert CONNECTOR.encode() in data and b"[REDACTED:" in data
        leaked = [c.id for c in ALL_CASES for h in c.hidden if h.encode() in data]
        assert not leaked, leaked
    finally:
        handle.shutdown(timeout_millis=2000)


# --------------------------------------------------------------------------- raw OTLP
def _kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _raw_requests(cases: list[SecretCase]) -> tuple[ExportTraceServiceRequest, ExportLogsServiceRequest]:
    traces = ExportTraceServiceRequest()
    rs = traces.resource_spans.add()
    rs.resource.attributes.append(_kv("service.name", CONNECTOR))
    ss = rs.scope_spans.add()
    logs = ExportLogsServiceRequest()
    rl = logs.resource_logs.add()
    rl.resource.attributes.append(_kv("service.name", CONNECTOR))
    sl = rl.scope_logs.add()
    now = 1_800_000_000 * 10**9
    for i, case in enumerate(cases):
        span = ss.spans.add(
            trace_id=(i + 1).to_bytes(16, "big"),
            span_id=(i + 1).to_bytes(8, "big"),
            name=f"case {i}",
            start_time_unix_nano=now,
            end_time_unix_nano=now + 1000,
        )
        record = sl.log_records.add(time_unix_nano=now, body=AnyValue(string_value=f"case {i}"))
        if case.via == "response-header":
            span.attributes.append(_kv(sc.HTTP_RESPONSE_HEADER_PREFIX + case.name.lower(), case.value))
        elif case.via == "attr":
            span.attributes.append(_kv(case.name, case.value))
        elif case.via == "extra":
            record.attributes.append(_kv(case.name, case.value))
        elif case.via == "status":
            span.status.message = case.value
            span.status.code = OtlpStatus.STATUS_CODE_ERROR
        elif case.via == "exception":
            event = span.events.add(name="exception", time_unix_nano=now)
            event.attributes.append(_kv(sc.EXCEPTION_MESSAGE, case.value))
            record.body.string_value = case.value
        else:
            raise AssertionError(case.via)
    return traces, logs


def test_raw_otlp_other_cases_never_reach_storage_or_wal(pipeline: Pipeline) -> None:
    traces, logs = _raw_requests(OTHER_CASES)
    for path, msg in (("traces", traces), ("logs", logs)):
        resp = httpx.post(
            f"{pipeline.http_endpoint}/v1/{path}",
            content=msg.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        )
        assert resp.status_code == 200, resp.text
    wal = _wal_bytes(pipeline)
    assert CONNECTOR.encode() in wal
    assert not [c.id for c in OTHER_CASES for h in c.hidden if h.encode() in wal]
    pipeline.flush()
    assert not _leaks_in_tables(pipeline, _needles(OTHER_CASES))
    assert _leaks_in_tables(pipeline, ["state=xyz176"])  # control: the search finds stored text
    haystack = _stored_text(pipeline)
    assert not _missing_keeps(OTHER_CASES, haystack)


def test_corpus_covers_every_class_with_several_cases() -> None:
    by_class: dict[str, int] = {}
    for case in ALL_CASES:
        by_class[case.credential_class] = by_class.get(case.credential_class, 0) + 1
    assert len(ALL_CASES) >= 150 and len(CASES) >= 150
    assert all(count >= 3 for count in by_class.values()), by_class
    assert len(by_class) >= 11, by_class
