"""Open a clickhouse-connect client for a `chdb:///dir` or `http(s)://` URL.

One client library reaches both the embedded engine and a server, so the rest of the
code never knows which it talks to. chDB allows one data directory per process, so
callers in one process share the directory and may open several clients on it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from connlog.collector.config import ConfigError, Settings

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_identifier(name: str, what: str) -> str:
    """Database/cluster names go into DDL text, so only plain identifiers are accepted."""
    if not _IDENT.match(name):
        raise ConfigError(f"{what} must be a plain identifier (letters, digits, _), got {name!r}")
    return name


def connect(settings: Settings, *, database: str | None = None, **client_settings: Any) -> Client:
    """A client on the configured ClickHouse, creating the chDB directory and database if needed.

    For chDB, `settings.engine_memory` (the `CONNLOG_CHDB_*` caps) becomes the engine's
    server settings; a server's come from its own config, so they are not sent there.
    """
    url = settings.resolved_clickhouse_url
    db = check_identifier(database or settings.database, "database")
    parsed = urlparse(url)
    if parsed.scheme == "chdb":
        Path(parsed.path).mkdir(parents=True, exist_ok=True)
        # Server-level settings travel on the connection string; the connection that starts
        # the process's engine fixes them (later ones cannot change them), and every engine
        # in connlog starts here.
        bootstrap = clickhouse_connect.get_client(
            dsn=url, chdb_options=settings.engine_memory.server_settings() or None
        )
    elif parsed.scheme in ("http", "https"):
        bootstrap = clickhouse_connect.get_client(dsn=url, database="default")
    else:
        raise ConfigError(f"ClickHouse URL must start with chdb://, http:// or https://, got {url!r}")
    on_cluster = f" ON CLUSTER {check_identifier(settings.cluster, 'cluster')}" if settings.cluster else ""
    bootstrap.command(f"CREATE DATABASE IF NOT EXISTS {db}{on_cluster}")
    if parsed.scheme == "chdb":
        bootstrap.database = db
        bootstrap.command(f"USE {db}")
        for key, value in client_settings.items():
            bootstrap.set_client_setting(key, value)
        return bootstrap
    bootstrap.close()
    return clickhouse_connect.get_client(dsn=url, database=db, settings=client_settings or None)
