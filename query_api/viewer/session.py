"""Who is looking at a page: the sign-in session, and the CSRF checks of state-changing forms.

The sign-in form takes an API key once; the key is checked with the API's own `AuthConfig`
and never stored in a cookie or URL. The browser gets a random session id (HttpOnly,
SameSite=Strict) that maps, in this process's memory, to the key's `Principal` (role and
connector scopes), so every page applies the same scopes as the JSON routes. Sessions end
on sign-out or after `SESSION_TTL_S`; a restart signs everybody out, which is acceptable
for an operator console and avoids a signing secret to manage.

Forms that change state (sign-in, sign-out) carry a CSRF token: before sign-in a random
token in a SameSite=Strict cookie that the form must echo (double submit), after sign-in
the session's own token. A cross-site page can neither read the cookie nor set the field.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Final

from fastapi import Request

from connlog.query_api.auth import AuthConfig, Principal

SESSION_COOKIE: Final = "connlog_session"
CSRF_COOKIE: Final = "connlog_csrf"
CSRF_FIELD: Final = "csrf"
SESSION_TTL_S: Final = 12 * 3600
MAX_SESSIONS: Final = 10_000  # oldest are dropped beyond this: memory stays bounded


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf: str
    expires: float


class SessionStore:
    """Random session ids -> (principal, CSRF token), in memory, with expiry."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, principal: Principal) -> tuple[str, Session]:
        sid = secrets.token_urlsafe(32)
        session = Session(principal, secrets.token_urlsafe(24), time.monotonic() + SESSION_TTL_S)
        with self._lock:
            if len(self._sessions) >= MAX_SESSIONS:
                oldest = min(self._sessions, key=lambda k: self._sessions[k].expires)
                del self._sessions[oldest]
            self._sessions[sid] = session
        return sid, session

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        with self._lock:
            session = self._sessions.get(sid)
            if session is not None and session.expires < time.monotonic():
                del self._sessions[sid]
                return None
            return session

    def drop(self, sid: str | None) -> None:
        if sid:
            with self._lock:
                self._sessions.pop(sid, None)


def same_token(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


def cross_site(request: Request) -> bool:
    """True when the browser says the form was posted from another site."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return True
    origin = request.headers.get("origin")
    if origin and origin != "null":
        host = request.headers.get("host", "")
        return origin.split("://", 1)[-1] != host
    return False


def sign_in(auth: AuthConfig, key: str) -> Principal:
    """The principal of an API key, through the API's own check (raises ApiError 401)."""
    return auth.authenticate(f"Bearer {key.strip()}")
