"""Kill -9, SIGTERM and ClickHouse outages against a collector in its own process.

chDB lets one process own a data directory, so the collector under test runs in a child
process on its own directory and the counts are read afterwards by another child
(`runner.py count`) once the collector has exited. Loopback only, bounded.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from connlog.collector.stats import process_memory
from tests.otlp_samples import span, traces_request

RUNNER = Path(__file__).with_name("runner.py")
ROOT = Path(__file__).resolve().parents[2]
PB = {"Content-Type": "application/x-protobuf"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Collector:
    """One child process running `runner.py serve`."""

    def __init__(self, data_dir: Path, fail_seconds: float = 0.0) -> None:
        self.http, self.grpc = free_port(), free_port()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(RUNNER),
                "serve",
                str(data_dir),
                str(self.http),
                str(self.grpc),
                str(fail_seconds),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("READY"), line
        self.url = f"http://127.0.0.1:{self.http}"

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def terminate(self) -> dict[str, int]:
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=60)
        assert self.proc.returncode == 0
        line = next(ln for ln in out.splitlines() if ln.startswith("STOPPED"))
        return dict(json.loads(line.split(" ", 1)[1]))


def stored(data_dir: Path) -> tuple[dict[str, int], list[str]]:
    """(row counts per storage table + distinct span ids, every stored span name)."""
    out = subprocess.run(
        [sys.executable, str(RUNNER), "count", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    return dict(doc["counts"]), list(doc["names"])


def count(data_dir: Path) -> dict[str, int]:
    return stored(data_dir)[0]


def reconcile(data_dir: Path, acked: list[str], in_flight: int) -> dict[str, int]:
    """Every acknowledged span stored exactly once; at most `in_flight` unacknowledged extras.

    An extra is a request that was fsynced to the WAL but whose 200 never reached the
    client because the process died first (the client retries it: at-least-once).
    """
    counts, names = stored(data_dir)
    assert counts["otel_traces"] == counts["distinct_spans"] == len(set(names)), counts  # no duplicates
    missing = set(acked) - set(names)
    assert not missing, sorted(missing)[:10]
    assert len(names) - len(set(acked)) <= in_flight, (len(names), len(acked))
    return counts


def send(url: str, worker: int, n: int, acked: list[str], stop: threading.Event | None = None) -> None:
    """Send `n` one-span requests; append the index of each 2xx to `acked`; stop on connection errors."""
    with httpx.Client(timeout=10) as client:
        for i in range(n):
            if stop is not None and stop.is_set():
                return
            sid = (worker * 1_000_000 + i + 1).to_bytes(8, "big")
            body = traces_request(span(f"w{worker}-{i}", span_id=sid)).SerializeToString()
            while True:
                try:
                    resp = client.post(f"{url}/v1/traces", content=body, headers=PB)
                except httpx.TransportError:
                    return
                if resp.status_code in (429, 503):
                    time.sleep(float(resp.headers.get("Retry-After", "0.1")) / 10)
                    continue
                assert resp.status_code == 200, resp.text
                acked.append(f"w{worker}-{i}")
                break


def test_kill9_mid_load_then_restart_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    """Acknowledged spans survive `kill -9` (WAL) and the replay adds no duplicates (dedup)."""
    col = Collector(tmp_path)
    acked: list[str] = []
    threads = [threading.Thread(target=send, args=(col.url, w, 400, acked)) for w in range(4)]
    for t in threads:
        t.start()
    while len(acked) < 300:
        time.sleep(0.01)
    col.kill9()  # mid-load: some batches in the WAL only, some inserted but not marked done
    for t in threads:
        t.join(30)
    assert os.listdir(tmp_path / "wal" / "connlog")  # the WAL is there to replay

    col = Collector(tmp_path)  # replays on start
    stats = col.terminate()
    assert stats["spans_replayed"] > 0
    reconcile(tmp_path, acked, in_flight=4)


def test_clickhouse_outage_mid_load_every_ack_is_stored(tmp_path: Path) -> None:
    """Inserts fail for 3 s (fault injected at the Sink); exporters keep being acknowledged."""
    col = Collector(tmp_path, fail_seconds=3.0)
    acked: list[str] = []
    threads = [threading.Thread(target=send, args=(col.url, w, 150, acked)) for w in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    stats = col.terminate()
    assert stats["insert_retries"] > 0 and stats["spans_dropped"] == 0
    assert len(acked) == 450
    assert reconcile(tmp_path, acked, in_flight=0)["otel_traces"] == 450


def test_connlog_collector_cli_flushes_on_sigterm(tmp_path: Path) -> None:
    """`connlog collector` stops on SIGTERM and writes what it acknowledged before exiting."""
    http, grpc_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "connlog.cli", "collector", "--data-dir", str(tmp_path),
            "--otlp-http-port", str(http), "--otlp-grpc-port", str(grpc_port),
        ],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{http}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline and proc.poll() is None, "collector did not start"
        time.sleep(0.1)
    acked: list[str] = []
    send(url, 0, 50, acked)
    proc.send_signal(signal.SIGTERM)  # well before the 1 s batch delay elapsed
    proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert count(tmp_path)["otel_traces"] == len(acked) == 50


@pytest.mark.long
@pytest.mark.timeout(1200)
def test_kill9_loop_long(tmp_path: Path) -> None:
    """Five kill -9 / restart cycles under load, with an outage in the middle one."""
    acked: list[str] = []
    for cycle in range(5):
        col = Collector(tmp_path, fail_seconds=5.0 if cycle == 2 else 0.0)
        threads = [
            threading.Thread(target=send, args=(col.url, cycle * 10 + w, 2000, acked)) for w in range(4)
        ]
        for t in threads:
            t.start()
        time.sleep(4)
        col.kill9()
        for t in threads:
            t.join(30)
    Collector(tmp_path).terminate()
    counts = reconcile(tmp_path, acked, in_flight=4 * 5)
    print(f"kill9 loop: acked={len(acked)} stored={counts['otel_traces']}")


def soak(data_dir: Path, seconds: float, workers: int = 4) -> dict[str, float]:
    """Concurrent exporters for `seconds`; RSS sampled; every acknowledged span reconciled.

    RSS is split as `collector.stats.process_memory` reports it (what `/stats` shows):
    `rss_file` is mostly chDB's mapped library and does not move with load; `rss_anon`
    (heap, stacks, engine blocks) is what could grow, so both are reported.
    """
    col = Collector(data_dir)
    acked: list[str] = []
    stop = threading.Event()
    threads = [threading.Thread(target=send, args=(col.url, w, 10**6, acked, stop)) for w in range(workers)]
    for t in threads:
        t.start()
    samples: list[dict[str, int]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        samples.append(process_memory(col.proc.pid))
        time.sleep(min(1.0, seconds / 20))
    stop.set()
    for t in threads:
        t.join(30)
    stats = col.terminate()
    reconcile(data_dir, acked, in_flight=0)
    warm = samples[len(samples) // 4 :] or samples
    result: dict[str, float] = {
        "acked": len(acked),
        "rate": len(acked) / seconds,
        "refused": stats["spans_refused"],
    }
    for key in ("rss", "rss_anon", "rss_file"):
        values = [s.get(key, 0) / 2**20 for s in warm]
        result |= {
            f"{key}_first_mib": values[0],
            f"{key}_max_mib": max(values),
            f"{key}_last_mib": values[-1],
        }
    return result


def test_short_soak_reconciles(tmp_path: Path) -> None:
    result = soak(tmp_path, 4.0)
    assert result["acked"] > 100


@pytest.mark.long
@pytest.mark.timeout(float(os.environ.get("CONNLOG_SOAK_SECONDS", "600")) + 600)
def test_soak_long(tmp_path: Path) -> None:
    """`CONNLOG_SOAK_SECONDS` (default 600): memory flat, every acknowledged span stored."""
    result = soak(tmp_path, float(os.environ.get("CONNLOG_SOAK_SECONDS", "600")))
    print(f"soak: {result}")
    assert result["rss_max_mib"] < result["rss_first_mib"] * 1.5 + 50  # flat, not growing with load
    assert result["rss_anon_max_mib"] < result["rss_anon_first_mib"] * 1.5 + 50  # the part caps act on
