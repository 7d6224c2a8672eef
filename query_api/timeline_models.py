"""A record's timeline: what each run that touched a record did with it.

`SearchResult` (query_api/models.py) says which runs touched a value; these add, for a record
id (external or internal), the entity rows of those runs: the action taken and why. Kept in
their own module so the search route's model grows without editing the shared models.
"""

from __future__ import annotations

from pydantic import Field

from connlog.query_api.models import EntityRow, SearchResult


class RecordTouch(EntityRow):
    """One entity span of a run whose external or internal id is the searched value: the
    entities list's row (action, reason, status, cause) and the run it belongs to."""

    run_id: str


class TimelineResult(SearchResult):
    """The search result plus, when the value is a record id, what each run did with it."""

    timeline: list[RecordTouch] = Field(
        default_factory=list,
        description="Entity rows of the runs found whose external or internal id equals `q`,"
        " newest first (runs search only; empty inside a run and for other kinds of match).",
    )
