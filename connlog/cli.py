"""The `connlog` command: one typer app, each group in its own module."""

from __future__ import annotations

import typer

from connlog import cli_dashboards, cli_explore, cli_export, cli_query, cli_schema, cli_serve

app = typer.Typer(
    name="connlog",
    help="Observability for data connectors: collector, query API, dashboards, demo.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(cli_schema.app, name="schema")
app.add_typer(cli_dashboards.app, name="dashboards")
app.command()(cli_serve.serve)
app.command()(cli_serve.collector)
app.command()(cli_serve.api)
app.command()(cli_serve.demo)
for _query in (
    cli_query.runs,
    cli_query.jobs,
    cli_query.run,
    cli_query.calls,
    cli_explore.call,
    cli_explore.logs,
    cli_explore.entities,
    cli_explore.faults,
    cli_query.search,
    cli_query.sql,
    cli_export.export,
):
    app.command()(_query)


if __name__ == "__main__":
    app()
