"""``inspector toolcalls``: how each model's tool calls fare, across recordings.

Built from ``exchange.json`` (the notes' ``rule`` field, ``tool_calls``, ``tool_results``), so it is
fast on large folders. Recordings made before ``tool_results`` was recorded have their results read
from the client request instead (the tool results of its last user message).

A request answered with an error is not a turn: it is counted as ``failed``. A tool result is
counted once, however often a retried request carried it, and is charged to the model whose call
it answers.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._ladder import RUNGS, top_rung
from ._meta import ExchangeMeta, ToolResultMeta
from ._reader import ExchangeRecord, list_sessions

__all__ = ["ModelToolStats", "toolcall_report"]

#: Rule prefixes the report counts (the notes' ``rule`` field).
RULES = ("text-call:", "args:", "schema:", "tool:", "reask:")
#: The pseudo-rule under which failed tool results are listed.
FAILED_RESULT = "result:is_error"


@dataclass(slots=True)
class ModelToolStats:
    model: str
    turns: int = 0  # Messages exchanges answered (not with an error)
    failed: int = 0  # Messages requests answered with an error: not turns
    turns_with_calls: int = 0
    calls: int = 0
    results: int = 0  # tool results Claude Code sent back for this model's calls
    failed_results: int = 0  # of which is_error
    failed_tools: Counter[str] = field(default_factory=Counter)  # tool name → failed results
    by_rule: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # rule → exchange refs
    #: The repair ladder: turns whose calls ended parsed, repaired, re-asked or failed (``_ladder.py``).
    rungs: Counter[str] = field(default_factory=Counter)

    def share(self, rule_prefix: str) -> float:
        hit = {ref for rule, refs in self.by_rule.items() if rule.startswith(rule_prefix) for ref in refs}
        return len(hit) / self.turns_with_calls if self.turns_with_calls else 0.0

    @property
    def by_shape(self) -> dict[str, int]:
        """Exchanges in which the model printed a call as text, by the shape it printed."""
        return {rule.split(":", 1)[1]: len(refs) for rule, refs in sorted(self.by_rule.items())
                if rule.startswith("text-call:") and rule not in ("text-call:unclosed", "text-call:cut")}

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "turns": self.turns, "failed": self.failed,
                "turns_with_calls": self.turns_with_calls, "calls": self.calls, "results": self.results,
                "failed_results": self.failed_results, "failed_tools": dict(self.failed_tools),
                "by_shape": self.by_shape, "by_rule": dict(self.by_rule),
                "rungs": {rung: self.rungs[rung] for rung in RUNGS}}


def _failed(meta: ExchangeMeta) -> bool:
    status = (meta.get("status") or {}).get("client")
    return bool(meta.get("error")) or (isinstance(status, int) and status >= 400)


def _results(ex: ExchangeRecord) -> list[ToolResultMeta]:
    """``[{"tool_use_id", "name", "is_error"}]`` the request carried (its last user message)."""
    recorded = ex.meta.get("tool_results")
    if isinstance(recorded, list):
        return [r for r in recorded if isinstance(r, dict)]
    body = ex.request_json() if ex.client_request else None
    messages = body.get("messages") if isinstance(body, dict) else None
    last = next((m for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"), None) \
        if isinstance(messages, list) else None
    content = last.get("content") if last else None
    return [{"tool_use_id": b.get("tool_use_id"), "name": None, "is_error": bool(b.get("is_error"))}
            for b in content if isinstance(b, dict) and b.get("type") == "tool_result"] \
        if isinstance(content, list) else []


def toolcall_report(root: Path | str) -> list[ModelToolStats]:
    stats: dict[str, ModelToolStats] = {}
    for session in list_sessions(root):
        callers: dict[str, tuple[str, str, str]] = {}  # tool_use_id → (model, exchange ref, tool name)
        seen: set[str] = set()
        for ex in session.exchanges():
            meta = ex.meta
            if meta.get("kind") != "messages" or meta.get("local"):
                continue
            model = (meta.get("model") or {}).get("backend") or (meta.get("model") or {}).get("requested") or "?"
            s = stats.setdefault(model, ModelToolStats(model))
            for result in _results(ex):
                use_id = result.get("tool_use_id")
                if not isinstance(use_id, str) or use_id in seen:
                    continue
                seen.add(use_id)
                caller, ref, name = callers.get(use_id, (model, ex.ref, result.get("name") or "?"))
                c = stats.setdefault(caller, ModelToolStats(caller))
                c.results += 1
                if result.get("is_error"):
                    c.failed_results += 1
                    c.failed_tools[result.get("name") or name] += 1
                    if ref not in c.by_rule[FAILED_RESULT]:
                        c.by_rule[FAILED_RESULT].append(ref)
            if (rung := top_rung(meta)) is not None:  # a call kept broken makes an error note: counted here too
                s.rungs[rung] += 1
            if _failed(meta):
                s.failed += 1
                continue
            s.turns += 1
            calls = meta.get("tool_calls") or []
            s.calls += len(calls)
            s.turns_with_calls += bool(calls)
            for call in calls:
                call_id = call.get("id") if isinstance(call, dict) else None
                if isinstance(call_id, str):
                    callers[call_id] = (model, ex.ref, call.get("name") or "?")
            for note in meta.get("notes") or []:
                rule = note.get("rule")
                if rule and rule.startswith(RULES) and ex.ref not in s.by_rule[rule]:
                    s.by_rule[rule].append(ex.ref)

    return sorted((s for s in stats.values() if s.turns or s.failed or s.results),
                  key=lambda s: (-s.turns, s.model))
