"""`POST /sql`: ad-hoc read-only SQL for unscoped admin keys."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from connlog.query_api import paths
from connlog.query_api.auth import Principal
from connlog.query_api.errors import ApiError, error_body
from connlog.query_api.models import SqlResult
from connlog.query_api.queries.adhoc import MAX_QUERY_CHARS, SqlBusy
from connlog.query_api.routes.deps import admin, state

router = APIRouter(tags=["sql"])

# Set when the result was cut: `rows` (max_result_rows) or `bytes` (max_result_bytes).
TRUNCATED_HEADER: Final = "X-Connlog-Sql-Truncated"


class SqlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        description="One SELECT (WITH/UNION of SELECTs) over the connlog tables.",
    )


@router.post(
    paths.SQL,
    response_model=SqlResult,
    summary="Ad-hoc read-only SQL (admin)",
    responses={
        403: {"description": "not an admin key, or a key scoped to connectors"},
        429: {"description": "too many ad-hoc queries running; see Retry-After"},
    },
)
def sql(
    request: Request, response: Response, body: SqlRequest, caller: Annotated[Principal, Depends(admin)]
) -> SqlResult | JSONResponse:
    """One whitelisted SELECT with readonly=1 and row, byte, memory, time and concurrency limits."""
    if caller.connectors is not None:
        raise ApiError(
            403,
            "forbidden",
            "keys scoped to connectors cannot run SQL (a query could read other connectors' rows)",
        )
    try:
        outcome = state(request).sql.execute(body.query, caller.name)
    except SqlBusy as busy:
        return JSONResponse(
            error_body("too_many_queries", str(busy)),
            status_code=429,
            headers={"Retry-After": str(busy.retry_after_s)},
        )
    if outcome.truncated_by is not None:
        response.headers[TRUNCATED_HEADER] = outcome.truncated_by
    return outcome.result
