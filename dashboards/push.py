"""Upload the dashboards to a running Grafana, or export what a Grafana has (grafana-client).

`push` is for Grafanas that do not use our file provisioning (a shared company Grafana):
it creates the folder and the ClickHouse datasource when missing (never touching an
existing datasource, whose password we do not know) and upserts each dashboard. It is
idempotent: a dashboard whose content already matches is reported `unchanged` and not
re-saved, so Grafana's version history only grows on real changes. An update sends the
version it read (`overwrite: false`), so a concurrent edit in the UI makes the push fail
with a conflict instead of being silently overwritten.

`export` writes the dashboards of the connlog folder back as JSON files, to turn UI edits
into a reviewable diff.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaClientError

from connlog.collector.schema import names as n
from connlog.dashboards.build import DASHBOARD_DIR, load_all
from connlog.dashboards.plugin import DATASOURCE_TYPE, DATASOURCE_UID, PLUGIN_VERSION

JSON = dict[str, Any]
Action = Literal["created", "updated", "unchanged"]

# Keys Grafana manages itself; ignored when comparing a stored dashboard with ours.
_VOLATILE: Final = frozenset({"id", "version", "iteration"})


@dataclass(frozen=True)
class Change:
    """What `push` did to one object: kind is folder / datasource / dashboard."""

    kind: Literal["folder", "datasource", "dashboard"]
    uid: str
    title: str
    action: Action


@dataclass(frozen=True)
class DatasourceSettings:
    """How Grafana reaches ClickHouse (HTTP interface), for a datasource `push` creates."""

    host: str = "clickhouse"
    port: int = 8123
    protocol: Literal["http", "native"] = "http"
    secure: bool = False
    username: str = "default"
    password: str = ""
    database: str = "connlog"
    uid: str = DATASOURCE_UID
    name: str = "connlog ClickHouse"
    extra_json: Mapping[str, Any] = field(default_factory=dict)

    def payload(self) -> JSON:
        """The POST /api/datasources body (jsonData keys of grafana-clickhouse-datasource, `PLUGIN_VERSION`)."""
        json_data: JSON = {
            "host": self.host,
            "port": self.port,
            "protocol": self.protocol,
            "secure": self.secure,
            "username": self.username,
            "defaultDatabase": self.database,
            "traces": {"defaultDatabase": self.database, "defaultTable": n.TRACES, "otelEnabled": True},
            "logs": {"defaultDatabase": self.database, "defaultTable": n.LOGS, "otelEnabled": True},
            # The plugin's config editor stamps its own version here; so does a provisioned datasource.
            "version": PLUGIN_VERSION,
            **self.extra_json,
        }
        return {
            "uid": self.uid,
            "name": self.name,
            "type": DATASOURCE_TYPE,
            "access": "proxy",
            "jsonData": json_data,
            "secureJsonData": {"password": self.password} if self.password else {},
        }


def _folder_uid(title: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in title.lower())[:40] or "connlog"


def _comparable(dashboard: Mapping[str, Any]) -> JSON:
    return {k: v for k, v in dashboard.items() if k not in _VOLATILE}


def _is_not_found(exc: GrafanaClientError) -> bool:
    return getattr(exc, "status_code", None) == 404


def _api(grafana_url: str, token: str, timeout: float) -> Any:
    """A grafana-client API object; typed Any because grafana-client's methods are untyped."""
    return GrafanaApi.from_url(grafana_url, credential=token, timeout=timeout)


def ensure_folder(api: Any, title: str) -> tuple[str, Change | None]:
    """The folder's uid, creating it if no folder has that title (matched by uid or title)."""
    uid = _folder_uid(title)
    for folder in api.folder.get_all_folders():
        if folder.get("uid") == uid or folder.get("title") == title:
            return str(folder["uid"]), None
    created = api.folder.create_folder(title, uid=uid)
    return str(created["uid"]), Change("folder", str(created["uid"]), title, "created")


def ensure_datasource(api: Any, settings: DatasourceSettings) -> Change | None:
    """Create the datasource when no datasource has our uid; an existing one is left as is."""
    try:
        api.datasource.get_datasource_by_uid(settings.uid)
        return None
    except GrafanaClientError as exc:
        if not _is_not_found(exc):
            raise
    api.datasource.create_datasource(settings.payload())
    return Change("datasource", settings.uid, settings.name, "created")


def upsert_dashboard(api: Any, dashboard: Mapping[str, Any], folder_uid: str) -> Change:
    """Create, update (with the stored version) or leave a dashboard, by comparing content."""
    uid, title = str(dashboard["uid"]), str(dashboard["title"])
    try:
        current = api.dashboard.get_dashboard(uid)
    except GrafanaClientError as exc:
        if not _is_not_found(exc):
            raise
        current = None
    body: JSON = {
        "dashboard": {**_comparable(dashboard), "id": None},
        "folderUid": folder_uid,
        "overwrite": False,
        "message": "connlog dashboards push",
    }
    if current is None:
        api.dashboard.update_dashboard(body)
        return Change("dashboard", uid, title, "created")
    stored = current.get("dashboard", {})
    same_folder = current.get("meta", {}).get("folderUid", folder_uid) == folder_uid
    if _comparable(stored) == _comparable(dashboard) and same_folder:
        return Change("dashboard", uid, title, "unchanged")
    body["dashboard"]["id"] = stored.get("id")
    body["dashboard"]["version"] = stored.get("version")
    api.dashboard.update_dashboard(body)
    return Change("dashboard", uid, title, "updated")


def push(
    grafana_url: str,
    token: str,
    *,
    folder: str = "connlog",
    datasource_settings: DatasourceSettings | None = None,
    dashboards_dir: Path = DASHBOARD_DIR,
    timeout: float = 10.0,
) -> list[Change]:
    """Bring a Grafana's connlog folder, datasource and dashboards up to date; report changes.

    The returned list has one entry per dashboard (created/updated/unchanged) plus the
    folder and datasource when they had to be created.
    """
    api = _api(grafana_url, token, timeout)
    changes: list[Change] = []
    folder_uid, folder_change = ensure_folder(api, folder)
    if folder_change:
        changes.append(folder_change)
    ds_change = ensure_datasource(api, datasource_settings or DatasourceSettings())
    if ds_change:
        changes.append(ds_change)
    for dashboard in load_all(dashboards_dir).values():
        changes.append(upsert_dashboard(api, dashboard, folder_uid))
    return changes


def export(
    grafana_url: str, token: str, out_dir: Path, *, folder: str = "connlog", timeout: float = 10.0
) -> list[Path]:
    """Write every dashboard of the folder to `out_dir/<uid>.json` (volatile keys removed)."""
    api = _api(grafana_url, token, timeout)
    folder_uid = _folder_uid(folder)
    hits = api.search.search_dashboards(type_="dash-db", folder_uids=folder_uid)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for hit in hits:
        stored = api.dashboard.get_dashboard(hit["uid"])["dashboard"]
        path = out_dir / f"{hit['uid']}.json"
        path.write_text(json.dumps(_comparable(stored), indent=2) + "\n")
        written.append(path)
    return written
