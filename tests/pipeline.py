"""The `Pipeline` handle the `pipeline` / `pipeline_factory` fixtures yield (see conftest.py).

Kept out of conftest.py so tests can import the type (`from tests.pipeline import
Pipeline`) without importing conftest a second time under another module name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from connlog.collector.config import Settings
from connlog.collector.server import CollectorServer


@dataclass
class Pipeline:
    server: CollectorServer
    client: Client
    settings: Settings

    @property
    def database(self) -> str:
        return self.settings.database

    @property
    def http_endpoint(self) -> str:
        return self.server.http_endpoint

    @property
    def grpc_endpoint(self) -> str:
        return self.server.grpc_endpoint

    @property
    def stats(self) -> dict[str, int]:
        return self.server.stats.snapshot()

    def flush(self, timeout: float = 30.0) -> None:
        assert self.server.flush(timeout), f"collector did not flush within {timeout}s"


PipelineFactory = Callable[..., Pipeline]
