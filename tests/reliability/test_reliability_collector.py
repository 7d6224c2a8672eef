"""Collector durability in-process: the WAL, idempotent replay, poison batches, the size cap.

Faults are injected at the `Sink` boundary (no ClickHouse server runs here): a sink that
fails for a while, one that inserts and then reports failure (the ack got lost), one
that rejects a batch permanently.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
from clickhouse_connect.driver.client import Client

from connlog.collector.batch import ColumnBatch
from connlog.collector.insert_errors import PermanentInsertError, is_permanent
from connlog.collector.options import CollectorOptions
from connlog.collector.schema.names import TRACES, TRACES_INGEST
from connlog.collector.sink import ClickHouseSink
from connlog.collector.wal import WalLocked, WriteAheadLog
from tests.faulty_sink import FaultySink
from tests.otlp_samples import span, traces_request
from tests.pipeline import Pipeline, PipelineFactory
from tests.reliability.runner import STORAGE

PB = {"Content-Type": "application/x-protobuf"}
S = TypeVar("S", bound=ClickHouseSink)


def _post(url: str, *spans: Any) -> httpx.Response:
    return httpx.post(f"{url}/v1/traces", content=traces_request(*spans).SerializeToString(), headers=PB)


def _numbered(name: str, n: int) -> Any:
    """A span with the 8-byte span id `n`, so the stored rows can be told apart."""
    return span(name, span_id=n.to_bytes(8, "big"))


def _with_sink(
    pipeline_factory: PipelineFactory, options: CollectorOptions, sink: Callable[[Client], S]
) -> tuple[Pipeline, list[S]]:
    """A pipeline whose inserts go through `sink` (fault injection), and the sinks it made."""
    sinks: list[S] = []

    def make(client: Client) -> S:
        sinks.append(sink(client))
        return sinks[-1]

    return pipeline_factory(options, sink_factory=make), sinks


def _batch(rows: int, tag: str = "x") -> ColumnBatch:
    return ColumnBatch(
        table="t", signal="spans", columns=("a", "b"), data=[list(range(rows)), [tag] * rows], rows=rows
    )


# --------------------------------------------------------------------------- WAL unit
def test_group_commit_shares_fsyncs_and_replays_everything(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    assert wal.open() == []
    seqs: list[int] = []

    def writer() -> None:
        for _ in range(100):
            seq = wal.append(_batch(5))
            assert seq is not None
            seqs.append(seq)

    threads = [threading.Thread(target=writer) for _ in range(8)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    assert sorted(seqs) == list(range(1, 801))
    assert wal.fsyncs < wal.appended == 800  # concurrent appends shared fsyncs
    print(
        f"group commit: {wal.appended} appends, {wal.fsyncs} fsyncs, {wal.appended / elapsed:.0f} appends/s"
    )
    wal.close()

    again = WriteAheadLog(tmp_path)
    units = again.open()
    assert [u.seqs[0] for u in units] == list(range(1, 801))  # in order
    assert all(u.token is None and u.batch.rows == 5 for u in units)
    again.done(tuple(range(1, 801)))
    assert again.pending_batches() == 0
    again.close()
    third = WriteAheadLog(tmp_path)
    assert third.open() == []
    assert len(list(tmp_path.glob("wal-*.log"))) == 1  # done segments were deleted
    third.close()


def test_torn_tail_is_cut_and_intent_replays_with_its_token(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    wal.open()
    for tag in "abc":
        wal.append(_batch(2, tag))
    wal.intent("t", (1, 2), "tok-1-2")
    wal.close()
    segment = max(tmp_path.glob("wal-*.log"))
    with segment.open("ab") as fh:
        fh.write(b"\x40\x00\x00\x00garbage-from-a-crash")  # a frame cut short by kill -9
    wal = WriteAheadLog(tmp_path)
    units = wal.open()
    assert [(u.seqs, u.token, u.batch.data[1]) for u in units] == [
        ((1, 2), "tok-1-2", ["a", "a", "b", "b"]),  # exactly the block the intent named
        ((3,), None, ["c", "c"]),
    ]
    assert not segment.read_bytes().endswith(b"crash")
    wal.close()


def test_one_process_per_wal_directory(tmp_path: Path) -> None:
    first = WriteAheadLog(tmp_path)
    first.open()
    try:
        second = WriteAheadLog(tmp_path)
        try:
            second.open()
            raise AssertionError("a second owner must be refused")
        except WalLocked:
            pass
    finally:
        first.close()


def test_size_cap_refuses_instead_of_growing(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path, max_bytes=2_000)
    wal.open()
    accepted = [wal.append(_batch(20)) for _ in range(20)]
    assert None in accepted and accepted[0] is not None
    wal.done(tuple(s for s in accepted if s is not None))
    assert wal.append(_batch(20)) is not None  # room again once written
    wal.close()


def test_error_classification() -> None:
    from clickhouse_connect.driver.exceptions import DatabaseError, DataError, OperationalError

    assert is_permanent(PermanentInsertError("x"))
    assert is_permanent(DataError("Unable to create native array for column `Timestamp`"))
    assert is_permanent(DatabaseError("Code: 53. TYPE_MISMATCH", code=53))
    assert not is_permanent(DatabaseError("Code: 241. MEMORY_LIMIT_EXCEEDED", code=241))
    assert not is_permanent(OperationalError("connection refused"))
    assert not is_permanent(ConnectionError("reset"))
    assert not is_permanent(TimeoutError())


# --------------------------------------------------------------------------- dedup on chDB
def _storage_counts(client: Client) -> dict[str, int]:
    return {t: int(client.query(f"SELECT count() FROM {t}").result_rows[0][0]) for t in STORAGE}


def _ingest_batch(n: int) -> ColumnBatch:
    from connlog.collector.decode_traces import decode_traces

    spans = []
    for i in range(n):
        s = _numbered(f"dedup-{i}", i + 1)
        s.attributes.add(key="connector.entity.external_id", value={"string_value": f"rec-{i}"})
        s.attributes.add(key="http.request.body.content", value={"string_value": "{}"})
        spans.append(s)
    return decode_traces(traces_request(*spans))


def test_same_wal_batch_inserted_twice_is_stored_once(ch_client: Client) -> None:
    """Null table + views + the schema's dedup window (migration 2) + the batch token."""
    sink = ClickHouseSink(ch_client)
    batch = _ingest_batch(5)
    before = _storage_counts(ch_client)
    sink.write(TRACES_INGEST, batch.columns, batch.data, token="t-2")
    once = _storage_counts(ch_client)
    sink.write(TRACES_INGEST, batch.columns, batch.data, token="t-2")  # the replay
    assert _storage_counts(ch_client) == once  # every storage table unchanged
    assert {t: once[t] - before[t] for t in STORAGE} == {
        "otel_traces": 5,
        "otel_traces_payloads": 5,
        "otel_traces_trace_id_ts": 1,
        "connector_search_index": 5,
        "otel_logs": 0,
        "connector_runs": 0,  # no run spans in this batch
        "connector_faults": 0,  # no exception events either
        "connector_record_touches": 5,
    }
    sink.write(TRACES_INGEST, batch.columns, batch.data, token="t-3")  # a new token is new data
    assert _storage_counts(ch_client)[TRACES] == once[TRACES] + 5


def test_without_the_dedup_window_a_replay_duplicates(ch_client: Client) -> None:
    """Why migration 2 exists: with the window at 0 the same token does not deduplicate."""
    for table in STORAGE:
        ch_client.command(f"ALTER TABLE {table} MODIFY SETTING non_replicated_deduplication_window = 0")
    sink = ClickHouseSink(ch_client)
    batch = _ingest_batch(5)
    sink.write(TRACES_INGEST, batch.columns, batch.data, token="t-1")
    sink.write(TRACES_INGEST, batch.columns, batch.data, token="t-1")
    assert _storage_counts(ch_client)[TRACES] == 10


class InsertThenFail(ClickHouseSink):
    """Inserts, then raises on the first `n` calls: the insert landed but the ack was lost."""

    def __init__(self, client: Client, n: int = 2) -> None:
        super().__init__(client)
        self.n = n
        self.tokens: list[str | None] = []

    def write(
        self, table: str, columns: Sequence[str], data: list[list[Any]], *, token: str | None = None
    ) -> None:
        super().write(table, columns, data, token=token)
        self.tokens.append(token)
        if self.n > 0:
            self.n -= 1
            raise ConnectionError("injected: connection reset after the insert")


def test_retry_after_lost_ack_does_not_duplicate(pipeline_factory: PipelineFactory) -> None:
    p, sinks = _with_sink(
        pipeline_factory, CollectorOptions(batch_max_delay_s=0.05, insert_backoff_s=0.01), InsertThenFail
    )
    for i in range(6):
        assert _post(p.http_endpoint, _numbered(f"s{i}", i + 1)).status_code == 200
    p.flush()
    assert p.stats["insert_retries"] == 2
    tokens = sinks[0].tokens
    assert tokens[0] is not None and tokens[0] == tokens[1] == tokens[2]  # same token on retry
    assert p.client.query(f"SELECT count(), uniqExact(SpanId) FROM {TRACES}").result_rows == [(6, 6)]


# --------------------------------------------------------------------------- outage, poison, cap
class Outage(FaultySink):
    """Fails every insert while `down` is set (fault injection), then recovers."""

    def __init__(self, client: Client) -> None:
        super().__init__(client)
        self.down = threading.Event()
        self.down.set()
        self.failures = 0

    def before(self, columns: Sequence[str], data: list[list[Any]]) -> None:
        if self.down.is_set():
            self.failures += 1
            raise ConnectionError("injected: clickhouse down")


def test_outage_longer_than_the_retry_budget_loses_nothing(pipeline_factory: PipelineFactory) -> None:
    p, sinks = _with_sink(
        pipeline_factory,
        CollectorOptions(batch_max_delay_s=0.05, insert_backoff_s=0.01, insert_backoff_max_s=0.05),
        Outage,
    )
    for i in range(20):
        assert _post(p.http_endpoint, _numbered(f"o{i}", i + 1)).status_code == 200
    deadline = time.monotonic() + 10
    while sinks[0].failures < 10 and time.monotonic() < deadline:  # far past insert_retries=3
        time.sleep(0.02)
    assert p.server.batcher.wal_status()["pending_batches"] == 20  # type: ignore[index]
    sinks[0].down.clear()
    p.flush()
    assert p.client.query(f"SELECT count() FROM {TRACES}").result_rows == [(20,)]
    assert p.stats["spans_dropped"] == 0 and p.stats["spans_written"] == 20


class RejectsPoison(FaultySink):
    """Rejects, permanently, any batch holding a span named 'poison'."""

    def before(self, columns: Sequence[str], data: list[list[Any]]) -> None:
        if "SpanName" in columns and "poison" in data[list(columns).index("SpanName")]:
            raise PermanentInsertError("TYPE_MISMATCH: injected poison")


def test_poison_batch_is_dead_lettered_and_does_not_block_the_rest(pipeline_factory: PipelineFactory) -> None:
    p = pipeline_factory(CollectorOptions(batch_max_delay_s=0.5), sink_factory=RejectsPoison)
    names = ["ok-1", "poison", "ok-2", "ok-3"]
    for i, name in enumerate(names):  # within one batch delay: merged into one insert, then split
        assert _post(p.http_endpoint, _numbered(name, i + 1)).status_code == 200
    p.flush()
    stored = sorted(r[0] for r in p.client.query(f"SELECT SpanName FROM {TRACES}").result_rows)
    assert stored == ["ok-1", "ok-2", "ok-3"]
    stats = httpx.get(f"{p.http_endpoint}/stats").json()
    assert stats["counters"]["spans_dead_lettered"] == 1
    assert stats["counters"]["batches_dead_lettered"] == 1
    assert stats["wal"]["pending_batches"] == 0  # nothing stuck behind the poison
    files = p.server.dead_letter.files()
    docs = [json.loads(f.read_text()) for f in files]
    reasons = sorted(d["reason"].split(":")[0] for d in docs)
    assert reasons == ["PermanentInsertError"]
    assert all(d["rows"] == 1 and d["table"] == TRACES_INGEST for d in docs)


class Gated(FaultySink):
    def __init__(self, client: Client) -> None:
        super().__init__(client)
        self.gate = threading.Event()

    def before(self, columns: Sequence[str], data: list[list[Any]]) -> None:
        assert self.gate.wait(30)


def test_full_wal_answers_429_with_retry_after(pipeline_factory: PipelineFactory) -> None:
    p, sinks = _with_sink(
        pipeline_factory,
        CollectorOptions(batch_max_delay_s=0.01, wal_max_bytes=6_000, retry_after_s=3),
        Gated,
    )
    codes = []
    for i in range(12):
        resp = _post(p.http_endpoint, _numbered(f"c{i}", i + 1))
        codes.append(resp.status_code)
        if resp.status_code == 429:
            assert resp.headers["Retry-After"] == "3"
    assert 200 in codes and 429 in codes
    assert p.stats["requests_wal_full"] == codes.count(429)
    sinks[0].gate.set()
    p.flush()
    assert p.client.query(f"SELECT count() FROM {TRACES}").result_rows == [(codes.count(200),)]
    assert _post(p.http_endpoint, _numbered("after", 99)).status_code == 200
