"""An exchange's conversation, the way a person reads it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Collapsible, Static

from ...log import fold


def _json(value: Any) -> str:
    return orjson.dumps(fold(value, limit=400), option=orjson.OPT_INDENT_2).decode()


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    out = []
    for block in content or []:
        if isinstance(block, dict) and block.get("type") == "text":
            out.append(block.get("text", ""))
    return out


class Conversation(VerticalScroll):
    """``request`` (the client's JSON), ``response`` (the reassembled Message) and ``notes``."""

    DEFAULT_CSS = (Path(__file__).with_name("conversation.tcss")).read_text()

    def __init__(self, request: Any, response: Any, notes: list[dict[str, Any]], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.request = request if isinstance(request, dict) else {}
        self.response = response
        self.notes = notes

    def _turn(self, title: str, body: str | Text, classes: str) -> Static:
        text = Text(title + "\n", style="bold") if isinstance(body, str) else Text(title + "\n", style="bold")
        text.append(body if isinstance(body, Text) else Text(body))
        return Static(text, classes=f"turn {classes}")

    def compose(self) -> ComposeResult:
        req = self.request
        system = req.get("system")
        system_text = "\n\n".join(_texts(system)) if not isinstance(system, str) else system
        if system_text:
            with Collapsible(title=f"system prompt ({len(system_text):,} characters)", collapsed=True):
                yield Static(fold(system_text, limit=20000))
        for message in req.get("messages") or []:
            yield from self._message(message)
        yield from self._answer()

    def _message(self, message: dict[str, Any]) -> ComposeResult:
        role = message.get("role", "?")
        content = message.get("content")
        if role == "system":
            yield self._turn("system (mid-conversation)", "\n".join(_texts(content)), "system-turn")
            return
        if role not in ("user", "assistant"):
            role = "other"
        if isinstance(content, str):
            yield self._turn(role, content, role)
            return
        for block in content or []:
            yield from self._block(role, block)

    def _block(self, role: str, block: Any, css: str | None = None) -> ComposeResult:
        if not isinstance(block, dict):
            return
        css = css or role
        kind = block.get("type")
        if kind == "text":
            yield self._turn(role, block.get("text", ""), css)
        elif kind == "thinking":
            yield self._turn(f"{role} · thinking", Text(block.get("thinking", ""), style="italic"), css)
        elif kind == "tool_use":
            yield from self._tool_call(block)
        elif kind == "tool_result":
            content = block.get("content")
            text = "\n".join(_texts(content)) if not isinstance(content, str) else content
            flag = " · error" if block.get("is_error") else ""
            yield self._turn(f"tool result{flag} ← {block.get('tool_use_id', '')}", fold(text or "", limit=4000),
                             "tool-result")
        elif kind == "image":
            yield self._turn(f"{role} · image", str((block.get("source") or {}).get("media_type", "")), css)
        else:
            yield self._turn(f"{role} · {kind}", _json(block), css)

    def _tool_call(self, block: dict[str, Any]) -> ComposeResult:
        tool_input = block.get("input")
        title = f"tool call → {block.get('name')}  {block.get('id', '')}"
        if isinstance(tool_input, dict) and "_raw" in tool_input:
            body = Text("the arguments did not parse as JSON; raw text as sent:\n", style="bold red")
            body.append(str(tool_input["_raw"]))
            related = [n for n in self.notes if block.get("name", "") in n.get("message", "")]
            for note in related:
                body.append(f"\n{note['kind']}: {note['message']}", style="yellow")
            yield self._turn(title, body, "tool-call broken")
            return
        body = Text(_json(tool_input))
        for note in self.notes:
            if note.get("kind") in ("repaired", "error") and f"{block.get('name')}:" in note.get("message", ""):
                body.append(f"\n{note['kind']}: {note['message']}", style="yellow" if note["kind"] == "repaired"
                            else "red")
        yield self._turn(title, body, "tool-call broken" if "\n" in body.plain.split("}")[-1] else "tool-call")

    def _answer(self) -> ComposeResult:
        response = self.response
        if not isinstance(response, dict):
            if response:
                yield self._turn("response", str(response), "answer")
            return
        if "error" in response and "content" not in response:
            error = response.get("error") or {}
            yield self._turn("response · error", Text(str(error.get("message", error)), style="red"), "answer broken")
            return
        for block in response.get("content") or []:
            yield from self._block("assistant (the response)", block, "answer")
        stop = response.get("stop_reason")
        usage = response.get("usage") or {}
        if stop or usage:
            yield Static(Text(f"stop_reason {stop} · usage {usage.get('input_tokens')} in / "
                              f"{usage.get('output_tokens')} out", style="dim"))
        if response.get("error"):
            yield self._turn("then an error", Text(str(response["error"].get("message")), style="red"), "answer broken")
