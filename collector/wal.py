"""Write-ahead log: accepted batches are on disk (fsynced) before the client gets its 2xx.

Why: an acknowledged span must survive ClickHouse being down, slow or failing, and the
collector being killed (`kill -9`) right after answering. The batcher appends each
accepted, already *redacted* batch here, answers, and marks it done once ClickHouse has
it; on the next start everything not done is replayed.

Layout: `<dir>/wal-<first seq>.log` segment files of framed records
(`<length u32><crc32 u32><kind u8><payload>`). Kinds:

* `BATCH_PICKLE`: one accepted request's decoded rows (a pickle of plain lists, dicts,
  strings and ints, followed by its sequence number as u64). Pickle because it encodes
  the column lists ~4x faster than JSON, which was ~10 % of the ingest CPU; it is read
  back with an unpickler that refuses every class, so a tampered file cannot run code.
  `BATCH` (the same as JSON) is what earlier versions wrote; it is still replayed;
* `INTENT`: "rows of seqs [...] of table T are about to be inserted with dedup token X".
  Written (and fsynced) *before* each insert, so a replay after a crash re-inserts
  exactly the same block with the same `insert_deduplication_token` and ClickHouse
  drops it if the first attempt had landed: replays never duplicate rows;
* `DONE`: seqs that are in ClickHouse (or dead-lettered). Not fsynced on its own — losing
  one only costs a replay that deduplication absorbs.

Group commit: concurrent `append` calls queue their frames; one caller (the leader)
writes everything queued with one `write` + one `fsync` and wakes the others, so N
concurrent requests share one fsync. A torn tail (crash mid-write) fails its CRC and is
cut off at open. Segments are deleted from the front once all their batches are done;
deleting only a prefix guarantees an INTENT never disappears while its batches remain.
"""

from __future__ import annotations

import fcntl
import io
import json
import logging
import os
import pickle
import struct
import threading
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from connlog.collector.batch import ColumnBatch

log = logging.getLogger("connlog.collector.wal")

BATCH: Final = 1  # JSON: written by earlier versions, still replayed
INTENT: Final = 2
DONE: Final = 3
BATCH_PICKLE: Final = 4
_HEADER: Final = struct.Struct("<IIB")
_SEQ: Final = struct.Struct("<Q")
_PREFIX: Final = "wal-"
_SUFFIX: Final = ".log"
_LOCK_NAME: Final = "LOCK"


class WalLocked(RuntimeError):
    """Another process owns this WAL directory (two collectors must not share one)."""


@dataclass
class ReplayUnit:
    """What to re-insert after a restart: a batch of one table and the seqs it covers.

    `token` is set when an INTENT was recorded for exactly these seqs: the re-insert must
    reuse it (ClickHouse then drops the block if it was already stored).
    """

    seqs: tuple[int, ...]
    batch: ColumnBatch
    token: str | None = None


@dataclass
class _Segment:
    path: Path
    first_seq: int
    size: int = 0
    pending: set[int] = field(default_factory=set)


def _encode_batch(seq: int, batch: ColumnBatch) -> bytes:
    """A `BATCH` payload as earlier versions wrote it (JSON); kept so replay of it stays tested."""
    doc = {
        "seq": seq,
        "table": batch.table,
        "signal": batch.signal,
        "columns": list(batch.columns),
        "rows": batch.rows,
        "nbytes": batch.nbytes,
        "data": batch.data,
    }
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class _PlainUnpickler(pickle.Unpickler):
    """Loads only what pickle encodes without classes (lists, dicts, tuples, str, int, ...)."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"WAL records hold no classes (found {module}.{name})")


def _pickle_batch(batch: ColumnBatch) -> bytes:
    doc = (batch.table, batch.signal, tuple(batch.columns), batch.rows, batch.nbytes, batch.data)
    return pickle.dumps(doc, protocol=5)


def _unpickle_batch(payload: bytes) -> tuple[int, ColumnBatch]:
    """(seq, batch) of a `BATCH_PICKLE` payload."""
    (seq,) = _SEQ.unpack_from(payload, len(payload) - _SEQ.size)
    table, signal, columns, rows, nbytes, data = _PlainUnpickler(io.BytesIO(payload[: -_SEQ.size])).load()
    batch = ColumnBatch(
        table=str(table),
        signal=str(signal),
        columns=tuple(columns),
        data=data,
        rows=int(rows),
        nbytes=int(nbytes),
    )
    return int(seq), batch


def _decode_batch(doc: dict[str, Any]) -> ColumnBatch:
    return ColumnBatch(
        table=str(doc["table"]),
        signal=str(doc["signal"]),
        columns=tuple(doc["columns"]),
        data=doc["data"],
        rows=int(doc["rows"]),
        nbytes=int(doc.get("nbytes", 0)),
    )


def frame(kind: int, payload: bytes) -> bytes:
    return _HEADER.pack(len(payload), zlib.crc32(payload) & 0xFFFFFFFF, kind) + payload


def read_frames(path: Path) -> Iterator[tuple[int, int, bytes]]:
    """(offset after the record, kind, payload) of each intact record; stops at the first bad one."""
    data = path.read_bytes()
    pos = 0
    while pos + _HEADER.size <= len(data):
        length, crc, kind = _HEADER.unpack_from(data, pos)
        start = pos + _HEADER.size
        payload = data[start : start + length]
        if len(payload) != length or zlib.crc32(payload) & 0xFFFFFFFF != crc:
            return
        pos = start + length
        yield pos, kind, payload


def merge(batches: list[ColumnBatch]) -> ColumnBatch:
    """A new batch holding the rows of `batches` (same table) in order; inputs untouched."""
    first = batches[0]
    if len(batches) == 1:
        return first
    data: list[list[Any]] = [[] for _ in first.columns]
    for b in batches:
        if b.columns != first.columns:
            raise ValueError(f"cannot merge batches with different columns for {first.table}")
        for mine, theirs in zip(data, b.data, strict=True):
            mine.extend(theirs)
    return ColumnBatch(
        table=first.table,
        signal=first.signal,
        columns=first.columns,
        data=data,
        rows=sum(b.rows for b in batches),
        nbytes=sum(b.nbytes for b in batches),
    )


class WriteAheadLog:
    """Thread-safe: request threads `append`, the writer thread `intent`s and marks `done`."""

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = 1024 * 1024 * 1024,
        segment_bytes: int = 64 * 1024 * 1024,
        fsync: bool = True,
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self._fsync = fsync
        # A fresh epoch per process start keeps new dedup tokens distinct from any
        # earlier run's even though seqs restart when the directory was emptied.
        self.epoch = uuid.uuid4().hex[:12]
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._segments: list[_Segment] = []
        self._fd = -1
        self._lock_fd = -1
        self._next_seq = 1
        # Frames waiting for the group commit, with the batch seq each carries (None: control).
        self._buffer: list[tuple[bytes, int | None]] = []
        self._buffered_pos = 0  # records handed to the buffer so far
        self._durable_pos = 0  # records written and fsynced so far
        self._leader = False
        self._bytes = 0  # on disk plus buffered
        self._seg_of: dict[int, _Segment] = {}  # pending batch seq -> its segment
        self.fsyncs = 0
        self.appended = 0

    # ------------------------------------------------------------------ open / replay
    def open(self) -> list[ReplayUnit]:
        """Lock the directory, repair a torn tail, and return what is still to be inserted."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.directory / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(self._lock_fd)
            self._lock_fd = -1
            raise WalLocked(f"WAL directory {self.directory} is in use by another process") from exc
        batches: dict[int, ColumnBatch] = {}
        intents: list[tuple[tuple[int, ...], str]] = []
        done: set[int] = set()
        paths = sorted(self.directory.glob(f"{_PREFIX}*{_SUFFIX}"))
        for path in paths:
            seg = _Segment(path, int(path.name[len(_PREFIX) : -len(_SUFFIX)]))
            good = 0
            for end, kind, payload in read_frames(path):
                good = end
                if kind in (BATCH, BATCH_PICKLE):
                    if kind == BATCH_PICKLE:
                        seq, batch = _unpickle_batch(payload)
                    else:
                        doc = json.loads(payload)
                        seq, batch = int(doc["seq"]), _decode_batch(doc)
                    batches[seq] = batch
                    seg.pending.add(seq)
                    self._seg_of[seq] = seg
                    self._next_seq = max(self._next_seq, seq + 1)
                    continue
                doc = json.loads(payload)
                if kind == INTENT:
                    intents.append((tuple(int(s) for s in doc["seqs"]), str(doc["token"])))
                elif kind == DONE:
                    done.update(int(s) for s in doc["seqs"])
            size = path.stat().st_size
            if good < size:
                log.warning("event=wal_torn_tail file=%s kept_bytes=%d cut_bytes=%d", path, good, size - good)
                with path.open("r+b") as fh:
                    fh.truncate(good)
                    os.fsync(fh.fileno())
            seg.size = good
            self._segments.append(seg)
            self._bytes += good
        for seq in done:
            self._forget(seq)
        units: list[ReplayUnit] = []
        covered: set[int] = set()
        for seqs, token in intents:
            live = [s for s in seqs if s in batches and s not in done and s not in covered]
            if live:
                units.append(ReplayUnit(tuple(live), merge([batches[s] for s in live]), token))
                covered.update(live)
        units.extend(
            ReplayUnit((seq,), batch)
            for seq, batch in sorted(batches.items())
            if seq not in done and seq not in covered
        )
        units.sort(key=lambda u: u.seqs[0])
        self._open_segment()
        self._truncate_prefix()
        if units:
            log.info(
                "event=wal_replay batches=%d rows=%d units=%d",
                sum(len(u.seqs) for u in units),
                sum(u.batch.rows for u in units),
                len(units),
            )
        return units

    def _open_segment(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        path = self.directory / f"{_PREFIX}{self._next_seq:016d}{_SUFFIX}"
        if self._segments and self._segments[-1].path == path:
            seg = self._segments[-1]
        else:
            seg = _Segment(path, self._next_seq)
            self._segments.append(seg)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if self._fsync:
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    # ------------------------------------------------------------------ append (group commit)
    def append(self, batch: ColumnBatch) -> int | None:
        """Durably log `batch`; its seq once fsynced, or None when the size cap is reached."""
        # Encoded and checksummed outside the lock; the seq (known under it) goes last.
        payload = _pickle_batch(batch)
        crc = zlib.crc32(payload)
        with self._cond:
            seq = self._next_seq
            tail = _SEQ.pack(seq)
            header = _HEADER.pack(len(payload) + len(tail), zlib.crc32(tail, crc) & 0xFFFFFFFF, BATCH_PICKLE)
            data = b"".join((header, payload, tail))
            if self._bytes + len(data) > self.max_bytes and self._bytes > 0:
                return None
            self._next_seq += 1
            self.appended += 1
            self._commit_until(self._enqueue(data, seq))
        return seq

    def _enqueue(self, data: bytes, seq: int | None) -> int:
        """Lock held: buffer one frame; returns its position for `_commit_until`."""
        self._buffer.append((data, seq))
        self._bytes += len(data)
        self._buffered_pos += 1
        return self._buffered_pos

    def _commit_until(self, pos: int) -> None:
        """Lock held: return once record `pos` is durable, leading a group commit if no one is."""
        while self._durable_pos < pos:
            if self._leader:
                self._cond.wait()
                continue
            self._leader = True
            chunk = self._buffer
            self._buffer = []
            upto = self._buffered_pos
            seg = self._segments[-1]
            self._cond.release()
            try:
                os.write(self._fd, b"".join(data for data, _ in chunk))
                if self._fsync:
                    os.fdatasync(self._fd)
            finally:
                self._cond.acquire()
                self._leader = False
                self.fsyncs += 1
                self._cond.notify_all()
            for data, seq in chunk:
                seg.size += len(data)
                if seq is not None:
                    seg.pending.add(seq)
                    self._seg_of[seq] = seg
            self._durable_pos = upto
            if seg.size >= self.segment_bytes:
                self._open_segment()

    def _write_record(self, kind: int, doc: dict[str, Any], *, durable: bool) -> None:
        data = frame(kind, json.dumps(doc, separators=(",", ":")).encode("utf-8"))
        with self._cond:
            pos = self._enqueue(data, None)
            if durable:
                self._commit_until(pos)

    def intent(self, table: str, seqs: tuple[int, ...], token: str) -> None:
        """Durably record that `seqs` are about to be inserted into `table` with `token`."""
        self._write_record(INTENT, {"table": table, "seqs": list(seqs), "token": token}, durable=True)

    def done(self, seqs: tuple[int, ...]) -> None:
        """`seqs` are in ClickHouse (or set aside): free fully done segments from the front."""
        self._write_record(DONE, {"seqs": list(seqs)}, durable=False)
        with self._cond:
            for seq in seqs:
                self._forget(seq)
            self._truncate_prefix()

    def _forget(self, seq: int) -> None:
        seg = self._seg_of.pop(seq, None)
        if seg is not None:
            seg.pending.discard(seq)

    def _truncate_prefix(self) -> None:
        """Lock held: delete done segments from the front; start a new segment when all is done."""
        if self._leader:
            return  # the leader writes to the active segment without the lock; next time
        batches_buffered = any(seq is not None for _, seq in self._buffer)
        if not self._seg_of and not batches_buffered and self._segments and self._segments[-1].size > 0:
            self._next_seq += 1  # a fresh name for the new segment; seqs may have gaps
            self._open_segment()
        active = self._segments[-1]
        while self._segments[0] is not active and not self._segments[0].pending:
            seg = self._segments.pop(0)
            seg.path.unlink(missing_ok=True)
            self._bytes -= seg.size

    # ------------------------------------------------------------------ status
    @property
    def size_bytes(self) -> int:
        with self._lock:
            return self._bytes

    def pending_batches(self) -> int:
        with self._lock:
            return len(self._seg_of)

    def close(self) -> None:
        with self._cond:
            if self._buffer and self._fd >= 0:
                self._commit_until(self._buffered_pos)
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            if self._lock_fd >= 0:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                os.close(self._lock_fd)
                self._lock_fd = -1
