"""An exchange's conversation as a person reads it: the turns both the viewer and the HTML report show.

System prompt, then each message's blocks (user text, thinking, tool calls with their input, tool
results), then the answer. A tool call whose arguments did not parse, a failed tool result and an
error answer are marked ``error``; the translation notes about a call (repairs, schema errors) go
under it. Pure data: no Textual, no HTML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["Turn", "conversation", "texts"]


@dataclass(slots=True)
class Turn:
    kind: str  # system, system-turn, user, assistant, thinking, tool-call, tool-result, image, block, answer, stop
    title: str
    text: str = ""
    value: Any = None  # a tool call's input, kept structured
    answer: bool = False  # part of the response rather than the request
    error: bool = False
    notes: list[tuple[str, str]] = field(default_factory=list)  # (kind, message)
    message: int = -1  # index of the request message it comes from (-1: the system prompt or the answer)


def texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    out = []
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and block.get("type") == "text":
            out.append(str(block.get("text", "")))
    return out


def _size(n: int) -> str:
    return f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} bytes"


class _Builder:
    def __init__(self, notes: Sequence[Mapping[str, Any]]) -> None:
        self.notes = [n for n in notes if isinstance(n, dict)]
        self.turns: list[Turn] = []
        self.tool_names: dict[str, str] = {}
        self.index = -1

    def add(self, turn: Turn) -> None:
        if not turn.answer:
            turn.message = self.index
        self.turns.append(turn)

    def message(self, message: Any) -> None:
        self.index += 1
        if not isinstance(message, dict):
            return
        role = str(message.get("role", "?"))
        content = message.get("content")
        if role == "system":
            self.add(Turn("system-turn", "system (mid-conversation)", "\n".join(texts(content))))
            return
        if role not in ("user", "assistant"):
            role = "other"
        if isinstance(content, str):
            self.add(Turn(role, role, content))
            return
        for block in content if isinstance(content, list) else []:
            self.block(role, block, answer=False)

    def block(self, role: str, block: Any, *, answer: bool) -> None:
        if not isinstance(block, dict):
            return
        kind = block.get("type")
        add = self.add
        if kind == "text":
            add(Turn("answer" if answer else role, role, str(block.get("text", "")), answer=answer))
        elif kind in ("thinking", "redacted_thinking"):
            add(Turn("thinking", f"{role} · thinking", str(block.get("thinking", "") or "(redacted)"), answer=answer))
        elif kind in ("tool_use", "server_tool_use"):
            self.tool_call(block, answer)
        elif kind == "tool_result":
            content = block.get("content")
            text = "\n".join(texts(content)) if not isinstance(content, str) else content
            images = sum(1 for b in content if isinstance(b, dict) and b.get("type") == "image") \
                if isinstance(content, list) else 0
            if images:
                text += f"\n[{images} image{'s' if images > 1 else ''}]"
            use_id = str(block.get("tool_use_id", ""))
            name = self.tool_names.get(use_id)
            error = bool(block.get("is_error"))
            title = f"tool result{' · error' if error else ''} ← {name + ' ' if name else ''}{use_id}".rstrip()
            add(Turn("tool-result", title, text or "", error=error, answer=answer))
        elif kind == "image":
            source: dict[str, Any] = block["source"] if isinstance(block.get("source"), dict) else {}
            data = source.get("data")
            size = f", {_size(len(data) * 3 // 4)}" if isinstance(data, str) else ""
            add(Turn("image", f"{role} · image", f"[{source.get('media_type') or source.get('type') or 'image'}{size}]",
                     answer=answer))
        else:
            add(Turn("block", f"{role} · {kind}", orjson.dumps(block, option=orjson.OPT_INDENT_2).decode(),
                     answer=answer))

    def tool_call(self, block: dict[str, Any], answer: bool) -> None:
        name = str(block.get("name"))
        use_id = str(block.get("id", ""))
        self.tool_names[use_id] = name
        tool_input = block.get("input")
        title = f"tool call → {name}  {use_id}".rstrip()
        if isinstance(tool_input, dict) and "_raw" in tool_input:
            notes = [(str(n.get("kind")), str(n.get("message"))) for n in self.notes
                     if name in str(n.get("message", ""))]
            self.add(Turn("tool-call", title, "the arguments did not parse as JSON; raw text as sent:\n"
                                   + str(tool_input["_raw"]), value=None, error=True, notes=notes, answer=answer))
            return
        notes = [(str(n["kind"]), str(n.get("message"))) for n in self.notes
                 if n.get("kind") in ("repaired", "error") and f"{name}:" in str(n.get("message", ""))]
        self.add(Turn("tool-call", title, value=tool_input, notes=notes,
                               error=any(k == "error" for k, _ in notes), answer=answer))


def conversation(request: Any, response: Any, notes: Sequence[Mapping[str, Any]] | None = None) -> list[Turn]:
    """``request`` is the client's JSON, ``response`` the reassembled Message (or an error body, or text)."""
    b = _Builder(notes or [])
    req = request if isinstance(request, dict) else {}
    system = req.get("system")
    system_text = system if isinstance(system, str) else "\n\n".join(texts(system))
    if system_text:
        b.turns.append(Turn("system", f"system prompt ({len(system_text):,} characters)", system_text))
    for message in req.get("messages") or []:
        b.message(message)
    if not isinstance(response, dict):
        if response:
            b.turns.append(Turn("answer", "response", str(response), answer=True))
        return b.turns
    if "error" in response and "content" not in response:
        error = response.get("error")
        message = error.get("message", error) if isinstance(error, dict) else error
        b.turns.append(Turn("answer", "response · error", str(message), error=True, answer=True))
        return b.turns
    for block in response.get("content") or []:
        b.block("assistant (the response)", block, answer=True)
    stop = response.get("stop_reason")
    usage: dict[str, Any] = response["usage"] if isinstance(response.get("usage"), dict) else {}
    if stop or usage:
        counts = [str(n) if isinstance(n, int) else "?" for n in (usage.get("input_tokens"), usage.get("output_tokens"))]
        b.turns.append(Turn("stop", "", f"stop_reason {stop or 'none (the answer did not say)'} · usage {counts[0]} in "
                                        f"/ {counts[1]} out", answer=True))
    if response.get("error"):
        error = response["error"]
        message = error.get("message") if isinstance(error, dict) else error
        b.turns.append(Turn("answer", "then an error", str(message), error=True, answer=True))
    return b.turns
