"""Serve an ASGI app with uvicorn on a background thread, on a port bound up front.

The all-in-one, the demo and the tests host several HTTP apps (OTLP receiver, query API,
fake third-party API) in one process, because chDB lets one process open one data
directory. Binding the socket before uvicorn starts lets port 0 mean "any free port" and
still tell the caller which port it got.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


class ThreadedServer:
    """`start()` returns once the app is accepting connections; `stop()` is safe to call twice."""

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "http",
        limit_concurrency: int | None = None,
    ) -> None:
        self.app = app
        # uvicorn answers 503 to new requests while this many connections are open
        # (stalled clients included), so they cannot pile up without bound.
        self.limit_concurrency = limit_concurrency
        self.host = host
        self.port = port
        self.name = name
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        sock = bind(self.host, self.port)
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            limit_concurrency=self.limit_concurrency,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"connlog-{self.name}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} server failed to start on {self.host}:{self.port}")
            time.sleep(0.01)

    def stop(self, grace: float = 5.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(grace + 5)
        self._server = None
        self._thread = None
