"""Secret-named fields of a tool call streamed in pieces, redacted across the pieces.

A model streams a tool call's input as JSON text in pieces — Anthropic ``input_json_delta``
``partial_json``, OpenAI ``tool_calls[].function.arguments`` deltas — so ``"password": "hunter2"``
is often split over several events and whole in none: patterns run on one chunk cannot see it.
``StreamFields`` follows each streamed input through a small JSON lexer (``FieldLexer``) and
replaces the value of every secret-named field (``SECRET_FIELD``: whatever the value looks like)
by ``[redacted:secret-field]`` in the first piece that holds part of it and by nothing in the
pieces after: the pieces joined are JSON again, with the value redacted.

It reads whole lines (SSE ``data:`` lines, NDJSON lines): a chunk that ends inside a line keeps
that unfinished line back (up to ``MAX_CARRY``) for the next chunk, so a piece — or any secret
cut between two network reads — is never written before it could be looked at whole. A whole
(non-streamed) answer of up to ``MAX_CARRY`` is so written once, at its end.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import orjson

from ._redact import SECRET_FIELD, marker

__all__ = ["FieldLexer", "StreamFields"]

KIND = "secret-field"
MARK = marker(KIND)
_STRUCTURE = re.compile(r'["{}\[\]:,]')  # what changes the lexer's state outside strings
_IN_STRING = re.compile(r'["\\]')  # ... and inside them
#: An unfinished line longer than this is let through as it is (no event is this long).
MAX_CARRY = 1 << 16


class FieldLexer:
    """Follows one JSON text fed in pieces; ``feed`` returns each piece with the characters of
    secret-named fields' string values replaced (the marker once per value)."""

    __slots__ = ("stack", "in_string", "escape", "is_key", "key", "last_key", "value_secret", "secret",
                 "marked", "expect_key")

    def __init__(self) -> None:
        self.stack: list[str] = []
        self.in_string = False
        self.escape = False
        self.is_key = False
        self.key: list[str] = []
        self.last_key = ""
        self.value_secret = False  # a ':' after a secret-named key: the value comes next
        self.secret = False  # inside such a value's string
        self.marked = False  # its marker was written
        self.expect_key = False

    def feed(self, piece: str) -> tuple[str, int]:
        """(the piece as it may be written, how many secret values began in it).

        It goes from one character that matters to the next (``_STRUCTURE`` outside strings,
        ``_IN_STRING`` inside), so a long string costs one search, not a loop per character."""
        out: list[str] = []
        began = 0
        i, n = 0, len(piece)
        while i < n:
            if not self.in_string:
                m = _STRUCTURE.search(piece, i)
                j = m.start() if m is not None else n
                if piece[i:j].strip():
                    self.value_secret = False  # a number, true, false, null: not a string, left as it is
                out.append(piece[i:j])
                if m is None:
                    break
                self._structure(piece[j])
                out.append(piece[j])
                i = j + 1
                continue
            if self.escape:  # the character after a backslash belongs to the string, whatever it is
                self.escape = False
                j = i + 1
            else:
                m = _IN_STRING.search(piece, i)
                j = m.start() if m is not None else n
                if j < n and piece[j] == "\\":
                    self.escape = True
                    j += 1
            run = piece[i:j]
            if run:
                if self.secret:
                    if not self.marked:
                        self.marked = True
                        began += 1
                        out.append(MARK)
                else:
                    out.append(run)
                    if self.is_key and len(self.key) < 256:
                        self.key.append(run)
            i = j
            if i < n and not self.escape and piece[i] == '"':  # the string ends
                out.append('"')
                self.in_string = False
                if self.secret:
                    self.secret = False
                elif self.is_key:
                    self.last_key = "".join(self.key)
                i += 1
        return "".join(out), began

    def _structure(self, ch: str) -> None:
        if ch == '"':
            self.in_string = True
            self.is_key = self.expect_key and bool(self.stack) and self.stack[-1] == "{"
            if self.is_key:
                self.key, self.expect_key = [], False
            elif self.value_secret:
                self.secret, self.marked = True, False
            self.value_secret = False
        elif ch in "{[":
            self.stack.append(ch)
            self.expect_key = ch == "{"
            self.value_secret = False
        elif ch in "}]":
            if self.stack:
                self.stack.pop()
        elif ch == ",":
            self.expect_key = bool(self.stack) and self.stack[-1] == "{"
            self.value_secret = False
        else:  # ":"
            self.value_secret = bool(SECRET_FIELD.match(self.last_key))


class StreamFields:
    """One recorded stream (a direction of an exchange): ``feed`` each chunk's text, ``flush`` at its end."""

    def __init__(self) -> None:
        self.lexers: dict[tuple[Any, ...], FieldLexer] = {}
        self.carry = ""

    def feed(self, text: str, found: Counter[str] | None = None) -> str:
        """The text to write now: complete lines, with streamed tool input redacted."""
        if self.carry:
            text, self.carry = self.carry + text, ""
        cut = max(text.rfind("\n"), text.rfind("\r")) + 1
        if len(text) - cut <= MAX_CARRY:
            text, self.carry = text[:cut], text[cut:]
        if "partial_json" not in text and "arguments" not in text:  # (two searches: cheaper than a generator)
            return text
        return "".join(self._line(line, found) if "partial_json" in line or "arguments" in line else line
                       for line in text.splitlines(keepends=True))

    def flush(self) -> str:
        """What was kept back (a stream that ended inside a line)."""
        tail, self.carry = self.carry, ""
        return tail

    def _line(self, line: str, found: Counter[str] | None) -> str:
        body = line.rstrip("\r\n")
        prefix = ""
        if body.startswith("data:"):
            prefix, body = body[:5], body[5:]
        try:
            event = orjson.loads(body)
        except orjson.JSONDecodeError:
            return line
        if not isinstance(event, dict):
            return line
        changed = False
        for key, holder, field in _pieces(event):
            if key == ("reset",):
                self.lexers.clear()
                continue
            piece = holder.get(field)
            if not isinstance(piece, str) or not piece:
                continue
            lexer = self.lexers.get(key)
            if lexer is None:
                lexer = self.lexers[key] = FieldLexer()
            new, began = lexer.feed(piece)
            if new != piece:
                if found is not None and began:
                    found[KIND] += began
                old_json, new_json = orjson.dumps(piece).decode(), orjson.dumps(new).decode()
                holder[field] = new
                if old_json in body and not changed:
                    body = body.replace(old_json, new_json, 1)
                else:
                    changed = True
        if changed:  # the piece was written otherwise (\u escapes): the event written again
            body = (" " if prefix and body.startswith(" ") else "") + orjson.dumps(event).decode()
        return prefix + body + line[len(line.rstrip("\r\n")):]


def _pieces(event: dict[str, Any]) -> list[tuple[tuple[Any, ...], dict[str, Any], str]]:
    """(which streamed input, the object holding the piece, its field) for each piece in one event."""
    kind = event.get("type")
    if kind == "message_start":
        return [(("reset",), event, "")]
    if kind == "content_block_delta":
        delta = event.get("delta")
        if isinstance(delta, dict) and delta.get("type") == "input_json_delta":
            return [(("block", event.get("index")), delta, "partial_json")]
        return []
    out: list[tuple[tuple[Any, ...], dict[str, Any], str]] = []
    choices = event.get("choices")
    for n, choice in enumerate(choices if isinstance(choices, list) else []):
        delta = choice.get("delta") if isinstance(choice, dict) else None
        calls = delta.get("tool_calls") if isinstance(delta, dict) else None
        for m, call in enumerate(calls if isinstance(calls, list) else []):
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                index = call.get("index", m)
                out.append((("call", choice.get("index", n), index if isinstance(index, int) else m),
                            function, "arguments"))
    return out
