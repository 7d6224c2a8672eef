"""Render bench/results/*.json as the Markdown tables used in docs/performance.md.

Kept as code so the doc's tables are regenerated from a run rather than retyped:

    python -m bench.report > /tmp/tables.md
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bench.common import RESULTS_DIR, fmt


def md(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    out += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(out)


def load(area: str) -> dict[str, Any] | None:
    path = RESULTS_DIR / f"{area}.json"
    return json.loads(path.read_text()) if path.exists() else None


def sdk(doc: dict[str, Any]) -> str:
    rows = [
        [v, s["wall_us_per_call"], s["overhead_wall_us"], s["cpu_us_per_call"], s["overhead_cpu_us"]]
        for v, s in doc["variants"].items()
    ]
    text = md(["variant", "wall µs/call", "+wall µs", "client CPU µs/call", "+CPU µs"], rows)
    return text + "\n\n" + md(["ratio", "value"], list(doc["ratios"].items()))


def ingest(doc: dict[str, Any]) -> str:
    rows = [
        [
            r["protocol"],
            r["signal"],
            r["items"],
            r["wall_s"],
            r["cpu_s"],
            r["per_s_wall"],
            r["per_cpu_s"],
            r.get("ratio_to_ceiling_cpu"),
        ]
        for r in doc["runs"]
    ]
    text = md(
        ["path", "signal", "items", "wall s", "CPU s", "items/s wall", "items/CPU-s", "÷ raw (CPU)"], rows
    )
    bd = doc["breakdown"]
    rows2 = [
        [k, v, bd["stages_share"][k], bd["stages_spans_per_cpu_s"][k]] for k, v in bd["stages_cpu_s"].items()
    ]
    return text + "\n\n" + md(["stage", "CPU s", "share", "spans/CPU-s alone"], rows2)


def queries(doc: dict[str, Any]) -> str:
    parts = []
    for d in doc["datasets"]:
        res = doc["sizes"][d["database"]]["results"]
        rows = [
            [
                x["name"],
                x["p50_ms"],
                x["p95_ms"],
                x["est_read_rows_p95"],
                x["est_marks_p95"],
                x["needed_rows_p50"],
                x["excess_granules_p95"],
                x["queries_per_request"],
            ]
            for x in res
        ]
        parts.append(
            f"**{d['database']}** — {d['spans']:,} spans, {d['logs']:,} logs; {d['method']}; built in {d['build_s']:.0f} s\n"
        )
        parts.append(
            md(
                [
                    "route / panel",
                    "p50 ms",
                    "p95 ms",
                    "rows read p95",
                    "granules p95",
                    "rows needed",
                    "excess granules",
                    "queries",
                ],
                rows,
            )
        )
    return "\n\n".join(parts)


def queries_targets(doc: dict[str, Any]) -> str:
    """`--only-targets` runs (e.g. `--tag q10m`): the A/B, the target routes, and the same
    routes while ingesting, as the tables of docs/performance.md section 3 (issue 13)."""
    parts = []
    for d in doc["datasets"]:
        size = doc["sizes"][d["database"]]
        ab = size.get("ab", {}).get("cases") or []
        if ab:
            parts.append(
                md(
                    [
                        "read",
                        "old p50 / p95 ms",
                        "new p50 / p95 ms",
                        "p95 new/old",
                        "CPU p50 old → new ms",
                        "same output",
                    ],
                    [
                        [
                            x["case"],
                            f"{fmt(x['old_p50_ms'])} / {fmt(x['old_p95_ms'])}",
                            f"{fmt(x['new_p50_ms'])} / {fmt(x['new_p95_ms'])}",
                            x["ratio_p95"],
                            f"{fmt(x['old_cpu_p50_ms'])} → {fmt(x['new_cpu_p50_ms'])}",
                            "yes" if x["same_output"] else "NO",
                        ]
                        for x in ab
                    ],
                )
            )
        if size["results"]:
            parts.append(
                md(
                    [
                        "route",
                        "p50 / p95 ms",
                        "CPU p50 ms",
                        "rows read p95 (granules)",
                        "rows needed",
                        "queries",
                    ],
                    [
                        [
                            x["name"],
                            f"{fmt(x['p50_ms'])} / {fmt(x['p95_ms'])}",
                            x.get("cpu_p50_ms"),
                            f"{fmt(x['est_read_rows_p95'])} ({fmt(x['est_marks_p95'])})",
                            x["needed_rows_p50"],
                            x["queries_per_request"],
                        ]
                        for x in size["results"]
                    ],
                )
            )
        load = size.get("under_load") or {}
        if load:
            parts.append(
                f"While ingesting **{load['spans_per_s']:,.0f} spans/s** (asked {load['rate_asked']:,};"
                f" {load['spans_sent']:,} spans sent) in the same process:\n\n"
                + md(
                    ["route", "p50 / p95 ms", "CPU p50 ms (ingest included)", "< 200 ms"],
                    [
                        [
                            x["name"],
                            f"{fmt(x['p50_ms'])} / {fmt(x['p95_ms'])}",
                            x.get("cpu_p50_ms"),
                            "met" if x["p95_ms"] < 200 else "missed",
                        ]
                        for x in load["results"]
                    ],
                )
            )
    return "\n\n".join(parts)


def storage(doc: dict[str, Any]) -> str:
    rows = []
    for t, b in doc["before"]["tables"].items():
        a = doc["after"]["tables"][t]
        rows.append(
            [
                t,
                b["rows"],
                b["bytes_on_disk"],
                b["ratio"],
                a["bytes_on_disk"],
                a["ratio"],
                f"{a['parts_zstd9']}/{a['parts']}",
            ]
        )
    text = md(
        ["table", "rows", "disk before", "ratio before", "disk after", "ratio after", "parts ZSTD(9)"], rows
    )
    per = [[k, v, doc["after"]["per_span"][k]] for k, v in doc["before"]["per_span"].items()]
    per.append(["per log", doc["before"]["per_log_bytes"], doc["after"]["per_log_bytes"]])
    per.append(["metadata ratio", doc["before"]["metadata_ratio"], doc["after"]["metadata_ratio"]])
    text += "\n\n" + md(["bytes per span", "before", "after"], per)
    spans = doc["spans"]
    cols = [
        [c["column"], c["compressed"], round(c["compressed"] / spans, 1), c["ratio"], c["share"]]
        for c in doc["after"]["columns"]["otel_traces"][:15]
    ]
    text += "\n\n" + md(["otel_traces column", "compressed B", "B/span", "ratio", "share"], cols)
    u = doc["unique_bodies"]
    pb, pa = u["before"]["tables"]["otel_traces_payloads"], u["after"]["tables"]["otel_traces_payloads"]
    text += "\n\n" + md(
        ["payloads, unique bodies", "before", "after"],
        [
            ["bytes on disk", pb["bytes_on_disk"], pa["bytes_on_disk"]],
            ["ratio", pb["ratio"], pa["ratio"]],
            [
                "B per HTTP span",
                u["before"]["per_span"]["payload_bytes_per_http_span"],
                u["after"]["per_span"]["payload_bytes_per_http_span"],
            ],
        ],
    )
    pcols = [
        [c["column"], c["compressed"], c["uncompressed"], c["ratio"]]
        for c in u["after"]["columns"]["otel_traces_payloads"]
    ]
    return (
        text
        + "\n\n"
        + md(["payload column (unique bodies)", "compressed B", "uncompressed B", "ratio"], pcols)
    )


def main() -> int:
    for area, render in (
        ("sdk_overhead", sdk),
        ("ingest", ingest),
        ("queries", queries),
        ("queries-q10m", queries_targets),
        ("storage", storage),
    ):
        doc = load(area)
        if doc is None:
            continue
        print(f"## {area}\n\nmachine: {doc['machine']}\n\n{render(doc)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
