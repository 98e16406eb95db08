"""Writing recordings: crash-safe, append-only where it matters, secrets redacted.

Each exchange is a folder. Its requests are written when it starts, every response
chunk is appended (and flushed to the OS) as it passes — its complete lines: an unfinished one
waits for its end (``StreamFields``) — and ``exchange.json`` is written atomically when it ends — a
folder without one is an exchange still running, or one a killed gateway left: the requests and
every chunk that arrived are there.

Secrets never reach disk: requests, headers, URLs, response chunks and the summary pass
through the store's ``Redactor``, and what it redacted is counted in
``exchange.json``'s ``redacted`` (by kind, never a value). Files are created 0600 and
folders 0700: recordings hold whole conversations.

Disk work runs in the recording sidecar (``_sidecar``), so the proxy's event loop only frames
what happened. Everything is created exclusively and owner-only (``_private``): two gateways,
or two session ids that name alike, never share a folder, and a planted symlink is never
written through.
"""

from __future__ import annotations

import base64
import codecs
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from . import _schema as S
from ._meta import AttemptDirection, ExchangeMeta, RequestSnapshot
from ._pieces import PIECES_FILE, PieceWriter
from ._private import atomic_write, create_dir, open_new, record_dir_problem, write_new
from ._redact import Redactor
from ._streamfields import StreamFields

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


#: An exchange folder's name: its sequence number first.
_SEQ = re.compile(r"^\d{4,}_")


class _ChunkLog:
    """``{"t": seconds, "text": "..."}`` per chunk (``"b64"`` when a chunk is not UTF-8).

    Each line goes to the OS as it is written, unless the store batches (the sidecar): then the
    lines of one batch of frames — what one read of the pipe brought, a few milliseconds — go
    in one write per file, at the batch's end (``RecordingStore.write_batched``)."""

    def __init__(self, path: Path, store: RecordingStore, found: Counter[str]) -> None:
        self.file: BinaryIO = open(path, "ab", buffering=0, opener=open_new)  # noqa: SIM115 - open while it streams
        self.redactor = store.redactor
        self.found = found
        self.store = store
        self.held: list[bytes] = []
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.fields = StreamFields()  # whole lines; a tool's streamed password, split over events
        self.last_t: float | None = None
        self.count = 0
        self.bytes = 0

    def write(self, t: float, data: bytes, extra: dict[str, Any] | None = None) -> None:
        record: dict[str, Any] = {"t": round(t, 4)}
        self.last_t = record["t"]
        if extra:
            record.update(extra)
        if data:
            try:
                text = self.fields.feed(self.decoder.decode(data), self.found)
                record["text"] = self.redactor.text(text, self.found)
            except UnicodeDecodeError:
                self.decoder.reset()
                record["b64"] = base64.b64encode(data).decode()
                if held := self.fields.flush():  # text kept back goes first, in order
                    self._put(orjson.dumps({"t": record["t"], "text": self.redactor.text(held, self.found)},
                                           option=orjson.OPT_APPEND_NEWLINE))
        self.count += 1
        self.bytes += len(data)
        self._put(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))

    def _put(self, line: bytes) -> None:
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

    def release(self) -> None:
        """Write what is kept back (an unfinished line) without ending the log: its exchange will
        never finish (the gateway went away), and what arrived must be on disk."""
        if held := self.fields.flush():
            self._put(orjson.dumps({"t": self.last_t, "text": self.redactor.text(held, self.found)},
                                   option=orjson.OPT_APPEND_NEWLINE))

    def close(self) -> None:
        try:
            tail = self.fields.feed(self.decoder.decode(b"", final=True), self.found) + self.fields.flush()
        except UnicodeDecodeError:
            tail = self.fields.flush()
        self.write_held()
        if tail:
            self.file.write(orjson.dumps({"t": self.last_t, "text": self.redactor.text(tail, self.found)}) + b"\n")
        self.file.close()


class ExchangeWriter:
    """One exchange's folder, created at its first write — exclusively: when its number is taken
    (another gateway recording the same session writes there too) it takes the next free one, and
    never mixes two exchanges."""

    def __init__(self, store: RecordingStore, path: Path, meta: dict[str, Any],
                 pieces: PieceWriter | None = None) -> None:
        self.store = store
        self.path = path
        self.meta = meta
        self.pieces = pieces
        self.t0 = time.monotonic()
        self.logs: dict[str, _ChunkLog] = {}
        self.created = False
        self.failed = False
        self.redacted: Counter[str] = Counter()  # by kind

    def _guard(self, what: str, fn: Callable[[], None]) -> None:
        if self.failed:
            return
        try:
            if not self.created:
                self._create()
            fn()
        except OSError as e:
            self.failed = True
            self.store.report(f"cannot write {what} in {self.path} ({e.strerror or e}); traffic is "
                              f"unaffected, this exchange is not fully recorded")

    def _create(self) -> None:
        for _ in range(MAX_SUFFIX):
            try:
                create_dir(self.path)
            except FileExistsError:
                seq = self.store.next_seq(self.path.parent)
                self.meta["seq"] = seq
                self.path = self.path.parent / S.exchange_dirname(seq, str(self.meta.get("kind", "")))
                continue
            self.created = True
            return
        raise FileExistsError(f"{MAX_SUFFIX} exchange numbers in a row are taken")

    def requests(self, client: RequestSnapshot, backend: RequestSnapshot | None) -> None:
        def write() -> None:
            # Written once: a plain write (a killed gateway's half file is reported by the reader).
            write_new(self.path / S.CLIENT_REQUEST,
                      orjson.dumps(self._request(client, "client"), option=_JSON_OPTS))
            if backend is not None:
                write_new(self.path / S.BACKEND_REQUEST,
                          orjson.dumps(self._request(backend, "backend"), option=_JSON_OPTS))
        self._guard("the requests", write)

    def attempt_request(self, n: int, request: RequestSnapshot) -> None:
        """A later backend attempt's request (the repair ladder's re-ask), beside the first."""
        self._guard("a re-ask's request", lambda: write_new(
            self.path / S.request_file(S.attempt_direction(n)),
            orjson.dumps(self._request(request, "backend"), option=_JSON_OPTS)))

    def _request(self, r: RequestSnapshot, slot: str) -> dict[str, Any]:
        body = body_for_disk(r.get("body"), r.get("content_type", ""), r.get("json"))
        pieces = self.pieces
        split = pieces is not None and not pieces.broken and body["encoding"] == "json" \
            and isinstance(body["json"], dict)
        out = self.store.redactor.request({
            "method": r["method"], "url": r.get("url"), "path": r.get("path"),
            "headers": list(r.get("headers", ())), "body": {"encoding": "empty"} if split else body,
        }, self.redacted)
        if split:
            assert pieces is not None
            # Redacted before it is split, each part in its whole context (a field's name beside its
            # value): a secret is never judged by a piece alone.
            try:
                out["body"] = {"encoding": "pieces", "json": pieces.encode(body["json"], self.store.redactor,
                                                                             self.redacted, slot=slot)}
            except OSError as e:  # stored whole from now on; the pieces written so far stay readable
                self.store.report(f"cannot write {PIECES_FILE} in {pieces.path.parent} ({e.strerror or e}); "
                                  f"traffic is unaffected, this session's requests are stored whole")
                out["body"] = self.store.redactor.body(body, self.redacted)
        return out

    def response_head(self, direction: AttemptDirection, status: int, headers: Iterable[tuple[str, str]],
                      t: float | None = None) -> None:
        """``t``: seconds since the exchange began (now, when not given)."""
        t = time.monotonic() - self.t0 if t is None else t
        headers = list(headers)
        self._guard(f"the {direction} response", lambda: self._log(direction).write(
            t, b"", {"status": status, "headers": self.store.redactor.headers(headers, self.redacted)}))

    def chunk(self, direction: AttemptDirection, data: bytes, t: float | None = None) -> None:
        if data:
            t = time.monotonic() - self.t0 if t is None else t
            self._guard(f"the {direction} response", lambda: self._log(direction).write(t, data))

    def _log(self, direction: str) -> _ChunkLog:
        log = self.logs.get(direction)
        if log is None:
            name = S.response_file(direction)
            log = self.logs[direction] = _ChunkLog(self.path / name, self.store, self.redacted)
        return log

    def finish(self, meta: ExchangeMeta) -> None:
        self.meta.update(meta)
        self.meta["complete"] = meta.get("complete", True)

        def write() -> None:
            for log in self.logs.values():
                log.close()
            self.meta["chunks"] = {d: {"count": log.count, "bytes": log.bytes} for d, log in self.logs.items()}
            self.meta = self.store.redactor.json(self.meta, self.redacted)  # error texts, tool inputs
            if self.redacted:
                self.meta = {**self.meta, "redacted": dict(sorted(self.redacted.items()))}
            atomic_write(self.path / S.EXCHANGE_FILE, orjson.dumps(self.meta, option=_JSON_OPTS))
        self._guard("exchange.json", write)

    def release(self) -> None:
        """The gateway went away with this exchange open: what its logs keep back goes to disk."""
        def write() -> None:
            for log in self.logs.values():
                log.release()
        self._guard("the responses", write)


#: How many sessions' pieces.jsonl stay open at once.
OPEN_PIECES = 16
#: How many folders of one name (``…_2``, ``…_3``) a store tries before it gives a session up.
MAX_SUFFIX = 100


class RecordingStore:
    """Sessions under ``root``: one folder per Claude Code session, one per exchange inside.

    A session's folder is created when its first exchange starts, exclusively: when the name is
    taken (another gateway writing the same folder, a session id that names alike, a name someone
    planted), the next free ``NAME_2``, ``NAME_3``… is used. ``root`` is checked first
    (``record_dir_problem``): a folder others control records nothing, and says why once."""

    def __init__(self, root: Path, *, redactor: Redactor | None = None,
                 report: Callable[[str], None] = lambda msg: None, pieces: bool = True) -> None:
        self.root = Path(root)
        self.redactor = redactor or Redactor()
        #: Requests stored as references to the session's pieces (SCHEMA.md); False: whole (format 1's way).
        self.use_pieces = pieces
        self.pieces: dict[Path, PieceWriter] = {}
        #: Chunk lines held until ``write_batched`` (the sidecar's mode); else each is written at once.
        self.batching = False
        self.held: list[_ChunkLog] = []
        self._report = report
        self._reported: set[str] = set()
        self.sessions: dict[str, tuple[Path, list[int]]] = {}
        self.started = time.time()
        self.broken = False
        self._root_checked = False
        self.fallback_id = "t" + time.strftime("%Y%m%d%H%M%S", time.gmtime(self.started))

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

    def report(self, message: str) -> None:
        key = message.split(" in ", 1)[0]
        if key not in self._reported:
            self._reported.add(key)
            self._report(message)

    def _broken(self, why: str) -> None:
        self.broken = True
        self.report(f"cannot write recordings in {self.root} ({why}); traffic is unaffected, nothing is "
                    f"being recorded — fix the folder or --set record=false")

    def _root(self) -> bool:
        """``root`` exists, ours (created 0700 when it did not exist), and no one else controls it."""
        if not self._root_checked:
            self._root_checked = True
            if problem := record_dir_problem(self.root):
                self._broken(problem)
                return False
            try:
                self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as e:
                self._broken(e.strerror or str(e))
                return False
            if problem := record_dir_problem(self.root):  # as created (a race with whoever planted it)
                self._broken(problem)
        return not self.broken

    def _new_session(self, name: str, session: bytes, *, again: bool = True) -> Path | None:
        """The session's folder, created exclusively under the first free name; None on trouble."""
        for n in range(1, MAX_SUFFIX + 1):
            path = self.root / (name if n == 1 else f"{name}_{n}")
            try:
                create_dir(path)
            except FileExistsError:
                continue
            except FileNotFoundError as e:  # record_dir was removed meanwhile: checked and made again, once
                if not again:
                    self._broken(e.strerror or str(e))
                    return None
                self._root_checked = False
                return self._new_session(name, session, again=False) if self._root() else None
            except OSError as e:
                self._broken(e.strerror or str(e))
                return None
            try:
                write_new(path / S.SESSION_FILE, session)
            except OSError as e:
                self.report(f"cannot write {S.SESSION_FILE} in {path} ({e.strerror or e}); traffic is "
                            f"unaffected, this session is not fully recorded")
            return path
        self.report(f"cannot record a session in {self.root}: {name} and {MAX_SUFFIX - 1} more names are "
                    f"taken; traffic is unaffected")
        return None

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

    def next_seq(self, folder: Path) -> int:
        """The next exchange number in a session ``folder``, past any another writer has taken."""
        for path, counter in self.sessions.values():
            if path == folder:
                try:
                    on_disk = max((int(p.name.split("_", 1)[0]) for p in folder.iterdir() if _SEQ.match(p.name)),
                                  default=0)
                except OSError:
                    on_disk = 0
                counter[0] = max(counter[0], on_disk) + 1
                return counter[0]
        raise FileExistsError(f"{folder} is no session of this store")

    def exchange(self, *, session_id: str | None, id_source: str, client: str, kind: str,
                 meta: dict[str, Any]) -> ExchangeWriter | None:
        sid = session_id or self.fallback_id
        if sid not in self.sessions and session_id and (earlier := self._recorded(session_id)) is not None:
            self.sessions[sid] = earlier  # the gateway was restarted mid-session: one session, one folder
        if sid not in self.sessions:
            if not self._root():
                return None
            now = time.time()
            session = orjson.dumps({
                "schema": S.SCHEMA, "session_id": sid, "id_source": id_source if session_id else "time",
                "started": S.utc_iso(now), "client": client,
            }, option=_JSON_OPTS)
            path = self._new_session(S.session_dirname(now, client, sid), session)
            if path is None:
                return None
            self.sessions[sid] = (path, [0])
        if self.broken:
            return None
        path, counter = self.sessions[sid]
        counter[0] += 1
        seq = counter[0]
        full = {"schema": S.SCHEMA, "seq": seq, "kind": kind, "complete": False, **meta}
        pieces = None
        if self.use_pieces:
            pieces = self.pieces.get(path)
            if pieces is None:
                for older in list(self.pieces.values())[:-OPEN_PIECES]:
                    older.close()  # sessions gone quiet keep no file open, nor their caches
                pieces = self.pieces[path] = PieceWriter(path / PIECES_FILE, open_new)
        return ExchangeWriter(self, path / S.exchange_dirname(seq, kind), full, pieces)
