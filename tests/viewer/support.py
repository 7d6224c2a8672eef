"""Shared data and server for the viewer tests: real collector, real chDB, real HTTP server.

One dataset per session, sent through a running `CollectorServer` (which stays up, so a
test can finish the "live" run while a page is open), plus:
- a hostile run: a step name, a URL and bodies carrying `<script>` and attribute breakers;
- a live run: every span but its run span is sent up front (the run shows as running);
  `finish_live_run()` sends the run span later.
The query API (with the viewer at `/`) is served by the project's `ThreadedServer`.
Browser helpers launch Debian's chromium through Playwright and fail loudly without it.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from playwright.sync_api import Browser, BrowserContext, Page

from connlog import datagen
from connlog.collector.config import Settings
from connlog.collector.http_thread import ThreadedServer
from connlog.collector.options import CollectorOptions
from connlog.collector.schema.migrate import apply_schema
from connlog.collector.server import CollectorServer
from connlog.collector.store import connect
from connlog.instrumentation import semconv as sc
from connlog.query_api.app import create_app
from tests.api_env import ADMIN, SCOPED, SCOPED_ADMIN, SCOPED_CONNECTOR, VIEWER, Sent, _auth

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
HOSTILE_STEP = '<script>window.__pwned="step"</script>'
HOSTILE_URL = 'https://api.hubapi.com/x?q="><img src=x onerror="window.__pwned=\'url\'">'
HOSTILE_BODY_TEXT = '</pre><script>window.__pwned="body"</script>'

__all__ = [
    "ADMIN",
    "SCOPED",
    "SCOPED_ADMIN",
    "SCOPED_CONNECTOR",
    "VIEWER",
    "ViewerEnv",
    "chromium_path",
    "page_as",
    "shot",
    "signed_in",
]


def _str_attr(span: Span, key: str) -> str | None:
    for kv in span.attributes:
        if kv.key == key:
            return str(kv.value.string_value)
    return None


def _set_attr(span: Span, key: str, value: str) -> None:
    for kv in span.attributes:
        if kv.key == key:
            kv.value.string_value = value
            return
    kv = span.attributes.add()
    kv.key, kv.value.string_value = key, value


def _spans(req: ExportTraceServiceRequest) -> list[Span]:
    return [s for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]


def _make_hostile(ds: datagen.Dataset, run_id: str) -> None:
    """Rename one step of `run_id` to a script tag; give one call a hostile URL and body."""
    req = next(r for r in ds.trace_requests if _spans(r) and _spans(r)[0].trace_id.hex() == run_id)
    spans = _spans(req)
    step = next(s for s in spans if _str_attr(s, sc.ROLE) == sc.Role.STEP.value)
    original = _str_attr(step, sc.STEP_NAME)
    step.name = HOSTILE_STEP
    for s in spans:
        if _str_attr(s, sc.STEP_NAME) == original:
            _set_attr(s, sc.STEP_NAME, HOSTILE_STEP)
    call = next(s for s in spans if _str_attr(s, sc.ROLE) == sc.Role.HTTP.value)
    _set_attr(call, sc.URL_FULL, HOSTILE_URL)
    _set_attr(call, sc.HTTP_RESPONSE_BODY, '{"note": "' + HOSTILE_BODY_TEXT.replace('"', '\\"') + '"}')
    _set_attr(call, sc.HTTP_REQUEST_BODY, HOSTILE_BODY_TEXT)
    ds.run(run_id).steps = [HOSTILE_STEP if n == original else n for n in ds.run(run_id).steps]


@dataclass
class ViewerEnv:
    url: str
    app: FastAPI
    sent: Sent
    settings: Settings
    collector: CollectorServer
    hostile_run: str
    live_run: str
    live_finish: ExportTraceServiceRequest

    @property
    def truth(self) -> list[datagen.RunTruth]:
        return self.sent.ds.runs

    def finish_live_run(self) -> None:
        resp = httpx.post(
            self.collector.http_endpoint + "/v1/traces",
            content=self.live_finish.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
            timeout=30,
        )
        resp.raise_for_status()
        assert self.collector.flush(30)

    def children(self, parent: str, role: str) -> list[Any]:
        return sorted(
            (s for s in self.sent.spans.values() if s.parent_id == parent and s.attrs.get(sc.ROLE) == role),
            key=lambda s: (s.start_ns, s.span_id),
        )


def _split_live(ds: datagen.Dataset) -> ExportTraceServiceRequest:
    """Take the run span out of the live run's request; return a request holding only it."""
    req = ds.trace_requests[-1]
    spans = req.resource_spans[0].scope_spans[0].spans
    is_run = [_str_attr(s, sc.ROLE) == sc.Role.RUN.value for s in spans]
    run_span = Span.FromString(spans[is_run.index(True)].SerializeToString())
    keep = [Span.FromString(s.SerializeToString()) for s, run in zip(spans, is_run, strict=True) if not run]
    finish = ExportTraceServiceRequest()
    finish.CopyFrom(req)
    del spans[:]
    spans.extend(keep)
    del finish.resource_spans[0].scope_spans[0].spans[:]
    finish.resource_spans[0].scope_spans[0].spans.append(run_span)
    return finish


def chromium_path() -> str:
    """Debian's chromium; a missing browser is a failure, never a skip."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "chromium is not installed: run scripts/install-browser.sh (apt-get install chromium)"
    return path


def signed_in(browser: Browser, url: str, key: str, shot_name: str | None = None) -> BrowserContext:
    """A browser context signed in with `key` through the sign-in page (auth is on)."""
    ctx = browser.new_context(viewport={"width": 1500, "height": 950}, accept_downloads=True)
    page = ctx.new_page()
    page.goto(url + "/")
    assert "/signin" in page.url  # auth is on: pages need a session
    page.fill("input[name=key]", key)
    if shot_name:
        shot(page, shot_name)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(url + "/")
    assert key not in page.url
    page.close()
    return ctx


@contextmanager
def page_as(browser: Browser, url: str, key: str, shot_name: str | None = None) -> Iterator[Page]:
    """A page of a browser context signed in with `key`; the context closes afterwards."""
    ctx = signed_in(browser, url, key, shot_name)
    try:
        yield ctx.new_page()
    finally:
        ctx.close()


def shot(page: Page, name: str, *, full_page: bool = False) -> None:
    """A screenshot into docs/screenshots/ (what README and docs/viewer.md show)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=full_page)


@dataclass
class Served:
    url: str
    app: FastAPI
    settings: Settings
    collector: CollectorServer  # still running: a test may send more


@contextmanager
def collecting(base_settings: Settings, prefix: str) -> Iterator[tuple[Settings, CollectorServer]]:
    """A fresh chDB database with the schema and a running collector writing to it; both gone
    afterwards."""
    settings = replace(base_settings, database=f"{prefix}_{uuid.uuid4().hex[:8]}")
    ch = connect(settings)
    apply_schema(ch, settings)
    collector = CollectorServer(
        settings, http_port=0, grpc_port=0, options=CollectorOptions(batch_max_delay_s=0.1)
    )
    collector.start()
    try:
        yield settings, collector
    finally:
        collector.stop()
        ch.command(f"DROP DATABASE IF EXISTS {settings.database} SYNC")
        ch.close()


@contextmanager
def serving(settings: Settings, name: str) -> Iterator[tuple[str, FastAPI]]:
    """The query API (the viewer at `/`, auth on with the test keys) on a thread: (url, app)."""
    app = create_app(settings, auth=_auth())
    server = ThreadedServer(app, name=name)
    server.start()
    try:
        yield server.url, app
    finally:
        server.stop()


@contextmanager
def served(base_settings: Settings, ds: datagen.Dataset, prefix: str) -> Iterator[Served]:
    """`ds` sent through the real collector into its own chDB database, and the query API
    served over it (`collecting`, `serving`)."""
    with collecting(base_settings, prefix) as (settings, collector):
        datagen.send(ds, collector.http_endpoint)
        assert collector.flush(30)
        with serving(settings, f"{prefix}-under-test") as (url, app):
            yield Served(url, app, settings, collector)
