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
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import orjson

from ..protocol import InvalidRequest, count_tokens, error_body, load_json_object, models_page, request_kind
from ._reader import Chunk, ExchangeRecord, SessionRecord
from ._schema import purpose_of

__all__ = ["Answer", "Match", "Miss", "ReplayIndex", "conversation_key"]

_REMINDER = re.compile(r"<system-reminder>.*?</system-reminder>", re.S)
_SPACE = re.compile(r"\s+")


def _text(text: str) -> str:
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
        return f"tool_use {block.get('name')} {orjson.dumps(block.get('input'), option=orjson.OPT_SORT_KEYS).decode()}"
    if kind == "tool_result":
        content = block.get("content")
        parts = [_block(c) for c in content] if isinstance(content, list) else [_block(content or "")]
        flag = " error" if block.get("is_error") else ""
        return f"tool_result{flag} " + " ".join(p for p in parts if p)
    if kind in ("image", "document"):
        data = orjson.dumps(block.get("source"), option=orjson.OPT_SORT_KEYS)
        return f"{kind} {hashlib.sha256(data).hexdigest()[:12]}"
    return None  # thinking, redacted_thinking, server tools: not part of the match


def conversation_key(kind: str, body: dict[str, Any] | None) -> tuple[str, ...]:
    """The part of a request that replay matches on (see the module docstring)."""
    if kind != "messages" or not isinstance(body, dict):
        return (kind,)
    lines = [f"purpose {purpose_of(kind, body)}"]
    for msg in body.get("messages") or []:
        if not isinstance(msg, dict) or msg.get("role") not in ("user", "assistant"):
            continue
        content = msg.get("content")
        blocks = content if isinstance(content, list) else [content]
        parts = [p for p in (_block(b) for b in blocks) if p]
        if parts:
            lines.append(f"{msg['role']}: " + " | ".join(parts))
    return tuple(lines)


@dataclass(slots=True)
class Match:
    exchange: ExchangeRecord


@dataclass(slots=True)
class Miss:
    message: str
    closest: ExchangeRecord | None


@dataclass(slots=True)
class Answer:
    """What replay sends back: status, headers, body chunks (with recorded times), source."""

    status: int
    headers: list[tuple[str, str]]
    chunks: list[Chunk]
    source: ExchangeRecord | None = None
    miss: str | None = None

    @property
    def streamed(self) -> bool:
        return any(k.lower() == "content-type" and "event-stream" in v for k, v in self.headers)

    @property
    def body(self) -> bytes:
        return b"".join(c.data for c in self.chunks)


_HOP = {"transfer-encoding", "content-length", "connection", "keep-alive"}


def _json_answer(status: int, data: Any) -> Answer:
    return Answer(status, [("content-type", "application/json")], [Chunk(0.0, orjson.dumps(data))])


class ReplayIndex:
    def __init__(self, sessions: list[SessionRecord]) -> None:
        self.by_key: dict[tuple[str, ...], list[ExchangeRecord]] = defaultdict(list)
        self.used: dict[tuple[str, ...], int] = defaultdict(int)
        self.models: list[str] = []
        self.count = 0
        for session in sessions:
            for ex in session.exchanges():
                if ex.kind != "messages" or ex.client_request is None:
                    continue
                body = ex.request_json()
                key = conversation_key("messages", body)
                self.by_key[key].append(ex)
                self.count += 1
                model = (body or {}).get("model")
                if model and model not in self.models:
                    self.models.append(model)

    def match(self, body: dict[str, Any] | None) -> Match | Miss:
        key = conversation_key("messages", body)
        found = self.by_key.get(key)
        if found:
            n = self.used[key]
            self.used[key] = n + 1
            return Match(found[min(n, len(found) - 1)])
        return self._miss(key)

    def answer(self, method: str, path: str, body: bytes) -> Answer:
        """The response replay gives to ``method path`` with ``body``."""
        kind = request_kind(method, path)
        if kind == "count_tokens":
            try:
                return _json_answer(200, count_tokens(body))
            except InvalidRequest as e:
                return _json_answer(400, error_body("invalid_request_error", str(e)))
        if kind == "models":
            return _json_answer(200, models_page(self.models))
        if kind in ("hello", "event_logging"):
            return _json_answer(200, {})
        if kind != "messages":
            return _json_answer(404, error_body("not_found_error", f"{method} {path} was not recorded"))
        try:
            data = load_json_object(body)
        except InvalidRequest as e:
            return _json_answer(400, error_body("invalid_request_error", str(e)))
        found = self.match(data)
        if isinstance(found, Miss):
            answer = _json_answer(404, error_body("not_found_error", f"replay: {found.message}"))
            answer.miss = found.message
            return answer
        status, headers, chunks = found.exchange.response("client")
        kept = [(k, v) for k, v in headers if k.lower() not in _HOP]
        kept.append(("x-inspector-replayed-from", found.exchange.ref))
        return Answer(status or 200, kept, chunks, found.exchange)

    def _miss(self, key: tuple[str, ...]) -> Miss:
        if not self.by_key:
            return Miss("the replay folder holds no recorded Messages exchange", None)
        want = "\n".join(key)
        best, best_key, best_ratio = None, (), -1.0
        for k, exchanges in self.by_key.items():
            ratio = difflib.SequenceMatcher(None, want, "\n".join(k), autojunk=False).ratio()
            if ratio > best_ratio:
                best, best_key, best_ratio = exchanges[0], k, ratio
        diff = _first_difference(best_key, key)
        return Miss(f"no recorded exchange has this conversation; the closest is {best.ref} "
                    f"({best_ratio:.0%} alike): {diff}", best)


def _short(text: str, limit: int = 100) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first_difference(recorded: tuple[str, ...], got: tuple[str, ...]) -> str:
    for i, (a, b) in enumerate(zip(recorded, got)):
        if a != b:
            where = "purpose" if i == 0 else f"message {i}"
            return f"{where} differs: recorded {_short(a)!r}, this request {_short(b)!r}"
    if len(recorded) != len(got):
        return (f"the recording has {len(recorded) - 1} messages, this request {len(got) - 1}"
                + (f"; the first extra one is {_short(got[len(recorded)])!r}" if len(got) > len(recorded) else ""))
    return "identical"
