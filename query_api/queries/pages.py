"""A step's pages, each with the HTTP calls that fetched it (retries included; the step's own
row is `runs.get_run_and_step`).

Page spans carry counters; method, URL, status, retry count and rate-limit headroom come
from their HTTP child calls: the last call is the one whose answer was used, earlier ones
(or `http.request.resend_count`) are retries. Every read stays inside the run's bounds.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from clickhouse_connect.driver.client import Client

from connlog.collector.schema import names as n
from connlog.collector.schema.concepts import SPAN_STATUS
from connlog.instrumentation import semconv as sc
from connlog.query_api import cursor as cur
from connlog.query_api.db import fetch
from connlog.query_api.models import Counters, Page, PageRow
from connlog.query_api.queries.common import (
    DEFAULT_PAGE,
    attr,
    counter_exprs,
    counters_of,
    within_trace,
    within_trace_inline,
)
from connlog.query_api.scope import Scope
from connlog.query_api.sqlbuild import ns_expr
from connlog.query_api.timeutil import iso, ms

_CALL_ROLES = (sc.Role.HTTP.value, sc.Role.WEBHOOK.value)


def list_pages(
    client: Client,
    run_id: str,
    step_id: str,
    scope: Scope,
    *,
    cursor: str | None = None,
    limit: int = DEFAULT_PAGE,
) -> Page[PageRow]:
    """Pages of `step_id` in page order (start time, then span id).

    Two round trips: the pages, then the calls under them, each reading the run's bounds in the
    same query (`within_trace_inline`). Only when no page matches is the run looked up, so an
    unknown or out-of-scope run is still a 404 and a step without pages an empty list.
    """
    with_bounds, where = within_trace_inline(run_id, scope)
    params = where.params
    where.eq(n.C_ROLE, sc.Role.PAGE.value)
    where.eq(n.C_PARENT_SPAN_ID, step_id)
    if cursor:
        c_ns, c_id = cur.decode("pages", cursor, (int, str))
        where.add(
            f"({ns_expr(n.C_TIMESTAMP)}, {n.C_SPAN_ID}) > ({params.bind(c_ns, 'Int64')}, {params.bind(c_id, 'String')})"
        )
    pages = fetch(
        client,
        f"{with_bounds}SELECT {n.C_SPAN_ID}, toUInt32OrNull({attr(sc.PAGE_NUMBER)}), {attr(sc.PAGE_CURSOR)},"
        f" {ns_expr(n.C_TIMESTAMP)}, {n.C_DURATION}, {SPAN_STATUS}, {n.C_RATE_LIMITED}, {n.C_FAILURE_CAUSE},"
        f" {counter_exprs()} FROM {n.TRACES} {where.sql()}"
        f" ORDER BY {n.C_TIMESTAMP}, {n.C_SPAN_ID} LIMIT {params.bind(limit + 1, 'UInt32')}",
        params.values,
        label="pages",
    )
    if not pages:
        within_trace(client, run_id, scope)  # 404 when the run is unknown or out of scope
    page_rows = pages[:limit]
    calls = _calls_of(client, run_id, scope, page_ids=[p[0] for p in page_rows])
    items = [_page(step_id, row, calls.get(row[0], [])) for row in page_rows]
    nxt = cur.encode("pages", [items[-1].start_ns, items[-1].page_id]) if len(pages) > limit else None
    return Page[PageRow](items=items, next_cursor=nxt, limit=limit)


def _calls_of(
    client: Client, run_id: str, scope: Scope, *, page_ids: list[str]
) -> dict[str, list[tuple[Any, ...]]]:
    if not page_ids:
        return {}
    with_bounds, where = within_trace_inline(run_id, scope)
    where.in_(n.C_ROLE, _CALL_ROLES)
    where.in_(n.C_PARENT_SPAN_ID, page_ids)
    rows = fetch(
        client,
        f"{with_bounds}SELECT {n.C_PARENT_SPAN_ID}, {n.C_HTTP_METHOD}, {n.C_HTTP_URL}, {n.C_HTTP_STATUS},"
        f" toUInt32OrZero({attr(sc.HTTP_REQUEST_RESEND_COUNT)}), toInt64OrNull({attr(sc.RATELIMIT_REMAINING)}),"
        f" {n.C_RATE_LIMITED} FROM {n.TRACES} {where.sql()} ORDER BY {n.C_TIMESTAMP}, {n.C_SPAN_ID}",
        where.params.values,
        label="page_calls",
    )
    out: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        out[row[0]].append(row[1:])
    return out


def _page(step_id: str, row: tuple[Any, ...], calls: list[tuple[Any, ...]]) -> PageRow:
    sid, number, page_cursor, start_ns, dur, status, rate_limited, cause, *counters = row
    last = calls[-1] if calls else ("", "", 0, 0, None, False)
    method, url, http_status, _, _, _ = last
    # Retries: earlier sends of the request whose answer the page used (same method and URL),
    # or the SDK's resend count; other calls under the page (look-ups per record) are not retries.
    same = sum(1 for c in calls if (c[0], c[1]) == (method, url))
    retries = max([same - 1, *[int(c[3]) for c in calls]]) if calls else 0
    remaining = next((int(c[4]) for c in reversed(calls) if c[4] is not None), None)
    return PageRow(
        page_id=sid,
        step_id=step_id,
        number=None if number is None else int(number),
        cursor=page_cursor,
        start=iso(start_ns),
        start_ns=int(start_ns),
        duration_ms=ms(dur) or 0.0,
        status=status,
        method=method,
        url=url,
        http_status=int(http_status) or None,
        resend_count=retries,
        call_count=len(calls),
        rate_limited=bool(rate_limited) or any(bool(c[5]) for c in calls),
        ratelimit_remaining=remaining,
        counters=Counters(**counters_of(counters)),
        failure_cause=cause,
    )
