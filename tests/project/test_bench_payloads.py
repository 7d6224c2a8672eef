"""`bench.payloads`: the generated API bodies have the shapes they claim, and the bench stores,
recompresses and reads every row in every codec variant (its numbers are only as good as that).

Sizes and timings are not asserted (they are the bench's output, see docs/performance.md);
what is asserted could break: JSON validity, shapes, cursors, reproducibility, rows stored =
rows generated, the codec each old partition ends in, and that RECOMPRESS leaves columns with
an explicit CODEC alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from bench import payloads as pl
from connlog.collector.schema import names as n
from connlog.collector.schema.ddl import HOT_CODEC
from connlog.instrumentation.semconv import REDACTED_PREFIX

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def generated() -> list[pl.Payload]:
    return pl.generate(1_500, seed=7)


def test_generation_is_reproducible_and_seeded() -> None:
    a, b, c = pl.generate(200, seed=3), pl.generate(200, seed=3), pl.generate(200, seed=4)
    assert [(p.trace_id, p.response_body, p.request_headers) for p in a] == [
        (p.trace_id, p.response_body, p.request_headers) for p in b
    ]
    assert [p.response_body for p in a] != [p.response_body for p in c]


def test_every_kind_is_generated_and_bodies_are_json_within_size(generated: list[pl.Payload]) -> None:
    assert len(generated) == 1_500
    assert {p.kind for p in generated} == set(pl.KINDS)
    sizes = []
    for p in generated:
        for body in (p.request_body, p.response_body):
            if body and p.kind != pl.STRIPE_OBJECT:  # Stripe writes are form-encoded, as Stripe's API
                json.loads(body)
        assert len(p.response_body) <= pl.MAX_BODY + 1_000, (p.kind, len(p.response_body))
        sizes.append(len(p.request_body) + len(p.response_body))
    assert min(s for s in sizes if s) >= 100
    assert max(sizes) >= 10_000  # list pages reach the page-size cap
    assert 1_000 < sum(sizes) / len(sizes) < 15_000


def _by_kind(rows: list[pl.Payload], kind: str) -> list[Any]:
    docs = [json.loads(p.response_body) for p in rows if p.kind == kind and p.response_body]
    assert docs, kind
    return docs


def test_list_pages_have_the_vendor_shapes(generated: list[pl.Payload]) -> None:
    for doc in _by_kind(generated, pl.HUBSPOT_LIST):
        assert doc["results"]
        for rec in doc["results"]:
            assert {"id", "properties", "createdAt", "updatedAt", "archived"} <= set(rec)
            assert rec["id"].isdigit()
            assert "hs_object_id" in rec["properties"]
        if "paging" in doc:
            assert doc["paging"]["next"]["after"].isdigit()
    for doc in _by_kind(generated, pl.STRIPE_LIST):
        assert doc["object"] == "list" and isinstance(doc["has_more"], bool) and doc["data"]
        for obj in doc["data"]:
            assert obj["object"] in ("customer", "charge")
            assert obj["id"].startswith("cus_" if obj["object"] == "customer" else "ch_")
    for doc in _by_kind(generated, pl.SALESFORCE_QUERY):
        assert isinstance(doc["done"], bool) and doc["records"]
        assert all(r["attributes"]["type"] == "Account" and len(r["Id"]) == 18 for r in doc["records"])
        assert doc["done"] or doc["nextRecordsUrl"].startswith("/services/data/")
    for doc in _by_kind(generated, pl.NETSUITE_SUITEQL):
        assert doc["count"] == len(doc["items"]) and isinstance(doc["hasMore"], bool)
    for doc in _by_kind(generated, pl.NETSUITE_RECORD):
        assert doc["links"][0]["rel"] == "self" and doc["item"]["items"] and doc["tranId"].startswith("SO")
    graphql = _by_kind(generated, pl.GRAPHQL)
    pages = [d for d in graphql if "data" in d]
    assert pages and all(d["data"]["orders"]["edges"][0]["node"]["id"].startswith("gid://") for d in pages)
    assert all(d["data"]["orders"]["pageInfo"]["endCursor"] for d in pages)
    for doc in _by_kind(generated, pl.ERROR):
        assert doc["error"]["code"] and doc["error"]["message"]


def test_pages_of_a_run_differ_and_chain_cursors(generated: list[pl.Payload]) -> None:
    """Per-request variation: each page of a run brings new records and a new cursor."""
    ids: dict[str, list[str]] = defaultdict(list)
    cursors: dict[str, list[str]] = defaultdict(list)
    for p in generated:
        if p.kind == pl.HUBSPOT_LIST:
            doc = json.loads(p.response_body)
            ids[p.trace_id] += [r["id"] for r in doc["results"]]
            if "paging" in doc:
                cursors[p.trace_id].append(doc["paging"]["next"]["after"])
    assert any(len(c) >= 2 for c in cursors.values())
    for trace, found in ids.items():
        assert len(found) == len(set(found)), trace
    for trace, found in cursors.items():
        assert len(found) == len(set(found)), trace


def test_headers_are_typical_and_redacted(generated: list[pl.Payload]) -> None:
    outgoing = [p for p in generated if p.kind != pl.WEBHOOK]
    assert all(p.request_headers["authorization"].startswith(REDACTED_PREFIX) for p in outgoing)
    assert all("user-agent" in p.request_headers and "date" in p.response_headers for p in generated)
    assert all(p.response_headers["content-length"] == str(len(p.response_body)) for p in generated)
    assert {p.service for p in generated} >= {"hubspot-connector", "stripe-connector", "webhook-receiver"}
    # Rows are in time order and a run's spans share its trace id.
    assert [p.ts_ns for p in generated] == sorted(p.ts_ns for p in generated)


@pytest.mark.timeout(120)
def test_smoke_run_stores_every_row_in_every_variant(tmp_path: Path) -> None:
    # Parts on tmpfs when there is one: the bench creates a few hundred small parts and a
    # shared disk makes that the slowest thing in the run.
    shm = Path("/dev/shm")
    work = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() and os.access(shm, os.W_OK) else tmp_path
    results = tmp_path / "results"
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "bench.payloads", "--smoke", "--rows", "600", "--reads", "3"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=110,
            check=False,
            env={**os.environ, "CONNLOG_BENCH_RESULTS": str(results), "CONNLOG_BENCH_SMOKE_DIR": str(work)},
        )
    finally:
        if work != tmp_path:
            subprocess.run(["rm", "-rf", str(work)], check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads((results / "payloads-smoke.json").read_text())
    rows = doc["generated"]["rows"]
    assert rows == 600 and sum(doc["generated"]["kinds"].values()) == 600
    variants = doc["variants"]
    assert set(variants) == {v.key for v in pl.VARIANTS} - pl.SMOKE_SKIP
    for key, v in variants.items():
        assert v["rows"] == rows, key
        assert v["reads_ok"], key
        assert v["cold_bytes_on_disk"] > 0 and v["bytes_on_disk"] > v["cold_bytes_on_disk"], key
        hot = next((s.split("'")[1] for s in v["ddl"] if "default_compression_codec" in s), HOT_CODEC)
        assert v["cold_codecs"] == [v["expected_cold_codec"] or hot], key
        assert v["hot_codecs"] == [hot], key
    # RECOMPRESS re-encodes columns that use the table default, never those with their own CODEC.
    col = variants["explicit"]["columns"][n.C_RESPONSE_BODY]["compressed"]
    assert col == variants["zstd1"]["columns"][n.C_RESPONSE_BODY]["compressed"]
    assert variants["r12"]["columns"][n.C_RESPONSE_BODY]["compressed"] < col
    # The proposed DDL, applied to today's schema holding data, ends where its variant did.
    prop = doc["candidate"]
    assert prop["rows"] == rows
    assert prop["cold_codecs"] == [variants[pl.CANDIDATE_MATCHES]["expected_cold_codec"]]
    assert prop["bytes_on_disk"] == variants[pl.CANDIDATE_MATCHES]["bytes_on_disk"]
