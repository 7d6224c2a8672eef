"""Fixtures of the browser viewer's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from connlog import datagen
from connlog.collector.config import Settings
from connlog.query_api.timeutil import NS, now_ns
from tests.api_env import SCOPED_CONNECTOR, Sent
from tests.viewer.support import ViewerEnv, _make_hostile, _split_live, chromium_path, served


@pytest.fixture(scope="session")
def viewer_env(base_settings: Settings) -> Iterator[ViewerEnv]:
    """The viewer served on a thread over data sent through the real collector: a hostile run
    (script in names, URLs and bodies) and one run still running, finished by the test."""
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
    with served(base_settings, ds, "viewer") as srv:
        yield ViewerEnv(
            srv.url,
            srv.app,
            Sent.of(ds),
            srv.settings,
            srv.collector,
            hostile.run_id,
            live.runs[0].run_id,
            finish,
        )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium through Playwright, one per test module."""
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield b
        b.close()
