"""JSON as weak models write it, read without changing a single value.

A repair may change syntax — single quotes, trailing commas, raw newlines inside strings,
Python's ``True``/``None`` — never the values the model meant. Those common slips are undone by
a tokenizer here, value for value. Only what remains goes to ``json_repair``, which trims the
trailing whitespace of strings unless ``stream_stable`` is set (a Write call lost the last
newline of its content that way) and can drop a backslash: it runs with ``stream_stable=True``,
and what it returns is accepted only if every string in it is spelled, one way or another, in
the input.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

__all__ = ["OpenScan", "balanced_end", "loads_lenient", "partial_ok", "unclosed"]

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


_PY_LITERALS = {"True": "true", "False": "false", "None": "null"}


def _normalise(text: str) -> str | None:
    """The same values in strict JSON syntax, or None if nothing needed changing.

    Syntax only, done by a tokenizer so no value is touched: single-quoted strings become
    double-quoted, raw control characters inside strings are escaped, ``\\xNN`` becomes
    ``\\u00NN``, trailing commas go, Python's ``True``/``False``/``None`` become JSON's.
    """
    out: list[str] = []
    i, n, quote = 0, len(text), ""
    while i < n:
        ch = text[i]
        if quote:
            if ch == "\\" and i + 1 < n:
                nxt = text[i + 1]
                if nxt == "'":  # not a JSON escape, whichever quote opened the string
                    out.append("'")
                elif nxt == "x" and i + 3 < n:
                    out.append("\\u00" + text[i + 2:i + 4])
                    i += 2
                else:
                    out.append(ch + nxt)
                i += 2
                continue
            if ch == quote:
                out.append('"')
                quote = ""
            elif ch == '"':
                out.append('\\"')
            elif ch < " ":
                out.append(_ESCAPES.get(ch) or f"\\u{ord(ch):04x}")
            else:
                out.append(ch)
            i += 1
            continue
        if ch in "\"'":
            quote = ch
            out.append('"')
        elif ch == ",":
            j = i + 1
            while j < n and text[j] in " \t\r\n":
                j += 1
            if j == n or text[j] not in "}]":
                out.append(ch)
        elif ch in "TFN" and (i == 0 or not text[i - 1].isalnum()):
            word = next((w for w in _PY_LITERALS if text.startswith(w, i)), None)
            if word and (i + len(word) == n or not text[i + len(word)].isalnum()):
                out.append(_PY_LITERALS[word])
                i += len(word)
                continue
            out.append(ch)
        else:
            out.append(ch)
        i += 1
    result = "".join(out)
    return result if result != text else None


def _spellings(value: str) -> tuple[str, ...]:
    escaped = orjson.dumps(value).decode()[1:-1]  # JSON escapes, non-ASCII kept
    single = escaped.replace('\\"', '"').replace("'", "\\'")
    ascii_only = json.dumps(value)[1:-1]  # \u00e9 as some models write it
    return value, escaped, single, ascii_only


def _strings_spelled_in(value: Any, text: str) -> bool:
    if isinstance(value, str):
        return not value or any(s in text for s in _spellings(value))
    if isinstance(value, dict):
        return all(_strings_spelled_in(k, text) and _strings_spelled_in(v, text) for k, v in value.items())
    if isinstance(value, list):
        return all(_strings_spelled_in(v, text) for v in value)
    return True


def loads_lenient(text: str) -> tuple[Any, bool] | None:
    """``(value, repaired)``: ``repaired`` is False when ``text`` was valid JSON. None: no safe reading.

    Text the model left open — a string, object or array never closed — has no safe reading:
    closing it would be choosing a value the model never wrote (``{"command": "rm -rf /`` was
    ``rm -rf /tmp/build`` before the token limit cut it)."""
    try:
        return orjson.loads(text), False
    except orjson.JSONDecodeError:
        pass
    if unclosed(text):
        return None
    normal = _normalise(text)
    if normal is not None:
        try:
            return orjson.loads(normal), True
        except orjson.JSONDecodeError:
            pass
    try:
        import json_repair
    except ImportError:  # pragma: no cover - a dependency, but never crash a stream on it
        return None
    try:
        value = json_repair.loads(text, stream_stable=True)
    except Exception:  # noqa: BLE001 - the library may raise anything on garbage
        return None
    if value == "" or not _strings_spelled_in(value, text):
        return None  # the library invented or changed a value: not a reading we can stand behind
    return value, True


def balanced_end(text: str, start: int = 0) -> int | None:
    """Index after the JSON object or array opening at ``text[start]``; None if not closed yet.

    Strings in double or single quotes are skipped, so braces inside values do not count.
    """
    depth, quote, esc = 0, "", False
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def unclosed(text: str) -> bool:
    """``text`` opens an object or array (after leading whitespace) that it never closes, or ends
    inside a string: the model stopped writing it. Either quote counts, as in ``balanced_end``."""
    try:
        orjson.loads(text)
        return False  # valid JSON closed everything it opened (the common case, at C speed)
    except orjson.JSONDecodeError:
        pass
    scan = OpenScan()
    scan.feed(text)
    return scan.unclosed


_STRUCTURE = re.compile(r"[{}\[\]\"']")
_IN_STRING = {'"': re.compile(r'["\\]'), "'": re.compile(r"['\\]")}


class OpenScan:
    """``unclosed`` for text fed in pieces, each character looked at once (argument fragments).

    Jumps from one structural character to the next with a regex; inside a string, to its quote
    or a backslash. Once the value that opened closes, it stays closed."""

    __slots__ = ("_depth", "_quote", "_escape", "_kind", "closed")

    def __init__(self) -> None:
        self._depth = 0
        self._quote = ""
        self._escape = False
        self._kind = ""  # "" nothing yet | "container" opened with { or [ | "other"
        self.closed = False

    @property
    def unclosed(self) -> bool:
        return self._kind == "container" and not self.closed

    def feed(self, text: str) -> None:
        if self.closed or self._kind == "other":
            return
        i, n = 0, len(text)
        if not self._kind:
            while i < n and text[i] in " \t\r\n":
                i += 1
            if i == n:
                return
            self._kind = "container" if text[i] in "{[" else "other"
            if self._kind == "other":
                return
        while i < n:
            if self._quote:
                if self._escape:
                    self._escape = False
                    i += 1
                    continue
                m = _IN_STRING[self._quote].search(text, i)
                if m is None:
                    return
                i = m.end()
                if m.group() == "\\":
                    self._escape = True
                else:
                    self._quote = ""
                continue
            m = _STRUCTURE.search(text, i)
            if m is None:
                return
            ch, i = m.group(), m.end()
            if ch in "\"'":
                self._quote = ch
            elif ch in "{[":
                self._depth += 1
            else:
                self._depth -= 1
                if self._depth == 0:
                    self.closed = True
                    return


_SCALAR = re.compile(r"true|false|null|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_NUMBER_TAIL = re.compile(r"-?(?:0|[1-9][0-9]*)?(?:\.[0-9]*)?(?:[eE][+-]?[0-9]*)?")
_CUT_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\(u[0-9a-fA-F]{0,3})?$")


def partial_ok(text: str) -> bool:
    """``text`` is the beginning of a valid (strict) JSON object: something can be *appended* to
    make it parse. What an SDK's partial-JSON parser accepts in an ``input_json_delta``; checked
    by appending a completion and parsing, so a yes is always right (a no may be too careful)."""
    suffix = _completion(text)
    if suffix is None:
        return False
    try:
        return isinstance(orjson.loads(text + suffix), dict)
    except orjson.JSONDecodeError:
        return False


def _completion(text: str) -> str | None:
    """What to append to close ``text`` (strict JSON), or None when it cannot be told cheaply."""
    stack: list[str] = []
    expect = "value"  # value | key | colon | comma (what may come next)
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
        elif ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            if j >= n:  # an open string: finish a cut escape, close it, then what it was
                cut = _CUT_ESCAPE.search(text, i + 1)
                fix = "" if cut is None else "n" if cut.group(1) is None else "0" * (5 - len(cut.group(1)))
                return fix + '"' + (":null" if expect == "key" else "") + _closers(stack)
            i = j + 1
            expect = "colon" if expect == "key" else "comma"
        elif ch in "{[":
            if expect != "value":
                return None
            stack.append(ch)
            expect = "key" if ch == "{" else "value"
            i += 1
        elif ch in "}]":
            if not stack or stack.pop() != ("{" if ch == "}" else "["):
                return None
            expect = "comma"
            i += 1
        elif ch == ":" and expect == "colon":
            expect = "value"
            i += 1
        elif ch == "," and expect == "comma" and stack:
            expect = "key" if stack[-1] == "{" else "value"
            i += 1
        elif expect != "value":
            return None
        else:
            rest = text[i:]
            word = next((w for w in ("true", "false", "null") if w.startswith(rest)), None)
            if word is not None:  # a literal still being written, at the very end
                return word[len(rest):] + _closers(stack)
            if _NUMBER_TAIL.fullmatch(rest):
                return ("0" if rest[-1] in "-.eE+" else "") + _closers(stack)
            m = _SCALAR.match(text, i)
            if m is None:
                return None
            i = m.end()
            expect = "comma"
    if expect == "key":
        return ('"k":null' if text.rstrip().endswith(",") else "") + _closers(stack)
    if expect == "colon":
        return ":null" + _closers(stack)
    if expect == "value":
        return ("null" if stack else "{}") + _closers(stack)
    return _closers(stack)


def _closers(stack: list[str]) -> str:
    return "".join("}" if c == "{" else "]" for c in reversed(stack))
