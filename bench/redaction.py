"""Redaction cost: the previous `Redactor` (from git HEAD) vs the current one, same inputs.

Why this shape: redaction runs on every captured call (headers, URL, bodies) and every
log line, so its per-call cost is part of the SDK overhead budget (≤ 0.35 × logfire's,
measured end to end by `bench.sdk_overhead`). This bench isolates it: each input is
redacted by both versions in the same process, interleaved round by round, and the
median µs per call and the new/old ratio are printed. The old module is loaded from
`git show <rev>:instrumentation/redaction.py` at run time (never copied into the tree).

    python -m bench.redaction            # full run
    python -m bench.redaction --smoke    # seconds
    python -m bench.redaction --rev <commit>   # another old revision
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
import types
from collections.abc import Callable, Sequence
from typing import Any

from bench.common import median, ratio, table, write_results
from bench.crm_page import crm_page
from bench.old_code import module_from, source_at
from connlog.instrumentation.redaction import RedactionConfig, Redactor

# The last commit with the redactor issue 10 replaced (a fixed revision, so the comparison
# stays old-vs-new once the new module is committed).
OLD_REV = "5dad5f394798b50995d76e6b0087fdc9740463a7"
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
ERROR_BODY = json.dumps(
    {"status": "error", "code": "rate_limited", "message": "Too many requests", "id": "e-42"}
)
URL = "https://api.hubapi.com/crm/v3/objects/contacts?limit=100&after=200&properties=email,firstname&hapikey=abc123"
LOG_LINES = [
    "page 12 done: 100 records in 231 ms",
    "retrying GET https://api.hubapi.com/crm/v3/objects/contacts?after=200 after 429 (attempt 2/5)",
    f"Error: password=hunter2hunter rejected, token {SECRET}",
]


def load_old(rev: str) -> types.ModuleType:
    """The redaction module as it was at `rev`, imported from its text (nothing written)."""
    name = "_redaction_at_" + rev.replace("~", "_").replace("^", "_")
    return module_from(name, source_at(rev, "instrumentation/redaction.py"), f"<git {rev}>")


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
        "error body": lambda: r.body(ERROR_BODY, "application/json", True),
        "log lines (3)": lambda: [r.text(line) for line in LOG_LINES],
    }


def _time(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def bench(smoke: bool, rev: str = OLD_REV) -> dict[str, Any]:
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
        rows[name] = {"old_us": round(o, 2), "new_us": round(w, 2), "new_over_old": ratio(w, o)}
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
    }


def report(res: dict[str, Any]) -> None:
    table(
        f"Redaction cost per call, µs p50 (old = git {res['params']['rev'][:7]})",
        ["input", "old µs", "new µs", "new / old"],
        [[k, v["old_us"], v["new_us"], v["new_over_old"]] for k, v in res["inputs"].items()],
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
    parser.add_argument("--rev", default=OLD_REV, help="git revision of the old redactor")
    args = parser.parse_args(argv)
    res = bench(args.smoke, args.rev)
    report(res)
    write_results("redaction", res, smoke=args.smoke)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
