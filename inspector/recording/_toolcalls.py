"""``inspector toolcalls``: how each model's tool calls fare, across recordings.

Built from ``exchange.json`` only (the notes' ``rule`` field), so it is fast on large folders.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ._reader import list_sessions

__all__ = ["ModelToolStats", "toolcall_report"]


@dataclass(slots=True)
class ModelToolStats:
    model: str
    turns: int = 0  # Messages exchanges answered
    turns_with_calls: int = 0
    calls: int = 0
    by_rule: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # rule → exchange refs

    def share(self, rule_prefix: str) -> float:
        hit = {ref for rule, refs in self.by_rule.items() if rule.startswith(rule_prefix) for ref in refs}
        return len(hit) / self.turns_with_calls if self.turns_with_calls else 0.0


def toolcall_report(root: Path | str) -> list[ModelToolStats]:
    stats: dict[str, ModelToolStats] = {}
    for session in list_sessions(root):
        for ex in session.exchanges():
            meta = ex.meta
            if meta.get("kind") != "messages" or meta.get("local"):
                continue
            model = (meta.get("model") or {}).get("backend") or (meta.get("model") or {}).get("requested") or "?"
            s = stats.setdefault(model, ModelToolStats(model))
            s.turns += 1
            calls = meta.get("tool_calls") or []
            s.calls += len(calls)
            s.turns_with_calls += bool(calls)
            for note in meta.get("notes") or []:
                rule = note.get("rule")
                if rule and (rule.startswith(("text-call:", "args:", "schema:", "tool:"))):
                    if ex.ref not in s.by_rule[rule]:
                        s.by_rule[rule].append(ex.ref)
    return sorted(stats.values(), key=lambda s: (-s.turns, s.model))
