"""Property-based requests generated from the OpenAPI spec: no input produces a 500.

Every operation gets a few dozen generated requests (valid and invalid parameters) with an
admin key; the answers must never be a server error and error bodies keep the one shape.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.core import NotSet
from test_api_support import ADMIN, ApiEnv, api, bearer  # noqa: F401 - session fixture

EXAMPLES = 25


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


def test_no_operation_answers_500(api: ApiEnv) -> None:  # noqa: F811
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 17
    seen: dict[str, set[int]] = {}
    for op in operations:
        _fuzz(api.client, op, f"{op.method.upper()} {op.path}", seen)
    assert all(codes for codes in seen.values())
