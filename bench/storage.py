"""Storage: bytes on disk per span and per log, compression per table and per column,
before and after the RECOMPRESS TTL.

Why this shape: the storage tables of the cached 1M dataset (built through the real
collector, see `bench.chdata`) are copied into a database whose schema has *no* recompress
TTL and merged (`OPTIMIZE FINAL`): that is "before", every part in the hot codec ZSTD(1).
A second copy carries the configured retention (RECOMPRESS CODEC(ZSTD(9)) after 7 days)
and is merged the same way, which applies the recompression: "after". The dataset covers 29
days, so ~3/4 of its partitions are past the 7-day mark, like a table in steady state.

    python -m bench.storage [--smoke]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

from bench import chdata
from bench.common import clickhouse_version, console, ratio, table, write_results

DB = "s_store"
TABLES = chdata.STORAGE_TABLES
METADATA_TABLES = ("otel_traces", "otel_traces_trace_id_ts", "connector_search_index")


def _settings(data_dir: Any, recompress_days: int, db: str) -> Any:
    from connlog.collector.config import Retention, Settings

    return Settings(
        data_dir=data_dir,
        database=db,
        retention=Retention(days=0, recompress_days=recompress_days, payload_days=0),
    )


def tables_stats(client: Any, db: str) -> dict[str, dict[str, Any]]:
    rows = client.query(
        "SELECT table, sum(rows), sum(bytes_on_disk), sum(data_compressed_bytes), sum(data_uncompressed_bytes), count(),"
        " countIf(default_compression_codec LIKE '%ZSTD(9)%')"
        " FROM system.parts WHERE database = {db:String} AND active GROUP BY table",
        parameters={"db": db},
    ).result_rows
    out = {}
    for t, n, disk, comp, raw, parts, cold in rows:
        out[str(t)] = {
            "rows": int(n),
            "bytes_on_disk": int(disk),
            "compressed": int(comp),
            "uncompressed": int(raw),
            "ratio": ratio(int(raw), int(comp)),
            "parts": int(parts),
            "parts_zstd9": int(cold),
        }
    return out


def column_stats(client: Any, db: str, table_name: str) -> list[dict[str, Any]]:
    rows = client.query(
        "SELECT column, sum(column_data_compressed_bytes) AS c, sum(column_data_uncompressed_bytes) AS u"
        " FROM system.parts_columns WHERE database = {db:String} AND table = {t:String} AND active"
        " GROUP BY column ORDER BY c DESC",
        parameters={"db": db, "t": table_name},
    ).result_rows
    total = sum(int(r[1]) for r in rows) or 1
    return [
        {
            "column": str(c),
            "compressed": int(cb),
            "uncompressed": int(ub),
            "ratio": ratio(int(ub), int(cb)),
            "share": round(int(cb) / total, 3),
        }
        for c, cb, ub in rows
    ]


def snapshot(client: Any, db: str, spans: int, logs: int, http_spans: int) -> dict[str, Any]:
    ts = tables_stats(client, db)
    meta_disk = sum(ts[t]["bytes_on_disk"] for t in METADATA_TABLES if t in ts)
    meta_comp = sum(ts[t]["compressed"] for t in METADATA_TABLES if t in ts)
    meta_raw = sum(ts[t]["uncompressed"] for t in METADATA_TABLES if t in ts)
    pay = ts.get("otel_traces_payloads", {})
    lg = ts.get("otel_logs", {})
    return {
        "tables": ts,
        "per_span": {
            "otel_traces_bytes": round(ts["otel_traces"]["bytes_on_disk"] / spans, 1),
            "metadata_bytes (traces + trace_id_ts + search_index)": round(meta_disk / spans, 1),
            "payload_bytes": round(pay.get("bytes_on_disk", 0) / spans, 1),
            "payload_bytes_per_http_span": round(pay.get("bytes_on_disk", 0) / max(http_spans, 1), 1),
            "all_trace_tables_bytes": round((meta_disk + pay.get("bytes_on_disk", 0)) / spans, 1),
        },
        "per_log_bytes": round(lg.get("bytes_on_disk", 0) / max(logs, 1), 1),
        "metadata_ratio": ratio(meta_raw, meta_comp),
        "columns": {
            t: column_stats(client, db, t) for t in ("otel_traces", "otel_traces_payloads", "otel_logs")
        },
    }


def _copy(data_dir: Any, src: str, db: str, recompress_days: int) -> Any:
    """`src`'s storage tables copied into a fresh `db` with that retention, then merged."""
    from connlog.collector.schema.migrate import apply_schema

    client = chdata.client_for(data_dir, db)
    client.command(f"DROP DATABASE IF EXISTS {db} SYNC")
    client = chdata.client_for(data_dir, db)
    apply_schema(client, _settings(data_dir, recompress_days, db))
    # Wide parts even when small, so system.parts_columns has per-column sizes (compact
    # parts report 0); this changes nothing about the codecs measured.
    for t in TABLES:
        client.command(
            f"ALTER TABLE {db}.{t} MODIFY SETTING min_bytes_for_wide_part = 0, min_rows_for_wide_part = 0"
        )
    for t in TABLES:
        client.command(f"INSERT INTO {db}.{t} SELECT * FROM {src}.{t}")
    chdata.optimize(client, db)
    return client


def measure(data_dir: Any, src: str, db: str) -> dict[str, Any]:
    """Before: a copy of `src` without the RECOMPRESS TTL. After: a copy with it (7 days).

    Both are merged with OPTIMIZE FINAL; the merge of the second applies RECOMPRESS to
    partitions older than 7 days, exactly as background merges do in production (and
    without `MATERIALIZE TTL` mutations, which chDB runs slowly).
    """
    t0 = time.perf_counter()
    hot = _copy(data_dir, src, f"{db}_hot", 0)
    copy_s = time.perf_counter() - t0
    spans = int(hot.command(f"SELECT count() FROM {db}_hot.otel_traces"))
    logs = int(hot.command(f"SELECT count() FROM {db}_hot.otel_logs"))
    http_spans = int(hot.command(f"SELECT count() FROM {db}_hot.otel_traces WHERE Role = 'http'"))
    before = snapshot(hot, f"{db}_hot", spans, logs, http_spans)
    hot.command(f"DROP DATABASE {db}_hot SYNC")
    hot.close()
    t0 = time.perf_counter()
    cold = _copy(data_dir, src, db, 7)
    recompress_s = time.perf_counter() - t0
    after = snapshot(cold, db, spans, logs, http_spans)
    cold.close()
    return {
        "source": src,
        "spans": spans,
        "logs": logs,
        "http_spans": http_spans,
        "copy_s": round(copy_s, 1),
        "recompress_s": round(recompress_s, 1),
        "method": "before: copy without RECOMPRESS TTL + OPTIMIZE FINAL; after: copy with it + OPTIMIZE FINAL",
        "before": before,
        "after": after,
    }


def bench(smoke: bool) -> dict[str, Any]:
    data_dir, built = chdata.ensure(smoke, ("1m",), subdir="storage")
    # Replicated runs repeat their bodies (60 base runs), which flatters payload
    # compression; payloads are measured on a set where every body is generated.
    unique = chdata.build_ingest(
        data_dir,
        "s_unique",
        1_000 if smoke else 60_000,
        smoke=smoke,
        days=14.0,
        base_runs=40 if smoke else 2_500,
        body_size=(200, 20_000),
    )
    meta = measure(data_dir, built[0].database, DB)
    pay = measure(data_dir, unique.database, DB + "_unique")
    client = chdata.client_for(data_dir, DB)
    version = clickhouse_version(client)
    client.close()
    meta_after = meta["after"]["per_span"]["metadata_bytes (traces + trace_id_ts + search_index)"]
    pay_ratio = pay["after"]["tables"]["otel_traces_payloads"]["ratio"]
    return {
        "clickhouse_version": version,
        "sources": {"metadata": built[0].__dict__, "payloads": unique.__dict__},
        **meta,
        "unique_bodies": pay,
        "targets": {
            "metadata_bytes_per_span": meta_after,
            "metadata_target": 80,
            "met_80B": meta_after <= 80,
            "otel_traces_ratio": meta["after"]["tables"]["otel_traces"]["ratio"],
            "metadata_ratio": meta["after"]["metadata_ratio"],
            "met_10x": (meta["after"]["metadata_ratio"] or 0) >= 10,
            "payload_ratio_unique_bodies": pay_ratio,
            "payload_ratio_replicated_bodies": meta["after"]["tables"]["otel_traces_payloads"]["ratio"],
            "met_payload_8x": (pay_ratio or 0) >= 8,
        },
    }


def report(res: dict[str, Any]) -> None:
    rows = []
    for t in TABLES:
        b, a = res["before"]["tables"].get(t, {}), res["after"]["tables"].get(t, {})
        rows.append(
            [
                t,
                b.get("rows"),
                b.get("bytes_on_disk"),
                b.get("ratio"),
                a.get("bytes_on_disk"),
                a.get("ratio"),
                f"{a.get('parts_zstd9', 0)}/{a.get('parts', 0)}",
                ratio(b.get("bytes_on_disk", 0), a.get("bytes_on_disk", 0)),
            ]
        )
    table(
        f"Storage per table ({res['spans']:,} spans, {res['logs']:,} logs; before = ZSTD(1), after = RECOMPRESS ZSTD(9) > 7 days)",
        [
            "table",
            "rows",
            "disk before B",
            "ratio before",
            "disk after B",
            "ratio after",
            "parts ZSTD(9)",
            "shrink",
        ],
        rows,
    )
    table(
        "Bytes on disk per item",
        ["measure", "before", "after"],
        [[k, v, res["after"]["per_span"][k]] for k, v in res["before"]["per_span"].items()]
        + [
            ["per log (otel_logs)", res["before"]["per_log_bytes"], res["after"]["per_log_bytes"]],
            ["metadata compression ratio", res["before"]["metadata_ratio"], res["after"]["metadata_ratio"]],
        ],
    )
    for t in ("otel_traces", "otel_traces_payloads"):
        cols = res["after"]["columns"][t][:12]
        spans = res["spans"]
        table(
            f"{t}: largest columns after recompression",
            ["column", "compressed B", "B/span", "ratio", "share"],
            [
                [c["column"], c["compressed"], round(c["compressed"] / spans, 1), c["ratio"], c["share"]]
                for c in cols
            ],
        )
    u = res["unique_bodies"]
    pb, pa = u["before"]["tables"]["otel_traces_payloads"], u["after"]["tables"]["otel_traces_payloads"]
    table(
        f"otel_traces_payloads with every body generated ({u['http_spans']:,} HTTP spans, bodies 0.2-20 KB, 14 days)",
        ["measure", "before", "after"],
        [
            ["bytes on disk", pb["bytes_on_disk"], pa["bytes_on_disk"]],
            ["uncompressed", pb["uncompressed"], pa["uncompressed"]],
            ["ratio", pb["ratio"], pa["ratio"]],
            [
                "B per HTTP span",
                u["before"]["per_span"]["payload_bytes_per_http_span"],
                u["after"]["per_span"]["payload_bytes_per_http_span"],
            ],
            ["parts ZSTD(9)", f"{pb['parts_zstd9']}/{pb['parts']}", f"{pa['parts_zstd9']}/{pa['parts']}"],
        ],
    )
    t = res["targets"]
    console.print(
        f"metadata ≤ 80 B/span: {'MET' if t['met_80B'] else 'MISSED'} ({t['metadata_bytes_per_span']}); "
        f"≥ 10x: {'MET' if t['met_10x'] else 'MISSED'} ({t['metadata_ratio']}); "
        f"payload ≥ 8x: {'MET' if t['met_payload_8x'] else 'MISSED'} ({t['payload_ratio_unique_bodies']}, "
        f"replicated bodies {t['payload_ratio_replicated_bodies']})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args(argv)
    res = bench(args.smoke)
    report(res)
    write_results("storage", res, smoke=args.smoke)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
