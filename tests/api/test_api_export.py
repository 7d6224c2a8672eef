"""CSV and PDF exports: same filters as the lists, a row cap for all, bounded rendering, safe cells."""

from __future__ import annotations

import base64
import csv
import io
import re
import zlib
from typing import Any

import anyio
import pytest

from connlog.query_api.app import create_app
from connlog.query_api.auth import AuthConfig
from connlog.query_api.config import ENV_EXPORT_MAX_ROWS, ApiSettings
from connlog.query_api.export import (
    CAP_HEADER,
    ROWS_HEADER,
    TRUNCATED_HEADER,
    ExportRows,
    ExportStopped,
    Stop,
    csv_bytes,
    pdf_bytes,
)
from connlog.query_api.models import RunSummary
from connlog.query_api.routes.export import STOPPED
from tests.api_env import (
    ADMIN,
    SCOPED,
    VIEWER,
    ApiEnv,
    _auth,
    bearer,
)


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_runs_csv_matches_the_list(api: ApiEnv) -> None:
    resp = api.get("/api/v1/export/runs.csv", status="error")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    assert 'filename="connlog-runs.csv"' in resp.headers["content-disposition"]
    rows = _csv(resp.text)
    listed = api.all_items("/api/v1/runs", status="error")
    assert [r["run_id"] for r in rows] == [r["run_id"] for r in listed] and rows
    first = listed[0]
    assert rows[0]["failed"] == str(first["counters"]["failed"]) and rows[0]["status"] == "error"


def test_calls_and_logs_csv_with_row_cap(api: ApiEnv) -> None:
    rows = _csv(api.get("/api/v1/export/calls.csv", rows="700").text)
    assert len(rows) == min(700, len(api.sent.role("http")))
    assert [r["call_id"] for r in rows] == [c["call_id"] for c in api.all_items("/api/v1/calls", limit=500)][
        :700
    ]
    capped = _csv(api.get("/api/v1/export/calls.csv", rows="3").text)
    assert len(capped) == 3
    logs = _csv(api.get("/api/v1/export/logs.csv", severity="error").text)
    assert len(logs) == sum(1 for lg in api.sent.logs if lg.severity_number >= 17)
    assert api.get("/api/v1/export/calls.csv", rows="0").json()["error"]["field"] == "rows"
    assert api.get("/api/v1/export/calls.csv", rows="100001").status_code == 422
    assert api.get("/api/v1/export/calls.csv", bogus="1").status_code == 422


def test_default_cap_is_configurable(api: ApiEnv) -> None:
    from fastapi.testclient import TestClient

    app = create_app(
        api.settings, auth=AuthConfig(disabled=True), api_settings=ApiSettings(export_default_rows=5)
    )
    with TestClient(app) as tc:
        resp = tc.get("/api/v1/export/calls.csv", params={"from": str(api.start_ns // 10**9 - 60)})
        assert len(_csv(resp.text)) == 5


def test_pdf_is_one_table_document(api: ApiEnv) -> None:
    for kind in ("runs", "calls", "logs"):
        resp = api.get(f"/api/v1/export/{kind}.pdf", rows="60")
        assert resp.status_code == 200 and resp.headers["content-type"] == "application/pdf"
        assert resp.content.startswith(b"%PDF-") and resp.content.rstrip().endswith(b"%%EOF")
        assert len(resp.content) > 2000


def test_csv_cells_cannot_become_formulas() -> None:
    from connlog.query_api.export import _safe_cell

    assert (
        _safe_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
        and _safe_cell("@x") == "'@x"
        and _safe_cell("ok") == "ok"
    )


def test_export_errors_come_before_the_file(api: ApiEnv) -> None:
    resp = api.get("/api/v1/export/runs.csv", cursor="bm90LWEtY3Vyc29y")
    assert resp.status_code == 422 and resp.json()["error"]["field"] == "cursor"
    page = api.ok("/api/v1/calls", limit=2)
    rest = _csv(api.get("/api/v1/export/calls.csv", cursor=page["next_cursor"], rows="5").text)
    assert rest[0]["call_id"] not in {c["call_id"] for c in page["items"]} and len(rest) == 5


# ---------------------------------------------------------------- the row cap (issue 10 item 2)


def _pdf_text(content: bytes) -> bytes:
    """The decoded page streams of a reportlab PDF (ASCII85 + Flate), to read its text."""
    text = b""
    for m in re.finditer(rb"stream\r?\n(.*?)endstream", content, re.S):
        data = m.group(1).strip()
        text += zlib.decompress(base64.a85decode(data.removesuffix(b"~>")))
    return text


@pytest.mark.parametrize("fmt", ["csv", "pdf"])
def test_row_cap_holds_for_every_format_kind_and_role(api: ApiEnv, fmt: str) -> None:
    from fastapi.testclient import TestClient

    cap = 7
    app = create_app(api.settings, auth=_auth(), api_settings=ApiSettings(export_max_rows=cap))
    since = {"from": str(api.start_ns // 10**9 - 3600)}
    with TestClient(app) as tc:
        for key in (ADMIN, VIEWER, SCOPED):
            for kind in ("runs", "calls", "logs"):
                url = f"/api/v1/export/{kind}.{fmt}"
                resp = tc.get(url, params=since, headers=bearer(key))  # default 1000 > cap
                assert resp.status_code == 200, (key, kind, resp.text)
                assert resp.headers[CAP_HEADER] == str(cap) and resp.headers[ROWS_HEADER] == str(cap)
                assert resp.headers[TRUNCATED_HEADER] == "true", (key, kind)
                if fmt == "csv":
                    assert len(_csv(resp.text)) == cap
                else:
                    text = _pdf_text(resp.content)
                    assert b"7 rows \\(row cap 7\\); more rows match" in text, (key, kind)
                over = tc.get(url, params={**since, "rows": str(cap + 1)}, headers=bearer(key))
                assert over.status_code == 422 and ENV_EXPORT_MAX_ROWS in over.json()["error"]["message"]
                fewer = tc.get(url, params={**since, "rows": "2"}, headers=bearer(key))
                assert fewer.headers[ROWS_HEADER] == "2" and fewer.headers[CAP_HEADER] == "2"


def test_the_issue_request_is_refused_and_the_default_is_cut(api: ApiEnv) -> None:
    """`calls.pdf?rows=100000` held the server for 600 s; now it is a 422 and 1000 is the most."""
    resp = api.get("/api/v1/export/calls.pdf", rows="100000")
    assert resp.status_code == 422 and resp.json()["error"]["field"] == "rows"
    stopped = sum(STOPPED.values())
    full = api.get("/api/v1/export/calls.pdf")
    total = len(api.sent.role("http"))
    assert full.status_code == 200 and full.headers[CAP_HEADER] == "1000"
    assert full.headers[ROWS_HEADER] == str(min(total, 1000))
    assert full.headers[TRUNCATED_HEADER] == ("true" if total > 1000 else "false")
    assert sum(STOPPED.values()) == stopped
    done = api.get("/api/v1/export/runs.csv", rows="1000")
    assert done.headers[TRUNCATED_HEADER] == "false" and len(_csv(done.text)) == len(api.truth)


def test_operator_sets_the_cap_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_EXPORT_MAX_ROWS, "25")
    settings = ApiSettings()
    assert settings.export_max_rows == 25 and settings.export_rows_default == 25
    monkeypatch.delenv(ENV_EXPORT_MAX_ROWS)
    assert ApiSettings().export_max_rows == 1000
    for bad in ("zero", "0", "-5", "1.5"):
        monkeypatch.setenv(ENV_EXPORT_MAX_ROWS, bad)
        with pytest.raises(ValueError, match=ENV_EXPORT_MAX_ROWS):
            ApiSettings()


def test_an_export_past_its_time_budget_is_a_503(api: ApiEnv) -> None:
    from fastapi.testclient import TestClient

    app = create_app(api.settings, auth=_auth(), api_settings=ApiSettings(export_timeout_s=0))
    before = STOPPED["timeout"]
    with TestClient(app) as tc:
        resp = tc.get("/api/v1/export/calls.pdf", headers=bearer(ADMIN))
    assert resp.status_code == 503 and resp.json()["error"]["code"] == "export_timeout"
    assert STOPPED["timeout"] == before + 1


def test_renderers_stop_when_told(api: ApiEnv) -> None:
    rows = [RunSummary.model_validate(r) for r in api.ok("/api/v1/runs", limit=30)["items"]]
    export = ExportRows("runs", rows * 40, 1200, truncated=False)
    cancelled = Stop()
    cancelled.event.set()
    for stop, reason in ((cancelled, "cancelled"), (Stop.after(-1), "timeout")):
        with pytest.raises(ExportStopped, match=reason):
            csv_bytes(export, stop)
        with pytest.raises(ExportStopped, match=reason):
            pdf_bytes(export, "t", stop)
    assert pdf_bytes(export, "t").startswith(b"%PDF-")


def test_client_disconnect_cancels_the_export(api: ApiEnv) -> None:
    """Raw ASGI: the client is gone as soon as the request is sent; the export stops early."""
    app = api.client.app
    query = f"from={api.start_ns // 10**9 - 3600}".encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/v1/export/calls.pdf",
        "raw_path": b"/api/v1/export/calls.pdf",
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"test"), (b"authorization", f"Bearer {ADMIN}".encode())],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
    }
    sent: list[dict[str, Any]] = []
    received = 0

    async def receive() -> dict[str, Any]:
        nonlocal received
        received += 1
        if received == 1:
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    before = STOPPED["cancelled"]
    anyio.run(app, scope, receive, send)  # type: ignore[arg-type]
    assert STOPPED["cancelled"] == before + 1, (received, [m.get("status") for m in sent])
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert not body.startswith(b"%PDF")
