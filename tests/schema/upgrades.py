"""A database as an older connlog left it, for the upgrade tests of each migration.

Each migration that changes stored data has a test that creates a database at the version
before it, writes rows the old way, upgrades, and compares: the setup and the clean-up are
the same for all of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from clickhouse_connect.driver.client import Client

from connlog.collector.config import Settings
from connlog.collector.schema import ddl
from connlog.collector.schema import names as n
from connlog.collector.schema.migrate import MIGRATIONS
from connlog.collector.store import connect


def create_at(client: Client, settings: Settings, version: int) -> None:
    """The database as it was when `version` was the newest migration."""
    client.command(ddl.migrations_table(settings))
    for m in MIGRATIONS[:version]:
        for stmt in m.statements(settings):
            client.command(stmt)
        client.insert(n.MIGRATIONS, [[m.version, m.name]], column_names=["version", "name"])


def upgrades_after(version: int) -> list[str]:
    """What `apply_schema` reports when it brings a database at `version` to the latest."""
    return [f"migration {m.version}: {m.name}" for m in MIGRATIONS[version:]]


@contextmanager
def database_at(base_settings: Settings, version: int) -> Iterator[tuple[Client, Settings]]:
    """A fresh database at `version` (its own name), dropped afterwards."""
    settings = replace(base_settings, database=f"t_upgrade_{version + 1}")
    client = connect(settings)
    try:
        create_at(client, settings, version)
        yield client, settings
    finally:
        client.command(f"DROP DATABASE IF EXISTS {settings.database} SYNC")
        client.close()
