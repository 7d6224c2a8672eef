"""A database of one's own on the session's chDB, and a real collector writing into it.

Fixtures that build a dataset once (the `api` session, the dashboards' and the end-user
modules, the viewer) all need the same three moves: a fresh database with the schema
applied, a collector on ephemeral ports that stores what is sent, and the database dropped
afterwards, whatever happened in between. They are written once here, as context managers,
so no fixture leaves a database behind when its setup fails. `sdk_to` is the SDK side of
the fixtures that make their runs with the real SDK instead of `datagen`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from clickhouse_connect.driver.client import Client

import connlog as cl
from connlog import datagen
from connlog.collector.config import Settings
from connlog.collector.options import CollectorOptions
from connlog.collector.schema.migrate import apply_schema
from connlog.collector.server import CollectorServer
from connlog.collector.store import connect
from connlog.instrumentation._init import Handle


def new_database(base: Settings, prefix: str = "t") -> tuple[Settings, Client]:
    """`base` pointed at a new database `<prefix>_<uuid8>` with the schema applied."""
    settings = replace(base, database=f"{prefix}_{uuid.uuid4().hex[:8]}")
    client = connect(settings)
    apply_schema(client, settings)
    return settings, client


def drop_database(client: Client, database: str) -> None:
    client.command(f"DROP DATABASE IF EXISTS {database} SYNC")
    client.close()


@contextmanager
def fresh_database(base: Settings, prefix: str = "t") -> Iterator[tuple[Settings, Client]]:
    """A new database for the block (see `new_database`), dropped when it ends."""
    settings, client = new_database(base, prefix)
    try:
        yield settings, client
    finally:
        drop_database(client, settings.database)


@contextmanager
def running_collector(settings: Settings, batch_max_delay_s: float = 0.1) -> Iterator[CollectorServer]:
    """A collector on ephemeral ports (127.0.0.1) writing to `settings.database`, stopped when
    the block ends."""
    server = CollectorServer(
        settings, http_port=0, grpc_port=0, options=CollectorOptions(batch_max_delay_s=batch_max_delay_s)
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def store(settings: Settings, *datasets: datagen.Dataset, batch_max_delay_s: float = 0.1) -> None:
    """Send generated datasets as OTLP through a collector of their own; return once stored."""
    with running_collector(settings, batch_max_delay_s) as server:
        for ds in datasets:
            datagen.send(ds, server.http_endpoint)
        assert server.flush(30), "collector did not flush within 30s"


@contextmanager
def sdk_to(endpoint: str, connector: str, version: str = "1.0") -> Iterator[Handle]:
    """The SDK sending one connector's telemetry as OTLP/HTTP to `endpoint` for the block;
    everything it recorded is flushed when the block ends, then the SDK is shut down."""
    handle = cl.init(connector=connector, version=version, endpoint=endpoint, protocol="http/protobuf")
    try:
        yield handle
        assert handle.flush(), "the SDK did not flush"
    finally:
        handle.shutdown()
