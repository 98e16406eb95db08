"""Recording in a sidecar process, so that writing costs the proxy almost nothing.

The gateway's event loop only frames what happened (``pickle``, bytes as they are) and queues
it; one thread moves the frames into a pipe; a child process — ``python -m
inspector.recording._sidecar`` — parses, pretty-prints, redacts and writes them with the
ordinary ``RecordingStore``. On two cores the disk work then runs beside the proxy instead of
taking turns with it for the GIL.

Crash-safety is what it was: every frame reaches the pipe within milliseconds, and the child
writes each chunk as it reads it. If the gateway is killed, the child still reads everything
the pipe holds, writes it, and exits at end-of-file.

A sidecar that falls behind (a slow disk, a stopped process) makes frames wait in the gateway —
up to ``QUEUE_LIMIT`` bytes. Beyond it, requests and response chunks are dropped from the
recording, never from the traffic: the first drop is said once, each exchange that lost
something is marked incomplete in its ``exchange.json`` (``dropped``: what it lost), and the
totals are said when the gateway stops. The small frames that open and close an exchange get
``CONTROL_ALLOWANCE`` more; beyond that nothing is queued at all (an exchange whose start was
dropped is not recorded; one whose end was dropped stays "never finished").

``SidecarStore`` has the ``RecordingStore`` interface the recorder uses (``exchange()``,
``flush()``, ``close()``); its exchange handles have ``ExchangeWriter``'s.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the sidecar child imports nothing it does not run
    from ._meta import AttemptDirection, ExchangeMeta, RequestSnapshot

__all__ = ["SidecarStore", "main"]

_LEN = struct.Struct("<I")
_PIPE_SIZE = 1 << 20
F_SETPIPE_SZ = 1031
#: Bytes of frames that may wait for a sidecar that fell behind; beyond, bulk frames are dropped.
QUEUE_LIMIT = 64 << 20
#: What the frames that open and close exchanges may add beyond ``QUEUE_LIMIT``.
CONTROL_ALLOWANCE = 4 << 20
_BULK = ("chunk", "requests", "attempt")
#: How long a frame sent from outside an event loop may wait for the pipe.
SYNC_WAIT = 10.0


class SidecarExchange:
    """The front half of an ``ExchangeWriter``: each call becomes a frame for the sidecar."""

    __slots__ = ("store", "id", "t0")

    def __init__(self, store: SidecarStore, ident: int, t0: float) -> None:
        self.store = store
        self.id = ident
        self.t0 = t0

    def requests(self, client: RequestSnapshot, backend: RequestSnapshot | None) -> None:
        self.store.send(("requests", self.id, _snapshot(client), _snapshot(backend) if backend else None))

    def attempt_request(self, n: int, request: RequestSnapshot) -> None:
        self.store.send(("attempt", self.id, _snapshot(request), n))

    def response_head(self, direction: AttemptDirection, status: int, headers: Iterable[tuple[str, str]],
                      t: float | None = None) -> None:
        t = time.monotonic() - self.t0 if t is None else t
        self.store.send(("head", self.id, direction, status, list(headers), t))

    def chunk(self, direction: AttemptDirection, data: bytes, t: float | None = None) -> None:
        if data:
            self.store.send(("chunk", self.id, direction, data, time.monotonic() - self.t0 if t is None else t))

    def finish(self, meta: ExchangeMeta) -> None:
        self.store.send(("finish", self.id, self.store.finished(self.id, meta)))


def _mb(n: int) -> str:
    return f"{n / (1 << 20):.1f} MB"


class _Dropped:
    """What one exchange lost from its recording while the sidecar was behind."""

    __slots__ = ("requests", "chunks", "bytes")

    def __init__(self) -> None:
        self.requests = self.chunks = self.bytes = 0

    def add(self, op: str, size: int) -> None:
        if op in ("requests", "attempt"):
            self.requests += 1
        else:
            self.chunks += 1
        self.bytes += size

    def as_dict(self) -> dict[str, int]:
        return {"requests": self.requests, "chunks": self.chunks, "bytes": self.bytes}

    def __str__(self) -> str:
        what = [f"{self.chunks} response chunk{'s' * (self.chunks != 1)}" if self.chunks else "",
                f"{self.requests} request{'s' * (self.requests != 1)}" if self.requests else ""]
        return " and ".join(w for w in what if w) + f" ({_mb(self.bytes)})"


def _bulk_size(message: tuple[Any, ...]) -> int:
    """A bulk frame's size, before it is pickled (a dropped frame is never copied)."""
    if message[0] == "chunk":
        return len(message[3]) + 64
    if message[0] == "attempt":
        return len(message[2].get("body") or b"") + 1024
    return sum(len(r.get("body") or b"") + 1024 for r in message[2:4] if r)


def _snapshot(r: RequestSnapshot) -> dict[str, Any]:
    # The raw body goes as it is (a copy of bytes is cheaper than pickling the parsed JSON); the
    # sidecar parses it again.
    return {k: v for k, v in r.items() if k != "json"}


class SidecarStore:
    """Sessions under ``root``, written by a child process (see the module docstring)."""

    def __init__(self, root: Path, *, redact_headers: Iterable[str] = (),
                 report: Callable[[str], None] = lambda msg: None, limit: int = QUEUE_LIMIT) -> None:
        self.root = Path(root)
        self._report = report
        self.limit = limit
        self.queued = 0  # bytes of frames not yet in the pipe (in _buf and _pending)
        self._dropped: dict[int, _Dropped] = {}  # by exchange, until it finishes
        self._lost: set[int] = set()  # exchanges whose start was dropped: nothing of them is sent
        self.dropped_total = _Dropped()
        self._exchanges_dropped = 0
        self._control_dropped = 0
        self._said_behind = False
        self._ids = itertools.count(1)
        self._acks: dict[int, threading.Event] = {}
        self._buf: list[bytes] = []
        self._pending: collections.deque[memoryview] = collections.deque()  # what the pipe could not take yet
        self._scheduled = False  # a _write is due this loop turn, or the pipe is full and we wait for it
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broken = False
        read_end, self._out = os.pipe()
        try:
            import fcntl
            fcntl.fcntl(self._out, F_SETPIPE_SZ, _PIPE_SIZE)
        except (ImportError, OSError):
            pass
        cmd = [sys.executable, "-m", "inspector.recording._sidecar", str(self.root),
               ",".join(h for h in redact_headers if h.strip())]
        # A session of its own: Ctrl-C in the terminal, or a signal to the gateway's process group,
        # must not stop it before it has written what the gateway sent; it ends at the pipe's end.
        self.proc = subprocess.Popen(cmd, stdin=read_end, stdout=subprocess.PIPE, start_new_session=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        os.close(read_end)
        threading.Thread(target=self._listen, name="inspector-recorder-reports", daemon=True).start()

    # -- front ------------------------------------------------------------------------------------
    def exchange(self, *, session_id: str | None, id_source: str, client: str, kind: str,
                 meta: dict[str, Any]) -> SidecarExchange:
        ident = next(self._ids)
        self.send(("start", ident, session_id, id_source, client, kind, meta))
        return SidecarExchange(self, ident, time.monotonic())

    def send(self, message: tuple[Any, ...]) -> None:
        """Queue a frame; frames go into the pipe once per event-loop turn, from this thread (no
        hand-over to another thread, no GIL ping-pong), at most one turn after they happened."""
        if self._broken:
            return
        op, ident = message[0], message[1]
        if ident in self._lost:
            return
        if op in _BULK and self.queued >= self.limit:
            self._drop(ident, op, _bulk_size(message))
            return
        data = pickle.dumps(message, protocol=5)
        if self.queued and self.queued + len(data) > self.limit + CONTROL_ALLOWANCE:
            if op == "start":
                self._lost.add(ident)
            self._drop(ident, op, len(data))
            return
        self.queued += 4 + len(data)
        self._buf.append(_LEN.pack(len(data)))
        self._buf.append(data)
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not on an event loop (a script, a test): wait for the pipe, not for ever
            self._write_within(SYNC_WAIT)
            return
        if self._loop is not loop:
            self._loop = loop
            os.set_blocking(self._out, False)
        self._scheduled = True
        loop.call_soon(self._write)

    def _drop(self, ident: int, op: str, size: int) -> None:
        if not self._said_behind:
            self._said_behind = True
            self._report(f"recording: the recorder fell behind ({_mb(self.queued)} waiting to be written): what "
                         f"does not fit is dropped from the recording, and each exchange that lost something "
                         f"is marked incomplete, until it catches up; traffic is unaffected")
        if op not in _BULK:
            self._control_dropped += 1  # an exchange's start, head or end: it stays unrecorded or unfinished
            return
        self.dropped_total.add(op, size)
        lost = self._dropped.get(ident)
        if lost is None:
            lost = self._dropped[ident] = _Dropped()
            self._exchanges_dropped += 1
        lost.add(op, size)

    def finished(self, ident: int, meta: ExchangeMeta) -> ExchangeMeta:
        """``meta`` for an exchange's ``finish``: marked incomplete when its recording lost something."""
        self._lost.discard(ident)
        lost = self._dropped.pop(ident, None)
        if lost is None:
            return meta
        why = f"not fully recorded: the recorder fell behind and {lost} were dropped"
        before = meta.get("incomplete")
        return {**meta, "complete": False, "incomplete": f"{before}; {why}" if before else why,
                "dropped": lost.as_dict()}

    def _take(self) -> None:
        if self._buf:
            self._pending.append(memoryview(b"".join(self._buf)))
            self._buf.clear()

    def _pipe(self) -> bool:
        """Write what waits until the pipe is full; True when nothing waits any more."""
        while self._pending:
            view = self._pending[0]
            try:
                n = os.write(self._out, view)
            except BlockingIOError:
                return False
            self.queued -= n
            if n < len(view):
                self._pending[0] = view[n:]
            else:
                self._pending.popleft()
        return True

    def _stopped(self, e: OSError) -> None:
        self._broken = True
        self._scheduled = False
        self._pending.clear()
        self._buf.clear()
        self.queued = 0
        self._report(f"the recorder stopped ({e.strerror or e}); traffic is unaffected, "
                     f"nothing more is being recorded")

    def _write(self, blocking: bool = False) -> None:
        self._take()
        if self._broken:
            self._pending.clear()
            self.queued = 0
            return
        if not self._pending:
            self._scheduled = False
            return
        try:
            if blocking:
                os.set_blocking(self._out, True)
            if not self._pipe():
                # The sidecar is behind (a slow disk, a busy machine): keep the rest, without
                # copying it, and go on when the pipe can take more; new frames queue meanwhile.
                if self._loop is not None:
                    self._loop.add_writer(self._out, self._writable)
                return
            self._scheduled = False
        except OSError as e:
            self._stopped(e)
        finally:
            if blocking and self._loop is not None:
                os.set_blocking(self._out, False)

    def _write_within(self, seconds: float) -> bool:
        """Write what waits for at most ``seconds`` (a stopped sidecar must not hold the gateway up);
        True when everything went."""
        self._take()
        deadline = time.monotonic() + seconds
        try:
            os.set_blocking(self._out, False)
            while not self._broken and not self._pipe():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                select.select([], [self._out], [], min(left, 1.0))
        except OSError as e:
            self._stopped(e)
        finally:
            with contextlib.suppress(OSError):
                os.set_blocking(self._out, self._loop is None)
        return not self._pending

    def _writable(self) -> None:
        if self._loop is not None:
            self._loop.remove_writer(self._out)
        self._write()

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything sent so far is on disk (blocks: not for the event loop's hot path)."""
        ident = next(self._ids)
        done = self._acks[ident] = threading.Event()
        deadline = time.monotonic() + timeout
        self.send(("flush", ident))
        if self._write_within(timeout):
            done.wait(max(0.0, deadline - time.monotonic()))
        self._acks.pop(ident, None)

    def close(self, timeout: float = 10.0) -> None:
        """Everything sent is written (within ``timeout``); then the sidecar exits. What was dropped
        while it was behind is said here, once, in total."""
        if self._loop is not None:
            with contextlib.suppress(Exception):  # its loop may be closed already
                self._loop.remove_writer(self._out)
        if not self._broken and not self._write_within(timeout):
            self._report(f"recording: the recorder took nothing for {timeout:g} s when the gateway stopped (is "
                         f"it stopped?): the last {_mb(self.queued)} are not recorded; traffic was unaffected")
            self.proc.kill()
        total = self.dropped_total
        if total.bytes or self._control_dropped:
            what = [f"{total} of {self._exchanges_dropped} exchange{'s' * (self._exchanges_dropped != 1)} (each "
                    f"marked incomplete, with what it lost)" if total.bytes else "",
                    f"{self._control_dropped} starts or ends of exchanges (left unrecorded or unfinished)"
                    if self._control_dropped else ""]
            self._report(f"recording: while the recorder was behind, {' and '.join(w for w in what if w)} were "
                         f"dropped from the recording; traffic was unaffected")
        self._broken = True
        self._pending.clear()
        self._buf.clear()
        self.queued = 0
        with contextlib.suppress(OSError):
            os.close(self._out)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def report(self, message: str) -> None:
        self._report(message)

    def _listen(self) -> None:
        """The sidecar's reports (disk trouble) and flush acknowledgements."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            kind, _, rest = line.decode("utf-8", "replace").rstrip("\n").partition(" ")
            if kind == "ack":
                event = self._acks.get(int(rest))
                if event is not None:
                    event.set()
            elif kind == "report":
                self._report(rest)


# -- the sidecar itself -----------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    import signal

    from ._redact import Redactor
    from ._writer import ExchangeWriter, RecordingStore
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # it ends when the gateway closes the pipe (or dies): nothing lost
    with contextlib.suppress(OSError, AttributeError):
        # Background work: on a busy machine (a local model on every core) the proxy and the client
        # go first; the frames wait in the pipe meanwhile, so nothing is lost, only written later.
        os.nice(10)
    args = sys.argv[1:] if argv is None else argv
    root, headers = Path(args[0]), args[1].split(",") if len(args) > 1 and args[1] else []
    out = sys.stdout.buffer

    def report(message: str) -> None:
        out.write(b"report " + message.replace("\n", " ").encode() + b"\n")
        out.flush()

    store = RecordingStore(root, redactor=Redactor(headers), report=report)
    store.batching = True
    writers: dict[int, ExchangeWriter] = {}
    fd = sys.stdin.fileno()
    buf = bytearray()
    while True:
        # One read takes whatever the pipe holds (several exchanges' frames under load); its chunk
        # lines then go to disk in one write per file, before the next read can wait.
        # Nothing is held across a read, so a gateway that dies mid-exchange loses nothing here.
        data = os.read(fd, _PIPE_SIZE)
        if not data:
            # The gateway closed the pipe (or died): everything it sent is written, the unfinished
            # lines of exchanges it left open included.
            for w in writers.values():
                w.release()
            store.write_batched()
            return 0
        buf += data
        at = 0
        while len(buf) - at >= 4:
            (size,) = _LEN.unpack_from(buf, at)
            if len(buf) - at - 4 < size:
                break
            message = pickle.loads(memoryview(buf)[at + 4:at + 4 + size])
            at += 4 + size
            _apply(message, store, writers, out, report)
        del buf[:at]
        store.write_batched()


def _apply(message: tuple[Any, ...], store: Any, writers: dict[int, Any], out: Any,
           report: Callable[[str], None]) -> None:
    op, ident = message[0], message[1]
    try:
        if op == "chunk":
            w = writers.get(ident)
            if w is not None:
                w.chunk(message[2], message[3], message[4])
        elif op == "head":
            w = writers.get(ident)
            if w is not None:
                w.response_head(message[2], message[3], message[4], message[5])
        elif op == "start":
            _, _, session_id, id_source, client, kind, meta = message
            w = store.exchange(session_id=session_id, id_source=id_source, client=client, kind=kind, meta=meta)
            if w is not None:
                writers[ident] = w
        elif op == "requests":
            w = writers.get(ident)
            if w is not None:
                w.requests(message[2], message[3])
        elif op == "attempt":
            w = writers.get(ident)
            if w is not None:
                w.attempt_request(message[3], message[2])
        elif op == "finish":
            w = writers.pop(ident, None)
            if w is not None:
                w.finish(message[2])
        elif op == "flush":
            store.write_batched()
            out.write(b"ack %d\n" % ident)
            out.flush()
    except Exception as e:  # noqa: BLE001 - the sidecar outlives any one bad exchange
        report(f"recording failed ({type(e).__name__}: {e}); traffic is unaffected")


if __name__ == "__main__":
    sys.exit(main())
