"""Writing recordings: crash-safe, append-only where it matters, secrets redacted.

Each exchange is a folder. Its requests are written when it starts, every response
chunk is appended (and flushed to the OS) as it passes, and ``exchange.json`` is
written at the start (``complete: false``) and replaced atomically at the end. A
gateway killed mid-stream therefore leaves the request and every chunk that arrived.
"""

from __future__ import annotations

import base64
import codecs
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from . import _schema as S
from ._redact import Redactor

__all__ = ["ExchangeWriter", "RecordingStore", "body_for_disk"]

_JSON_OPTS = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE


def body_for_disk(body: bytes | None, content_type: str = "") -> dict[str, Any]:
    """A body as JSON (readable, diffable), text, or base64 — whichever keeps it exactly."""
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


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class _ChunkLog:
    """``{"t": seconds, "text": "..."}`` per chunk (``"b64"`` when a chunk is not UTF-8)."""

    def __init__(self, path: Path) -> None:
        self.file: BinaryIO = open(path, "ab", buffering=0)
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.count = 0
        self.bytes = 0

    def write(self, t: float, data: bytes, extra: dict[str, Any] | None = None) -> None:
        record: dict[str, Any] = {"t": round(t, 4)}
        if extra:
            record.update(extra)
        if data:
            try:
                record["text"] = self.decoder.decode(data)
            except UnicodeDecodeError:
                self.decoder.reset()
                record["b64"] = base64.b64encode(data).decode()
        self.count += 1
        self.bytes += len(data)
        self.file.write(orjson.dumps(record) + b"\n")

    def close(self) -> None:
        try:
            tail = self.decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            tail = ""
        if tail:
            self.file.write(orjson.dumps({"t": None, "text": tail}) + b"\n")
        self.file.close()


class ExchangeWriter:
    def __init__(self, store: RecordingStore, path: Path, meta: dict[str, Any]) -> None:
        self.store = store
        self.path = path
        self.meta = meta
        self.t0 = time.monotonic()
        self.logs: dict[str, _ChunkLog] = {}
        self.failed = False

    def _guard(self, what: str, fn: Callable[[], None]) -> None:
        if self.failed:
            return
        try:
            fn()
        except OSError as e:
            self.failed = True
            self.store.report(f"cannot write {what} in {self.path} ({e.strerror or e}); traffic is "
                              f"unaffected, this exchange is not fully recorded")

    def requests(self, client: dict[str, Any], backend: dict[str, Any] | None) -> None:
        def write() -> None:
            self.path.mkdir(parents=True, exist_ok=True)
            _atomic_write(self.path / S.CLIENT_REQUEST, orjson.dumps(self._request(client), option=_JSON_OPTS))
            if backend is not None:
                _atomic_write(self.path / S.BACKEND_REQUEST,
                              orjson.dumps(self._request(backend), option=_JSON_OPTS))
            self._write_meta()
        self._guard("the requests", write)

    def _request(self, r: dict[str, Any]) -> dict[str, Any]:
        return {
            "method": r["method"], "url": r.get("url"), "path": r.get("path"),
            "headers": self.store.redactor.headers(r.get("headers", ())),
            "body": body_for_disk(r.get("body"), r.get("content_type", "")),
        }

    def response_head(self, direction: str, status: int, headers: Iterable[tuple[str, str]]) -> None:
        self._guard(f"the {direction} response", lambda: self._log(direction).write(
            time.monotonic() - self.t0, b"",
            {"status": status, "headers": self.store.redactor.headers(headers)}))

    def chunk(self, direction: str, data: bytes) -> None:
        if data:
            self._guard(f"the {direction} response", lambda: self._log(direction).write(
                time.monotonic() - self.t0, data))

    def _log(self, direction: str) -> _ChunkLog:
        log = self.logs.get(direction)
        if log is None:
            name = S.BACKEND_RESPONSE if direction == "backend" else S.CLIENT_RESPONSE
            log = self.logs[direction] = _ChunkLog(self.path / name)
        return log

    def finish(self, meta: dict[str, Any]) -> None:
        self.meta.update(meta)
        self.meta["complete"] = meta.get("complete", True)

        def write() -> None:
            for log in self.logs.values():
                log.close()
            self.meta["chunks"] = {d: {"count": log.count, "bytes": log.bytes} for d, log in self.logs.items()}
            self._write_meta()
        self._guard("exchange.json", write)

    def _write_meta(self) -> None:
        _atomic_write(self.path / S.EXCHANGE_FILE, orjson.dumps(self.meta, option=_JSON_OPTS))


class RecordingStore:
    """Sessions under ``root``: one folder per Claude Code session, one per exchange inside."""

    def __init__(self, root: Path, *, redactor: Redactor | None = None,
                 report: Callable[[str], None] = lambda msg: None) -> None:
        self.root = Path(root)
        self.redactor = redactor or Redactor()
        self._report = report
        self._reported: set[str] = set()
        self.sessions: dict[str, tuple[Path, list[int]]] = {}
        self.started = time.time()
        self.fallback_id = "t" + time.strftime("%Y%m%d%H%M%S", time.gmtime(self.started))

    def report(self, message: str) -> None:
        key = message.split(" in ", 1)[0]
        if key not in self._reported:
            self._reported.add(key)
            self._report(message)

    def exchange(self, *, session_id: str | None, id_source: str, client: str, kind: str,
                 meta: dict[str, Any]) -> ExchangeWriter | None:
        sid = session_id or self.fallback_id
        try:
            if sid not in self.sessions:
                path = self.root / S.session_dirname(time.time(), client, sid)
                path.mkdir(parents=True, exist_ok=True)
                _atomic_write(path / S.SESSION_FILE, orjson.dumps({
                    "schema": S.SCHEMA, "session_id": sid, "id_source": id_source if session_id else "time",
                    "started": S.utc_iso(time.time()), "client": client,
                }, option=_JSON_OPTS))
                self.sessions[sid] = (path, [0])
        except OSError as e:
            self.report(f"cannot write recordings in {self.root} ({e.strerror or e}); traffic is "
                        f"unaffected, nothing is being recorded — fix the folder or --set record=false")
            return None
        path, counter = self.sessions[sid]
        counter[0] += 1
        seq = counter[0]
        full = {"schema": S.SCHEMA, "seq": seq, "kind": kind, "complete": False, **meta}
        return ExchangeWriter(self, path / S.exchange_dirname(seq, kind), full)
