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
}

DEFAULT_DATA_DIR: Final = Path(".connlog")
DEFAULT_DATABASE: Final = "connlog"


class ConfigError(ValueError):
    """A setting has a value we cannot use; the message names the setting."""


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number of days, got {raw!r}") from exc
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


@dataclass(frozen=True)
class Settings:
    data_dir: Path = DEFAULT_DATA_DIR
    clickhouse_url: str = ""  # empty: chdb:///<data_dir>/clickhouse
    database: str = DEFAULT_DATABASE
    retention: Retention = field(default_factory=Retention)
    cluster: str = ""  # non-empty: DDL ON CLUSTER with Replicated engines + Distributed tables

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
        )
