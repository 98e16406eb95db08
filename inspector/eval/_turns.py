"""The turns an evaluation replays: every recorded Claude Code model call, with its recorded answer.

Read through the recording reader (``inspector.recording``): the request exactly as Claude Code sent
it (messages, system prompt, tools) and the answer it got, reassembled. What is not a model turn is
skipped and counted by reason (``SKIP_REASONS``): side traffic (count_tokens, models, telemetry),
Claude Code's quota probe and what the gateway answered itself, recorded exchanges whose answer was
an error or never finished (there is nothing to compare with), unreadable recordings, and turns left
out by ``--turns``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..recording import (
    ExchangeRecord,
    SessionRecord,
    list_sessions,
    open_target,
    purpose_of,
    response_message,
    workdir_of,
)

__all__ = [
    "SKIP_REASONS", "AnswerDigest", "RecordedRequest", "ToolCall", "Turn", "TurnSet", "load_turns", "parse_turns",
    "sessions_of",
]

#: Why a recorded exchange is not evaluated (the keys of ``TurnSet.skipped``).
SKIP_REASONS = {
    "side traffic": "not a Messages call (count_tokens, models, telemetry…)",
    "not a model turn": "Claude Code's quota probe, or answered by the gateway itself",
    "no recorded answer": "the recorded answer was an error or never finished: nothing to compare with",
    "unreadable": "the recorded request is not a Messages request the reader can use",
    "outside --turns": "left out by --turns",
}


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    #: The arguments: a JSON object, or ``{"_raw": text}`` for JSON that did not parse.
    input: Any

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "input": self.input}


@dataclass(frozen=True, slots=True)
class AnswerDigest:
    """A Message reduced to what is compared: its text blocks joined, its tool calls, why it stopped
    (the recorded answer, and each candidate's)."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    stop_reason: str | None

    @classmethod
    def of(cls, message: Any) -> AnswerDigest:
        content = message.get("content") if isinstance(message, dict) else None
        blocks = [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []
        text = "".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")
        calls = tuple(ToolCall(str(b.get("name", "")), b.get("input")) for b in blocks if b.get("type") == "tool_use")
        stop = message.get("stop_reason") if isinstance(message, dict) else None
        return cls(text, calls, stop if isinstance(stop, str) else None)

    def as_dict(self) -> dict[str, Any]:
        return {"stop_reason": self.stop_reason, "text": self.text, "tool_calls": [c.as_dict() for c in self.tool_calls]}


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A turn's request as Claude Code sent it: the body as recorded, parsed, and the recorded request
    (method, path, headers — redacted as recorded)."""

    body: bytes
    json: dict[str, Any]
    client_request: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Turn:
    """One recorded model call: where its request is, and the answer it was given.

    The request is read from the recording when it is sent (``request()``), not kept: a long
    session's requests add up to hundreds of megabytes."""

    #: 1-based, over the model turns of all sessions in the order given (what ``--turns`` selects).
    number: int
    ref: str  # SESSION#N
    session: str
    seq: int
    purpose: str
    session_id: str
    client: str  # the recorded user-agent
    #: The working directory Claude Code named in the request (arguments' paths are compared against it).
    workdir: str | None
    recorded: AnswerDigest
    path: Path  # the exchange folder

    @property
    def kind(self) -> str:
        """``tool`` when the recorded answer called a tool, else ``text``."""
        return "tool" if self.recorded.tool_calls else "text"

    def request(self) -> RecordedRequest:
        ex = ExchangeRecord(self.path)  # a record of its own: what it reads is freed with it
        data = ex.request_json()
        return RecordedRequest(ex.request_body("client"), data if isinstance(data, dict) else {},
                               ex.client_request or {})

    def as_dict(self) -> dict[str, Any]:
        return {"number": self.number, "ref": self.ref, "session": self.session, "seq": self.seq,
                "purpose": self.purpose, "kind": self.kind, "recorded": self.recorded.as_dict()}


@dataclass(slots=True)
class TurnSet:
    turns: list[Turn] = field(default_factory=list)
    #: reason (a key of ``SKIP_REASONS``) → how many recorded exchanges
    skipped: Counter[str] = field(default_factory=Counter)
    sessions: list[str] = field(default_factory=list)


_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def parse_turns(spec: str) -> list[tuple[int, int]]:
    """``"1-20"``, ``"3"``, ``"1-5,8,10-12"`` → inclusive ranges. Raises ``ValueError`` saying why."""
    ranges = []
    for part in spec.split(","):
        m = _RANGE.match(part)
        if not m:
            raise ValueError(f"--turns {spec!r}: each part must be N or N-M (turn numbers from 1), not {part.strip()!r}")
        low = int(m.group(1))
        high = int(m.group(2) or low)
        if low < 1 or high < low:
            raise ValueError(f"--turns {spec!r}: {part.strip()!r} is not a range of turn numbers from 1")
        ranges.append((low, high))
    return ranges


def sessions_of(spec: str | Path, root: str | Path = "recordings") -> list[SessionRecord]:
    """A folder of sessions (every session in it), one session folder, or a session's name under ``root``.

    Raises ``FileNotFoundError`` saying what was looked for."""
    path = Path(spec)
    if path.is_dir() and not (path / "session.json").exists():
        found = list_sessions(path)
        if found:
            return found
    session, _ = open_target(str(spec), root)
    return [session]


def _skip_reason(ex: ExchangeRecord) -> str | None:
    meta = ex.meta
    if ex.kind != "messages":
        return "side traffic"
    if meta.get("local"):
        return "not a model turn"
    body = ex.request_json() if ex.client_request else None
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body.get("model"):
        return "unreadable"
    if (meta.get("purpose") or purpose_of("messages", body)) == "quota":
        return "not a model turn"
    status = (meta.get("status") or {}).get("client")
    if not meta.get("complete") or status != 200 or meta.get("error"):
        return "no recorded answer"
    return None


def load_turns(sessions: list[SessionRecord], *, turns: list[tuple[int, int]] | None = None) -> TurnSet:
    """The model turns of ``sessions`` (in order), numbered from 1; the rest skipped and counted."""
    out = TurnSet(sessions=[s.name for s in sessions])
    number = 0
    for session in sessions:
        for listed in session.exchanges():
            ex = ExchangeRecord(listed.path, session)  # read, then let go: only the small Turn is kept
            reason = _skip_reason(ex)
            message = response_message(ex) if reason is None else None
            if reason is None and not (isinstance(message, dict) and message.get("type") == "message"):
                reason = "no recorded answer"
            if reason is not None:
                out.skipped[reason] += 1
                continue
            number += 1
            if turns and not any(low <= number <= high for low, high in turns):
                out.skipped["outside --turns"] += 1
                continue
            request = ex.request_json()
            headers = {str(k).lower(): str(v) for k, v in (ex.client_request or {}).get("headers") or []}
            sid = ex.meta.get("session_id") or session.meta.get("session_id") or session.name
            out.turns.append(Turn(
                number=number, ref=ex.ref, session=session.name, seq=ex.seq,
                purpose=ex.meta.get("purpose") or purpose_of("messages", request), session_id=str(sid),
                client=headers.get("user-agent") or str(ex.meta.get("client") or ""), workdir=workdir_of(request),
                recorded=AnswerDigest.of(message), path=ex.path))
    return out
