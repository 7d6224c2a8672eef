"""Redaction of credentials before any telemetry leaves the process.

Everything the SDK records that could carry a secret (URLs, headers, bodies, log and
exception messages, free-form attribute values) goes through one `Redactor`; the
collector applies the same one before its WAL. The replacement text is
`semconv.redacted(reason)`: it says *that* and *why* something was removed, never the
value or a reversible hash of it.

Four independent mechanisms, because each catches what the others miss:

* **names**: header names, query parameters, JSON / form / XML / free-text keys whose
  name matches a sensitive pattern (token, secret, password, passphrase, ...). Two names
  are *soft* so diagnosis survives: `session` is redacted only when its value looks like
  a token, and `code` only where it is an OAuth credential (query strings, form bodies,
  JSON bodies of a `grant_type` token request), never an error code in an error body;
* **shapes**: well-known token formats with no key at all (cloud access keys, personal
  access tokens, live payment keys, chat bot tokens, JWTs, PEM private keys), `Bearer` /
  `Basic` credentials anywhere, URL userinfo, tokens as URL path segments (incoming
  webhooks, bot URLs) and passwords in SQL (`IDENTIFIED BY '...'`);
* **structure**: URLs are split (userinfo, query, fragment, path), JSON is walked
  (`{"name": "Authorization", "value": ...}` pairs too), XML elements and free-text
  `key=value` / `key: value` / `'key': 'value'` pairs are found wherever they sit, with
  quoted values, values running to the end of a clause (`; & |` or the next `key=`), and
  connection strings (libpq `password=`, ODBC `Pwd=...;`, `user:password@`);
* **values**: the credential values the connector registered with `init(secrets=[...])`,
  replaced wherever they appear, also URL-encoded, JSON-escaped and base64-encoded (as
  inside a `Basic` header), even under innocuous names.

The name patterns are regular expressions (case-insensitive, searched within the name);
a connector extends them with `init(redact_headers=..., redact_keys=...)` and can drop
the built-in ones with `init(redact_defaults=False)` (shapes stay: they are not names).
Every pass is one compiled regular expression; cheap prechecks skip passes whose trigger
character is absent, so a payload with nothing secret costs a few scans. On long texts the
literal hints are found in one pass (`redaction_scan.NeedleScan`, RE2 when installed), and
a text with none of them at all (`_GATE`) skips every pass but the registered secrets.
"""

# The SDK must never raise into the connector: its hooks catch broadly on purpose.
# ruff: noqa: BLE001

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Final
from urllib.parse import quote, quote_plus, unquote_plus, urlsplit, urlunsplit

from connlog.instrumentation.redaction_scan import RE2_MIN_LENGTH, NeedleScan
from connlog.instrumentation.semconv import REDACTED_PREFIX, redacted

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
    r"passphrase",
    r"auth",
    r"session",
    r"signature",
    r"(^|[-_])sign($|[-_])",
    r"(^|[-_])sig($|[-_])",
    r"cookie",
    r"credential",
    r"csrf",
    r"xsrf",
    r"jwt",
    r"hmac",
)

# Searched in query-parameter names and JSON / form / XML / free-text keys. Short,
# ambiguous words (key, sig, pass, pin) are anchored so `keyword` or `country_code`
# survive. `session` and `code` are soft (see `_SOFT_KEY`), not listed here.
DEFAULT_KEY_PATTERNS: Final[tuple[str, ...]] = (
    r"token",
    r"secret",
    r"passw",
    r"passphrase",
    r"^pass$",
    r"pwd",
    r"api[-_.]?key",
    r"hapikey",
    r"access[-_.]?key",
    r"signature",
    r"^sig$",
    r"credential",
    r"private[-_.]?key",
    r"session[-_.]?(id|key)",
    r"^sessid$",
    r"^sid$",
    r"cookie",
    r"^auth$",
    r"authorization",
    r"(^|[-_.])key$",
    r"(?-i:[a-z0-9]Key)$",
    r"(^|[-_.])pem$",
    r"(?-i:[a-z0-9]Pem)$",
    r"bearer",
    r"jwt",
    r"^t?otp$",
    r"^pin$",
    r"^cvv$|^cvc$",
    r"hmac",
    r"client[-_.]?assertion",
)

# Names that contain a sensitive word but describe, not carry, a credential.
_NOT_SENSITIVE: Final = re.compile(
    r"^(?:oauth[-_.]?)?(?:token|auth|authorization|signature|key|session)[-_.]?"
    r"(?:type|endpoint|url|uri|method|version|algorithm|alg|expires?(?:[-_.]?(?:in|at))?|ttl|id_type|count)$",
    re.IGNORECASE,
)
# Names redacted only in context: `session` when the value looks like a token, `code`
# where it carries an OAuth authorization code.
_SOFT_KEY: Final = re.compile(r"^(session|code|auth[-_.]?code|authorization[-_.]?code)$", re.IGNORECASE)

# Registered secrets shorter than this are ignored: replacing "ab" everywhere would
# shred every payload and protects nothing.
MIN_SECRET_LENGTH: Final = 4
# Base64 fragments of a registered secret shorter than this are not searched (noise).
_MIN_B64_FRAGMENT: Final = 8

# ---------------------------------------------------------------------- shapes
# Only literal searches (`in`, `str.find`) run at C speed over a whole body; a regular
# expression that starts with a class or an alternation is tried position by position.
# So long texts are first probed for the literal every shape starts with.
# Well-known credential formats, found with no key at all.
_TOKENS: Final = re.compile(
    r"(?<![A-Za-z0-9_])(?:"
    r"(?:AKIA|ASIA)[A-Z0-9]{16}"  # cloud access key ids (long-term, temporary)
    r"|gh[pousr]_[A-Za-z0-9]{30,}"  # GitHub tokens
    r"|github_pat_[A-Za-z0-9_]{30,}"
    r"|glpat-[A-Za-z0-9_-]{20,}"  # GitLab
    r"|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}"  # Stripe secret / restricted keys
    r"|whsec_[A-Za-z0-9]{20,}"
    r"|xox[abposre]-[A-Za-z0-9-]{10,}"  # Slack
    r"|xapp-[A-Za-z0-9-]{10,}"
    r"|AIza[0-9A-Za-z_-]{30,}"  # Google API keys
    r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"  # JWT
    r"|sk-(?:proj|svcacct|admin|ant-api\d\d)-[A-Za-z0-9_-]{20,}"
    r"|SG\.[\w-]{16,}\.[\w-]{16,}"  # SendGrid
    r"|npm_[A-Za-z0-9]{30,}"
    r"|shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}"  # Shopify
    r"|ya29\.[\w-]{20,}"  # Google OAuth access tokens
    r")"
)
_PEM: Final = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
    r".*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)",
    re.DOTALL,
)
# `Bearer <token>` / `Basic <base64>` anywhere. The value must look opaque (a digit,
# mixed case or a token symbol) so "basic information" stays readable.
_BEARER: Final = re.compile(
    r"(?i:\b(bearer|basic))(\s+)((?=\S*(?:\d|[a-z][A-Z]|[+/=_.~]))[A-Za-z0-9._~+/-]{8,}=*)"
)
_TOKEN_HINTS: Final = (
    "AKIA", "ASIA", "gh", "github_pat_", "glpat-", "k_live_", "k_test_", "whsec_", "xox", "xapp-",
    "AIza", "eyJ", "sk-", "SG.", "npm_", "shp", "ya29.",
)  # fmt: skip
# A lower-cased text with none of these cannot hold a key the built-in patterns (hard or
# soft, header or key) match, nor a SQL password.
_KEY_HINTS: Final = (
    "token",
    "secret",
    "pass",
    "pwd",
    "key",
    "sig",
    "cred",
    "sess",
    "sid",
    "cookie",
    "auth",
    "pem",
    "bearer",
    "jwt",
    "otp",
    "pin",
    "cvv",
    "cvc",
    "hmac",
    "assertion",
    "code",
    "csrf",
    "xsrf",
    "identified",
)
# Texts longer than this are first checked for a key hint (a few `in` scans) before the
# key=value pass; shorter ones are cheaper to scan directly.
_HINT_MIN_LENGTH: Final = 512
_PATH_HINTS: Final = ("/services/", "/bot", "/webhooks/")
_KEY_SCAN: Final = NeedleScan(_KEY_HINTS)
_TOKEN_SCAN: Final = NeedleScan(_TOKEN_HINTS)
_KEY_HINT_SET: Final = frozenset(_KEY_HINTS)
_TOKEN_HINTS_LOWER: Final = frozenset(h.lower() for h in _TOKEN_HINTS)
_REDACTED_TOKEN: Final = redacted("token")
_REDACTED_PRIVATE_KEY: Final = redacted("private-key")
# Every literal a check in `_text` / `_shapes` looks for, lower-cased, found in the
# lower-cased text in one pass. `needle in text` implies `needle.lower() in text.lower()`
# (the other checks are on the lower-cased text already), and the replacements the passes
# make ("[REDACTED:...]") never create a needle, so a check whose needle `_GATE` did not
# find is false and is skipped; with none found every pass is (only the registered
# secrets run first). Custom name patterns are not literals: their pass is not gated.
_GATE: Final = NeedleScan(
    tuple(
        dict.fromkeys(
            h.lower()
            for h in (*_KEY_HINTS, "bearer", "basic", *_TOKEN_HINTS, "-----BEGIN", "://", *_PATH_HINTS)
        )
    )
)
# The shortest token `_TOKENS` matches (`xoxb-` + 10).
_MIN_TOKEN_LENGTH: Final = 15
# Tokens as URL path segments: (kept prefix, secret) pairs.
_PATH_TOKENS: Final = re.compile(
    r"(/services/T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/)([A-Za-z0-9]{12,})"  # Slack incoming webhook
    r"|(/bot)(\d{5,}:[A-Za-z0-9_-]{20,})"  # Telegram bot API
    r"|(/webhooks/\d{5,}/)([A-Za-z0-9_-]{20,})"  # Discord webhook
)
_SQL_PASSWORD: Final = re.compile(r"(?i)\b((?:password|identified\s+by)\s+)('(?:[^'\\]|\\.|'')*')")
# URLs in text are found from their `://` (a literal: fast), the scheme read backwards.
_URL_REST: Final = re.compile(r"[^\s\"'<>\\]+")
_SCHEME_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
_USERINFO_IN_TEXT: Final = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)([^/\s@\"'<>]+)@")
# A key followed by `=` or `:` in free text (quoted or not: `'api_key':`, `\"pw\":`).
# Only the key and separator are consumed, so `Error: password=x` finds both keys.
_KV_KEY: Final = re.compile(r"(?<![\w.\-\[:/])(\\?[\"']?)([A-Za-z_][\w.\-]{0,63})\1[ \t]*([=:])[ \t]*")
# The same keys found from their separator, on the reversed text: a pattern that starts
# with a character class is scanned in C, one that starts with a key is tried at every
# letter. Each hit is then checked forwards with `_KV_KEY`.
_KV_KEY_REVERSED: Final = re.compile(r"[=:][ \t]*(?:\"\\|'\\|\"|')?([\w.\-]{1,64})")
# After `key:` an unquoted value is one word, except for passwords (which may hold spaces).
_SPACED_VALUE_KEY: Final = re.compile(r"passw|pwd|passphrase|secret", re.IGNORECASE)
_STARTS_WITH_KEY: Final = re.compile(r"([A-Za-z_][\w.\-]{0,63})[ \t]*[=:](?=[^\s;&,])")
# `{"name": "Authorization", "value": "..."}` in text that cannot be parsed as JSON.
_PAIR_IN_TEXT: Final = re.compile(
    r'"(?:name|key|header|field|param)"\s*:\s*"([^"\\]{1,128})"\s*,\s*"value"\s*:\s*"((?:[^"\\]|\\.)*)"'
)
_KEY_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-")
# An unquoted value: runs over spaces and commas to the end of the clause (`; & |`, a
# quote, a newline, the next `key=` / `key:`), so `password=correct horse, battery` is
# hidden whole.
_KV_UNQUOTED: Final = re.compile(r"[^\s;&|\"'<>,]+(?:[ \t,]+(?![(\[]?[\w.\-]+[ \t]*[=:])[^\s;&|\"'<>,]+)*")
_QUOTED: Final = {
    '"': re.compile(r'"((?:[^"\\\n]|\\[^"]|\\")*)"?'),
    "'": re.compile(r"'((?:[^'\\\n]|\\.)*)'?"),
    '\\"': re.compile(r'\\"(.*?)(?:\\"|$)', re.DOTALL),
    "\\'": re.compile(r"\\'(.*?)(?:\\'|$)", re.DOTALL),
}
_XML_ELEMENT: Final = re.compile(r"<((?:[\w.\-]+:)?([\w.\-]+))(?:\s[^<>]*)?>([^<]+)</\1\s*>")
_JSON_KEY: Final = re.compile(r"\"([^\"\\]{1,128})\"\s*:")
_TOKENISH: Final = re.compile(r"[^\s]*\d[^\s]*")
# Keys of a `{"name": <header or key>, "value": <credential>}` pair.
_PAIR_NAME_KEYS: Final = ("name", "key", "header", "field", "param")
_PAIR_VALUE_KEY: Final = "value"


def _compile(patterns: Iterable[str]) -> re.Pattern[str] | None:
    joined = "|".join(f"(?:{p})" for p in patterns)
    return re.compile(joined, re.IGNORECASE) if joined else None


def looks_like_token(value: str) -> bool:
    """True for an opaque credential-looking value (no spaces, 12+ chars, has a digit).

    Used for soft keys: `"session": "a8f3c9e1d2b44f6e"` is hidden, `"session": "expired"`
    (a status word) stays readable.
    """
    value = value.strip()
    return len(value) >= 12 and " " not in value and _TOKENISH.fullmatch(value) is not None


def _b64_fragments(secret: str) -> set[str]:
    """Base64 (and base64url) substrings every encoding of `secret` contains, at any offset.

    A secret inside base64 text (`Basic base64(user:secret)`) is encoded differently
    depending on its byte offset modulo 3; for each offset, the characters that depend
    only on the secret's bytes are a fixed string.
    """
    raw = secret.encode()
    out: set[str] = set()
    for offset in range(3):
        enc = base64.b64encode(b"\0" * offset + raw).decode().rstrip("=")
        start = -(-8 * offset // 6)
        end = (8 * (offset + len(raw))) // 6
        frag = enc[start:end]
        if len(frag) >= _MIN_B64_FRAGMENT:
            out.add(frag)
            out.add(frag.replace("+", "-").replace("/", "_"))
    return out


def _secret_variants(secret: str) -> set[str]:
    """A registered secret as it may appear: raw, URL-encoded, JSON-escaped, base64."""
    variants = {secret, quote(secret, safe=""), quote_plus(secret)}
    variants.add(json.dumps(secret)[1:-1])
    variants.add(json.dumps(secret, ensure_ascii=False)[1:-1])
    variants.update(_b64_fragments(secret))
    return {v for v in variants if len(v) >= MIN_SECRET_LENGTH}


@dataclass(frozen=True)
class RedactionConfig:
    """What to redact. Immutable so a `Redactor` built from it can cache freely."""

    secrets: tuple[str, ...] = ()
    header_patterns: tuple[str, ...] = ()
    key_patterns: tuple[str, ...] = ()
    use_defaults: bool = True


class Redactor:
    """Applies a `RedactionConfig` to URLs, headers, bodies, attributes and free text.

    Methods never raise on odd input (undecodable URLs, invalid JSON): on doubt they fall
    back to the stricter free-text path rather than to the raw value. Every method is
    idempotent: already redacted text passes unchanged.
    """

    def __init__(self, config: RedactionConfig | None = None) -> None:
        self.config = config = config or RedactionConfig()
        header_patterns = (DEFAULT_HEADER_PATTERNS if config.use_defaults else ()) + config.header_patterns
        key_patterns = (DEFAULT_KEY_PATTERNS if config.use_defaults else ()) + config.key_patterns
        self._soft = config.use_defaults
        self._always_headers = ALWAYS_REDACTED_HEADERS if config.use_defaults else frozenset()
        self._header_re = _compile(header_patterns)
        self._key_re = _compile(key_patterns)
        variants: set[str] = set()
        for secret in config.secrets:
            if isinstance(secret, str) and len(secret) >= MIN_SECRET_LENGTH:
                variants.update(_secret_variants(secret))
        # Longest first, so a secret that contains another is replaced whole.
        ordered = sorted(variants, key=len, reverse=True)
        self._secret_re = re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None
        # `in` per variant before the regex: a literal search runs in C at memchr speed,
        # an alternation of literals is tried position by position.
        self._secret_probes = tuple(ordered)
        # Whether `_GATE` decides for the name passes too: only the built-in patterns are
        # implied by literal hints (see `_KEY_HINTS`).
        self._gated = not (config.key_patterns or config.header_patterns)
        self.is_sensitive_header = lru_cache(maxsize=1024)(self._is_sensitive_header)
        self.is_sensitive_key = lru_cache(maxsize=4096)(self._is_sensitive_key)
        self._soft_kind = lru_cache(maxsize=4096)(self._soft_key_kind)
        self._header_cached = lru_cache(maxsize=4096)(self._header)

    # ------------------------------------------------------------------ names
    def _is_sensitive_header(self, name: str) -> bool:
        lowered = name.lower()
        if lowered in self._always_headers:
            return True
        return bool(self._header_re and self._header_re.search(lowered))

    def _is_sensitive_key(self, name: str) -> bool:
        name = name.strip()
        if self._soft and _NOT_SENSITIVE.match(name):
            return False
        return bool(self._key_re and self._key_re.search(name))

    def _soft_key_kind(self, name: str) -> str:
        """'' (not soft), 'session' or 'code'."""
        if not self._soft:
            return ""
        m = _SOFT_KEY.match(name.strip())
        if m is None:
            return ""
        return "session" if m.group(1).lower() == "session" else "code"

    def _key_hides(self, name: str, value: str, oauth: bool) -> bool:
        """Whether `name`'s `value` is a credential (`oauth`: inside a token request)."""
        if self.is_sensitive_key(name):
            return True
        kind = self._soft_kind(name)
        if kind == "session":
            return looks_like_token(value)
        return kind == "code" and oauth

    # ------------------------------------------------------------------ values
    def secrets(self, text: str) -> str:
        """Replace registered secret values (raw, URL-encoded, JSON-escaped, base64)."""
        if self._secret_re is None or not text:
            return text
        if not any(v in text for v in self._secret_probes):
            return text
        return self._secret_re.sub(redacted("secret"), text)

    def shapes(self, text: str) -> str:
        """Replace well-known token formats, PEM private keys and `Bearer` / `Basic` values."""
        return self._shapes(text, text.lower()) if text else text

    def _shapes(self, text: str, low: str, found: frozenset[str] | None = None) -> str:
        """`shapes`, with `low` the lower-cased text (computed once by the caller) and
        `found` the `_GATE` needles in `low` (None: not known)."""
        if (found is None or "-----begin" in found) and "-----BEGIN" in text:
            text = _PEM.sub(_REDACTED_PRIVATE_KEY, text)
        if (found is None or "bearer" in found or "basic" in found) and ("bearer" in low or "basic" in low):
            text = _BEARER.sub(_bearer_sub, text)
        if len(text) < _MIN_TOKEN_LENGTH:
            return text
        if found is not None and found.isdisjoint(_TOKEN_HINTS_LOWER):
            return text  # neither `PEM` nor `Bearer` replacements add a token hint
        # Every `_TOKENS` alternative starts with one of `_TOKEN_HINTS`.
        if len(text) > _HINT_MIN_LENGTH and not _TOKEN_SCAN.any_in(text):
            return text
        return _TOKENS.sub(_REDACTED_TOKEN, text)

    def header(self, name: str, value: str) -> str:
        """The recordable form of one header value: by name, then by value."""
        if len(value) > 512:
            return self._header(name, value)
        return self._header_cached(name, value)

    def _header(self, name: str, value: str) -> str:
        if self.is_sensitive_header(name):
            return redacted("header")
        return self.text(value)

    def query(self, query: str, *, oauth: bool = True) -> str:
        """Redact sensitive parameters of a query string (or form body); keep the rest raw.

        `code` is a credential here (an OAuth callback or token request) unless `oauth`
        is False.
        """
        return self.shapes(self.secrets(self._query_keys(query, oauth))) if query else query

    def _query_keys(self, query: str, oauth: bool = True) -> str:
        """`query` with the values of its sensitive parameters replaced (by name only)."""
        if not query:
            return query
        parts = query.split("&")
        changed = False
        for i, part in enumerate(parts):
            name, sep, value = part.partition("=")
            if not sep or value.startswith(REDACTED_PREFIX):
                continue
            try:
                decoded = unquote_plus(name)
                decoded_value = unquote_plus(value)
            except Exception:  # pragma: no cover - unquote_plus is total on str
                decoded, decoded_value = name, value
            if self._key_hides(decoded, decoded_value, oauth):
                parts[i] = f"{name}={redacted('query:' + decoded.lower()[:64])}"
                changed = True
        return "&".join(parts) if changed else query

    def path(self, path: str) -> str:
        """Redact tokens carried as URL path segments (webhook and bot URLs, token shapes)."""
        if not path or path == "/":
            return path
        path = _PATH_TOKENS.sub(_path_sub, path)
        return self.shapes(self.secrets(path))

    def url(self, url: str) -> str:
        """Redact userinfo, sensitive query / fragment parameters, path tokens and secrets."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return self._kv(self.shapes(_USERINFO_IN_TEXT.sub(_userinfo_sub, self.secrets(url))))
        netloc = parts.netloc
        if "@" in netloc:
            netloc = f"{redacted('userinfo')}@{netloc.rpartition('@')[2]}"
        query = self._query_keys(parts.query) if parts.query else parts.query
        fragment = parts.fragment
        if "=" in fragment:
            fragment = self._query_keys(fragment)
        path = parts.path
        if any(h in path for h in _PATH_HINTS):
            path = _PATH_TOKENS.sub(_path_sub, path)
        return self.shapes(self.secrets(urlunsplit((parts.scheme, netloc, path, query, fragment))))

    def text(self, text: str) -> str:
        """Redact free text: log messages, exception messages, stack traces, SQL, headers."""
        return self._text(text, None)

    def _text(
        self,
        text: str,
        hinted: bool | None,
        low: str | None = None,
        found: frozenset[str] | None = None,
    ) -> str:
        """`text`; `hinted`: whether a key hint is present (None: find out). A caller that
        has them passes `low` (the lower-cased `text`) and `found` (`_GATE` on `low`)."""
        if not text:
            return text
        redacted_text = self.secrets(text)
        if redacted_text is not text:
            low, found = None, None
        text = redacted_text
        if found is None and len(text) >= RE2_MIN_LENGTH:
            found = _GATE.found_in_lowered(text, low)
        if found is not None and not found and self._gated and hinted is not True:
            return text  # nothing any pass below is gated on (see `_GATE`)
        if low is None:
            low = text.lower()
        # With `found`, every check below is `needle in ...` for a needle whose lower-cased
        # form is in `_GATE`: it can only hold when `found` has that form (see `_GATE`).
        text = self._shapes(text, low, found)
        if (found is None or "://" in found) and "://" in text:
            text = self._urls(text)
        elif (found is None or not found.isdisjoint(_PATH_HINTS)) and any(h in text for h in _PATH_HINTS):
            text = _PATH_TOKENS.sub(_path_sub, text)  # a path without its URL (url.path)
        if not ("=" in text or ":" in text or "<" in text or "'" in text):
            return text  # every key-based pass below needs one of these
        if not (self._hinted(low, found) if hinted is None else hinted):
            return text
        if "=" in text or ":" in text:
            text = self._kv(text)
        if "</" in text:
            text = _XML_ELEMENT.sub(self._xml_sub, text)
        if "'" in text:
            text = _SQL_PASSWORD.sub(_sql_sub, text)
        if '"value"' in text:
            text = _PAIR_IN_TEXT.sub(self._pair_sub, text)
        return text

    def _pair_sub(self, m: re.Match[str]) -> str:
        name, value = m.group(1), m.group(2)
        if value.startswith(REDACTED_PREFIX) or not (
            self.is_sensitive_header(name) or self.is_sensitive_key(name)
        ):
            return m.group(0)
        start, end = m.start(2) - m.start(0), m.end(2) - m.start(0)
        whole = m.group(0)
        return whole[:start] + redacted("pair:" + name.lower()[:64]) + whole[end:]

    def _urls(self, text: str) -> str:
        """Redact every `scheme://...` in `text` (and any userinfo the URL parser missed)."""
        out: list[str] = []
        last = 0
        pos = text.find("://")
        while pos != -1:
            start = pos
            while start > last and text[start - 1] in _SCHEME_CHARS:
                start -= 1
            m = _URL_REST.match(text, pos + 3)
            end = m.end() if m else pos + 3
            if start < pos and text[start].isalpha():
                found = text[start:end]
                if any(c in found for c in "@?#;") or any(h in found for h in _PATH_HINTS):
                    out.append(text[last:start])
                    out.append(self.url(found))
                    last = end
            pos = text.find("://", end)
        if out:
            out.append(text[last:])
            text = "".join(out)
        return text

    def attribute(self, key: str, value: str) -> str:
        """A free-form attribute (span or log `extra=`): by its key first, then as text."""
        if not value or value.startswith(REDACTED_PREFIX):
            return value
        if self._key_hides(key.rpartition(".")[2] if "." in key else key, value, False) or (
            "." in key and self.is_sensitive_key(key)
        ):
            return redacted("key:" + key.lower()[:64])
        return self.text(value)

    def _key_starts(self, text: str) -> list[int]:
        """Where a key that may be sensitive starts (its opening quote included), sorted.

        With the built-in patterns only, keys are found from the hint words they must
        contain (`str.find` is a C loop; a regular expression starting with a character
        class is tried at every position). Custom patterns can match any word: then every
        `key=` / `key:` is found, from its separator, on the reversed text.
        """
        starts: set[int] = set()
        if self.config.key_patterns or not self.config.use_defaults:
            n = len(text)
            for m in _KV_KEY_REVERSED.finditer(text[::-1]):
                starts.add(n - m.end(1))
        else:
            low = text.lower()
            if len(low) != len(text):
                # U+0130 (İ) lower-cases to two characters, which shifted every position
                # after it (a key after it was missed, or an index ran past the text);
                # it is kept as is so positions in `low` are positions in `text`.
                low = text.replace("\u0130", "\x00").lower().replace("\x00", "\u0130")
            for hint in _KEY_SCAN.which_in(low):
                i = low.find(hint)
                while i != -1:
                    j = i
                    while j > 0 and low[j - 1] in _KEY_CHARS:
                        j -= 1
                    starts.add(j)
                    i = low.find(hint, i + len(hint))
        out: list[int] = []
        for start in sorted(starts):
            if start > 0 and text[start - 1] in "\"'":
                start -= 1
                if start > 0 and text[start - 1] == "\\":
                    start -= 1
            out.append(start)
        return out

    def _kv(self, text: str) -> str:
        """Redact the values of sensitive `key=value` / `key: value` pairs in free text."""
        oauth = "grant_type" in text
        out: list[str] = []
        last = 0
        for pos in self._key_starts(text):
            if pos < last:
                continue  # inside a value already redacted
            m = _KV_KEY.match(text, pos)
            if m is None and text[pos] in "\\\"'":
                m = _KV_KEY.match(text, pos + (2 if text[pos] == "\\" else 1))
            if m is None:
                continue
            key = m.group(2)
            if not (
                self.is_sensitive_key(key)
                or self._soft_kind(key)
                or ("-" in key and self.is_sensitive_header(key))
            ):
                continue  # no value of this key is hidden (the test below), so skip finding it
            span = _value_span(text, m.end())
            if span is None:
                continue
            vstart, vend = span
            if m.group(3) == ":" and vstart == m.end() and not _SPACED_VALUE_KEY.search(key):
                vend = min(vend, _first_token_end(text, vstart, vend))
            inner = _STARTS_WITH_KEY.match(text, vstart)
            if inner is not None and self.is_sensitive_key(inner.group(1)):
                continue  # `credentials: secret='x'`: the inner pair decides
            if key in _PAIR_NAME_KEYS and '"value"' in text[vend : vend + 16]:
                continue  # the name of a name/value pair (see `_pair_sub`)
            if (
                vend <= vstart
                or text.startswith(REDACTED_PREFIX, vstart)
                or not (
                    self._key_hides(key, text[vstart:vend], oauth)
                    or ("-" in key and self.is_sensitive_header(key))
                )
            ):
                continue
            out.append(text[last:vstart])
            out.append(redacted("key:" + key.lower()[:64]))
            last = vend
        if not out:
            return text
        out.append(text[last:])
        return "".join(out)

    def _xml_sub(self, m: re.Match[str]) -> str:
        content = m.group(3)
        if content.startswith(REDACTED_PREFIX) or not self._key_hides(m.group(2), content, False):
            return m.group(0)
        start = m.start(3) - m.start(0)
        end = m.end(3) - m.start(0)
        whole = m.group(0)
        return whole[:start] + redacted("xml:" + m.group(2).lower()[:64]) + whole[end:]

    # ------------------------------------------------------------------ bodies
    def json_value(self, value: object, oauth: bool = False) -> tuple[object, bool]:
        """Redact a decoded JSON document: values under sensitive keys at any depth and
        `{"name": <sensitive>, "value": ...}` pairs (string values: see `body`)."""
        # Scalars are copied inline rather than through a call that returns them unchanged:
        # the walk visits every value of the document.
        if isinstance(value, dict):
            oauth = oauth or "grant_type" in value
            changed = False
            out: dict[str, object] = {}
            is_pair = _PAIR_VALUE_KEY in value
            pair_hidden = is_pair and self._pair_hidden(value)
            for k, v in value.items():
                if is_pair and k in _PAIR_NAME_KEYS and isinstance(v, str):
                    hide = False  # the name of a name/value pair: decided for "value"
                else:
                    hide = isinstance(k, str) and (
                        (pair_hidden and k == _PAIR_VALUE_KEY)
                        or self._key_hides(k, v if isinstance(v, str) else "", oauth)
                    )
                if hide and not (isinstance(v, str) and v.startswith(REDACTED_PREFIX)):
                    out[k] = redacted("json:" + str(k).lower()[:64])
                    changed = True
                elif isinstance(v, (dict, list)):
                    out[k], c = self.json_value(v, oauth)
                    changed = changed or c
                else:
                    out[k] = v
            return out, changed
        if isinstance(value, list):
            items: list[object] = []
            changed = False
            for v in value:
                if isinstance(v, (dict, list)):
                    v, c = self.json_value(v, oauth)
                    changed = changed or c
                items.append(v)
            return items, changed
        return value, False

    def _pair_hidden(self, obj: dict[object, object]) -> bool:
        if _PAIR_VALUE_KEY not in obj:
            return False
        for k in _PAIR_NAME_KEYS:
            name = obj.get(k)
            if (
                isinstance(name, str)
                and name
                and (self.is_sensitive_header(name) or self.is_sensitive_key(name))
            ):
                return True
        return False

    def _hinted(self, low: str | None, found: frozenset[str] | None = None) -> bool:
        """False when no name pattern can match anywhere in the lower-cased text `low`.

        `found`: the `_GATE` needles of `low`, when the caller has them (the key hints are
        among them, so they answer without another scan; `low` may then be None).
        """
        if self._key_re is None:
            return False
        if not self._gated:  # custom name patterns are not implied by literal hints
            return True
        if found is not None:
            return not found.isdisjoint(_KEY_HINT_SET)
        assert low is not None
        return _KEY_SCAN.any_in(low)

    def _json_needs_walk(self, text: str) -> bool:
        """Whether a JSON text has a key whose value must go (else the text pass suffices)."""
        if "\\" in text:
            return True
        keys = set(_JSON_KEY.findall(text))
        if any(self.is_sensitive_key(k) for k in keys):
            return True
        if _PAIR_VALUE_KEY in keys and any(k in keys for k in _PAIR_NAME_KEYS):
            return True
        return any(self._soft_kind(k) for k in keys)

    def body(self, text: str, content_type: str, complete: bool) -> str:
        """Redact a decoded text body by its content type.

        A complete JSON body is parsed and walked only when some key may hide its value
        (whole sub-documents under `credentials`, pairs, OAuth `code`); then, walked or
        not, the free-text pass covers values (tokens, URLs, `key=value` in strings). A
        truncated capture cannot be parsed: the free-text pass still catches
        `"key": "value"` and `"key": {...}`.
        """
        ctype = content_type.lower()
        if "json" in ctype and complete:
            low: str | None = None
            found = _GATE.found_in_lowered(text) if self._gated and len(text) >= RE2_MIN_LENGTH else None
            if found is None:
                low = text.lower()
            hinted = self._hinted(low, found)
            if hinted and self._json_needs_walk(text):
                try:
                    doc = json.loads(text)
                except ValueError:
                    return self.text(text)
                doc, changed = self.json_value(doc)
                if changed:
                    text = json.dumps(doc, ensure_ascii=False)
                    return self._text(text, hinted)
            return self._text(text, hinted, low, found)
        if "x-www-form-urlencoded" in ctype:
            return self.query(text)
        return self.text(text)


def _value_span(text: str, start: int) -> tuple[int, int] | None:
    """(start, end) of the value beginning at `start` (inside quotes when quoted)."""
    if start >= len(text):
        return None
    ch = text[start]
    if ch == "\\" and text[start + 1 : start + 2] in ('"', "'"):
        m = _QUOTED[text[start : start + 2]].match(text, start)
        return (m.start(1), m.end(1)) if m else None
    if ch in ('"', "'"):
        m = _QUOTED[ch].match(text, start)
        return (m.start(1), m.end(1)) if m else None
    if ch in "{[":
        return start, _bracket_end(text, start)
    m = _KV_UNQUOTED.match(text, start)
    return (start, m.end()) if m else None


def _first_token_end(text: str, start: int, end: int) -> int:
    """End of the first whitespace-free word of `text[start:end]`."""
    for i in range(start, end):
        if text[i] in " \t":
            return i
    return end


def _bracket_end(text: str, start: int) -> int:
    """End of the bracketed structure at `start` (the text's end when unbalanced)."""
    depth = 0
    quote_char = ""
    i = start
    n = len(text)
    while i < n:
        ch = text[i]
        if quote_char:
            if ch == "\\":
                i += 1
            elif ch == quote_char:
                quote_char = ""
        elif ch in "\"'":
            quote_char = ch
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return n


def _bearer_sub(m: re.Match[str]) -> str:
    return f"{m.group(1)}{m.group(2)}{redacted('bearer')}"


def _path_sub(m: re.Match[str]) -> str:
    for i in (1, 3, 5):
        if m.group(i) is not None:
            return f"{m.group(i)}{redacted('path-token')}"
    return m.group(0)  # pragma: no cover - one alternative always matches


def _sql_sub(m: re.Match[str]) -> str:
    quote_char = m.group(2)[0]
    return f"{m.group(1)}{quote_char}{redacted('sql-password')}{quote_char}"


def _userinfo_sub(m: re.Match[str]) -> str:
    return f"{m.group(1)}{redacted('userinfo')}@"
