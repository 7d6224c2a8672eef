"""Liveness and readiness probes; unauthenticated so orchestrators can call them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from connlog.collector.schema import names as n
from connlog.query_api import paths
from connlog.query_api.db import fetch
from connlog.query_api.routes.deps import state

router = APIRouter(tags=["health"])


@router.get(paths.HEALTHZ, summary="The process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(paths.READYZ, summary="ClickHouse answers and the schema is there")
def readyz(request: Request) -> JSONResponse:
    try:
        with state(request).pool.client() as db:
            rows = fetch(
                db,
                "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name IN {t:Array(String)}",
                {"t": [n.TRACES, n.LOGS, n.TRACE_ID_TS, n.SEARCH_INDEX]},
                label="readyz",
            )
    except Exception:  # noqa: BLE001 - any failure means "not ready"; details stay in the server log
        return JSONResponse({"status": "unavailable", "reason": "clickhouse unreachable"}, status_code=503)
    if int(rows[0][0]) < 4:
        return JSONResponse({"status": "unavailable", "reason": "schema missing"}, status_code=503)
    return JSONResponse({"status": "ok"})
