"""Entities (records) of one run: ids on both sides, the action taken, and why not.

`step` accepts a step span id (entities below that step, through its pages) or a step
name (the `StepName` column every entity carries).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.client import Client

from connlog.collector.schema import names as n
from connlog.collector.schema.concepts import SPAN_STATUS
from connlog.instrumentation import semconv as sc
from connlog.query_api import cursor as cur
from connlog.query_api.db import fetch
from connlog.query_api.models import EntityRow, Page
from connlog.query_api.queries.common import DEFAULT_PAGE, within_trace
from connlog.query_api.scope import Scope
from connlog.query_api.sqlbuild import Conditions, ns_expr
from connlog.query_api.timeutil import iso, ms


@dataclass(frozen=True)
class EntityFilters:
    step: str | None = None
    action: str | None = None
    external_id: str | None = None
    cursor: str | None = None
    limit: int = DEFAULT_PAGE


# An entity span as `EntityRow` reads it (`entity_row`): the entities list and a record's
# timeline (`search.search_runs`) select the same columns. The reason is the typed
# `EntityReason` column (migration 6), not `SpanAttributes[...]`: reading the map decompressed
# the whole attribute map of every granule holding one of the entity spans.
ENTITY_COLUMNS = (
    f"{n.C_SPAN_ID}, {n.C_PARENT_SPAN_ID}, {n.C_STEP_NAME}, {n.C_ENTITY_TYPE}, {n.C_ENTITY_EXTERNAL_ID},"
    f" {n.C_ENTITY_INTERNAL_ID}, {n.C_ENTITY_ACTION},"
    f" if({n.C_ENTITY_REASON} != '', {n.C_ENTITY_REASON}, {n.C_STATUS_MESSAGE}),"
    f" {SPAN_STATUS}, {n.C_FAILURE_CAUSE}, {ns_expr(n.C_TIMESTAMP)}, {n.C_DURATION}"
)


def _is_span_id(value: str) -> bool:
    return len(value) == 16 and all(ch in "0123456789abcdef" for ch in value)


def list_entities(client: Client, run_id: str, f: EntityFilters, scope: Scope) -> Page[EntityRow]:
    """Entities of the run in processing order (start time, then span id)."""
    bounds, where = within_trace(client, run_id, scope)
    params = where.params
    where.eq(n.C_ROLE, sc.Role.ENTITY.value)
    if f.step is not None:
        if _is_span_id(f.step):
            pages = Conditions(params)
            bounds.apply(pages)
            pages.eq(n.C_ROLE, sc.Role.PAGE.value)
            pages.eq(n.C_PARENT_SPAN_ID, f.step)
            where.add(
                f"{n.C_PARENT_SPAN_ID} = {params.bind(f.step, 'String')} OR {n.C_PARENT_SPAN_ID} IN"
                f" (SELECT {n.C_SPAN_ID} FROM {n.TRACES} {pages.sql()})"
            )
        else:
            where.eq(n.C_STEP_NAME, f.step)
    if f.action is not None:
        where.eq(n.C_ENTITY_ACTION, f.action)
    if f.external_id is not None:
        where.eq(n.C_ENTITY_EXTERNAL_ID, f.external_id)
    if f.cursor:
        c_ns, c_id = cur.decode("entities", f.cursor, (int, str))
        where.add(
            f"({ns_expr(n.C_TIMESTAMP)}, {n.C_SPAN_ID}) > ({params.bind(c_ns, 'Int64')}, {params.bind(c_id, 'String')})"
        )
    rows = fetch(
        client,
        f"SELECT {ENTITY_COLUMNS} FROM {n.TRACES} {where.sql()} ORDER BY {n.C_TIMESTAMP}, {n.C_SPAN_ID}"
        f" LIMIT {params.bind(f.limit + 1, 'UInt32')}",
        params.values,
        label="entities",
    )
    items = [entity_row(r) for r in rows[: f.limit]]
    nxt = cur.encode("entities", [items[-1].start_ns, items[-1].entity_id]) if len(rows) > f.limit else None
    return Page[EntityRow](items=items, next_cursor=nxt, limit=f.limit)


def entity_row(row: tuple[Any, ...]) -> EntityRow:
    """An `EntityRow` from the `ENTITY_COLUMNS` of one entity span."""
    sid, parent, step, type_, ext, internal, action, reason, status, cause, start_ns, dur = row
    return EntityRow(
        entity_id=sid,
        page_id=parent,
        step=step,
        type=type_,
        external_id=ext,
        internal_id=internal,
        action=action,
        reason=reason,
        status=status,
        failure_cause=cause,
        start=iso(start_ns),
        start_ns=int(start_ns),
        duration_ms=ms(dur) or 0.0,
    )
