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
from typing import Any

import orjson

__all__ = ["balanced_end", "loads_lenient"]

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
    """``(value, repaired)``: ``repaired`` is False when ``text`` was valid JSON. None: no safe reading."""
    try:
        return orjson.loads(text), False
    except orjson.JSONDecodeError:
        pass
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
