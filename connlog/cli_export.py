"""`connlog export runs|calls|logs --format csv|pdf -o FILE`: the API's export routes to a file.

The file is streamed from the route (same filters and row cap as the API) into
`FILE.part` and renamed once complete, so a failed export never leaves a half file
under the requested name.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from connlog.cli_query import Cause, Connector, RunOption, Since, maybe_run, since_epoch
from connlog.cli_target import Api, Cli, query_command
from connlog.query_api import paths


class Kind(StrEnum):
    RUNS = "runs"
    CALLS = "calls"
    LOGS = "logs"


class Format(StrEnum):
    CSV = "csv"
    PDF = "pdf"


@query_command(output=False)
def export(
    kind: Annotated[Kind, typer.Argument(help="What to export")],
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write", dir_okay=False)],
    fmt: Annotated[Format, typer.Option("--format", help="csv or pdf")] = Format.CSV,
    connector: Connector = None,
    status: Annotated[str | None, typer.Option(help="runs: ok/error/running; calls: 404, >=400…")] = None,
    failure_cause: Cause = None,
    run_id: RunOption = None,
    min_severity: Annotated[
        str | None, typer.Option("--min-severity", help="logs: this level and worse")
    ] = None,
    text: Annotated[str | None, typer.Option(help="logs: message contains")] = None,
    since: Since = "24h",
    rows: Annotated[
        int | None, typer.Option(min=1, help="Row cap (the API's default and maximum apply)")
    ] = None,
    *,
    cli: Cli,
) -> None:
    """Export runs, calls or logs as CSV or PDF through the API's export routes."""
    start = since_epoch(since)
    given: dict[str, Any] = {
        "connector": connector,
        "status": status,
        "failure_cause": failure_cause,
        "severity": min_severity,
        "text": text,
    }
    if not output.parent.exists():
        cli.fail(f"the folder {output.parent} does not exist")

    def ask(api: Api) -> int:
        params = {**given, "run": maybe_run(api, run_id)}
        path = paths.EXPORT.format(kind=kind.value, fmt=fmt.value)
        return api.download(path, output, **params, rows=rows, **{"from": start})

    size = cli.ask(ask)
    typer.echo(f"wrote {output} ({size} bytes)")
