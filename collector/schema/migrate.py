"""Versioned, idempotent schema migrations and retention changes.

The schema is a public interface (users run SQL on it), so it only changes through a
numbered migration recorded in `connlog_schema_migrations`; each migration is a fixed SQL
file under `migrations/` (see `templates.py`): changes after it was written are new files. Retention is not a migration:
it is a setting, compared with what the tables carry on every `apply` and altered in place
when it differs, so changing `CONNLOG_RETENTION_DAYS` reaches an existing database.
"""

from __future__ import annotations

import re

from clickhouse_connect.driver.client import Client

from connlog.collector.config import Settings
from connlog.collector.schema import ddl
from connlog.collector.schema import names as n
from connlog.collector.schema.templates import MigrationFile, load_migrations

Migration = MigrationFile
MIGRATIONS: tuple[MigrationFile, ...] = load_migrations()

LATEST_VERSION = MIGRATIONS[-1].version

_TTL_RE = re.compile(r"\bTTL (.*?)(?:\sSETTINGS\s|$)", re.S)


def render(settings: Settings) -> str:
    """The full DDL for a DBA to review or run by hand (`connlog schema print`)."""
    target = ddl.target_of(settings)
    stmts = [f"CREATE DATABASE IF NOT EXISTS {target.database}{target.on_cluster}"]
    stmts.append(ddl.migrations_table(settings))
    for m in MIGRATIONS:
        first, *rest = m.statements(settings)
        stmts.append(f"-- migration {m.version}: {m.name}\n{first}")
        stmts.extend(rest)
    return ";\n\n".join(stmts) + ";\n"


def applied_versions(client: Client, settings: Settings) -> set[int]:
    table = ddl.target_of(settings).q(n.MIGRATIONS)
    return {int(row[0]) for row in client.query(f"SELECT version FROM {table} FINAL").result_rows}


def current_ttl(client: Client, database: str, table: str) -> str:
    """The TTL clause a table carries now, as ClickHouse prints it ('' for none)."""
    rows = client.query(
        "SELECT create_table_query FROM system.tables WHERE database = {db:String} AND name = {t:String}",
        parameters={"db": database, "t": table},
    ).result_rows
    if not rows:
        return ""
    match = _TTL_RE.search(str(rows[0][0]))
    return match.group(1).strip() if match else ""


def apply_schema(client: Client, settings: Settings) -> list[str]:
    """Bring the database to the latest version and the configured retention.

    Returns a description of each change made; an up-to-date database returns [].
    """
    done: list[str] = []
    client.command(ddl.migrations_table(settings))
    have = applied_versions(client, settings)
    mig_table = ddl.target_of(settings).q(n.MIGRATIONS)
    for m in MIGRATIONS:
        if m.version in have:
            continue
        for stmt in m.statements(settings):
            client.command(stmt)
        client.insert(mig_table, [[m.version, m.name]], column_names=["version", "name"])
        done.append(f"migration {m.version}: {m.name}")
    done.extend(apply_retention(client, settings))
    return done


def apply_retention(client: Client, settings: Settings) -> list[str]:
    """ALTER every storage table whose TTL differs from the configured retention."""
    changed = []
    target = ddl.target_of(settings)
    for table, stmt in ddl.retention_statements(settings):
        spec = next(s for s in ddl.STORAGE_TABLES if target.storage_name(s.name) == table)
        want = spec.ttl(settings.retention)
        if current_ttl(client, target.database, table) == want:
            continue
        client.command(stmt, settings={"materialize_ttl_after_modify": 0})
        changed.append(f"retention of {table}: {want or 'keep forever'}")
    return changed
