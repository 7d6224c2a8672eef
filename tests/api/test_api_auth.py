"""The auth matrix on every route: no key, unknown key, viewer, admin, connector-scoped keys."""

from __future__ import annotations

import json
from typing import Any

import pytest

from connlog.query_api.auth import AuthConfig, AuthConfigError, KeyRole, create_demo_admin_key
from connlog.query_api.errors import ApiError
from tests.api_env import ADMIN, SCOPED, SCOPED_ADMIN, SCOPED_CONNECTOR, VIEWER, ApiEnv


def _routes(api: ApiEnv) -> list[tuple[str, str, dict[str, Any]]]:
    hub = next(t for t in api.truth if t.connector == SCOPED_CONNECTOR and t.status != "running")
    call = next(s for s in api.sent.role("http") if s.trace_id == hub.run_id)
    step = next(s for s in api.sent.by_trace[hub.run_id] if s.attrs.get("connector.role") == "step")
    frm = {"from": str(api.start_ns // 10**9 - 3600)}
    return [
        ("GET", "/api/v1/runs", frm),
        ("GET", f"/api/v1/runs/{hub.run_id}", {}),
        ("GET", f"/api/v1/runs/{hub.run_id}/steps/{step.span_id}/pages", {}),
        ("GET", f"/api/v1/runs/{hub.run_id}/entities", {}),
        ("GET", "/api/v1/calls", frm),
        ("GET", "/api/v1/jobs", frm),
        ("GET", f"/api/v1/calls/{call.span_id}", {}),
        ("GET", f"/api/v1/traces/{hub.run_id}", {}),
        ("GET", "/api/v1/search", {"q": hub.job_id, **frm}),
        ("GET", "/api/v1/faults", frm),
        ("GET", "/api/v1/logs", frm),
        *[("GET", f"/api/v1/export/{k}.{f}", frm) for k in ("runs", "calls", "logs") for f in ("csv", "pdf")],
        ("POST", "/api/v1/sql", {"query": "SELECT 1"}),
    ]


def _call(api: ApiEnv, method: str, url: str, params: dict[str, Any], headers: dict[str, str]) -> Any:
    if method == "POST":
        return api.client.post(url, json=params, headers=headers)
    return api.client.get(url, params=params, headers=headers)


@pytest.mark.parametrize(
    ("headers", "expect_sql", "expect_other"),
    [
        ({}, 401, 401),
        ({"Authorization": "Bearer not-a-configured-key-000"}, 401, 401),
        ({"Authorization": f"Basic {ADMIN}"}, 401, 401),
        ({"Authorization": f"Bearer {VIEWER}"}, 403, 200),
        ({"Authorization": f"Bearer {ADMIN}"}, 200, 200),
        ({"Authorization": f"Bearer {SCOPED}"}, 403, 200),
        ({"Authorization": f"Bearer {SCOPED_ADMIN}"}, 403, None),  # other connector: 404 on drill-downs
    ],
)
def test_matrix(api: ApiEnv, headers: dict[str, str], expect_sql: int, expect_other: int | None) -> None:
    for method, url, params in _routes(api):
        resp = _call(api, method, url, params, headers)
        expected = expect_sql if url.endswith("/sql") else expect_other
        if expected is None:
            drill = any(url.startswith(p) for p in ("/api/v1/runs/", "/api/v1/calls/", "/api/v1/traces/"))
            expected = 404 if drill else 200
        assert resp.status_code == expected, (url, headers, resp.text[:200])
        if resp.status_code >= 400:
            body = resp.json()
            assert set(body) == {"error"} and {"code", "message", "field"} <= set(body["error"])
        if resp.status_code == 401:
            assert resp.headers["www-authenticate"] == "Bearer"


def test_scoped_key_sees_only_its_connector_everywhere(api: ApiEnv) -> None:
    runs = api.all_items("/api/v1/runs", key=SCOPED)
    assert runs and {r["connector"] for r in runs} == {SCOPED_CONNECTOR}
    assert len(runs) == sum(1 for t in api.truth if t.connector == SCOPED_CONNECTOR)
    assert {c["connector"] for c in api.all_items("/api/v1/calls", key=SCOPED, limit=500)} == {
        SCOPED_CONNECTOR
    }
    assert {f["connector"] for f in api.all_items("/api/v1/faults", key=SCOPED)} <= {SCOPED_CONNECTOR}
    assert {r["connector"] for r in api.all_items("/api/v1/logs", key=SCOPED, limit=500)} == {
        SCOPED_CONNECTOR
    }
    # explicit filter on another connector: empty, not an error
    assert api.all_items("/api/v1/runs", key=SCOPED, connector="netsuite") == []
    other = next(t for t in api.truth if t.connector != SCOPED_CONNECTOR)
    for url in (
        f"/api/v1/runs/{other.run_id}",
        f"/api/v1/traces/{other.run_id}",
        f"/api/v1/runs/{other.run_id}/entities",
    ):
        assert api.get(url, key=SCOPED).status_code == 404
    other_call = next(s for s in api.sent.role("http") if s.connector != SCOPED_CONNECTOR)
    assert api.get(f"/api/v1/calls/{other_call.span_id}", key=SCOPED).status_code == 404
    assert api.all_items("/api/v1/calls", key=SCOPED, run=other.run_id) == []
    assert api.ok("/api/v1/search", key=SCOPED, q=other.job_id)["runs"] == []
    assert api.ok("/api/v1/search", key=SCOPED, q=other.run_id)["runs"] == []
    assert api.get("/api/v1/search", key=SCOPED, q="x", scope=other.run_id).status_code == 404
    csv_text = api.get("/api/v1/export/runs.csv", key=SCOPED).text
    assert other.run_id not in csv_text and SCOPED_CONNECTOR in csv_text


def test_viewer_never_gets_payloads(api: ApiEnv) -> None:
    call = next(s for s in api.sent.role("http") if s.attrs.get("http.response.body.content"))
    body = api.get(f"/api/v1/calls/{call.span_id}", key=VIEWER).text
    assert str(call.attrs["http.response.body.content"])[:40] not in body
    admin = api.get(f"/api/v1/calls/{call.span_id}", key=ADMIN).text
    assert json.loads(admin)["response"]["body"] == call.attrs["http.response.body.content"]


def test_key_configuration() -> None:
    cfg = AuthConfig.from_env(
        {
            "CONNLOG_API_KEYS": json.dumps(
                [
                    {"key": "k" * 20, "role": "admin"},
                    {"key": "v" * 20, "role": "viewer", "connectors": ["a"]},
                ]
            )
        }
    )
    assert cfg.authenticate("Bearer " + "k" * 20).role is KeyRole.ADMIN
    scoped = cfg.authenticate("bearer " + "v" * 20)
    assert scoped.connectors == ("a",) and not scoped.scope.payloads
    with pytest.raises(ApiError):
        cfg.authenticate(None)
    assert AuthConfig.from_env({"CONNLOG_AUTH": "off"}).authenticate(None).is_admin
    for bad in (
        "[{}]",
        '[{"key": "short"}]',
        '[{"key": "x' + "x" * 20 + '", "role": "root"}]',
        "{",
        '{"a": 1}',
    ):
        with pytest.raises(AuthConfigError):
            AuthConfig.from_env({"CONNLOG_API_KEYS": bad})
    # no keys configured and auth on: everything refused
    with pytest.raises(ApiError):
        AuthConfig.from_env({}).authenticate("Bearer " + "k" * 20)


def test_demo_admin_key(capsys: pytest.CaptureFixture[str]) -> None:
    cfg = AuthConfig()
    key = create_demo_admin_key(cfg)
    assert key in capsys.readouterr().out
    assert cfg.authenticate(f"Bearer {key}").is_admin


def test_cli_options(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from connlog.query_api.auth import api_options_for_cli

    monkeypatch.delenv("CONNLOG_API_KEYS", raising=False)
    monkeypatch.delenv("CONNLOG_API_KEYS_FILE", raising=False)
    monkeypatch.delenv("CONNLOG_AUTH", raising=False)
    cfg = api_options_for_cli(None)["auth"]
    key = capsys.readouterr().out.split("Bearer ")[1].strip()
    assert cfg.authenticate(f"Bearer {key}").is_admin
    assert api_options_for_cli(None, no_auth=True)["auth"].disabled
    assert "OFF" in capsys.readouterr().out


def test_keys_file(tmp_path: Any) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps([{"key": "f" * 24, "role": "viewer", "connectors": ["x"]}]))
    cfg = AuthConfig.from_env({"CONNLOG_API_KEYS_FILE": str(path)})
    assert cfg.authenticate("Bearer " + "f" * 24).connectors == ("x",)
