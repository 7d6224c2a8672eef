"""Redaction of credentials before any telemetry leaves the process.

Everything the SDK records that could carry a secret (URLs, headers, bodies, log and
exception messages, free-form attribute values) goes through one `Redactor`. The
replacement text is `semconv.redacted(reason)`: it says *that* and *why* something was
removed, never the value or a reversible hash of it.

Three independent mechanisms, because each catches what the others miss:

* **names**: header names, query parameters, JSON / form keys and `key=value` pairs in
  free text whose name matches a sensitive pattern (token, secret, password, ...);
* **shapes**: URL userinfo (`https://user:pass@host`) and `Bearer <token>` in free text;
* **values**: the credential values the connector registered with `init(secrets=[...])`,
  replaced wherever they appear, even under innocuous names or in binary-looking text.

The patterns are regular expressions (case-insensitive, searched within the name); a
connector extends them with `init(redact_headers=..., redact_keys=...)` and can drop
the built-in ones with `init(redact_defaults=False)`.
"""

# The SDK must never raise into the connector: its hooks catch broadly on purpose.
# ruff: noqa: BLE001

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final
from urllib.parse import quote, quote_plus, unquote_plus, urlsplit, urlunsplit

from instrumentation.semconv import redacted

# Header names always redacted (exact, lower-case), whatever the patterns say.
ALWAYS_REDACTED_HEADERS: Final[frozenset[str]] = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)

# Searched (not matched) in lower-cased header names.
DEFAULT_HEADER_PATTERNS: Final[tuple[str, ...]] = (
    r"token",
    r"secret",
    r"key",
    r"passw",
    r"auth",
    r"session",
    r"signature",
    r"cookie",
    r"credential",
    r"csrf",
    r"xsrf",
    r"jwt",
    r"hmac",
)

# Searched in query-parameter names and JSON / form / free-text keys. Short, ambiguous
# words (key, code, sig, pass, pin) are anchored so `keyword` or `country_code` survive.
DEFAULT_KEY_PATTERNS: Final[tuple[str, ...]] = (
    r"token",
    r"secret",
    r"passw",
    r"^pass$",
    r"pwd",
    r"api[-_.]?key",
    r"hapikey",
    r"signature",
    r"^sig$",
    r"credential",
    r"private[-_.]?key",
    r"^code$",
    r"session",
    r"cookie",
    r"^auth$",
    r"authorization",
    r"(^|[-_.])key$",
    r"bearer",
    r"jwt",
    r"^otp$",
    r"^pin$",
    r"hmac",
)

# Registered secrets shorter than this are ignored: replacing "ab" everywhere would
# shred every payload and protects nothing.
MIN_SECRET_LENGTH: Final = 4

_URL_IN_TEXT = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+")
_USERINFO_IN_TEXT = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)([^/\s@\"'<>]+)@")
_BEARER_IN_TEXT = re.compile(r"(?i)\b(bearer|basic|token)(\s+)([A-Za-z0-9._~+/=-]{8,})")
_KV_IN_TEXT = re.compile(r"(?<![\w.-])([A-Za-z_][\w.-]{0,63})(\s*[=:]\s*)(\"?)([^\s\"&,;']+)")
_JSON_PAIR = re.compile(
    r"\"([^\"\\]{1,128})\"(\s*:\s*)(\"(?:[^\"\\]|\\.)*\"?|-?\d[\d.eE+-]*|true|false|null)"
)
_JSON_KEY = re.compile(r"\"([^\"\\]{1,128})\"\s*:")
_LOCATION_HEADERS: Final = frozenset({"location", "content-location", "referer", "link", "refresh"})


def _compile(patterns: Iterable[str]) -> re.Pattern[str] | None:
    joined = "|".join(f"(?:{p})" for p in patterns)
    return re.compile(joined, re.IGNORECASE) if joined else None


@dataclass(frozen=True)
class RedactionConfig:
    """What to redact. Immutable so a `Redactor` built from it can cache freely."""

    secrets: tuple[str, ...] = ()
    header_patterns: tuple[str, ...] = ()
    key_patterns: tuple[str, ...] = ()
    use_defaults: bool = True
    extra_headers: frozenset[str] = field(default_factory=frozenset)


class Redactor:
    """Applies a `RedactionConfig` to URLs, headers, bodies and free text.

    Methods never raise on odd input (undecodable URLs, invalid JSON): on doubt they fall
    back to the stricter free-text path rather than to the raw value.
    """

    def __init__(self, config: RedactionConfig | None = None) -> None:
        self.config = config = config or RedactionConfig()
        header_patterns = (DEFAULT_HEADER_PATTERNS if config.use_defaults else ()) + config.header_patterns
        key_patterns = (DEFAULT_KEY_PATTERNS if config.use_defaults else ()) + config.key_patterns
        self._always_headers = (ALWAYS_REDACTED_HEADERS if config.use_defaults else frozenset()) | {
            h.lower() for h in config.extra_headers
        }
        self._header_re = _compile(header_patterns)
        self._key_re = _compile(key_patterns)
        variants: set[str] = set()
        for secret in config.secrets:
            if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
                continue
            variants.update({secret, quote(secret, safe=""), quote_plus(secret)})
        # Longest first, so a secret that contains another is replaced whole.
        ordered = sorted(variants, key=len, reverse=True)
        self._secret_re = re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None
        self.is_sensitive_header = lru_cache(maxsize=1024)(self._is_sensitive_header)
        self.is_sensitive_key = lru_cache(maxsize=4096)(self._is_sensitive_key)

    # ------------------------------------------------------------------ names
    def _is_sensitive_header(self, name: str) -> bool:
        lowered = name.lower()
        if lowered in self._always_headers:
            return True
        return bool(self._header_re and self._header_re.search(lowered))

    def _is_sensitive_key(self, name: str) -> bool:
        return bool(self._key_re and self._key_re.search(name.strip()))

    # ------------------------------------------------------------------ values
    def secrets(self, text: str) -> str:
        """Replace registered secret values (and their URL-encoded forms)."""
        if self._secret_re is None or not text:
            return text
        return self._secret_re.sub(redacted("secret"), text)

    def header(self, name: str, value: str) -> str:
        """The recordable form of one header value."""
        if self.is_sensitive_header(name):
            return redacted("header")
        if name.lower() in _LOCATION_HEADERS:
            return self.text(value)
        return self.secrets(value)

    def query(self, query: str) -> str:
        """Redact sensitive parameters of a query string (or form body); keep the rest raw."""
        if not query:
            return query
        parts = query.split("&")
        changed = False
        for i, part in enumerate(parts):
            name, sep, _value = part.partition("=")
            if not sep:
                continue
            try:
                decoded = unquote_plus(name)
            except Exception:  # pragma: no cover - unquote_plus is total on str
                decoded = name
            if self.is_sensitive_key(decoded):
                parts[i] = f"{name}={redacted('query:' + decoded.lower()[:64])}"
                changed = True
        result = "&".join(parts) if changed else query
        return self.secrets(result)

    def url(self, url: str) -> str:
        """Redact userinfo, sensitive query parameters and registered secrets of a URL."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return self._text_shapes(_USERINFO_IN_TEXT.sub(self._userinfo_sub, self.secrets(url)))
        netloc = parts.netloc
        if "@" in netloc:
            netloc = f"{redacted('userinfo')}@{netloc.rpartition('@')[2]}"
        query = self.query(parts.query) if parts.query else parts.query
        rebuilt = urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
        return self.secrets(rebuilt)

    def text(self, text: str) -> str:
        """Redact free text: log messages, exception messages and stack traces."""
        if not text:
            return text
        text = self.secrets(text)
        if "://" in text:
            text = _URL_IN_TEXT.sub(lambda m: self.url(m.group(0)), text)
            text = _USERINFO_IN_TEXT.sub(self._userinfo_sub, text)
        return self._text_shapes(text)

    @staticmethod
    def _userinfo_sub(m: re.Match[str]) -> str:
        return f"{m.group(1)}{redacted('userinfo')}@"

    def _text_shapes(self, text: str) -> str:
        text = _BEARER_IN_TEXT.sub(lambda m: f"{m.group(1)}{m.group(2)}{redacted('bearer')}", text)
        text = _JSON_PAIR.sub(self._json_pair_sub, text)
        return _KV_IN_TEXT.sub(self._kv_sub, text)

    def _kv_sub(self, m: re.Match[str]) -> str:
        value = m.group(4)
        if value.startswith("[REDACTED") or not self.is_sensitive_key(m.group(1)):
            return m.group(0)
        return f"{m.group(1)}{m.group(2)}{m.group(3)}{redacted('key:' + m.group(1).lower()[:64])}"

    def _json_pair_sub(self, m: re.Match[str]) -> str:
        if not self.is_sensitive_key(m.group(1)) or m.group(3).startswith('"[REDACTED'):
            return m.group(0)
        return f'"{m.group(1)}"{m.group(2)}"{redacted("json:" + m.group(1).lower()[:64])}"'

    # ------------------------------------------------------------------ bodies
    def json_value(self, value: object) -> tuple[object, bool]:
        """Redact a decoded JSON document: values under sensitive keys, at any depth."""
        if isinstance(value, dict):
            changed = False
            out: dict[str, object] = {}
            for k, v in value.items():
                if isinstance(k, str) and self.is_sensitive_key(k):
                    out[k] = redacted("json:" + k.lower()[:64])
                    changed = True
                else:
                    out[k], c = self.json_value(v)
                    changed = changed or c
            return out, changed
        if isinstance(value, list):
            items = [self.json_value(v) for v in value]
            return [i[0] for i in items], any(i[1] for i in items)
        return value, False

    def body(self, text: str, content_type: str, complete: bool) -> str:
        """Redact a decoded text body by its content type.

        `complete` is False for a truncated capture: a prefix of a JSON document cannot
        be parsed, so it takes the free-text path, which still catches `"key": "value"`.
        """
        ctype = content_type.lower()
        if "json" in ctype and complete:
            # Fast path: parse and walk only when some key looks sensitive (a C-speed scan
            # of the keys; a body with escapes in it always takes the full path).
            if "\\" not in text and not any(self.is_sensitive_key(k) for k in set(_JSON_KEY.findall(text))):
                return self.secrets(text)
            try:
                doc = json.loads(text)
            except ValueError:
                return self.text(text)
            doc, changed = self.json_value(doc)
            if changed:
                text = json.dumps(doc, ensure_ascii=False)
            return self.secrets(text)
        if "x-www-form-urlencoded" in ctype:
            return self.query(text)
        return self.text(text)
