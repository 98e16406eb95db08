"""Reading recordings lazily, and defensively: a file of the wrong shape is flagged, never fatal.

Listing a folder reads no exchange. Every file is read through a typed view: ``exchange.json``
and ``session.json`` as the TypedDicts below, request files as ``{method, url, path, headers,
body}``, chunk logs line by line. A field of the wrong type is replaced by a safe default
(``None``, ``{}``, ``[]``, ``False``) and said in ``problems``; a line that is not a chunk is
skipped and said; the rest of the recording still opens.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson

from . import _schema as S
from ._meta import ExchangeMeta, SessionMeta
from ._pieces import PIECES_FILE, Pieces

__all__ = [
    "Chunk", "ExchangeMeta", "ExchangeRecord", "SessionMeta", "SessionRecord", "body_bytes", "is_session",
    "list_sessions", "not_recordings", "open_target", "readable_request", "readable_response", "schema_problem",
]


@dataclass(frozen=True, slots=True)
class Chunk:
    t: float | None
    data: bytes


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _str(v: Any) -> bool:
    return isinstance(v, str)


def _bool(v: Any) -> bool:
    return isinstance(v, bool)


def _opt(check: Any) -> Any:
    return ("opt", check)


def _dict_of(fields: dict[str, Any] | None = None, values: Any = None, required: tuple[str, ...] = ()) -> Any:
    return ("dict", fields or {}, values, required)


def _list_of(item: Any) -> Any:
    return ("list", item)


_NOTE = _dict_of({"kind": _str, "message": _str, "count": _int, "rule": _opt(_str)}, required=("kind", "message"))
#: field → (check, what it must be, default when it is not). A check is a predicate, or a
#: ("dict", {sub-field: check}, check for every value) / ("list", item check) spec.
_EXCHANGE: dict[str, tuple[Any, str, Any]] = {
    "schema": (_str, "a string", None), "seq": (_int, "an integer", None), "kind": (_str, "a string", None),
    "complete": (_bool, "true or false", False), "incomplete": (_opt(_str), "a string", None),
    "corrupt": (_bool, "true or false", True),
    "started": (_opt(_str), "a string", None), "form": (_opt(_str), "a string", None),
    "purpose": (_opt(_str), "a string", None), "mode": (_opt(_str), "a string", None),
    "local": (_bool, "true or false", False), "stream": (_bool, "true or false", False),
    "client": (_opt(_str), "a string", None), "session_id": (_opt(_str), "a string", None),
    "model": (_dict_of({"requested": _opt(_str), "backend": _opt(_str)}), "an object", {}),
    "backend": (_opt(_str), "a string", None),
    "status": (_dict_of(values=_opt(_int)), "an object", {}),
    "timing_ms": (_dict_of(values=_opt(_num)), "an object", {}),
    "usage": (_dict_of(values=_int), "an object", {}),
    "stop_reason": (_opt(_str), "a string", None),
    "tool_calls": (_list_of(_dict_of({"name": _str, "id": _opt(_str)}, required=("name",))), "a list", []),
    "tool_results": (_list_of(_dict_of({"tool_use_id": _opt(_str), "name": _opt(_str),
                                        "is_error": _opt(_bool)})), "a list", []),
    "error": (_opt(_dict_of({"type": _opt(_str), "message": _opt(_str)})), "an object", None),
    "notes": (_list_of(_NOTE), "a list", []),
    "translate_options": (_opt(_dict_of()), "an object", None),
    "chunks": (_dict_of(values=_dict_of(values=_int)), "an object", {}),
    "redacted": (_dict_of(values=_int), "an object", {}),
    "performance": (_opt(_dict_of()), "an object", None), "prefix": (_opt(_dict_of()), "an object", None),
    "token_counts": (_opt(_dict_of()), "an object", None),
    "usage_source": (_opt(_str), "a string", None),
    "context_window": (_opt(_dict_of()), "an object", None),
    "dropped": (_opt(_dict_of(values=_int)), "an object", None),
    "overhead_ms": (_opt(_dict_of(values=_num)), "an object", None),
    "reask": (_opt(_dict_of()), "an object", None),
    "agent": (_opt(_dict_of({"id": _opt(_str), "parent": _opt(_str)})), "an object", None),
    "queue": (_opt(_dict_of({"wait_ms": _opt(_num), "ahead": _opt(_int), "class": _opt(_str), "slot": _opt(_int),
                             "warm": _opt(_bool), "held": _opt(_bool), "limit": _opt(_int),
                             "limit_source": _opt(_str), "arrival": _opt(_int), "grant": _opt(_int)})),
              "an object", None),
    "trace": (_opt(_dict_of({"trace_id": _opt(_str), "span_id": _opt(_str), "parent_span_id": _opt(_str),
                             "backend_span_id": _opt(_str), "source": _opt(_str)})), "an object", None),
}
_SESSION: dict[str, tuple[Any, str, Any]] = {
    k: (_str, "a string", None) for k in ("schema", "session_id", "id_source", "started", "client")}


def _json_type(v: Any) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "a boolean", type(None): "null",
            dict: "an object", list: "a list"}.get(type(v), type(v).__name__)


def _what(check: Any) -> str:
    if callable(check):
        return _WHAT.get(check, "of its type")
    return {"opt": lambda: _what(check[1]), "list": lambda: "a list", "dict": lambda: "an object"}[check[0]]()


_WHAT = {_str: "a string", _int: "an integer", _num: "a number", _bool: "true or false"}


def _fits(value: Any, check: Any, where: str, problems: list[str]) -> tuple[bool, Any]:
    """(does ``value`` pass ``check``, the value with wrong-typed parts inside it left out and said)."""
    if callable(check):
        return check(value), value
    if check[0] == "opt":
        return (True, None) if value is None else _fits(value, check[1], where, problems)
    if check[0] == "list":
        if not isinstance(value, list):
            return False, value
        kept = []
        for i, item in enumerate(value):
            ok, item = _fits(item, check[1], f"{where}.{i}", problems)
            if ok:
                kept.append(item)
            elif isinstance(item, dict) and not callable(check[1]) and check[1][0] == "dict":
                problems.append(f"{where}.{i} lacks {' or '.join(check[1][3])} (left out)")
            else:
                problems.append(f"{where}.{i} must be {_what(check[1])}, not {_json_type(item)} (left out)")
        return True, kept
    _, fields, values, required = check
    if not isinstance(value, dict):
        return False, value
    out = {}
    for k, v in value.items():
        sub = fields.get(k, values)
        if sub is None:
            out[k] = v
            continue
        ok, v = _fits(v, sub, f"{where}.{k}", problems)
        if ok:
            out[k] = v
        else:
            problems.append(f"{where}.{k} must be {_what(sub)}, not {_json_type(v)} (left out)")
    if any(k not in out for k in required):
        return False, value
    return True, out


def typed(data: dict[str, Any], spec: dict[str, tuple[Any, str, Any]], name: str,
          problems: list[str]) -> dict[str, Any]:
    """``data`` with every field of ``spec`` of its type (else its default, and a problem said)."""
    out = dict(data)
    for key, (check, what, default) in spec.items():
        if key not in data:
            continue
        ok, value = _fits(data[key], check, f"{name}: {key}", problems)
        if ok:
            out[key] = value
        else:
            read = "unknown" if default is None else repr(default)
            problems.append(f"{name}: {key} must be {what}, not {_json_type(data[key])} (read as {read})")
            out[key] = default
    if "notes" in out:
        for note in out["notes"]:
            note.setdefault("count", 1)
    return out


def schema_problem(value: Any, name: str) -> str | None:
    """What to say about a file whose ``schema`` is not the one this inspector reads (None: it is,
    or the file names none — the first recordings did not always)."""
    if value is None or value in S.READABLE:
        return None
    return (f"{name} is of schema {value!r}, which this inspector does not read (it reads "
            f"{' and '.join(S.READABLE)}): "
            f"upgrade claude-code-inspector to read it; what is shown of it may be wrong")


def _load_json(path: Path) -> tuple[Any, str | None]:
    try:
        return orjson.loads(path.read_bytes()), None
    except FileNotFoundError:
        return None, f"{path.name} is missing"
    except (OSError, orjson.JSONDecodeError) as e:
        return None, f"{path.name} is unreadable ({e})"


def _b64(text: Any) -> bytes | None:
    if not isinstance(text, str):
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def body_bytes(body: Any, problems: list[str] | None = None) -> bytes:
    """The exact bytes of a body as ``body_for_disk`` stored it (``b""`` for one of the wrong shape)."""
    if not isinstance(body, dict) or not body:
        return b""
    enc = body.get("encoding")
    if enc == "json" and "json" in body:
        return orjson.dumps(body["json"])
    if enc == "text" and isinstance(body.get("text"), str):
        return body["text"].encode()
    if enc == "base64" and (data := _b64(body.get("base64"))) is not None:
        return data
    if enc != "empty" and problems is not None:
        problems.append(f"the body (encoding {enc!r}) is not of its encoding's shape")
    return b""


def _headers(value: Any, where: str, problems: list[str]) -> list[list[str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append(f"{where}: headers must be a list of [name, value] pairs, not {_json_type(value)}")
        return []
    out = []
    for pair in value:
        if isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair):
            out.append(pair)
        else:
            problems.append(f"{where}: a header that is not a [name, value] pair of strings was left out")
    return out


_REQUEST = {"method": (_str, "a string", "GET"), "url": (_opt(_str), "a string", None),
            "path": (_opt(_str), "a string", None), "body": (_opt(_dict_of()), "an object", None)}


class ExchangeRecord:
    """One exchange folder. Everything is read on first access, through the typed views."""

    def __init__(self, path: Path, session: SessionRecord | None = None) -> None:
        self.path = path
        self.session = session
        self.problems: list[str] = []
        self._schema: Any = None  # exchange.json's own "schema", as written (set when meta is read)

    def __repr__(self) -> str:
        return f"ExchangeRecord({self.ref!r})"

    def _problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)

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
    def meta(self) -> ExchangeMeta:
        meta, problem = _load_json(self.path / S.EXCHANGE_FILE)
        kind = self.path.name.split("_", 1)[-1]
        if problem and problem.endswith("missing"):
            # Still running, or its gateway was killed: what arrived is in the other files.
            body = self.request_json() if self.client_request else None
            model = body.get("model") if isinstance(body, dict) else None
            return {"seq": self.seq, "kind": kind, "complete": False, "incomplete": "never finished",
                    "model": {"requested": model if isinstance(model, str) else None, "backend": None}}
        if problem or not isinstance(meta, dict):
            self._problem(problem or f"exchange.json is {_json_type(meta)}, not an object")
            return {"seq": self.seq, "kind": kind, "complete": False, "corrupt": True}
        problems: list[str] = []
        self._schema = meta.get("schema")
        if unknown := schema_problem(self._schema, S.EXCHANGE_FILE):
            problems.append(unknown)
        out = typed(meta, _EXCHANGE, "exchange.json", problems)
        for p in problems:
            self._problem(p)
        out.setdefault("kind", kind)
        if out.get("kind") is None:
            out["kind"] = kind
        if out.get("seq") is None:
            out["seq"] = self.seq
        return out  # type: ignore[return-value]

    @property
    def complete(self) -> bool:
        return bool(self.meta.get("complete")) and not self.problems

    @property
    def schema_problem(self) -> str | None:
        """Why this exchange (or its session) is of a recording format this inspector does not read."""
        if self.session is not None and self.session.schema_problem:
            return self.session.schema_problem
        self.meta  # noqa: B018 - read (once: it is cached), which notes its schema
        return schema_problem(self._schema, f"{self.ref}: {S.EXCHANGE_FILE}")

    @property
    def kind(self) -> str:
        return self.meta.get("kind") or "other"

    def _request(self, name: str) -> dict[str, Any] | None:
        data, problem = _load_json(self.path / name)
        if problem:
            if name == S.CLIENT_REQUEST or not problem.endswith("missing"):
                self._problem(problem)
            return None
        if not isinstance(data, dict):
            self._problem(f"{name} is {_json_type(data)}, not an object")
            return None
        problems: list[str] = []
        out = typed(data, _REQUEST, name, problems)
        out["headers"] = _headers(data.get("headers"), name, problems)
        body = out.get("body")
        if isinstance(body, dict) and body.get("encoding") == "pieces":
            # Format 2: the body refers to the session's pieces; readers get it whole, as format 1 stored it.
            pieces = self.pieces
            found: list[str] = []
            out["body"] = {"encoding": "json", "json": pieces.decode(body.get("json"), found)}
            problems += [f"{name}: {p}" for p in (*pieces.problems, *found)]
        for p in problems:
            self._problem(p)
        return out

    @property
    def pieces(self) -> Pieces:
        """The session's pieces (shared by its exchanges when it was opened as a session)."""
        if self.session is not None:
            return self.session.pieces
        return _pieces_of(self.path.parent)

    @cached_property
    def client_request(self) -> dict[str, Any] | None:
        return self._request(S.CLIENT_REQUEST)

    @cached_property
    def backend_request(self) -> dict[str, Any] | None:
        return self._request(S.BACKEND_REQUEST)

    def _request_of(self, which: str) -> dict[str, Any] | None:
        """``client``, ``backend``, or a later backend attempt ``backend-N`` (the re-ask)."""
        if which == "client":
            return self.client_request
        if which == "backend":
            return self.backend_request
        return self._request(S.request_file(which))

    def readable_attempt(self, n: int) -> dict[str, Any] | None:
        """A later backend attempt's request file (``backend-request-N.json``), as ``backend_request``."""
        return self._request_of(f"backend-{n}")

    @property
    def attempts(self) -> list[int]:
        """The later backend attempts recorded (the repair ladder's re-asks): ``[2]``, or ``[]``."""
        found = []
        for path in self.path.glob("backend-request-*.json"):
            n = path.name[len("backend-request-"):-len(".json")]
            if n.isdigit() and int(n) >= 2 and S.request_file(f"backend-{int(n)}") == path.name:
                found.append(int(n))
        return sorted(found)

    def request_body(self, which: str = "client") -> bytes:
        req = self._request_of(which)
        problems: list[str] = []
        data = body_bytes((req or {}).get("body"), problems)
        for p in problems:
            self._problem(f"{which} request: {p}")
        return data

    def request_json(self, which: str = "client") -> Any:
        """The request's JSON as recorded (any JSON value: what the client sent, right or wrong)."""
        req = self._request_of(which)
        body = (req or {}).get("body") or {}
        if body.get("encoding") == "json" and "json" in body:
            return body["json"]
        raw = self.request_body(which)
        try:
            return orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            return None

    def readable_request(self, which: str = "client") -> dict[str, Any]:
        """The request's JSON in the shape a reader walks (see ``readable_request``), problems said."""
        recorded = self.client_request if which == "client" else self.backend_request
        data = self.request_json(which) if recorded else None
        problems: list[str] = []
        out = readable_request(data, problems)
        for p in problems:
            self._problem(f"{which} request: {p}")
        return out

    def _lines(self, direction: str) -> list[dict[str, Any]]:
        name = S.response_file(direction)
        try:
            raw = (self.path / name).read_bytes()
        except FileNotFoundError:
            return []
        except OSError as e:
            self._problem(f"{name} is unreadable ({e})")
            return []
        out = []
        for n, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError:
                # The last line of a killed gateway's file may be half written.
                self._problem(f"{name} line {n} is truncated")
                continue
            if not isinstance(rec, dict):
                self._problem(f"{name} line {n} is {_json_type(rec)}, not a chunk (left out)")
                continue
            rec["_line"] = n
            out.append(rec)
        return out

    def response(self, direction: str = "client") -> tuple[int | None, list[list[str]], list[Chunk]]:
        """(status, headers, chunks) of the response as it went ``direction`` (``client``, ``backend``,
        or a later backend attempt ``backend-N``)."""
        name = S.response_file(direction)
        status: int | None = None
        headers: list[list[str]] = []
        chunks: list[Chunk] = []
        for rec in self._lines(direction):
            n = rec["_line"]
            t = rec.get("t")
            if t is not None and not _num(t):
                self._problem(f"{name} line {n}: t must be a number, not {_json_type(t)} (read as unknown)")
                t = None
            if "status" in rec:
                if _int(rec["status"]):
                    status = rec["status"]
                else:
                    self._problem(f"{name} line {n}: status must be an integer, not {_json_type(rec['status'])}")
                problems: list[str] = []
                headers = _headers(rec.get("headers"), f"{name} line {n}", problems)
                for p in problems:
                    self._problem(p)
                continue
            if "text" in rec:
                if isinstance(rec["text"], str):
                    chunks.append(Chunk(t, rec["text"].encode()))
                else:
                    self._problem(f"{name} line {n}: text must be a string, not {_json_type(rec['text'])} (left out)")
            elif "b64" in rec:
                data = _b64(rec["b64"])
                if data is None:
                    self._problem(f"{name} line {n}: b64 is not base64 (left out)")
                else:
                    chunks.append(Chunk(t, data))
        return status, headers, chunks

    def body(self, direction: str = "client") -> bytes:
        return b"".join(c.data for c in self.response(direction)[2])


class SessionRecord:
    """One session folder directly under a recording directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name
        self.problems: list[str] = []
        self._schema: Any = None  # session.json's "schema", as written (set when meta is read)

    def __repr__(self) -> str:
        return f"SessionRecord({self.name!r})"

    @cached_property
    def pieces(self) -> Pieces:
        """``pieces.jsonl`` (format 2), read once on first use."""
        return Pieces(self.path / PIECES_FILE)

    @cached_property
    def meta(self) -> SessionMeta:
        meta, problem = _load_json(self.path / S.SESSION_FILE)
        if not isinstance(meta, dict):
            return {"corrupt": problem or f"session.json is {_json_type(meta)}, not an object"}
        self._schema = meta.get("schema")
        if unknown := schema_problem(self._schema, S.SESSION_FILE):
            self.problems.append(unknown)
        return typed(meta, _SESSION, "session.json", self.problems)  # type: ignore[return-value]

    @property
    def schema_problem(self) -> str | None:
        """Why this session is of a recording format this inspector does not read (None: it is not)."""
        self.meta  # noqa: B018 - read (once: it is cached), which notes its schema
        return schema_problem(self._schema, f"{self.name}/{S.SESSION_FILE}")

    def exchanges(self) -> list[ExchangeRecord]:
        try:
            dirs = sorted(p for p in self.path.iterdir() if p.is_dir() and _EXCHANGE_DIR.match(p.name))
        except OSError:
            return []
        return [ExchangeRecord(p, self) for p in dirs]

    def exchange(self, seq: int) -> ExchangeRecord | None:
        return next((e for e in self.exchanges() if e.seq == seq), None)


_EXCHANGE_DIR = re.compile(r"^\d{4,}_[A-Za-z0-9._-]+$")


def _pieces_of(session: Path) -> Pieces:
    """The pieces of the session an exchange opened on its own belongs to (one read per file state)."""
    path = session / PIECES_FILE
    try:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
    except OSError:
        key = (str(path), -1, 0)
    pieces = _LOOSE.get(key)
    if pieces is None:
        if len(_LOOSE) >= 16:
            _LOOSE.clear()
        pieces = _LOOSE[key] = Pieces(path)
    return pieces


_LOOSE: dict[tuple[str, int, int], Pieces] = {}


def is_session(path: Path) -> bool:
    """A recorded session: a folder with ``session.json``, or with ``NNNN_kind`` exchange folders."""
    try:
        if (path / S.SESSION_FILE).is_file():
            return True
        return any(p.is_dir() and _EXCHANGE_DIR.match(p.name) for p in path.iterdir())
    except OSError:
        return False


def not_recordings(path: Path | str) -> str | None:
    """Why ``path`` is not a recording folder (sessions inside), nor a session; None when it is one.

    An empty folder passes: it is a recording folder nothing has been recorded into yet."""
    path = Path(path)
    if not path.is_dir():
        return f"{path} is not a folder"
    if is_session(path):
        return None
    try:
        entries = [p for p in path.iterdir() if not p.name.startswith(".")]
    except OSError as e:
        return f"{path} cannot be read ({e.strerror or e})"
    if not entries or any(p.is_dir() and is_session(p) for p in entries):
        return None
    return (f"{path} is not a folder of recordings: none of its {len(entries)} entries is a recorded session "
            f"(a session folder holds session.json and NNNN_kind exchange folders)")


def list_sessions(root: Path | str) -> list[SessionRecord]:
    """The sessions under ``root``, oldest first (names sort by time). Reads no exchange.

    Other folders (not sessions) are passed over."""
    root = Path(root)
    try:
        children = sorted(root.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [SessionRecord(p) for p in children if not p.name.startswith(".") and p.is_dir() and is_session(p)]


def open_target(spec: str | Path, root: Path | str = "recordings") -> tuple[SessionRecord, ExchangeRecord | None]:
    """``SESSION`` or ``SESSION#N`` (a path, or a name under ``root``) → (session, exchange or None).

    Raises ``FileNotFoundError`` with what was looked for (a folder that is not a recorded
    session is refused).
    """
    text = str(spec)
    name, _, number = text.partition("#")
    if number and not number.isdigit():
        raise FileNotFoundError(f"{text!r}: what follows # must be an exchange number (SESSION#3), not {number!r}")
    path = Path(name)
    if not path.is_dir():
        path = Path(root) / name
    if not path.is_dir():
        matches = [s for s in list_sessions(root) if name and name in s.name]
        if len(matches) != 1:
            raise FileNotFoundError(f"no session {name!r} (looked for a folder, then under {root}/)"
                                    + (f"; {len(matches)} names contain it" if matches else ""))
        path = matches[0].path
    if not is_session(path):
        raise FileNotFoundError(f"{path} is not a recorded session (a session folder holds session.json and "
                                f"NNNN_kind exchange folders)")
    session = SessionRecord(path)
    if not number:
        return session, None
    exchange = session.exchange(int(number))
    if exchange is None:
        raise FileNotFoundError(f"session {session.name} has no exchange #{number}")
    return session, exchange


def _readable_blocks(content: Any, where: str, problems: list[str]) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        if content is not None:
            problems.append(f"{where} is {_json_type(content)}, not text or a list of blocks")
        return []
    out = []
    for j, block in enumerate(content):
        at = f"{where}.{j}"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            problems.append(f"{at} is {_json_type(block)}, not a content block (left out)")
            continue
        block = dict(block)
        for key in ("text", "thinking", "name", "id", "tool_use_id"):
            if key in block and not isinstance(block[key], str):
                problems.append(f"{at}.{key} is {_json_type(block[key])}, not a string")
                block[key] = f"[{key}: {_json_type(block[key])}]"
        if block["type"] == "tool_result":
            block["content"] = _readable_blocks(block.get("content"), f"{at}.content", problems)
        if "source" in block and not isinstance(block["source"], dict):
            problems.append(f"{at}.source is {_json_type(block['source'])}, not an object")
            block["source"] = {}
        out.append(block)
    return out


def readable_request(data: Any, problems: list[str]) -> dict[str, Any]:
    """A recorded Messages request in the shape a reader walks, whatever was recorded.

    The client's JSON is kept as sent on disk (a 400 the gateway answered records the bad
    request faithfully); this view replaces what has the wrong type — messages that are not a
    list, blocks that are not objects, text that is not a string — so a viewer can walk it,
    and says each replacement in ``problems``."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        problems.append(f"the request is {_json_type(data)}, not an object")
        return {}
    out = dict(data)
    system = data.get("system")
    if system is not None:
        out["system"] = _readable_blocks(system, "system", problems)
    messages = data.get("messages")
    if messages is None:
        return out
    if not isinstance(messages, list):
        problems.append(f"messages is {_json_type(messages)}, not a list")
        out["messages"] = []
        return out
    kept = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            problems.append(f"messages.{i} is {_json_type(msg)}, not a message (left out)")
            continue
        role = msg.get("role")
        kept.append({**msg, "role": role if isinstance(role, str) else "?",
                     "content": _readable_blocks(msg.get("content"), f"messages.{i}.content", problems)})
    out["messages"] = kept
    tools = data.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            problems.append(f"tools is {_json_type(tools)}, not a list")
            tools = []
        out["tools"] = [t for t in tools if isinstance(t, dict)]
    return out


def readable_response(data: Any, problems: list[str]) -> Any:
    """The reassembled answer (a Message, an error body) in the shape a reader walks; like ``readable_request``."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    if "content" in data:
        out["content"] = _readable_blocks(data["content"], "response content", problems) or []
        if isinstance(out["content"], str):
            out["content"] = [{"type": "text", "text": out["content"]}]
    if "usage" in data and not isinstance(data["usage"], dict):
        problems.append(f"response usage is {_json_type(data['usage'])}, not an object")
        out["usage"] = {}
    error = data.get("error")
    if error is not None and not isinstance(error, dict):
        out["error"] = {"type": "error", "message": str(error)}
    elif isinstance(error, dict) and not isinstance(error.get("message"), str):
        out["error"] = {**error, "message": orjson.dumps(error.get("message"), default=str).decode()}
    return out
