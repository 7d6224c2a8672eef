"""Collector and query API in one process, on one ClickHouse (the embedded default).

chDB lets one process own a data directory, so on the embedded default the collector that
writes and the API that reads must share a process. On a ClickHouse server they can run
apart (`connlog collector`, `connlog api`); this class starts whichever parts are asked for.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from connlog.collector.config import Settings
from connlog.collector.http_thread import ThreadedServer
from connlog.collector.schema.migrate import apply_schema
from connlog.collector.server import CollectorServer
from connlog.collector.store import connect

log = logging.getLogger("connlog.allinone")


@dataclass(frozen=True)
class Ports:
    host: str = "127.0.0.1"
    otlp_http: int = 4318
    otlp_grpc: int = 4317
    api: int = 8080


class AllInOne:
    """Apply the schema, then start the collector and/or the query API on background threads."""

    def __init__(
        self,
        settings: Settings,
        ports: Ports = Ports(),
        *,
        collector: bool = True,
        api: bool = True,
        api_options: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.ports = ports
        self.collector: CollectorServer | None = (
            CollectorServer(settings, http_port=ports.otlp_http, grpc_port=ports.otlp_grpc, host=ports.host)
            if collector
            else None
        )
        self._want_api = api
        self._api_options = api_options or {}
        self.api: ThreadedServer | None = None
        self.api_app: Any = None

    def start(self) -> AllInOne:
        client = connect(self.settings)
        try:
            for change in apply_schema(client, self.settings):
                log.info("schema: %s", change)
        finally:
            client.close()
        if self.collector is not None:
            self.collector.start()
        if self._want_api:
            from connlog.query_api.app import create_app

            self.api_app = create_app(self.settings, **self._api_options)
            self.api = ThreadedServer(self.api_app, host=self.ports.host, port=self.ports.api, name="api")
            self.api.start()
        return self

    def flush(self, timeout: float = 30.0) -> bool:
        return self.collector.flush(timeout) if self.collector is not None else True

    def stop(self) -> None:
        if self.api is not None:
            self.api.stop()
        if self.collector is not None:
            self.collector.stop()

    @property
    def otlp_http_endpoint(self) -> str:
        assert self.collector is not None, "collector not running in this process"
        return self.collector.http_endpoint

    @property
    def otlp_grpc_endpoint(self) -> str:
        assert self.collector is not None, "collector not running in this process"
        return self.collector.grpc_endpoint

    @property
    def api_url(self) -> str:
        assert self.api is not None, "query API not running in this process"
        return self.api.url
