"""Causes from the HTTP evidence, entity outcomes, step names, run ids and links, schedule,
end user, asynchronous operations, and stdout/stderr captured as logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests

import connlog as cl
from connlog.instrumentation import semconv as sc
from connlog.instrumentation.causes import cause_for_exception, evidence_of
from tests.sdk.helpers import LocalServer, Telemetry, attrs, start_telemetry

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------- vendor-style errors
class StripeLike(Exception):
    def __init__(self, http_status: int) -> None:
        super().__init__("Invalid API Key provided")
        self.http_status = http_status


class NotionLike(Exception):
    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code  # a string code is not a status


class _Resp:
    status_code = 429
    url = "https://slack.example/api/users.list"


class SlackLike(Exception):
    response = _Resp()


class GrpcLike(Exception):
    code = 14  # an int outside 100-599: not HTTP evidence


@pytest.mark.parametrize(
    ("exc", "cause"),
    [
        (StripeLike(401), "auth"),
        (NotionLike(404, "object_not_found"), "not_found"),
        (SlackLike(), "rate_limited"),
        (NotionLike(503, "service_unavailable"), "server_error"),
        (GrpcLike(), "error"),
    ],
)
def test_cause_from_the_exceptions_own_status(exc: BaseException, cause: str) -> None:
    assert cause_for_exception(exc) == cause


def test_evidence_carries_the_url() -> None:
    assert evidence_of(SlackLike()) == (429, "https://slack.example/api/users.list")


def test_wrapped_timeout_is_a_timeout() -> None:
    try:
        try:
            raise requests.exceptions.ReadTimeout("read timed out")
        except requests.exceptions.ReadTimeout as inner:
            raise RuntimeError("vendor: request failed") from inner
    except RuntimeError as exc:
        assert cause_for_exception(exc) == "timeout"


def test_scope_evidence_names_the_cause_and_the_failing_call(tel: Telemetry, server: LocalServer) -> None:
    """A vendor exception with no status, after a 401 inside the page: auth, with that call."""
    with pytest.raises(RuntimeError), cl.run(), cl.step("s"), cl.page(number=1), httpx.Client() as client:
        client.get(server.url + "/status/401")
        raise RuntimeError("vendor client: request failed")
    for role in ("page", "step", "run"):
        a = attrs(tel.one(role))
        assert a[sc.FAILURE_CAUSE] == "auth", role
        assert a[sc.FAULT_URL] == f"{server.url}/status/401" and a[sc.FAULT_STATUS_CODE] == 401


def test_exception_status_wins_and_takes_the_url_of_the_matching_call(
    tel: Telemetry, server: LocalServer
) -> None:
    with pytest.raises(StripeLike), cl.run(), cl.page(number=1), httpx.Client() as client:
        client.get(server.url + "/status/401")
        raise StripeLike(401)
    a = attrs(tel.one("page"))
    assert a[sc.FAILURE_CAUSE] == "auth" and a[sc.FAULT_URL] == f"{server.url}/status/401"


def test_a_later_success_clears_the_scope_evidence(tel: Telemetry, server: LocalServer) -> None:
    with pytest.raises(RuntimeError), cl.run(), cl.page(number=1), httpx.Client() as client:
        client.get(server.url + "/ratelimited")  # retried...
        client.get(server.url + "/echo")  # ...and it worked
        raise RuntimeError("unrelated bug")
    assert attrs(tel.one("page"))[sc.FAILURE_CAUSE] == "error"


# ---------------------------------------------------------------------- entities
def test_escaping_exception_fails_entity_whatever_the_preset_action(tel: Telemetry) -> None:
    with cl.run(), cl.step("contacts"), cl.page(number=1):
        with pytest.raises(ValueError), cl.entity("e1", type="contact", action="create"):
            raise ValueError("no email")
        cl.entity("e2", action="create")
    ents = {attrs(s)[sc.ENTITY_EXTERNAL_ID]: attrs(s) for s in tel.by_role("entity")}
    assert ents["e1"][sc.ENTITY_ACTION] == "fail"
    assert ents["e1"][sc.ENTITY_REASON] == "ValueError: no email"
    assert ents["e1"][sc.FAILURE_CAUSE] == "error"
    page = attrs(tel.one("page"))
    assert page[sc.count_key("failed")] == 1 and page[sc.count_key("created")] == 1
    assert page[sc.count_key("fetched")] == 2


def test_explicit_fail_and_skip_without_raising(tel: Telemetry) -> None:
    with cl.run(), cl.step("deals"), cl.page(number=1):
        with cl.entity("d1", type="deal") as ent:
            ent.fail("amount is negative", cause=sc.FailureCause.SHAPE_MISMATCH)
        plain = cl.entity("d2", type="deal", action="create")
        plain.skip("archived upstream")
        del plain
        with cl.entity("d3", action="update"):
            pass
    ents = {attrs(s)[sc.ENTITY_EXTERNAL_ID]: (s, attrs(s)) for s in tel.by_role("entity")}
    span, d1 = ents["d1"]
    assert d1[sc.ENTITY_ACTION] == "fail" and d1[sc.ENTITY_REASON] == "amount is negative"
    assert d1[sc.FAILURE_CAUSE] == "shape_mismatch" and span.status.status_code.name == "ERROR"
    assert (
        ents["d2"][1][sc.ENTITY_ACTION] == "skip" and ents["d2"][1][sc.ENTITY_REASON] == "archived upstream"
    )
    assert sc.FAILURE_CAUSE not in ents["d2"][1]
    run = attrs(tel.one("run"))
    assert run[sc.count_key("failed")] == 1 and run[sc.count_key("skipped")] == 1
    assert run[sc.count_key("updated")] == 1 and run[sc.RUN_STATUS] == "ok"


# ---------------------------------------------------------------------- step names
def test_step_name_on_pages_entities_and_calls(tel: Telemetry, server: LocalServer) -> None:
    with cl.run(), httpx.Client() as client:
        client.get(server.url + "/echo")  # outside any step: no step name
        with cl.step("contacts"):
            client.post(server.url + "/echo", content=b"login")  # directly under the step
            with cl.page(number=1):
                client.get(server.url + "/crm/v3/objects/contacts")
                with cl.entity("c1", action="create"):
                    client.get(server.url + "/crm/v3/objects/contacts/1")
                cl.entity("c2", action="create")
    named = [s for s in tel.spans() if attrs(s).get(sc.STEP_NAME) == "contacts"]
    roles = sorted(attrs(s)[sc.ROLE] for s in named)
    assert roles == ["entity", "entity", "http", "http", "http", "page", "step"]
    outside = [s for s in tel.by_role("http") if s.name == "GET /echo"]
    assert sc.STEP_NAME not in attrs(outside[0])


# ---------------------------------------------------------------------- run id, link, schedule, user
def test_run_id_viewer_url_schedule_and_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNLOG_VIEWER_URL", "https://connlog.example/")
    t = start_telemetry()
    try:
        with cl.run(schedule=timedelta(hours=1), user="ada@example.com") as r:
            with cl.entity("x", action="create", user="bob@example.com"):
                pass
            run_id = r.run_id
            link = r.viewer_url
        run = tel_run = t.one("run")
        assert run_id == format(tel_run.context.trace_id, "032x")
        assert link == f"https://connlog.example/runs/{run_id}"
        a = attrs(run)
        assert a[sc.RUN_SCHEDULE] == "every 3600s" and a[sc.ENDUSER_ID] == "ada@example.com"
        assert a[sc.RUN_KIND] == "sync"
        assert attrs(t.one("run_start"))[sc.RUN_SCHEDULE] == "every 3600s"
        assert attrs(t.one("entity"))[sc.ENDUSER_ID] == "bob@example.com"
    finally:
        t.handle.shutdown()
    t = start_telemetry(viewer_url="http://localhost:8080")
    try:
        with cl.run(schedule="*/15 * * * *") as r:
            assert r.viewer_url == f"http://localhost:8080/runs/{r.run_id}"
        assert attrs(t.one("run"))[sc.RUN_SCHEDULE] == "*/15 * * * *"
    finally:
        t.handle.shutdown()


def test_run_id_is_none_without_init() -> None:
    with cl.run() as r:
        assert r.run_id is None and r.viewer_url is None


# ---------------------------------------------------------------------- operations
def test_operations_are_runs_of_another_kind(tel: Telemetry) -> None:
    queued = datetime.now(UTC) - timedelta(seconds=30)
    with cl.operation(kind=cl.RunKind.DEPLOY, owner="ada", target="prod", queued_at=queued) as op:
        assert op.run_id
    with pytest.raises(RuntimeError), cl.operation(kind="build", owner="ci"):
        raise RuntimeError("compile failed")
    runs = {attrs(s)[sc.RUN_KIND]: s for s in tel.by_role("run")}
    deploy, build = attrs(runs["deploy"]), attrs(runs["build"])
    assert deploy[sc.OPERATION_STATUS] == "done" and deploy[sc.OPERATION_OWNER] == "ada"
    assert deploy[sc.OPERATION_TARGET] == "prod" and deploy[sc.OPERATION_QUEUED_AT] == queued.isoformat()
    assert runs["deploy"].start_time == int(queued.timestamp() * 1e9)
    assert build[sc.OPERATION_STATUS] == "failed" and build[sc.RUN_STATUS] == "error"
    markers = {attrs(s)[sc.RUN_KIND]: attrs(s) for s in tel.by_role("run_start")}
    assert markers["deploy"][sc.OPERATION_STATUS] == "running"


# ---------------------------------------------------------------------- stdio
_CRASHER = """
import json, sys
sys.path.insert(0, {root!r})
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
import connlog as cl
class FileExporter(LogRecordExporter):
    def export(self, batch):
        with open({out!r}, "a") as f:
            for item in batch:
                rec = getattr(item, "log_record", item)
                scope = getattr(item, "instrumentation_scope", None)
                f.write(json.dumps({{"body": str(rec.body), "attrs": dict(rec.attributes or {{}}),
                                     "scope": scope.name if scope else None,
                                     "severity": rec.severity_text}}) + "\\n")
        return LogRecordExportResult.SUCCESS
    def shutdown(self):
        pass
    def force_flush(self, timeout_millis=30000):
        return True

cl.init(connector="crasher", capture_stdio=True, log_exporter=FileExporter(),
        span_exporter=None, secrets=["sk_live_CRASH_0001"], endpoint="http://127.0.0.1:9")
print("starting with key sk_live_CRASH_0001")
import config_that_does_not_exist
"""


def test_crash_before_any_log_line_leaves_its_traceback(tmp_path: Path) -> None:
    out = tmp_path / "logs.jsonl"
    script = tmp_path / "crasher.py"
    script.write_text(textwrap.dedent(_CRASHER.format(root=str(ROOT), out=str(out))))
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
        check=False,
    )
    assert proc.returncode == 1
    assert "ModuleNotFoundError" in proc.stderr  # the terminal still gets everything
    assert "starting with key sk_live_CRASH_0001" in proc.stdout
    records: list[dict[str, Any]] = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["scope"] for r in records} == {sc.STDIO_SCOPE}
    stdout = [r for r in records if r["attrs"][sc.LOG_STREAM] == "stdout"]
    stderr = [r for r in records if r["attrs"][sc.LOG_STREAM] == "stderr"]
    assert (
        stdout and "sk_live_CRASH_0001" not in stdout[0]["body"] and "starting with key" in stdout[0]["body"]
    )
    text = "\n".join(r["body"] for r in stderr)
    assert "Traceback (most recent call last):" in text
    assert "ModuleNotFoundError: No module named 'config_that_does_not_exist'" in text
    assert all(r["severity"] == "ERROR" for r in stderr)
