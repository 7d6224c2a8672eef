"""`connlog serve | collector | api | demo`: start the server side, in one process or apart."""

from __future__ import annotations

import functools
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from connlog.allinone import AllInOne, Ports
from connlog.collector.config import Settings
from connlog.query_api import paths
from connlog.settings_cli import ClickHouseUrl, Database, DataDir, settings_from

console = Console()

Host = Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0 in a container)")]
OtlpHttpPort = Annotated[int, typer.Option("--otlp-http-port", help="OTLP/HTTP port")]
OtlpGrpcPort = Annotated[int, typer.Option("--otlp-grpc-port", help="OTLP/gRPC port")]
ApiPort = Annotated[int, typer.Option("--api-port", help="Query API port")]
NoAuth = Annotated[bool, typer.Option("--no-auth", help="Switch API authentication off (local use only)")]


def _wait_for_signal() -> None:
    """Block until SIGINT/SIGTERM, so a container's `docker stop` shuts down gracefully."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def _api_options(settings: Settings, no_auth: bool, printer: Any = None) -> dict[str, Any]:
    from connlog.query_api.auth import api_options_for_cli

    return api_options_for_cli(settings, no_auth=no_auth, console=printer or console)


class _Notes:
    """Collects what the option builders print, to show it after the viewer's address."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def print(self, *objects: Any) -> None:
        self.lines.append(" ".join(str(o) for o in objects))


F = TypeVar("F", bound=Callable[..., None])


def config_errors_exit(command: F) -> F:
    """Server commands log key=value lines; a setting we cannot use (ingest keys, API keys,
    limits, export cap) stops the command with its message and exit status 2, not a traceback.
    Every setting is checked before anything opens storage or a port, so a bad one is
    reported as itself, not as whatever failed first with it."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        from connlog.collector.config import ConfigError
        from connlog.collector.ingest_auth import IngestKeys
        from connlog.collector.options import CollectorOptions
        from connlog.collector.server import configure_logging
        from connlog.query_api.auth import AuthConfig, AuthConfigError
        from connlog.query_api.config import ApiSettings

        configure_logging()
        try:
            IngestKeys.from_env()
            CollectorOptions.from_env()
            AuthConfig.from_env()
            ApiSettings()
            command(*args, **kwargs)
        except (ConfigError, AuthConfigError) as exc:
            console.print(f"[red]configuration error:[/] {exc}")
            raise typer.Exit(2) from exc

    return wrapper  # type: ignore[return-value]


def _run(aio: AllInOne) -> None:
    aio.start()
    try:
        if aio.api is not None:
            console.print(f"viewer     {aio.api_url}/")
        if aio.collector is not None:
            console.print(f"OTLP/HTTP  {aio.otlp_http_endpoint}   OTLP/gRPC {aio.otlp_grpc_endpoint}")
        if aio.api is not None:
            console.print(f"query API  {aio.api_url}{paths.DOCS}")
        console.print("serving until Ctrl-C / SIGTERM")
        _wait_for_signal()
    finally:
        console.print("stopping: flushing what was received")
        aio.stop()


@config_errors_exit
def serve(
    clickhouse_url: ClickHouseUrl = None,
    data_dir: DataDir = None,
    database: Database = None,
    host: Host = "127.0.0.1",
    otlp_http_port: OtlpHttpPort = 4318,
    otlp_grpc_port: OtlpGrpcPort = 4317,
    api_port: ApiPort = 8080,
    no_auth: NoAuth = False,
) -> None:
    """Collector and query API in one process (the embedded default needs this)."""
    settings = settings_from(clickhouse_url, data_dir, database)
    ports = Ports(host, otlp_http_port, otlp_grpc_port, api_port)
    _run(AllInOne(settings, ports, api_options=_api_options(settings, no_auth)))


@config_errors_exit
def collector(
    clickhouse_url: ClickHouseUrl = None,
    data_dir: DataDir = None,
    database: Database = None,
    host: Host = "127.0.0.1",
    otlp_http_port: OtlpHttpPort = 4318,
    otlp_grpc_port: OtlpGrpcPort = 4317,
) -> None:
    """Only the OTLP collector (HTTP and gRPC) writing to ClickHouse."""
    settings = settings_from(clickhouse_url, data_dir, database)
    _run(AllInOne(settings, Ports(host, otlp_http_port, otlp_grpc_port), api=False))


@config_errors_exit
def api(
    clickhouse_url: ClickHouseUrl = None,
    data_dir: DataDir = None,
    database: Database = None,
    host: Host = "127.0.0.1",
    api_port: ApiPort = 8080,
    no_auth: NoAuth = False,
) -> None:
    """Only the query API (reads a ClickHouse server; on chDB use `serve`)."""
    settings = settings_from(clickhouse_url, data_dir, database)
    ports = Ports(host=host, api=api_port)
    _run(AllInOne(settings, ports, collector=False, api_options=_api_options(settings, no_auth)))


def demo(
    data_dir: Annotated[Path, typer.Option(help="Fresh data directory for the demo")] = Path(".connlog/demo"),
    host: Host = "127.0.0.1",
    otlp_http_port: OtlpHttpPort = 4318,
    otlp_grpc_port: OtlpGrpcPort = 4317,
    api_port: ApiPort = 8080,
    wait: Annotated[bool, typer.Option(help="Keep serving until Ctrl-C after the connectors ran")] = True,
) -> None:
    """Run sample connectors against a fake API into the embedded all-in-one, then keep serving."""
    from connlog.demo.runner import DemoError, run_demo

    settings = Settings(data_dir=data_dir)
    notes = _Notes()
    options = _api_options(settings, no_auth=False, printer=notes)  # the key is shown after the viewer
    try:
        run_demo(data_dir, Ports(host, otlp_http_port, otlp_grpc_port, api_port), wait=wait, console=console,
                 api_options=options, notes=tuple(notes.lines))  # fmt: skip
    except DemoError as exc:
        console.print(f"[red]demo cannot start:[/] {exc}")
        raise typer.Exit(2) from exc
