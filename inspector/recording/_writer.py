"""Writing recordings: crash-safe, append-only where it matters, secrets redacted.

Each exchange is a folder. Its requests are written when it starts, every response
chunk is appended (and flushed to the OS) as it passes, and ``exchange.json`` is written
atomically when it ends — a folder without one is an exchange still running, or one a
killed gateway left: the requests and every chunk that arrived are there.

Secrets never reach disk: requests, headers, URLs, response chunks and the summary pass
through the store's ``Redactor`` on the writer thread, and what it redacted is counted in
``exchange.json``'s ``redacted`` (by kind, never a value). Files are created 0600 and
folders 0700: recordings hold whole conversations.

Disk work runs on one writer thread (``threaded=True``, as the gateway uses it) so the
proxy's event loop only enqueues; the queue drains within milliseconds, which bounds
what a killed gateway can lose.
"""

from __future__ import annotations

import base64
import codecs
import os
import queue
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from . import _schema as S
from ._redact import Redactor

__all__ = ["ExchangeWriter", "RecordingStore", "body_for_disk"]

_JSON_OPTS = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE


def body_for_disk(body: bytes | None, content_type: str = "", parsed: Any = None) -> dict[str, Any]:
    """A body as JSON (readable, diffable), text, or base64 — whichever keeps it exactly.

    ``parsed`` is the body already parsed by the caller (saves parsing it again)."""
    if parsed is not None:
        return {"encoding": "json", "json": parsed}
    if not body:
        return {"encoding": "empty"}
    if "json" in content_type or body[:1] in (b"{", b"["):
        try:
            return {"encoding": "json", "json": orjson.loads(body)}
        except orjson.JSONDecodeError:
            pass
    try:
        return {"encoding": "text", "text": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"encoding": "base64", "base64": base64.b64encode(body).decode()}


FILE_MODE = 0o600
DIR_MODE = 0o700


_SEQ = re.compile(r"^\d{4,}_")


def _private(path: str | bytes, flags: int) -> int:
    """An ``opener`` for ``open()``: the file is created readable by its owner only."""
    return os.open(path, flags, FILE_MODE)


def _write_private(path: Path, data: bytes) -> None:
    with open(path, "wb", opener=_private) as f:
        f.write(data)


def _mkdir_private(path: Path) -> None:
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    _write_private(tmp, data)
    os.replace(tmp, path)


class _ChunkLog:
    """``{"t": seconds, "text": "..."}`` per chunk (``"b64"`` when a chunk is not UTF-8).

    Each line goes to the OS as it is written, unless the store batches (the sidecar): then the
    lines of one batch of frames — what one read of the pipe brought, a few milliseconds — go
    in one write per file, at the batch's end (``RecordingStore.write_batched``)."""

    def __init__(self, path: Path, store: RecordingStore, found: Counter[str]) -> None:
        self.file: BinaryIO = open(path, "ab", buffering=0, opener=_private)  # noqa: SIM115 - open while it streams
        self.redactor = store.redactor
        self.found = found
        self.store = store
        self.held: list[bytes] = []
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.count = 0
        self.bytes = 0

    def write(self, t: float, data: bytes, extra: dict[str, Any] | None = None) -> None:
        record: dict[str, Any] = {"t": round(t, 4)}
        if extra:
            record.update(extra)
        if data:
            try:
                record["text"] = self.redactor.text(self.decoder.decode(data), self.found)
            except UnicodeDecodeError:
                self.decoder.reset()
                record["b64"] = base64.b64encode(data).decode()
        self.count += 1
        self.bytes += len(data)
        line = orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
        if self.store.batching:
            if not self.held:
                self.store.held.append(self)
            self.held.append(line)
        else:
            self.file.write(line)

    def write_held(self) -> None:
        if self.held:
            data = b"".join(self.held)
            self.held.clear()
            self.file.write(data)

    def close(self) -> None:
        try:
            tail = self.decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            tail = ""
        self.write_held()
        if tail:
            self.file.write(orjson.dumps({"t": None, "text": self.redactor.text(tail, self.found)}) + b"\n")
        self.file.close()


class ExchangeWriter:
    def __init__(self, store: RecordingStore, path: Path, meta: dict[str, Any]) -> None:
        self.store = store
        self.path = path
        self.meta = meta
        self.t0 = time.monotonic()
        self.logs: dict[str, _ChunkLog] = {}
        self.failed = False
        self.redacted: Counter[str] = Counter()  # by kind; touched on the writer thread only

    def _guard(self, what: str, fn: Callable[[], None]) -> None:
        self.store.submit(self._run, what, fn)

    def _run(self, what: str, fn: Callable[[], None]) -> None:
        if self.failed:
            return
        try:
            fn()
        except OSError as e:
            self.failed = True
            self.store.report(f"cannot write {what} in {self.path} ({e.strerror or e}); traffic is "
                              f"unaffected, this exchange is not fully recorded")

    def requests(self, client: Mapping[str, Any], backend: Mapping[str, Any] | None) -> None:
        def write() -> None:
            _mkdir_private(self.path)
            # Written once: a plain write (a killed gateway's half file is reported by the reader).
            _write_private(self.path / S.CLIENT_REQUEST, orjson.dumps(self._request(client), option=_JSON_OPTS))
            if backend is not None:
                _write_private(self.path / S.BACKEND_REQUEST, orjson.dumps(self._request(backend),
                                                                           option=_JSON_OPTS))
        self._guard("the requests", write)

    def _request(self, r: Mapping[str, Any]) -> dict[str, Any]:
        return self.store.redactor.request({
            "method": r["method"], "url": r.get("url"), "path": r.get("path"),
            "headers": list(r.get("headers", ())),
            "body": body_for_disk(r.get("body"), r.get("content_type", ""), r.get("json")),
        }, self.redacted)

    def response_head(self, direction: str, status: int, headers: Iterable[tuple[str, str]],
                      t: float | None = None) -> None:
        """``t``: seconds since the exchange began (now, when not given)."""
        t = time.monotonic() - self.t0 if t is None else t
        headers = list(headers)
        self._guard(f"the {direction} response", lambda: self._log(direction).write(
            t, b"", {"status": status, "headers": self.store.redactor.headers(headers, self.redacted)}))

    def chunk(self, direction: str, data: bytes, t: float | None = None) -> None:
        if data:
            t = time.monotonic() - self.t0 if t is None else t
            self._guard(f"the {direction} response", lambda: self._log(direction).write(t, data))

    def _log(self, direction: str) -> _ChunkLog:
        log = self.logs.get(direction)
        if log is None:
            name = S.BACKEND_RESPONSE if direction == "backend" else S.CLIENT_RESPONSE
            log = self.logs[direction] = _ChunkLog(self.path / name, self.store, self.redacted)
        return log

    def finish(self, meta: dict[str, Any]) -> None:
        self.meta.update(meta)
        self.meta["complete"] = meta.get("complete", True)

        def write() -> None:
            _mkdir_private(self.path)
            for log in self.logs.values():
                log.close()
            self.meta["chunks"] = {d: {"count": log.count, "bytes": log.bytes} for d, log in self.logs.items()}
            self.meta = self.store.redactor.json(self.meta, self.redacted)  # error texts, tool inputs
            if self.redacted:
                self.meta = {**self.meta, "redacted": dict(sorted(self.redacted.items()))}
            self._write_meta()
        self._guard("exchange.json", write)

    def _write_meta(self) -> None:
        _atomic_write(self.path / S.EXCHANGE_FILE, orjson.dumps(self.meta, option=_JSON_OPTS))


class RecordingStore:
    """Sessions under ``root``: one folder per Claude Code session, one per exchange inside."""

    def __init__(self, root: Path, *, redactor: Redactor | None = None,
                 report: Callable[[str], None] = lambda msg: None, threaded: bool = False) -> None:
        self.root = Path(root)
        self._queue: queue.SimpleQueue | None = None
        if threaded:
            self._queue = queue.SimpleQueue()
            threading.Thread(target=self._drain, name="inspector-recorder", daemon=True).start()
        self.redactor = redactor or Redactor()
        #: Chunk lines held until ``write_batched`` (the sidecar's mode); else each is written at once.
        self.batching = False
        self.held: list[_ChunkLog] = []
        self._report = report
        self._reported: set[str] = set()
        self.sessions: dict[str, tuple[Path, list[int]]] = {}
        self.started = time.time()
        self.broken = False
        self.fallback_id = "t" + time.strftime("%Y%m%d%H%M%S", time.gmtime(self.started))

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        if self._queue is None:
            fn(*args)
        else:
            self._queue.put((fn, args))

    def _drain(self) -> None:
        assert self._queue is not None
        while True:
            item = self._queue.get()
            if item is None:
                return
            fn, args = item
            if isinstance(fn, threading.Event):
                fn.set()
                continue
            try:
                fn(*args)
            except Exception as e:  # noqa: BLE001 - the writer thread must outlive any one bug
                self.report(f"recording failed ({type(e).__name__}: {e}); traffic is unaffected")

    def write_batched(self) -> None:
        """Write the chunk lines held since the last call: one write per file."""
        logs, self.held = self.held, []
        for log in logs:
            try:
                log.write_held()
            except OSError as e:
                self.report(f"cannot write a response in {log.file.name} ({e.strerror or e}); traffic is "
                            f"unaffected, this exchange is not fully recorded")
            except ValueError:  # closed meanwhile (its exchange finished): close() wrote what it held
                pass

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything submitted so far is on disk (the gateway's ``done`` calls it)."""
        if self._queue is not None:
            done = threading.Event()
            self._queue.put((done, ()))
            done.wait(timeout)

    def report(self, message: str) -> None:
        key = message.split(" in ", 1)[0]
        if key not in self._reported:
            self._reported.add(key)
            self._report(message)

    def _new_session(self, path: Path, session: bytes) -> None:
        try:
            _mkdir_private(self.root)
            _mkdir_private(path)
            _atomic_write(path / S.SESSION_FILE, session)
        except OSError as e:
            self.broken = True
            self.report(f"cannot write recordings in {self.root} ({e.strerror or e}); traffic is "
                        f"unaffected, nothing is being recorded — fix the folder or --set record=false")

    def _recorded(self, session_id: str) -> tuple[Path, list[int]] | None:
        """The folder an earlier run of the gateway recorded this Claude Code session in, and its
        last exchange's number (None: there is none)."""
        suffix = "_" + S.session_dirname(0, "", session_id).rsplit("_", 1)[1]
        try:
            folders = sorted((p for p in self.root.iterdir() if p.name.endswith(suffix) and p.is_dir()), reverse=True)
        except OSError:
            return None
        for folder in folders:
            try:
                said = orjson.loads((folder / S.SESSION_FILE).read_bytes())
            except (OSError, orjson.JSONDecodeError):
                continue
            if isinstance(said, dict) and said.get("session_id") == session_id:
                seqs = [int(p.name.split("_", 1)[0]) for p in folder.iterdir() if _SEQ.match(p.name)]
                return folder, [max(seqs, default=0)]
        return None

    def exchange(self, *, session_id: str | None, id_source: str, client: str, kind: str,
                 meta: dict[str, Any]) -> ExchangeWriter | None:
        sid = session_id or self.fallback_id
        if sid not in self.sessions and session_id and (earlier := self._recorded(session_id)) is not None:
            self.sessions[sid] = earlier  # the gateway was restarted mid-session: one session, one folder
        if sid not in self.sessions:
            path = self.root / S.session_dirname(time.time(), client, sid)
            if self.broken:
                return None
            self.sessions[sid] = (path, [0])
            session = orjson.dumps({
                "schema": S.SCHEMA, "session_id": sid, "id_source": id_source if session_id else "time",
                "started": S.utc_iso(time.time()), "client": client,
            }, option=_JSON_OPTS)
            self.submit(self._new_session, path, session)
        if self.broken:
            return None
        path, counter = self.sessions[sid]
        counter[0] += 1
        seq = counter[0]
        full = {"schema": S.SCHEMA, "seq": seq, "kind": kind, "complete": False, **meta}
        return ExchangeWriter(self, path / S.exchange_dirname(seq, kind), full)
