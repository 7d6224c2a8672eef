"""Dashboard JSON structure, query discipline and the macro expander, without a database."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from connlog.collector.schema import names
from connlog.dashboards import build, plugin
from connlog.dashboards.macros import ALL, MacroError, TimeRange, Variable, expand
from connlog.dashboards.push import DatasourceSettings

DASHBOARDS = build.load_all()
ROOT = build.DASHBOARD_DIR.parent


def _queries(dash: dict[str, Any]) -> list[str]:
    out = [t["rawSql"] for p in dash["panels"] for t in p["targets"]]
    out += [v["query"]["rawSql"] for v in dash["templating"]["list"] if v["type"] == "query"]
    return out


def test_json_files_are_what_build_generates() -> None:
    rendered = build.render()
    assert sorted(rendered) == sorted(DASHBOARDS)
    for name, text in rendered.items():
        assert (build.DASHBOARD_DIR / name).read_text() == text, (
            f"{name} is stale: run python -m connlog.dashboards.build"
        )


def test_uids_unique_and_panel_ids_unique_per_dashboard() -> None:
    uids = [d["uid"] for d in DASHBOARDS.values()]
    assert len(set(uids)) == len(uids) == 5
    for name, dash in DASHBOARDS.items():
        ids = [p["id"] for p in dash["panels"]]
        assert len(set(ids)) == len(ids), name
        for p in dash["panels"]:
            assert p["title"] and len(p["description"]) > 30, (name, p["title"])
            g = p["gridPos"]
            assert g["x"] + g["w"] <= 24


def test_every_datasource_reference_is_the_provisioned_one() -> None:
    provisioned = yaml.safe_load((ROOT / "dashboards/provisioning/datasources/clickhouse.yaml").read_text())
    ds = provisioned["datasources"][0]
    assert (ds["uid"], ds["type"]) == (build.DATASOURCE_UID, build.DATASOURCE_TYPE)
    assert DatasourceSettings().payload()["uid"] == ds["uid"]
    for name, dash in DASHBOARDS.items():
        refs = [p["datasource"] for p in dash["panels"]]
        refs += [t["datasource"] for p in dash["panels"] for t in p["targets"]]
        refs += [v["datasource"] for v in dash["templating"]["list"] if "datasource" in v]
        assert all(r == {"type": ds["type"], "uid": ds["uid"]} for r in refs), name


def test_links_point_at_existing_dashboards_and_variables() -> None:
    by_uid = {d["uid"]: d for d in DASHBOARDS.values()}
    seen = 0
    for name, dash in DASHBOARDS.items():
        own_vars = {v["name"] for v in dash["templating"]["list"]}
        for p in dash["panels"]:
            for o in p["fieldConfig"]["overrides"]:
                field_name = o["matcher"]["options"]
                for prop in o["properties"]:
                    if prop["id"] != "links":
                        continue
                    for link in prop["value"]:
                        m = re.match(r"^/d/([\w-]+)/[\w-]+\?(.*)$", link["url"])
                        assert m, link["url"]
                        target = by_uid[m.group(1)]
                        target_vars = {v["name"] for v in target["templating"]["list"]}
                        for var, value in re.findall(r"var-(\w+)=([^&]+)", m.group(2)):
                            assert var in target_vars, (name, link["url"])
                            inner = re.fullmatch(r"\$\{(\w+)\}", value)
                            assert value == "${__value.raw}" or (inner and inner.group(1) in own_vars), value
                        sql = p["targets"][0]["rawSql"]
                        assert re.search(rf"AS {field_name}\b", sql), (name, p["title"], field_name)
                        seen += 1
    assert seen >= 6


def test_query_discipline() -> None:
    """Time filter everywhere, the sort key on traces, payloads only in Call detail."""
    for name, dash in DASHBOARDS.items():
        for sql in _queries(dash):
            assert "$__timeFilter(Timestamp)" in sql, (name, sql[:80])
            if "FROM otel_traces\n" in sql or "FROM otel_traces " in sql:
                assert re.search(r"\bRole (=|IN)", sql), (name, sql[:120])
            if "FROM otel_logs" in sql:
                assert "TimestampTime" in sql, (name, sql[:120])
            if "otel_traces_payloads" in sql:
                assert dash["uid"] == build.UID_CALL, name
                assert "ServiceName = tupleElement(c, 1) AND TraceId = tupleElement(c, 2)" in sql
    kinds = {p["type"] for d in DASHBOARDS.values() for p in d["panels"]}
    assert {"timeseries", "table", "traces", "logs", "stat", "piechart"} <= kinds


def test_dashboard_provider_and_compose_mount_agree() -> None:
    provider = yaml.safe_load((ROOT / "dashboards/provisioning/dashboards/connlog.yaml").read_text())[
        "providers"
    ][0]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./dashboards:{provider['options']['path']}:ro" in mounts
    assert provider["type"] == "file" and provider["folderUid"] == "connlog"


def test_targets_and_datasource_carry_the_plugin_version() -> None:
    """Without `pluginVersion` >= 4.0.0 the plugin takes a saved target for a v3 one and migrates it."""
    for name, dash in DASHBOARDS.items():
        for p in dash["panels"]:
            for t in p["targets"]:
                assert t["pluginVersion"] == plugin.PLUGIN_VERSION, (name, p["title"])
                assert t["editorType"] == plugin.EDITOR_SQL and t["rawSql"], (name, p["title"])
    assert (
        re.fullmatch(r"\d+\.\d+\.\d+", plugin.PLUGIN_VERSION)
        and int(plugin.PLUGIN_VERSION.split(".")[0]) >= 4
    )
    provisioned = yaml.safe_load((ROOT / "dashboards/provisioning/datasources/clickhouse.yaml").read_text())
    assert provisioned["datasources"][0]["jsonData"]["version"] == plugin.PLUGIN_VERSION
    assert DatasourceSettings().payload()["jsonData"]["version"] == plugin.PLUGIN_VERSION


def test_run_level_panels_read_connector_runs() -> None:
    """Like the query API: runs come from `connector_runs`, never from run spans in `otel_traces`."""
    run_level = {
        "connector-failures.json": {
            "Runs in range",
            "Failed runs per connector",
            "Failure rate per connector",
            "Failure causes (failed runs)",
            "Schedules that stopped firing",
        },
        "runs.json": {"Runs by status", "Runs"},
        "run-detail.json": {"Run"},
    }
    for file, titles in run_level.items():
        by_title = {p["title"]: p["targets"][0]["rawSql"] for p in DASHBOARDS[file]["panels"]}
        for title in titles:
            sql = by_title[title]
            assert f"FROM {names.RUNS}" in sql and f"FROM {names.TRACES}\n" not in sql, (file, title)
        variables = [
            v["query"]["rawSql"] for v in DASHBOARDS[file]["templating"]["list"] if v["type"] == "query"
        ]
        assert all(f"FROM {names.RUNS}" in v for v in variables), file


# --------------------------------------------------------------------------- literal column names
# Renders every dashboard in a fresh interpreter after renaming every table and column of
# `collector.schema.names` (before `concepts` and the builder import it). Whatever name the
# builder took from `names` comes out renamed; a name it spelled itself comes out unchanged.
SENTINEL = "__renamed"
_RENAMED_BUILD = f"""
import json
from connlog.collector.schema import names

SENTINEL = {SENTINEL!r}
def renamed(value):
    if isinstance(value, str):
        return value + SENTINEL
    if isinstance(value, tuple):
        return tuple(renamed(v) for v in value)
    if isinstance(value, dict):
        return {{k: renamed(v) for k, v in value.items()}}
    return value
for key in [k for k in vars(names) if k.isupper()]:
    setattr(names, key, renamed(getattr(names, key)))

from connlog.dashboards import build
queries = []
for file, make in build.DASHBOARDS.items():
    dash = make()
    queries += [[file, p["title"], t["rawSql"]] for p in dash["panels"] for t in p["targets"]]
    queries += [[file, v["name"], v["query"]["rawSql"]] for v in dash["templating"]["list"] if v["type"] == "query"]
print(json.dumps(queries))
"""


def _schema_names() -> set[str]:
    """Every table and column name `collector.schema.names` defines."""
    out: set[str] = set()
    for key, value in vars(names).items():
        if not key.isupper():
            continue
        if isinstance(value, str):
            out.add(value)
        elif isinstance(value, tuple):
            out.update(v for v in value if isinstance(v, str))
        elif isinstance(value, dict):
            out.update(v for v in value.values() if isinstance(v, str))
    return out


def literal_schema_names(sql: str, schema_names: set[str]) -> set[str]:
    """Identifiers of `sql` (outside string literals) equal to a schema name: `Events.Name` whole."""
    code = re.sub(r"'(?:[^'\\]|\\.|'')*'", "''", sql)
    return {tok for tok in re.findall(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*", code) if tok in schema_names}


def test_builder_takes_every_table_and_column_name_from_names() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _RENAMED_BUILD],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    queries = json.loads(done.stdout)
    assert len(queries) == sum(len(_queries(d)) for d in DASHBOARDS.values())
    schema_names = _schema_names()
    assert {"Timestamp", "Events.Name", names.RUNS, "Fetched"} <= schema_names
    for file, title, sql in queries:
        assert SENTINEL in sql, (file, title)  # the renaming reached this query
        assert not literal_schema_names(sql, schema_names), (
            file,
            title,
            literal_schema_names(sql, schema_names),
        )


def test_literal_name_scan_finds_what_it_should() -> None:
    schema_names = _schema_names()
    sql = "SELECT Timestamp, Events.Name, x.Tenant, 'Role' AS role FROM otel_traces WHERE Role__renamed = 1"
    assert literal_schema_names(sql, schema_names) == {"Timestamp", "Events.Name", names.TRACES}


# --------------------------------------------------------------------------- macros
T0 = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
T1 = T0 + timedelta(hours=6)
TR = TimeRange(T0, T1, timedelta(seconds=30))
F, T = int(T0.timestamp()), int(T1.timestamp())


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("$__timeFilter(Timestamp)", f"Timestamp >= toDateTime({F}) AND Timestamp <= toDateTime({T})"),
        (
            "$__timeFilter_ms(ts)",
            f"ts >= fromUnixTimestamp64Milli({F}678) AND ts <= fromUnixTimestamp64Milli({T}678)",
        ),
        ("$__fromTime AND $__toTime", f"toDateTime({F}) AND toDateTime({T})"),
        ("$__fromTime_ms,$__toTime_ms", f"fromUnixTimestamp64Milli({F}678),fromUnixTimestamp64Milli({T}678)"),
        ("$__dateFilter(d)", "d >= toDate('2026-01-02') AND d <= toDate('2026-01-02')"),
        (
            "$__dateTimeFilter(d, t)",
            f"(d >= toDate('2026-01-02') AND d <= toDate('2026-01-02')) AND "
            f"(t >= toDateTime({F}) AND t <= toDateTime({T}))",
        ),
        (
            "$__dt(d,t)",
            f"(d >= toDate('2026-01-02') AND d <= toDate('2026-01-02')) AND "
            f"(t >= toDateTime({F}) AND t <= toDateTime({T}))",
        ),
        ("$__timeInterval(Timestamp)", "toStartOfInterval(toDateTime(Timestamp), INTERVAL 30 second)"),
        (
            "$__timeInterval_ms(Timestamp)",
            "toStartOfInterval(toDateTime64(Timestamp, 3), INTERVAL 30000 millisecond)",
        ),
        ("$__interval_s", "30"),
        (
            "$__timeInterval(toDateTime(a, 'UTC'))",
            "toStartOfInterval(toDateTime(toDateTime(a, 'UTC')), INTERVAL 30 second)",
        ),
    ],
)
def test_backend_macros_match_the_plugin(sql: str, expected: str) -> None:
    assert expand(sql, TR) == expected


def test_sub_second_interval_rounds_up_to_one() -> None:
    tiny = TimeRange(T0, T1, timedelta(milliseconds=200))
    assert expand("$__interval_s $__timeInterval_ms(x)", tiny) == (
        "1 toStartOfInterval(toDateTime64(x, 3), INTERVAL 200 millisecond)"
    )


def test_variables_single_multi_all_and_formats() -> None:
    v = {
        "one": Variable("hubspot", options=["hubspot", "netsuite"]),
        "many": Variable(["a", "b'c"], options=["a", "b'c", "d"]),
        "all": Variable([ALL], options=["x", "y"]),
        "custom_all": Variable(ALL, options=["x"], all_value=".*"),
        "text": Variable("it's"),
    }
    assert expand("$one ${one} ${one:singlequote} ${one:csv}", TR, v) == "hubspot hubspot 'hubspot' hubspot"
    assert expand("IN ($many)", TR, v) == "IN ('a','b'c')"  # the plugin's own format does not escape
    assert expand("${many:singlequote}|${many:csv}", TR, v) == "'a','b\\'c'|a,b'c"
    assert expand("${all:singlequote} ${all}", TR, v) == "'x','y' 'x','y'"
    assert expand("${custom_all}", TR, v) == ".*"
    assert expand("${text:sqlstring}", TR, v) == "'it''s'"
    with pytest.raises(MacroError):
        expand("$missing", TR, v)
    with pytest.raises(MacroError):
        expand("$__nope(x)", TR, v)


def test_conditional_all_drops_the_condition_for_all_and_empty() -> None:
    sql = (
        "WHERE $__conditionalAll(ServiceName IN (${c:singlequote}), $c)"
        " AND $__conditionalAll(f(a, b) = 1, ${s})"
    )
    all_empty = {"c": Variable([ALL], options=["p", "q"]), "s": Variable("")}
    assert expand(sql, TR, all_empty) == "WHERE 1=1 AND 1=1"
    picked = {"c": Variable(["p"], options=["p", "q"]), "s": Variable("z")}
    assert expand(sql, TR, picked) == "WHERE ServiceName IN ('p') AND f(a, b) = 1"
    # The dashboards parenthesise OR conditions so they stay inside the surrounding ANDs.
    assert build.cond_all("a = 1 OR b = 2", "s") == "$__conditionalAll((a = 1 OR b = 2), $s)"
    assert expand("x AND " + build.cond_all("a = 1 OR b = 2", "s"), TR, picked) == "x AND (a = 1 OR b = 2)"
