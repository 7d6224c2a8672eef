"""Turn the CLI's common flags into `Settings`: flags override `CONNLOG_*` variables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from collector.config import ConfigError, Retention, Settings

ClickHouseUrl = Annotated[
    str | None,
    typer.Option("--clickhouse-url", help="chdb:///dir (embedded, default) or http(s)://user:pass@host:8123"),
]
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (default .connlog)")]
Database = Annotated[str | None, typer.Option("--database", help="ClickHouse database (default connlog)")]


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
