"""SDK overhead: µs added to each HTTP call by our SDK vs bare OTel and logfire's capture.

Three client libraries: httpx (the top-level rows), requests and aiohttp (`libraries`).
Each is compared with the OpenTelemetry instrumentation of the same library
(opentelemetry-instrumentation-httpx / -requests / -aiohttp-client, no payloads) and with
logfire's instrumentation of it (`capture_all=True` for httpx and aiohttp, which records
headers and bodies as we do; logfire's `instrument_requests` has no body capture).

Why this shape:
- The server is a raw asyncio HTTP/1.1 server in its own process (no framework, keep-alive,
  a fixed ~2 KB JSON body), so the baseline is stable and the server's cost is the same for
  every variant.
- Every variant runs in its own interpreter because each one patches httpx globally.
- Variants are interleaved round by round, so drift in machine load hits them all alike;
  the report is the median over all repetitions, and the overhead is variant minus plain
  within the same round. Client CPU time per call (process_time) is reported next to wall
  time: on a shared machine it is the less noisy of the two.
- Each call has a distinct URL (`?page=i`), an Authorization header and a JSON response
  read in full, like a connector paging through an API.

    python -m bench.sdk_overhead            # full run
    python -m bench.sdk_overhead --smoke    # seconds
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench.common import ROOT, console, median, ratio, table, write_results
from bench.crm_page import crm_page

VARIANTS = ("plain", "otel_bare", "logfire", "ours")
LIBRARIES = ("httpx", "requests", "aiohttp")
TOKEN = "sk_live_5f3a9c2e7b1d4f6a8c0e2b4d6f8a0c2e"


# --------------------------------------------------------------------------- server
BODY = json.dumps(crm_page(12)).encode()  # ~2 KB: what a connector typically reads per call


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-ratelimit-remaining: 99\r\n"
        b"content-length: " + str(len(BODY)).encode() + b"\r\n\r\n"
    )
    try:
        while True:
            data = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in data.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:].strip())
            if length:
                await reader.readexactly(length)
            writer.write(head + BODY)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def serve(port: int) -> None:
    async def main() -> None:
        server = await asyncio.start_server(_handle, "127.0.0.1", port)
        print(server.sockets[0].getsockname()[1], flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def start_server() -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.sdk_overhead", "--serve"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    return proc, port


# --------------------------------------------------------------------------- variants
EXPORTED: list[int] = [0]  # spans the no-op exporter saw: proves the variant recorded
PROVIDERS: list[Any] = []  # providers to flush before counting


def _noop_exporter() -> Any:
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class NoopExporter(SpanExporter):
        """Accepts and forgets: the cost measured is recording, not shipping."""

        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            EXPORTED[0] += len(spans)
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            return None

    return NoopExporter()


def _otel_instrumentor(lib: str) -> Any:
    if lib == "requests":
        from opentelemetry.instrumentation.requests import RequestsInstrumentor

        return RequestsInstrumentor()
    if lib == "aiohttp":
        from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor

        return AioHttpClientInstrumentor()
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    return HTTPXClientInstrumentor()


def _logfire_instrument(lib: str) -> None:
    import logfire

    if lib == "requests":
        logfire.instrument_requests()  # no body capture in logfire for requests
    elif lib == "aiohttp":
        logfire.instrument_aiohttp_client(capture_all=True)
    else:
        logfire.instrument_httpx(capture_all=True)


def setup_variant(variant: str, lib: str = "httpx") -> Any:
    """Install the variant's instrumentation; returns a context manager to call inside."""
    from contextlib import ExitStack, nullcontext

    if variant == "plain":
        return nullcontext()
    if variant == "otel_bare":
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        tp = TracerProvider()
        tp.add_span_processor(BatchSpanProcessor(_noop_exporter()))
        PROVIDERS.append(tp)
        _otel_instrumentor(lib).instrument(tracer_provider=tp)
        return nullcontext()
    if variant == "logfire":
        import logfire
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        logfire.configure(
            send_to_logfire=False,
            console=False,
            metrics=False,
            additional_span_processors=[BatchSpanProcessor(_noop_exporter())],
        )
        _logfire_instrument(lib)
        return nullcontext()
    if variant == "ours":
        import connlog as cl

        cl.init(connector="bench", tenant="acme", secrets=[TOKEN], span_exporter=_noop_exporter())
        stack = ExitStack()
        # A connector calls inside run/step/page; opened once, outside the timed loop.
        stack.enter_context(cl.run(sync_type="full", trigger="manual", job_id="bench"))
        stack.enter_context(cl.step("contacts"))
        stack.enter_context(cl.page(number=1))
        return stack
    raise ValueError(variant)


HEADERS = {
    "Authorization": f"Bearer {TOKEN}",
    "Accept": "application/json",
    "User-Agent": "connector/1.4",
    "X-Request-Id": "bench",
}


def _sync_getter(lib: str) -> tuple[Any, Any]:
    """(get(url, params) -> parsed JSON, close) for a sync library."""
    if lib == "requests":
        import requests

        session = requests.Session()
        session.headers.update(HEADERS)
        return (lambda url, params: session.get(url, params=params).json()), session.close
    import httpx

    client = httpx.Client(headers=HEADERS)
    return (lambda url, params: client.get(url, params=params).json()), client.close


def _timed_reps(
    call: Any, url: str, n: int, reps: int, warmup: int, prof: cProfile.Profile | None
) -> tuple[list[float], list[float]]:
    wall: list[float] = []
    cpu: list[float] = []
    for i in range(warmup):
        call(url, {"page": i})
    for _ in range(reps):
        if prof:
            prof.enable()
        w0, c0 = time.perf_counter(), time.process_time()
        for i in range(n):
            call(url, {"page": i, "limit": 100})
        wall.append((time.perf_counter() - w0) / n * 1e6)
        cpu.append((time.process_time() - c0) / n * 1e6)
        if prof:
            prof.disable()
    return wall, cpu


async def _aiohttp_reps(url: str, n: int, reps: int, warmup: int) -> tuple[list[float], list[float]]:
    import aiohttp

    wall: list[float] = []
    cpu: list[float] = []
    async with aiohttp.ClientSession(headers=HEADERS) as session:

        async def get(params: dict[str, Any]) -> Any:
            async with session.get(url, params=params) as resp:
                return await resp.json()

        for i in range(warmup):
            await get({"page": i})
        for _ in range(reps):
            w0, c0 = time.perf_counter(), time.process_time()
            for i in range(n):
                await get({"page": i, "limit": 100})
            wall.append((time.perf_counter() - w0) / n * 1e6)
            cpu.append((time.process_time() - c0) / n * 1e6)
    return wall, cpu


def client_loop(
    variant: str, port: int, n: int, reps: int, warmup: int, profile: bool, lib: str = "httpx"
) -> dict[str, Any]:
    ctx = setup_variant(variant, lib)
    url = f"http://127.0.0.1:{port}/crm/v3/objects/contacts"
    prof = cProfile.Profile() if profile else None
    with ctx:
        if lib == "aiohttp":
            wall, cpu = asyncio.run(_aiohttp_reps(url, n, reps, warmup))
        else:
            call, close = _sync_getter(lib)
            try:
                wall, cpu = _timed_reps(call, url, n, reps, warmup, prof)
            finally:
                close()
    from opentelemetry import trace

    for provider in (
        trace.get_tracer_provider(),
        getattr(_active_handle(), "tracer_provider", None),
        *PROVIDERS,
    ):
        flush = getattr(provider, "force_flush", None)
        if flush is not None:
            flush()
    out: dict[str, Any] = {"variant": variant, "wall_us": wall, "cpu_us": cpu, "spans_exported": EXPORTED[0]}
    if prof:
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(25)
        out["profile_tottime"] = buf.getvalue()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(40)
        out["profile_cumulative"] = buf.getvalue()
    return out


def run_variant(
    variant: str, port: int, n: int, reps: int, warmup: int, profile: bool = False, lib: str = "httpx"
) -> dict[str, Any]:
    args = [
        "--lib",
        lib,
        "--variant",
        variant,
        "--port",
        str(port),
        "-n",
        str(n),
        "--reps",
        str(reps),
        "--warmup",
        str(warmup),
    ]
    if profile:
        args.append("--profile")
    proc = subprocess.run(
        [sys.executable, "-m", "bench.sdk_overhead", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"variant {lib}/{variant} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _active_handle() -> Any:
    if "connlog.instrumentation" not in sys.modules:
        return None
    from connlog.instrumentation import active_handle

    return active_handle()


# --------------------------------------------------------------------------- orchestration
def bench(smoke: bool, sizes: tuple[int, int, int, int] | None = None) -> dict[str, Any]:
    n, reps, warmup, rounds = sizes or ((200, 2, 50, 1) if smoke else (2000, 5, 300, 3))
    server, port = start_server()
    try:
        res = bench_library("httpx", port, n, reps, warmup, rounds, profile=not smoke)
        res["libraries"] = {
            lib: bench_library(lib, port, n, reps, warmup, rounds, profile=False) for lib in LIBRARIES[1:]
        }
    finally:
        server.terminate()
        server.wait(10)
    res["targets_met_all"] = res["target_met"] and all(lib["target_met"] for lib in res["libraries"].values())
    return res


def bench_library(
    lib: str, port: int, n: int, reps: int, warmup: int, rounds: int, profile: bool
) -> dict[str, Any]:
    """Interleaved rounds of the four variants for one client library."""
    samples: dict[str, dict[str, list[float]]] = {v: {"wall_us": [], "cpu_us": []} for v in VARIANTS}
    exported: dict[str, int] = {}
    per_round_overhead: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for r in range(rounds):
        order = VARIANTS if r % 2 == 0 else tuple(reversed(VARIANTS))
        got = {v: run_variant(v, port, n, reps, warmup, lib=lib) for v in order}
        for v in VARIANTS:
            samples[v]["wall_us"] += got[v]["wall_us"]
            samples[v]["cpu_us"] += got[v]["cpu_us"]
            exported[v] = got[v]["spans_exported"]
            per_round_overhead[v].append(median(got[v]["cpu_us"]) - median(got["plain"]["cpu_us"]))
    profile_out = run_variant("ours", port, n, 1, warmup, profile=True, lib=lib) if profile else None

    summary: dict[str, dict[str, float | None]] = {}
    plain_wall = median(samples["plain"]["wall_us"])
    plain_cpu = median(samples["plain"]["cpu_us"])
    for v in VARIANTS:
        w = median(samples[v]["wall_us"])
        c = median(samples[v]["cpu_us"])
        summary[v] = {
            "wall_us_per_call": round(w, 1),
            "cpu_us_per_call": round(c, 1),
            "overhead_wall_us": round(w - plain_wall, 1),
            "overhead_cpu_us": round(c - plain_cpu, 1),
            "overhead_cpu_us_per_round_median": round(median(per_round_overhead[v]), 1),
            "spans_exported_last_round": exported[v],
        }
    ours, lf, bare = summary["ours"], summary["logfire"], summary["otel_bare"]
    ratios = {
        "ours_over_logfire_overhead_cpu": ratio(ours["overhead_cpu_us"] or 0, lf["overhead_cpu_us"] or 0),
        "ours_over_bare_overhead_cpu": ratio(ours["overhead_cpu_us"] or 0, bare["overhead_cpu_us"] or 0),
        "ours_over_logfire_overhead_wall": ratio(ours["overhead_wall_us"] or 0, lf["overhead_wall_us"] or 0),
        "ours_over_bare_overhead_wall": ratio(ours["overhead_wall_us"] or 0, bare["overhead_wall_us"] or 0),
        "ours_over_logfire_total_wall": ratio(ours["wall_us_per_call"] or 0, lf["wall_us_per_call"] or 0),
    }
    ours_cpu, lf_cpu, bare_cpu = (
        ours["overhead_cpu_us"] or 0,
        lf["overhead_cpu_us"] or 0,
        bare["overhead_cpu_us"] or 0,
    )
    return {
        "params": {
            "calls_per_rep": n,
            "reps": reps,
            "rounds": rounds,
            "warmup": warmup,
            "body_bytes": len(BODY),
        },
        "variants": summary,
        "ratios": ratios,
        "library": lib,
        # ours ≤ logfire's capture, and ≤ 1.5 × bare OTel (CPU overhead per call)
        "target_vs_logfire_met": ours_cpu <= lf_cpu,
        "target_vs_bare_met": ours_cpu <= 1.5 * bare_cpu,
        "target_met": ours_cpu <= lf_cpu and ours_cpu <= 1.5 * bare_cpu,
        "profile_ours": profile_out,
    }


def report(res: dict[str, Any]) -> None:
    report_library(res)
    for lib_res in res.get("libraries", {}).values():
        report_library(lib_res)


def report_library(res: dict[str, Any]) -> None:
    rows = []
    for v, s in res["variants"].items():
        rows.append(
            [
                v,
                s["wall_us_per_call"],
                s["overhead_wall_us"],
                s["cpu_us_per_call"],
                s["overhead_cpu_us"],
                s["overhead_cpu_us_per_round_median"],
                s["spans_exported_last_round"],
            ]
        )
    p = res["params"]
    table(
        f"SDK overhead per {res.get('library', 'httpx')} call ({p['calls_per_rep']} calls x {p['reps']} reps x {p['rounds']} rounds, "
        f"{p['body_bytes']} B JSON responses; median)",
        [
            "variant",
            "wall µs/call",
            "+wall µs",
            "client CPU µs/call",
            "+CPU µs",
            "+CPU µs (per-round)",
            "spans exported",
        ],
        rows,
    )
    lib = res.get("library", "httpx")
    table(f"Ratios (overhead over plain {lib})", ["ratio", "value"], list(res["ratios"].items()))
    console.print(
        f"{lib} target (ours ≤ logfire and ≤ 1.5 × bare OTel, CPU overhead): "
        f"{'MET' if res['target_met'] else 'MISSED'}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    ap.add_argument("--lib", choices=LIBRARIES, default="httpx", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("-n", type=int, default=2000, help=argparse.SUPPRESS)
    ap.add_argument("--reps", type=int, default=5, help=argparse.SUPPRESS)
    ap.add_argument("--warmup", type=int, default=300, help=argparse.SUPPRESS)
    ap.add_argument("--profile", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument(
        "--sizes",
        type=lambda text: tuple(int(x) for x in text.split(",")),
        help="calls,reps,warmup,rounds (default 2000,5,300,3; --smoke 200,2,50,1)",
    )
    args = ap.parse_args(argv)
    if args.serve:
        serve(args.port)
        return 0
    if args.variant:
        out = client_loop(args.variant, args.port, args.n, args.reps, args.warmup, args.profile, args.lib)
        sys.stdout.write(json.dumps(out) + "\n")
        return 0
    res = bench(args.smoke, args.sizes)
    report(res)
    write_results("sdk_overhead", res, smoke=args.smoke)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
