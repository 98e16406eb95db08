"""Replay: which recorded exchange answers a new request.

The rule (documented in SCHEMA.md): a new Claude Code run differs from the recorded
one in its session id, metadata, dates, environment and reminders, so a Messages
request is matched on the *conversation* only —

* what the request is for (main turn, title, quota, background: ``purpose_of``);
* each user/assistant message, in order: its text with ``<system-reminder>`` sections
  removed and whitespace collapsed, tool calls by name and input, tool results by
  content and error flag, images by a hash of their data;

and nothing else: not the system prompt, ``role:"system"`` messages, ids, thinking,
model, ``max_tokens``, tools, metadata or headers. Several recorded exchanges with the
same conversation are replayed in their recorded order (the last one repeats). Other
requests (count_tokens, models, hello, telemetry) are answered generically.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ..protocol import InvalidRequest, MessageAccumulator, error_body, load_json_object, request_kind, side_answer
from ._reader import Chunk, ExchangeRecord, SessionRecord
from ._schema import purpose_of

__all__ = ["Answer", "Match", "Miss", "ReplayIndex", "closest_miss", "conversation_key"]

_REMINDER = re.compile(r"<system-reminder>.*?</system-reminder>", re.S)
_SPACE = re.compile(r"\s+")
#: Claude Code names its working directory in the environment section it sends (system prompt or a
#: role:"system" message): "Primary working directory: /home/me/project".
_WORKDIR = re.compile(r"(?:Primary working directory|Working directory): (/[^\s\\\"']+)")
CWD = "<cwd>"


def workdir_of(body: Any) -> str | None:
    """The working directory Claude Code ran in, as its request says (None when it does not)."""
    if not isinstance(body, dict):
        return None
    texts: list[Any] = [body.get("system")]
    messages = body.get("messages")
    if isinstance(messages, list):
        texts += [m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "system"]
    for text in texts:
        m = _WORKDIR.search(text if isinstance(text, str) else orjson.dumps(text, default=str).decode())
        if m:
            path = m.group(1).rstrip("/.,;")
            return path if len(path) > 1 else None
    return None


def _text(text: Any) -> str:
    if not isinstance(text, str):  # a recording of the wrong shape still gets a key
        text = "" if text is None else orjson.dumps(text, default=str).decode()
    return _SPACE.sub(" ", _REMINDER.sub("", text)).strip()


def _block(block: Any) -> str | None:
    if isinstance(block, str):
        return _text(block) or None
    if not isinstance(block, dict):
        return None
    kind = block.get("type")
    if kind == "text":
        return _text(block.get("text", "")) or None
    if kind == "tool_use":
        tool_input = orjson.dumps(block.get("input"), option=orjson.OPT_SORT_KEYS, default=str).decode()
        return f"tool_use {block.get('name')} {tool_input}"
    if kind == "tool_result":
        content = block.get("content")
        parts = [_block(c) for c in content] if isinstance(content, list) else [_text(content)]
        flag = " error" if block.get("is_error") else ""
        return f"tool_result{flag} " + " ".join(p for p in parts if p)
    if kind in ("image", "document"):
        data = orjson.dumps(block.get("source"), option=orjson.OPT_SORT_KEYS, default=str)
        return f"{kind} {hashlib.sha256(data).hexdigest()[:12]}"
    return None  # thinking, redacted_thinking, server tools: not part of the match


def _conversation(body: dict[str, Any]) -> list[tuple[str, int]]:
    """The key's lines, each with the index in ``messages`` it came from (-1 for the purpose).

    The working directory is written ``<cwd>``: a session recorded in one folder replays in
    another (tool calls and results name files under it)."""
    workdir = workdir_of(body)
    lines = [(f"purpose {purpose_of('messages', body)}", -1)]
    messages = body.get("messages")
    for i, msg in enumerate(messages if isinstance(messages, list) else []):
        if not isinstance(msg, dict) or msg.get("role") not in ("user", "assistant"):
            continue
        content = msg.get("content")
        blocks = content if isinstance(content, list) else [content]
        parts = [p for p in (_block(b) for b in blocks) if p]
        if parts:
            line = f"{msg['role']}: " + " | ".join(parts)
            lines.append((line.replace(workdir, CWD) if workdir else line, i))
    return lines


def conversation_key(kind: str, body: dict[str, Any] | None) -> tuple[str, ...]:
    """The part of a request that replay matches on (see the module docstring)."""
    if kind != "messages" or not isinstance(body, dict):
        return (kind,)
    return tuple(line for line, _ in _conversation(body))


@dataclass(slots=True)
class Match:
    exchange: ExchangeRecord


@dataclass(slots=True)
class Miss:
    """No recorded exchange has the request's conversation.

    ``message`` names the closest recording and quotes both sides of the first difference:
    for the replay's own log. ``public_message`` says the same without quoting anything
    recorded (only the request's own text): for the HTTP answer of a replay that others can
    reach. ``comparisons`` counts the key lines compared (the search's work, bounded).
    """

    message: str
    closest: ExchangeRecord | None
    public_message: str = ""
    alike: float = 0.0
    comparisons: int = 0

    def __post_init__(self) -> None:
        self.public_message = self.public_message or self.message


@dataclass(slots=True)
class Answer:
    """What replay sends back: status, headers, body chunks (with recorded times), source."""

    status: int
    headers: list[tuple[str, str]]
    chunks: list[Chunk]
    source: ExchangeRecord | None = None
    miss: str | None = None
    #: Why the recorded answer could not be sent (the answer is then an Anthropic error): for the log.
    broken: str | None = None

    @property
    def streamed(self) -> bool:
        return any(k.lower() == "content-type" and "event-stream" in v for k, v in self.headers)

    @property
    def body(self) -> bytes:
        return b"".join(c.data for c in self.chunks)


#: Recorded response headers never sent again: the recording's transport, not the answer.
_HOP = {"transfer-encoding", "content-length", "connection", "keep-alive", "content-encoding", "upgrade"}
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 field name
_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")  # no CR, LF, NUL or other controls; Latin-1 only
_UNSENDABLE = {204, 205, 304}


def sendable_headers(headers: Sequence[Sequence[str]]) -> list[tuple[str, str]]:
    """The recorded headers an HTTP response can carry again (a crafted recording's CR LF, NUL,
    non-Latin-1 value or odd name is left out, never sent)."""
    return [(k, v) for k, v in headers
            if _TOKEN.fullmatch(k) and _VALUE.fullmatch(v) and k.lower() not in _HOP]


def header_text(text: str) -> str:
    """``text`` as a header value (a folder name may hold anything but ``/``)."""
    return "".join(c if " " <= c <= "~" else "?" for c in text)


def unusable(status: int | None, headers: Sequence[Sequence[str]], body: bytes) -> str | None:
    """Why a recorded answer cannot be replayed as it is, or None when it can: it must be a status
    that carries a body, and an Anthropic answer — a stream with Anthropic events, or a JSON
    Message or error."""
    if status is None:
        return "no response was recorded"
    if not 200 <= status <= 599 or status in _UNSENDABLE:
        return f"its status {status} cannot carry an answer"
    if not body.strip():
        return f"its body is empty (status {status})"
    kind = next((v.lower() for k, v in headers if k.lower() == "content-type"), "")
    if "event-stream" in kind:
        acc = MessageAccumulator()
        acc.feed(body)
        acc.flush()
        return None if acc.message is not None or acc.error is not None else "its stream holds no Anthropic event"
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return f"its body ({kind or 'no content-type'}) is neither an event stream nor JSON"
    if not isinstance(data, dict) or data.get("type") not in ("message", "error"):
        return f"its body is JSON ({type(data).__name__}) but no Anthropic message or error"
    return None


def _json_answer(status: int, data: Any) -> Answer:
    return Answer(status, [("content-type", "application/json")], [Chunk(0.0, orjson.dumps(data))])


@dataclass(frozen=True, slots=True)
class _Recorded:
    """One recorded conversation key, with what the closest-match search needs precomputed."""

    key: tuple[str, ...]
    hashes: tuple[int, ...]
    sizes: tuple[int, ...]
    present: frozenset[int]
    exchange: ExchangeRecord

    @classmethod
    def of(cls, key: tuple[str, ...], exchange: ExchangeRecord) -> _Recorded:
        hashes = tuple(map(hash, key))
        return cls(key, hashes, tuple(map(len, key)), frozenset(hashes), exchange)


#: How many candidates (most shared lines first) get the finer, line-level comparison.
FINE_CANDIDATES = 8


def _common_prefix(a: str, b: str) -> int:
    """Length of the common prefix: a binary search over slice comparisons (memcmp), not a char loop."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _shared_lines(key: tuple[str, ...], hashes: tuple[int, ...], rec: _Recorded) -> int:
    shared = 0
    for h, line, rh, rline in zip(hashes, key, rec.hashes, rec.key, strict=False):
        if h != rh or line != rline:
            break
        shared += 1
    return shared


def closest_miss(recorded: Sequence[_Recorded], lines: Sequence[tuple[str, int]]) -> Miss:
    """The closest recorded conversation to ``lines`` and how it differs — a pure function.

    Linear in the size of the index and of the request, never in characters squared: each
    candidate is first ranked by how much of the request's text its lines contain (line
    hashes looked up in a set), and only the ``FINE_CANDIDATES`` best get an in-order,
    line-level ``SequenceMatcher`` (over line hashes, not characters) plus partial credit for
    the first line that differs (common prefix and suffix, by slice comparisons). It reads the
    index and never changes it: safe in a worker thread.
    """
    if not recorded:
        return Miss("the replay folder holds no recorded Messages exchange", None)
    key = tuple(line for line, _ in lines)
    hashes = tuple(map(hash, key))
    sizes = tuple(map(len, key))
    work = 0
    ranked: list[tuple[int, int]] = []  # (-request characters found in the candidate, candidate)
    for n, rec in enumerate(recorded):
        present = rec.present
        ranked.append((-sum(size for h, size in zip(hashes, sizes, strict=True) if h in present), n))
        work += len(hashes)
    ranked.sort()
    total = sum(sizes)
    best: tuple[int, float, int, int] | None = None  # (matched characters, alike, shared lines, candidate)
    for _, n in ranked[:FINE_CANDIDATES]:
        rec = recorded[n]
        shared = _shared_lines(key, hashes, rec)
        matcher = difflib.SequenceMatcher(None, hashes, rec.hashes, autojunk=False)
        same = sum(sum(sizes[m.a:m.a + m.size]) for m in matcher.get_matching_blocks())
        work += len(hashes) + len(rec.hashes)
        if shared < len(key) and shared < len(rec.key):  # partial credit for the first line that differs
            a, b = key[shared], rec.key[shared]
            prefix = _common_prefix(a, b)
            same += prefix + _common_prefix(a[prefix:][::-1], b[prefix:][::-1])
        both = total + sum(rec.sizes)
        alike = min(2 * same / both, 0.99) if both else 0.0  # a miss is never shown as "100% alike"
        if best is None or (same, alike) > best[:2]:
            best = (same, alike, shared, n)
    assert best is not None
    _, alike, shared, n = best
    rec = recorded[n]
    full, public = _difference(rec.key, lines, shared)
    head = f"no recorded exchange has this conversation; the closest is {rec.exchange.ref} ({alike:.0%} alike)"
    return Miss(f"{head}: {full}", rec.exchange, f"{head}: {public}", alike, work)


def _where(lines: Sequence[tuple[str, int]], i: int) -> str:
    line, index = lines[i]
    if index < 0:
        return "the request's purpose"
    return f"messages.{index} ({line.split(':', 1)[0]})"


def _excerpt(text: str, at: int, limit: int = 60) -> str:
    """``limit`` characters of ``text`` from a little before ``at`` (where it starts to differ)."""
    start = max(0, at - 15)
    piece = text[start:start + limit]
    return ("…" if start else "") + piece + ("…" if start + limit < len(text) else "")


def _difference(recorded: tuple[str, ...], lines: Sequence[tuple[str, int]], shared: int) -> tuple[str, str]:
    """(with both sides quoted, with only this request's side quoted) for the first difference."""
    got = [line for line, _ in lines]
    if shared < len(recorded) and shared < len(got):
        a, b = recorded[shared], got[shared]
        if shared == 0:
            return (f"the recording is a {a.removeprefix('purpose ')} request, this one a "
                    f"{b.removeprefix('purpose ')} request",
                    f"this request is a {b.removeprefix('purpose ')} request, the recording another kind")
        role = len(b.split(": ", 1)[0]) + 2
        a, b = a[role:], b[role:]
        at = _common_prefix(a, b)
        where = _where(lines, shared)
        mine = f"this request has {_excerpt(b, at)!r}"
        return f"{where} differs: recorded {_excerpt(a, at)!r}, {mine}", f"{where} differs: {mine}"
    if len(got) > len(recorded):
        extra = f"{_where(lines, shared)}: {_excerpt(got[shared].split(': ', 1)[-1], 0)!r}"
        text = f"the recording ends where this request goes on, with {extra}"
        return text, text
    if len(recorded) > len(got):
        last = f"after {_where(lines, shared - 1)}" if shared > 1 else "before its first message"
        text = f"this request ends {last}; the recording goes on with a {recorded[shared].split(':', 1)[0]} message"
        return f"{text}: {_excerpt(recorded[shared].split(': ', 1)[-1], 0)!r}", text
    return "identical", "identical"


class ReplayIndex:
    """Recorded Messages exchanges by conversation key. Built once; ``closest`` only reads it."""

    def __init__(self, sessions: list[SessionRecord]) -> None:
        self.by_key: dict[tuple[str, ...], list[ExchangeRecord]] = defaultdict(list)
        self.used: dict[tuple[str, ...], int] = defaultdict(int)
        self._lock = threading.Lock()
        self.models: list[str] = []
        self.count = 0
        #: Why recordings were left out: a recording format this inspector does not read is never
        #: replayed (its answers could be anything), and says so, naming its version.
        self.refused: list[str] = []
        for session in sessions:
            if session.schema_problem:
                self.refused.append(f"{session.schema_problem}; not replayed")
                continue
            for ex in session.exchanges():
                if ex.kind != "messages" or ex.client_request is None:
                    continue
                if ex.schema_problem:
                    self.refused.append(f"{ex.schema_problem}; not replayed")
                    continue
                body = ex.request_json()
                if not isinstance(body, dict):
                    continue  # the reader has flagged it: nothing to match on
                key = conversation_key("messages", body)
                self.by_key[key].append(ex)
                self.count += 1
                model = body.get("model")
                if isinstance(model, str) and model and model not in self.models:
                    self.models.append(model)
        self._recorded = [_Recorded.of(k, found[0]) for k, found in self.by_key.items()]

    def lookup(self, body: dict[str, Any] | None) -> Match | None:
        """The recorded exchange for this conversation (in recorded order), or None. Fast: a dict lookup."""
        key = conversation_key("messages", body)
        found = self.by_key.get(key)
        if not found:
            return None
        with self._lock:  # the pytest fixture's server answers from several threads
            n = self.used[key]
            self.used[key] = n + 1
        return Match(found[min(n, len(found) - 1)])

    def closest(self, body: dict[str, Any] | None) -> Miss:
        """Why nothing matches: the closest recording and the first difference (pure, bounded)."""
        lines = _conversation(body) if isinstance(body, dict) else [("messages", -1)]
        return closest_miss(self._recorded, lines)

    def match(self, body: dict[str, Any] | None) -> Match | Miss:
        return self.lookup(body) or self.closest(body)

    def answer(self, method: str, path: str, body: bytes, *, public: bool = False) -> Answer:
        """The response replay gives to ``method path`` with ``body``.

        ``public``: a miss's answer quotes no recorded text (``Miss.public_message``); the full
        message is always in ``Answer.miss`` for the log.
        """
        kind = request_kind(method, path)
        if kind != "messages":
            side = side_answer(kind, method, path, body, models=self.models, served_by="this replay")
            return Answer(side.status, side.headers, [Chunk(0.0, side.body)])
        try:
            data = load_json_object(body)
        except InvalidRequest as e:
            return _json_answer(400, error_body("invalid_request_error", str(e)))
        found = self.match(data)
        if isinstance(found, Match):
            return self._answer(found.exchange, data)
        # A miss: 400, not 404 — Claude Code replaces a 404's message with its own ("There's an
        # issue with the selected model"); a 400's reaches the user as it is. Retrying cannot help.
        text = found.public_message if public else found.message
        answer = _json_answer(400, error_body("invalid_request_error", f"replay: {text}"))
        answer.headers.append(("x-should-retry", "false"))
        answer.miss = found.message
        return answer

    def _answer(self, exchange: ExchangeRecord, request: dict[str, Any]) -> Answer:
        """The recorded answer; file paths under the recorded working directory moved under this one.

        A recorded answer that cannot be sent as it is (``unusable``: a recording made by hand or
        damaged) becomes a 500 ``api_error`` saying why, never an empty 200 or someone's HTML."""
        status, headers, chunks = exchange.response("client")
        if why := unusable(status, headers, b"".join(c.data for c in chunks)):
            text = f"replay: the recorded answer of {exchange.ref} cannot be replayed: {why}"
            answer = _json_answer(500, error_body("api_error", text))
            answer.headers += [("x-should-retry", "false"), ("x-inspector-replayed-from", header_text(exchange.ref))]
            answer.source, answer.broken = exchange, text
            return answer
        kept = sendable_headers(headers)
        if not any(k.lower() == "content-type" for k, _ in kept):
            kept.append(("content-type", "application/json"))  # unusable() found JSON
        kept.append(("x-inspector-replayed-from", header_text(exchange.ref)))
        was, now = workdir_of(exchange.request_json()), workdir_of(request)
        if was and now and was != now:
            old, new = was.encode(), now.encode()
            chunks = [Chunk(c.t, c.data.replace(old, new)) for c in chunks]
            kept.append(("x-inspector-replay-workdir", "moved"))
        assert status is not None  # unusable() said so
        return Answer(status, kept, chunks, exchange)
