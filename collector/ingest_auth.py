"""Optional ingest authentication: bearer tokens, each bound to the connectors it may write.

Without it anyone who reaches the OTLP ports can write spans for any connector into any
run. Keys come from `CONNLOG_INGEST_KEYS` (JSON) and/or the file named by
`CONNLOG_INGEST_KEYS_FILE` (same JSON, for container secrets):

    [{"key": "<at least 16 characters>", "connectors": ["shopify-orders"], "name": "shopify"},
     {"key": "...", "connectors": ["*"], "name": "otel-gateway"}]

Clients send `Authorization: Bearer <key>`, the header the OTel SDK sends with
`OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20<key>` and the OTel Collector's
`bearertokenauth` extension sends from an exporter, on OTLP/HTTP and as gRPC metadata.
`connectors` lists the `service.name` values (connlog's connector name) the key may
write; "*" allows every connector (a gateway that forwards for many). An empty list or an
unknown field is refused at start, so a typo cannot fail open. With no keys configured,
ingest is open and the collector says so when it starts.

Only SHA-256 digests of the keys are kept, compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from connlog.collector.config import ENV_INGEST_KEYS, ENV_INGEST_KEYS_FILE, ConfigError
from connlog.collector.key_sources import json_sources

ANY_CONNECTOR: Final = "*"
MIN_KEY_LENGTH: Final = 16
_FIELDS: Final = frozenset({"key", "connectors", "name"})


class Unauthenticated(Exception):
    """No key or an unknown key (HTTP 401, gRPC UNAUTHENTICATED)."""


class Forbidden(Exception):
    """A valid key writing a connector it is not bound to (HTTP 403, gRPC PERMISSION_DENIED)."""


@dataclass(frozen=True)
class IngestPrincipal:
    """Who is writing: the key's name and the connectors it may write (None = any)."""

    name: str
    connectors: frozenset[str] | None

    def authorize(self, services: Iterable[str]) -> None:
        """Raise `Forbidden` naming the first connector this key may not write."""
        if self.connectors is None:
            return
        for service in services:
            if service not in self.connectors:
                raise Forbidden(
                    f"ingest key {self.name!r} may not write connector {service!r} (service.name); "
                    f"it may write: {', '.join(sorted(self.connectors))}"
                )


OPEN: Final = IngestPrincipal(name="ingest-auth-off", connectors=None)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


@dataclass(frozen=True)
class IngestKeys:
    """The configured keys; `enabled` is False when there are none (ingest is open)."""

    keys: tuple[tuple[bytes, IngestPrincipal], ...] = ()

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def authenticate(self, authorization: str | None) -> IngestPrincipal:
        """The principal for an `Authorization` header value (`OPEN` when auth is off)."""
        if not self.keys:
            return OPEN
        if not authorization:
            raise Unauthenticated("missing ingest key: send 'Authorization: Bearer <key>'")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("expected 'Authorization: Bearer <key>'")
        digest = _digest(token)
        found: IngestPrincipal | None = None
        for key_digest, principal in self.keys:  # no early exit: timing does not tell which matched
            if hmac.compare_digest(key_digest, digest):
                found = principal
        if found is None:
            raise Unauthenticated("unknown ingest key")
        return found

    @classmethod
    def from_entries(cls, entries: Any, source: str = ENV_INGEST_KEYS) -> IngestKeys:
        if not isinstance(entries, list):
            raise ConfigError(f"{source} must be a JSON list of {{key, connectors, name}}")
        keys: list[tuple[bytes, IngestPrincipal]] = []
        for i, entry in enumerate(entries):
            where = f"{source} entry {i}"
            if not isinstance(entry, Mapping):
                raise ConfigError(f"{where} must be an object {{key, connectors, name}}")
            unknown = set(entry) - _FIELDS
            if unknown:
                raise ConfigError(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
            key = entry.get("key")
            if not isinstance(key, str) or len(key) < MIN_KEY_LENGTH:
                raise ConfigError(f"{where}: 'key' must be a string of at least {MIN_KEY_LENGTH} characters")
            connectors = entry.get("connectors")
            if (
                not isinstance(connectors, list)
                or not connectors
                or not all(isinstance(c, str) and c for c in connectors)
            ):
                raise ConfigError(
                    f"{where}: 'connectors' must be a non-empty list of connector names "
                    f'(service.name), or ["{ANY_CONNECTOR}"] for every connector'
                )
            name = entry.get("name", f"ingest-key-{i + 1}")
            if not isinstance(name, str):
                raise ConfigError(f"{where}: 'name' must be a string")
            allowed = None if ANY_CONNECTOR in connectors else frozenset(connectors)
            keys.append((_digest(key), IngestPrincipal(name=name, connectors=allowed)))
        return cls(tuple(keys))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> IngestKeys:
        """Keys from `CONNLOG_INGEST_KEYS` and `CONNLOG_INGEST_KEYS_FILE` (both may be set)."""
        env = os.environ if environ is None else environ
        keys: list[tuple[bytes, IngestPrincipal]] = []
        for source, data in json_sources(env, ENV_INGEST_KEYS, ENV_INGEST_KEYS_FILE, ConfigError):
            keys.extend(cls.from_entries(data, source).keys)
        return cls(tuple(keys))
