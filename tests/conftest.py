"""Shared fixtures: a real chDB per test session, fresh databases, and a running collector.

chDB can open only ONE data directory per process, so the whole pytest process shares
`chdb_dir`; isolation between tests comes from a fresh database per fixture instance
(`t_<uuid8>`), dropped afterwards. Nothing here mocks ClickHouse.

Fixtures (all function-scoped unless noted):

- `chdb_dir` (session): Path of the process-wide chDB data directory.
- `base_settings` (session): `Settings` pointing at that directory (database "connlog").
- `ch_client`: clickhouse-connect `Client` on a fresh database with the schema applied
  (`collector.schema.migrate.apply_schema`); no collector running.
- `pipeline`: a `Pipeline` (below) — fresh database, schema applied, a `CollectorServer`
  on ephemeral ports (127.0.0.1), stopped after the test.
- `pipeline_factory`: `make(options=None, sink_factory=None, transform=None) -> Pipeline`
  for tests that need non-default collector options (tiny queues, slow sinks, redaction);
  every pipeline it made is stopped after the test.
- `api` (session): an `ApiEnv` (`tests/api_env.py`): the query API app (TestClient) on a
  dataset of `connlog.datagen` runs sent through the real collector, with what was sent.
- `api_db` (module): a `Client` on the `api` dataset's database.

`Pipeline` (type: `from tests.pipeline import Pipeline, PipelineFactory`) attributes:
`.http_endpoint` ("http://127.0.0.1:PORT"), `.grpc_endpoint` ("127.0.0.1:PORT"), `.client` (Client on `.database`), `.database`, `.settings`
(`Settings` with `database` set), `.server` (the `CollectorServer`), `.stats`
(counters dict snapshot, a property), and `.flush(timeout=30.0)` which blocks until
everything the collector accepted so far is inserted (then the materialized views have
run too, so storage tables such as `otel_traces` / `otel_logs` can be queried).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient

from connlog import datagen
from connlog.collector.batch import BatchTransform
from connlog.collector.config import Settings
from connlog.collector.options import CollectorOptions
from connlog.collector.server import CollectorServer, SinkFactory
from connlog.collector.store import connect
from connlog.query_api.app import create_app
from connlog.query_api.timeutil import NS, now_ns
from tests.api_env import ApiEnv, Sent, _auth
from tests.collector_env import drop_database, fresh_database, new_database, store
from tests.pipeline import Pipeline, PipelineFactory


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture(scope="session")
def base_settings(chdb_dir: Path) -> Settings:
    return Settings(data_dir=chdb_dir)


def _fresh_database(base: Settings) -> tuple[Settings, Client]:
    return new_database(base)


def _drop(client: Client, database: str) -> None:
    drop_database(client, database)


@pytest.fixture
def ch_client(base_settings: Settings) -> Iterator[Client]:
    with fresh_database(base_settings) as (_, client):
        yield client


@pytest.fixture
def pipeline_factory(base_settings: Settings) -> Iterator[PipelineFactory]:
    made: list[Pipeline] = []

    def make(
        options: CollectorOptions | None = None,
        sink_factory: SinkFactory | None = None,
        transform: BatchTransform | None = None,
    ) -> Pipeline:
        settings, client = _fresh_database(base_settings)
        server = CollectorServer(
            settings,
            http_port=0,
            grpc_port=0,
            options=options or CollectorOptions(batch_max_delay_s=0.2),
            sink_factory=sink_factory,
            transform=transform,
        )
        made.append(Pipeline(server, client, settings))
        server.start()
        return made[-1]

    yield make
    for p in made:
        p.server.stop()
        _drop(p.client, p.database)


@pytest.fixture
def pipeline(pipeline_factory: PipelineFactory) -> Pipeline:
    return pipeline_factory()


@pytest.fixture(scope="session")
def api(base_settings: Settings) -> Iterator[ApiEnv]:
    """The query API on a dataset sent through the real collector, built once per session."""
    end = (now_ns() // (60 * NS)) * 60 * NS  # within retention, whole minutes
    ds = datagen.generate(seed=11, runs=30, end_ns=end, span_days=2.0, running=2)
    with fresh_database(base_settings, "api") as (settings, _):
        store(settings, ds)
        sent = Sent.of(ds)
        start = min(s.start_ns for s in sent.spans.values())
        app = create_app(settings, auth=_auth())
        with TestClient(app, raise_server_exceptions=False) as tc:
            yield ApiEnv(tc, sent, settings, start, end)


@pytest.fixture(scope="module")
def api_db(api: ApiEnv) -> Iterator[Client]:
    """A clickhouse-connect client on the `api` dataset's database, for the tests that read it
    directly (query functions, `system` tables) beside the API."""
    client = connect(api.settings)
    yield client
    client.close()
