"""The whole secrets corpus through the `Redactor` (unit): each secret hidden, each `keep` visible.

Every case goes through the entry point the SDK and the collector use for its place:
URL, headers and body of the request it describes, `Redactor.header` for response
headers, `Redactor.attribute` for span attributes and log extras, `Redactor.text` for log
lines, statuses and exception messages. Registered cases need `secrets=`; every other
case must be caught by the built-in rules alone, as the collector sees them.
"""

from __future__ import annotations

import base64

import httpx
import pytest

from connlog.instrumentation.redaction import RedactionConfig, Redactor
from tests.secrets_corpus import ALL_CASES, REGISTERED, SecretCase, request_for

PLAIN = Redactor(RedactionConfig())
WITH_SECRETS = Redactor(RedactionConfig(secrets=tuple(REGISTERED)))


def redacted_views(case: SecretCase, r: Redactor) -> list[str]:
    """Everything `r` would let through for `case`, one string per recorded field."""
    if case.via == "response-header":
        return [r.header(case.name, case.value)]
    if case.via in ("attr", "extra"):
        return [r.attribute(case.name, case.value)]
    if case.via in ("log", "status", "exception"):
        return [r.text(case.value)]
    method, url, kwargs = request_for(case, "http://api.example.com")
    request = httpx.Request(method, url, **kwargs)
    ctype = request.headers.get("content-type", "")
    seen = [r.url(str(request.url)), r.text(str(request.url)), r.path(request.url.path)]
    seen += [r.header(k, v) for k, v in request.headers.multi_items()]
    if request.content:
        seen.append(r.body(request.content.decode(), ctype, complete=True))
        seen.append(r.body(request.content.decode(), ctype, complete=False))
    return seen


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: f"{c.id}:{c.secret[:12]}")
def test_secret_hidden_and_diagnosis_kept(case: SecretCase) -> None:
    redactors = [WITH_SECRETS] if case.via == "registered" else [PLAIN, WITH_SECRETS]
    for r in redactors:
        joined = "\n".join(redacted_views(case, r))
        for hidden in case.hidden:
            assert hidden not in joined, joined
            assert hidden.lower() not in joined.lower(), joined
        assert "[REDACTED:" in joined
        for visible in case.keep:
            assert visible in joined, (visible, joined)


def test_free_text_prefix_no_longer_hides_the_pair() -> None:
    """The shape the adversarial pass found first: `prefix: key=value`."""
    assert PLAIN.text("Error: password=hunter2hunter") == "Error: password=[REDACTED:key:password]"


@pytest.mark.parametrize(
    "text",
    [
        '{"error": {"code": "rate_limited", "message": "Too many requests"}}',
        '{"session": "expired", "status": 401}',
        '{"session": {"id": 42, "state": "closed"}}',
        '{"errors": [{"code": "INVALID_CURSOR", "message": "cursor expired"}]}',
        '{"country_code": "FR", "keyword": "shoes", "author": "me", "postcode": "75001"}',
        '{"plan": "basic information", "summary": "Bearer tokens are required"}',
    ],
)
def test_diagnosis_in_error_bodies_stays_readable(text: str) -> None:
    assert PLAIN.body(text, "application/json", True) == text
    assert PLAIN.body(text, "application/json", False) == text
    assert PLAIN.text(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "page 12 done: 100 records in 231 ms",
        "GET https://api.example.com/v1/contacts?limit=100&after=200 -> 200",
        "code=rate_limited retry_after=30 session=expired",
        "user=etl host=db.internal dbname=crm",
        "task-runner risk-check high-throughput",
    ],
)
def test_ordinary_log_lines_are_untouched(text: str) -> None:
    assert PLAIN.text(text) == text


def test_oauth_code_hidden_only_in_a_token_request() -> None:
    token_request = '{"grant_type": "authorization_code", "code": "4/0AX4XfWh-abc"}'
    assert "4/0AX4XfWh-abc" not in PLAIN.body(token_request, "application/json", True)
    error = '{"code": "4/0AX4XfWh-abc"}'
    assert PLAIN.body(error, "application/json", True) == error
    assert "SplxlOBeZQQYbYS6WxSbIA" not in PLAIN.url(
        "https://app.example.com/cb?code=SplxlOBeZQQYbYS6WxSbIA&state=x"
    )


def test_session_hidden_when_it_looks_like_a_token() -> None:
    assert PLAIN.body('{"session": "expired"}', "application/json", True) == '{"session": "expired"}'
    out = PLAIN.body('{"session": "a8f3c9e1d2b44f6e"}', "application/json", True)
    assert "a8f3c9e1d2b44f6e" not in out
    assert PLAIN.attribute("session", "9f8e7d6c5b4a3921") == "[REDACTED:key:session]"
    assert PLAIN.attribute("session", "expired") == "expired"


def test_registered_secret_in_every_encoding() -> None:
    secret = "reg-Secret/with+symbols"
    r = Redactor(RedactionConfig(secrets=(secret,)))
    for prefix in ("", "u:", "us:", "use:"):
        encoded = base64.b64encode((prefix + secret).encode()).decode()
        assert r.secrets(f"blob {encoded} end") != f"blob {encoded} end", prefix
        assert base64.b64encode(secret.encode()).decode().rstrip("=")[4:-4] not in r.secrets(encoded)
    assert "with+symbols" not in r.secrets('{"a": "reg-Secret\\/with+symbols"}'.replace("\\/", "/"))
    assert r.secrets("x=reg-Secret%2Fwith%2Bsymbols") == "x=[REDACTED:secret]"


def test_idempotent_on_its_own_output() -> None:
    for case in ALL_CASES:
        for view in redacted_views(case, WITH_SECRETS):
            assert WITH_SECRETS.text(view) == view or "[REDACTED:" in WITH_SECRETS.text(view)


def test_header_value_rules_apply_under_any_name() -> None:
    assert PLAIN.header("X-Whatever", "Bearer abcDEF123456ghi") == "Bearer [REDACTED:bearer]"
    assert PLAIN.header("CB-ACCESS-PASSPHRASE", "p") == "[REDACTED:header]"
    assert PLAIN.header("X-Design-Mode", "dark") == "dark"
    assert (
        PLAIN.header("Content-Type", "application/json; charset=utf-8") == "application/json; charset=utf-8"
    )
