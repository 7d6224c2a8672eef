"""Fixtures of the SDK tests: a local HTTP server to call, and in-memory telemetry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sdk.helpers import LocalServer, Telemetry, start_telemetry


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    yield srv
    srv.stop()


@pytest.fixture
def tel() -> Iterator[Telemetry]:
    t = start_telemetry(secrets=["sk_live_REGISTERED_0001"])
    yield t
    t.handle.shutdown()
