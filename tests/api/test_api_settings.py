"""`GET /api/v1/settings`: the settings in force and the stored volume, for admins only.

The stored figures are checked against the tables themselves (`SELECT count()`, the oldest
and newest day of each table's time column) on the dataset sent through the real collector.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient

from connlog.collector.config import ENV_INGEST_KEYS, ENV_INGEST_KEYS_FILE, Retention
from connlog.collector.schema.ddl import COLD_CODEC, HOT_CODEC, STORAGE_TABLES, payload_days
from connlog.instrumentation._init import DEFAULT_BODY_CAP
from connlog.query_api.app import create_app
from connlog.query_api.auth import AuthConfig
from connlog.query_api.paths import SETTINGS, api
from connlog.query_api.routes.settings import SCOPED_STORAGE_NOTE
from tests.api_env import ADMIN, SCOPED_ADMIN, VIEWER, ApiEnv

URL = api(SETTINGS)
INGEST_KEY = "ingest-key-0123456789abcdef"


@pytest.fixture
def no_ingest_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_INGEST_KEYS, raising=False)
    monkeypatch.delenv(ENV_INGEST_KEYS_FILE, raising=False)


def test_admin_sees_the_settings_the_server_runs_with(api: ApiEnv, no_ingest_env: None) -> None:
    body = api.ok(URL, ADMIN)
    r = api.settings.retention
    assert body["database"] == api.settings.database
    assert body["retention_days"] == r.days
    assert body["payload_retention_days"] == payload_days(r)
    assert body["recompress_after_days"] == r.recompress_days
    assert (body["hot_codec"], body["recompress_codec"]) == (HOT_CODEC, COLD_CODEC)
    assert body["sdk_body_cap_bytes"] == DEFAULT_BODY_CAP
    assert "init(body_cap=" in body["sdk_body_cap_note"]
    assert body["export_max_rows"] == api.client.app.state.connlog.settings.export_max_rows  # type: ignore[attr-defined]
    assert body["api_auth"] is True
    assert body["ingest_auth"] == "off"
    assert body["storage_note"] is None


def test_rows_bytes_and_days_per_table_match_what_is_stored(api: ApiEnv, api_db: Client) -> None:
    storage = {t["table"]: t for t in api.ok(URL, ADMIN)["storage"]}
    assert list(storage) == [t.name for t in STORAGE_TABLES]
    db = api.settings.database
    for t in STORAGE_TABLES:
        got = storage[t.name]
        count, oldest, newest = api_db.query(
            f"SELECT count(), toString(min(toDate({t.time_expr}))), toString(max(toDate({t.time_expr})))"
            f" FROM {db}.{t.name}"
        ).result_rows[0]
        assert got["rows"] == count, t.name
        assert count > 0, f"the dataset left {t.name} empty: nothing is checked"
        assert (got["oldest_partition"], got["newest_partition"]) == (oldest, newest), t.name
        assert got["parts"] >= 1 and got["bytes_on_disk"] > 0
        assert got["uncompressed_bytes"] > 0 and got["compressed_bytes"] > 0
        assert got["compression_ratio"] == round(got["uncompressed_bytes"] / got["compressed_bytes"], 2)
    days = {t["oldest_partition"] for t in storage.values()} | {
        t["newest_partition"] for t in storage.values()
    }
    assert len(days) >= 2  # the dataset spans two days: oldest and newest differ somewhere


def test_viewer_and_anonymous_are_refused(api: ApiEnv) -> None:
    resp = api.get(URL, VIEWER)
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "forbidden"
    assert api.get(URL, None).status_code == 401
    assert api.get(URL, ADMIN, extra="1").status_code == 422


def test_scoped_admin_gets_settings_without_every_connectors_volume(api: ApiEnv) -> None:
    """A scoped admin may not learn other connectors' row counts (as it may not run SQL)."""
    body = api.ok(URL, SCOPED_ADMIN)
    assert body["retention_days"] == api.settings.retention.days
    assert body["storage"] is None and body["storage_note"] == SCOPED_STORAGE_NOTE


def test_figures_follow_the_settings_and_no_key_is_shown(
    api: ApiEnv, monkeypatch: pytest.MonkeyPatch, no_ingest_env: None
) -> None:
    settings = replace(api.settings, retention=Retention(days=10, recompress_days=0, payload_days=3))
    monkeypatch.setenv(ENV_INGEST_KEYS, json.dumps([{"key": INGEST_KEY, "connectors": ["*"], "name": "gw"}]))
    with TestClient(create_app(settings, auth=AuthConfig(disabled=True))) as tc:
        resp = tc.get(URL)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert (body["retention_days"], body["payload_retention_days"]) == (10, 3)
        assert body["recompress_after_days"] is None and body["recompress_codec"] is None
        assert body["api_auth"] is False and body["ingest_auth"] == "on"
        assert INGEST_KEY not in resp.text
        monkeypatch.setenv(ENV_INGEST_KEYS, "[{")
        assert tc.get(URL).json()["ingest_auth"] == "invalid"
