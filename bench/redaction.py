"""Redaction cost: the `Redactor` at an older revision vs the current one, same inputs.

Why this shape: redaction runs on every captured call (headers, URL, bodies) and every
log line, so its per-call cost is part of the SDK overhead budget (measured end to end by
`bench.sdk_overhead`); and the collector applies it to every decoded batch
(`collector.redact.ServerRedaction`), where it was most of the ingest CPU (issue 13).
This bench isolates both: each input is redacted by both versions in the same process,
interleaved round by round, and p50 / p95 µs per call and the new/old ratio of the
medians are printed. Then whole decoded batches of the ingest bench's data (`bench.dataset`:
datagen runs, API bodies 0.2–20 KB; log records) go through the old and the new
`ServerRedaction`: µs per span and per log record, and spans per CPU-second of redaction.
The old modules are loaded from `git show <rev>:...` at run time (never copied into the
tree). Default old revision: `BASE_REV`, the last one before the one-pass hint scan.

    python -m bench.redaction                  # full run
    python -m bench.redaction --smoke          # seconds
    python -m bench.redaction --rev <commit>   # another old revision
    python -m bench.redaction --tag h4         # bench/results/redaction-h4.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
import types
from collections.abc import Callable, Sequence
from typing import Any

from bench.common import median, pct, ratio, table, write_results
from bench.crm_page import crm_page
from bench.dataset import Shape, base_dataset, exports, log_exports
from bench.old_code import module_from, source_at
from connlog.collector import redact as server_redact
from connlog.collector.batch import ColumnBatch
from connlog.collector.otlp_codec import PROTOBUF, decode_body
from connlog.instrumentation.redaction import RedactionConfig, Redactor

# The last commit with the redactor issue 10 replaced (a fixed revision, so the comparison
# stays old-vs-new once the new module is committed).
OLD_REV = "5dad5f394798b50995d76e6b0087fdc9740463a7"
# The last commit before the one-pass hint scan (issue 13): what the current redactor must
# reproduce byte for byte (tests/redaction/test_redaction_sameness.py) at a fraction of the cost.
BASE_REV = "b8aae792b7f947006aed1f0752b47f887cfa83f3"
SECRET = "sk_live_5f3a9c2e7b1d4f6a8c0e2b4d6f8a0c2e"

REQUEST_HEADERS = [
    ("host", "api.hubapi.com"),
    ("accept", "application/json"),
    ("accept-encoding", "gzip, deflate"),
    ("connection", "keep-alive"),
    ("user-agent", "python-httpx/0.28.1"),
    ("authorization", f"Bearer {SECRET}"),
    ("content-type", "application/json"),
    ("x-request-id", "3f1e0c4a-9b7d-4c1e-8f2a-6d5b4c3a2b1e"),
]
RESPONSE_HEADERS = [
    ("date", "Wed, 02 Dec 2026 03:00:00 GMT"),
    ("content-type", "application/json;charset=utf-8"),
    ("content-length", "2211"),
    ("connection", "keep-alive"),
    ("cf-ray", "8a1b2c3d4e5f6a7b-CDG"),
    ("x-hubspot-ratelimit-daily", "250000"),
    ("x-hubspot-ratelimit-daily-remaining", "249871"),
    ("x-hubspot-ratelimit-remaining", "99"),
    ("x-trace", "2B4F6A8C0E2B4D6F8A0C2E4B6D8F0A2C"),
    ("vary", "Accept-Encoding"),
    ("link", '<https://api.hubapi.com/crm/v3/objects/contacts?after=200&limit=100>; rel="next"'),
    ("strict-transport-security", "max-age=31536000; includeSubDomains; preload"),
]


BODY_2K = json.dumps(crm_page(9, detailed=True))
BODY_4K = json.dumps(crm_page(18, detailed=True))
BODY_SECRET = json.dumps({**crm_page(9, detailed=True), "auth": {"access_token": SECRET, "expires_in": 3600}})


def _with_code_keys(page: dict[str, Any]) -> dict[str, Any]:
    """`page` with `country_code` / `zip_code` in every record: a key hint (`code`) in many
    keys that hide nothing, as in many real API bodies (the free-text key pass runs)."""
    for record in page["results"]:
        record["properties"].update(country_code="FR", zip_code="75001")
    return page


BODY_HINTED = json.dumps(_with_code_keys(crm_page(18, detailed=True)))
ERROR_BODY = json.dumps(
    {"status": "error", "code": "rate_limited", "message": "Too many requests", "id": "e-42"}
)
URL = "https://api.hubapi.com/crm/v3/objects/contacts?limit=100&after=200&properties=email,firstname&hapikey=abc123"
LOG_LINES = [
    "page 12 done: 100 records in 231 ms",
    "retrying GET https://api.hubapi.com/crm/v3/objects/contacts?after=200 after 429 (attempt 2/5)",
    f"Error: password=hunter2hunter rejected, token {SECRET}",
]


# A response body and a log line as the ingest bench sends them (`bench.dataset`).
INGEST_BODY = json.dumps(
    {
        "id": "con-956813",
        "properties": {"email": "con-956813@example.com", "name": "Name con-956813"},
        "notes": [f"note {i * 7919 % 999983} lorem ipsum dolor sit amet" for i in range(240)],
    }
)
INGEST_LOG = (
    "step contacts done: {'fetched': 9, 'skipped': 1, 'updated': 3, 'unchanged': 1, "
    "'created': 1, 'failed': 1, 'deleted': 2} page=0 records=189"
)


def load_old(rev: str) -> types.ModuleType:
    """The redaction module as it was at `rev`, imported from its text (nothing written)."""
    name = "_redaction_at_" + rev.replace("~", "_").replace("^", "_")
    return module_from(name, source_at(rev, "instrumentation/redaction.py"), f"<git {rev}>")


def load_old_server(rev: str) -> types.ModuleType:
    """`collector/redact.py` as it was at `rev` (give its `ServerRedaction` an old `Redactor`)."""
    name = "_redact_at_" + rev.replace("~", "_").replace("^", "_")
    return module_from(name, source_at(rev, "collector/redact.py"), f"<git {rev}>")


def _varied(headers: list[tuple[str, str]], n: int) -> list[list[tuple[str, str]]]:
    """`n` copies of `headers` whose per-call values differ (ids, dates, sizes, next links),
    so a value cache only helps where real calls repeat themselves."""
    per_call = {"x-request-id", "date", "content-length", "cf-ray", "x-trace", "link"}
    out = []
    for i in range(n):
        out.append([(k, f"{v[:-4]}{i:04d}" if k in per_call else v) for k, v in headers])
    return out


def cases(r: Any) -> dict[str, Callable[[], object]]:
    """name -> one call's redaction work for redactor `r` (old and new share the API)."""
    requests = itertools.cycle(_varied(REQUEST_HEADERS, 1000))
    responses = itertools.cycle(_varied(RESPONSE_HEADERS, 1000))
    return {
        "request headers (8)": lambda: [r.header(k, v) for k, v in next(requests)],
        "response headers (12)": lambda: [r.header(k, v) for k, v in next(responses)],
        "url": lambda: r.url(URL),
        "json body 2 KB": lambda: r.body(BODY_2K, "application/json", True),
        "json body 4 KB": lambda: r.body(BODY_4K, "application/json", True),
        "json body with token": lambda: r.body(BODY_SECRET, "application/json", True),
        "json body 5 KB, code keys": lambda: r.body(BODY_HINTED, "application/json", True),
        "error body": lambda: r.body(ERROR_BODY, "application/json", True),
        "log lines (3)": lambda: [r.text(line) for line in LOG_LINES],
        "ingest bench body 11 KB": lambda: r.body(INGEST_BODY, "application/json", True),
        "ingest bench log line": lambda: r.text(INGEST_LOG),
    }


def _time(fn: Callable[[], object], n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - start) / n * 1e6


def _dist(values: list[float]) -> dict[str, float]:
    return {"p50": round(median(values), 2), "p95": round(pct(values, 95), 2)}


def bench(smoke: bool, rev: str = BASE_REV) -> dict[str, Any]:
    old_mod = load_old(rev)
    old = old_mod.Redactor(old_mod.RedactionConfig(secrets=(SECRET,)))
    new = Redactor(RedactionConfig(secrets=(SECRET,)))
    old_cases, new_cases = cases(old), cases(new)
    rounds, n = (3, 50) if smoke else (15, 400)
    samples: dict[str, dict[str, list[float]]] = {k: {"old": [], "new": []} for k in new_cases}
    for _ in range(rounds):
        for name in new_cases:
            samples[name]["old"].append(_time(old_cases[name], n))
            samples[name]["new"].append(_time(new_cases[name], n))
    rows: dict[str, dict[str, Any]] = {}
    for name, s in samples.items():
        o, w = median(s["old"]), median(s["new"])
        rows[name] = {
            "old_us": round(o, 2),
            "new_us": round(w, 2),
            "old_p95_us": round(pct(s["old"], 95), 2),
            "new_p95_us": round(pct(s["new"], 95), 2),
            "new_over_old": ratio(w, o),
        }
    per_call = ("request headers (8)", "response headers (12)", "url", "json body 2 KB")
    old_call = sum(rows[k]["old_us"] for k in per_call)
    new_call = sum(rows[k]["new_us"] for k in per_call)
    return {
        "params": {"rounds": rounds, "calls_per_round": n, "rev": rev},
        "inputs": rows,
        "one_http_call": {
            "old_us": round(old_call, 2),
            "new_us": round(new_call, 2),
            "added_us": round(new_call - old_call, 2),
            "new_over_old": ratio(new_call, old_call),
        },
        "server": server_bench(smoke, rev),
    }


def ingest_batches(spans: int, logs: int) -> list[ColumnBatch]:
    """Decoded batches of the ingest bench's data (~512 spans or log records each)."""
    end_ns = time.time_ns()
    shape = Shape(spans=spans, end_ns=end_ns, days=1 / 24, base_runs=6 if spans < 5000 else 40)
    bodies = [("traces", e.body) for e in exports(shape, base_dataset(shape)) if e.signal == "traces"]
    bodies += [("logs", e.body) for e in log_exports(logs, end_ns)]
    return [decode_body(signal, body, PROTOBUF) for signal, body in bodies]


def _copy(batch: ColumnBatch) -> ColumnBatch:
    """A batch whose column lists are fresh (`ServerRedaction` replaces their items)."""
    return ColumnBatch(batch.table, batch.signal, batch.columns, [list(c) for c in batch.data], batch.rows)


def server_bench(smoke: bool, rev: str = BASE_REV) -> dict[str, Any]:
    """Old vs new `ServerRedaction` (built-in rules, as `default_redaction` with no secrets
    configured) over the same decoded batches, CPU time, interleaved round by round. Each
    round starts from fresh transforms, so their per-value memo is as warm as after
    one pass over the data, not more."""
    old_mod, old_server = load_old(rev), load_old_server(rev)
    spans_n, logs_n, rounds = (1500, 1000, 3) if smoke else (20_000, 10_000, 7)
    batches = ingest_batches(spans_n, logs_n)
    spans = sum(b.rows for b in batches if b.signal == "spans")
    logs = sum(b.rows for b in batches if b.signal == "logs")
    makers: dict[str, Callable[[], Any]] = {
        "old": lambda: old_server.ServerRedaction(old_mod.Redactor(old_mod.RedactionConfig())),
        "new": lambda: server_redact.ServerRedaction(Redactor(RedactionConfig())),
    }
    us: dict[str, dict[str, list[float]]] = {v: {"spans": [], "logs": []} for v in makers}
    for i in range(rounds):
        for variant in sorted(makers, reverse=i % 2 == 1):  # alternate which goes first
            transform = makers[variant]()
            for signal, count in (("spans", spans), ("logs", logs)):
                copies = [_copy(b) for b in batches if b.signal == signal]
                t0 = time.process_time()
                for b in copies:
                    transform(b)
                us[variant][signal].append((time.process_time() - t0) / count * 1e6)
    out: dict[str, Any] = {"n_spans": spans, "n_logs": logs, "rounds": rounds}
    for signal in ("spans", "logs"):
        o, w = _dist(us["old"][signal]), _dist(us["new"][signal])
        out[signal] = {
            "old_us_per_item": o,
            "new_us_per_item": w,
            "new_over_old": ratio(w["p50"], o["p50"]),
            "old_items_per_cpu_s": round(1e6 / o["p50"]) if o["p50"] else None,
            "new_items_per_cpu_s": round(1e6 / w["p50"]) if w["p50"] else None,
        }
    return out


def report(res: dict[str, Any]) -> None:
    table(
        f"Redaction cost per call, µs (old = git {res['params']['rev'][:7]})",
        ["input", "old p50", "old p95", "new p50", "new p95", "new / old (p50)"],
        [
            [k, v["old_us"], v["old_p95_us"], v["new_us"], v["new_p95_us"], v["new_over_old"]]
            for k, v in res["inputs"].items()
        ],
    )
    srv = res["server"]
    table(
        f"Collector ServerRedaction over the ingest bench's batches ({srv['n_spans']:,} spans, "
        f"{srv['n_logs']:,} logs, {srv['rounds']} rounds), CPU µs per item",
        [
            "signal",
            "old p50",
            "old p95",
            "new p50",
            "new p95",
            "new / old",
            "old items/CPU-s",
            "new items/CPU-s",
        ],
        [
            [
                sig,
                v["old_us_per_item"]["p50"],
                v["old_us_per_item"]["p95"],
                v["new_us_per_item"]["p50"],
                v["new_us_per_item"]["p95"],
                v["new_over_old"],
                v["old_items_per_cpu_s"],
                v["new_items_per_cpu_s"],
            ]
            for sig, v in ((k, srv[k]) for k in ("spans", "logs"))
        ],
    )
    c = res["one_http_call"]
    table(
        "One captured HTTP call (8 request + 12 response headers, URL, 2 KB JSON body)",
        ["old µs", "new µs", "added µs", "new / old"],
        [[c["old_us"], c["new_us"], c["added_us"], c["new_over_old"]]],
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--rev", default=BASE_REV, help="git revision of the old redactor")
    parser.add_argument("--tag", default="", help="results file bench/results/redaction-<tag>.json")
    args = parser.parse_args(argv)
    res = bench(args.smoke, args.rev)
    report(res)
    write_results("redaction" + (f"-{args.tag}" if args.tag else ""), res, smoke=args.smoke)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
