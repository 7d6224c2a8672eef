"""Queries: every query API route and every dashboard panel at 1M and 10M spans.

For each: p50/p95 latency over several samples (different runs, records, calls), and what
ClickHouse reads. chDB fills clickhouse-connect's `QueryResult.summary["read_rows"]` with
the rows of the *result*, not the rows scanned, and has no `system.query_log`, so reads
are measured with `EXPLAIN ESTIMATE` on the exact SQL and parameters each route ran
(captured by wrapping the pool's clients): rows and granules (marks) left after primary
key, partition and skip-index pruning — what "within a few granules" is about. The rows
the answer needs (the run's spans, the record's index entries, one call) sit next to it.

    python -m bench.queries [--sizes 1m,10m] [--samples 20] [--smoke]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import chdata
from bench.common import clickhouse_version, console, median, pct, table, write_results

GRANULE = 8192
DAY_NS = 86400 * 10**9


@dataclass
class Recorder:
    """SQL + parameters each wrapped client ran since the last `take()`."""

    calls: list[tuple[str, dict[str, Any] | None]] = field(default_factory=list)

    def take(self) -> list[tuple[str, dict[str, Any] | None]]:
        out, self.calls = self.calls, []
        return out


def recording_factory(data_dir: Path, database: str, rec: Recorder) -> Callable[[], Any]:
    def factory() -> Any:
        client = chdata.client_for(data_dir, database)
        original = client.query

        def query(query: str | None = None, parameters: Any = None, *args: Any, **kw: Any) -> Any:
            rec.calls.append((str(query), parameters))
            return original(query, parameters, *args, **kw)

        client.query = query
        return client

    return factory


def estimate(client: Any, sql: str, params: Mapping[str, Any] | None) -> tuple[int, int]:
    """(rows, marks) ClickHouse plans to read for one statement, after index analysis."""
    try:
        res = client.query(f"EXPLAIN ESTIMATE {sql}", parameters=params or None)
    except Exception:
        return -1, -1
    cols = res.column_names
    rows = sum(int(r[cols.index("rows")]) for r in res.result_rows)
    marks = sum(int(r[cols.index("marks")]) for r in res.result_rows)
    return rows, marks


@dataclass
class Samples:
    runs: list[str]
    steps: list[tuple[str, str]]
    calls: list[tuple[str, str]]
    records: list[str]
    connector: str
    window: tuple[int, int]  # last 24h of the dataset, ns
    month: tuple[int, int]  # 30 days


def pick_samples(client: Any, end_ns: int, n: int) -> Samples:
    day = (end_ns - DAY_NS, end_ns + 3600 * 10**9)
    month = (end_ns - 30 * DAY_NS, end_ns + 3600 * 10**9)
    w = f"Timestamp >= fromUnixTimestamp64Nano({day[0]}) AND Timestamp < fromUnixTimestamp64Nano({day[1]})"
    runs = [
        r[0]
        for r in client.query(
            f"SELECT TraceId FROM otel_traces WHERE Role = 'run' AND {w} ORDER BY cityHash64(TraceId) LIMIT {n}"
        ).result_rows
    ]
    ids = ", ".join(f"'{r}'" for r in runs)
    steps = [
        (r[0], r[1])
        for r in client.query(
            f"SELECT TraceId, any(SpanId) FROM otel_traces WHERE Role = 'step' AND TraceId IN ({ids}) GROUP BY TraceId"
        ).result_rows
    ]
    calls = [
        (r[0], r[1])
        for r in client.query(
            f"SELECT TraceId, any(SpanId) FROM otel_traces WHERE Role = 'http' AND TraceId IN ({ids}) GROUP BY TraceId"
        ).result_rows
    ]
    records = [
        r[0]
        for r in client.query(
            f"SELECT Value FROM connector_search_index WHERE Field = 'external_id' ORDER BY cityHash64(Value) LIMIT {n}"
        ).result_rows
    ]
    connector = str(
        client.query(
            "SELECT ServiceName FROM otel_traces GROUP BY ServiceName ORDER BY count() DESC LIMIT 1"
        ).result_rows[0][0]
    )
    return Samples(runs, steps, calls, records, connector, day, month)


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat()


# (name, method, path, params, needed-rows SQL or None); one entry per sample.
Request = tuple[str, str, dict[str, Any] | None, str | None]


def route_requests(s: Samples) -> dict[str, list[Request]]:
    """Every API route (and the interesting variants), with concrete samples."""
    day = {"from": _iso(s.window[0]), "to": _iso(s.window[1])}
    month = {"from": _iso(s.month[0]), "to": _iso(s.month[1])}
    v1 = "/api/v1"

    def run_spans(run: str) -> str:
        return f"SELECT count() FROM otel_traces WHERE TraceId = '{run}'"

    out: dict[str, list[Request]] = {
        "GET /runs (24h)": [("GET", f"{v1}/runs", day, None)],
        "GET /runs (30d, one connector)": [("GET", f"{v1}/runs", {**month, "connector": s.connector}, None)],
        "GET /runs (30d, failed)": [("GET", f"{v1}/runs", {**month, "status": "error"}, None)],
        "GET /runs/{id}": [("GET", f"{v1}/runs/{r}", None, run_spans(r)) for r in s.runs],
        "GET /runs/{id}/steps/{id}/pages": [
            (
                "GET",
                f"{v1}/runs/{r}/steps/{st}/pages",
                None,
                f"SELECT count() FROM otel_traces WHERE TraceId = '{r}' AND ParentSpanId = '{st}'",
            )
            for r, st in s.steps
        ],
        "GET /runs/{id}/entities": [
            (
                "GET",
                f"{v1}/runs/{r}/entities",
                None,
                f"SELECT count() FROM otel_traces WHERE TraceId = '{r}' AND Role = 'entity'",
            )
            for r in s.runs
        ],
        "GET /traces/{id}": [("GET", f"{v1}/traces/{r}", None, run_spans(r)) for r in s.runs],
        "GET /calls (24h)": [("GET", f"{v1}/calls", day, None)],
        "GET /calls (24h, status>=400)": [("GET", f"{v1}/calls", {**day, "status": ">=400"}, None)],
        "GET /calls?run=": [("GET", f"{v1}/calls", {**month, "run": r}, run_spans(r)) for r in s.runs],
        "GET /calls/{id}?run=": [("GET", f"{v1}/calls/{c}", {"run": r}, "SELECT 2") for r, c in s.calls],
        "GET /calls/{id} (no run)": [("GET", f"{v1}/calls/{c}", None, "SELECT 2") for _, c in s.calls],
        "GET /search record (30d)": [
            (
                "GET",
                f"{v1}/search",
                {**month, "q": rec},
                f"SELECT count() FROM connector_search_index WHERE Value = '{rec}'",
            )
            for rec in s.records
        ],
        "GET /search in run": [
            ("GET", f"{v1}/search", {"q": "contacts", "scope": r}, run_spans(r)) for r in s.runs
        ],
        "GET /faults (24h)": [("GET", f"{v1}/faults", day, None)],
        "GET /logs (24h)": [("GET", f"{v1}/logs", day, None)],
        "GET /logs?run=": [
            ("GET", f"{v1}/logs", {**month, "run": r}, f"SELECT count() FROM otel_logs WHERE TraceId = '{r}'")
            for r in s.runs
        ],
        "GET /export/runs.csv (24h)": [("GET", f"{v1}/export/runs.csv", day, None)],
        "GET /export/calls.csv (24h)": [("GET", f"{v1}/export/calls.csv", day, None)],
        "GET /export/logs.csv (24h)": [("GET", f"{v1}/export/logs.csv", day, None)],
        "GET /export/runs.pdf (24h)": [("GET", f"{v1}/export/runs.pdf", day, None)],
        "GET /export/calls.pdf (24h)": [("GET", f"{v1}/export/calls.pdf", day, None)],
        "GET /export/logs.pdf (24h)": [("GET", f"{v1}/export/logs.pdf", day, None)],
        "POST /sql (count by role, 24h)": [
            (
                "POST",
                f"{v1}/sql",
                {
                    "query": f"SELECT Role, count() FROM otel_traces WHERE Timestamp >= fromUnixTimestamp64Nano({s.window[0]}) GROUP BY Role"
                },
                None,
            )
        ],
        "GET /readyz": [("GET", "/readyz", None, None)],
    }
    return out


@dataclass
class Measured:
    name: str
    kind: str  # "route" | "panel"
    latencies_ms: list[float] = field(default_factory=list)
    est_rows: list[int] = field(default_factory=list)
    est_marks: list[int] = field(default_factory=list)
    needed: list[int] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    queries: int = 0

    def summary(self) -> dict[str, Any]:
        need = median(self.needed) if self.needed else None
        rows95 = pct(self.est_rows, 95) if self.est_rows else None
        return {
            "name": self.name,
            "kind": self.kind,
            "n": len(self.latencies_ms),
            "p50_ms": round(median(self.latencies_ms), 2),
            "p95_ms": round(pct(self.latencies_ms, 95), 2),
            "est_read_rows_p50": median(self.est_rows) if self.est_rows else None,
            "est_read_rows_p95": rows95,
            "est_marks_p95": pct(self.est_marks, 95) if self.est_marks else None,
            "needed_rows_p50": need,
            "excess_granules_p95": (
                round((rows95 - need) / GRANULE, 1) if (need is not None and rows95 is not None) else None
            ),
            "queries_per_request": self.queries,
            "statuses": sorted(set(self.statuses)),
        }


def bench_routes(data_dir: Path, database: str, s: Samples, reps: int) -> list[Measured]:
    from fastapi.testclient import TestClient

    from connlog.query_api.app import create_app
    from connlog.query_api.auth import AuthConfig

    rec = Recorder()
    app = create_app(
        chdata.settings_for(data_dir, database),
        client_factory=recording_factory(data_dir, database, rec),
        auth=AuthConfig(disabled=True),
    )
    plain = chdata.client_for(data_dir, database)
    out: list[Measured] = []
    with TestClient(app) as http:
        for name, reqs in route_requests(s).items():
            m = Measured(name, "route")
            for i in range(max(reps, len(reqs))):
                method, path, params, need_sql = reqs[i % len(reqs)]
                rec.take()
                t0 = time.perf_counter()
                if method == "POST":
                    resp = http.post(path, json=params)
                else:
                    resp = http.get(path, params=params)
                _ = resp.content
                m.latencies_ms.append((time.perf_counter() - t0) * 1000)
                m.statuses.append(resp.status_code)
                ran = rec.take()
                m.queries = len(ran)
                rows = marks = 0
                for sql, p in ran:
                    r, k = estimate(plain, sql, p)
                    rows += max(r, 0)
                    marks += max(k, 0)
                if method == "POST" and params:
                    r, k = estimate(plain, params["query"], None)
                    rows, marks = rows + max(r, 0), marks + max(k, 0)
                m.est_rows.append(rows)
                m.est_marks.append(marks)
                if need_sql:
                    m.needed.append(int(plain.command(need_sql)))
            out.append(m)
    plain.close()
    return out


def bench_panels(client: Any, s: Samples, end_ns: int, reps: int) -> list[Measured]:
    from connlog.dashboards import build
    from connlog.dashboards.macros import ALL, TimeRange, Variable, expand, interval_for

    end = datetime.fromtimestamp(end_ns / 1e9, UTC) + timedelta(hours=1)
    out: list[Measured] = []
    for file, dash in build.load_all().items():
        span = dash.get("time", {}).get("from", "now-24h")
        hours = int(span[4:-1]) * (24 if span.endswith("d") else 1) if span.startswith("now-") else 24
        tr = TimeRange(end - timedelta(hours=hours), end)
        tr = TimeRange(tr.start, tr.end, interval_for(tr))
        base_vars: dict[str, Variable] = {}
        for v in dash["templating"]["list"]:
            if v["type"] == "custom":
                base_vars[v["name"]] = Variable(
                    v["current"]["value"], options=[o["value"] for o in v["options"]]
                )
            elif v["type"] == "textbox":
                base_vars[v["name"]] = Variable("")
            elif v["type"] == "query":
                base_vars[v["name"]] = Variable([ALL])
        for v in dash["templating"]["list"]:
            if v["type"] == "query":
                rows = client.query(expand(v["query"]["rawSql"], tr, base_vars)).result_rows
                base_vars[v["name"]] = Variable([ALL], options=[str(r[0]) for r in rows])
        for p in dash["panels"]:
            for t in p.get("targets", []):
                m = Measured(f"{file.removesuffix('.json')}: {p['title']}", "panel")
                for i in range(reps):
                    run, call = s.calls[i % len(s.calls)]
                    variables = dict(base_vars)
                    if "run_id" in variables:
                        variables["run_id"] = Variable(run)
                    if "call_id" in variables:
                        variables["call_id"] = Variable(call)
                    sql = expand(t["rawSql"], tr, variables)
                    t0 = time.perf_counter()
                    client.query(sql)
                    m.latencies_ms.append((time.perf_counter() - t0) * 1000)
                    r, k = estimate(client, sql, None)
                    m.est_rows.append(r)
                    m.est_marks.append(k)
                    if "run_id" in variables and "call_id" not in variables:
                        m.needed.append(
                            int(client.command(f"SELECT count() FROM otel_traces WHERE TraceId = '{run}'"))
                        )
                    m.statuses.append(200)
                m.queries = 1
                out.append(m)
    return out


TARGETS = {
    "GET /search record (30d)": 200.0,
    "GET /runs/{id}": 100.0,
    "GET /traces/{id}": 100.0,
}


def bench(sizes: tuple[str, ...], samples: int, smoke: bool) -> dict[str, Any]:
    data_dir, built = chdata.ensure(smoke, sizes)
    results: dict[str, Any] = {"datasets": [], "sizes": {}}
    for b in built:
        for change in chdata.migrate(data_dir, b.database):
            console.print(f"{b.database}: {change}")
        client = chdata.client_for(data_dir, b.database)
        results["clickhouse_version"] = clickhouse_version(client)
        s = pick_samples(client, b.end_ns, samples)
        console.print(
            f"[bold]{b.database}[/bold]: {b.spans:,} spans, {b.logs:,} logs ({b.method}); {len(s.runs)} sample runs"
        )
        reps = samples
        routes = bench_routes(data_dir, b.database, s, reps)
        panels = bench_panels(client, s, b.end_ns, reps)
        client.close()
        summaries = [m.summary() for m in routes + panels]
        targets = {}
        for name, limit in TARGETS.items():
            got = next(x for x in summaries if x["name"] == name)
            targets[name] = {
                "p95_ms": got["p95_ms"],
                "target_ms": limit,
                "met": got["p95_ms"] < limit,
                "excess_granules_p95": got["excess_granules_p95"],
            }
        results["datasets"].append({**b.__dict__})
        results["sizes"][b.database] = {"results": summaries, "targets": targets}
    return results


def report(res: dict[str, Any]) -> None:
    for d in res["datasets"]:
        sz = res["sizes"][d["database"]]
        rows = [
            [
                x["name"],
                x["n"],
                x["p50_ms"],
                x["p95_ms"],
                x["est_read_rows_p95"],
                x["est_marks_p95"],
                x["needed_rows_p50"],
                x["excess_granules_p95"],
                x["queries_per_request"],
                ",".join(map(str, x["statuses"])),
            ]
            for x in sz["results"]
        ]
        table(
            f"{d['database']}: {d['spans']:,} spans, {d['logs']:,} logs — {d['method']} (built in {d['build_s']:.0f}s)",
            [
                "route / panel",
                "n",
                "p50 ms",
                "p95 ms",
                "est. rows read p95",
                "granules p95",
                "rows needed",
                "excess granules",
                "queries",
                "HTTP",
            ],
            rows,
        )
        table(
            f"{d['database']}: latency targets",
            ["query", "p95 ms", "target ms", "met", "excess granules p95"],
            [
                [k, v["p95_ms"], v["target_ms"], "yes" if v["met"] else "NO", v["excess_granules_p95"]]
                for k, v in sz["targets"].items()
            ],
        )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--sizes", default="1m,10m", help="comma list of 1m,10m")
    ap.add_argument("--samples", type=int, default=20)
    args = ap.parse_args(argv)
    sizes = tuple(x.strip() for x in args.sizes.split(",") if x.strip())
    res = bench(sizes, 1 if args.smoke else args.samples, args.smoke)
    report(res)
    write_results("queries", res, smoke=args.smoke)

    return 0


if __name__ == "__main__":
    raise SystemExit(main())
