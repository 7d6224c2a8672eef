"""Scheduled jobs: each job's ticks in the time range, missed ones included."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import ConfigDict

from connlog.query_api import paths
from connlog.query_api.filters import JobFilterParams
from connlog.query_api.models import JobSummary
from connlog.query_api.queries.jobs import list_jobs
from connlog.query_api.routes.deps import Caller, Db, window

router = APIRouter(tags=["jobs"])


class JobQuery(JobFilterParams):
    """Unknown names are refused for the whole route by `app.reject_unknown_params` (as in deps)."""

    model_config = ConfigDict(extra="ignore")


@router.get(paths.JOBS, response_model=list[JobSummary], summary="Scheduled jobs and their ticks")
def jobs(request: Request, caller: Caller, db: Db, params: Annotated[JobQuery, Query()]) -> list[JobSummary]:
    """Jobs with a run in the time range (default: the last 24 hours) or in the 30 days before it.

    Each tick lists the runs it started; for an `every <n>s` schedule, ticks that were due and
    did not fire within half an interval are listed with `missed: true`.
    """
    return list_jobs(db, caller.scope, params.to_filters(window(request)))
