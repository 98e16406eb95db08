"""Reading recordings lazily: listing a folder reads no exchange; a corrupt file is reported, not fatal."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson

from . import _schema as S

__all__ = ["Chunk", "ExchangeRecord", "SessionRecord", "list_sessions", "open_target"]


@dataclass(frozen=True, slots=True)
class Chunk:
    t: float | None
    data: bytes


def _load_json(path: Path) -> tuple[Any, str | None]:
    try:
        return orjson.loads(path.read_bytes()), None
    except FileNotFoundError:
        return None, f"{path.name} is missing"
    except (OSError, orjson.JSONDecodeError) as e:
        return None, f"{path.name} is unreadable ({e})"


def body_bytes(body: dict[str, Any] | None) -> bytes:
    """The exact bytes of a body as ``body_for_disk`` stored it."""
    if not body:
        return b""
    enc = body.get("encoding")
    if enc == "json":
        return orjson.dumps(body["json"])
    if enc == "text":
        return body["text"].encode()
    if enc == "base64":
        return base64.b64decode(body["base64"])
    return b""


class ExchangeRecord:
    """One exchange folder. Everything is read on first access."""

    def __init__(self, path: Path, session: SessionRecord | None = None) -> None:
        self.path = path
        self.session = session
        self.problems: list[str] = []

    def __repr__(self) -> str:
        return f"ExchangeRecord({self.ref!r})"

    @property
    def ref(self) -> str:
        """``SESSION#N``: how the CLI and error messages name an exchange."""
        session = self.session.name if self.session else self.path.parent.name
        return f"{session}#{self.seq}"

    @property
    def seq(self) -> int:
        try:
            return int(self.path.name.split("_", 1)[0])
        except ValueError:
            return 0

    @cached_property
    def meta(self) -> dict[str, Any]:
        meta, problem = _load_json(self.path / S.EXCHANGE_FILE)
        kind = self.path.name.split("_", 1)[-1]
        if problem and problem.endswith("missing"):
            # Still running, or its gateway was killed: what arrived is in the other files.
            body = self.request_json() if self.client_request else None
            model = (body or {}).get("model") if isinstance(body, dict) else None
            return {"seq": self.seq, "kind": kind, "complete": False, "incomplete": "never finished",
                    "model": {"requested": model, "backend": None}}
        if problem or not isinstance(meta, dict):
            self.problems.append(problem or "exchange.json is not an object")
            return {"seq": self.seq, "kind": kind, "complete": False, "corrupt": True}
        return meta

    @property
    def complete(self) -> bool:
        return bool(self.meta.get("complete")) and not self.problems

    @property
    def kind(self) -> str:
        return self.meta.get("kind", "other")

    def _request(self, name: str) -> dict[str, Any] | None:
        data, problem = _load_json(self.path / name)
        if problem:
            if name == S.CLIENT_REQUEST or not problem.endswith("missing"):
                self.problems.append(problem)
            return None
        return data

    @cached_property
    def client_request(self) -> dict[str, Any] | None:
        return self._request(S.CLIENT_REQUEST)

    @cached_property
    def backend_request(self) -> dict[str, Any] | None:
        return self._request(S.BACKEND_REQUEST)

    def request_json(self, which: str = "client") -> Any:
        req = self.client_request if which == "client" else self.backend_request
        body = (req or {}).get("body") or {}
        if body.get("encoding") == "json":
            return body["json"]
        raw = body_bytes(body)
        try:
            return orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            return None

    def _lines(self, direction: str) -> list[dict[str, Any]]:
        name = S.BACKEND_RESPONSE if direction == "backend" else S.CLIENT_RESPONSE
        try:
            raw = (self.path / name).read_bytes()
        except FileNotFoundError:
            return []
        except OSError as e:
            self.problems.append(f"{name} is unreadable ({e})")
            return []
        out = []
        for n, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            try:
                out.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                # The last line of a killed gateway's file may be half written.
                self.problems.append(f"{name} line {n} is truncated")
        return out

    def response(self, direction: str = "client") -> tuple[int | None, list[list[str]], list[Chunk]]:
        """(status, headers, chunks) of the response as it went ``direction``."""
        status, headers, chunks = None, [], []
        for rec in self._lines(direction):
            if "status" in rec:
                status, headers = rec["status"], rec.get("headers") or []
                continue
            if "text" in rec:
                chunks.append(Chunk(rec.get("t"), rec["text"].encode()))
            elif "b64" in rec:
                chunks.append(Chunk(rec.get("t"), base64.b64decode(rec["b64"])))
        return status, headers, chunks

    def body(self, direction: str = "client") -> bytes:
        return b"".join(c.data for c in self.response(direction)[2])


class SessionRecord:
    """One session folder directly under a recording directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name

    def __repr__(self) -> str:
        return f"SessionRecord({self.name!r})"

    @cached_property
    def meta(self) -> dict[str, Any]:
        meta, problem = _load_json(self.path / S.SESSION_FILE)
        return meta if isinstance(meta, dict) else {"corrupt": problem or "not an object"}

    def exchanges(self) -> list[ExchangeRecord]:
        try:
            dirs = sorted(p for p in self.path.iterdir() if p.is_dir() and p.name[:4].isdigit())
        except OSError:
            return []
        return [ExchangeRecord(p, self) for p in dirs]

    def exchange(self, seq: int) -> ExchangeRecord | None:
        return next((e for e in self.exchanges() if e.seq == seq), None)


def list_sessions(root: Path | str) -> list[SessionRecord]:
    """The sessions under ``root``, oldest first (names sort by time). Reads no exchange."""
    root = Path(root)
    try:
        return [SessionRecord(p) for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    except FileNotFoundError:
        return []


def open_target(spec: str | Path, root: Path | str = "recordings") -> tuple[SessionRecord, ExchangeRecord | None]:
    """``SESSION`` or ``SESSION#N`` (a path, or a name under ``root``) → (session, exchange or None).

    Raises ``FileNotFoundError`` with what was looked for.
    """
    text = str(spec)
    name, _, number = text.partition("#")
    path = Path(name)
    if not path.is_dir():
        path = Path(root) / name
    if not path.is_dir():
        matches = [s for s in list_sessions(root) if name and name in s.name]
        if len(matches) != 1:
            raise FileNotFoundError(f"no session {name!r} (looked for a folder, then under {root}/)"
                                    + (f"; {len(matches)} names contain it" if matches else ""))
        path = matches[0].path
    session = SessionRecord(path)
    if not number:
        return session, None
    exchange = session.exchange(int(number))
    if exchange is None:
        raise FileNotFoundError(f"session {session.name} has no exchange #{number}")
    return session, exchange
