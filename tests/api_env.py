"""Shared fixture for the query API tests: one dataset sent through the real collector.

`datagen` builds deterministic connector telemetry as OTLP protobuf; it is POSTed to a
running `CollectorServer` (OTLP/HTTP -> batcher -> chDB, materialized views) exactly as an
SDK would send it, once per test session (the `pipeline` fixture is per test, and ingesting
for every test would dominate the runtime). Expected answers are computed from what was
sent: `RunTruth` for run-level facts and the sent spans and logs themselves for the rest.

Other `test_api_*` modules import the fixture from here: `from test_api_support import *`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient

from connlog import datagen
from connlog.collector.config import Settings
from connlog.query_api.auth import AuthConfig
from connlog.query_api.timeutil import NS

ADMIN = "admin-key-0000000000000000"
VIEWER = "viewer-key-000000000000000"
SCOPED = "scoped-key-000000000000000"  # viewer limited to hubspot
SCOPED_ADMIN = "scoped-admin-key-000000000"  # admin limited to chargebee
SCOPED_CONNECTOR = "hubspot"


WINDOWED = {f"/api/v1/{name}" for name in ("runs", "calls", "faults", "logs", "search")}


def bearer(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


@dataclass
class SentSpan:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    connector: str
    attrs: dict[str, Any]
    start_ns: int
    end_ns: int
    error: bool
    message: str
    events: list[tuple[str, dict[str, Any]]]


@dataclass
class SentLog:
    trace_id: str
    span_id: str
    connector: str
    severity_number: int
    severity_text: str
    body: str
    ts_ns: int


@dataclass
class Sent:
    """Everything the dataset sent, indexed for computing expected answers."""

    ds: datagen.Dataset
    spans: dict[str, SentSpan] = field(default_factory=dict)
    by_trace: dict[str, list[SentSpan]] = field(default_factory=lambda: defaultdict(list))
    logs: list[SentLog] = field(default_factory=list)

    @classmethod
    def of(cls, ds: datagen.Dataset) -> Sent:
        sent = cls(ds)
        for req in ds.trace_requests:
            for rs in req.resource_spans:
                res = {kv.key: _value(kv.value) for kv in rs.resource.attributes}
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        span = SentSpan(
                            trace_id=s.trace_id.hex(),
                            span_id=s.span_id.hex(),
                            parent_id=s.parent_span_id.hex(),
                            name=s.name,
                            connector=str(res["service.name"]),
                            attrs={kv.key: _value(kv.value) for kv in s.attributes},
                            start_ns=s.start_time_unix_nano,
                            end_ns=s.end_time_unix_nano,
                            error=s.status.code == 2,
                            message=s.status.message,
                            events=[
                                (e.name, {kv.key: _value(kv.value) for kv in e.attributes}) for e in s.events
                            ],
                        )
                        sent.spans[span.span_id] = span
                        sent.by_trace[span.trace_id].append(span)
        for log_req in ds.log_requests:
            for rl in log_req.resource_logs:
                res = {kv.key: _value(kv.value) for kv in rl.resource.attributes}
                for sl in rl.scope_logs:
                    for r in sl.log_records:
                        sent.logs.append(
                            SentLog(
                                r.trace_id.hex(),
                                r.span_id.hex(),
                                str(res["service.name"]),
                                r.severity_number,
                                r.severity_text,
                                r.body.string_value,
                                r.time_unix_nano,
                            )
                        )
        return sent

    def role(self, role: str) -> list[SentSpan]:
        return [s for s in self.spans.values() if s.attrs.get("connector.role") == role]


@dataclass
class ApiEnv:
    client: TestClient
    sent: Sent
    settings: Settings
    start_ns: int  # every span of the dataset starts at or after this
    end_ns: int

    @property
    def truth(self) -> list[datagen.RunTruth]:
        return self.sent.ds.runs

    def get(self, url: str, key: str | None = ADMIN, **params: Any) -> Any:
        """GET with the whole dataset's time range unless the test gives one."""
        if url.rstrip("/") in WINDOWED or url.startswith("/api/v1/export/"):
            params.setdefault("from", str(self.start_ns // NS - 3600))
        return self.client.get(url, params=params, headers=bearer(key))

    def ok(self, url: str, key: str | None = ADMIN, **params: Any) -> Any:
        resp = self.get(url, key, **params)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def all_items(self, url: str, key: str | None = ADMIN, **params: Any) -> list[dict[str, Any]]:
        """Follow cursors to the end."""
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.ok(url, key, **params, **({"cursor": cursor} if cursor else {}))
            items += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return items


def _auth() -> AuthConfig:
    auth = AuthConfig()
    auth.add(ADMIN, "admin", name="admin")
    auth.add(VIEWER, "viewer", name="viewer")
    auth.add(SCOPED, "viewer", [SCOPED_CONNECTOR], name="scoped")
    auth.add(SCOPED_ADMIN, "admin", ["chargebee"], name="scoped-admin")
    return auth
