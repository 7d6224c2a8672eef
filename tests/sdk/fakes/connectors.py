"""Three connectors written the way people write them: through the vendor's client library.

Each syncs "users" page by page under `run` → `step` → `page`, one `entity` per record,
and lets the vendor client raise its own exceptions. A record without an e-mail raises
KeyError inside its entity; the connector logs it and moves on (the entity is `fail`),
as connectors do for one bad record. Anything else escapes and fails the run.

Each returns the run id (`run.run_id`) through `out`, also when the run raises.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import connlog as cl

log = logging.getLogger("connector.fake")


def _upsert(record: dict[str, Any], email: str, ent: cl.entity) -> None:
    if "@" not in email:
        raise ValueError(f"bad email for {record.get('id')}")
    ent.set(internal_id=f"local-{record['id']}")


def _upsert_each(records: Iterable[Any], kind: str, action: str, email: Callable[[Any], str]) -> int:
    """One entity per record of a page; a record without an e-mail (KeyError) fails its
    entity, is logged and skipped, as connectors do for one bad record. Returns how many
    records were stored."""
    synced = 0
    for record in records:
        try:
            with cl.entity(record["id"], type=kind, action=action) as ent:
                _upsert(record, email(record), ent)
                synced += 1
        except KeyError:
            log.warning("skipping malformed %s %s", kind, record["id"])
    return synced


def notion_sync(token: str, base_url: str, out: dict[str, str], timeout_s: float = 1.0) -> int:
    from notion_client import Client
    from notion_client.client import RetryOptions

    client = Client(
        auth=token,
        base_url=base_url,
        timeout_ms=int(timeout_s * 1000),
        retry=RetryOptions(max_retries=2, initial_retry_delay_ms=200, max_retry_delay_ms=2000),
    )
    synced = 0
    with cl.run(sync_type="full", trigger="schedule", schedule="0 * * * *", user="ops@example.com") as r:
        out["run_id"] = r.run_id or ""
        with cl.step("users"):
            cursor: str | None = None
            number = 0
            while True:
                number += 1
                with cl.page(number=number, cursor=cursor):
                    resp: Any = client.users.list(start_cursor=cursor) if cursor else client.users.list()
                    synced += _upsert_each(resp["results"], "user", "create", lambda u: u["person"]["email"])
                if not resp["has_more"]:
                    break
                cursor = resp["next_cursor"]
    return synced


def stripe_sync(api_key: str, base_url: str, out: dict[str, str], timeout_s: float = 1.0) -> int:
    import stripe

    client = stripe.StripeClient(
        api_key,
        base_addresses={"api": base_url},
        http_client=stripe.RequestsClient(timeout=timeout_s),
        max_network_retries=1,
    )
    synced = 0
    with cl.run(sync_type="incremental", trigger="manual") as r:
        out["run_id"] = r.run_id or ""
        with cl.step("customers"):
            params: dict[str, Any] = {"limit": 2}
            number = 0
            while True:
                number += 1
                with cl.page(number=number, cursor=params.get("starting_after")):
                    page = client.v1.customers.list(params=params)  # type: ignore[arg-type]
                    synced += _upsert_each(page.data, "customer", "update", lambda c: c["email"])
                if not page.has_more:
                    break
                params["starting_after"] = page.data[-1].id
    return synced


async def slack_sync(token: str, base_url: str, out: dict[str, str], timeout_s: int = 1) -> int:
    from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
    from slack_sdk.web.async_client import AsyncWebClient

    client = AsyncWebClient(
        token=token,
        base_url=base_url,
        timeout=timeout_s,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    synced = 0
    async with cl.run(sync_type="full", trigger="webhook") as r:
        out["run_id"] = r.run_id or ""
        async with cl.step("members"):
            cursor: str | None = None
            number = 0
            while True:
                number += 1
                async with cl.page(number=number, cursor=cursor):
                    resp = await client.users_list(cursor=cursor, limit=2)
                    synced += _upsert_each(
                        resp["members"], "member", "create", lambda m: m["profile"]["email"]
                    )
                cursor = resp["response_metadata"]["next_cursor"] or None
                if not cursor:
                    break
    return synced
