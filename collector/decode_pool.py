"""Decode in worker processes: parse + admit (limits, key binding, decode) + redaction.

Why: those stages are pure Python under the GIL (a third to a half of the collector's CPU
per span, docs/performance.md §2), so one process could use one core at most. A pool of
`decode_workers` processes runs them in parallel; the parent keeps what must stay single
(chDB, which one process owns, and the WAL): it authenticates the request, hands the raw
body to a worker, gets the redacted `ColumnBatch` back and submits it to the batcher
exactly as the in-process path does, so a request is still acknowledged only once its
batch is in the WAL and queue, and backpressure is unchanged.

Workers are fresh interpreters (`python -m connlog.collector.decode_pool`), never forks:
the parent has chDB's and gRPC's threads, which a forked child would inherit in an
undefined state. Not `multiprocessing` either: its spawn and forkserver methods re-run
the parent's `__main__` in every worker, which breaks any program that embeds the
collector without a `__main__` guard and loads the whole CLI into each worker. Each
worker takes one request at a time over its stdin/stdout pipes, so a request is bound to
one worker and a dead worker is seen as end-of-file by exactly the request it was
decoding. Frames are length-prefixed pickles between two processes of this program: the
pipes are private to them, so unpickling classes is safe here (unlike in the WAL, whose
files anyone with disk access could edit).

A worker that dies (killed, out of memory) fails that request with `WorkerCrashed` (an
`Unavailable`: 503 / UNAVAILABLE, which exporters retry) and is replaced in the
background; the other workers keep serving. Nothing was acknowledged for that request, so
nothing acknowledged is lost. Starting a worker costs ~1 s of imports, paid at `start`.
"""

from __future__ import annotations

import logging
import os
import pickle
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any, Final

from connlog.collector.batch import BatchTransform, ColumnBatch
from connlog.collector.batcher import Unavailable, apply_transform
from connlog.collector.ingest_auth import IngestKeys, IngestPrincipal
from connlog.collector.intake import Intake
from connlog.collector.otlp_codec import PROTOBUF, gunzip, parse_body
from connlog.collector.redact import ENV_SECRETS, ENV_SECRETS_FILE, default_redaction
from connlog.collector.stats import Stats

log = logging.getLogger("connlog.collector.decode_pool")

CRASHES: Final = "decode_worker_crashes"  # stats counter
_LENGTH: Final = struct.Struct("<Q")
_OK: Final = 0
_ERROR: Final = 1
_READY: Final = b"ready"


class WorkerCrashed(Unavailable):
    """The worker decoding this request died; nothing of it was stored (503 / UNAVAILABLE)."""


@dataclass(frozen=True)
class RawRequest:
    """One export request as received: what a worker needs to turn it into a batch.

    `principal` was authenticated by the parent (the key check needs no body); the
    connector binding is checked by `Intake.admit` after parsing, in the worker.
    """

    signal: str  # "traces" or "logs"
    body: bytes
    content_type: str  # otlp_codec.PROTOBUF or JSON
    gzip: bool
    principal: IngestPrincipal


def decode_request(intake: Intake, raw: RawRequest) -> ColumnBatch:
    """Decompress, parse, check limits and key binding, decode: the batch, not yet redacted.

    The one path from a raw body to a batch, run by the workers and by the in-process
    HTTP receiver alike. An OTLP/JSON body is no measure of the protobuf size, hence `exact`.
    """
    body = gunzip(raw.body, intake.options.max_decompressed_bytes) if raw.gzip else raw.body
    message = parse_body(raw.signal, body, raw.content_type)
    exact = raw.content_type == PROTOBUF
    return intake.admit(raw.signal, message, raw.principal, len(body), exact=exact)


# ----------------------------------------------------------------------------- wire
def _write(stream: IO[bytes], payload: bytes) -> None:
    stream.write(_LENGTH.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def _read(stream: IO[bytes]) -> bytes | None:
    """The next frame's payload, or None at end of file (the other side is gone)."""
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(header)
    payload = stream.read(length)
    return payload if len(payload) == length else None


# ----------------------------------------------------------------------------- worker side
@dataclass
class _WorkerState:
    intake: Intake
    redaction: BatchTransform | None


def _work(state: _WorkerState, raw: RawRequest) -> ColumnBatch:
    batch = decode_request(state.intake, raw)
    if state.redaction is not None and batch.rows:
        batch = apply_transform(state.redaction, batch)
    return batch


def _portable(exc: Exception) -> Exception:
    """`exc` if it survives pickling (the refusals do), else a RuntimeError with its text."""
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes
    except Exception:  # noqa: BLE001 - any failure: send the text instead
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def worker_main() -> None:
    """A worker's loop: one init frame, then request frames until the parent closes stdin."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, never into the protocol
    inp = sys.stdin.buffer
    init = _read(inp)
    if init is None:
        return
    options, retention_days, redact_env = pickle.loads(init)  # noqa: S301 - from the parent
    redaction = default_redaction(redact_env) if redact_env is not None else None
    state = _WorkerState(Intake(options, IngestKeys(), retention_days), redaction)
    _write(out, _READY)
    while (frame := _read(inp)) is not None:
        reply: tuple[int, Any]
        try:
            reply = (_OK, _work(state, pickle.loads(frame)))  # noqa: S301 - from the parent
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the request
            reply = (_ERROR, _portable(exc))
        _write(out, pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))


# ----------------------------------------------------------------------------- parent side
class _WorkerDied(Exception):
    pass


class _Worker:
    """One worker process and its pipes; used by one request at a time."""

    def __init__(self, init: bytes) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self.proc = subprocess.Popen(  # noqa: S603 - this interpreter, this module
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._stdin: IO[bytes] = self.proc.stdin
        self._stdout: IO[bytes] = self.proc.stdout
        self._init = init

    @property
    def pid(self) -> int:
        return self.proc.pid

    def handshake(self) -> None:
        """Send the settings and wait until the worker has imported everything."""
        try:
            _write(self._stdin, self._init)
        except OSError as exc:
            raise _WorkerDied(str(exc)) from exc
        if _read(self._stdout) != _READY:
            raise _WorkerDied(f"decode worker {self.pid} did not start (exit code {self.proc.poll()})")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def call(self, raw: RawRequest) -> ColumnBatch:
        try:
            _write(self._stdin, pickle.dumps(raw, protocol=pickle.HIGHEST_PROTOCOL))
        except OSError as exc:  # BrokenPipeError: it died
            raise _WorkerDied(str(exc)) from exc
        reply = _read(self._stdout)
        if reply is None:
            raise _WorkerDied(f"decode worker {self.pid} exited (code {self.proc.wait()})")
        kind, value = pickle.loads(reply)  # noqa: S301 - from our own worker
        if kind == _ERROR:
            raise value
        assert isinstance(value, ColumnBatch)
        return value

    def stop(self, timeout: float) -> None:
        """Close its stdin (it exits after the request at hand); kill it if it does not."""
        try:
            self._stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._stdout.close()


class DecodePool:
    """`workers` decode processes shared by the HTTP and gRPC receivers (thread-safe).

    `redact`: run the built-in server-side redaction in the workers (the parent then must
    not run it again). Registered secrets are read from the parent's environment at start.
    A request waits at most `wait_s` for a free worker (all busy or being replaced), then
    gets `Unavailable`: never a hang.
    """

    def __init__(
        self,
        workers: int,
        intake: Intake,
        stats: Stats,
        *,
        redact: bool,
        environ: Mapping[str, str] | None = None,
        wait_s: float = 60.0,
    ) -> None:
        if workers < 1:
            raise ValueError("a decode pool needs at least one worker")
        env = os.environ if environ is None else environ
        self.workers = workers
        self._stats = stats
        self._wait_s = wait_s
        redact_env = {k: env[k] for k in (ENV_SECRETS, ENV_SECRETS_FILE) if k in env} if redact else None
        self._init = pickle.dumps((intake.options, intake.retention_days, redact_env))
        self._cond = threading.Condition()
        self._idle: deque[_Worker] = deque()
        self._all: list[_Worker] = []
        self._in_flight = 0
        self._closed = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start every worker now (not on the first requests) and wait until each is ready."""
        started = [_Worker(self._init) for _ in range(self.workers)]  # they import in parallel
        with self._cond:
            self._all.extend(started)
        for worker in started:
            worker.handshake()
        with self._cond:
            self._idle.extend(started)
            self._cond.notify_all()
        log.info("event=decode_pool_started workers=%d pids=%s", self.workers, [w.pid for w in started])

    def close(self, timeout: float = 30.0) -> None:
        """Let the requests being decoded finish, then end the workers. Safe to call twice."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._in_flight == 0, timeout)
            workers, self._all = self._all, []
            self._idle.clear()
        for worker in workers:
            worker.stop(5.0)

    # ------------------------------------------------------------------ requests
    def decode(self, raw: RawRequest) -> ColumnBatch:
        """The redacted batch of `raw`, decoded by a worker.

        Raises what the in-process path raises for bad input (`BadRequest`, `TooLarge` /
        `LimitExceeded`, `Forbidden`, `TransformError`), `WorkerCrashed` when the worker
        died, `Unavailable` once the pool is closed or no worker frees up in time.
        """
        worker = self._take()
        died = False
        try:
            return worker.call(raw)
        except _WorkerDied as exc:
            died = True
            self._stats.add(CRASHES)
            log.error("event=decode_worker_died pid=%d detail=%r", worker.pid, str(exc))
            raise WorkerCrashed("decode worker died while decoding this request; retry it") from exc
        finally:
            self._give_back(worker, died)

    def _take(self) -> _Worker:
        deadline = time.monotonic() + self._wait_s
        with self._cond:
            while True:
                if self._closed:
                    raise Unavailable("collector is shutting down")
                while self._idle:
                    worker = self._idle.popleft()
                    if worker.alive():
                        self._in_flight += 1
                        return worker
                    log.error("event=decode_worker_died pid=%d while=idle", worker.pid)
                    self._replace_later(worker)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Unavailable(f"no decode worker free within {self._wait_s:g} s")
                self._cond.wait(left)

    def _give_back(self, worker: _Worker, died: bool) -> None:
        with self._cond:
            self._in_flight -= 1
            if died:
                self._replace_later(worker)
            elif self._closed:
                pass  # `close` stops it
            else:
                self._idle.append(worker)
            self._cond.notify_all()

    def _replace_later(self, dead: _Worker) -> None:
        """Lock held: reap `dead` and start its successor on a thread (imports take ~1 s)."""
        if dead in self._all:
            self._all.remove(dead)
        threading.Thread(
            target=self._replace, args=(dead,), name="connlog-decode-respawn", daemon=True
        ).start()

    def _replace(self, dead: _Worker) -> None:
        dead.stop(1.0)
        delay = 0.5
        while True:
            with self._cond:
                if self._closed:
                    return
            worker = _Worker(self._init)
            try:
                worker.handshake()
            except _WorkerDied as exc:
                log.error("event=decode_worker_start_failed detail=%r retry_s=%.1f", str(exc), delay)
                worker.stop(1.0)
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            with self._cond:
                if self._closed:
                    break
                self._all.append(worker)
                self._idle.append(worker)
                self._cond.notify_all()
                log.info("event=decode_worker_replaced old_pid=%d pid=%d", dead.pid, worker.pid)
                return
        worker.stop(1.0)

    # ------------------------------------------------------------------ status
    def in_flight(self) -> int:
        """Requests handed to a worker and not answered yet."""
        with self._cond:
            return self._in_flight

    def status(self) -> dict[str, int]:
        """For `/stats`: configured workers, those running now, requests being decoded."""
        with self._cond:
            return {"workers": self.workers, "running": len(self._all), "busy": self._in_flight}

    def worker_pids(self) -> list[int]:
        """The workers' process ids (for operators and the crash tests)."""
        with self._cond:
            return sorted(w.pid for w in self._all)


if __name__ == "__main__":
    worker_main()
