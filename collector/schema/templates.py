"""Migrations as checked-in SQL templates, rendered for one database, cluster and retention.

Why templates: an applied migration must never change. When migrations were rendered from
live column lists, adding a column to a list changed what an *old* migration creates (new
databases got the column, upgraded ones silently never did). Each migration is now a fixed
file `migrations/NNNN_<name>.sql` (first line `-- <description>`); only the deployment-specific
parts are placeholders, and `tests/test_schema.py` pins every file's digest.

Placeholders (`${...}`, which ClickHouse SQL never uses; `{shard}`/`{replica}` macros stay):

| placeholder | single node | cluster `c` |
|---|---|---|
| `${db}` | the database | the database |
| `${on_cluster}` | `''` | ` ON CLUSTER c` |
| `${local:T}` | `T` | `T_local` (the table holding the parts) |
| `${engine:K}` | `K()` | `ReplicatedK('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')` |
| `${ttl:T}` | `TTL …` from the retention settings, or `''` | the same |
| `${distributed:T}` | no statement | `CREATE TABLE … AS T_local ENGINE = Distributed(…)` |
| `${if_cluster}` (starts a statement) | no statement | the statement |

The TTL a table is created with is only a starting point: `apply_retention` aligns it with the
settings in force on every apply.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import Final

from connlog.collector.config import Settings
from connlog.collector.schema.ddl import STORAGE_TABLES, Target, target_of

__all__ = ["MigrationFile", "load_migrations", "render"]

_PLACEHOLDER: Final = re.compile(r"\$\{(\w+)(?::(\w+))?\}")
_FILE: Final = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_IF_CLUSTER: Final = "${if_cluster}"


@dataclass(frozen=True)
class MigrationFile:
    """One numbered migration: its fixed text and what it does."""

    version: int
    name: str
    text: str

    @property
    def digest(self) -> str:
        """sha256 of the file: pinned by a test so an applied migration cannot drift."""
        return hashlib.sha256(self.text.encode()).hexdigest()

    def statements(self, settings: Settings) -> list[str]:
        return render(self.text, settings)


def load_migrations() -> tuple[MigrationFile, ...]:
    """Every `migrations/NNNN_*.sql`, in order; versions must be 1, 2, 3… without gaps."""
    folder = resources.files("connlog.collector.schema").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = _FILE.match(entry.name)
        if not match:
            continue
        text = entry.read_text(encoding="utf-8")
        first = text.splitlines()[0] if text else ""
        if not first.startswith("-- "):
            raise ValueError(f"migration {entry.name} must start with '-- <description>'")
        found.append(MigrationFile(int(match.group(1)), first[3:].strip(), text))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise ValueError(f"migration versions must be 1..N without gaps: {[m.version for m in found]}")
    return tuple(found)


def _distributed(t: Target, table: str) -> str:
    local = t.storage_name(table)
    return (
        f"CREATE TABLE IF NOT EXISTS {t.q(table)}{t.on_cluster} AS {t.q(local)}\n"
        f"ENGINE = Distributed({t.cluster}, {t.database}, {local}, cityHash64(TraceId))"
    )


def _ttl(settings: Settings, table: str) -> str:
    spec = next((s for s in STORAGE_TABLES if s.name == table), None)
    if spec is None:
        raise ValueError(f"${{ttl:{table}}}: not a storage table")
    ttl = spec.ttl(settings.retention)
    return f"TTL {ttl}" if ttl else ""


def render(text: str, settings: Settings) -> list[str]:
    """The statements of a template for `settings` (comments and empty statements dropped)."""
    t = target_of(settings)

    def sub(match: re.Match[str]) -> str:
        key, arg = match.group(1), match.group(2) or ""
        if key == "db" and not arg:
            return t.database
        if key == "on_cluster" and not arg:
            return t.on_cluster
        if key == "local" and arg:
            return t.storage_name(arg)
        if key == "engine" and arg:
            return t.engine(arg)
        if key == "ttl" and arg:
            return _ttl(settings, arg)
        if key == "distributed" and arg:
            return _distributed(t, arg) if t.cluster else ""
        raise ValueError(f"unknown migration placeholder {match.group(0)}")

    out = []
    for raw in text.split(";\n"):
        stmt = "\n".join(line for line in raw.splitlines() if not line.startswith("--")).strip()
        if stmt.startswith(_IF_CLUSTER):
            if not t.cluster:
                continue
            stmt = stmt[len(_IF_CLUSTER) :].strip()
        stmt = _PLACEHOLDER.sub(sub, stmt).strip()
        stmt = re.sub(r"\n\s*\n", "\n", stmt)  # an empty ${ttl:…} line
        if stmt:
            out.append(stmt)
    return out
