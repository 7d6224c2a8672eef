"""The "Settings in force" page (`/settings`, admins only): why a list may be empty.

It renders `routes.settings.settings_in_force`, the body of `GET /api/v1/settings`, so the
page and the JSON route cannot disagree. A viewer key gets a 403 page that says the page is
for admins; a connector-scoped admin sees the settings without the stored volume.
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from connlog.collector.config import ENV_PAYLOAD_RETENTION_DAYS, ENV_RECOMPRESS_DAYS, ENV_RETENTION_DAYS
from connlog.query_api import paths
from connlog.query_api.auth import Principal
from connlog.query_api.config import ENV_EXPORT_MAX_ROWS
from connlog.query_api.errors import ApiError
from connlog.query_api.routes.settings import server_settings, settings_in_force
from connlog.query_api.viewer.access import db as db_client
from connlog.query_api.viewer.access import guarded, state
from connlog.query_api.viewer.render import page
from connlog.query_api.viewer.urls import SETTINGS

router = APIRouter(include_in_schema=False)

ADMINS_ONLY: Final = "Admins only: the settings page shows server configuration. Sign in with an admin key."


@router.get(SETTINGS, response_class=HTMLResponse)
def settings_page(request: Request) -> Response:
    def render(principal: Principal) -> Response:
        if not principal.is_admin:
            raise ApiError(403, "forbidden", ADMINS_ONLY)
        with db_client(request) as db:
            figures = settings_in_force(server_settings(request), state(request), db, principal)
        return page(
            request,
            "settings.html",
            s=figures,
            api_path=paths.api(paths.SETTINGS),
            env={
                "retention": ENV_RETENTION_DAYS,
                "payload": ENV_PAYLOAD_RETENTION_DAYS,
                "recompress": ENV_RECOMPRESS_DAYS,
                "export": ENV_EXPORT_MAX_ROWS,
            },
            crumbs=[("Settings in force", None)],
        )

    return guarded(request, render)
