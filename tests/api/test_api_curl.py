"""Copy as cURL: the stored call, without the transport's own headers."""

from __future__ import annotations

import shlex

from connlog.query_api.queries.calls import curl_command


def test_curl_leaves_transport_headers_to_curl_and_keeps_the_rest() -> None:
    headers = {
        "Host": "api.example.test",
        "content-length": "512",  # the original body's length: wrong after redaction
        "connection": "keep-alive",
        "accept-encoding": "gzip, deflate",
        "authorization": "[REDACTED:header]",
        "content-type": "application/json",
    }
    body = '{"email":"[REDACTED:key]"}'
    argv = shlex.split(curl_command("POST", "https://api.example.test/v1/x?y=1", headers, body))
    assert argv[:4] == ["curl", "-X", "POST", "https://api.example.test/v1/x?y=1"]
    sent = [argv[i + 1] for i, a in enumerate(argv) if a == "-H"]
    assert sent == ["authorization: [REDACTED:header]", "content-type: application/json"]
    assert "--compressed" in argv
    assert argv[-2:] == ["--data-raw", body]


def test_curl_of_a_bodyless_get_is_minimal() -> None:
    assert curl_command("GET", "https://h.test/a b", None, None) == "curl -X GET 'https://h.test/a b'"
