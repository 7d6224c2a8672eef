"""SDK durability: the on-disk spool while the collector is down, and bursts at default settings."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

import pytest

import connlog as cl
from connlog.collector.schema.names import TRACES
from tests.pipeline import Pipeline


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(n: int) -> None:
    with cl.run(sync_type="full"), cl.step("s"), cl.page(number=1):
        for i in range(n):
            cl.entity(f"rec-{i}", type="contact", action="create")


def _entities(p: Pipeline) -> int:
    return int(p.client.query(f"SELECT count() FROM {TRACES} WHERE Role = 'entity'").result_rows[0][0])


def test_collector_down_spools_then_delivers_on_next_start(
    tmp_path: Path, pipeline: Pipeline, caplog
) -> None:
    spool_dir = tmp_path / "spool"
    handle = cl.init(
        connector="spooler",
        endpoint=f"http://127.0.0.1:{_closed_port()}",
        spool_dir=spool_dir,
        export_timeout=1.0,
    )
    started = time.monotonic()
    _run(300)
    assert time.monotonic() - started < 3.0  # the connector never waits on the collector
    with caplog.at_level(logging.WARNING, logger="connlog.sdk"):
        handle.shutdown()
    stats = handle.stats()
    assert stats.spans.exported == 0
    assert stats.spans.spooled == stats.spans.submitted == 300 + 4  # run, marker, step, page
    assert stats.spans.dropped == 0  # nothing dropped while the spool had room
    assert list(spool_dir.glob("*.pb"))
    assert any("kept in the spool" in r.getMessage() for r in caplog.records)

    # The collector is back; the next process start drains the spool in the background.
    again = cl.init(connector="spooler", endpoint=pipeline.http_endpoint, spool_dir=spool_dir)
    deadline = time.monotonic() + 20
    while list(spool_dir.glob("*.pb")) and time.monotonic() < deadline:
        time.sleep(0.05)
    again.shutdown()
    assert not list(spool_dir.glob("*.pb"))
    pipeline.flush()
    assert _entities(pipeline) == 300
    assert pipeline.client.query(f"SELECT count() FROM {TRACES}").result_rows == [(304,)]


def test_full_spool_drops_are_counted_and_reported(tmp_path: Path, caplog) -> None:
    handle = cl.init(
        connector="tiny-spool",
        endpoint=f"http://127.0.0.1:{_closed_port()}",
        spool_dir=tmp_path / "spool",
        spool_max_bytes=4_000,
        export_timeout=1.0,
    )
    _run(500)
    with caplog.at_level(logging.WARNING, logger="connlog.sdk"):
        handle.shutdown()
    stats = handle.stats().spans
    assert stats.spool_dropped > 0
    assert stats.spooled + stats.dropped == stats.submitted
    assert stats.dropped >= stats.spool_dropped
    assert sum(p.stat().st_size for p in (tmp_path / "spool").glob("*.pb")) <= 4_000
    assert any("spool full" in r.getMessage() for r in caplog.records)


def _burst(pipeline: Pipeline, n: int) -> tuple[int, float]:
    handle = cl.init(connector=f"burst-{n}", endpoint=pipeline.http_endpoint)
    started = time.monotonic()
    _run(n)
    handle.shutdown(timeout_millis=120_000)
    elapsed = time.monotonic() - started
    stats = handle.stats().spans
    assert stats.queue_dropped == 0 and stats.dropped == 0, stats
    pipeline.flush(120)
    return _entities(pipeline), elapsed


def test_burst_of_entities_is_not_lost_at_default_settings(pipeline: Pipeline) -> None:
    stored, _ = _burst(pipeline, 20_000)  # ten times the SDK's default queue of 2048
    assert stored == 20_000


@pytest.mark.long
@pytest.mark.timeout(1200)
def test_burst_of_100k_entities_long(pipeline: Pipeline) -> None:
    stored, elapsed = _burst(pipeline, 100_000)
    print(f"100k burst: stored={stored} seconds={elapsed:.1f}")
    assert stored == 100_000
