"""The connector model: run/step/page/entity spans, roll-up, faults, context propagation."""

from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import StatusCode

import connlog as cl
from connlog.instrumentation import semconv as sc
from tests.sdk.helpers import Telemetry, attrs, start_telemetry


def test_hierarchy_roles_and_attributes(tel: Telemetry) -> None:
    with cl.run(
        sync_type="incremental", trigger="schedule", job_id="job-42", job_tick="2026-11-22T03:00:00Z"
    ) as r:
        with cl.step("contacts"):
            with cl.page(number=1, cursor="abc"):
                cl.entity("ext-1", type="contact", internal_id="c-1", action="create")
        r.set_exit_code(0)
    run = tel.one("run")
    step = tel.one("step")
    page = tel.one("page")
    ent = tel.one("entity")
    assert run.name == sc.SPAN_RUN and run.parent is None
    assert step.parent.span_id == run.context.span_id
    assert page.parent.span_id == step.context.span_id
    assert ent.parent.span_id == page.context.span_id
    a = attrs(run)
    assert a[sc.RUN_SYNC_TYPE] == "incremental"
    assert a[sc.RUN_TRIGGER] == "schedule"
    assert a[sc.RUN_JOB_ID] == "job-42"
    assert a[sc.RUN_JOB_TICK] == "2026-11-22T03:00:00Z"
    assert a[sc.RUN_STATUS] == "ok" and a[sc.RUN_EXIT_CODE] == 0
    assert run.status.status_code is StatusCode.OK
    assert attrs(step)[sc.STEP_NAME] == "contacts"
    assert attrs(page)[sc.PAGE_NUMBER] == 1 and attrs(page)[sc.PAGE_CURSOR] == "abc"
    e = attrs(ent)
    assert (e[sc.ENTITY_EXTERNAL_ID], e[sc.ENTITY_TYPE], e[sc.ENTITY_INTERNAL_ID], e[sc.ENTITY_ACTION]) == (
        "ext-1",
        "contact",
        "c-1",
        "create",
    )
    res = run.resource.attributes
    assert res[sc.SERVICE_NAME] == "testconn" and sc.PROCESS_PID in res


def test_resource_attributes() -> None:
    t = start_telemetry(connector="hubspot", version="1.4.0", environment="prod", tenant="acme")
    try:
        with cl.run(sync_type="full"):
            pass
        run = t.one("run")
        res = run.resource.attributes
        assert res[sc.SERVICE_NAME] == "hubspot"
        assert res[sc.SERVICE_VERSION] == "1.4.0"
        assert res[sc.DEPLOYMENT_ENVIRONMENT] == "prod"
        assert res[sc.CONNECTOR_TENANT] == "acme"
        assert attrs(run)[sc.CONNECTOR_TENANT] == "acme"
    finally:
        t.handle.shutdown()


def test_run_start_marker_is_flushed_while_running(tel: Telemetry) -> None:
    import time

    with cl.run(sync_type="full", job_id="j"):
        deadline = time.monotonic() + 5
        markers = []
        while time.monotonic() < deadline and not markers:
            markers = [
                s for s in tel.spans_exporter.get_finished_spans() if attrs(s).get(sc.ROLE) == "run_start"
            ]
            time.sleep(0.02)
        assert markers, "run_start marker not exported while the run is open"
    marker = markers[0]
    run = tel.one("run")
    assert marker.name == sc.SPAN_RUN_START
    assert marker.parent.span_id == run.context.span_id
    assert marker.start_time == run.start_time == marker.end_time
    assert attrs(marker)[sc.RUN_JOB_ID] == "j"
    assert attrs(marker)[sc.RUN_STATUS] == "running"


def test_run_is_a_new_trace_inside_another_span(tel: Telemetry) -> None:
    host = TracerProvider().get_tracer("host")
    with host.start_as_current_span("host-span") as outer:
        with cl.run(sync_type="full"):
            with cl.step("s"):
                pass
    run = tel.one("run")
    assert run.parent is None
    assert run.context.trace_id != outer.get_span_context().trace_id
    assert tel.one("step").context.trace_id == run.context.trace_id


def test_entity_plain_and_context_manager(tel: Telemetry, server) -> None:
    with cl.run(), cl.step("contacts"), cl.page(number=1), httpx.Client() as client:
        cl.entity("a", type="contact", action="create")
        with cl.entity("b", type="contact") as e:
            client.get(server.url + "/crm/v3/objects/contacts/b")
            with cl.entity("b-child", type="note", action="skip", reason="empty"):
                pass
            e.set(internal_id="c-b", action="update")
        kept = cl.entity("c", type="contact")  # held in a variable: finished by its page
        kept.set(action="unchanged")
    ents = {attrs(s)[sc.ENTITY_EXTERNAL_ID]: s for s in tel.by_role("entity")}
    assert set(ents) == {"a", "b", "b-child", "c"}
    http = tel.one("http")
    assert http.parent.span_id == ents["b"].context.span_id
    assert ents["b-child"].parent.span_id == ents["b"].context.span_id
    assert attrs(ents["b"])[sc.ENTITY_ACTION] == "update"
    assert attrs(ents["b"])[sc.ENTITY_INTERNAL_ID] == "c-b"
    assert attrs(ents["c"])[sc.ENTITY_ACTION] == "unchanged"
    assert attrs(ents["b-child"])[sc.ENTITY_REASON] == "empty"
    page = attrs(tel.one("page"))
    assert page[sc.count_key("fetched")] == 4
    assert page[sc.count_key("created")] == 1
    assert page[sc.count_key("updated")] == 1
    assert page[sc.count_key("skipped")] == 1
    assert page[sc.count_key("unchanged")] == 1
    # every span ended: ended spans are exactly the exported ones
    assert tel.handle.stats().spans.submitted == len(tel.spans())


def test_counters_roll_up_and_explicit_counts(tel: Telemetry) -> None:
    with cl.run():
        with cl.step("contacts") as s:
            for n in range(2):
                with cl.page(number=n) as p:
                    for i in range(3):
                        cl.entity(f"{n}-{i}", action=["create", "update", "delete"][i])
                    p.add(fetched=100)
            cl.count(skipped=2)
            s.add(failed=1)
        with cl.step("deals"):
            cl.entity("d", action=cl.EntityAction.FAIL, reason="bad")
    run = attrs(tel.one("run"))
    assert run[sc.count_key("fetched")] == 2 * 3 + 200 + 1
    assert run[sc.count_key("created")] == 2
    assert run[sc.count_key("updated")] == 2
    assert run[sc.count_key("deleted")] == 2
    assert run[sc.count_key("skipped")] == 2
    assert run[sc.count_key("failed")] == 2
    assert run[sc.ERROR_COUNT] == 1
    pages = tel.by_role("page")
    assert all(attrs(p)[sc.count_key("fetched")] == 103 for p in pages)
    steps = {attrs(s)[sc.STEP_NAME]: attrs(s) for s in tel.by_role("step")}
    assert steps["contacts"][sc.count_key("skipped")] == 2
    assert steps["deals"][sc.count_key("failed")] == 1 and steps["deals"][sc.ERROR_COUNT] == 1


def test_decorators_sync_and_async(tel: Telemetry) -> None:
    @cl.step("deals")
    def sync_step() -> int:
        cl.entity("x", action="create")
        return 7

    @cl.step
    async def async_step() -> int:
        await asyncio.sleep(0)
        cl.entity("y", action="create")
        return 8

    @cl.run(sync_type="full")
    def main() -> int:
        return sync_step() + asyncio.run(async_step())

    assert main() == 15
    assert main() == 15  # a fresh scope per call
    runs = tel.by_role("run")
    assert len(runs) == 2 and runs[0].context.trace_id != runs[1].context.trace_id
    names = sorted(attrs(s)[sc.STEP_NAME] for s in tel.by_role("step"))
    assert names == ["async_step", "async_step", "deals", "deals"]
    assert all(attrs(r)[sc.count_key("created")] == 2 for r in runs)

    @cl.run(sync_type="incremental")
    async def amain() -> str:
        async with cl.step("s"), cl.page(number=1):
            return "ok"

    assert asyncio.run(amain()) == "ok"


def test_failure_propagates_cause_and_records_root_fault_once(tel: Telemetry, server) -> None:
    with pytest.raises(httpx.HTTPStatusError), cl.run(job_id="j"):
        with cl.step("contacts"), cl.page(number=1), httpx.Client() as client:
            client.get(server.url + "/status/401?api_key=k123").raise_for_status()
    for role in ("page", "step", "run"):
        span = tel.one(role)
        a = attrs(span)
        assert a[sc.FAILURE_CAUSE] == "auth", role
        assert a[sc.FAULT_STATUS_CODE] == 401
        assert a[sc.FAULT_URL].endswith("/status/401?api_key=[REDACTED:query:api_key]")
        assert span.status.status_code is StatusCode.ERROR
    page = tel.one("page")
    events = [e for e in page.events if e.name == "exception"]
    assert len(events) == 1
    ev = dict(events[0].attributes)
    assert ev[sc.EXCEPTION_TYPE] == "HTTPStatusError"
    assert "401" in ev[sc.EXCEPTION_MESSAGE] and "k123" not in ev[sc.EXCEPTION_MESSAGE]
    assert "Traceback" in ev[sc.EXCEPTION_STACKTRACE]
    assert not [e for s in tel.by_role("step") + tel.by_role("run") for e in s.events]
    run = attrs(tel.one("run"))
    assert run[sc.RUN_STATUS] == "error" and run[sc.RUN_EXIT_CODE] == 1
    assert attrs(tel.one("http"))[sc.FAILURE_CAUSE] == "auth"
    assert run[sc.ERROR_COUNT] == 1


def test_shape_mismatch_after_successful_response(tel: Telemetry, server) -> None:
    with pytest.raises(KeyError), cl.run(), cl.step("contacts"), httpx.Client() as client:
        with cl.page(number=1):
            data = client.get(server.url + "/crm/v3/objects/contacts").json()
            data["missing"]
    page = attrs(tel.one("page"))
    assert page[sc.FAILURE_CAUSE] == "shape_mismatch"
    assert page[sc.FAULT_URL].endswith("/crm/v3/objects/contacts")
    assert page[sc.FAULT_STATUS_CODE] == 200
    assert attrs(tel.one("run"))[sc.FAILURE_CAUSE] == "shape_mismatch"


def test_json_decode_error_is_shape_mismatch(tel: Telemetry, server) -> None:
    with pytest.raises(json.JSONDecodeError), cl.run(), cl.page(number=1), httpx.Client() as client:
        client.get(server.url + "/bad-json").json()
    assert attrs(tel.one("page"))[sc.FAILURE_CAUSE] == "shape_mismatch"


def test_plain_error_without_response_is_error(tel: Telemetry) -> None:
    with pytest.raises(KeyError), cl.run(), cl.step("s"):
        {}["x"]
    assert attrs(tel.one("run"))[sc.FAILURE_CAUSE] == "error"


def test_entity_exception_marks_failed(tel: Telemetry) -> None:
    with cl.run(), cl.page(number=1):
        try:
            with cl.entity("e1", type="contact"):
                raise RuntimeError("boom token=supersecretvalue")
        except RuntimeError:
            pass
    ent = attrs(tel.one("entity"))
    assert ent[sc.ENTITY_ACTION] == "fail"
    assert ent[sc.FAILURE_CAUSE] == "error"
    assert "supersecretvalue" not in ent[sc.ENTITY_REASON]
    page = attrs(tel.one("page"))
    assert page[sc.count_key("failed")] == 1 and page[sc.ERROR_COUNT] == 1
    run = tel.one("run")
    assert attrs(run)[sc.RUN_STATUS] == "ok"


def test_exit_codes(tel: Telemetry) -> None:
    with cl.run() as r:
        r.set_exit_code(3)
    with pytest.raises(SystemExit), cl.run():
        raise SystemExit(0)
    with pytest.raises(SystemExit), cl.run():
        raise SystemExit(2)
    runs = [attrs(s) for s in tel.by_role("run")]
    assert [(a[sc.RUN_STATUS], a[sc.RUN_EXIT_CODE]) for a in runs] == [("error", 3), ("ok", 0), ("error", 2)]


def test_threads_with_wrap(tel: Telemetry, server) -> None:
    client = httpx.Client()

    def work(i: int) -> None:
        client.get(f"{server.url}/crm/v3/objects/contacts/{i}")
        cl.entity(str(i), action="create")

    with cl.run(), cl.page(number=1):
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(cl.wrap(work), range(8)))
    page = tel.one("page")
    assert attrs(page)[sc.count_key("created")] == 8
    https = tel.by_role("http")
    assert len(https) == 8 and all(h.parent.span_id == page.context.span_id for h in https)
    assert {attrs(h)[sc.URL_TEMPLATE] for h in https} == {"/crm/v3/objects/contacts/{id}"}


def test_asyncio_tasks(tel: Telemetry, server) -> None:
    async def fetch(client: httpx.AsyncClient, i: int) -> None:
        async with cl.entity(str(i), type="contact") as e:
            await client.get(f"{server.url}/crm/v3/objects/contacts/{i}")
            e.set(action="update")

    async def main() -> None:
        async with cl.run(), cl.step("s"):
            async with httpx.AsyncClient() as client:
                with cl.page(number=1):
                    await asyncio.gather(*(fetch(client, i) for i in range(5)))

    asyncio.run(main())
    ents = {s.context.span_id: s for s in tel.by_role("entity")}
    https = tel.by_role("http")
    assert len(ents) == 5 and len(https) == 5
    assert all(h.parent.span_id in ents for h in https)
    assert len({h.parent.span_id for h in https}) == 5
    assert attrs(tel.one("step"))[sc.count_key("updated")] == 5


def test_logs_bridge_ties_to_span_and_redacts(tel: Telemetry) -> None:
    log = logging.getLogger("connector.test")
    log.setLevel(logging.INFO)
    with cl.run(), cl.step("s") as s:
        log.info("fetching with key sk_live_REGISTERED_0001 and password=hunter22", extra={"page_no": 3})
        try:
            raise ValueError("bad token=abcdef")
        except ValueError:
            log.exception("failed")
    logs = tel.logs()
    info = next(r.log_record for r in logs if r.log_record.severity_text == "INFO")
    assert "sk_live_REGISTERED_0001" not in info.body and "hunter22" not in info.body
    assert info.span_id == s.span.get_span_context().span_id
    assert info.attributes[sc.LOG_RECORD_LOGGER] == "connector.test"
    assert info.attributes["page_no"] == 3
    err = next(r.log_record for r in logs if r.log_record.severity_text == "ERROR")
    assert err.attributes[sc.EXCEPTION_TYPE] == "ValueError"
    assert "abcdef" not in err.attributes[sc.EXCEPTION_MESSAGE]
    assert "abcdef" not in err.attributes[sc.EXCEPTION_STACKTRACE]


def test_init_is_idempotent_and_reconfigurable() -> None:
    h1 = cl.init(connector="idem", endpoint="http://127.0.0.1:9", export_timeout=0.2)
    h2 = cl.init(connector="idem", endpoint="http://127.0.0.1:9", export_timeout=0.2)
    assert h1 is h2
    t = start_telemetry(connector="other")
    try:
        assert h1.closed and cl.active_handle() is t.handle
    finally:
        t.handle.shutdown()


def test_api_is_a_noop_without_init() -> None:
    assert cl.active_handle() is None
    with cl.run() as r, cl.step("s"), cl.page(number=1) as p:
        cl.entity("x", action="create")
        p.add(fetched=1)
        cl.count(created=1)
        r.set_exit_code(0)
    assert not trace.get_current_span().is_recording()


def test_bad_counter_names_do_not_raise(tel: Telemetry) -> None:
    with cl.run(), cl.page(number=1) as p:
        p.add(bogus=1)
        cl.count(nope=2)
        cl.entity("x", action="weird-action")
    assert attrs(tel.one("entity"))[sc.ENTITY_ACTION] == "weird-action"
    assert tel.handle.stats().internal_errors >= 2


def test_log_in_wrapped_thread_is_tied_to_the_page(tel: Telemetry) -> None:
    log = logging.getLogger("connector.threads")
    log.setLevel(logging.INFO)
    with cl.run(), cl.page(number=1) as p, ThreadPoolExecutor(1) as pool:
        pool.submit(cl.wrap(lambda: log.info("from a worker"))).result()
    record = next(r.log_record for r in tel.logs() if r.log_record.body == "from a worker")
    assert record.span_id == p.span.get_span_context().span_id


def test_exit_code_after_handled_step_failure_reports_that_cause(tel: Telemetry, server) -> None:
    """A connector that catches a step's timeout and exits non-zero: the run's cause is the timeout."""
    with httpx.Client(timeout=0.05) as client, cl.run() as r:
        try:
            with cl.step("invoices"), cl.page(number=1):
                client.get(f"{server.url}/slow")
        except httpx.TimeoutException:
            r.set_exit_code(2)
    run = attrs(tel.one("run"))
    assert (run[sc.RUN_STATUS], run[sc.RUN_EXIT_CODE], run[sc.FAILURE_CAUSE]) == ("error", 2, "timeout")


def test_exit_code_without_any_failure_reports_error(tel: Telemetry) -> None:
    with cl.run() as r:
        r.set_exit_code(4)
    assert attrs(tel.one("run"))[sc.FAILURE_CAUSE] == "error"
