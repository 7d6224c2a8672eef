"""Who is looking: the sign-in and sign-out pages, and the guard every other page goes through.

Every page resolves its principal first (session cookie, or the anonymous admin when auth
is off) and redirects to the sign-in page without one. Query errors (`ApiError`: a bad
filter, a run outside the caller's scope) render as an HTML page with the same status the
JSON route would give.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, quote

from clickhouse_connect.driver.client import Client
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from connlog.query_api.auth import ANONYMOUS_ADMIN, Principal
from connlog.query_api.errors import ApiError
from connlog.query_api.routes.deps import AppState
from connlog.query_api.viewer.render import page
from connlog.query_api.viewer.session import (
    CSRF_COOKIE,
    CSRF_FIELD,
    SESSION_COOKIE,
    SESSION_TTL_S,
    SessionStore,
    cross_site,
    same_token,
    sign_in,
)
from connlog.query_api.viewer.urls import HOME, SIGNIN, SIGNOUT

router = APIRouter(include_in_schema=False)


def state(request: Request) -> AppState:
    st: AppState = request.app.state.connlog
    return st


def _store(request: Request) -> SessionStore:
    store: SessionStore = request.app.state.viewer_sessions
    return store


def who(request: Request) -> Principal | None:
    """The signed-in principal (and its CSRF token on `request.state`), or None."""
    st = state(request)
    request.state.viewer_auth_on = not st.auth.disabled
    if st.auth.disabled:
        request.state.viewer_principal = ANONYMOUS_ADMIN
        request.state.viewer_csrf = ""
        return ANONYMOUS_ADMIN
    session = _store(request).get(request.cookies.get(SESSION_COOKIE))
    if session is None:
        return None
    request.state.viewer_principal = session.principal
    request.state.viewer_csrf = session.csrf
    return session.principal


@contextmanager
def db(request: Request) -> Iterator[Client]:
    with state(request).pool.client() as c:
        yield c


def signin_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{SIGNIN}?next={quote(target, safe='')}", status_code=303)


def guarded(request: Request, render: Callable[[Principal], Response]) -> Response:
    """Sign-in check, then the page; an ApiError becomes an HTML error page."""
    principal = who(request)
    if principal is None:
        return signin_redirect(request)
    try:
        return render(principal)
    except ApiError as exc:
        return page(request, "error.html", exc.status, error=exc)


# ------------------------------------------------------------------------------ sign-in


def _safe_next(target: str | None) -> str:
    """Only local paths: a sign-in link cannot send the user to another site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return HOME


@router.get(SIGNIN, response_class=HTMLResponse)
def signin_form(request: Request, next: str | None = None) -> Response:
    if who(request) is not None and state(request).auth.disabled:
        return RedirectResponse(HOME, status_code=303)
    token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = page(request, "signin.html", next=_safe_next(next), form_csrf=token, error=None)
    response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", path=SIGNIN)
    return response


async def _form(request: Request) -> dict[str, str]:
    raw = (await request.body()).decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}


def _refused(request: Request) -> HTMLResponse:
    error = ApiError(403, "csrf", "This form was not sent from this site's own page; nothing was changed.")
    return page(request, "error.html", 403, error=error)


@router.post(SIGNIN, response_class=HTMLResponse)
async def signin_submit(request: Request) -> Response:
    form = await _form(request)
    if cross_site(request) or not same_token(form.get(CSRF_FIELD), request.cookies.get(CSRF_COOKIE)):
        return _refused(request)
    st = state(request)
    try:
        principal = sign_in(st.auth, form.get("key", ""))
    except ApiError:
        return page(
            request,
            "signin.html",
            401,
            next=_safe_next(form.get("next")),
            form_csrf=request.cookies.get(CSRF_COOKIE, ""),
            error="Unknown API key.",
        )
    sid, _ = _store(request).create(principal)
    response = RedirectResponse(_safe_next(form.get("next")), status_code=303)
    secure = request.url.scheme == "https"
    response.set_cookie(
        SESSION_COOKIE, sid, max_age=SESSION_TTL_S, httponly=True, samesite="strict", secure=secure, path="/"
    )
    response.delete_cookie(CSRF_COOKIE, path=SIGNIN)
    return response


@router.post(SIGNOUT, response_class=HTMLResponse)
async def signout(request: Request) -> Response:
    form = await _form(request)
    principal = who(request)
    csrf = getattr(request.state, "viewer_csrf", "")
    if principal is None or cross_site(request) or not same_token(form.get(CSRF_FIELD), csrf):
        return _refused(request)
    _store(request).drop(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse(SIGNIN, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
