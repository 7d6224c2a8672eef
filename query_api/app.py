"""The FastAPI application factory.

    app = create_app(settings)                       # keys from CONNLOG_API_KEYS[_FILE]
    app = create_app(settings, auth=AuthConfig(disabled=True))   # local use only
    app = create_app(settings, client_factory=lambda: connect(settings))

Usable in-process next to the collector (one chDB directory per process, many clients on
it). Routes live under `/api/v1`; OpenAPI at `/docs` and `/openapi.json`; probes at
`/healthz` and `/readyz`.

`/docs`, `/redoc` and `/openapi.json` need no key, on purpose: they describe the API (the
same text as this repository), never data, and the browser's Swagger page cannot send a
bearer key when it fetches the schema. An operator who wants them hidden sets
`CONNLOG_API_DOCS=off` (or `create_app(..., docs=False)`): all three then answer 404.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Final

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from connlog.collector.config import Settings
from connlog.collector.store import connect
from connlog.query_api.auth import AuthConfig
from connlog.query_api.config import ApiSettings
from connlog.query_api.db import ClientFactory, ClientPool, ReadStats, current_stats
from connlog.query_api.errors import ApiError, error_body, field_message, invalid
from connlog.query_api.filters import first_error
from connlog.query_api.paths import API_PREFIX
from connlog.query_api.queries.adhoc import SqlRunner
from connlog.query_api.routes import calls, explore, export, health, jobs, runs, sql
from connlog.query_api.routes import settings as settings_routes
from connlog.query_api.routes.deps import AppState, principal
from connlog.query_api.viewer import install as install_viewer

log = logging.getLogger("connlog.query_api")

ENV_API_DOCS: Final = "CONNLOG_API_DOCS"


def docs_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """False when `CONNLOG_API_DOCS` is off/false/0/no: no `/docs`, `/redoc`, `/openapi.json`."""
    value = (os.environ if environ is None else environ).get(ENV_API_DOCS, "").strip().lower()
    return value not in ("off", "false", "0", "no")


def _query_param_names(dependant: Dependant) -> set[str]:
    """Names of every query parameter the route or any of its dependencies declares.

    A query model (`Annotated[RunQuery, Query()]`) stands for its fields, by alias.
    """
    names: set[str] = set()
    for p in dependant.query_params:
        model = p.field_info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            names |= {f.alias or name for name, f in model.model_fields.items()}
        else:
            names.add(p.alias)
    for sub in dependant.dependencies:
        names |= _query_param_names(sub)
    return names


def _allowed_query_params(route: APIRoute) -> frozenset[str]:
    cached: frozenset[str] | None = getattr(route, "_connlog_params", None)
    if cached is None:
        cached = frozenset(_query_param_names(route.dependant))
        route._connlog_params = cached  # type: ignore[attr-defined]
    return cached


def reject_unknown_params(request: Request) -> None:
    """A misspelt filter must not silently widen a result: unknown parameters are a 422.

    The one check of parameter names for every `/api/v1` route: it sees the route's query
    models and its own parameters together (a model alone would refuse the exports' `rows`).
    Repeated names are refused too: which of two values a filter took must not be a guess.
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    allowed = _allowed_query_params(route)
    for name in request.query_params:
        if name not in allowed:
            raise ApiError(422, "unknown_parameter", f"unknown query parameter {name!r}", name)
    for name in allowed:
        if len(request.query_params.getlist(name)) > 1:
            raise invalid(name, "given more than once")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        field, reason = first_error(exc)
        return JSONResponse(
            error_body("invalid_parameter", field_message(field, reason), field), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception) -> JSONResponse:
        incident = uuid.uuid4().hex[:12]
        log.error("event=query_api_error incident=%s", incident, exc_info=exc)
        return JSONResponse(
            error_body("internal_error", f"internal error (incident {incident}); see the server log"),
            status_code=500,
        )


def create_app(
    settings: Settings | None = None,
    *,
    client_factory: ClientFactory | None = None,
    auth: AuthConfig | None = None,
    api_settings: ApiSettings | None = None,
    docs: bool | None = None,
) -> FastAPI:
    """The query API on `settings`' ClickHouse; `auth` defaults to `AuthConfig.from_env()`.

    `docs` (default: `CONNLOG_API_DOCS`, on) serves the OpenAPI schema and its pages.
    """
    show_docs = docs_enabled() if docs is None else docs
    settings = settings or Settings.from_env()
    factory: ClientFactory = client_factory or (lambda: connect(settings))
    api = api_settings or ApiSettings()
    st = AppState(
        auth=auth if auth is not None else AuthConfig.from_env(),
        pool=ClientPool(factory, api.pool_size),
        sql=SqlRunner(factory, api.sql),
        settings=api,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        st.pool.close()
        st.sql.close()

    app = FastAPI(
        title="connlog query API",
        version="1",
        description=(
            "Runs, steps, pages, entities and every HTTP call of data connectors, from ClickHouse. "
            "Authenticate with `Authorization: Bearer <API key>`. Lists are newest first with "
            'cursor pagination; errors are `{"error": {"code", "message", "field"}}`.'
        ),
        lifespan=lifespan,
        openapi_url="/openapi.json" if show_docs else None,
    )
    app.state.connlog = st
    setattr(app.state, settings_routes.SETTINGS_STATE_ATTR, settings)  # for GET /settings
    install_error_handlers(app)

    @app.middleware("http")
    async def read_stats(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        stats = ReadStats()
        token = current_stats.set(stats)
        try:
            response = await call_next(request)
        finally:
            current_stats.reset(token)
        response.headers["X-Connlog-Read-Rows"] = str(stats.read_rows)
        response.headers["X-Connlog-Read-Bytes"] = str(stats.read_bytes)
        response.headers["Cache-Control"] = "no-store"
        return response

    # Authenticate first (an anonymous caller learns nothing about parameters), then refuse
    # unknown parameters; the endpoints' own `principal` dependency reuses the cached result.
    v1 = APIRouter(prefix=API_PREFIX, dependencies=[Depends(principal), Depends(reject_unknown_params)])
    for module in (runs, jobs, calls, explore, export, sql, settings_routes):
        v1.include_router(module.router)
    app.include_router(v1)
    app.include_router(health.router)
    install_viewer(app)
    return app
