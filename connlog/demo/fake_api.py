"""A local stand-in for the third-party APIs connectors talk to, with their bad habits.

The demo and the tests need every failure an operator meets at 3 a.m. to actually happen
over HTTP: cursor pagination, a 429 with Retry-After, a 401 for a bad token, a 404 for a
wrong path, a read that times out, malformed JSON, a 204 with no body, and a secret in the
query string. Starlette keeps it small; state (the one-time 429) lives on the app.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

GOOD_TOKEN = "demo-token-5f2b9c"  # noqa: S105 - a demo credential the SDK must redact
BILLING_API_KEY = "cb_live_4e1d7a90c3"
PAGE_SIZE = 4
SLOW_SECONDS = 3.0

CONTACTS = [{"id": f"c-{i:03d}", "email": f"user{i}@example.com", "name": f"User {i}"} for i in range(1, 11)]
COMPANIES = [{"id": f"co-{i:02d}", "name": f"Company {i}"} for i in range(1, 5)]
CUSTOMERS = [{"id": f"cus_{i:04d}", "email": f"billing{i}@example.com", "plan": "pro"} for i in range(1, 7)]


def _rate_headers(remaining: int) -> dict[str, str]:
    return {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": str(remaining), "X-RateLimit-Reset": "10"}


def _authorized(request: Request) -> bool:
    return request.headers.get("authorization") == f"Bearer {GOOD_TOKEN}"


def _unauthorized() -> Response:
    return JSONResponse(
        {"status": "error", "message": "Authentication credentials not found"}, status_code=401
    )


async def contacts(request: Request) -> Response:
    """Cursor pagination; the second page answers 429 once before it succeeds."""
    if not _authorized(request):
        return _unauthorized()
    after = int(request.query_params.get("after", "0"))
    state: dict[str, Any] = request.app.state.calls
    if after == PAGE_SIZE and not state.get("contacts_429_sent"):
        state["contacts_429_sent"] = True
        return JSONResponse(
            {"status": "error", "message": "You have reached your secondly limit."},
            status_code=429,
            headers={"Retry-After": "1", **_rate_headers(0)},
        )
    chunk = CONTACTS[after : after + PAGE_SIZE]
    body: dict[str, Any] = {"results": chunk}
    if after + PAGE_SIZE < len(CONTACTS):
        body["paging"] = {"next": {"after": str(after + PAGE_SIZE)}}
    return JSONResponse(body, headers=_rate_headers(100 - after))


async def company(request: Request) -> Response:
    if not _authorized(request):
        return _unauthorized()
    cid = request.path_params["cid"]
    found = next((c for c in COMPANIES if c["id"] == cid), None)
    if found is None:
        return JSONResponse({"status": "error", "message": f"resource {cid} not found"}, status_code=404)
    return JSONResponse(found, headers=_rate_headers(90))


async def deals(request: Request) -> Response:
    """Malformed JSON with a 200: the connector's parser fails (shape mismatch)."""
    return PlainTextResponse('{"results": [{"id": "d-1", "amount": 12', media_type="application/json")


async def upsert_record(request: Request) -> Response:
    """Our own product's API: POST creates (201), PATCH updates (204 No Content)."""
    payload = json.loads(await request.body() or b"{}")
    if request.method == "POST":
        return JSONResponse(
            {"id": f"int-{payload.get('external_id', 'x')}", "created": True}, status_code=201
        )
    return Response(status_code=204)


async def customers(request: Request) -> Response:
    """Offset pagination authenticated by an api_key query parameter (a secret in the URL)."""
    if request.query_params.get("api_key") != BILLING_API_KEY:
        return JSONResponse(
            {"message": "api_key invalid", "api_error_code": "api_authentication_failed"}, 401
        )
    offset = int(request.query_params.get("offset", "0"))
    chunk = CUSTOMERS[offset : offset + 3]
    body: dict[str, Any] = {"list": [{"customer": c} for c in chunk]}
    if offset + 3 < len(CUSTOMERS):
        body["next_offset"] = str(offset + 3)
    return JSONResponse(body, headers={"RateLimit-Limit": "150", "RateLimit-Remaining": str(140 - offset)})


async def invoices(request: Request) -> Response:
    """Slower than any sane client timeout."""
    await asyncio.sleep(SLOW_SECONDS)
    return JSONResponse({"list": []})


async def webhook_sender_info(request: Request) -> Response:
    return JSONResponse({"ok": True})


def create_app() -> Starlette:
    app = Starlette(
        routes=[
            Route("/crm/v3/objects/contacts", contacts),
            Route("/crm/v3/objects/companies/{cid}", company),
            Route("/crm/v3/objects/deals", deals),
            Route("/records", upsert_record, methods=["POST"]),
            Route("/records/{rid}", upsert_record, methods=["PATCH"]),
            Route("/api/v2/customers", customers),
            Route("/api/v2/invoices", invoices),
            Route("/info", webhook_sender_info),
        ]
    )
    app.state.calls = {}
    return app
