"""The browser viewer: server-rendered pages at the root of the query API's address.

It calls the same query functions as the JSON routes under `/api/v1`; it never has SQL of its own.
Pages are Jinja2 templates (autoescaped), with a small hand-written stylesheet and script
served from this package; there is no JavaScript build step and no third-party asset.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from connlog.query_api.viewer import access, routes, settings_page, views
from connlog.query_api.viewer.render import STATIC, STATIC_PREFIX
from connlog.query_api.viewer.session import SessionStore

__all__ = ["install"]


def install(app: FastAPI) -> None:
    """Mount the viewer's pages and static files on `app` (the query API)."""
    app.state.viewer_sessions = SessionStore()
    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC), name="viewer-static")
    for module in (access, routes, views, settings_page):
        app.include_router(module.router)
