"""A corpus of credential shapes, and how a connector might leak each one.

A data module: the SDK tests send every case through a real HTTP call (and logs) and
assert the value never reaches an exporter, the collector's tables, its WAL or the SDK
spool; the collector tests send the same cases as raw OTLP. Each secret is unique and
distinctive, so a substring search for it has no false positives. Each case also names
what must stay visible next to it (`keep`: ids, error codes, messages, hosts), so
over-redaction fails too. `send_corpus` is the connector both SDK tests run over it.

`via` says where the secret travels (`value` is `template` with `{secret}` replaced):

* `header`: request header `name`;
* `query`: query parameter `name`;
* `json`: JSON request body at path `name` (dots for objects, `[]` for a list element);
* `form`: form-urlencoded field `name`;
* `body`: a raw request body of content type `name` (the template is the whole body);
* `path`: the URL path (the template) under `/echo`;
* `url-userinfo`: `https://<name>:<secret>@host` (`name` is the user; empty means the
  secret *is* the user, as in `https://<token>@host`);
* `registered`: passed to `init(secrets=[...])` and sent where no name gives it away;
  `name` is the place: `path`, `header:<Name>`, `json:<key>`, `text`, `query:<param>`,
  `escaped:<key>` (a JSON body with `\\uXXXX` / `\\"` escapes); `transform` says how
  it is encoded on the way (`basic`: inside `Basic base64(user:secret)`, `b64`: base64 of
  the secret, `b64-json`: base64 of a JSON document holding it);
* `log`: written in a log message (the template).

Not sendable as a request (in `OTHER_CASES`, sent by the tests that know how):

* `response-header`: response header `name` (the test server answers with it);
* `attr`: a span attribute `name` the connector sets itself (`db.statement`, ...);
* `extra`: a log `extra=` field `name`;
* `status`: a span status message the connector sets;
* `exception`: the message of an exception escaping an entity.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx

import connlog as cl


@dataclass(frozen=True)
class SecretCase:
    via: str
    name: str
    secret: str
    template: str = "{secret}"
    keep: tuple[str, ...] = ()
    cls: str = ""
    transform: str = ""

    @property
    def id(self) -> str:
        return f"{self.via}:{self.name}"

    @property
    def encoded(self) -> str:
        """The secret as it travels (transformed for `transform` cases)."""
        if self.transform == "basic":
            return "Basic " + base64.b64encode(f"svc-reg:{self.secret}".encode()).decode()
        if self.transform == "b64":
            return base64.b64encode(self.secret.encode()).decode()
        if self.transform == "b64-json":
            return base64.b64encode(json.dumps({"token": self.secret}).encode()).decode()
        return self.secret

    @property
    def value(self) -> str:
        return self.template.replace("{secret}", self.encoded)

    @property
    def hidden(self) -> tuple[str, ...]:
        """Every string that must not be stored: the secret and its encoded form."""
        return (self.secret,) if self.encoded == self.secret else (self.secret, self.encoded)

    @property
    def credential_class(self) -> str:
        return self.cls or _DEFAULT_CLASS.get(self.via, self.via)


_H = "header"
_Q = "query"
_J = "json"
_F = "form"
_B = "body"
_P = "path"
_R = "registered"
_U = "url-userinfo"
_L = "log"
_RH = "response-header"
_A = "attr"
_X = "extra"
_S = "status"
_E = "exception"

# Credential classes, as counted in docs/reliability.md.
FREE_TEXT = "free text key=value"
TOKENS = "token formats without a key"
CONN = "connection strings"
HEADERS = "header names and values"
RESPONSE = "response headers with URLs"
URLS = "URL query keys, userinfo and path tokens"
BODIES = "JSON keys, pairs, GraphQL, XML"
FORMS = "form fields"
REGISTERED_CLASS = "registered values (raw and transformed)"
ATTRS = "span attributes, log extras, statuses, exceptions"
DIAGNOSIS = "diagnosis kept next to a credential"
_DEFAULT_CLASS = {
    _H: HEADERS,
    _Q: URLS,
    _P: URLS,
    _U: URLS,
    _J: BODIES,
    _B: BODIES,
    _F: FORMS,
    _R: REGISTERED_CLASS,
    _L: FREE_TEXT,
    _RH: RESPONSE,
    _A: ATTRS,
    _X: ATTRS,
    _S: ATTRS,
    _E: ATTRS,
}


def _pad(prefix: str, n: int) -> str:
    """`prefix` padded to `n` characters with a fixed alphanumeric filler (token shapes)."""
    filler = "Xq7Lm2Np9Rt4Vw6Yz8Bc3Df5Gh1Jk0"
    return (prefix + filler * 4)[:n]


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
    SecretCase(
        _L,
        "bearer",
        "corpus61logbearertoken",
        "calling with Authorization: Bearer {secret}",
        ("calling with",),
    ),
    SecretCase(
        _L,
        "url-key",
        "corpus62-log-url-key",
        "retrying url https://api.example.com/v1?api_key={secret}",
        ("api.example.com",),
    ),
    SecretCase(_L, "password", "corpus63-log-password", "config password={secret} loaded", ("config",)),
    # ================================================================ issue 10 item 3 / 12 item 7
    # ---------------------------------------------------------------- free text key=value
    SecretCase(_L, "prefix", "c064pw-hunter2hunter", "Error: password={secret}", ("Error:",), FREE_TEXT),
    SecretCase(
        _L,
        "parenthesised",
        "c065-login-pw",
        "login failed: user=etl password={secret} (code=invalid_grant)",
        ("login failed", "user=etl", "code=invalid_grant"),
        FREE_TEXT,
    ),
    SecretCase(
        _L,
        "comma-list",
        "c066-cfg-api-key",
        "config loaded, api_key={secret}, region=eu-west-1",
        ("config loaded", "region=eu-west-1"),
        FREE_TEXT,
    ),
    SecretCase(
        _L, "spaces", "c067 battery staple", "password=correct horse {secret}", ("password=",), FREE_TEXT
    ),
    SecretCase(
        _L, "comma-in-value", "c068,comma,secret", "secret={secret}; retries=3", ("retries=3",), FREE_TEXT
    ),
    SecretCase(
        _L,
        "python-repr",
        "c069-repr-api-key",
        "request kwargs: {'api_key': '{secret}', 'page': 3}",
        ("request kwargs", "'page': 3"),
        FREE_TEXT,
    ),
    SecretCase(
        _L,
        "python-kwargs",
        "c070-kwargs-pw",
        "Client(password='{secret}', retries=3)",
        ("Client(", "retries=3"),
        FREE_TEXT,
    ),
    SecretCase(
        _L,
        "json-in-text",
        "c071-json-text-secret",
        'sending {"client_secret": "{secret}", "grant_type": "client_credentials"}',
        ("client_credentials",),
        FREE_TEXT,
    ),
    SecretCase(_L, "query-in-text", "c072-text-token", "token={secret}&page=2", ("page=2",), FREE_TEXT),
    SecretCase(_L, "header-line", "c073-hdr-line-key", "X-Api-Key: {secret}", ("X-Api-Key",), FREE_TEXT),
    SecretCase(_L, "semicolon", "c074-passwd", "passwd={secret};timeout=30", ("timeout=30",), FREE_TEXT),
    SecretCase(
        _L,
        "traceback",
        "c075-tb-secret",
        "ValueError: bad credentials: secret='{secret}'",
        ("ValueError", "bad credentials"),
        FREE_TEXT,
    ),
    SecretCase(
        _L,
        "env-dump",
        "c076-env-db-pw",
        "env: DB_PASSWORD={secret} DB_HOST=db.internal",
        ("DB_HOST=db.internal",),
        FREE_TEXT,
    ),
    SecretCase(
        _L, "quoted-colon", "c077-sess-token", 'session_token: "{secret}" expired', ("expired",), FREE_TEXT
    ),
    SecretCase(_L, "spaced-equals", "c078-spaced-pw", "password = '{secret}'", ("password",), FREE_TEXT),
    SecretCase(
        _L,
        "escaped-json",
        "c079-escaped-pw",
        'body={\\"password\\": \\"{secret}\\", \\"user\\": \\"etl\\"}',
        ("etl",),
        FREE_TEXT,
    ),
    # ---------------------------------------------------------------- token formats, no key
    SecretCase(
        _L,
        "aws",
        "AKIAC0RPUS080EXAMPLE",
        "using AWS key {secret} for s3 upload",
        ("using AWS key", "for s3 upload"),
        TOKENS,
    ),
    SecretCase(
        _L,
        "github-pat",
        _pad("ghp_c0rpus081", 40),
        "git push with {secret} rejected",
        ("git push with", "rejected"),
        TOKENS,
    ),
    SecretCase(
        _L,
        "github-fine",
        _pad("github_pat_11C0RPUS082_", 82),
        "clone failed using {secret}",
        ("clone failed",),
        TOKENS,
    ),
    SecretCase(
        _L,
        "stripe",
        _pad("sk_live_c0rpus083", 40),
        "stripe client built with {secret}",
        ("stripe client built",),
        TOKENS,
    ),
    SecretCase(
        _L,
        "stripe-restricted",
        _pad("rk_live_c0rpus084", 40),
        "restricted key {secret} lacks scope",
        ("lacks scope",),
        TOKENS,
    ),
    SecretCase(
        _L,
        "slack-bot",
        "xoxb-0850085-0850085-c0rpus085SlackBotTok",
        "posting as {secret}",
        ("posting as",),
        TOKENS,
    ),
    SecretCase(
        _L,
        "jwt",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjMDg2In0.c0rpus086JwtSignature",
        "jwt {secret} has an invalid signature",
        ("invalid signature",),
        TOKENS,
    ),
    SecretCase(
        _L,
        "pem",
        "MIIEc0rpus087PrivateKeyBodyAAAB",
        "loaded key:\n-----BEGIN RSA PRIVATE KEY-----\n{secret}\n-----END RSA PRIVATE KEY-----\ndone",
        ("loaded key:", "done"),
        TOKENS,
    ),
    SecretCase(
        _L, "gitlab", _pad("glpat-c0rpus088", 26), "gitlab token {secret} revoked", ("revoked",), TOKENS
    ),
    SecretCase(
        _L,
        "google",
        _pad("AIzaSyC0rpus089", 39),
        "maps call with {secret} over quota",
        ("over quota",),
        TOKENS,
    ),
    SecretCase(_J, "data.note", "AKIAC0RPUS090EXAMPLE", "deploy key {secret}", ("deploy key",), TOKENS),
    SecretCase(_J, "debug.last_header", _pad("c0rpus091Bearer", 32), "Bearer {secret}", (), TOKENS),
    SecretCase(
        _J,
        "meta.comment",
        "xoxp-0920092-0920092-c0rpus092SlackUserTok",
        "slack user {secret}",
        ("slack user",),
        TOKENS,
    ),
    SecretCase(_H, "X-Upstream", _pad("c0rpus093Upstream", 32), "Bearer {secret}", (), TOKENS),
    SecretCase(
        _H,
        "X-Trace-Context",
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjMDk0In0.c0rpus094TraceCtxSig",
        "{secret}",
        (),
        TOKENS,
    ),
    SecretCase(_H, "X-Note", _pad("ghp_c0rpus095", 40), "{secret}", (), TOKENS),
    SecretCase(_H, "X-Debug-Info", "c096-debug-info-pw", "cfg password={secret}", (), TOKENS),
    # ---------------------------------------------------------------- connection strings
    SecretCase(
        _L,
        "pg-url",
        "c097-pg-url-pw",
        "connecting to postgresql://etl:{secret}@db.internal:5432/crm",
        ("db.internal:5432/crm",),
        CONN,
    ),
    SecretCase(
        _L,
        "libpq",
        "c098-libpq-pw",
        "libpq: host=db.internal port=5432 user=etl password={secret} dbname=crm",
        ("host=db.internal", "dbname=crm"),
        CONN,
    ),
    SecretCase(
        _L,
        "odbc",
        "c099-odbc-pwd",
        "odbc: Driver={ODBC Driver 18};Server=sql.internal;Database=crm;Uid=etl;Pwd={secret};Encrypt=yes",
        ("Server=sql.internal", "Encrypt=yes"),
        CONN,
    ),
    SecretCase(
        _L,
        "odbc-spaces",
        "c100 odbc pass word",
        "Server=sql.internal;Database=crm;User Id=etl;Password={secret};Encrypt=yes",
        ("Database=crm", "Encrypt=yes"),
        CONN,
    ),
    SecretCase(
        _L,
        "mongo",
        "c101-mongo-pw",
        "mongodb+srv://app:{secret}@cluster0.example.net/db?retryWrites=true",
        ("cluster0.example.net",),
        CONN,
    ),
    SecretCase(
        _L,
        "redis",
        "c102-redis-pw",
        "cache at redis://:{secret}@cache.internal:6379/0 unreachable",
        ("cache.internal:6379", "unreachable"),
        CONN,
    ),
    SecretCase(
        _J,
        "config.dsn",
        "c103-json-dsn-pw",
        "postgres://etl:{secret}@db.internal/crm",
        ("db.internal/crm",),
        CONN,
    ),
    SecretCase(
        _J,
        "settings.connection",
        "c104-json-odbc-pw",
        "Server=sql;Database=crm;User Id=etl;Password={secret};",
        ("Database=crm",),
        CONN,
    ),
    SecretCase(
        _J,
        "job.source",
        "c105-json-libpq-pw",
        "host=db user=etl password={secret} sslmode=require",
        ("sslmode=require",),
        CONN,
    ),
    SecretCase(
        _J, "broker", "c106-amqp-pw", "amqp://guest:{secret}@mq.internal:5672/", ("mq.internal:5672",), CONN
    ),
    SecretCase(
        _B,
        "text/plain",
        "c107-jdbc-pw",
        "jdbc:mysql://db.internal:3306/crm?user=etl&password={secret}",
        ("db.internal:3306",),
        CONN,
    ),
    # ---------------------------------------------------------------- header names outside the list
    SecretCase(_H, "CB-ACCESS-PASSPHRASE", "c108-cb-passphrase"),
    SecretCase(_H, "CB-ACCESS-SIGN", "c109cbaccesssignhex0123"),
    SecretCase(_H, "X-MBX-APIKEY", "c110mbxapikeyvalue0123"),
    SecretCase(_H, "KC-API-PASSPHRASE", "c111-kucoin-passphrase"),
    SecretCase(_H, "OK-ACCESS-SIGN", "c112okaccesssign0123="),
    SecretCase(_H, "X-BAPI-SIGN", "c113bybitsignature0123"),
    SecretCase(_H, "X-Webhook-Signature", "c114-webhook-signature"),
    SecretCase(_H, "X-Request-Context", _pad("c0rpus115Ctx", 32), "Bearer {secret}"),
    SecretCase(_H, "X-Custom-Auth-Hint", "YzExNkNvcnB1c0Jhc2ljQXV0aDE=", "Basic {secret}"),
    SecretCase(
        _H,
        "X-Original-Url",
        "c117-orig-url-token",
        "https://api.example.com/v1/items?access_token={secret}&page=2",
    ),
    # ---------------------------------------------------------------- URL query keys and path tokens
    SecretCase(_Q, "accessToken", "c118-q-access-token"),
    SecretCase(_Q, "clientSecret", "c119-q-client-secret"),
    SecretCase(_Q, "apiKey", "c120-q-api-key"),
    SecretCase(_Q, "X-Amz-Credential", "c121-q-amz-credential"),
    SecretCase(_Q, "X-Amz-Security-Token", "c122-q-amz-security-token"),
    SecretCase(_Q, "authToken", "c123-q-auth-token"),
    SecretCase(_Q, "private_token", "c124-q-private-token"),
    SecretCase(_Q, "oauth_signature", "c125-q-oauth-signature"),
    SecretCase(_Q, "api-key", "c126-q-api-dash-key"),
    SecretCase(_Q, "subscription-key", "c127-q-subscription-key"),
    SecretCase(_Q, "sessionid", "c128-q-sessionid"),
    SecretCase(_Q, "AWSAccessKeyId", "c129-q-aws-access-key-id"),
    SecretCase(_Q, "Signature", "c130-q-signature"),
    SecretCase(_Q, "passphrase", "c131-q-passphrase"),
    SecretCase(_Q, "access-key", "c132-q-access-dash-key"),
    SecretCase(
        _P,
        "slack-webhook",
        "c133SlackHookSecretXyZ12",
        "/services/T0C0RP133/B0C0RP133/{secret}",
        ("services",),
    ),
    SecretCase(
        _P,
        "telegram-bot",
        "7781234567:AAc134TelegramBotTokenXyz12345",
        "/bot{secret}/sendMessage",
        ("sendMessage",),
    ),
    SecretCase(
        _P,
        "discord-webhook",
        "c135-discord-webhook-token-abcdef",
        "/api/webhooks/1234567890135/{secret}",
        ("webhooks",),
    ),
    SecretCase(_P, "token-segment", _pad("ghp_c0rpus136", 40), "/v1/repos/{secret}/hooks", ("hooks",)),
    SecretCase(
        _P,
        "slack-webhook-2",
        "c137SecondSlackHookSecret9",
        "/services/TC0RP1370/BC0RP1370/{secret}",
        ("services",),
    ),
    # ---------------------------------------------------------------- JSON keys, pairs, GraphQL, XML
    SecretCase(_J, "aws_access_key_id", "c138-json-aws-access-key-id"),
    SecretCase(_J, "aws_secret_access_key", "c139-json-aws-secret-access-key"),
    SecretCase(_J, "tls.key_pem", "c140-json-key-pem"),
    SecretCase(_J, "signing.clientKeyPem", "c141-json-client-key-pem"),
    SecretCase(_J, "clientSecret", "c142-json-client-secret"),
    SecretCase(_J, "refreshToken", "c143-json-refresh-token"),
    SecretCase(_J, "accessKey", "c144-json-access-key"),
    SecretCase(_J, "passphrase", "c145-json-passphrase"),
    SecretCase(_J, "webhookSecret", "c146-json-webhook-secret"),
    SecretCase(_J, "data.apiToken", "c147-json-api-token"),
    SecretCase(_J, "client_assertion", "c148-json-client-assertion"),
    SecretCase(
        _B,
        "application/json",
        "c149-pair-authorization-value",
        '{"headers": [{"name": "Authorization", "value": "{secret}"}], "page": 1}',
        ('"page": 1', "Authorization"),
    ),
    SecretCase(
        _B,
        "application/json",
        "c150-pair-api-key-value",
        '{"params": [{"key": "api_key", "value": "{secret}"}, {"key": "limit", "value": "100"}]}',
        ('"100"', "limit"),
    ),
    SecretCase(
        _B,
        "application/json",
        "c151-pair-bearer",
        '{"headers": [{"name": "X-Forward", "value": "Bearer {secret}"}]}',
        ("X-Forward",),
    ),
    SecretCase(
        _B,
        "application/json",
        "c152-graphql-pw",
        '{"query": "mutation { login(email: \\"a@example.com\\", password: \\"{secret}\\") { id } }"}',
        ("mutation", "a@example.com"),
    ),
    SecretCase(
        _B,
        "application/graphql",
        "c153-graphql-raw-key",
        'mutation { createKey(apiKey: "{secret}", name: "etl") { id } }',
        ('name: "etl"',),
    ),
    SecretCase(
        _B,
        "application/graphql",
        "c154-graphql-token",
        'query { viewer(token: "{secret}") { login } }',
        ("viewer",),
    ),
    SecretCase(
        _B,
        "application/xml",
        "c155-xml-password",
        "<auth><Username>etl</Username><Password>{secret}</Password></auth>",
        ("<Username>etl</Username>",),
    ),
    SecretCase(
        _B,
        "text/xml",
        "c156-wsse-password",
        '<soapenv:Envelope><soapenv:Header><wsse:Security><wsse:UsernameToken><wsse:Username>etl</wsse:Username><wsse:Password Type="PasswordText">{secret}</wsse:Password></wsse:UsernameToken></wsse:Security></soapenv:Header></soapenv:Envelope>',
        ("<wsse:Username>etl</wsse:Username>",),
    ),
    SecretCase(
        _B,
        "application/xml",
        "c157-xml-session-token",
        "<Credentials><Expiration>2026-12-02</Expiration><SessionToken>{secret}</SessionToken></Credentials>",
        ("2026-12-02",),
    ),
    SecretCase(
        _B,
        "application/xml",
        "c158-xml-api-key",
        "<config><apiKey>{secret}</apiKey><region>eu</region></config>",
        ("<region>eu</region>",),
    ),
    SecretCase(
        _B, "application/xml", "c159-xml-attr-pw", '<login user="etl" password="{secret}"/>', ('user="etl"',)
    ),
    # ---------------------------------------------------------------- diagnosis kept next to a credential
    SecretCase(
        _B,
        "application/json",
        "c160-diag-api-key",
        '{"error": {"code": "rate_limited", "message": "Too many requests"}, "session": "expired", "api_key": "{secret}"}',
        ('"rate_limited"', "Too many requests", '"expired"'),
        DIAGNOSIS,
    ),
    SecretCase(
        _B,
        "application/json",
        "c161-oauth-json-code",
        '{"grant_type": "authorization_code", "code": "{secret}", "redirect_uri": "https://app.example.com/cb"}',
        ("authorization_code", "https://app.example.com/cb"),
        DIAGNOSIS,
    ),
    SecretCase(
        _B,
        "application/x-www-form-urlencoded",
        "c162-oauth-form-code",
        "grant_type=authorization_code&code={secret}&client_id=etl-app",
        ("client_id=etl-app", "authorization_code"),
        DIAGNOSIS,
    ),
    SecretCase(
        _B,
        "application/json",
        "c163sess9f8e7d6c5b4a3",
        '{"session": "{secret}", "status": "active"}',
        ('"active"',),
        DIAGNOSIS,
    ),
    SecretCase(
        _B,
        "application/json",
        "c164-diag-token",
        '{"errors": [{"code": "INVALID_CURSOR", "message": "cursor expired"}], "request_id": "req-42", "token": "{secret}"}',
        ("INVALID_CURSOR", "cursor expired", "req-42"),
        DIAGNOSIS,
    ),
    SecretCase(
        _L,
        "diag-line",
        "c165-diag-line-token",
        "HTTP 429 code=rate_limited session=expired token={secret}",
        ("code=rate_limited", "session=expired"),
        DIAGNOSIS,
    ),
    SecretCase(
        _B,
        "application/json",
        "c166-diag-client-secret",
        '{"error": "invalid_client", "error_description": "Client authentication failed", "client_secret": "{secret}"}',
        ("invalid_client", "Client authentication failed"),
        DIAGNOSIS,
    ),
    SecretCase(
        _B,
        "application/json",
        _pad("sk_live_c0rpus167", 40),
        '{"id": "cus_167", "object": "customer", "status": "past_due", "note": "rotated to {secret}"}',
        ("cus_167", "past_due"),
        DIAGNOSIS,
    ),
    # ---------------------------------------------------------------- registered values, transformed
    SecretCase(_R, "header:X-Upstream-Auth", "c168-reg-basic-pw", transform="basic"),
    SecretCase(_R, "json:blob", "c169-reg-b64-blob-value", transform="b64"),
    SecretCase(_R, "json:payload", "c170-reg-b64-json-value", transform="b64-json"),
    SecretCase(_R, "escaped:note", 'c171-reg"quoted"\\back/slash'),
    SecretCase(_R, "query:q", "c172 reg&amp=plus+sign"),
    SecretCase(_R, "escaped:label", "c173-régistré-ünïcode"),
]
# Not sendable as one request: sent by the tests that know how (see the module docstring).
OTHER_CASES: list[SecretCase] = [
    # ---------------------------------------------------------------- response headers with URLs
    SecretCase(
        _RH,
        "Link",
        "c174-link-access-token",
        '<https://api.example.com/items?page=2&access_token={secret}>; rel="next"',
        ('rel="next"', "page=2"),
    ),
    SecretCase(
        _RH,
        "Link",
        "c175-link-api-key",
        '<https://api.example.com/items?cursor=abc&apiKey={secret}>; rel="next", <https://api.example.com/items?page=1>; rel="first"',
        ('rel="first"', "cursor=abc"),
    ),
    SecretCase(
        _RH,
        "Location",
        "c176-location-code",
        "https://app.example.com/callback?code={secret}&state=xyz176",
        ("state=xyz176",),
    ),
    SecretCase(
        _RH,
        "Location",
        "c177-location-fragment",
        "https://app.example.com/cb#access_token={secret}&token_type=bearer",
        ("token_type=bearer",),
    ),
    SecretCase(
        _RH,
        "X-Next-Page",
        "c178-next-page-sig",
        "https://api.example.com/v2/list?page=3&sig={secret}",
        ("page=3",),
    ),
    SecretCase(
        _RH,
        "Content-Location",
        "c179-content-location-pw",
        "https://svc:{secret}@files.example.com/x.csv",
        ("files.example.com",),
    ),
    SecretCase(_RH, "X-Debug-Upstream", _pad("c0rpus180Upstream", 32), "Bearer {secret}", ()),
    # ---------------------------------------------------------------- span attributes set by the connector
    SecretCase(
        _A,
        "db.statement",
        "c181-dblink-pw",
        "SELECT dblink_connect('host=db.internal user=etl password={secret} dbname=crm')",
        ("dblink_connect", "dbname=crm"),
    ),
    SecretCase(
        _A,
        "db.statement",
        "c182-identified-by",
        "ALTER USER etl IDENTIFIED BY '{secret}'",
        ("ALTER USER etl",),
    ),
    SecretCase(
        _A,
        "db.statement",
        "c183-with-password",
        "CREATE USER loader WITH PASSWORD '{secret}'",
        ("CREATE USER loader",),
    ),
    SecretCase(
        _A,
        "db.connection_string",
        "c184-attr-odbc-pw",
        "Server=sql.internal;Database=crm;User Id=etl;Password={secret};",
        ("Database=crm",),
    ),
    SecretCase(_A, "connector.api_key", "c185-attr-api-key", "{secret}", ()),
    SecretCase(_A, "vendor.clientSecret", "c186-attr-client-secret", "{secret}", ()),
    SecretCase(_A, "vendor.session", "c187sessTokenAttr42", "{secret}", ()),
    SecretCase(_A, "sync.note", "AKIAC0RPUS188EXAMPLE", "rotated key {secret}", ("rotated key",)),
    SecretCase(
        _A,
        "sync.next_url",
        "c189-attr-next-url-token",
        "https://api.example.com/v1/items?page=3&accessToken={secret}",
        ("page=3",),
    ),
    SecretCase(
        _A,
        "error.detail",
        "c190-attr-detail-token",
        "code=rate_limited; token={secret}",
        ("code=rate_limited",),
    ),
    SecretCase(
        _A,
        "webhook.url",
        "c191SlackAttrHookSecret7",
        "https://hooks.slack.com/services/T0C0RP191/B0C0RP191/{secret}",
        ("hooks.slack.com",),
    ),
    SecretCase(_A, "auth.header", _pad("c0rpus192AuthHdr", 32), "Bearer {secret}", ()),
    SecretCase(_A, "config.private_key_pem", "c193-attr-private-key-pem", "{secret}", ()),
    # ---------------------------------------------------------------- log extra= fields
    SecretCase(_X, "password", "c194-extra-password", "{secret}", ()),
    SecretCase(_X, "api_token", "c195-extra-api-token", "{secret}", ()),
    SecretCase(
        _X, "dsn", "c196-extra-dsn-pw", "postgres://etl:{secret}@db.internal/crm", ("db.internal/crm",)
    ),
    SecretCase(
        _X,
        "request_headers",
        _pad("c0rpus197ExtraHdr", 32),
        "{'Authorization': 'Bearer {secret}', 'Accept': 'application/json'}",
        ("application/json",),
    ),
    SecretCase(_X, "session", "c198sessExtraToken77", "{secret}", ()),
    SecretCase(_X, "clientSecret", "c199-extra-client-secret", "{secret}", ()),
    # ---------------------------------------------------------------- span statuses set by the connector
    SecretCase(
        _S, "status", _pad("ghp_c0rpus200", 40), "upstream rejected token {secret}", ("upstream rejected",)
    ),
    SecretCase(_S, "status", "c201-status-pw", "login failed: password={secret}", ("login failed",)),
    SecretCase(
        _S,
        "status",
        "AKIAC0RPUS202EXAMPLE",
        "export to s3://bucket-202 failed with key {secret}",
        ("s3://bucket-202",),
    ),
    # ---------------------------------------------------------------- exception messages
    SecretCase(_E, "exception", "c203-exc-pw", "Error: password={secret}", ("Error:",)),
    SecretCase(
        _E,
        "exception",
        _pad("c0rpus204ExcBearer", 32),
        "Unauthorized: Bearer {secret} rejected",
        ("Unauthorized",),
    ),
    SecretCase(
        _E,
        "exception",
        "c205-exc-mysql-pw",
        "could not connect: mysql://root:{secret}@db.internal:3306/crm",
        ("db.internal:3306",),
    ),
    SecretCase(
        _E,
        "exception",
        _pad("sk_live_c0rpus206", 40),
        "stripe error for {secret}: card_declined",
        ("card_declined",),
    ),
    SecretCase(
        _E,
        "exception",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjMjA3In0.c0rpus207ExcJwtSig",
        "jwt expired: {secret}",
        ("jwt expired",),
    ),
    SecretCase(
        _E,
        "exception",
        "c208-exc-repr-key",
        "bad config {'api_key': '{secret}', 'retries': 3}",
        ("'retries': 3",),
    ),
    SecretCase(
        _E,
        "exception",
        "c209-exc-url-key",
        "HTTP 401 for https://api.example.com/v1?apiKey={secret}",
        ("HTTP 401",),
    ),
]

ALL_CASES: list[SecretCase] = CASES + OTHER_CASES

assert len(CASES) >= 150
assert len({c.secret for c in ALL_CASES}) == len(ALL_CASES)

REGISTERED: list[str] = [c.secret for c in CASES if c.via == _R]


def _nest(path: str, value: Any) -> Any:
    head, _, rest = path.partition(".")
    inner = _nest(rest, value) if rest else value
    if head.endswith("[]"):
        return {head[:-2]: [{"id": 1}, inner if rest else value]}
    return {head: inner, "other": "kept"}


def request_for(case: SecretCase, base_url: str) -> tuple[str, str, dict[str, Any]]:
    """(method, url, httpx keyword arguments) that send `case.value` the way `case.via` says."""
    url = base_url.rstrip("/") + "/echo"
    value = case.value
    if case.via == _H:
        return "GET", url, {"headers": {case.name: value}}
    if case.via == _Q:
        return "GET", f"{url}?{urlencode({'limit': 10, case.name: value})}", {}
    if case.via == _J:
        return "POST", url, {"json": _nest(case.name, value)}
    if case.via == _F:
        return "POST", url, {"data": {"grant_type": "authorization_code", case.name: value}}
    if case.via == _B:
        return "POST", url, {"content": value.encode(), "headers": {"content-type": case.name}}
    if case.via == _P:
        return "GET", url + value, {}
    if case.via == _U:
        parts = urlsplit(url)
        userinfo = f"{case.name}:{value}" if case.name else value
        return "GET", urlunsplit((parts.scheme, f"{userinfo}@{parts.netloc}", parts.path, "", "")), {}
    if case.via == _R:
        where, _, name = case.name.partition(":")
        if where == "path":
            return "GET", f"{url}/{value}", {}
        if where == "header":
            return "GET", url, {"headers": {name: value}}
        if where == "json":
            return "POST", url, {"json": {name: value, "n": 1}}
        if where == "escaped":
            body = json.dumps({name: value, "n": 1}, ensure_ascii=True)
            return "POST", url, {"content": body.encode(), "headers": {"content-type": "application/json"}}
        if where == "query":
            return "GET", f"{url}?{urlencode({name: value})}", {}
        return (
            "POST",
            url,
            {"content": f"free text {value} end", "headers": {"content-type": "text/plain"}},
        )
    raise ValueError(f"case {case.id} is not sent over HTTP")


def log_message(case: SecretCase) -> str:
    """The log line of a `log` case (other cases: a line mentioning nothing secret)."""
    return case.value if case.via == _L else f"nothing secret in {case.id}"


# What a connector does after one corpus call: (case, method, url, response).
AfterCall = Callable[[SecretCase, str, str, httpx.Response], None]


def send_corpus(base_url: str, log: logging.Logger, after_call: AfterCall) -> None:
    """Every case of `CASES` as a connector would leak it, inside the caller's run and step.

    One page per case: a `log` case is written to `log`; every other case is sent to
    `base_url` (a test server echoing `/echo`), then `after_call` does what the test's
    connector does next, typically an entity that fails with a message quoting the secret;
    its RuntimeError is logged with `log.exception`, as connectors do.
    """
    with httpx.Client() as client:
        for number, case in enumerate(CASES):
            with cl.page(number=number):
                if case.via == _L:
                    log.warning(log_message(case))
                    continue
                method, url, kwargs = request_for(case, base_url)
                resp = client.request(method, url, **kwargs)
                try:
                    after_call(case, method, url, resp)
                except RuntimeError:
                    log.exception("entity failed")
