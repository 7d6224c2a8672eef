"""`GET /settings` (admin): the settings in force and the stored volume per table.

The first troubleshooting question, "why are the logs empty?", is answered here: how long
data is kept (retention, payload retention, recompression), how much of each table is
stored and which days it covers, the caps that cut what is captured or exported, and
whether API and ingest keys are on. No key is ever shown, only whether keys are configured.

A connector-scoped admin gets the settings but not the stored volume: `system.parts`
counts every connector's rows, which a scoped key must not learn (as it may not run SQL).
The browser's settings page renders the same `SettingsInForce`.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from clickhouse_connect.driver.client import Client
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from connlog.collector.config import ConfigError, Settings
from connlog.collector.ingest_auth import IngestKeys
from connlog.collector.schema.ddl import COLD_CODEC, HOT_CODEC, payload_days
from connlog.instrumentation._init import DEFAULT_BODY_CAP
from connlog.query_api import paths
from connlog.query_api.auth import Principal
from connlog.query_api.queries.storage import TableStorage, table_storage
from connlog.query_api.routes.deps import AppState, Db, admin, state

router = APIRouter(tags=["settings"])

# `create_app` keeps the server's `Settings` here (retention, database) for this module.
SETTINGS_STATE_ATTR: Final = "server_settings"

SCOPED_STORAGE_NOTE: Final = (
    "Stored volume is withheld from keys scoped to connectors: it counts every connector's rows."
)
SDK_BODY_CAP_NOTE: Final = (
    "The SDK's default; each connector can change it with init(body_cap=...). "
    "Bodies longer than the cap are stored cut, with their full size."
)
RETENTION_NOTE: Final = "0 days keeps data forever. Rows older than the retention are dropped by TTL."


class TableVolume(BaseModel):
    """One storage table's active parts (from `system.parts`, without reading the data)."""

    table: str
    rows: int
    bytes_on_disk: int
    compressed_bytes: int
    uncompressed_bytes: int
    compression_ratio: float | None = Field(description="Uncompressed / compressed; null when empty.")
    parts: int
    oldest_partition: str | None = Field(
        description="Oldest day stored (from the parts' time ranges; partitions are days or weeks)."
    )
    newest_partition: str | None


class SettingsInForce(BaseModel):
    """What this server keeps, for how long, and what it cuts; never a key."""

    database: str
    retention_days: int = Field(description="Span and log metadata; 0 keeps forever.")
    payload_retention_days: int = Field(
        description="Headers and bodies, in force (never longer than metadata)."
    )
    recompress_after_days: int | None = Field(
        description="Parts older than this move to the cold codec; null: off."
    )
    hot_codec: str
    recompress_codec: str | None
    sdk_body_cap_bytes: int
    sdk_body_cap_note: str
    export_max_rows: int
    api_auth: bool = Field(description="False only when auth was turned off explicitly.")
    ingest_auth: Literal["on", "off", "invalid"] = Field(
        description="Ingest keys as this process reads them from its environment."
    )
    storage: list[TableVolume] | None = Field(description="Null for keys scoped to connectors.")
    storage_note: str | None = None


def server_settings(request: Request) -> Settings:
    """The `Settings` the app was created with."""
    settings: Settings = getattr(request.app.state, SETTINGS_STATE_ATTR)
    return settings


def ingest_auth_state() -> Literal["on", "off", "invalid"]:
    """Whether ingest keys are configured here; a bad configuration says so, never what it holds."""
    try:
        return "on" if IngestKeys.from_env().enabled else "off"
    except ConfigError:
        return "invalid"


def _volume(t: TableStorage) -> TableVolume:
    return TableVolume(
        table=t.table,
        rows=t.rows,
        bytes_on_disk=t.bytes_on_disk,
        compressed_bytes=t.compressed_bytes,
        uncompressed_bytes=t.uncompressed_bytes,
        compression_ratio=round(t.compression_ratio, 2) if t.compression_ratio is not None else None,
        parts=t.parts,
        oldest_partition=t.oldest_partition,
        newest_partition=t.newest_partition,
    )


def settings_in_force(settings: Settings, st: AppState, db: Client, caller: Principal) -> SettingsInForce:
    """The figures of the JSON route and the browser page, for an admin `caller`."""
    r = settings.retention
    # The same condition as `ddl.ttl_clause`: recompression after the data is gone is no TTL.
    recompress = (
        r.recompress_days if r.recompress_days and (not r.days or r.recompress_days < r.days) else None
    )
    scoped = caller.connectors is not None
    return SettingsInForce(
        database=settings.database,
        retention_days=r.days,
        payload_retention_days=payload_days(r),
        recompress_after_days=recompress,
        hot_codec=HOT_CODEC,
        recompress_codec=COLD_CODEC if recompress is not None else None,
        sdk_body_cap_bytes=DEFAULT_BODY_CAP,
        sdk_body_cap_note=SDK_BODY_CAP_NOTE,
        export_max_rows=st.settings.export_max_rows,
        api_auth=not st.auth.disabled,
        ingest_auth=ingest_auth_state(),
        storage=None if scoped else [_volume(t) for t in table_storage(db, settings)],
        storage_note=SCOPED_STORAGE_NOTE if scoped else None,
    )


@router.get(
    paths.SETTINGS,
    response_model=SettingsInForce,
    summary="Settings in force and stored volume (admin)",
    responses={403: {"description": "not an admin key"}},
)
def get_settings(request: Request, db: Db, caller: Annotated[Principal, Depends(admin)]) -> SettingsInForce:
    """Retention, caps, whether keys are on, and rows/bytes/days stored per table."""
    return settings_in_force(server_settings(request), state(request), db, caller)
