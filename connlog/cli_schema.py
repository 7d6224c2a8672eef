"""`connlog schema apply|print`: migrations and retention, or the DDL for a DBA."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from connlog.collector.config import ConfigError
from connlog.collector.schema.migrate import apply_schema, render
from connlog.collector.store import connect
from connlog.settings_cli import ClickHouseUrl, Database, DataDir, settings_from

app = typer.Typer(help="Create, migrate and print the ClickHouse schema.", no_args_is_help=True)
console = Console()

RetentionDays = Annotated[int | None, typer.Option(help="Delete data after N days (0 keeps forever)")]
RecompressDays = Annotated[int | None, typer.Option(help="Recompress with a heavier codec after N days")]
PayloadDays = Annotated[int | None, typer.Option(help="Delete headers/bodies after N days")]
Cluster = Annotated[
    str | None, typer.Option(help="ClickHouse cluster name: ON CLUSTER DDL, Replicated engines")
]


@app.command("apply")
def apply_cmd(
    clickhouse_url: ClickHouseUrl = None,
    data_dir: DataDir = None,
    database: Database = None,
    retention_days: RetentionDays = None,
    recompress_days: RecompressDays = None,
    payload_retention_days: PayloadDays = None,
    cluster: Cluster = None,
) -> None:
    """Apply pending migrations and the configured retention (idempotent)."""
    settings = settings_from(
        clickhouse_url,
        data_dir,
        database,
        retention_days=retention_days,
        recompress_days=recompress_days,
        payload_retention_days=payload_retention_days,
        cluster=cluster,
    )
    try:
        client = connect(settings)
        changes = apply_schema(client, settings)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from exc
    for change in changes:
        console.print(f"[green]applied[/] {change}")
    if not changes:
        console.print(f"schema of [bold]{settings.database}[/] is up to date")
    client.close()


@app.command("print")
def print_cmd(
    database: Database = None,
    retention_days: RetentionDays = None,
    recompress_days: RecompressDays = None,
    payload_retention_days: PayloadDays = None,
    cluster: Cluster = None,
) -> None:
    """Print the full DDL (with TTL, RECOMPRESS and codecs) for review or to run by hand."""
    settings = settings_from(
        database=database,
        retention_days=retention_days,
        recompress_days=recompress_days,
        payload_retention_days=payload_retention_days,
        cluster=cluster,
    )
    typer.echo(render(settings))
