"""Sample connectors, written the way a connector author would, against the fake API.

They are the demo's content and a living example of the SDK: one `init`, then `run`,
`step`, `page` and `entity` around ordinary httpx code. Each meets some of the failures
the fake API produces, so the demo's data has something to find.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

import httpx

import connlog as cl
from connlog.demo.fake_api import BILLING_API_KEY, COMPANIES, GOOD_TOKEN

log = logging.getLogger("connlog.demo.connectors")


@dataclass(frozen=True)
class Target:
    """Where the third-party API (and our own product's API) listen."""

    api_url: str
    timeout: float = 1.0


def _client(target: Target, token: str = GOOD_TOKEN) -> httpx.Client:
    return httpx.Client(
        base_url=target.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=target.timeout
    )


def _get_with_retry(client: httpx.Client, path: str, params: dict[str, str]) -> httpx.Response:
    """GET, honouring one 429 Retry-After (capped), as most connectors do."""
    resp = client.get(path, params=params)
    if resp.status_code == 429:
        log.warning("rate limited on %s, retrying after %ss", path, resp.headers.get("Retry-After"))
        resp = client.get(path, params=params)
    resp.raise_for_status()
    return resp


def sync_contacts(client: httpx.Client) -> None:
    with cl.step("contacts"):
        after = "0"
        number = 1
        while True:
            with cl.page(number=number, cursor=after):
                data = _get_with_retry(
                    client, "/crm/v3/objects/contacts", {"limit": "4", "after": after}
                ).json()
                for rec in data["results"]:
                    # A record whose write needs an API call: the call nests under the entity.
                    with cl.entity(rec["id"], type="contact") as ent:
                        if rec["id"].endswith(("1", "5", "9")):
                            created = client.post("/records", json={"external_id": rec["id"], **rec})
                            created.raise_for_status()
                            ent.set(internal_id=created.json()["id"], action="create")
                        elif rec["id"].endswith(("2", "6")):
                            client.patch(f"/records/int-{rec['id']}", json=rec).raise_for_status()
                            ent.set(internal_id=f"int-{rec['id']}", action="update")
                        else:
                            ent.set(internal_id=f"int-{rec['id']}", action="unchanged")
            nxt = data.get("paging", {}).get("next", {}).get("after")
            if not nxt:
                break
            after, number = nxt, number + 1


def sync_companies(client: httpx.Client) -> None:
    """One company id is stale: the 404 becomes a failed entity, the step goes on."""
    with cl.step("companies"), cl.page(number=1):
        for cid in [c["id"] for c in COMPANIES] + ["co-99"]:
            resp = client.get(f"/crm/v3/objects/companies/{cid}")
            if resp.status_code == 404:
                cl.entity(cid, type="company", action="fail", reason="not found in source (deleted?)")
                log.error("company %s not found", cid)
                continue
            resp.raise_for_status()
            cl.entity(cid, type="company", internal_id=f"int-{cid}", action="unchanged")


def sync_deals(client: httpx.Client) -> None:
    """The deals endpoint returns malformed JSON: the step fails with a shape mismatch."""
    with cl.step("deals"), cl.page(number=1):
        resp = client.get("/crm/v3/objects/deals")
        resp.raise_for_status()
        json.loads(resp.text)


def hubspot(target: Target) -> None:
    """Contacts (paginated, a 429, creates and updates), companies (a 404), deals (bad JSON)."""
    with _client(target) as client:
        try:
            with cl.run(sync_type="incremental", trigger="schedule", job_id="hubspot-hourly"):
                sync_contacts(client)
                sync_companies(client)
                sync_deals(client)
        except json.JSONDecodeError:
            log.exception("hubspot sync failed")


def chargebee(target: Target) -> None:
    """Customers with the API key in the query string (redacted); invoices time out."""
    with httpx.Client(base_url=target.api_url, timeout=target.timeout) as client:
        with cl.run(sync_type="full", trigger="manual", job_id="chargebee-nightly") as run:
            with cl.step("customers"):
                offset, number = "0", 1
                while offset:
                    with cl.page(number=number, cursor=offset):
                        resp = client.get(
                            "/api/v2/customers", params={"api_key": BILLING_API_KEY, "offset": offset}
                        )
                        resp.raise_for_status()
                        data = resp.json()
                        for item in data["list"]:
                            cust = item["customer"]
                            cl.entity(
                                cust["id"], type="customer", internal_id=f"int-{cust['id']}", action="update"
                            )
                    offset, number = data.get("next_offset", ""), number + 1
            try:
                with cl.step("invoices"), cl.page(number=1):
                    client.get("/api/v2/invoices", params={"api_key": BILLING_API_KEY})
            except httpx.TimeoutException:
                log.error("invoices timed out; will retry next run")
                run.set_exit_code(2)


def netsuite(target: Target) -> None:
    """Bad credentials: the first call is a 401 and the whole run fails with cause `auth`."""
    with _client(target, token="expired-token-0000") as client:  # noqa: S106 - deliberately wrong
        try:
            with (
                cl.run(sync_type="incremental", trigger="webhook", job_id="netsuite-push"),
                cl.step("vendors"),
            ):
                with cl.page(number=1):
                    _get_with_retry(client, "/crm/v3/objects/contacts", {"limit": "4"})
        except httpx.HTTPStatusError:
            log.exception("netsuite sync failed")


def _organizations(client: httpx.Client) -> None:
    with cl.step("organizations"), cl.page(number=1):
        for cid in [c["id"] for c in COMPANIES]:
            client.get(f"/crm/v3/objects/companies/{cid}").raise_for_status()
            cl.entity(cid, type="organization", internal_id=f"int-{cid}", action="unchanged")


def pipedrive(target: Target) -> None:
    """A scheduled job that works: several ticks of the same job, each a successful run."""
    with _client(target) as client:
        last_due = int(time.time()) // 900 * 900  # on the cron's grid: :00, :15, :30, :45 UTC
        for tick in range(SCHEDULE_TICKS):
            stamp = time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(last_due - (SCHEDULE_TICKS - 1 - tick) * 900)
            )
            with cl.run(sync_type="incremental", trigger="schedule", job_id="pipedrive-every-15min",
                        job_tick=stamp, schedule="*/15 * * * *"):  # fmt: skip
                _organizations(client)


def webhooks(target: Target) -> None:
    """Webhooks received: our own ASGI endpoint, instrumented with the SDK's middleware.

    The demo posts three events to it (two accepted, one with a bad signature), through a
    real HTTP server, so they are stored as incoming calls with redacted headers.
    """
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from connlog.collector.http_thread import ThreadedServer

    async def receive(request: Request) -> Response:
        event = await request.json()
        if request.headers.get("x-signature") != "sig-ok":
            return JSONResponse({"error": "bad signature"}, status_code=401)
        return JSONResponse({"received": event.get("id")})

    app = cl.instrument_asgi(Starlette(routes=[Route("/webhooks/hubspot", receive, methods=["POST"])]))
    server = ThreadedServer(app, name="demo-webhooks")
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=target.timeout * 5) as client:
            for i, signature in enumerate(("sig-ok", "sig-ok", "forged")):
                client.post(
                    "/webhooks/hubspot",
                    json={"id": f"evt-{i + 1}", "type": "contact.updated", "objectId": f"c-00{i + 1}"},
                    headers={"X-Signature": signature, "Authorization": f"Bearer {GOOD_TOKEN}"},
                )
    finally:
        server.stop()


def zendesk(target: Target) -> None:
    """A long run: its first step is done and exported, then it keeps going until stopped.

    The demo starts it in the background, so the viewer shows a run *running* while the demo
    serves; it prints READY once its start and first step are exported.
    """
    with _client(target) as client, cl.run(sync_type="full", trigger="manual", job_id="zendesk-backfill"):
        _organizations(client)
        handle = cl.active_handle()
        if handle is not None:
            handle.flush()
        print(READY, flush=True)
        while True:
            time.sleep(3600)


SCHEDULE_TICKS = 3
READY = "connector ready"
SAMPLE_CONNECTORS = {
    "hubspot": hubspot,
    "chargebee": chargebee,
    "netsuite": netsuite,
    "pipedrive": pipedrive,
    "hubspot-webhooks": webhooks,
}
BACKGROUND_CONNECTORS = {"zendesk": zendesk}  # started first, still running while the demo serves


def main(argv: list[str] | None = None) -> int:
    """`python -m connlog.demo.connectors NAME API_URL OTLP_ENDPOINT`: one connector, one process."""
    import sys

    name, api_url, endpoint = (argv if argv is not None else sys.argv[1:])[:3]
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    handle = cl.init(
        connector=name,
        version="1.4.0",
        environment="demo",
        tenant="acme",
        endpoint=endpoint,
        secrets=[GOOD_TOKEN, BILLING_API_KEY],
    )
    try:
        {**SAMPLE_CONNECTORS, **BACKGROUND_CONNECTORS}[name](Target(api_url=api_url))
    finally:
        handle.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
