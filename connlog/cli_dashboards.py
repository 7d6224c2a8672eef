"""`connlog dashboards push|export`: keep Grafana's dashboards and the repo's files in step."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Push the dashboards to Grafana, or export them back to files.", no_args_is_help=True)
console = Console()

GrafanaUrl = Annotated[
    str, typer.Option("--grafana-url", envvar="GRAFANA_URL", help="e.g. http://localhost:3000")
]
Token = Annotated[
    str,
    typer.Option("--token", envvar="GRAFANA_TOKEN", help="Grafana service-account token (or GRAFANA_TOKEN)"),
]


@app.command()
def push(
    grafana_url: GrafanaUrl,
    token: Token,
    folder: Annotated[str, typer.Option(help="Grafana folder for the dashboards")] = "connlog",
    clickhouse_host: Annotated[
        str, typer.Option(help="ClickHouse host as Grafana reaches it")
    ] = "clickhouse",
    clickhouse_port: Annotated[int, typer.Option(help="ClickHouse HTTP port")] = 8123,
    clickhouse_user: Annotated[str, typer.Option(help="ClickHouse user for Grafana")] = "connlog",
    clickhouse_password: Annotated[
        str | None, typer.Option(help="ClickHouse password (default: CLICKHOUSE_PASSWORD)")
    ] = None,
    database: Annotated[str, typer.Option(help="ClickHouse database")] = "connlog",
) -> None:
    """Create the folder and datasource if missing; upsert every dashboard; report what changed."""
    from grafana_client.client import GrafanaException

    from connlog.dashboards.push import DatasourceSettings
    from connlog.dashboards.push import push as do_push

    ds = DatasourceSettings(
        host=clickhouse_host,
        port=clickhouse_port,
        username=clickhouse_user,
        password=clickhouse_password
        if clickhouse_password is not None
        else os.environ.get("CLICKHOUSE_PASSWORD", ""),
        database=database,
    )
    try:
        changes = do_push(grafana_url, token, folder=folder, datasource_settings=ds)
    except (GrafanaException, OSError) as exc:  # HTTP client errors derive from OSError
        console.print(f"[red]push failed:[/] {exc}")
        raise typer.Exit(1) from exc
    table = Table("kind", "uid", "title", "action")
    for change in changes:
        table.add_row(change.kind, change.uid, change.title, str(change.action))
    console.print(table)


@app.command()
def export(
    grafana_url: GrafanaUrl,
    token: Token,
    out_dir: Annotated[Path, typer.Argument(help="Directory to write the dashboard JSON files to")] = Path(
        "dashboards"
    ),
    folder: Annotated[str, typer.Option(help="Grafana folder to export")] = "connlog",
) -> None:
    """Write the folder's dashboards back to JSON files (to commit a change made in the UI)."""
    from connlog.dashboards.push import export as do_export

    for path in do_export(grafana_url, token, out_dir, folder=folder):
        console.print(f"wrote {path}")
