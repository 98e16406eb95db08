"""The repair ladder as one exchange climbed it, read from ``exchange.json`` (``notes`` and ``reask``).

    parse → repair (no value changed) → re-ask (the call pinned, the output constrained) → error

Each rung is tried only when the one before failed. ``ladder(meta)`` says rung by rung what happened
to an answer's tool calls (the viewer shows it, the OpenTelemetry export makes an event of each), and
``top_rung(meta)`` the rung it ended on — what ``inspector toolcalls`` and ``inspector stats`` count
per model. Recordings made before the re-ask existed have no ``reask``: their ladder ends at repair or
error, as it did.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["RUNGS", "LadderStep", "TopRung", "ladder", "top_rung"]

Rung = Literal["parse", "repair", "re-ask", "error"]
#: Where an answer's calls ended: valid as the model sent them, after a repair, after a re-ask, or not.
TopRung = Literal["parsed", "repaired", "re-asked", "failed"]
RUNGS: tuple[TopRung, ...] = ("parsed", "repaired", "re-asked", "failed")

#: Rules of the repairs that make a call valid without changing a value.
_REPAIRS = ("text-call:", "args:invalid-json", "args:double-encoded", "schema:type-coerced")
#: Rules of what a call kept wrong (parse and repair failed).
_PROBLEMS = ("args:unparsable", "schema:", "tool:unknown", "tool-call:nameless", "tool-call:cut", "text-call:cut",
             "text-call:unclosed")
_NOT_PROBLEMS = ("schema:type-coerced", "text-call:unclosed")


@dataclass(frozen=True, slots=True)
class LadderStep:
    rung: Rung
    #: ok (this rung made the calls valid, or they were) | failed | skipped (not tried) | the re-ask's
    #: outcome (valid, no better, refused, failed, timeout, cancelled, not possible).
    outcome: str
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"rung": self.rung, "outcome": self.outcome, "detail": self.detail}


def _rules(meta: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(repair rules, problem rules) of the exchange's notes, each once, in order."""
    repairs: list[str] = []
    problems: list[str] = []
    for note in meta.get("notes") or []:
        rule = note.get("rule") if isinstance(note, Mapping) else None
        if not isinstance(rule, str):
            continue
        if rule.startswith(_REPAIRS) and note.get("kind") in ("repaired", "converted") and rule not in repairs:
            repairs.append(rule)
        elif rule.startswith(_PROBLEMS) and rule not in _NOT_PROBLEMS and rule not in problems:
            problems.append(rule)
    return repairs, problems


def ladder(meta: Mapping[str, Any]) -> list[LadderStep]:
    """The rungs this exchange's answer climbed, in order; empty when it neither made nor attempted a
    tool call (nor had to)."""
    calls = meta.get("tool_calls") or []
    reask = meta.get("reask") if isinstance(meta.get("reask"), Mapping) else None
    repairs, problems = _rules(meta)
    if not calls and not problems and reask is None:
        return []
    steps: list[LadderStep] = []
    if reask is not None:
        reason = str(reask.get("reason") or "")
        nothing = reason in ("required", "unseen-tools")
        steps.append(LadderStep("parse", "failed", "no tool call" if nothing else str(reask.get("detail") or reason)))
        steps.append(LadderStep("repair", "skipped" if nothing else "failed",
                                ", ".join(repairs) or ("nothing to repair" if nothing else reason)))
        outcome = str(reask.get("outcome") or "unknown")
        how = reask.get("how") or "no way to ask again"
        seconds = reask.get("seconds")
        detail = f"{how}" + (f" · {seconds:.1f} s" if isinstance(seconds, (int, float)) else "")
        if reask.get("why"):
            detail += f" · {reask['why']}"
        steps.append(LadderStep("re-ask", outcome, detail))
        if outcome != "valid":
            steps.append(LadderStep("error", "failed", ", ".join(problems) or "the answer went as it was"))
        return steps
    if not repairs and not problems:
        return [LadderStep("parse", "ok", f"{len(calls)} call{'s' * (len(calls) != 1)}")]
    steps.append(LadderStep("parse", "failed", ", ".join(repairs + problems)))
    if not problems:
        steps.append(LadderStep("repair", "ok", ", ".join(repairs)))
        return steps
    steps.append(LadderStep("repair", "failed", ", ".join(problems)))
    steps.append(LadderStep("error", "failed", ", ".join(problems)))
    return steps


def top_rung(meta: Mapping[str, Any]) -> TopRung | None:
    """Where the exchange's calls ended up (None: it made none and had to make none)."""
    steps = ladder(meta)
    if not steps:
        return None
    last = steps[-1]
    if last.rung == "error":
        return "failed"
    if last.rung == "re-ask":
        return "re-asked"
    return "repaired" if last.rung == "repair" else "parsed"
