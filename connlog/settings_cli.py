"""The CLI's common flags, declared once, and how they become `Settings`.

Flags override `CONNLOG_*` variables. The five target options (`--api-url`, `--token`,
`--clickhouse-url`, `--data-dir`, `--database`) are read by every query command through
`connlog.cli_target.query_command`, and the last three also by `serve`/`schema`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Final

import typer

from connlog.collector.config import ConfigError, Retention, Settings

ENV_API_URL: Final = "CONNLOG_API_URL"
ENV_API_KEY: Final = "CONNLOG_API_KEY"

ClickHouseUrl = Annotated[
    str | None,
    typer.Option("--clickhouse-url", help="chdb:///dir (embedded, default) or http(s)://user:pass@host:8123"),
]
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (default .connlog)")]
Database = Annotated[str | None, typer.Option("--database", help="ClickHouse database (default connlog)")]
ApiUrl = Annotated[
    str | None,
    typer.Option(
        "--api-url", envvar=ENV_API_URL, help="A running query API; default: open the data directory"
    ),
]
Token = Annotated[str | None, typer.Option("--token", envvar=ENV_API_KEY, help="API key for --api-url")]
Debug = Annotated[bool, typer.Option("--debug", help="Show the traceback of an internal error")]
Json = Annotated[bool, typer.Option("--json", help="Print the API's JSON unchanged")]
FullIds = Annotated[bool, typer.Option("--full-ids", help="Full run/span ids instead of 8-character ones")]


def settings_from(
    clickhouse_url: str | None = None,
    data_dir: Path | None = None,
    database: str | None = None,
    *,
    retention_days: int | None = None,
    recompress_days: int | None = None,
    payload_retention_days: int | None = None,
    cluster: str | None = None,
) -> Settings:
    """Environment first, then any flag given; a bad value exits with its message, not a traceback."""
    try:
        base = Settings.from_env()
        r = base.retention
        retention = Retention(
            days=r.days if retention_days is None else retention_days,
            recompress_days=r.recompress_days if recompress_days is None else recompress_days,
            payload_days=r.payload_days if payload_retention_days is None else payload_retention_days,
        )
        return base.with_overrides(
            clickhouse_url=clickhouse_url,
            data_dir=data_dir,
            database=database,
            retention=retention,
            cluster=cluster,
        )
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from exc
