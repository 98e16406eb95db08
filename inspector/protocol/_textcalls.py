"""Tool calls that local models print as *text*, found incrementally and turned into calls.

Shapes (as real models emit them): ``<tool_call>{"name": …, "arguments": …}</tool_call>``
(Qwen/Hermes templates), Qwen-coder's ``<function=NAME><parameter=KEY>value</parameter></function>``
(optionally inside ``<tool_call>``), a fenced ```` ```json ```` block, and a bare JSON object —
each holding ``name`` plus ``arguments`` or ``parameters``.

A call is converted only when it names a tool the request offered; anything else is text,
exactly as it arrived. ``TextCallDetector.feed`` returns what can be released now: text
that cannot be the start of a call goes out at once; a possible start is held back only
until it is decided. Correct for any split of the input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["TextCall", "TextCallDetector"]

#: Give up holding a would-be call after this many characters (it is released as text).
MAX_HOLD = 200_000

_OPENERS = ("<tool_call>", "<function=", "```", "{")
_FUNC = re.compile(r"<function=([^>\s]+)>(.*?)</function>", re.S)
_PARAM = re.compile(r"<parameter=([^>\s]+)>\n?(.*?)\n?</parameter>", re.S)
_FENCE = re.compile(r"```[a-zA-Z]*[ \t]*\n(.*?)\n?```", re.S)
_NAME_START = re.compile(r'\{\s*("(n(a(m(e(")?)?)?)?)?)?$')  # could still become {"name"
_NAME_OK = re.compile(r'\{\s*"name"')


@dataclass(slots=True)
class TextCall:
    name: str
    arguments: Any  # as found: a dict, or a string still to be parsed
    raw: str  # the text the model printed
    shape: str  # tool_call-tag | function-tag | fenced-json | bare-json


def _parse_json_call(text: str) -> tuple[str, Any] | None:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            import json_repair
            data = json_repair.loads(text)
        except Exception:  # noqa: BLE001
            return None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        return None
    args = data.get("arguments", data.get("parameters", data.get("input", {})))
    return data["name"], args


def _parse_function_tag(text: str) -> tuple[str, Any] | None:
    m = _FUNC.search(text)
    if not m:
        return None
    args: dict[str, Any] = {}
    for key, value in _PARAM.findall(m.group(2)):
        try:
            args[key] = orjson.loads(value) if value.strip()[:1] in ("{", "[") else value
        except orjson.JSONDecodeError:
            args[key] = value
    return m.group(1), args


class TextCallDetector:
    def __init__(self, tool_names: set[str] | list[str]) -> None:
        self.names = set(tool_names)
        self.buf = ""
        self.calls = 0

    def feed(self, text: str) -> list[str | TextCall]:
        if not self.names:
            return [text] if text else []
        self.buf += text
        return self._scan(final=False)

    def flush(self) -> list[str | TextCall]:
        out = self._scan(final=True)
        if self.buf:
            out.append(self.buf)
            self.buf = ""
        return out

    # -- internals --------------------------------------------------------------------------------
    def _scan(self, *, final: bool) -> list[str | TextCall]:
        out: list[str | TextCall] = []
        while self.buf:
            start = self._next_opener()
            if start is None:
                keep = 0 if final else self._partial_opener_suffix()
                if len(self.buf) > keep:
                    out.append(self.buf[: len(self.buf) - keep])
                    self.buf = self.buf[len(self.buf) - keep:]
                break
            if start:
                out.append(self.buf[:start])
                self.buf = self.buf[start:]
            decided = self._decide(final=final)
            if decided is None:  # undecided: hold the rest
                if len(self.buf) > MAX_HOLD:
                    out.append(self.buf)
                    self.buf = ""
                break
            consumed, item = decided
            out.append(item)
            self.buf = self.buf[consumed:]
        return [o for o in out if o != ""]

    def _next_opener(self) -> int | None:
        found = [i for i in (self.buf.find(o) for o in _OPENERS) if i >= 0]
        return min(found) if found else None

    def _partial_opener_suffix(self) -> int:
        """Length of the longest buffer suffix that is a proper prefix of an opener."""
        for n in range(min(len(self.buf), 11), 0, -1):
            tail = self.buf[-n:]
            if any(o.startswith(tail) and o != tail for o in _OPENERS):
                return n
        return 0

    def _call(self, found: tuple[str, Any] | None, raw: str, shape: str) -> str | TextCall:
        if found is None or found[0] not in self.names:
            return raw  # not a call of an offered tool: it stays text, as printed
        self.calls += 1
        return TextCall(found[0], found[1], raw, shape)

    def _decide(self, *, final: bool) -> tuple[int, str | TextCall] | None:
        """At an opener: (characters consumed, text or call), or None to wait for more."""
        buf = self.buf
        if buf.startswith("<tool_call>"):
            after = buf[len("<tool_call>"):].lstrip()
            if after and after[0] not in "{<":
                return len("<tool_call>"), "<tool_call>"  # a mention, not a call: text at once
            end = buf.find("</tool_call>")
            if end < 0:
                return (len(buf), buf) if final else None
            raw = buf[: end + len("</tool_call>")]
            inner = raw[len("<tool_call>"): -len("</tool_call>")].strip()
            found = _parse_function_tag(inner) if inner.startswith("<function=") else _parse_json_call(inner)
            return len(raw), self._call(found, raw, "tool_call-tag")
        if buf.startswith("<function="):
            if ">" not in buf[:200] and (len(buf) > 200 or final):
                return len("<function="), "<function="
            end = buf.find("</function>")
            if end < 0:
                return (len(buf), buf) if final else None
            raw = buf[: end + len("</function>")]
            return len(raw), self._call(_parse_function_tag(raw), raw, "function-tag")
        if buf.startswith("```"):
            m = _FENCE.match(buf)
            if m is None:
                if final or ("\n" in buf and not re.match(r"```[a-zA-Z]*[ \t]*\n\s*(\{|$)", buf)):
                    return 3, "```"  # a fence that is not a JSON call: plain text
                return None
            body = m.group(1).strip()
            if not body.startswith("{"):
                return len(m.group(0)), m.group(0)
            return len(m.group(0)), self._call(_parse_json_call(body), m.group(0), "fenced-json")
        # A bare "{": a call only if it starts {"name" — decide as soon as that is known.
        if not _NAME_OK.match(buf):
            if _NAME_START.match(buf) and not final:
                return None
            return 1, "{"
        end = _balanced_end(buf)
        if end is None:
            return (len(buf), buf) if final else None
        raw = buf[:end]
        return end, self._call(_parse_json_call(raw), raw, "bare-json")


def _balanced_end(text: str) -> int | None:
    """Index after the JSON object starting at text[0], or None if it is not closed yet."""
    depth, in_str, esc = 0, False, False
    for i, ch in enumerate(text):
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return None
