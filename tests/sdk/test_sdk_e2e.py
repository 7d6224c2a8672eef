"""End to end: SDK → OTLP (HTTP and gRPC) → collector → chDB, then SQL on the stored rows."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

import connlog as cl
from connlog.collector.schema import names as n
from connlog.instrumentation import semconv as sc
from tests.pipeline import Pipeline
from tests.sdk.helpers import LocalServer
from tests.secrets_corpus import CASES, REGISTERED, SecretCase, send_corpus


def _rows(pipeline: Any, sql: str) -> list[tuple[Any, ...]]:
    return list(pipeline.client.query(sql).result_rows)


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_run_lands_in_traces_payloads_and_logs(
    pipeline: Pipeline, server: LocalServer, protocol: str
) -> None:
    endpoint = pipeline.http_endpoint if protocol == "http/protobuf" else pipeline.grpc_endpoint
    handle = cl.init(connector="e2e", version="1.0", tenant="acme", endpoint=endpoint, protocol=protocol)
    log = logging.getLogger("connector.e2e")
    log.setLevel(logging.INFO)
    try:
        with cl.run(sync_type="full", trigger="manual", job_id="job-e2e") as r, cl.step("contacts"):
            with cl.page(number=1), httpx.Client() as client:
                client.get(
                    server.url + "/crm/v3/objects/contacts?hapikey=e2e-hapikey-0001",
                    headers={"Authorization": "Bearer e2e-bearer-0002"},
                )
                cl.entity("1", type="contact", action="create")
                cl.entity("2", type="contact", action="update")
                log.info("page done")
            trace_id = format(r.span.get_span_context().trace_id, "032x")
        assert handle.flush()
        pipeline.flush()
        db = pipeline.database
        roles = dict(
            _rows(
                pipeline,
                f"SELECT SpanAttributes['{sc.ROLE}'] AS role, count() FROM {db}.{n.TRACES} "
                f"WHERE TraceId = '{trace_id}' GROUP BY role",
            )
        )
        assert roles == {"run": 1, "run_start": 1, "step": 1, "page": 1, "entity": 2, "http": 1}
        (run_attrs,) = _rows(
            pipeline,
            f"SELECT SpanAttributes FROM {db}.{n.TRACES} WHERE TraceId = '{trace_id}' "
            f"AND SpanAttributes['{sc.ROLE}'] = 'run'",
        )[0]
        assert run_attrs[sc.count_key("fetched")] == "2"
        assert run_attrs[sc.count_key("created")] == "1"
        assert run_attrs[sc.RUN_STATUS] == "ok" and run_attrs[sc.RUN_JOB_ID] == "job-e2e"
        http_attrs, span_id = _rows(
            pipeline,
            f"SELECT SpanAttributes, SpanId FROM {db}.{n.TRACES} WHERE TraceId = '{trace_id}' "
            f"AND SpanAttributes['{sc.ROLE}'] = 'http'",
        )[0]
        assert "hapikey=[REDACTED:query:hapikey]" in http_attrs[sc.URL_FULL]
        assert sc.HTTP_RESPONSE_BODY not in http_attrs
        assert not [k for k in http_attrs if k.startswith(sc.HTTP_REQUEST_HEADER_PREFIX)]
        req_headers, resp_body = _rows(
            pipeline,
            f"SELECT {n.C_REQUEST_HEADERS}, {n.C_RESPONSE_BODY} FROM {db}.{n.PAYLOADS} "
            f"WHERE TraceId = '{trace_id}' AND SpanId = '{span_id}'",
        )[0]
        auth = req_headers.get("authorization") or req_headers.get(
            sc.HTTP_REQUEST_HEADER_PREFIX + "authorization"
        )
        assert auth == "[REDACTED:header]"
        assert '"results"' in resp_body
        logs = _rows(pipeline, f"SELECT Body, TraceId FROM {db}.{n.LOGS} WHERE Body = 'page done'")
        assert logs == [("page done", trace_id)]
    finally:
        handle.shutdown()


def _failing_entity(case: SecretCase, method: str, url: str, resp: httpx.Response) -> None:
    with cl.entity(case.id):
        raise RuntimeError(f"call failed: {method} {url}")


def test_corpus_no_secret_in_any_column(pipeline: Pipeline, server: LocalServer) -> None:
    handle = cl.init(connector="e2e-corpus", endpoint=pipeline.http_endpoint, secrets=REGISTERED)
    log = logging.getLogger("connector.e2e.corpus")
    log.setLevel(logging.INFO)
    try:
        with cl.run(job_id="corpus"), cl.step("corpus"):
            send_corpus(server.url, log, _failing_entity)
        assert handle.flush()
        pipeline.flush()
        db = pipeline.database
        (http_count,) = _rows(
            pipeline, f"SELECT count() FROM {db}.{n.TRACES} WHERE SpanAttributes['{sc.ROLE}'] = 'http'"
        )[0]
        assert http_count == len([c for c in CASES if c.via != "log"])
        secrets = [c.secret for c in CASES]
        array = (
            "[" + ", ".join("'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'" for s in secrets) + "]"
        )
        columns = _rows(
            pipeline,
            f"SELECT table, name FROM system.columns WHERE database = '{db}' "
            f"AND table NOT IN (SELECT name FROM system.tables WHERE database = '{db}' AND engine IN "
            "('Null', 'MaterializedView', 'View'))",
        )
        assert columns
        leaks = []
        for table, column in columns:
            (hits,) = _rows(
                pipeline,
                f"SELECT count() FROM {db}.`{table}` "
                f"WHERE multiSearchAnyCaseInsensitive(toString(`{column}`), {array})",
            )[0]
            if hits:
                leaks.append((table, column, hits))
        assert not leaks, leaks
        # control: the same search does find a value that is stored
        found = [
            column
            for table, column in columns
            if _rows(
                pipeline,
                f"SELECT count() FROM {db}.`{table}` "
                f"WHERE multiSearchAnyCaseInsensitive(toString(`{column}`), ['E2E-CORPUS', 'x-echo-method'])",
            )[0][0]
        ]
        assert found
    finally:
        handle.shutdown()
