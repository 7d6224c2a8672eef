"""`connlog demo`: a fresh data directory, the all-in-one, a fake API, three sample connectors.

Each sample connector runs in its own process (as connectors do in production, and because
`service.name` belongs to a process), exporting over OTLP/HTTP to the all-in-one. The demo
then shows what an operator would look at first: the runs, the failed calls by cause, and
which runs touched a given record, as SQL a user can copy, with its answers.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from connlog import datagen
from connlog.allinone import AllInOne, Ports
from connlog.collector.config import Settings
from connlog.collector.http_thread import ThreadedServer
from connlog.collector.schema import names as n
from connlog.collector.store import connect
from connlog.demo import fake_api
from connlog.demo.connectors import BACKGROUND_CONNECTORS, READY, SAMPLE_CONNECTORS
from connlog.instrumentation import semconv as sc
from connlog.query_api import paths
from connlog.query_api.cli_views import short

MARKER = ".connlog-demo"  # only directories carrying this marker are ever wiped

EXAMPLE_SQL: tuple[tuple[str, str], ...] = (
    (
        "Runs, newest first",
        f"SELECT {n.C_SERVICE_NAME} AS connector, {n.C_TRACE_ID} AS run_id,"
        f" {n.C_SPAN_ATTRIBUTES}['{sc.RUN_STATUS}'] AS status, {n.C_FAILURE_CAUSE} AS cause,"
        f" round({n.C_DURATION} / 1e9, 2) AS seconds,"
        f" {n.C_SPAN_ATTRIBUTES}['{sc.count_key(sc.Counter.FETCHED)}'] AS fetched,"
        f" {n.C_SPAN_ATTRIBUTES}['{sc.count_key(sc.Counter.FAILED)}'] AS failed\n"
        f"FROM {n.TRACES} WHERE {n.C_ROLE} = '{sc.Role.RUN}' ORDER BY {n.C_TIMESTAMP} DESC",
    ),
    (
        "Failed HTTP calls by cause",
        f"SELECT {n.C_SERVICE_NAME} AS connector, {n.C_FAILURE_CAUSE} AS cause, {n.C_HTTP_STATUS} AS status,"
        f" {n.C_HTTP_METHOD} AS method, {n.C_HTTP_URL} AS url\n"
        f"FROM {n.TRACES} WHERE {n.C_ROLE} = '{sc.Role.HTTP}' AND {n.C_FAILURE_CAUSE} != ''"
        f" ORDER BY {n.C_TIMESTAMP}",
    ),
    (
        "Which runs touched record c-001?",
        f"SELECT DISTINCT {n.C_SERVICE_NAME} AS connector, {n.C_TRACE_ID} AS run_id, {n.C_FIELD} AS field\n"
        f"FROM {n.SEARCH_INDEX} WHERE {n.C_VALUE} = 'c-001' AND {n.C_TIMESTAMP} > now() - INTERVAL 30 DAY",
    ),
)


class DemoError(RuntimeError):
    """The demo cannot start; the message says why and what to do."""


@dataclass
class DemoResult:
    data_dir: Path
    otlp_http: str
    api_url: str
    exit_codes: dict[str, int] = field(default_factory=dict)
    answers: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)


def fresh_data_dir(path: Path) -> Path:
    """Empty `path` for the demo, refusing to wipe a directory the demo did not create."""
    if path.exists() and any(path.iterdir()):
        if not (path / MARKER).exists():
            raise DemoError(
                f"{path} exists and was not made by the demo; pass --data-dir to an empty directory"
            )
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / MARKER).write_text("created by `connlog demo`; safe to delete\n")
    return path


def run_connectors(
    api_url: str, otlp_endpoint: str, console: Console, timeout: float = 120.0
) -> dict[str, int]:
    """Run each sample connector in its own process, with a progress bar; return exit codes."""
    codes: dict[str, int] = {}
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("sample connectors", total=len(SAMPLE_CONNECTORS))
        for name in SAMPLE_CONNECTORS:
            progress.update(task, description=f"running connector [bold]{name}[/]")
            proc = subprocess.run(  # noqa: S603 - our own module, fixed arguments
                [sys.executable, "-m", "connlog.demo.connectors", name, api_url, otlp_endpoint],
                capture_output=True, text=True, timeout=timeout, check=False,
            )  # fmt: skip
            codes[name] = proc.returncode
            if proc.returncode != 0:
                console.print(f"[red]connector {name} exited {proc.returncode}[/]\n{proc.stderr[-2000:]}")
            progress.advance(task)
    return codes


def start_background(
    api_url: str, otlp_endpoint: str, console: Console, timeout: float = 60.0
) -> list[subprocess.Popen[str]]:
    """Start the long-running sample connectors; return once each has exported its first step.

    Their runs stay *running* while the demo serves; `stop_background` ends the processes
    (killed, as a crashed worker would be: the run never gets an end).
    """
    procs: list[subprocess.Popen[str]] = []
    for name in BACKGROUND_CONNECTORS:
        proc = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [sys.executable, "-m", "connlog.demo.connectors", name, api_url, otlp_endpoint],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        procs.append(proc)
        guard = threading.Timer(timeout, proc.kill)  # a stuck start cannot hang the demo
        guard.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if READY in line:
                    break
        finally:
            guard.cancel()
        if proc.poll() is not None:
            console.print(f"[red]background connector {name} stopped early ({proc.returncode})[/]")
        else:
            console.print(f"connector [bold]{name}[/] is running (a long run you can watch in the viewer)")
    return procs


def stop_background(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def show_examples(settings: Settings, console: Console) -> dict[str, list[tuple[Any, ...]]]:
    """Run the example SQL and print each query with its answer."""
    answers: dict[str, list[tuple[Any, ...]]] = {}
    client = connect(settings)
    try:
        for title, sql in EXAMPLE_SQL:
            result = client.query(sql)
            answers[title] = [tuple(r) for r in result.result_rows]
            table = Table(title=title, title_justify="left", caption=sql, caption_justify="left")
            ids = [col.endswith("_id") for col in result.column_names]
            for col, is_id in zip(result.column_names, ids, strict=True):
                table.add_column(col, overflow="fold", no_wrap=is_id)
            for row in result.result_rows[:20]:  # ids as git shows them: the answers keep them whole
                table.add_row(
                    *(short(str(v)) if is_id else str(v) for v, is_id in zip(row, ids, strict=True))
                )
            console.print(table)
    finally:
        client.close()
    return answers


def run_demo(
    data_dir: Path,
    ports: Ports,
    *,
    wait: bool = True,
    console: Console | None = None,
    stop_event: threading.Event | None = None,
    api_options: dict[str, Any] | None = None,
    notes: tuple[str, ...] = (),
) -> DemoResult:
    """Run the demo; `notes` (e.g. the demo admin key) are printed right after the viewer's address."""
    console = console or Console()
    settings = Settings(data_dir=fresh_data_dir(data_dir))
    aio = AllInOne(settings, ports, api_options=api_options)
    try:
        aio.start()
    except OSError as exc:
        raise DemoError(
            f"cannot listen on {ports}: {exc}; choose other ports with --otlp-http-port etc."
        ) from exc
    console.print(f"[bold]viewer         {aio.api_url}/[/]   (open it in a browser)")
    for note in notes:
        console.print(note)
    fake = ThreadedServer(fake_api.create_app(), host=ports.host, port=0, name="fake-api")
    fake.start()
    background: list[subprocess.Popen[str]] = []
    try:
        console.print(f"[bold]connlog demo[/]: data in {data_dir}, fake third-party API at {fake.url}")
        background = start_background(fake.url, aio.otlp_http_endpoint, console)
        codes = run_connectors(fake.url, aio.otlp_http_endpoint, console)
        # What the sample connectors do not show: a job that skipped a tick, operations
        # (deploy done, build failed, environment sync running), stdout/stderr lines.
        datagen.send(datagen.extras(), aio.otlp_http_endpoint)
        aio.flush()
        answers = show_examples(settings, console)
        result = DemoResult(data_dir, aio.otlp_http_endpoint, aio.api_url, codes, answers)
        console.print(
            f"\n[bold]Where to look[/]\n"
            f"  viewer         {aio.api_url}/   (runs, drill-down, call detail, search)\n"
            f"  query API      {aio.api_url}{paths.DOCS}   (runs: {aio.api_url}{paths.api(paths.RUNS)})\n"
            f"  OTLP/HTTP      {aio.otlp_http_endpoint}   OTLP/gRPC {aio.otlp_grpc_endpoint}\n"
            f'  SQL            connlog sql "SELECT ..." --data-dir {data_dir}  (after stopping the demo)\n'
            f"  point a connector here: OTEL_EXPORTER_OTLP_ENDPOINT={aio.otlp_http_endpoint}"
        )
        if wait:
            console.print("\nserving until Ctrl-C ...")
            event = stop_event or threading.Event()
            try:
                event.wait()
            except KeyboardInterrupt:
                console.print("stopping")
        return result
    finally:
        stop_background(background)
        fake.stop()
        aio.stop()
