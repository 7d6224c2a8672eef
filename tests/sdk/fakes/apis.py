"""Small Starlette fakes of three vendor APIs, enough for a paginating connector.

Each fake serves two pages (two records, then one) and can be switched into one failure
mode at a time through its `FakeState`, so one server covers every scenario:

- `good`: both pages;
- `auth`: a call with any other token is rejected with 401 and the vendor's error body;
- `ratelimit`: the first call gets 429 with `Retry-After: 1`, the retry succeeds;
- `malformed`: the record on page 2 lacks its e-mail;
- `timeout`: the page-2 call answers after `slow_s`, past the client's timeout.

The error bodies follow each vendor's documented shape, so the vendor client raises its
own exception type (notion `APIResponseError`, stripe `AuthenticationError`, slack
`SlackApiError`), which is what a real connector sees.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

NOTION_TOKEN = "secret_notionINTEGRATIONtoken0001"
STRIPE_KEY = "sk_test_51StripeFAKEkey000000000000001"
SLACK_TOKEN = "xoxb-1111-2222-SlackFAKEbotTOKEN0001"
MODES = ("good", "auth", "ratelimit", "malformed", "timeout")


@dataclass
class FakeState:
    mode: str = "good"
    slow_s: float = 2.5
    calls: int = 0
    seen_auth: list[str] = field(default_factory=list)

    def reset(self, mode: str) -> None:
        assert mode in MODES, mode
        self.mode = mode
        self.calls = 0


def _records(page: int, malformed: bool) -> list[dict[str, Any]]:
    if page == 1:
        return [{"n": 1, "email": "ada@example.com"}, {"n": 2, "email": "bob@example.com"}]
    record: dict[str, Any] = {"n": 3, "email": "cy@example.com"}
    if malformed:
        del record["email"]
    return [record]


async def _gate(state: FakeState, request: Request, token: str, page: int) -> Response | None:
    """The failure response for this call, or None to answer normally."""
    state.calls += 1
    state.seen_auth.append(request.headers.get("authorization", ""))
    if request.headers.get("authorization") != f"Bearer {token}":
        return _AUTH  # the `auth` scenario connects with a wrong token
    if state.mode == "ratelimit" and state.calls == 1:
        return _RATE
    if state.mode == "timeout" and page == 2:
        await asyncio.sleep(state.slow_s)
    return None


_AUTH = Response(status_code=401)  # placeholder replaced per vendor below
_RATE = Response(status_code=429)


# ---------------------------------------------------------------------- Notion (httpx)
def notion_app(state: FakeState) -> Starlette:
    async def users(request: Request) -> Response:
        page = 2 if request.query_params.get("start_cursor") == "cur-2" else 1
        gate = await _gate(state, request, NOTION_TOKEN, page)
        if gate is _AUTH:
            return JSONResponse(
                {
                    "object": "error",
                    "status": 401,
                    "code": "unauthorized",
                    "message": "API token is invalid.",
                },
                status_code=401,
            )
        if gate is _RATE:
            return JSONResponse(
                {"object": "error", "status": 429, "code": "rate_limited", "message": "Slow down."},
                status_code=429,
                headers={"Retry-After": "1"},
            )
        results = []
        for rec in _records(page, state.mode == "malformed"):
            person = {"email": rec["email"]} if "email" in rec else {}
            results.append(
                {"object": "user", "id": f"user-000{rec['n']}", "type": "person", "person": person}
            )
        return JSONResponse(
            {
                "object": "list",
                "results": results,
                "next_cursor": "cur-2" if page == 1 else None,
                "has_more": page == 1,
                "type": "user",
                "user": {},
            }
        )

    return Starlette(routes=[Route("/v1/users", users)])


# ---------------------------------------------------------------------- Stripe (requests)
def stripe_app(state: FakeState) -> Starlette:
    async def customers(request: Request) -> Response:
        page = 2 if request.query_params.get("starting_after") == "cus_0002" else 1
        gate = await _gate(state, request, STRIPE_KEY, page)
        if gate is _AUTH:
            return JSONResponse(
                {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided."}},
                status_code=401,
            )
        if gate is _RATE:
            return JSONResponse(
                {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "rate_limit",
                        "message": "Too many requests.",
                    }
                },
                status_code=429,
                headers={"Retry-After": "1", "Stripe-Should-Retry": "true"},
            )
        data = []
        for rec in _records(page, state.mode == "malformed"):
            item: dict[str, Any] = {"id": f"cus_000{rec['n']}", "object": "customer"}
            if "email" in rec:
                item["email"] = rec["email"]
            data.append(item)
        return JSONResponse({"object": "list", "data": data, "has_more": page == 1, "url": "/v1/customers"})

    return Starlette(routes=[Route("/v1/customers", customers)])


# ---------------------------------------------------------------------- Slack (aiohttp)
def slack_app(state: FakeState) -> Starlette:
    async def users_list(request: Request) -> Response:
        form = parse_qs((await request.body()).decode())  # slack_sdk posts a urlencoded form
        cursor = (form.get("cursor") or [""])[0] or request.query_params.get("cursor")
        page = 2 if cursor == "dXNlcjpVMDAy" else 1
        gate = await _gate(state, request, SLACK_TOKEN, page)
        if gate is _AUTH:
            return JSONResponse({"ok": False, "error": "invalid_auth"}, status_code=401)
        if gate is _RATE:
            return JSONResponse(
                {"ok": False, "error": "ratelimited"}, status_code=429, headers={"Retry-After": "1"}
            )
        members = []
        for rec in _records(page, state.mode == "malformed"):
            profile = {"email": rec["email"]} if "email" in rec else {}
            members.append({"id": f"U00{rec['n']}", "profile": profile})
        return JSONResponse(
            {
                "ok": True,
                "members": members,
                "response_metadata": {"next_cursor": "dXNlcjpVMDAy" if page == 1 else ""},
            }
        )

    return Starlette(routes=[Route("/api/users.list", users_list, methods=["GET", "POST"])])
