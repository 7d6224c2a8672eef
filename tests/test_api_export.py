"""CSV and PDF exports: same filters as the lists, a row cap, formula-safe cells."""

from __future__ import annotations

import csv
import io

from test_api_support import ApiEnv, api  # noqa: F401 - session fixture

from query_api.app import create_app
from query_api.auth import AuthConfig
from query_api.config import ApiSettings


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_runs_csv_matches_the_list(api: ApiEnv) -> None:  # noqa: F811
    resp = api.get("/api/v1/export/runs.csv", status="error")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    assert 'filename="connlog-runs.csv"' in resp.headers["content-disposition"]
    rows = _csv(resp.text)
    listed = api.all_items("/api/v1/runs", status="error")
    assert [r["run_id"] for r in rows] == [r["run_id"] for r in listed] and rows
    first = listed[0]
    assert rows[0]["failed"] == str(first["counters"]["failed"]) and rows[0]["status"] == "error"


def test_calls_and_logs_csv_with_row_cap(api: ApiEnv) -> None:  # noqa: F811
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


def test_default_cap_is_configurable(api: ApiEnv) -> None:  # noqa: F811
    from fastapi.testclient import TestClient

    app = create_app(
        api.settings, auth=AuthConfig(disabled=True), api_settings=ApiSettings(export_default_rows=5)
    )
    with TestClient(app) as tc:
        resp = tc.get("/api/v1/export/calls.csv", params={"from": str(api.start_ns // 10**9 - 60)})
        assert len(_csv(resp.text)) == 5


def test_pdf_is_one_table_document(api: ApiEnv) -> None:  # noqa: F811
    for kind in ("runs", "calls", "logs"):
        resp = api.get(f"/api/v1/export/{kind}.pdf", rows="60")
        assert resp.status_code == 200 and resp.headers["content-type"] == "application/pdf"
        assert resp.content.startswith(b"%PDF-") and resp.content.rstrip().endswith(b"%%EOF")
        assert len(resp.content) > 2000


def test_csv_cells_cannot_become_formulas() -> None:
    from query_api.export import _safe_cell

    assert (
        _safe_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
        and _safe_cell("@x") == "'@x"
        and _safe_cell("ok") == "ok"
    )


def test_export_errors_come_before_the_file(api: ApiEnv) -> None:  # noqa: F811
    resp = api.get("/api/v1/export/runs.csv", cursor="bm90LWEtY3Vyc29y")
    assert resp.status_code == 422 and resp.json()["error"]["field"] == "cursor"
    page = api.ok("/api/v1/calls", limit=2)
    rest = _csv(api.get("/api/v1/export/calls.csv", cursor=page["next_cursor"], rows="5").text)
    assert rest[0]["call_id"] not in {c["call_id"] for c in page["items"]} and len(rest) == 5
