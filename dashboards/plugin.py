"""The Grafana ClickHouse datasource plugin the dashboards are written for, named once.

The dashboards' JSON follows one plugin release's data model: panel targets carry
`pluginVersion` (without it, or with a version below 4.0.0, the plugin's `migrateCHQuery`
treats a saved query as a v3 one and rewrites it on load), and the datasource's `jsonData`
carries `version` (the config editor overwrites it with its own). The same release is the
one docker-compose installs, so what is provisioned is what was written and tested here.

4.20.0 is the newest release of grafana/clickhouse-datasource (CHANGELOG and tag v4.20.0,
2026-07-20); it needs Grafana >= 11.6.0, which is the Grafana image docker-compose runs.
"""

from __future__ import annotations

from typing import Any, Final

PLUGIN_ID: Final = "grafana-clickhouse-datasource"
PLUGIN_VERSION: Final = "4.20.0"

DATASOURCE_TYPE: Final = PLUGIN_ID
DATASOURCE_UID: Final = "connlog-clickhouse"
DS: Final[dict[str, Any]] = {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}

# Query formats (the plugin's `Format` enum, sent to its backend as `format`).
FMT_TIMESERIES: Final = 0
FMT_TABLE: Final = 1
FMT_LOGS: Final = 2
FMT_TRACE: Final = 3

# The plugin's SQL editor mode; a target in this mode runs `rawSql` as written.
EDITOR_SQL: Final = "sql"
