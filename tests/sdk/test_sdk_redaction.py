"""Redaction: the ≥50-case secrets corpus end to end through the SDK, and unit cases."""

from __future__ import annotations

import logging

import httpx
import pytest

import connlog as cl
from connlog.instrumentation import semconv as sc
from connlog.instrumentation.ratelimit import ratelimit_attributes
from connlog.instrumentation.redaction import RedactionConfig, Redactor
from tests.sdk.helpers import LocalServer, all_text, attrs, start_telemetry
from tests.secrets_corpus import CASES, REGISTERED, SecretCase, request_for, send_corpus


def test_corpus_never_reaches_the_exporters(server: LocalServer) -> None:
    t = start_telemetry(secrets=REGISTERED)
    log = logging.getLogger("connector.corpus")
    log.setLevel(logging.INFO)
    try:

        def after_call(case: SecretCase, method: str, url: str, resp: httpx.Response) -> None:
            assert resp.status_code == 200, case.id
            with cl.entity(case.id, type="corpus"):
                if case.via == "header":
                    raise RuntimeError(f"rejected {case.name}: {case.value}")
                if case.via in ("query", "url-userinfo", "registered"):
                    raise RuntimeError(f"call failed: {method} {url}")
                log.info("sent %s", case.id)

        with cl.run(job_id="corpus"), cl.step("corpus"):
            send_corpus(server.url, log, after_call)
            # registered values in log messages too
            for secret in REGISTERED:
                log.error("unexpected value %s in payload", secret)
        spans = t.spans()
        logs = t.logs()
        assert len([s for s in spans if attrs(s).get(sc.ROLE) == "http"]) == len(
            [c for c in CASES if c.via != "log"]
        )
        haystack = "\n".join(all_text(spans, logs))
        leaked = [c.id for c in CASES if c.secret in haystack or c.secret.lower() in haystack.lower()]
        assert not leaked, leaked
        assert "[REDACTED:" in haystack
    finally:
        t.handle.shutdown()


@pytest.mark.parametrize("case", [c for c in CASES if c.via != "log"], ids=lambda c: c.id)
def test_each_case_is_redacted_by_the_redactor(case: SecretCase) -> None:
    """Names and shapes catch every case except `registered`, which needs `secrets=`."""
    plain = Redactor(RedactionConfig())
    registered = Redactor(RedactionConfig(secrets=tuple(REGISTERED)))
    method, url, kwargs = request_for(case, "http://api.example.com")
    request = httpx.Request(method, url, **kwargs)
    ctype = request.headers.get("content-type", "")
    for redactor in (registered, plain):
        seen = [redactor.url(str(request.url)), redactor.text(str(request.url))]
        seen += [redactor.header(k, v) for k, v in request.headers.multi_items()]
        seen.append(redactor.body(request.content.decode(), ctype, complete=True))
        joined = "\n".join(seen)
        if redactor is plain and case.via == "registered":
            continue
        assert case.secret not in joined, joined


def test_replacement_text_names_the_reason() -> None:
    r = Redactor(RedactionConfig(secrets=("s3cr3t-value",)))
    assert r.header("Authorization", "Bearer x") == "[REDACTED:header]"
    assert r.query("token=abc&x=1") == "token=[REDACTED:query:token]&x=1"
    assert r.secrets("a s3cr3t-value b") == "a [REDACTED:secret] b"
    assert r.url("https://u:p@h.example/x?a=1") == "https://[REDACTED:userinfo]@h.example/x?a=1"


def test_patterns_extend_and_override() -> None:
    extended = Redactor(RedactionConfig(header_patterns=(r"^x-tenant$",), key_patterns=(r"^ssn$",)))
    assert extended.header("X-Tenant", "acme") == "[REDACTED:header]"
    assert extended.query("ssn=123&a=b") == "ssn=[REDACTED:query:ssn]&a=b"
    assert extended.header("Authorization", "x") == "[REDACTED:header]"
    only = Redactor(RedactionConfig(key_patterns=(r"^ssn$",), use_defaults=False))
    assert only.query("token=abc") == "token=abc"
    assert only.header("Authorization", "x") == "x"


def test_init_redaction_options(server: LocalServer) -> None:
    t = start_telemetry(redact_headers=[r"^x-tenant$"], redact_keys=[r"^email$"])
    try:
        with cl.run(), httpx.Client() as client:
            client.post(
                server.url + "/echo?email=a@b.c", json={"email": "a@b.c"}, headers={"X-Tenant": "acme"}
            )
        a = attrs(t.one("http"))
        assert a[sc.HTTP_REQUEST_HEADER_PREFIX + "x-tenant"] == "[REDACTED:header]"
        assert "a@b.c" not in a[sc.URL_FULL] and "a@b.c" not in a[sc.HTTP_REQUEST_BODY]
    finally:
        t.handle.shutdown()


def test_json_redaction_keeps_structure_and_innocent_keys() -> None:
    r = Redactor()
    out = r.body(
        '{"keyword": "k", "country_code": "FR", "author": "me", "a": [{"token": 1}]}',
        "application/json",
        True,
    )
    assert '"keyword": "k"' in out and '"country_code": "FR"' in out and '"author": "me"' in out
    assert '"token": "[REDACTED:json:token]"' in out


def test_truncated_json_uses_text_path() -> None:
    r = Redactor()
    out = r.body('{"a": 1, "password": "hunter2", "b": [1, 2', "application/json", complete=False)
    assert "hunter2" not in out


def test_short_registered_secrets_ignored() -> None:
    r = Redactor(RedactionConfig(secrets=("ab", "")))
    assert r.secrets("ab cd") == "ab cd"


def test_ratelimit_parsing() -> None:
    now = 1_800_000_000.0
    got = ratelimit_attributes(
        {"x-ratelimit-limit": "60", "x-ratelimit-remaining": "3", "x-ratelimit-reset": str(int(now) + 42)},
        now,
    )
    assert got == {sc.RATELIMIT_LIMIT: 60, sc.RATELIMIT_REMAINING: 3, sc.RATELIMIT_RESET: 42}
    got = ratelimit_attributes({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now)
    assert got == {sc.RETRY_AFTER: 0}
    got = ratelimit_attributes({"ratelimit-limit": "100, 100;w=60", "retry-after": "120"}, now)
    assert got == {sc.RATELIMIT_LIMIT: 100, sc.RETRY_AFTER: 120}
    assert ratelimit_attributes({"retry-after": "soon"}, now) == {}
