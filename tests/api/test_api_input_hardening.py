"""Hostile query input gets a clean 422 naming the parameter, never a 500 (issue 10, items 7, 8, 11).

Times at the edges of a float, forged and edited cursors (the `/logs` cursor with a
non-numeric or negative hash used to reach `int()` and a UInt64 parameter), repeated field
names in messages, the key configuration's fail-open shapes, and the filter models the
viewer reuses.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from connlog.query_api import cursor
from connlog.query_api.app import create_app, docs_enabled
from connlog.query_api.auth import AuthConfig, AuthConfigError
from connlog.query_api.filters import CallFilterParams, LogFilterParams, RunFilterParams, SearchParams
from connlog.query_api.queries.common import TimeRange
from connlog.query_api.queries.runs import RunFilters
from connlog.query_api.queries.status_filter import StatusFilter
from connlog.query_api.timeutil import NS
from tests.api_env import ADMIN, ApiEnv, bearer

WINDOWED_ROUTES = (
    "/api/v1/runs",
    "/api/v1/calls",
    "/api/v1/faults",
    "/api/v1/logs",
    *[f"/api/v1/export/{kind}.{fmt}" for kind in ("runs", "calls", "logs") for fmt in ("csv", "pdf")],
)
BAD_TIMES = ("1e308", "-1e308", "1.7976931348623157e308", "-1", "nan", "inf", "-inf", "9" * 400, "9999-12-31")


def _assert_422(resp: Any, field: str) -> dict[str, Any]:
    assert resp.status_code == 422, resp.text[:300]
    err: dict[str, Any] = resp.json()["error"]
    assert err["field"] == field and err["code"] == "invalid_parameter", err
    assert err["message"].startswith(f"{field}: ") and not err["message"].startswith(f"{field}: {field}:"), (
        err
    )
    return err


@pytest.mark.parametrize("field", ["from", "to"])
def test_times_out_of_range_are_422_on_every_windowed_route(api: ApiEnv, field: str) -> None:
    for url in (*WINDOWED_ROUTES, "/api/v1/search"):
        extra = {"q": "x"} if url.endswith("/search") else {}
        for value in BAD_TIMES:
            _assert_422(api.get(url, **{field: value}, **extra), field)


def _forged(kind: str, key: list[Any]) -> str:
    """A cursor as an attacker would make one: right shape, no valid signature."""
    raw = base64.urlsafe_b64encode(json.dumps([kind, *key]).encode()).decode().rstrip("=")
    return raw


def test_forged_and_edited_cursors_are_422_on_logs_and_log_exports(api: ApiEnv) -> None:
    ts = api.start_ns
    trace, span = "0" * 32, "0" * 16
    forged = [
        _forged("logs", [ts, trace, span, "not-a-number"]),
        _forged("logs", [ts, trace, span, "-5"]),
        _forged("logs", [ts, trace, span, "99999999999999999999999"]),
        _forged("logs", [ts, trace, span, "1"]) + ".AAAAAAAAAAAAAAAAAAAAAA",
        _forged("logs", [10**30, trace, span, "1"]),
        "",
        ".",
        "x" * 1999,
        "\u00e9\u00e9.\u00e9",
    ]
    page = api.ok("/api/v1/logs", limit=1, **{"from": str(ts // NS - 3600)})
    real = page["next_cursor"]
    assert real is not None
    payload, _, signature = real.rpartition(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data[-1] = "-1"  # the same cursor with its hash edited
    edited = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=") + "." + signature
    for url in ("/api/v1/logs", "/api/v1/export/logs.csv", "/api/v1/export/logs.pdf"):
        for token in (*forged, edited):
            resp = api.get(url, cursor=token)
            if token == "":
                assert resp.status_code in (200, 422), resp.text[:200]  # empty: first page
                continue
            _assert_422(resp, "cursor")
    # the real cursor still pages on, with no overlap
    nxt = api.ok("/api/v1/logs", limit=1, cursor=real, **{"from": str(ts // NS - 3600)})
    assert nxt["items"] and nxt["items"][0] != page["items"][0]


def test_a_cursor_from_another_list_or_another_secret_is_refused(api: ApiEnv) -> None:
    runs_cursor = api.ok("/api/v1/runs", limit=1)["next_cursor"]
    err = _assert_422(api.get("/api/v1/logs", cursor=runs_cursor), "cursor")
    assert "another list" in err["message"]
    token = cursor.encode("logs", [1, "a", "b", "1"])
    assert cursor.decode("logs", token, (int, str, str, str)) == [1, "a", "b", "1"]
    before = cursor._key()
    try:
        cursor.configure("another-server-secret")
        with pytest.raises(Exception) as info:
            cursor.decode("logs", token, (int, str, str, str))
        assert getattr(info.value, "field", None) == "cursor"
        # a configured secret is stable: a second process (or a restart) with it accepts its cursors
        shared = cursor.encode("runs", [5, "r"])
        cursor.configure("another-server-secret")
        assert cursor.decode("runs", shared, (int, str)) == [5, "r"]
    finally:
        cursor.configure(before)


def test_messages_name_the_field_once(api: ApiEnv) -> None:
    cases = [
        ("/api/v1/runs/xyz", {}, "run_id"),
        ("/api/v1/calls/xyz", {}, "call_id"),
        ("/api/v1/runs", {"limit": "0"}, "limit"),
        ("/api/v1/calls", {"run": "zz"}, "run"),
        ("/api/v1/calls", {"step": "zz"}, "step"),
        ("/api/v1/logs", {"severity_number": "1e308"}, "severity_number"),
        ("/api/v1/logs", {"severity": "loud"}, "severity"),
        ("/api/v1/faults", {"status": "999-1"}, "status"),
    ]
    for url, params, field in cases:
        err = _assert_422(api.get(url, **params), field)
        assert err["message"].count(f"{field}:") == 1, err
    unknown = api.get("/api/v1/runs", connector="a", unknown="b").json()["error"]
    assert unknown == {
        "code": "unknown_parameter",
        "message": "unknown query parameter 'unknown'",
        "field": "unknown",
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "1e308"}, "limit"),
        ({"limit": "-9223372036854775809"}, "limit"),
        ({"limit": "99999999999999999999999999"}, "limit"),
        ({"min_duration_ms": "nan"}, "min_duration_ms"),
        ({"min_duration_ms": "inf"}, "min_duration_ms"),
        ({"min_duration_ms": "1e308"}, "min_duration_ms"),
        ({"min_duration_ms": "-0.1"}, "min_duration_ms"),
        ({"status": "99999999"}, "status"),
        ({"status": ">=-1"}, "status"),
        ({"method": "GET\u0000"}, "method"),
        ({"connector": "x" * 501}, "connector"),
        ({"url_contains": "\U0001f600" * 501}, "url_contains"),
        ({"run": "\u0660" * 32}, "run"),  # Arabic-Indic digits are not hex
        ({"failure_cause": "\u00e9"}, "failure_cause"),
    ],
)
def test_numbers_and_text_out_of_range_on_calls(api: ApiEnv, params: dict[str, str], field: str) -> None:
    _assert_422(api.get("/api/v1/calls", **params), field)


def test_unicode_and_control_characters_in_text_filters_are_answered(api: ApiEnv) -> None:
    for value in ("\u0000", "\U0001f600 \u202e", "\\'\"`", "%_", "\ud7ff", "a" * 500):
        for url, param in (
            ("/api/v1/runs", "connector"),
            ("/api/v1/logs", "text"),
            ("/api/v1/calls", "host"),
        ):
            resp = api.get(url, **{param: value})
            assert resp.status_code == 200, (url, param, value, resp.text[:200])
            assert resp.json()["items"] == []


def test_severity_numbers_are_range_checked(api: ApiEnv) -> None:
    for value in ("0", "25", "-5", "256", "1e3"):
        _assert_422(api.get("/api/v1/logs", severity_number=value), "severity_number")
    assert api.get("/api/v1/logs", severity_number="17").status_code == 200


def test_filter_models_parse_mappings_for_the_viewer() -> None:
    params = RunFilterParams.model_validate(
        {"from": "2026-01-01", "to": "2026-01-02", "connector": "hubspot", "status": "error", "limit": "5"}
    )
    filters = params.to_filters(3600 * NS)
    assert filters == RunFilters(
        time=TimeRange(1_767_225_600 * NS, 1_767_312_000 * NS), connector="hubspot", status="error", limit=5
    )
    # no `from`: the window given by the caller, ending at `to`
    assert RunFilterParams.model_validate({"to": "2026-01-02"}).to_filters(3600 * NS).time == TimeRange(
        1_767_312_000 * NS - 3600 * NS, 1_767_312_000 * NS
    )
    calls = CallFilterParams.model_validate({"status": ">=400", "run": "A" * 32}).to_filters(NS)
    assert calls.status == StatusFilter(400, 999) and calls.run_id == "a" * 32
    assert LogFilterParams.model_validate({"severity": "err"}).to_filters(NS).min_severity == 17
    for model, bad, field in (
        (RunFilterParams, {"conector": "x"}, "conector"),
        (RunFilterParams, {"from": "1e308"}, "from"),
        (RunFilterParams, {"from": "2026-01-02", "to": "2026-01-01"}, "from"),
        (LogFilterParams, {"cursor": "forged"}, "cursor"),
        (LogFilterParams, {"severity": "loud"}, "severity"),
        (SearchParams, {"q": ""}, "q"),
    ):
        with pytest.raises(ValidationError) as info:
            model.model_validate(bad)
        assert info.value.errors()[0]["loc"] == (field,), info.value.errors()


def test_key_entries_that_would_fail_open_are_refused_at_start(tmp_path: Path) -> None:
    secret = "s3cret-key-value-0000"
    cases = {
        '[{"key": "%s", "connectors": []}]': "entry 0: 'connectors' is empty",
        '[{"key": "%s", "role": "admin"}, {"key": "%s-2", "connectors": []}]': "entry 1: 'connectors' is empty",
        '[{"key": "%s", "conectors": ["a"]}]': "entry 0: unknown field(s) 'conectors'",
        '[{"key": "%s", "scope": "all"}]': "entry 0: unknown field(s) 'scope'",
        '[{"key": "%s", "connectors": [""]}]': "entry 0: 'connectors' must be a list",
        '[{"key": "%s", "name": 5}]': "entry 0: 'name' must be a string",
    }
    for template, expected in cases.items():
        text = template.replace("%s", secret)
        path = tmp_path / "keys.json"
        path.write_text(text)
        for env in ({"CONNLOG_API_KEYS": text}, {"CONNLOG_API_KEYS_FILE": str(path)}):
            with pytest.raises(AuthConfigError) as info:
                AuthConfig.from_env(env)
            message = str(info.value)
            assert expected in message and secret not in message, message
    with pytest.raises(AuthConfigError, match="leave 'connectors' out"):
        AuthConfig().add(secret, "admin", [])
    ok = AuthConfig.from_env(
        {"CONNLOG_API_KEYS": json.dumps([{"key": secret, "name": "ci", "connectors": ["a"]}])}
    )
    assert ok.authenticate(f"Bearer {secret}").connectors == ("a",)


def test_openapi_and_docs_are_public_unless_switched_off(api: ApiEnv) -> None:
    assert api.client.get("/openapi.json").status_code == 200
    assert api.client.get("/docs").status_code == 200
    assert not docs_enabled({"CONNLOG_API_DOCS": "off"}) and docs_enabled({})
    hidden = create_app(api.settings, auth=AuthConfig(), docs=False)
    with TestClient(hidden) as tc:
        for url in ("/openapi.json", "/docs", "/redoc"):
            assert tc.get(url).status_code == 404
            assert tc.get(url, headers=bearer(ADMIN)).status_code == 404
        assert tc.get("/api/v1/runs").status_code == 401
