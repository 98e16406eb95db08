"""Prefix stability: how much of the previous request a backend could reuse from its prompt cache.

A local backend (Ollama, llama.cpp, vLLM, LM Studio) keeps the evaluated prompt of the last request
and reuses it for the next one up to the first token that differs; everything after that is
evaluated again — on a CPU, the difference between a 4 s and an 80 s follow-up turn. So for each
translated request after the first in a session, the gateway compares it with the previous one,
section by section in the order a chat template renders them, and says how much of the previous
prefix stayed identical and, when it broke early, where and why.

The form splits a request into sections (``BackendForm.prefix_sections``): ``settings`` (what
makes the backend throw its cache away — the model, Ollama's ``num_ctx``), ``system``, ``tools``,
``messages.N`` (N: the index in the translated request's ``messages``). A section is compared as
its JSON bytes; shares are of bytes, which track tokens closely enough to say 97 % or 12 %.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from ._facts import as_object

__all__ = ["PrefixReport", "PrefixSnapshot", "compare_prefix"]

_DATE = re.compile(r"\b(19|20)\d\d[-/]\d\d[-/]\d\d\b|today'?s date|current date", re.I)
#: A line longer than this is no date line: it is not searched whole (a 50 MB one took the event loop
#: for a second per request).
_DATE_LINE = 500


def _dated(*lines: str) -> bool:
    return any(_DATE.search(line, 0, _DATE_LINE) for line in lines)


@dataclass(frozen=True, slots=True)
class PrefixReport:
    #: Share (0..1) of the previous request's prefix that this one repeats unchanged.
    kept: float
    #: The first section that differs ("settings", "system", "tools", "messages.3"), None if none.
    first_difference: str | None
    reason: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"kept": round(self.kept, 4), "first_difference": self.first_difference, "reason": self.reason}


class PrefixSnapshot:
    """A translated request as (name, JSON bytes) sections; the values are kept to explain a break."""

    __slots__ = ("names", "blobs", "values", "settings")

    def __init__(self, sections: list[tuple[str, Any]], settings: Any = None) -> None:
        self.names = [name for name, _ in sections]
        self.values = [value for _, value in sections]
        self.blobs = [orjson.dumps(value) for value in self.values]
        self.settings = orjson.dumps(settings) if settings is not None else b""

    @property
    def size(self) -> int:
        return sum(len(b) for b in self.blobs)


def _common_prefix(a: bytes, b: bytes) -> int:
    """Length of the common prefix: a binary search over slice comparisons (memcmp), not a loop."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def compare_prefix(previous: PrefixSnapshot, current: PrefixSnapshot) -> PrefixReport:
    """How much of ``previous`` ``current`` repeats, and the first difference explained."""
    if previous.settings != current.settings:
        return PrefixReport(0.0, "settings", _settings_reason(previous.settings, current.settings))
    total = previous.size
    kept = 0
    for i, (name, blob) in enumerate(zip(previous.names, previous.blobs, strict=True)):
        same_name = i < len(current.names) and current.names[i] == name
        if same_name and current.blobs[i] == blob:
            kept += len(blob)
            continue
        if same_name:
            kept += _common_prefix(blob, current.blobs[i])
        return PrefixReport(kept / total if total else 1.0, name, _explain(previous, current, i))
    return PrefixReport(1.0, None, None)


def _excerpt(text: str, limit: int = 60) -> str:
    text = text.strip().replace("\n", "⏎")
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _settings_reason(before: bytes, after: bytes) -> str:
    a, b = orjson.loads(before or b"{}"), orjson.loads(after or b"{}")
    changed = [f"{k} {a.get(k)!r} → {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    return (f"{', '.join(changed)}: the backend starts from an empty prompt cache (Ollama reloads the model "
            f"when num_ctx changes)")


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # Anthropic system blocks, content parts
        return "\n\n".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in value)
    return orjson.dumps(value).decode()


def _first_line_difference(a: str, b: str) -> tuple[int, str, str]:
    la, lb = a.splitlines(), b.splitlines()
    for n, (x, y) in enumerate(zip(la, lb, strict=False)):
        if x != y:
            return n + 1, x, y
    n = min(len(la), len(lb))
    return n + 1, la[n] if n < len(la) else "", lb[n] if n < len(lb) else ""


def _system_reason(a: Any, b: Any) -> str:
    line, before, after = _first_line_difference(_text(a), _text(b))
    if "x-anthropic-billing-header" in before or "x-anthropic-billing-header" in after:
        return ("Claude Code's billing-header block changed (its cch= value changes per request; "
                "CLAUDE_CODE_ATTRIBUTION_HEADER=0 removes it)")
    what = "a changed date line" if _dated(before, after) else f"line {line} changed"
    return f"the system prompt changed: {what}: {_excerpt(before)} → {_excerpt(after)}"


def _tool_names(tools: Any) -> list[str]:
    names = []
    for t in tools or []:
        if isinstance(t, dict):
            fn = as_object(t.get("function")) or t
            names.append(str(fn.get("name")))
    return names


def _tools_reason(a: Any, b: Any) -> str:
    na, nb = _tool_names(a), _tool_names(b)
    if na != nb and sorted(na) == sorted(nb):
        moved = next(x for x, y in zip(na, nb, strict=True) if x != y)
        return f"the tools were reordered ({moved} moved): a template renders them in order, so the prefix breaks"
    if set(na) != set(nb):
        added, removed = sorted(set(nb) - set(na)), sorted(set(na) - set(nb))
        parts = ([f"added {', '.join(added)}"] if added else []) + ([f"removed {', '.join(removed)}"] if removed else [])
        return f"the tools changed: {'; '.join(parts)}"
    changed = next((x for x, ta, tb in zip(na, a or [], b or [], strict=False) if ta != tb), "?")
    return f"the definition of tool {changed} changed"


def _message_reason(previous: PrefixSnapshot, current: PrefixSnapshot, i: int) -> str:
    name = previous.names[i]
    if i >= len(current.names) or not current.names[i].startswith("messages."):
        return (f"the conversation is shorter: {name} and what followed were removed "
                f"(a compaction, /clear, or a rewind)")
    a, b = previous.values[i], current.values[i]
    ra, rb = (a.get("role") if isinstance(a, dict) else None), (b.get("role") if isinstance(b, dict) else None)
    nxt = current.blobs[i + 1] if i + 1 < len(current.blobs) else None
    if nxt is not None and nxt == previous.blobs[i]:
        return f"a {rb} message was inserted at {name} (a moved or hoisted system message?)"
    if i + 1 < len(previous.blobs) and previous.blobs[i + 1] == current.blobs[i]:
        return f"the {ra} message at {name} was removed"
    if ra != rb:
        return f"{name} was a {ra} message and is now a {rb} message: messages were inserted, removed or moved"
    ta, tb = _text(a.get("content")) if isinstance(a, dict) else "", _text(b.get("content")) if isinstance(b, dict) else ""
    if ta != tb and tb.startswith(ta):
        return (f"the {ra} message at {name} grew: text was appended to it ({_excerpt(tb[len(ta):])}) — "
                f"a late system message merged into it?")
    if ta != tb:
        _, before, after = _first_line_difference(ta, tb)
        what = "a changed date line" if _dated(before, after) else "its text changed"
        return f"the {ra} message at {name} changed: {what}: {_excerpt(before)} → {_excerpt(after)}"
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k)) if isinstance(a, dict) and isinstance(b, dict) else []
    return f"the {ra} message at {name} changed ({', '.join(keys) or 'its fields'})"


def _explain(previous: PrefixSnapshot, current: PrefixSnapshot, i: int) -> str:
    name = previous.names[i]
    if i >= len(current.names) or current.names[i] != name:
        if name.startswith("messages."):
            return _message_reason(previous, current, i)
        now = current.names[i] if i < len(current.names) else "nothing"
        return f"{name} is gone (this request has {now} there)"
    a, b = previous.values[i], current.values[i]
    if name == "system":
        return _system_reason(a, b)
    if name == "tools":
        return _tools_reason(a, b)
    return _message_reason(previous, current, i)
