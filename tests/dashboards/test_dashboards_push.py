"""`dashboards.push` against a small in-process Grafana API double.

No real Grafana is available here, so a tiny `http.server` implements the few endpoints
push/export use, with Grafana's semantics where they matter (404 for unknown uids,
version check on POST /api/dashboards/db, 412 on a stale version) and records every
request, so the tests check the request sequence grafana-client actually sends.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from grafana_client.client import GrafanaClientError

from connlog.dashboards import build, plugin
from connlog.dashboards.push import Change, DatasourceSettings, export, push

TOKEN = "glsa_test_token"


class FakeGrafana:
    def __init__(self) -> None:
        self.folders: dict[str, dict[str, Any]] = {}
        self.datasources: dict[str, dict[str, Any]] = {}
        self.dashboards: dict[str, dict[str, Any]] = {}  # uid -> {"dashboard", "folderUid"}
        self.requests: list[tuple[str, str, Any]] = []
        self.auth: set[str] = set()
        self.edit_after_read: set[str] = set()  # uids "saved in the UI" right after push reads them
        self.lock = threading.Lock()

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "folders"]:
            if method == "GET":
                return 200, list(self.folders.values())
            folder = {"uid": body["uid"], "title": body["title"], "id": len(self.folders) + 1}
            self.folders[body["uid"]] = folder
            return 200, folder
        if parts[:3] == ["api", "datasources", "uid"] and method == "GET":
            ds = self.datasources.get(parts[3])
            return (200, ds) if ds else (404, {"message": "Data source not found"})
        if parts[:2] == ["api", "datasources"] and method == "POST":
            self.datasources[body["uid"]] = body
            return 200, {"datasource": body, "id": 1, "message": "Datasource added"}
        if parts[:3] == ["api", "dashboards", "uid"] and method == "GET":
            stored = self.dashboards.get(parts[3])
            if not stored:
                return 404, {"message": "Dashboard not found"}
            answer = {"dashboard": dict(stored["dashboard"]), "meta": {"folderUid": stored["folderUid"]}}
            if parts[3] in self.edit_after_read:
                stored["dashboard"] = {**stored["dashboard"], "version": stored["dashboard"]["version"] + 1}
            return 200, answer
        if parts[:3] == ["api", "dashboards", "db"] and method == "POST":
            dash = dict(body["dashboard"])
            stored = self.dashboards.get(dash["uid"])
            if stored and not body.get("overwrite") and dash.get("version") != stored["dashboard"]["version"]:
                return 412, {
                    "status": "version-mismatch",
                    "message": "The dashboard has been changed by someone else",
                }
            dash["version"] = stored["dashboard"]["version"] + 1 if stored else 1
            dash["id"] = stored["dashboard"]["id"] if stored else len(self.dashboards) + 1
            self.dashboards[dash["uid"]] = {"dashboard": dash, "folderUid": body["folderUid"]}
            return 200, {"uid": dash["uid"], "version": dash["version"], "status": "success"}
        if parts[:2] == ["api", "search"]:
            folder_uid = query.get("folderUIDs", [""])[0]
            return 200, [
                {"uid": uid, "title": d["dashboard"]["title"], "type": "dash-db"}
                for uid, d in self.dashboards.items()
                if d["folderUid"] == folder_uid
            ]
        return 404, {"message": f"not implemented: {method} {path}"}


@pytest.fixture
def grafana() -> Iterator[tuple[str, FakeGrafana]]:
    state = FakeGrafana()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method: str) -> None:
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            with state.lock:
                state.requests.append((method, url.path, body))
                state.auth.add(self.headers.get("Authorization", ""))
                status, payload = state.handle(method, url.path, parse_qs(url.query), body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()
    server.server_close()


def _writes(state: FakeGrafana) -> list[tuple[str, str]]:
    return [(m, p) for m, p, _ in state.requests if m != "GET"]


def test_first_push_creates_folder_datasource_and_dashboards(grafana: tuple[str, FakeGrafana]) -> None:
    url, state = grafana
    ds = DatasourceSettings(host="ch.internal", password="s3cret")
    changes = push(url, TOKEN, datasource_settings=ds)
    uids = sorted(d["uid"] for d in build.load_all().values())
    assert changes[:2] == [
        Change("folder", "connlog", "connlog", "created"),
        Change("datasource", build.DATASOURCE_UID, ds.name, "created"),
    ]
    assert sorted(c.uid for c in changes[2:]) == uids and {c.action for c in changes[2:]} == {"created"}
    # The request sequence: look before creating, for every object.
    assert state.requests[0][:2] == ("GET", "/api/folders")
    assert state.requests[1][:2] == ("POST", "/api/folders")
    assert state.requests[2][:2] == ("GET", f"/api/datasources/uid/{build.DATASOURCE_UID}")
    assert state.requests[3][:2] == ("POST", "/api/datasources")
    assert [r[:2] for r in state.requests[4:6]] == [
        ("GET", f"/api/dashboards/uid/{changes[2].uid}"),
        ("POST", "/api/dashboards/db"),
    ]
    created_ds = state.datasources[build.DATASOURCE_UID]
    assert created_ds["type"] == "grafana-clickhouse-datasource"
    assert (
        created_ds["jsonData"]["host"] == "ch.internal"
        and created_ds["jsonData"]["defaultDatabase"] == "connlog"
        and created_ds["jsonData"]["version"] == plugin.PLUGIN_VERSION
    )
    assert created_ds["secureJsonData"] == {"password": "s3cret"}
    assert {d["folderUid"] for d in state.dashboards.values()} == {"connlog"}
    assert state.auth == {f"Bearer {TOKEN}"}


def _edited_copy(directory: Path, file: str, edit: Callable[[dict[str, Any]], None]) -> None:
    """The built dashboards copied into `directory`, with `edit` applied to `file`'s JSON."""
    for f in build.DASHBOARD_DIR.glob("*.json"):
        shutil.copy(f, directory / f.name)
    doc = json.loads((directory / file).read_text())
    edit(doc)
    (directory / file).write_text(json.dumps(doc))


def test_second_push_is_unchanged_and_writes_nothing(grafana: tuple[str, FakeGrafana]) -> None:
    url, state = grafana
    push(url, TOKEN)
    before = len(_writes(state))
    changes = push(url, TOKEN)
    assert {c.action for c in changes} == {"unchanged"} and {c.kind for c in changes} == {"dashboard"}
    assert len(_writes(state)) == before
    assert {d["dashboard"]["version"] for d in state.dashboards.values()} == {1}


def test_changed_dashboard_is_updated_with_its_version(
    grafana: tuple[str, FakeGrafana], tmp_path: Path
) -> None:
    url, state = grafana
    push(url, TOKEN)
    _edited_copy(tmp_path, "runs.json", lambda d: d["panels"][0].update(title="Runs by status (edited)"))
    state.requests.clear()
    changes = push(url, TOKEN, dashboards_dir=tmp_path)
    by_uid = {c.uid: c.action for c in changes}
    assert by_uid.pop(build.UID_RUNS) == "updated" and set(by_uid.values()) == {"unchanged"}
    posts = [b for m, p, b in state.requests if (m, p) == ("POST", "/api/dashboards/db")]
    assert len(posts) == 1
    assert posts[0]["dashboard"]["version"] == 1 and posts[0]["overwrite"] is False
    assert state.dashboards[build.UID_RUNS]["dashboard"]["version"] == 2
    assert state.dashboards[build.UID_RUNS]["dashboard"]["panels"][0]["title"] == "Runs by status (edited)"


def test_concurrent_ui_edit_fails_the_push_instead_of_being_overwritten(
    grafana: tuple[str, FakeGrafana], tmp_path: Path
) -> None:
    url, state = grafana
    push(url, TOKEN)
    _edited_copy(tmp_path, "logs.json", lambda d: d.update(description="changed"))
    state.edit_after_read.add(build.UID_LOGS)
    with pytest.raises(GrafanaClientError) as err:
        push(url, TOKEN, dashboards_dir=tmp_path)
    assert err.value.status_code == 412
    assert state.dashboards[build.UID_LOGS]["dashboard"]["description"] != "changed"


def test_existing_datasource_is_left_alone(grafana: tuple[str, FakeGrafana]) -> None:
    url, state = grafana
    state.datasources[build.DATASOURCE_UID] = {"uid": build.DATASOURCE_UID, "jsonData": {"host": "prod"}}
    changes = push(url, TOKEN)
    assert "datasource" not in {c.kind for c in changes}
    assert state.datasources[build.DATASOURCE_UID]["jsonData"] == {"host": "prod"}


def test_server_errors_surface(grafana: tuple[str, FakeGrafana]) -> None:
    url, _ = grafana
    with pytest.raises(GrafanaClientError):
        export(url + "/nope", TOKEN, Path("/nonexistent-never-created"))


def test_export_round_trips_what_push_stored(grafana: tuple[str, FakeGrafana], tmp_path: Path) -> None:
    url, _ = grafana
    push(url, TOKEN)
    paths = export(url, TOKEN, tmp_path / "out")
    ours = {d["uid"]: d for d in build.load_all().values()}
    assert sorted(p.stem for p in paths) == sorted(ours)
    for p in paths:
        exported = json.loads(p.read_text())
        assert "version" not in exported and "id" not in exported
        assert exported == {k: v for k, v in ours[p.stem].items() if k not in ("id", "version")}


def test_cli_push_reports_changes_then_unchanged(grafana: tuple[str, FakeGrafana]) -> None:
    """`connlog dashboards push` wires the same push and prints one row per change."""
    from typer.testing import CliRunner

    from connlog.cli import app

    url, _state = grafana
    runner = CliRunner()
    args = ["dashboards", "push", "--grafana-url", url, "--token", "t", "--clickhouse-password", "pw"]
    first = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert first.exit_code == 0, first.output
    assert "created" in first.output and "dashboard" in first.output
    second = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert second.exit_code == 0, second.output
    assert "created" not in second.output and "unchanged" in second.output


def test_cli_push_to_unreachable_grafana_exits_cleanly() -> None:
    from typer.testing import CliRunner

    from connlog.cli import app

    result = CliRunner().invoke(
        app, ["dashboards", "push", "--grafana-url", "http://127.0.0.1:9", "--token", "t"]
    )
    assert result.exit_code == 1
    assert "push failed" in result.output
