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
from collections.abc import Callable
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


@dataclass(frozen=True)
class VendorErrors:
    """A vendor's documented error answers: a bad token (401) and a rate limit (429)."""

    auth: dict[str, Any]
    rate: dict[str, Any]
    rate_headers: dict[str, str] = field(default_factory=lambda: {"Retry-After": "1"})


async def _gate(
    state: FakeState, request: Request, token: str, page: int, errors: VendorErrors
) -> Response | None:
    """The failure response for this call, or None to answer normally."""
    state.calls += 1
    state.seen_auth.append(request.headers.get("authorization", ""))
    if request.headers.get("authorization") != f"Bearer {token}":
        return JSONResponse(errors.auth, status_code=401)  # the `auth` scenario's wrong token
    if state.mode == "ratelimit" and state.calls == 1:
        return JSONResponse(errors.rate, status_code=429, headers=errors.rate_headers)
    if state.mode == "timeout" and page == 2:
        await asyncio.sleep(state.slow_s)
    return None


def _vendor_app(
    state: FakeState,
    path: str,
    token: str,
    errors: VendorErrors,
    page_of: Callable[[Request, bytes], int],
    answer: Callable[[int, list[dict[str, Any]]], dict[str, Any]],
    methods: tuple[str, ...] = ("GET",),
) -> Starlette:
    """One paginated route: `page_of` reads which page is asked for (from the query or the
    body), the gate may answer a failure instead, and `answer` shapes that page's records
    the vendor's way."""

    async def route(request: Request) -> Response:
        page = page_of(request, await request.body())
        if (failure := await _gate(state, request, token, page, errors)) is not None:
            return failure
        return JSONResponse(answer(page, _records(page, state.mode == "malformed")))

    return Starlette(routes=[Route(path, route, methods=list(methods))])


# ---------------------------------------------------------------------- Notion (httpx)
NOTION_ERRORS = VendorErrors(
    auth={"object": "error", "status": 401, "code": "unauthorized", "message": "API token is invalid."},
    rate={"object": "error", "status": 429, "code": "rate_limited", "message": "Slow down."},
)


def _notion_page(request: Request, body: bytes) -> int:
    return 2 if request.query_params.get("start_cursor") == "cur-2" else 1


def _notion_users(page: int, records: list[dict[str, Any]]) -> dict[str, Any]:
    results = []
    for rec in records:
        person = {"email": rec["email"]} if "email" in rec else {}
        results.append({"object": "user", "id": f"user-000{rec['n']}", "type": "person", "person": person})
    return {
        "object": "list",
        "results": results,
        "next_cursor": "cur-2" if page == 1 else None,
        "has_more": page == 1,
        "type": "user",
        "user": {},
    }


def notion_app(state: FakeState) -> Starlette:
    return _vendor_app(state, "/v1/users", NOTION_TOKEN, NOTION_ERRORS, _notion_page, _notion_users)


# ---------------------------------------------------------------------- Stripe (requests)
STRIPE_ERRORS = VendorErrors(
    auth={"error": {"type": "invalid_request_error", "message": "Invalid API Key provided."}},
    rate={"error": {"type": "invalid_request_error", "code": "rate_limit", "message": "Too many requests."}},
    rate_headers={"Retry-After": "1", "Stripe-Should-Retry": "true"},
)


def _stripe_page(request: Request, body: bytes) -> int:
    return 2 if request.query_params.get("starting_after") == "cus_0002" else 1


def _stripe_customers(page: int, records: list[dict[str, Any]]) -> dict[str, Any]:
    data = []
    for rec in records:
        item: dict[str, Any] = {"id": f"cus_000{rec['n']}", "object": "customer"}
        if "email" in rec:
            item["email"] = rec["email"]
        data.append(item)
    return {"object": "list", "data": data, "has_more": page == 1, "url": "/v1/customers"}


def stripe_app(state: FakeState) -> Starlette:
    return _vendor_app(state, "/v1/customers", STRIPE_KEY, STRIPE_ERRORS, _stripe_page, _stripe_customers)


# ---------------------------------------------------------------------- Slack (aiohttp)
SLACK_ERRORS = VendorErrors(
    auth={"ok": False, "error": "invalid_auth"},
    rate={"ok": False, "error": "ratelimited"},
)
_SLACK_NEXT = "dXNlcjpVMDAy"


def _slack_page(request: Request, body: bytes) -> int:
    form = parse_qs(body.decode())  # slack_sdk posts a urlencoded form
    cursor = (form.get("cursor") or [""])[0] or request.query_params.get("cursor")
    return 2 if cursor == _SLACK_NEXT else 1


def _slack_members(page: int, records: list[dict[str, Any]]) -> dict[str, Any]:
    members = []
    for rec in records:
        profile = {"email": rec["email"]} if "email" in rec else {}
        members.append({"id": f"U00{rec['n']}", "profile": profile})
    return {
        "ok": True,
        "members": members,
        "response_metadata": {"next_cursor": _SLACK_NEXT if page == 1 else ""},
    }


def slack_app(state: FakeState) -> Starlette:
    return _vendor_app(
        state, "/api/users.list", SLACK_TOKEN, SLACK_ERRORS, _slack_page, _slack_members, ("GET", "POST")
    )
