"""Server-side settings, read once from the environment (`CONNLOG_*`) with CLI overrides.

Defined here, not scattered as `os.environ` look-ups, so the README's configuration table,
the CLI flags and the tests all name the same variables.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

ENV_DATA_DIR: Final = "CONNLOG_DATA_DIR"
ENV_CLICKHOUSE_URL: Final = "CONNLOG_CLICKHOUSE_URL"
ENV_DATABASE: Final = "CONNLOG_DATABASE"
ENV_RETENTION_DAYS: Final = "CONNLOG_RETENTION_DAYS"
ENV_RECOMPRESS_DAYS: Final = "CONNLOG_RECOMPRESS_DAYS"
ENV_PAYLOAD_RETENTION_DAYS: Final = "CONNLOG_PAYLOAD_RETENTION_DAYS"
ENV_CLUSTER: Final = "CONNLOG_CLUSTER"
# Ingest authentication (collector.ingest_auth): a JSON list of {key, connectors, name}.
ENV_INGEST_KEYS: Final = "CONNLOG_INGEST_KEYS"
ENV_INGEST_KEYS_FILE: Final = "CONNLOG_INGEST_KEYS_FILE"
# Collector request limits (collector.options.CollectorOptions field -> variable), read by
# `CollectorOptions.from_env` so a deployment can tune them without code.
ENV_COLLECTOR_LIMITS: Final[dict[str, str]] = {
    "max_body_bytes": "CONNLOG_MAX_BODY_BYTES",
    "max_decompressed_bytes": "CONNLOG_MAX_DECOMPRESSED_BYTES",
    "max_items_per_request": "CONNLOG_MAX_ITEMS_PER_REQUEST",
    "max_attributes": "CONNLOG_MAX_ATTRIBUTES",
    "max_attribute_bytes": "CONNLOG_MAX_ATTRIBUTE_BYTES",
    "max_resource_bytes": "CONNLOG_MAX_RESOURCE_BYTES",
    "max_fanout_bytes": "CONNLOG_MAX_FANOUT_BYTES",
    "body_read_timeout_s": "CONNLOG_BODY_READ_TIMEOUT_S",
    "max_open_requests": "CONNLOG_MAX_OPEN_REQUESTS",
    # Decode worker processes (collector.decode_pool); 0 decodes in the receiving threads.
    "decode_workers": "CONNLOG_DECODE_WORKERS",
}

DEFAULT_DATA_DIR: Final = Path(".connlog")
DEFAULT_DATABASE: Final = "connlog"


class ConfigError(ValueError):
    """A setting has a value we cannot use; the message names the setting."""


def _int_env(name: str, default: int, unit: str = "days") -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number of {unit}, got {raw!r}") from exc
    if value < 0:
        raise ConfigError(f"{name} must be >= 0, got {value}")
    return value


@dataclass(frozen=True)
class Retention:
    """How long data is kept. 0 days keeps forever (audit logs)."""

    days: int = 30
    recompress_days: int = 7
    payload_days: int = 30  # payloads may be dropped before metadata

    def __post_init__(self) -> None:
        for name in ("days", "recompress_days", "payload_days"):
            if getattr(self, name) < 0:
                raise ConfigError(f"retention {name} must be >= 0")
        if self.days and self.payload_days and self.payload_days > self.days:
            raise ConfigError("payload retention cannot be longer than metadata retention")


# Memory caps of the embedded engine (chDB), EngineMemory field -> variable. Each field is the
# ClickHouse server setting of the same name, passed on the chDB connection string by
# `collector.store.connect`; a ClickHouse server reads them from its own config.xml instead.
ENV_ENGINE_MEMORY: Final[dict[str, str]] = {
    "max_server_memory_usage": "CONNLOG_CHDB_MAX_MEMORY_BYTES",
    "mark_cache_size": "CONNLOG_CHDB_MARK_CACHE_BYTES",
    "primary_index_cache_size": "CONNLOG_CHDB_PRIMARY_INDEX_CACHE_BYTES",
    "index_mark_cache_size": "CONNLOG_CHDB_INDEX_MARK_CACHE_BYTES",
    "query_condition_cache_size": "CONNLOG_CHDB_QUERY_CONDITION_CACHE_BYTES",
}
_MIB: Final = 1024 * 1024


@dataclass(frozen=True)
class EngineMemory:
    """Bytes; 0 leaves the engine's own default. chDB's defaults are a server's (5 GiB per
    mark/index cache, 90 % of RAM in total), sized for a machine of its own; an embedded
    collector shares its process with Python and its host with the connectors. The caps are
    far above what the tables need (marks and primary keys of 10M spans are a few MiB) and
    the total cap leaves the query API's 400 MB per-query limit room (docs/reliability.md).
    """

    max_server_memory_usage: int = 2048 * _MIB
    mark_cache_size: int = 128 * _MIB
    primary_index_cache_size: int = 64 * _MIB
    index_mark_cache_size: int = 64 * _MIB
    query_condition_cache_size: int = 32 * _MIB

    def __post_init__(self) -> None:
        for name in ENV_ENGINE_MEMORY:
            if getattr(self, name) < 0:
                raise ConfigError(f"{ENV_ENGINE_MEMORY[name]} must be >= 0 bytes")

    def server_settings(self) -> dict[str, int]:
        """The non-zero caps as ClickHouse server settings (name -> bytes)."""
        return {name: getattr(self, name) for name in ENV_ENGINE_MEMORY if getattr(self, name)}

    @classmethod
    def from_env(cls) -> EngineMemory:
        defaults = cls()
        return cls(
            **{
                name: _int_env(env, getattr(defaults, name), "bytes")
                for name, env in ENV_ENGINE_MEMORY.items()
            }
        )


@dataclass(frozen=True)
class Settings:
    data_dir: Path = DEFAULT_DATA_DIR
    clickhouse_url: str = ""  # empty: chdb:///<data_dir>/clickhouse
    database: str = DEFAULT_DATABASE
    retention: Retention = field(default_factory=Retention)
    cluster: str = ""  # non-empty: DDL ON CLUSTER with Replicated engines + Distributed tables
    engine_memory: EngineMemory = field(default_factory=EngineMemory)  # chDB only

    @property
    def resolved_clickhouse_url(self) -> str:
        if self.clickhouse_url:
            return self.clickhouse_url
        return f"chdb://{(self.data_dir / 'clickhouse').resolve()}"

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with the non-None CLI overrides applied."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]

    @classmethod
    def from_env(cls) -> Settings:
        default = Retention()
        retention = Retention(
            days=_int_env(ENV_RETENTION_DAYS, default.days),
            recompress_days=_int_env(ENV_RECOMPRESS_DAYS, default.recompress_days),
            payload_days=_int_env(ENV_PAYLOAD_RETENTION_DAYS, default.payload_days),
        )
        return cls(
            data_dir=Path(os.environ.get(ENV_DATA_DIR) or DEFAULT_DATA_DIR),
            clickhouse_url=os.environ.get(ENV_CLICKHOUSE_URL, ""),
            database=os.environ.get(ENV_DATABASE) or DEFAULT_DATABASE,
            retention=retention,
            cluster=os.environ.get(ENV_CLUSTER, ""),
            engine_memory=EngineMemory.from_env(),
        )
