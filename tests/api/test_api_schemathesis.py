"""Property-based requests generated from the OpenAPI spec: no input produces a 500.

Every operation gets a few dozen generated requests (valid and invalid parameters) with an
admin key; the answers must never be a server error and error bodies keep the one shape.
A second run throws hostile values at every query and path parameter of every GET route:
numbers at and past a float's edges, NaN, forged and edited cursors, unicode and control
characters, overlong strings (issue 10, item 8).
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core import NotSet
from schemathesis.core.result import Ok

from connlog.query_api import cursor
from tests.api_env import ADMIN, ApiEnv, bearer

EXAMPLES = 25
HOSTILE_EXAMPLES = 40


def _b64(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


NUMBERS = (
    "1e308", "-1e308", "1.7976931348623157e308", "nan", "-nan", "NaN", "inf", "-Infinity", "-1", "0",
    "-0", "1e-320", "9" * 40, "-9223372036854775809", "18446744073709551616", "0x10", "1_000", "4e9",
)  # fmt: skip
TEXT = (
    "", " ", "\u0000", "\x00", "\U0001f600", "\u202e\u0627", "\ud7ff\uffff", "\u00e9" * 2001, "x" * 10_001,
    "'; DROP TABLE otel_traces; --", "%00", "%", "_", "\\", "{x:String}", "../../etc/passwd", "\r\n",
)  # fmt: skip
CURSORS = (
    _b64(["logs", 1, "0" * 32, "0" * 16, "not-a-number"]),
    _b64(["logs", 1, "0" * 32, "0" * 16, "-5"]) + ".AAAAAAAAAAAAAAAAAAAAAA",
    _b64(["runs", 10**30, "x"]),
    _b64(["calls", -(2**63) - 1, "x"]),
    "a.b",
    ".",
    "=" * 50,
    cursor.encode("logs", [1, "0" * 32, "0" * 16, "1"])[:-2] + "AA",  # an edited signature
    cursor.encode("runs", [1, "0" * 32]),  # a real cursor of another list, on most routes
)
HOSTILE = st.sampled_from(NUMBERS + TEXT + CURSORS) | st.text(max_size=40)


def _fuzz(client: TestClient, op: Any, label: str, seen: dict[str, set[int]]) -> None:
    seen[label] = set()

    @given(case=op.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        # schemathesis' own transport breaks on the installed urllib3; the TestClient is the same ASGI app
        kwargs: dict[str, Any] = {"params": case.query, "headers": {**(case.headers or {}), **bearer(ADMIN)}}
        if not isinstance(case.body, NotSet):
            kwargs["json"] = case.body
        resp = client.request(case.method, case.formatted_path, **kwargs)
        seen[label].add(resp.status_code)
        assert resp.status_code < 500, (label, case.path_parameters, case.query, resp.text[:300])
        if resp.status_code >= 400:
            assert set(resp.json()) == {"error"}

    check()


def test_no_operation_answers_500(api: ApiEnv) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    results = list(schema.get_all_operations())
    assert all(isinstance(result, Ok) for result in results), results
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) >= 17
    seen: dict[str, set[int]] = {}
    for op in operations:
        _fuzz(api.client, op, f"{op.method.upper()} {op.path}", seen)
    assert all(codes for codes in seen.values())


def _hostile(client: TestClient, path: str, query_names: list[str], path_names: list[str]) -> None:
    @given(
        query=st.dictionaries(st.sampled_from(query_names), HOSTILE, max_size=4)
        if query_names
        else st.just({}),
        path_values=st.fixed_dictionaries({name: HOSTILE for name in path_names}),
    )
    @settings(
        max_examples=HOSTILE_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def check(query: dict[str, str], path_values: dict[str, str]) -> None:
        url = path
        for name, value in path_values.items():
            url = url.replace("{" + name + "}", quote(value, safe="") or "x")
        resp = client.get(url, params=query, headers=bearer(ADMIN))
        assert resp.status_code < 500, (path, query, path_values, resp.text[:300])
        if resp.status_code >= 400:
            body = resp.json()
            assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}

    check()


def test_hostile_values_in_every_parameter_never_answer_500(api: ApiEnv) -> None:
    spec = api.client.get("/openapi.json").json()
    tried = 0
    for path, methods in spec["paths"].items():
        op = methods.get("get")
        if op is None or not path.startswith("/api/v1/"):
            continue
        params = op.get("parameters", [])
        query_names = [p["name"] for p in params if p["in"] == "query"]
        path_names = [p["name"] for p in params if p["in"] == "path"]
        _hostile(api.client, path, query_names, path_names)
        tried += 1
    assert tried >= 15
