"""`POST /sql`: ad-hoc read-only SQL for unscoped admin keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from query_api import paths
from query_api.auth import Principal
from query_api.errors import ApiError
from query_api.models import SqlResult
from query_api.routes.deps import admin, state

router = APIRouter(tags=["sql"])


class SqlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(
        min_length=1, max_length=100_000, description="One SELECT (or WITH/EXPLAIN/SHOW) statement."
    )


@router.post(paths.SQL, response_model=SqlResult, summary="Ad-hoc read-only SQL (admin)")
def sql(request: Request, body: SqlRequest, caller: Annotated[Principal, Depends(admin)]) -> SqlResult:
    """Runs with readonly=1 and row, byte and time limits; writes and DDL are refused (400)."""
    if caller.connectors is not None:
        raise ApiError(
            403, "forbidden", "connector-scoped keys cannot run SQL (it could read other connectors)"
        )
    return state(request).sql.run(body.query)
