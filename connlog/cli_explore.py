"""`connlog logs | entities | faults | call`: the questions asked after "which run failed?".

What did the connector log (severity and worse, in a run, containing a text), which
records did a run touch and how, which root faults occurred and why, and what exactly
was sent and answered in one call. Same routes, options and `--json` as the other
query commands; ids may be unique prefixes.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from connlog.cli_ids import resolve_call, resolve_run, resolve_step
from connlog.cli_query import Cause, Connector, Cursor, Limit, RunOption, Since, maybe_run, show_list
from connlog.cli_target import Api, Cli, query_command
from connlog.instrumentation import semconv as sc
from connlog.query_api import paths

Action = Annotated[
    str | None,
    typer.Option(help=", ".join(a.value for a in sc.EntityAction) + ": only entities with this action"),
]


@query_command()
def logs(
    min_severity: Annotated[
        str | None,
        typer.Option(
            "--min-severity", help="This level and worse: debug, info, warn, error, fatal or syslog 0-7"
        ),
    ] = None,
    run_id: RunOption = None,
    text: Annotated[str | None, typer.Option(help="Only records whose message contains this text")] = None,
    connector: Connector = None,
    stream: Annotated[
        str | None,
        typer.Option(
            help="app (the connector's logging), stdout or stderr (captured with"
            " init(capture_stdio=True)), stdio (both)"
        ),
    ] = None,
    since: Since = "24h",
    limit: Limit = 100,
    cursor: Cursor = None,
    *,
    cli: Cli,
) -> None:
    """Log records, newest first: `connlog logs --min-severity error --run 3f2a9c1e`."""
    from connlog.query_api.cli_views import logs_table
    from connlog.query_api.models import LogRow, Page

    show_list(
        cli, paths.LOGS, Page[LogRow], logs_table, since=since, limit=limit, cursor=cursor, run_id=run_id,
        severity=min_severity, text=text, connector=connector, stream=stream,
    )  # fmt: skip


@query_command()
def entities(
    run_id: Annotated[str, typer.Argument(help="Run id or a unique prefix")],
    step: Annotated[str | None, typer.Option(help="Step name, step id or a prefix of it")] = None,
    action: Action = None,
    external_id: Annotated[str | None, typer.Option("--external-id", help="Only this record")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
    *,
    cli: Cli,
) -> None:
    """The records (entities) a run touched: action, ids, reason and cause."""
    from connlog.query_api.cli_views import entities_table
    from connlog.query_api.models import EntityRow, Page

    def ask(api: Api) -> Any:
        rid = resolve_run(api, run_id)
        chosen = None
        if step is not None:
            chosen = resolve_step(api.get(paths.RUN.format(run_id=rid))["steps"], step)
        return api.get(
            paths.RUN_ENTITIES.format(run_id=rid),
            step=chosen,
            action=action,
            external_id=external_id,
            cursor=cursor,
            limit=limit,
        )

    cli.show_page(ask, Page[EntityRow], entities_table)


@query_command()
def faults(
    run_id: RunOption = None,
    connector: Connector = None,
    cause: Cause = None,
    host: Annotated[str | None, typer.Option(help="Host of the failing call")] = None,
    since: Since = "24h",
    limit: Limit = 50,
    cursor: Cursor = None,
    *,
    cli: Cli,
) -> None:
    """Root faults (where failures started), newest first, with counts by cause, host and status."""
    from connlog.query_api.cli_views import faults_table
    from connlog.query_api.models import FaultPage

    show_list(
        cli, paths.FAULTS, FaultPage, faults_table, since=since, limit=limit, cursor=cursor, run_id=run_id,
        connector=connector, cause=cause, host=host,
    )  # fmt: skip


@query_command()
def call(
    call_id: Annotated[str, typer.Argument(help="Call id (span id) or a unique prefix")],
    run_id: Annotated[
        str | None, typer.Option("--run", help="The call's run (id or prefix), if known")
    ] = None,
    *,
    cli: Cli,
) -> None:
    """One HTTP call: request and response side by side, headers, bodies, timing, cause."""
    from connlog.query_api.cli_views import call_view
    from connlog.query_api.models import CallDetail

    def ask(api: Api) -> Any:
        cid, rid = resolve_call(api, call_id, maybe_run(api, run_id))
        return api.get(paths.CALL.format(call_id=cid), run=rid)

    data = cli.ask(ask)
    if cli.as_json:
        return cli.print_json(data)
    cli.console.print(call_view(CallDetail.model_validate(data), cli.full_ids))
