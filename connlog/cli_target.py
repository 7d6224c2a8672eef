"""Where a CLI command's questions go, declared once for every query command.

`query_command` adds the five target options (`--api-url`, `--token`, `--clickhouse-url`,
`--data-dir`, `--database`), `--debug` and, for commands that print results, `--json` and
`--full-ids` to a command's own options, so they are written after the subcommand as
always (`connlog runs --data-dir X`) and declared in one place. The command receives a
`Cli` with the target and output choices.

Every command goes through the API's own routes: over HTTP with `--api-url`, or in-process
on a data directory. chDB lets one process own a directory, so before opening it the
target is checked for the two mistakes people make at 3 a.m. (a server already owns the
directory; the schema was never created) and each gets a sentence saying what to type.
Other failures print one line; `--debug` shows the traceback.
"""

from __future__ import annotations

import fcntl
import functools
import inspect
import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlparse

import httpx
import typer
from rich.console import Console

from connlog.collector.config import Settings
from connlog.collector.schema import names as n
from connlog.query_api import paths
from connlog.settings_cli import (
    ApiUrl,
    ClickHouseUrl,
    Database,
    DataDir,
    Debug,
    FullIds,
    Json,
    Token,
    settings_from,
)

T = TypeVar("T")
DEFAULT_API_URL = "http://127.0.0.1:8080"  # where `connlog serve` listens by default
# chDB (ClickHouse) writes its PID here and holds an flock on it while the directory is open.
_STATUS_FILE = "status"


class CliError(Exception):
    """A failure the user can act on: one line of what happened and, optionally, what to type."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ApiError(CliError):
    """The API answered with its error shape; the message is the API's own."""

    def __init__(self, status: int, message: str, hint: str = "") -> None:
        super().__init__(f"{status}: {message}", hint)
        self.status = status


_STATUS_HINT = {
    401: "give an API key: --token KEY or CONNLOG_API_KEY",
    403: "this key may not do that; ask for a key with the right role",
}


class Api:
    """GET/POST against the API's routes, over HTTP or in-process; returns parsed JSON."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def _check(self, resp: httpx.Response) -> None:
        if resp.status_code < 400:
            return
        try:
            err = resp.json()["error"]
            message = str(err.get("message", resp.text))
            field = err.get("field")
            if field and not message.startswith(f"{field}:"):
                message = f"{field}: {message}"
        except (ValueError, KeyError, TypeError, AttributeError):
            message = resp.text[:500]
        raise ApiError(resp.status_code, message, _STATUS_HINT.get(resp.status_code, ""))

    def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        resp = self.client.get(paths.API_PREFIX + path, params=clean)
        self._check(resp)
        return resp.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        resp = self.client.post(paths.API_PREFIX + path, json=body)
        self._check(resp)
        return resp.json()

    def download(self, path: str, dest: Path, **params: Any) -> int:
        """Stream a file route into `dest` (written only once the answer is known good); bytes written."""
        clean = {k: v for k, v in params.items() if v is not None}
        with self.client.stream("GET", paths.API_PREFIX + path, params=clean) as resp:
            if resp.status_code >= 400:
                resp.read()
                self._check(resp)
            tmp = dest.with_name(dest.name + ".part")
            size = 0
            with tmp.open("wb") as out:
                for chunk in resp.iter_bytes():
                    out.write(chunk)
                    size += len(chunk)
            tmp.replace(dest)
            return size


@dataclass(frozen=True)
class Target:
    """A running API (`api_url`), or a ClickHouse/data directory opened in-process."""

    api_url: str | None = None
    token: str | None = None
    clickhouse_url: str | None = None
    data_dir: Path | None = None
    database: str | None = None

    def flags(self) -> str:
        """The storage flags as typed, to repeat them in a suggested command."""
        parts = []
        if self.clickhouse_url:
            parts.append(f"--clickhouse-url {self.clickhouse_url}")
        if self.data_dir is not None:
            parts.append(f"--data-dir {self.data_dir}")
        if self.database:
            parts.append(f"--database {self.database}")
        return " ".join(parts)


def _owner_pid(status: Path) -> int | None:
    """The PID of another process holding chDB's lock on `status`, or None when it is free."""
    try:
        fd = status.open("rb")
    except OSError:
        return None
    with fd:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        try:
            first = fd.readline().decode("utf-8", "replace")
            pid = int(first.split(":", 1)[1]) if first.startswith("PID:") else -1
        except (ValueError, IndexError):
            pid = -1
    # This process holds it itself (tests, or a command that opened it before): not busy.
    return None if pid == os.getpid() else pid


def check_embedded(settings: Settings, target: Target) -> None:
    """A chDB directory that does not exist or that another process owns is refused up front."""
    url = settings.resolved_clickhouse_url
    parsed = urlparse(url)
    if parsed.scheme != "chdb":
        return
    directory = Path(parsed.path)
    if not directory.exists():
        where = settings.data_dir if not target.clickhouse_url else directory
        raise CliError(
            f"no connlog data directory at {where}",
            "give the right one with --data-dir (default .connlog), or create it:"
            f" connlog schema apply {target.flags()}".rstrip(),
        )
    pid = _owner_pid(directory / _STATUS_FILE)
    if pid is not None:
        who = f"process {pid}" if pid > 0 else "another process"
        raise CliError(
            f"the data directory {settings.data_dir} is in use by {who}, probably `connlog serve`;"
            " chDB lets one process open a directory",
            f"ask that server instead: --api-url {DEFAULT_API_URL} (its --api-port) with --token KEY",
        )


def check_schema(settings: Settings, target: Target) -> None:
    """Open the store and make sure the connlog schema exists in the chosen database."""
    from connlog.collector.schema.migrate import LATEST_VERSION, applied_versions
    from connlog.collector.store import connect

    try:
        client = connect(settings)
    except Exception as exc:
        raise CliError(
            f"cannot open ClickHouse at {settings.resolved_clickhouse_url}: {_first_line(exc)}"
        ) from exc
    try:
        rows = client.query(
            "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {t:String}",
            parameters={"db": settings.database, "t": n.MIGRATIONS},
        ).result_rows
        if not rows or int(rows[0][0]) == 0:
            raise CliError(
                f"no connlog schema in database {settings.database!r} of {settings.resolved_clickhouse_url}",
                f"create it: connlog schema apply {target.flags()}".rstrip(),
            )
        applied = applied_versions(client, settings)
        if max(applied, default=0) < LATEST_VERSION:
            Console(stderr=True).print(
                f"[yellow]schema at version {max(applied, default=0)}, this connlog expects"
                f" {LATEST_VERSION}: connlog schema apply {target.flags()}[/]",
                highlight=False,
            )
    finally:
        client.close()


def _known_failure(exc: BaseException, target: Target) -> CliError | None:
    """chDB's own words for the two usual mistakes, should they get past the checks above.

    A directory another process opened: `Unable to open the chdb engine … Error initializing
    EmbeddedServer` (chDB prints "Cannot lock file …/status. Another server instance in same
    directory is already running" on stderr). No schema: ClickHouse codes 60 (UNKNOWN_TABLE)
    and 81 (UNKNOWN_DATABASE).
    """
    text = str(exc)
    if "Unable to open the chdb engine" in text:
        return CliError(
            "cannot open the data directory: another process (probably `connlog serve`) has it open",
            f"ask that server instead: --api-url {DEFAULT_API_URL} (its --api-port) with --token KEY",
        )
    if "UNKNOWN_TABLE" in text or "UNKNOWN_DATABASE" in text:
        return CliError(
            f"the connlog schema is missing or incomplete: {_first_line(exc)[:120]}",
            f"create or upgrade it: connlog schema apply {target.flags()}".rstrip(),
        )
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


CURSOR_SECRET_FILE = "cursor.secret"  # noqa: S105 - a file name


def local_cursor_secret(data_dir: Path) -> None:
    """Sign cursors with a secret kept in the data directory (made once, owner-only), so the
    `--cursor` a command prints is accepted by the next command, another process; an operator's
    `CONNLOG_CURSOR_SECRET` still wins."""
    import os
    import secrets

    from connlog.query_api import cursor

    if os.environ.get(cursor.ENV_CURSOR_SECRET):
        cursor.configure(None)
        return
    path = Path(data_dir) / CURSOR_SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    cursor.configure(path.read_text().strip())


@contextmanager
def open_api(target: Target) -> Iterator[Api]:
    """An `Api` on the target: an HTTP client, or the app in-process on the checked store."""
    if target.api_url:
        headers = {"Authorization": f"Bearer {target.token}"} if target.token else {}
        with httpx.Client(base_url=target.api_url, headers=headers, timeout=60) as client:
            yield Api(client)
        return
    import warnings

    with warnings.catch_warnings():  # Starlette's notice about its own httpx use is not the user's business
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from connlog.query_api.app import create_app
    from connlog.query_api.auth import AuthConfig

    settings = settings_from(target.clickhouse_url, target.data_dir, target.database)
    check_embedded(settings, target)
    check_schema(settings, target)
    local_cursor_secret(settings.data_dir)
    app = create_app(settings, auth=AuthConfig(disabled=True), docs=False)
    # Raised, not turned into a 500: the CLI prints the cause itself (and the traceback on --debug).
    with TestClient(app, raise_server_exceptions=True) as client:
        yield Api(client)


@dataclass(frozen=True)
class Cli:
    """What a query command gets: where to ask, and how to print."""

    target: Target
    as_json: bool = False
    full_ids: bool = False
    debug: bool = False

    @property
    def console(self) -> Console:
        return Console(highlight=False)

    def ask(self, question: Callable[[Api], T]) -> T:
        """Run `question` against the API; every failure exits 1 with one clear line."""
        quiet = logging.getLogger("connlog.query_api")
        level = quiet.level
        if not self.debug:
            quiet.setLevel(logging.CRITICAL + 1)
        try:
            with open_api(self.target) as api:
                return question(api)
        except CliError as exc:
            self.fail(exc.message, exc.hint, exc)
        except httpx.TransportError as exc:
            self.fail(
                f"cannot reach the API at {self.target.api_url}: {_first_line(exc)}",
                "is `connlog serve` (or `connlog api`) running there?",
                exc,
            )
        except Exception as exc:
            if self.debug:
                raise
            known = _known_failure(exc, self.target)
            if known is not None:
                self.fail(known.message, known.hint, exc)
            self.fail(
                f"internal error: {type(exc).__name__}: {_first_line(exc)}",
                "--debug shows the traceback",
                exc,
            )
        finally:
            quiet.setLevel(level)

    def fail(self, message: str, hint: str = "", cause: BaseException | None = None) -> NoReturn:
        err = Console(stderr=True, highlight=False)
        err.print(f"[red]error:[/] {message}", soft_wrap=True, markup=True)
        if hint:
            err.print(f"  {hint}", soft_wrap=True, markup=False)
        raise typer.Exit(1) from cause

    def more(self, data: Any) -> None:
        """After a page: the `--cursor` of the next one on a line of its own, never cut or wrapped."""
        cursor = data.get("next_cursor") if isinstance(data, dict) else None
        if cursor:
            self.console.print(f"more: --cursor {cursor}", style="dim", soft_wrap=True)

    def print_json(self, data: Any) -> None:
        """The API's JSON as it came, indented (pipe it into jq)."""
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))

    def show_page(
        self, question: Callable[[Api], Any], model: type[Any], render: Callable[[Any, bool, int], Any]
    ) -> None:
        """A list command's answer: the API's JSON with `--json`, else `render`'s table of the
        typed page at the terminal's width, then the next page's `--cursor`."""
        data = self.ask(question)
        if self.as_json:
            self.print_json(data)
            return
        self.console.print(render(model.model_validate(data), self.full_ids, self.console.width))
        self.more(data)


_TARGET_PARAMS: tuple[tuple[str, Any], ...] = (
    ("api_url", ApiUrl),
    ("token", Token),
    ("clickhouse_url", ClickHouseUrl),
    ("data_dir", DataDir),
    ("database", Database),
)


def query_command(*, output: bool = True) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command the shared options; it takes `cli: Cli` instead of declaring them.

    `output=False` for commands that print no rows (export): no `--json`/`--full-ids`.
    """

    def wrap(fn: Callable[..., None]) -> Callable[..., None]:
        sig = inspect.signature(fn, eval_str=True)
        own = [p for p in sig.parameters.values() if p.name != "cli"]
        extra: list[tuple[str, Any, Any]] = [(name, ann, None) for name, ann in _TARGET_PARAMS]
        extra.append(("debug", Debug, False))
        if output:
            extra += [("as_json", Json, False), ("full_ids", FullIds, False)]
        added = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=a)
            for name, a, d in extra
        ]

        @functools.wraps(fn)
        def command(*args: Any, **kwargs: Any) -> None:
            target = Target(**{name: kwargs.pop(name) for name, _ in _TARGET_PARAMS})
            cli = Cli(
                target,
                as_json=bool(kwargs.pop("as_json", False)),
                full_ids=bool(kwargs.pop("full_ids", False)),
                debug=bool(kwargs.pop("debug", False)),
            )
            fn(*args, cli=cli, **kwargs)

        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + added
        command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return wrap
