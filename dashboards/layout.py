"""The JSON shapes of a Grafana dashboard: panels laid out on the grid, targets, variables.

Kept apart from the queries (`dashboards.build`) so the SQL reads without the JSON around it.
Every target and query variable names the provisioned datasource (`plugin.DS`); targets carry
the plugin's `pluginVersion` so the plugin loads them as written instead of migrating them.
"""

from __future__ import annotations

from typing import Any, Final

from connlog.dashboards import plugin

JSON = dict[str, Any]

TAGS: Final = ["connlog"]

# Panel type -> (the plugin's queryType, its format).
_QUERY_TYPE: Final = {
    "timeseries": ("timeseries", plugin.FMT_TIMESERIES),
    "table": ("table", plugin.FMT_TABLE),
    "stat": ("table", plugin.FMT_TABLE),
    "piechart": ("table", plugin.FMT_TABLE),
    "bargauge": ("table", plugin.FMT_TABLE),
    "logs": ("logs", plugin.FMT_LOGS),
    "traces": ("traces", plugin.FMT_TRACE),
}


def field_link(field_name: str, title: str, url: str) -> JSON:
    return {
        "matcher": {"id": "byName", "options": field_name},
        "properties": [{"id": "links", "value": [{"title": title, "url": url}]}],
    }


def unit(field_name: str, unit_id: str) -> JSON:
    return {
        "matcher": {"id": "byName", "options": field_name},
        "properties": [{"id": "unit", "value": unit_id}],
    }


def target(sql: str, fmt: int, query_type: str) -> JSON:
    """A panel target as the plugin's SQL editor saves it (`CHSqlQuery`)."""
    return {
        "refId": "A",
        "datasource": plugin.DS,
        "pluginVersion": plugin.PLUGIN_VERSION,
        "editorType": plugin.EDITOR_SQL,
        "format": fmt,
        "queryType": query_type,
        "rawSql": sql.strip(),
    }


class Panels:
    """Collects panels with unique ids and a simple left-to-right, top-to-bottom layout."""

    def __init__(self) -> None:
        self.items: list[JSON] = []
        self.x = 0
        self.y = 0
        self.row_h = 0

    def add(
        self,
        kind: str,
        title: str,
        description: str,
        sql: str,
        *,
        w: int = 12,
        h: int = 8,
        overrides: list[JSON] | None = None,
        unit: str | None = None,
        options: JSON | None = None,
        custom: JSON | None = None,
    ) -> JSON:
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        query_type, fmt = _QUERY_TYPE[kind]
        defaults: JSON = {"custom": custom or {}}
        if unit:
            defaults["unit"] = unit
        panel: JSON = {
            "id": len(self.items) + 1,
            "type": kind,
            "title": title,
            "description": description,
            "datasource": plugin.DS,
            "gridPos": {"x": self.x, "y": self.y, "w": w, "h": h},
            "targets": [target(sql, fmt, query_type)],
            "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
            "options": options or {},
        }
        self.items.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)
        return panel


def query_var(name: str, label: str, sql: str, *, multi: bool = True) -> JSON:
    """A query variable; its `query` is the plugin's `CHVariableQuery` in custom-SQL mode."""
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": plugin.DS,
        "query": {"refId": f"var-{name}", "queryType": "sql", "rawSql": sql.strip()},
        "definition": sql.strip(),
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": True,
        "current": {"text": ["All"], "value": ["$__all"]},
        "options": [],
    }


def custom_var(name: str, label: str, options: list[tuple[str, str]], default: str, *, multi: bool) -> JSON:
    text = {v: t for t, v in options}[default]
    var: JSON = {
        "type": "custom",
        "name": name,
        "label": label,
        "query": ",".join(f"{t} : {v}" if t != v else v for t, v in options),
        "multi": multi,
        "includeAll": multi,
        "options": [{"text": t, "value": v, "selected": not multi and v == default} for t, v in options],
    }
    if multi:
        var["current"] = {"text": ["All"], "value": ["$__all"]}
    else:
        var["current"] = {"text": text, "value": default}
    return var


def textbox(name: str, label: str, description: str) -> JSON:
    return {
        "type": "textbox",
        "name": name,
        "label": label,
        "description": description,
        "query": "",
        "current": {"text": "", "value": ""},
        "options": [],
    }


def dashboard(
    uid: str,
    title: str,
    description: str,
    panels: list[JSON],
    variables: list[JSON],
    *,
    time_from: str = "now-24h",
    refresh: str = "1m",
) -> JSON:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": TAGS,
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "timezone": "browser",
        "time": {"from": time_from, "to": "now"},
        "refresh": refresh,
        "templating": {"list": variables},
        "annotations": {"list": []},
        "links": [
            {
                "type": "dashboards",
                "tags": TAGS,
                "asDropdown": True,
                "title": "connlog",
                "keepTime": True,
                "includeVars": False,
            }
        ],
        "panels": panels,
    }
