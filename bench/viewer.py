"""Viewer screens vs the JSON routes they wrap: server time side by side, and page bytes.

Each screen calls the same query functions as a JSON route; this measures what the HTML
costs on top (more queries on some screens, template rendering, compression). Screen and
route are timed alternately on the same samples (runs, steps, calls, records picked from
the dataset), in one process, through the ASGI app (no network), auth off.

    python -m bench.viewer [--spans 200000] [--samples 10] [--smoke] [--only step]
    python -m bench.viewer --waterfall   # one run of 5,000+ spans: its waterfall vs /traces/{id}
    python -m bench.viewer --spans 1000000 --data viewer-copy --tag viewer-try  # another cache, own results

Reports p50/p95 of each, the p95 ratio, and the page size sent (gzip, as browsers ask)
and uncompressed. The dataset is built through the real collector by `bench.chdata` and
cached under bench/data/viewer (its own chDB directory, so it can run beside other areas).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from typing import Any

from bench import chdata
from bench.common import DATA_DIR, median, pct, ratio, table, write_results
from bench.queries import Samples, _iso, pick_samples

Pair = tuple[str, dict[str, Any] | None, str, dict[str, Any] | None]


@dataclass
class Side:
    ms: list[float] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)
    raw: list[int] = field(default_factory=list)
    statuses: set[int] = field(default_factory=set)


def pairs(s: Samples) -> dict[str, list[Pair]]:
    """(viewer path, params, JSON path, params) per screen, one per sample."""
    day = {"from": _iso(s.window[0]), "to": _iso(s.window[1])}
    month = {"from": _iso(s.month[0]), "to": _iso(s.month[1])}
    v1 = "/api/v1"
    return {
        "runs list (24h)": [("/", day, f"{v1}/runs", day)],
        "runs list fragment (24h)": [("/fragments/runs", day, f"{v1}/runs", day)],
        "run": [(f"/runs/{r}", None, f"{v1}/runs/{r}", None) for r in s.runs],
        "step: pages": [
            (f"/runs/{r}/steps/{st}", None, f"{v1}/runs/{r}/steps/{st}/pages", None) for r, st in s.steps
        ],
        "call detail": [(f"/calls/{c}", {"run": r}, f"{v1}/calls/{c}", {"run": r}) for r, c in s.calls],
        "trace waterfall": [(f"/runs/{r}/trace", None, f"{v1}/traces/{r}", None) for r in s.runs],
        "calls list (24h)": [("/calls", day, f"{v1}/calls", day)],
        "faults (30d)": [("/faults", month, f"{v1}/faults", month)],
        "logs (24h, error+)": [("/logs", {**day, "severity": "3"}, f"{v1}/logs", {**day, "severity": "3"})],
        "search record (30d)": [
            ("/search", {**month, "q": q}, f"{v1}/search", {**month, "q": q}) for q in s.records
        ],
    }


def _time(http: Any, path: str, params: dict[str, Any] | None, side: Side) -> None:
    t0 = time.perf_counter()
    resp = http.get(path, params=params, headers={"Accept-Encoding": "gzip"})
    body = resp.content
    side.ms.append((time.perf_counter() - t0) * 1000)
    side.statuses.add(resp.status_code)
    side.raw.append(len(body))
    side.sent.append(int(resp.headers.get("content-length", len(body))))


def run(
    spans: int,
    samples: int,
    reps: int,
    smoke: bool,
    only: tuple[str, ...] = (),
    data: str = "viewer",
    tag: str = "",
    q10m: str = "",
) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from connlog.query_api.app import create_app
    from connlog.query_api.auth import AuthConfig

    data_dir = DATA_DIR / ("viewer-smoke" if smoke else data)
    data_dir.mkdir(parents=True, exist_ok=True)
    database = "viewer"
    cached = chdata.load(data_dir, q10m) if q10m and not smoke else None
    if q10m and cached is None:
        raise SystemExit(
            f"no {q10m} dataset in {data_dir}: build it with `python -m bench.queries --sizes 10m`"
        )
    if cached is not None:  # the 10M-span set of bench.queries (bulk-built), read as it is
        built, database = cached, q10m
    else:
        built = chdata.build_ingest(data_dir, database, 4_000 if smoke else spans, smoke=smoke)
    for change in chdata.migrate(data_dir, database):  # a cache built before the latest schema
        print(change)
    plain = chdata.client_for(data_dir, database)
    s = pick_samples(plain, built.end_ns, samples)
    plain.close()
    app = create_app(
        chdata.settings_for(data_dir, database),
        client_factory=lambda: chdata.client_for(data_dir, database),
        auth=AuthConfig(disabled=True),
    )
    rows: list[list[Any]] = []
    results: list[dict[str, Any]] = []
    with TestClient(app) as http:
        for name, reqs in pairs(s).items():
            if not reqs or (only and not any(o in name for o in only)):
                continue
            screen, api = Side(), Side()
            _time(http, *reqs[0][:2], Side())  # warm-up: templates compiled, caches filled
            for i in range(max(reps, len(reqs))):
                vpath, vparams, jpath, jparams = reqs[i % len(reqs)]
                _time(http, vpath, vparams, screen)
                _time(http, jpath, jparams, api)
            r95 = ratio(pct(screen.ms, 95), pct(api.ms, 95))
            rows.append(
                [
                    name,
                    median(screen.ms),
                    pct(screen.ms, 95),
                    median(api.ms),
                    pct(api.ms, 95),
                    r95,
                    round(max(screen.sent) / 1024, 1),
                    round(max(screen.raw) / 1024, 1),
                    ",".join(map(str, sorted(screen.statuses | api.statuses))),
                ]
            )
            results.append(
                {
                    "screen": name,
                    "screen_p50_ms": median(screen.ms),
                    "screen_p95_ms": pct(screen.ms, 95),
                    "json_p50_ms": median(api.ms),
                    "json_p95_ms": pct(api.ms, 95),
                    "ratio_p95": r95,
                    "page_kb_sent_max": rows[-1][6],
                    "page_kb_raw_max": rows[-1][7],
                    "statuses": sorted(screen.statuses | api.statuses),
                    "n": len(screen.ms),
                }
            )
    table(
        f"viewer screens vs JSON routes, {built.spans:,} spans ({built.method})",
        ["screen", "p50 ms", "p95 ms", "JSON p50", "JSON p95", "ratio p95", "KB sent", "KB raw", "status"],
        rows,
    )
    payload = {"spans": built.spans, "samples": samples, "reps": reps, "only": list(only), "results": results}
    # A subset of screens must not replace the full table's results.
    write_results(tag or ("viewer-partial" if only else "viewer"), payload, smoke=smoke)
    return payload


WATERFALL_SPANS = 5_000


def waterfall(reps: int, smoke: bool, tag: str = "") -> dict[str, Any]:
    """The trace waterfall of one run of 5,000+ spans beside `GET /traces/{id}`: server time and
    the page sent (gzip) and raw. The run (datagen: 3 steps x 30 pages x 40 records, ~5,200
    spans) goes through the real collector into its own chDB directory, rebuilt each time
    (seconds)."""
    import uuid

    from fastapi.testclient import TestClient

    from connlog import datagen
    from connlog.collector.options import CollectorOptions
    from connlog.collector.schema.migrate import apply_schema
    from connlog.collector.server import CollectorServer
    from connlog.query_api.app import create_app
    from connlog.query_api.auth import AuthConfig

    data_dir = DATA_DIR / "viewer-waterfall"
    data_dir.mkdir(parents=True, exist_ok=True)
    database = f"waterfall_{uuid.uuid4().hex[:6]}"
    settings = chdata.settings_for(data_dir, database)
    client = chdata.client_for(data_dir, database)
    apply_schema(client, settings)
    ds = datagen.generate(seed=3, runs=1, running=0, failure_rate=0.0, pages=(30, 30), entities=(40, 40))
    run = ds.runs[0]
    collector = CollectorServer(
        settings, http_port=0, grpc_port=0, options=CollectorOptions(batch_max_delay_s=0.1)
    )
    collector.start()
    try:
        datagen.send(ds, collector.http_endpoint)
        assert collector.flush(60)
    finally:
        collector.stop()
    client.close()
    app = create_app(
        settings, client_factory=lambda: chdata.client_for(data_dir, database), auth=AuthConfig(disabled=True)
    )
    screen, api = Side(), Side()
    with TestClient(app) as http:
        _time(http, f"/runs/{run.run_id}/trace", None, Side())  # warm-up
        for _ in range(3 if smoke else reps):
            _time(http, f"/runs/{run.run_id}/trace", None, screen)
            _time(http, f"/api/v1/traces/{run.run_id}", None, api)
    drop = chdata.client_for(data_dir, database)
    drop.command(f"DROP DATABASE IF EXISTS {database} SYNC")
    drop.close()
    result = {
        "spans": run.span_count,
        "screen_p50_ms": median(screen.ms),
        "screen_p95_ms": pct(screen.ms, 95),
        "json_p50_ms": median(api.ms),
        "json_p95_ms": pct(api.ms, 95),
        "ratio_p95": ratio(pct(screen.ms, 95), pct(api.ms, 95)),
        "page_kb_sent": round(max(screen.sent) / 1024, 1),
        "page_kb_raw": round(max(screen.raw) / 1024, 1),
        "json_kb_sent": round(max(api.sent) / 1024, 1),
        "statuses": sorted(screen.statuses | api.statuses),
        "n": len(screen.ms),
    }
    table(
        f"trace waterfall of one run of {run.span_count:,} spans vs GET /traces/{{id}}",
        [
            "screen",
            "p50 ms",
            "p95 ms",
            "JSON p50",
            "JSON p95",
            "ratio p95",
            "KB sent",
            "KB raw",
            "JSON KB sent",
        ],
        [
            [
                "trace waterfall",
                result["screen_p50_ms"],
                result["screen_p95_ms"],
                result["json_p50_ms"],
                result["json_p95_ms"],
                result["ratio_p95"],
                result["page_kb_sent"],
                result["page_kb_raw"],
                result["json_kb_sent"],
            ]
        ],
    )
    write_results(tag or "viewer-waterfall", result, smoke=smoke)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--spans", type=int, default=200_000, help="dataset size (default 200k: a few minutes)")
    ap.add_argument("--samples", type=int, default=10, help="runs/steps/calls/records sampled")
    ap.add_argument("--reps", type=int, default=20, help="timings per screen (cycling over the samples)")
    ap.add_argument("--smoke", action="store_true", help="4k spans, a quick check that it runs")
    ap.add_argument(
        "--only",
        action="append",
        default=[],
        help="screens whose name contains this (repeatable; default all)",
    )
    ap.add_argument(
        "--waterfall", action="store_true", help=f"only the waterfall of a {WATERFALL_SPANS:,}+ span run"
    )
    ap.add_argument(
        "--data",
        default="viewer",
        help="dataset directory under bench/data (default viewer; e.g. a copy, to try a schema change)",
    )
    ap.add_argument(
        "--tag", default="", help="results file name (default viewer, or viewer-partial with --only)"
    )
    ap.add_argument(
        "--q10m",
        action="store_const",
        const="q10m",
        default="",
        help="read the 10M-span set of bench.queries (bench/data/chdb, database q10m) instead of --spans",
    )
    args = ap.parse_args(argv)
    if args.waterfall:
        waterfall(args.reps, args.smoke, args.tag)
        return 0
    data = "chdb" if args.q10m and args.data == "viewer" else args.data
    run(args.spans, args.samples, args.reps, args.smoke, tuple(args.only), data, args.tag, args.q10m)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
