"""API keys, roles and connector scopes.

Keys come from configuration: `CONNLOG_API_KEYS` (a JSON list of
`{"key": ..., "role": "viewer"|"admin", "connectors": [...]}`) or the file named by
`CONNLOG_API_KEYS_FILE` (same JSON), and are sent as `Authorization: Bearer <key>`.
Only SHA-256 digests are kept in memory and compared in constant time.

- `viewer`: every route, but payloads (headers, bodies, fault response headers) are
  withheld (and never read from storage).
- `admin`: also payloads, and `POST /sql`.
- `connectors`: a non-empty list scopes the key: it sees only those connectors, in every
  route, export and search; other runs/calls answer 404 as if absent. Scoped keys cannot use
  `/sql`, which could read any connector's rows. Left out: every connector. An empty list,
  or any field other than `key`, `role`, `connectors`, `name`, is refused at start.

Auth is off only when asked for explicitly (`AuthConfig(disabled=True)` or
`CONNLOG_AUTH=off`); then every caller is an unscoped admin. With no keys configured and
auth on, every request is refused, which is the safe failure.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Protocol

from connlog.collector.key_sources import json_sources
from connlog.query_api.errors import ApiError
from connlog.query_api.scope import Scope

ENV_API_KEYS: Final = "CONNLOG_API_KEYS"
ENV_API_KEYS_FILE: Final = "CONNLOG_API_KEYS_FILE"
ENV_AUTH: Final = "CONNLOG_AUTH"
KEY_FIELDS: Final = ("key", "role", "connectors", "name")  # of one entry in the key list


class KeyRole(StrEnum):
    VIEWER = "viewer"
    ADMIN = "admin"


class AuthConfigError(ValueError):
    """The key configuration cannot be used; the message says which entry and why."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: their role and connector scope."""

    name: str
    role: KeyRole
    connectors: tuple[str, ...] | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is KeyRole.ADMIN

    @property
    def scope(self) -> Scope:
        return Scope(connectors=self.connectors, payloads=self.is_admin)


ANONYMOUS_ADMIN: Final = Principal(name="auth-disabled", role=KeyRole.ADMIN)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


@dataclass(frozen=True)
class ApiKey:
    key_digest: bytes
    principal: Principal


@dataclass
class AuthConfig:
    keys: list[ApiKey] = field(default_factory=list)
    disabled: bool = False

    def add(
        self,
        key: str,
        role: KeyRole | str = KeyRole.VIEWER,
        connectors: list[str] | tuple[str, ...] | None = None,
        name: str = "",
    ) -> None:
        if len(key) < 16:
            raise AuthConfigError("API keys must be at least 16 characters")
        try:
            r = KeyRole(role)
        except ValueError as exc:
            raise AuthConfigError(f"role must be viewer or admin, got {role!r}") from exc
        if connectors is not None and not connectors:
            raise AuthConfigError(
                "'connectors' is empty, which would scope nothing (an unscoped key);"
                " list the connectors this key may see, or leave 'connectors' out for every connector"
            )
        scoped = tuple(sorted(set(connectors))) if connectors is not None else None
        self.keys.append(ApiKey(_digest(key), Principal(name or f"key-{len(self.keys) + 1}", r, scoped)))

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller for an `Authorization` header value; 401 if missing or unknown."""
        if self.disabled:
            return ANONYMOUS_ADMIN
        if not authorization:
            raise ApiError(401, "unauthenticated", "missing API key: send 'Authorization: Bearer <key>'")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "unauthenticated", "expected 'Authorization: Bearer <key>'")
        digest = _digest(token)
        found: Principal | None = None
        for k in self.keys:  # no early exit: the time taken does not depend on which key matched
            if hmac.compare_digest(k.key_digest, digest):
                found = k.principal
        if found is None:
            raise ApiError(401, "unauthenticated", "unknown API key")
        return found

    @classmethod
    def from_entries(cls, entries: Any) -> AuthConfig:
        """Keys from parsed JSON; AuthConfigError naming the entry's index (never its key) and the fix.

        Refused rather than guessed, because each guess fails open: `"connectors": []` would
        otherwise scope nothing (an unscoped key), and a misspelt field (`"conectors"`) would
        silently drop the scope it meant to set.
        """
        if not isinstance(entries, list):
            raise AuthConfigError("API key configuration must be a JSON list of {key, role, connectors}")
        cfg = cls()
        for i, entry in enumerate(entries):
            if not isinstance(entry, Mapping) or not isinstance(entry.get("key"), str):
                raise AuthConfigError(f"API key entry {i} needs a string 'key'")
            unknown = sorted(str(k) for k in entry if k not in KEY_FIELDS)
            if unknown:
                raise AuthConfigError(
                    f"API key entry {i}: unknown field(s) {', '.join(map(repr, unknown))};"
                    f" allowed: {', '.join(KEY_FIELDS)}"
                )
            connectors = entry.get("connectors")
            if connectors is not None and (
                not isinstance(connectors, list) or not all(isinstance(c, str) and c for c in connectors)
            ):
                raise AuthConfigError(f"API key entry {i}: 'connectors' must be a list of connector names")
            name = entry.get("name", "")
            if not isinstance(name, str):
                raise AuthConfigError(f"API key entry {i}: 'name' must be a string")
            try:
                cfg.add(entry["key"], entry.get("role", KeyRole.VIEWER), connectors, name)
            except AuthConfigError as exc:
                raise AuthConfigError(f"API key entry {i}: {exc}") from exc
        return cfg

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AuthConfig:
        env = os.environ if environ is None else environ
        if env.get(ENV_AUTH, "").strip().lower() == "off":
            return cls(disabled=True)
        entries: list[Any] = []
        for source, data in json_sources(env, ENV_API_KEYS, ENV_API_KEYS_FILE, AuthConfigError):
            if not isinstance(data, list):
                raise AuthConfigError(f"{source} must be a JSON list of {{key, role, connectors}}")
            entries.extend(data)
        return cls.from_entries(entries)


def generate_key() -> str:
    return "clk_" + secrets.token_urlsafe(24)


def create_demo_admin_key(config: AuthConfig, *, echo: bool = True) -> str:
    """Add a fresh admin key to `config` and print it (for `connlog serve` on a laptop)."""
    key = generate_key()
    config.add(key, KeyRole.ADMIN, name="demo-admin")
    if echo:
        print(f"connlog query API demo admin key (this process only): {key}")
    return key


class _Printer(Protocol):
    def print(self, *objects: Any) -> None: ...


def api_options_for_cli(
    settings: Any, *, no_auth: bool = False, console: _Printer | None = None
) -> dict[str, Any]:
    """`create_app` keyword arguments for `connlog serve`.

    `--no-auth` (or `CONNLOG_AUTH=off`) switches auth off, loudly. Otherwise keys come from
    `CONNLOG_API_KEYS[_FILE]`; with none configured, a demo admin key valid for this process
    is created and printed, so a local `serve` is usable but never open by accident.
    `settings` is accepted for symmetry with the other option builders and not read.
    """
    del settings

    def say(text: str) -> None:
        if console is not None:
            console.print(text)
        else:
            print(text)

    config = AuthConfig(disabled=True) if no_auth else AuthConfig.from_env()
    if config.disabled:
        say("query API auth is OFF: every caller is an admin (local use only)")
    elif not config.keys:
        key = create_demo_admin_key(config, echo=False)
        say(f"query API demo admin key (this process only): Authorization: Bearer {key}")
    return {"auth": config}
