"""Server-side redaction: the SDK's `Redactor` applied to every decoded batch.

Why on the server too: not every sender is our SDK (the OTel Collector, other SDKs, a
curl in an incident), and secrets must never reach storage — including the WAL, which is
why this runs as the `BatchTransform` in the request thread, before anything is queued or
written. One implementation (`instrumentation.redaction.Redactor`), so the SDK and the
collector agree on what a secret looks like.

Each attribute goes through the rule its key implies: header attributes by header name
and value, bodies by content type, URLs by URL rules (userinfo, query keys, path
tokens), and every other attribute by `Redactor.attribute` (its own key first:
`password`, `clientSecret`, `session` holding a token; then its value as free text:
token shapes, connection strings, `key=value`, SQL passwords). Span names, status
messages, event attributes (exception messages and stack traces), resource and scope
attributes and log bodies are covered too. Values that the SDK already redacted pass
unchanged (the rules are idempotent).

Registered secret *values* cannot be guessed server-side: list them in
`CONNLOG_REDACT_SECRETS` (comma- or newline-separated) or in a file named by
`CONNLOG_REDACT_SECRETS_FILE` (one per line).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final, TypeVar

from connlog.collector.batch import BatchTransform, ColumnBatch
from connlog.instrumentation import semconv as sc
from connlog.instrumentation.redaction import RedactionConfig, Redactor

ENV_SECRETS: Final = "CONNLOG_REDACT_SECRETS"
ENV_SECRETS_FILE: Final = "CONNLOG_REDACT_SECRETS_FILE"

_URL_KEYS: Final = frozenset({sc.URL_FULL, "http.url", "url.original", sc.FAULT_URL, "http.target"})
_BODY_KEYS: Final = {
    sc.HTTP_REQUEST_BODY: (
        sc.HTTP_REQUEST_CONTENT_TYPE,
        sc.HTTP_REQUEST_BODY_TRUNCATED,
        "http.request.header.",
    ),
    sc.HTTP_RESPONSE_BODY: (
        sc.HTTP_RESPONSE_CONTENT_TYPE,
        sc.HTTP_RESPONSE_BODY_TRUNCATED,
        "http.response.header.",
    ),
}
_HEADER_PREFIXES: Final = (sc.HTTP_REQUEST_HEADER_PREFIX, sc.HTTP_RESPONSE_HEADER_PREFIX)
_CACHE_MAX: Final = 50_000
K = TypeVar("K")
V = TypeVar("V")
# Values up to this length are remembered (short values repeat: names, statuses, ids of a
# run; long ones rarely do, and would hold memory).
_MEMO_MAX_LENGTH: Final = 256

_SPAN_MAPS: Final = ("SpanAttributes", "ResourceAttributes")
_SPAN_MAP_LISTS: Final = ("Events.Attributes", "Links.Attributes")
_SPAN_TEXT: Final = ("SpanName", "StatusMessage")
_LOG_MAPS: Final = ("LogAttributes", "ResourceAttributes", "ScopeAttributes")
_LOG_TEXT: Final = ("Body",)


_HEADER: Final = "header"
_BODY: Final = "body"
_URL: Final = "url"
_QUERY: Final = "query"
_OTHER: Final = "other"


def _rule_for(key: str) -> tuple[str, str]:
    """Which rule an attribute key implies, and its argument (the header name)."""
    for prefix in _HEADER_PREFIXES:
        if key.startswith(prefix):
            return _HEADER, key[len(prefix) :]
    if key in _BODY_KEYS:
        return _BODY, ""
    if key in _URL_KEYS:
        return _URL, ""
    if key == sc.URL_QUERY:
        return _QUERY, ""
    return _OTHER, ""


def secrets_from_env(env: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    """Registered secret values from `CONNLOG_REDACT_SECRETS` and `CONNLOG_REDACT_SECRETS_FILE`."""
    values = re.split(r"[,\n]", env.get(ENV_SECRETS, ""))
    path = env.get(ENV_SECRETS_FILE, "")
    if path:
        values += Path(path).read_text(encoding="utf-8").splitlines()
    return tuple(v.strip() for v in values if v.strip())


class ServerRedaction:
    """A `BatchTransform`: returns the batch with every secret-bearing value redacted.

    Maps are replaced, never mutated (rows of one resource share one dict), and each
    distinct map object is redacted once per batch.

    What it skips, and why that cannot change an output: every `Redactor` method is a
    pure function of its arguments and the (immutable) config. So the storable form of a
    short attribute value is remembered by (key, value) and reused while the same pair
    recurs (roles, step names, statuses, counts, content types, auth headers, URL
    templates: most attributes of most spans); bodies are not (their rule reads sibling
    attributes, and long values rarely repeat).
    """

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self._text_cache: dict[str, str] = {}
        self._rules: dict[str, tuple[str, str]] = {}  # attribute key -> its rule (keys repeat)
        self._memo: dict[tuple[str, str], str] = {}  # (key, short value) -> storable value

    def __call__(self, batch: ColumnBatch) -> ColumnBatch:
        maps: tuple[str, ...]
        map_lists: tuple[str, ...]
        texts: tuple[str, ...]
        if batch.signal == "spans":
            maps, map_lists, texts = _SPAN_MAPS, _SPAN_MAP_LISTS, _SPAN_TEXT
        else:
            maps, map_lists, texts = _LOG_MAPS, (), _LOG_TEXT
        seen: dict[int, dict[str, str]] = {}
        for name in maps:
            col = batch.column(name)
            col[:] = [self._map_once(m, seen) for m in col]
        for name in map_lists:
            col = batch.column(name)
            col[:] = [[self._map_once(m, seen) for m in ms] if ms else ms for ms in col]
        for name in texts:
            col = batch.column(name)
            col[:] = [self.text(v) for v in col]
        return batch

    def _map_once(self, attrs: dict[str, str], seen: dict[int, dict[str, str]]) -> dict[str, str]:
        key = id(attrs)
        done = seen.get(key)
        if done is None:
            done = seen[key] = self.attributes(attrs)
        return done

    def attributes(self, attrs: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] | None = None
        memo = self._memo
        for k, v in attrs.items():
            # (a long value is never remembered: hashing it would cost more than a miss)
            new = memo.get((k, v)) if len(v) <= _MEMO_MAX_LENGTH else None
            if new is None:
                new = self._value(k, v, attrs)
            if new != v:
                if out is None:
                    out = dict(attrs)
                out[k] = new
        return attrs if out is None else out

    def value(self, key: str, value: str, attrs: Mapping[str, str]) -> str:
        """The storable form of attribute `key`'s `value` (`attrs`: its siblings)."""
        cached = self._memo.get((key, value)) if len(value) <= _MEMO_MAX_LENGTH else None
        return self._value(key, value, attrs) if cached is None else cached

    def _value(self, key: str, value: str, attrs: Mapping[str, str]) -> str:
        if not value:
            return value
        rule = self._rules.get(key)
        if rule is None:
            rule = _remember(self._rules, key, _rule_for(key))  # arbitrary keys: bounded
        kind, arg = rule
        r = self.redactor
        if kind == _BODY:
            ctype_key, truncated_key, header_prefix = _BODY_KEYS[key]
            ctype = attrs.get(ctype_key) or attrs.get(header_prefix + "content-type") or ""
            return r.body(value, ctype, complete=attrs.get(truncated_key, "false") != "true")
        if kind == _OTHER:
            out = r.attribute(key, value)
        elif kind == _HEADER:
            out = r.header(arg, value)
        elif kind == _URL:
            out = r.url(value)
        else:
            out = r.query(value)
        if len(value) <= _MEMO_MAX_LENGTH:
            _remember(self._memo, (key, value), out)
        return out

    def text(self, value: str) -> str:
        if not value:
            return value
        cached = self._text_cache.get(value)
        if cached is not None:
            return cached
        out = self.redactor.text(value)
        if len(value) <= _MEMO_MAX_LENGTH:  # short values repeat (names, statuses); long ones rarely do
            _remember(self._text_cache, value, out)
        return out


def _remember(cache: dict[K, V], key: K, value: V) -> V:
    """`cache[key] = value`, emptying the cache first when it is full: the caches of a
    long-running collector are bounded, whatever keys and values arrive."""
    if len(cache) >= _CACHE_MAX:
        cache.clear()
    cache[key] = value
    return value


def default_redaction(env: Mapping[str, str] = os.environ) -> ServerRedaction:
    """Built-in rules plus the registered secrets configured in the environment."""
    return ServerRedaction(Redactor(RedactionConfig(secrets=secrets_from_env(env))))


def chain(*transforms: BatchTransform | None) -> BatchTransform | None:
    """One transform applying each given one in order (None entries skipped)."""
    steps = [t for t in transforms if t is not None]
    if not steps:
        return None
    if len(steps) == 1:
        return steps[0]

    def run(batch: ColumnBatch) -> ColumnBatch:
        for step in steps:
            batch = step(batch)
        return batch

    return run
