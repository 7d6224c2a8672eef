"""Fixtures of the browser viewer's tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest

from connlog import datagen
from connlog.collector.config import Settings
from connlog.collector.http_thread import ThreadedServer
from connlog.collector.options import CollectorOptions
from connlog.collector.schema.migrate import apply_schema
from connlog.collector.server import CollectorServer
from connlog.collector.store import connect
from connlog.query_api.app import create_app
from connlog.query_api.timeutil import NS, now_ns
from tests.api_env import SCOPED_CONNECTOR, Sent, _auth
from tests.viewer.support import ViewerEnv, _make_hostile, _split_live


@pytest.fixture(scope="session")
def viewer_env(base_settings: Settings) -> Iterator[ViewerEnv]:
    """The viewer served on a thread over data sent through the real collector: a hostile run
    (script in names, URLs and bodies) and one run still running, finished by the test."""
    settings = replace(base_settings, database=f"viewer_{uuid.uuid4().hex[:8]}")
    ch = connect(settings)
    apply_schema(ch, settings)
    collector = CollectorServer(
        settings, http_port=0, grpc_port=0, options=CollectorOptions(batch_max_delay_s=0.1)
    )
    collector.start()
    end = (now_ns() // (60 * NS)) * 60 * NS
    ds = datagen.generate(seed=21, runs=15, end_ns=end, span_days=2.0, running=1)
    hostile = next(t for t in ds.runs if t.connector == SCOPED_CONNECTOR and t.status == "ok")
    _make_hostile(ds, hostile.run_id)
    live = datagen.generate(
        seed=5,
        runs=1,
        running=0,
        failure_rate=0.0,
        end_ns=end - 120 * NS,
        span_days=0.001,
        connectors=("netsuite",),
    )
    finish = _split_live(live)
    live.runs[0].status = "running"
    ds.trace_requests += live.trace_requests
    ds.log_requests += live.log_requests
    ds.runs += live.runs
    datagen.send(ds, collector.http_endpoint)
    assert collector.flush(30)
    app = create_app(settings, auth=_auth())
    server = ThreadedServer(app, name="viewer-under-test")
    server.start()
    env = ViewerEnv(
        server.url, app, Sent.of(ds), settings, collector, hostile.run_id, live.runs[0].run_id, finish
    )
    try:
        yield env
    finally:
        server.stop()
        collector.stop()
        ch.command(f"DROP DATABASE IF EXISTS {settings.database} SYNC")
        ch.close()
