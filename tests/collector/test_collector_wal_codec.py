"""The WAL's batch records: pickled rows replay exactly, JSON records of earlier versions still
replay, and a record naming a class (a tampered file) is refused instead of run."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from connlog.collector.batch import ColumnBatch
from connlog.collector.decode_traces import decode_traces
from connlog.collector.wal import BATCH, BATCH_PICKLE, WriteAheadLog, _encode_batch, frame, read_frames
from tests.otlp_samples import kv, span, traces_request


def _batch() -> ColumnBatch:
    spans = []
    for i in range(3):
        s = span(f"s{i} ü", span_id=bytes([i + 1]) * 8)
        s.attributes.append(kv("http.response.body.content", string_value='{"x": "\\u00e9"}' * (i + 1)))
        s.events.add(time_unix_nano=s.start_time_unix_nano, name="e").attributes.append(kv("k", int_value=i))
        spans.append(s)
    return decode_traces(traces_request(*spans), wire_size=123)


def _same(a: ColumnBatch, b: ColumnBatch) -> None:
    assert (a.table, a.signal, a.columns, a.rows, a.nbytes) == (
        b.table,
        b.signal,
        b.columns,
        b.rows,
        b.nbytes,
    )
    assert a.data == b.data


def test_pickled_batches_replay_exactly(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path, fsync=False)
    wal.open()
    batch = _batch()
    seqs = [wal.append(batch), wal.append(batch)]
    wal.close()
    kinds = [kind for path in sorted(tmp_path.glob("wal-*.log")) for _, kind, _ in read_frames(path)]
    assert kinds == [BATCH_PICKLE, BATCH_PICKLE]
    again = WriteAheadLog(tmp_path, fsync=False)
    units = again.open()
    assert [u.seqs for u in units] == [(seqs[0],), (seqs[1],)]
    for unit in units:
        _same(unit.batch, batch)
    assert again.append(batch) == 3  # numbering continues after the replayed seqs
    again.close()


def test_json_batches_of_earlier_versions_still_replay(tmp_path: Path) -> None:
    batch = _batch()
    (tmp_path / "wal-0000000000000007.log").write_bytes(frame(BATCH, _encode_batch(7, batch)))
    wal = WriteAheadLog(tmp_path, fsync=False)
    (unit,) = wal.open()
    assert unit.seqs == (7,)
    _same(unit.batch, batch)
    wal.close()


class _Boom:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("touch pwned",))


def test_a_record_naming_a_class_is_refused_not_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    payload = pickle.dumps(("t", "spans", ("c",), 1, 0, [[_Boom()]]), protocol=5) + (1).to_bytes(8, "little")
    # A well-formed frame (valid CRC): only the unpickler can refuse it.
    (tmp_path / "wal-0000000000000001.log").write_bytes(frame(BATCH_PICKLE, payload))
    with pytest.raises(pickle.UnpicklingError, match="no classes"):
        WriteAheadLog(tmp_path, fsync=False).open()
    assert not (tmp_path / "pwned").exists()
