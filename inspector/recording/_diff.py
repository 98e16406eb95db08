"""Compare recorded exchanges on their meaning, with run-to-run noise hidden.

An exchange's *view* is what a person means by "the request" and "the answer": the
conversation (system prompt, messages), tools, sampling parameters, and the reassembled
response (content, stop reason, usage). Volatile values — message and tool ids, Claude
Code's billing-header block, ``metadata``, headers, timings — are normalised away unless
``volatile=True``. Ids become one placeholder per kind (``<toolu id>``), not numbered ones: an
extra tool call early in one exchange must not renumber every later id into a difference.

Long strings are compared inside: a multi-line string is one diff line per line of it, and a
long line that changed is shown word by word (``[-old-]{+new+}``, git's word-diff notation) with
the unchanged stretches elided, so one changed word in a 7 kB prompt shows as that word.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

import orjson

from ..protocol import MessageAccumulator
from ._reader import ExchangeRecord, SessionRecord, open_target

__all__ = ["Comparison", "compare", "condense", "exchange_view", "view_lines", "word_diff"]

_ID = re.compile(r"^(msg|toolu|call|req|srvtoolu|chatcmpl)[_-][A-Za-z0-9_-]+$")
_PARAMS = ("model", "max_tokens", "temperature", "top_p", "top_k", "stop_sequences", "stream",
           "tool_choice", "thinking", "output_config")


def response_message(ex: ExchangeRecord) -> Any:
    """The client-facing answer reassembled: a Message dict, an error body, or text."""
    status, headers, chunks = ex.response("client")
    body = b"".join(c.data for c in chunks)
    if any("event-stream" in v for k, v in headers if k.lower() == "content-type") or body.startswith(b"event:"):
        acc = MessageAccumulator()
        acc.feed(body)
        acc.flush()
        if acc.error and not acc.message:
            return {"error": acc.error}
        message = acc.message or {}
        if acc.error:
            message = {**message, "error": acc.error}
        return message
    try:
        return orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return body.decode("utf-8", "replace")


def _strip_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_ids(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_ids(v) for v in value]
    if isinstance(value, str):
        match = _ID.match(value)
        if match:
            return f"<{match.group(1)} id>"
    return value


def exchange_view(ex: ExchangeRecord, *, volatile: bool = False) -> dict[str, Any]:
    req = ex.request_json() if ex.client_request else None
    view: dict[str, Any] = {"kind": ex.kind, "status": ex.response("client")[0]}
    if isinstance(req, dict):
        system = req.get("system")
        if not volatile and isinstance(system, list):
            system = [b for b in system if not (isinstance(b, dict) and
                                                str(b.get("text", "")).startswith("x-anthropic-billing-header:"))]
        view["request"] = {
            "params": {k: req[k] for k in _PARAMS if k in req},
            "system": system,
            "messages": req.get("messages"),
            "tools": [{"name": t.get("name"), "input_schema": t.get("input_schema")} if isinstance(t, dict) else t
                      for t in tools] if isinstance(tools := req.get("tools") or [], list) else tools,
        }
        if volatile:
            view["request"]["metadata"] = req.get("metadata")
            view["request"]["headers"] = (ex.client_request or {}).get("headers")
    view["response"] = response_message(ex)
    if volatile:
        view["meta"] = {k: ex.meta.get(k) for k in ("started", "timing_ms", "session_id", "complete")}
        return view
    return _strip_ids(view)


_SPLIT_AT = 80  # a multi-line string longer than this is shown (and diffed) line by line
LONG_LINE = 160  # a changed line longer than this is diffed word by word
_KEY = re.compile(r'\s*(?:"(?:[^"\\]|\\.)*": )?')  # a line's indent and JSON key, kept whole
_TOKENS = re.compile(r"\w+|\s+|[^\w\s]")


def view_lines(view: Any) -> list[str]:
    """``view`` as indented JSON lines (sorted keys), long multi-line strings as one line per line."""
    out: list[str] = []

    def emit(indent: str, head: str, value: Any, tail: str) -> None:
        if isinstance(value, dict | list) and value:
            opening, closing = ("{", "}") if isinstance(value, dict) else ("[", "]")
            out.append(f"{indent}{head}{opening}")
            entries = sorted(value.items()) if isinstance(value, dict) else [(None, v) for v in value]
            for i, (key, child) in enumerate(entries):
                emit(indent + "  ", "" if key is None else orjson.dumps(str(key)).decode() + ": ", child,
                     "," if i < len(entries) - 1 else "")
            out.append(f"{indent}{closing}{tail}")
        elif isinstance(value, str) and "\n" in value and len(value) > _SPLIT_AT:
            out.append(f"{indent}{head}⤵{tail}")
            out.extend(f"{indent}│ {line}" for line in value.split("\n"))
        else:
            out.append(f"{indent}{head}{orjson.dumps(value).decode()}{tail}")

    emit("", "", view, "")
    return out


def word_diff(a: str, b: str) -> list[tuple[str, str]]:
    """``a`` → ``b`` as (``equal`` | ``delete`` | ``insert``, text) runs of words and spaces."""
    ta, tb = _TOKENS.findall(a), _TOKENS.findall(b)
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, ta, tb, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("equal", "".join(ta[i1:i2])))
            continue
        if i2 > i1:
            out.append(("delete", "".join(ta[i1:i2])))
        if j2 > j1:
            out.append(("insert", "".join(tb[j1:j2])))
    return out


def condense(runs: list[tuple[str, str]], context: int = 40) -> list[tuple[str, str]]:
    """Unchanged stretches longer than ``2 × context`` cut to their ends around ``("elided", "…(+N chars)…")``."""
    out: list[tuple[str, str]] = []
    for n, (op, text) in enumerate(runs):
        keep_head = n > 0  # context after a change
        keep_tail = n < len(runs) - 1  # context before a change
        limit = context * (keep_head + keep_tail)
        if op != "equal" or len(text) <= limit + 20:
            out.append((op, text))
            continue
        head = text[:context] if keep_head else ""
        tail = text[len(text) - context:] if keep_tail else ""
        if head:
            out.append(("equal", head))
        out.append(("elided", f"…(+{len(text) - len(head) - len(tail):,} chars)…"))
        if tail:
            out.append(("equal", tail))
    return out


def _word_line(a: str, b: str) -> str:
    """One ``~`` line for a long changed line: the change in words, the rest elided."""
    shown = {"equal": "{}", "delete": "[-{}-]", "insert": "{{+{}+}}", "elided": "{}"}
    head = _KEY.match(a)
    prefix = head.group(0) if head and b.startswith(head.group(0)) else ""
    runs = condense(word_diff(a[len(prefix):], b[len(prefix):]))
    return "~" + prefix + "".join(shown[op].format(text) for op, text in runs)


def _words_within(lines: list[str]) -> list[str]:
    """A unified diff with each long ``-``/``+`` line pair turned into one word-level ``~`` line."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith("-") or lines[i].startswith("---"):
            out.append(lines[i])
            i += 1
            continue
        minus = []
        while i < len(lines) and lines[i].startswith("-") and not lines[i].startswith("---"):
            minus.append(lines[i])
            i += 1
        plus = []
        while i < len(lines) and lines[i].startswith("+") and not lines[i].startswith("+++"):
            plus.append(lines[i])
            i += 1
        for k in range(max(len(minus), len(plus))):
            a = minus[k] if k < len(minus) else None
            b = plus[k] if k < len(plus) else None
            if a is not None and b is not None and max(len(a), len(b)) > LONG_LINE:
                out.append(_word_line(a[1:], b[1:]))
        out.extend(a for k, a in enumerate(minus)
                   if not (k < len(plus) and max(len(a), len(plus[k])) > LONG_LINE))
        out.extend(b for k, b in enumerate(plus)
                   if not (k < len(minus) and max(len(b), len(minus[k])) > LONG_LINE))
    return out


@dataclass(slots=True)
class Comparison:
    pairs: list[tuple[ExchangeRecord | None, ExchangeRecord | None]]
    volatile: bool = False

    def diffs(self) -> list[tuple[str, str, list[str]]]:
        """(label A, label B, unified diff lines) per differing pair."""
        out = []
        for a, b in self.pairs:
            la = view_lines(exchange_view(a, volatile=self.volatile)) if a else []
            lb = view_lines(exchange_view(b, volatile=self.volatile)) if b else []
            if la != lb:
                name_a, name_b = (a.ref if a else "(none)"), (b.ref if b else "(none)")
                lines = list(difflib.unified_diff(la, lb, name_a, name_b, lineterm="", n=3))
                out.append((name_a, name_b, _words_within(lines)))
        return out

    @property
    def equal(self) -> bool:
        return not self.diffs()

    def text(self) -> str:
        return "\n".join(line for _, _, lines in self.diffs() for line in lines)


def _exchanges(target: tuple[SessionRecord, ExchangeRecord | None]) -> list[ExchangeRecord]:
    session, exchange = target
    found = [exchange] if exchange is not None else [e for e in session.exchanges() if e.kind == "messages"]
    for ex in found:
        if why := ex.schema_problem:  # its meaning could be read wrong: never compared as if it were ours
            raise ValueError(f"cannot compare: {why}")
    return found


def compare(a: str, b: str, *, root: str = "recordings", volatile: bool = False) -> Comparison:
    """``SESSION`` or ``SESSION#N`` each; sessions are compared Messages exchange by exchange.

    Raises ``FileNotFoundError`` when a target does not exist, ``ValueError`` when one is of a
    recording format this inspector does not read."""
    left, right = _exchanges(open_target(a, root)), _exchanges(open_target(b, root))
    n = max(len(left), len(right))
    pairs = [(left[i] if i < len(left) else None, right[i] if i < len(right) else None) for i in range(n)]
    return Comparison(pairs, volatile)
