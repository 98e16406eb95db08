"""Requests stored as references to content-addressed pieces a session keeps once (SCHEMA.md, "Pieces").

Claude Code sends the whole conversation on every turn, so a session's requests repeat one another
almost entirely. A body is stored as a *skeleton*: each top-level list (``messages``, ``tools``, a
``system`` given as blocks) becomes a reference to a *list node* — the items this request adds after
the longest list an earlier request of the session already stored, and a reference to that one —
and every string of ``LONG`` characters or more (a system prompt, a file a tool read, a tool's
description) becomes a reference to a *piece* holding it. The same text in the client's request and
in the translated one is one piece. A session's pieces are appended to its ``pieces.jsonl``, before
the request file that refers to them is written, each line once.

References are JSON objects of one key: ``{"$p": ID}`` (a piece), ``{"$list": ID}`` (a list node),
and ``{"$lit": VALUE}`` for an object of the request that happens to look like one of those (its
value is taken as it is). ``ID`` is 32 hex digits of a SHA-256: of a string piece's JSON text, and
for a list node a digest chain over its items (``PieceWriter._list``), so a list has one name.

``PieceWriter`` encodes (the recording sidecar, one per session); ``Pieces`` decodes (readers).
"""

from __future__ import annotations

import hashlib
import os
import weakref
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from ._redact import Redactor

__all__ = ["LONG", "PIECES_FILE", "PieceWriter", "Pieces", "is_reference"]

PIECES_FILE = "pieces.jsonl"
#: Strings this long or longer are stored once, as pieces (a reference costs ≈45 bytes).
LONG = 256
_REF_KEYS = frozenset({"$p", "$list", "$lit"})
#: Items (their raw bytes' digest → encoded form) a writer remembers, per session.
_MEMO_LIMIT = 8192


#: A list item as last seen: (the item, redacted and encoded, what was redacted, its prefix's name).
_Entry = tuple[Any, Any, tuple[tuple[str, int], ...], bytes]


def is_reference(value: Any) -> bool:
    return type(value) is dict and len(value) == 1 and next(iter(value)) in _REF_KEYS


class PieceWriter:
    """One session's pieces: what is new in each request is appended to ``pieces.jsonl``.

    ``encode(body)`` returns the body's skeleton and writes the pieces it refers to first (one
    append), so a reader never meets a reference to a piece that is not on disk. A failed append
    raises ``OSError``; the writer is then ``broken`` and the caller stores bodies whole."""

    def __init__(self, path: Path, opener: Callable[[str | bytes, int], int]) -> None:
        self.path = path
        self._opener = opener
        self._created = False
        self.broken = False
        self._known: set[bytes] = set()  # piece and list-node ids on disk (16 bytes; 32 hex digits on disk)
        #: Every prefix of every list stored: its name → (the node holding it, its length).
        self._prefixes: dict[bytes, tuple[bytes, int]] = {}
        #: The last list of each slot, item by item (see ``_list``).
        self._last: dict[tuple[str, str], list[_Entry]] = {}
        #: An item's digest → (the item redacted and encoded, what was redacted in it).
        self._memo: dict[bytes, tuple[Any, tuple[tuple[str, int], ...]]] = {}
        self._new: list[bytes] = []
        self._fd: int | None = None
        self._closer: weakref.finalize[Any, Any] | None = None
        self.written = 0  # bytes appended

    # -- encoding --------------------------------------------------------------------------------
    def encode(self, body: dict[str, Any], redactor: Redactor, found: Counter[str] | None = None, *,
               slot: str = "") -> dict[str, Any]:
        """``body`` redacted (as ``Redactor.json`` redacts it: each top-level value, each item of a
        top-level list, in its whole context) and split into its skeleton, what is new appended."""
        if self.broken:
            raise OSError("the session's pieces.jsonl could not be written")
        counts: Counter[str] = Counter()  # said only when the body is stored this way (else it is redacted again)
        rest = redactor.json({k: v for k, v in body.items() if type(v) is not list or not v}, counts)
        skeleton = {k: self._list(v, redactor, counts, (slot, k)) if type(v) is list and v else self._value(rest[k])
                    for k, v in body.items()}
        if self._new:
            self._append()
        if found is not None:
            found.update(counts)
        return skeleton

    def _value(self, v: Any) -> Any:
        t = type(v)
        if t is str:
            return self._piece(v) if len(v) >= LONG else v
        if t is dict:
            out = {k: self._value(x) for k, x in v.items()}
            return {"$lit": v} if is_reference(v) else out
        if t is list:
            return [self._value(x) for x in v]
        return v

    def _piece(self, text: str) -> dict[str, str]:
        data = orjson.dumps(text)
        ident = hashlib.sha256(data).digest()[:16]
        if ident not in self._known:
            self._known.add(ident)
            self._new.append(b'{"id":"' + ident.hex().encode() + b'","v":' + data + b"}\n")
        return {"$p": ident.hex()}

    def _list(self, items: list[Any], redactor: Redactor, found: Counter[str] | None,
              slot: tuple[str, str]) -> dict[str, str]:
        """A list node for ``items``: the first ``keep`` items of the longest list stored before that
        begins like this one, then the items after them. Each prefix of a list is named by a digest
        chain (the digest of the previous prefix's name and the item's own digest); the node's id is
        the whole list's name.

        The items a request repeats from the previous one of its ``slot`` (the client's or the
        backend's ``messages``, …) are told by comparing them (``==``): no serialising, no digest."""
        last = self._last.get(slot, ())
        entries: list[_Entry] = []
        prefix = b""
        same = True
        for i, item in enumerate(items):
            if same and i < len(last) and last[i][0] == item:
                entry = last[i]
            else:
                same = False
                raw = orjson.dumps(item)
                digest = hashlib.sha256(raw).digest()
                known = self._memo.get(digest)
                if known is None:
                    counts: Counter[str] = Counter()
                    known = (self._value(redactor.serialised(item, raw, counts)), tuple(counts.items()))
                    if len(self._memo) >= _MEMO_LIMIT:
                        self._memo.clear()
                    self._memo[digest] = known
                entry = (item, known[0], known[1], hashlib.sha256(prefix + digest).digest()[:16])
            prefix = entry[3]
            entries.append(entry)
            if entry[2] and found is not None:
                for kind, n in entry[2]:
                    found[kind] += n
        self._last[slot] = entries
        ident = prefix
        if ident not in self._known:
            keep = len(entries)
            while keep and entries[keep - 1][3] not in self._prefixes:
                keep -= 1
            prev = self._prefixes[entries[keep - 1][3]][0].hex() if keep else None
            node = orjson.dumps({"prev": prev, "keep": keep, "items": [e[1] for e in entries[keep:]]})
            self._known.add(ident)
            self._new.append(b'{"id":"' + ident.hex().encode() + b'","v":' + node + b"}\n")
            for n in range(keep, len(entries)):
                self._prefixes[entries[n][3]] = (ident, n + 1)
        return {"$list": ident.hex()}

    def _append(self) -> None:
        data = b"".join(self._new)
        self._new.clear()
        try:
            if self._fd is None:
                if not self._created:
                    fd = self._opener(str(self.path), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND)
                    self._created = True
                else:  # closed meanwhile (``close``): ours, in our own folder
                    fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)
                                 | getattr(os, "O_CLOEXEC", 0))
                self._fd = fd
                self._closer = weakref.finalize(self, os.close, fd)
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
        except OSError:
            self.broken = True  # what this append holds may be half on disk: nothing refers to it
            self.close()
            raise
        self.written += len(data)

    def close(self) -> None:
        """Close the file and let the caches go (the file is opened again, to append, when more comes)."""
        self._memo.clear()
        self._last.clear()
        if self._closer is not None:
            self._closer()
        self._fd = None
        self._closer = None


class Pieces:
    """A session's ``pieces.jsonl``, read once, on first use; ``decode`` gives a body back whole.

    The items of a list are decoded once per session and shared by the requests that hold them
    (each request gets lists of its own): readers read, they do not change what they read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lines: dict[str, bytes] | None = None
        self._values: dict[str, Any] = {}
        self._lists: dict[str, list[Any]] = {}
        self.problems: list[str] = []

    def _load(self) -> dict[str, bytes]:
        if self._lines is None:
            self._lines = {}
            try:
                raw = self.path.read_bytes()
            except FileNotFoundError:
                raw = b""
            except OSError as e:
                self.problems.append(f"{PIECES_FILE} is unreadable ({e.strerror or e})")
                raw = b""
            for line in raw.splitlines():
                # Each line is {"id":"<32 hex>","v":…}: the id is read without parsing the rest.
                if line[:7] == b'{"id":"' and line[39:45] == b'","v":' and line[-1:] == b"}":
                    self._lines.setdefault(line[7:39].decode("ascii", "replace"), line[45:-1])
                elif line.strip():
                    self.problems.append(f"{PIECES_FILE}: a line that is not a piece (a write cut short?) was left out")
        return self._lines

    def _raw(self, ident: str, problems: list[str]) -> tuple[bool, Any]:
        if ident in self._values:
            return True, self._values[ident]
        line = self._load().get(ident)
        if line is None:
            problems.append(f"piece {ident} is not in {PIECES_FILE} (left out)")
            return False, None
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            problems.append(f"piece {ident} in {PIECES_FILE} is not JSON (left out)")
            return False, None
        self._values[ident] = value
        return True, value

    def decode(self, value: Any, problems: list[str]) -> Any:
        """``value`` with every reference replaced by what it stands for (a missing piece: said in
        ``problems``, a string piece read as ``""``, a list node as the items that could be read)."""
        t = type(value)
        if t is dict:
            if len(value) == 1:
                key = next(iter(value))
                if key == "$p":
                    ok, text = self._raw(str(value[key]), problems)
                    return text if ok and isinstance(text, str) else ""
                if key == "$list":
                    return list(self._list(str(value[key]), problems))
                if key == "$lit":
                    return value[key]
            return {k: self.decode(v, problems) for k, v in value.items()}
        if t is list:
            return [self.decode(v, problems) for v in value]
        return value

    def _list(self, ident: str, problems: list[str]) -> list[Any]:
        cached = self._lists.get(ident)
        if cached is not None:
            return cached
        # A chain is walked without recursion: a long session has one node per request.
        nodes: list[tuple[str, dict[str, Any]]] = []
        at: Any = ident
        seen: set[str] = set()
        while isinstance(at, str) and at not in self._lists and at not in seen:
            seen.add(at)
            ok, node = self._raw(at, problems)
            if not ok or not isinstance(node, dict) or not isinstance(node.get("items"), list):
                if ok:
                    problems.append(f"list {at} in {PIECES_FILE} is not a list node (left out)")
                break
            nodes.append((at, node))
            at = node.get("prev")
        items: list[Any] = self._lists.get(at, []) if isinstance(at, str) else []
        for node_id, node in reversed(nodes):
            keep = node.get("keep")
            base = items[:keep] if isinstance(keep, int) and not isinstance(keep, bool) and keep >= 0 else []
            items = base + [self.decode(v, problems) for v in node["items"]]
            self._lists[node_id] = items
        return items
