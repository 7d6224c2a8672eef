"""A corpus of credential shapes, and how a connector might leak each one.

A data module: the SDK tests send every case through a real HTTP call (and logs) and
assert the value never reaches an exporter; collector-side redaction tests can reuse the
same cases. Each value is unique and distinctive, so a substring search for it has no
false positives.

`via` says where the secret travels:

* `header`: request header `name`;
* `query`: query parameter `name`;
* `json`: JSON request body at path `name` (dots for objects, `[]` for a list element);
* `form`: form-urlencoded field `name`;
* `url-userinfo`: `https://<name>:<secret>@host` (`name` is the user; empty means the
  secret *is* the user, as in `https://<token>@host`);
* `registered`: passed to `init(secrets=[...])` and sent where no name gives it away;
  `name` is the place: `path`, `header:<Name>`, `json:<key>`, `text`, `query:<param>`;
* `log`: written in a log message, `name` is the message template with `{secret}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit


@dataclass(frozen=True)
class SecretCase:
    via: str
    name: str
    secret: str

    @property
    def id(self) -> str:
        return f"{self.via}:{self.name}"


_H = "header"
_Q = "query"
_J = "json"
_F = "form"
_R = "registered"
_U = "url-userinfo"
_L = "log"

CASES: list[SecretCase] = [
    # ---------------------------------------------------------------- headers
    SecretCase(_H, "Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjb3JwdXMtMDEifQ.c0rpusSig01"),
    SecretCase(_H, "Authorization", "Basic Y29ycHVzLXVzZXI6Y29ycHVzLXBhc3MtMDI="),
    SecretCase(_H, "Authorization", "token ghp_corpus03AbCdEfGhIjKlMnOpQrStUvWxYz0123"),
    SecretCase(_H, "Proxy-Authorization", "Basic cHJveHk6Y29ycHVzLXByb3h5LTA0"),
    SecretCase(_H, "Cookie", "sessionid=corpus05sessAbCdEf; csrftoken=corpus05csrf"),
    SecretCase(_H, "X-Api-Key", "corpus06-xapikey-9f8e7d6c5b4a"),
    SecretCase(_H, "X-Auth-Token", "corpus07-xauthtoken-a1b2c3d4"),
    SecretCase(_H, "X-Access-Token", "corpus08-xaccesstoken-e5f6g7"),
    SecretCase(_H, "X-Hub-Signature-256", "sha256=corpus09hubsig0123456789abcdef"),
    SecretCase(_H, "X-Shopify-Hmac-Sha256", "corpus10shopifyhmacQWERTY="),
    SecretCase(_H, "Private-Token", "glpat-corpus11privatetokenXYZ"),
    SecretCase(_H, "X-Session-Id", "corpus12-session-id-776655"),
    SecretCase(_H, "X-CSRF-Token", "corpus13-csrf-token-443322"),
    SecretCase(_H, "X-Client-Secret", "corpus14-client-secret-hdr"),
    SecretCase(_H, "X-Amz-Security-Token", "FwoGZXIvYXdzECorpus15SecurityToken"),
    SecretCase(_H, "X-Goog-Api-Key", "AIzaSyCorpus16GoogApiKey0000000"),
    SecretCase(_H, "Ocp-Apim-Subscription-Key", "corpus17apimsubscriptionkey"),
    # ---------------------------------------------------------------- query
    SecretCase(_Q, "api_key", "corpus18-query-api-key"),
    SecretCase(_Q, "apikey", "corpus19-query-apikey"),
    SecretCase(_Q, "hapikey", "corpus20-hubspot-hapikey"),
    SecretCase(_Q, "access_token", "corpus21-query-access-token"),
    SecretCase(_Q, "token", "corpus22-query-token"),
    SecretCase(_Q, "client_secret", "corpus23-query-client-secret"),
    SecretCase(_Q, "signature", "corpus24-query-signature"),
    SecretCase(_Q, "sig", "corpus25-query-sig"),
    SecretCase(_Q, "code", "corpus26-oauth-code"),
    SecretCase(_Q, "password", "corpus27-query-password"),
    SecretCase(_Q, "key", "corpus28-query-key"),
    SecretCase(_Q, "refresh_token", "corpus29-query-refresh-token"),
    SecretCase(_Q, "auth", "corpus30-query-auth"),
    SecretCase(_Q, "session_id", "corpus31-query-session"),
    SecretCase(_Q, "X-Amz-Signature", "corpus32amzsignaturehex0123"),
    SecretCase(_Q, "jwt", "corpus33.query.jwt"),
    # ---------------------------------------------------------------- json
    SecretCase(_J, "password", "corpus34-json-password"),
    SecretCase(_J, "auth.password", "corpus35-json-nested-password"),
    SecretCase(_J, "client_secret", "corpus36-json-client-secret"),
    SecretCase(_J, "items[].refresh_token", "corpus37-json-array-refresh"),
    SecretCase(_J, "apiKey", "corpus38-json-camel-apikey"),
    SecretCase(_J, "privateKey", "-----BEGIN PRIVATE KEY-----corpus39-----END PRIVATE KEY-----"),
    SecretCase(_J, "credentials.user", "corpus40-json-credentials-object"),
    SecretCase(_J, "data.accessToken", "corpus41-json-access-token"),
    SecretCase(_J, "config.deep.nested.secret", "corpus42-json-deep-secret"),
    SecretCase(_J, "sessionToken", "corpus43-json-session-token"),
    SecretCase(_J, "pin", "corpus44-json-pin"),
    SecretCase(_J, "webhook.signature", "corpus45-json-signature"),
    # ---------------------------------------------------------------- form
    SecretCase(_F, "password", "corpus46-form-password"),
    SecretCase(_F, "client_secret", "corpus47-form-client-secret"),
    SecretCase(_F, "refresh_token", "corpus48-form-refresh-token"),
    SecretCase(_F, "code", "corpus49-form-code"),
    SecretCase(_F, "api_key", "corpus50-form-api-key"),
    SecretCase(_F, "token", "corpus51-form-token"),
    # ---------------------------------------------------------------- registered values
    SecretCase(_R, "path", "corpus52RegisteredInPath"),
    SecretCase(_R, "header:X-Custom-Context", "corpus53-registered-in-header"),
    SecretCase(_R, "json:note", "corpus54-registered-in-json"),
    SecretCase(_R, "text", "corpus55-registered-in-text"),
    SecretCase(_R, "query:q", "corpus56-registered-in-query"),
    SecretCase(_R, "json:items", "corpus57 registered with spaces & symbols/+="),
    # ---------------------------------------------------------------- url userinfo
    SecretCase(_U, "svc-user", "corpus58-userinfo-password"),
    SecretCase(_U, "", "corpus59userinfotokenasuser"),
    SecretCase(_U, "admin", "corpus60-userinfo-admin-pw"),
    # ---------------------------------------------------------------- log messages
    SecretCase(_L, "calling with Authorization: Bearer {secret}", "corpus61logbearertoken"),
    SecretCase(_L, "retrying url https://api.example.com/v1?api_key={secret}", "corpus62-log-url-key"),
    SecretCase(_L, "config password={secret} loaded", "corpus63-log-password"),
]

assert len(CASES) >= 50
assert len({c.secret for c in CASES}) == len(CASES)

REGISTERED: list[str] = [c.secret for c in CASES if c.via == _R]


def _nest(path: str, value: Any) -> Any:
    head, _, rest = path.partition(".")
    inner = _nest(rest, value) if rest else value
    if head.endswith("[]"):
        return {head[:-2]: [{"id": 1}, inner if rest else value]}
    return {head: inner, "other": "kept"}


def request_for(case: SecretCase, base_url: str) -> tuple[str, str, dict[str, Any]]:
    """(method, url, httpx keyword arguments) that send `case.secret` the way `case.via` says."""
    url = base_url.rstrip("/") + "/echo"
    if case.via == _H:
        return "GET", url, {"headers": {case.name: case.secret}}
    if case.via == _Q:
        return "GET", f"{url}?{urlencode({'limit': 10, case.name: case.secret})}", {}
    if case.via == _J:
        return "POST", url, {"json": _nest(case.name, case.secret)}
    if case.via == _F:
        return "POST", url, {"data": {"grant_type": "x", case.name: case.secret}}
    if case.via == _U:
        parts = urlsplit(url)
        userinfo = f"{case.name}:{case.secret}" if case.name else case.secret
        return "GET", urlunsplit((parts.scheme, f"{userinfo}@{parts.netloc}", parts.path, "", "")), {}
    if case.via == _R:
        where, _, name = case.name.partition(":")
        if where == "path":
            return "GET", f"{url}/{case.secret}", {}
        if where == "header":
            return "GET", url, {"headers": {name: case.secret}}
        if where == "json":
            return "POST", url, {"json": {name: case.secret, "n": 1}}
        if where == "query":
            return "GET", f"{url}?{urlencode({name: case.secret})}", {}
        return (
            "POST",
            url,
            {"content": f"free text {case.secret} end", "headers": {"content-type": "text/plain"}},
        )
    raise ValueError(f"case {case.id} is not sent over HTTP")


def log_message(case: SecretCase) -> str:
    """The log line of a `log` case (other cases: a line mentioning nothing secret)."""
    return case.name.format(secret=case.secret)
