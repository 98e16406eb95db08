"""Compare recorded exchanges on their meaning, with run-to-run noise hidden.

An exchange's *view* is what a person means by "the request" and "the answer": the
conversation (system prompt, messages), tools, sampling parameters, and the reassembled
response (content, stop reason, usage). Volatile values — message and tool ids, Claude
Code's billing-header block, ``metadata``, headers, timings — are normalised away unless
``volatile=True``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

import orjson

from ..protocol import MessageAccumulator
from ._reader import ExchangeRecord, SessionRecord, open_target

__all__ = ["Comparison", "compare", "exchange_view", "view_lines"]

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


def _strip_ids(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _strip_ids(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_ids(v, ids) for v in value]
    if isinstance(value, str) and _ID.match(value):
        return ids.setdefault(value, f"<id {len(ids) + 1}>")
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
    return _strip_ids(view, {})


def view_lines(view: Any) -> list[str]:
    return orjson.dumps(view, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode().splitlines()


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
                out.append((name_a, name_b, list(difflib.unified_diff(la, lb, name_a, name_b, lineterm="", n=3))))
        return out

    @property
    def equal(self) -> bool:
        return not self.diffs()

    def text(self) -> str:
        return "\n".join(line for _, _, lines in self.diffs() for line in lines)


def _exchanges(target: tuple[SessionRecord, ExchangeRecord | None]) -> list[ExchangeRecord]:
    session, exchange = target
    if exchange is not None:
        return [exchange]
    return [e for e in session.exchanges() if e.kind == "messages"]


def compare(a: str, b: str, *, root: str = "recordings", volatile: bool = False) -> Comparison:
    """``SESSION`` or ``SESSION#N`` each; sessions are compared Messages exchange by exchange.

    Raises ``FileNotFoundError`` when a target does not exist."""
    left, right = _exchanges(open_target(a, root)), _exchanges(open_target(b, root))
    n = max(len(left), len(right))
    pairs = [(left[i] if i < len(left) else None, right[i] if i < len(right) else None) for i in range(n)]
    return Comparison(pairs, volatile)
