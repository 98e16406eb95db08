"""``context_management``: the edits Anthropic applies to a conversation before its model reads it.

Claude Code sends ``context_management: {"edits": […]}`` (beta ``context-management-2025-06-27``).
Anthropic applies the edits server-side — the client keeps its full history — so a translated
backend must get them applied too, or it reads what Claude would not (docs "Context editing"):

``clear_thinking_20251015``
    ``keep: {"type": "thinking_turns", "value": N}`` (default 1) keeps the thinking of the last N
    assistant turns that have some and clears the rest; ``keep: "all"`` keeps everything (what
    Claude Code 2.1.328 sends).
``clear_tool_uses_20250919``
    Once the prompt passes ``trigger`` (``{"type": "input_tokens", "value": N}``, default 100,000;
    or a count of ``tool_uses``), the oldest tool results are replaced by a placeholder, keeping the
    last ``keep`` tool uses (default 3) and every use of an ``exclude_tools`` tool;
    ``clear_tool_inputs`` (true, or a list of tool names) clears the calls' inputs too; nothing is
    cleared unless it frees at least ``clear_at_least`` input tokens. The gateway measures tokens
    with its estimate (the request's bytes / 4).

Any other edit is noted: the gateway cannot apply it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ._notes import Notes
from ._turns import AssistantTurn, ToolCall, Turn, UserTurn

__all__ = ["CLEARED", "apply_context_management"]

#: What a cleared tool result says in its place.
CLEARED = "[tool result cleared by context management to save context]"


def _value(setting: Any, kind: str, default: int) -> int:
    if isinstance(setting, dict) and setting.get("type") == kind and isinstance(setting.get("value"), int):
        return int(setting["value"])
    return default


def apply_context_management(turns: list[Turn], config: Any, estimate: int, notes: Notes) -> list[Turn]:
    """``turns`` with the edits applied (turns that change are copies); every edit noted."""
    edits = config.get("edits") if isinstance(config, dict) else None
    for edit in edits if isinstance(edits, list) else ():
        kind = edit.get("type") if isinstance(edit, dict) else None
        if kind == "clear_thinking_20251015":
            turns = _clear_thinking(turns, edit, notes)
        elif kind == "clear_tool_uses_20250919":
            turns = _clear_tool_uses(turns, edit, estimate, notes)
        else:
            notes.dropped(f"context_management edit {kind!r}: the gateway cannot apply it, so the backend reads "
                          f"what it would have cleared", rule="context:unsupported")
    return turns


def _clear_thinking(turns: list[Turn], edit: dict[str, Any], notes: Notes) -> list[Turn]:
    keep = edit.get("keep", {"type": "thinking_turns", "value": 1})
    if keep == "all":
        return turns
    n = max(_value(keep, "thinking_turns", 1), 0)
    with_thinking = [i for i, t in enumerate(turns) if isinstance(t, AssistantTurn) and t.thinking]
    clear = with_thinking[:len(with_thinking) - n] if n else with_thinking
    if not clear:
        return turns
    out = list(turns)
    for i in clear:
        turn = out[i]
        assert isinstance(turn, AssistantTurn)
        out[i] = dataclasses.replace(turn, thinking=[])
    notes.converted(f"context_management clear_thinking: the thinking of {len(clear)} earlier assistant "
                    f"turn{'s' if len(clear) > 1 else ''} not sent (keep {n}), as Anthropic clears it",
                    rule="context:clear-thinking")
    return out


def _clear_tool_uses(turns: list[Turn], edit: dict[str, Any], estimate: int, notes: Notes) -> list[Turn]:
    uses: list[tuple[int, int, ToolCall]] = [(i, k, c) for i, t in enumerate(turns) if isinstance(t, AssistantTurn)
                                             for k, c in enumerate(t.tool_calls)]
    trigger = edit.get("trigger")
    if isinstance(trigger, dict) and trigger.get("type") == "tool_uses":
        triggered = len(uses) > _value(trigger, "tool_uses", 0)
    else:
        triggered = estimate > _value(trigger, "input_tokens", 100_000)
    if not triggered:
        return turns
    keep = _value(edit.get("keep"), "tool_uses", 3)
    exclude = set(edit.get("exclude_tools") or ())
    inputs = edit.get("clear_tool_inputs")
    clearable = [u for u in uses[:max(len(uses) - keep, 0)] if u[2].name not in exclude]
    ids = {c.id: c.name for _, _, c in clearable}
    freed = 0
    results: list[tuple[int, int]] = []
    for i, turn in enumerate(turns):
        if isinstance(turn, UserTurn):
            for k, r in enumerate(turn.tool_results):
                if r.tool_use_id in ids and r.text != CLEARED:
                    results.append((i, k))
                    freed += (len(r.text) + sum(len(img.data or "") for img in r.images)) // 4
    clear_inputs = [(i, k, c) for i, k, c in clearable
                    if (inputs is True or (isinstance(inputs, list) and c.name in inputs)) and c.input]
    freed += sum(len(str(c.input)) // 4 for _, _, c in clear_inputs)
    least = _value(edit.get("clear_at_least"), "input_tokens", 0)
    if not results and not clear_inputs:
        return turns
    if freed < least:
        notes.converted(f"context_management clear_tool_uses: triggered, but clearing would free ≈{freed:,} "
                        f"tokens, under clear_at_least {least:,}: nothing cleared", rule="context:clear-tool-uses")
        return turns
    out = list(turns)
    for i, k in results:
        turn = out[i]
        assert isinstance(turn, UserTurn)
        if out[i] is turns[i]:
            turn = out[i] = dataclasses.replace(turn, tool_results=list(turn.tool_results))
        turn.tool_results[k] = dataclasses.replace(turn.tool_results[k], text=CLEARED, images=[])
    for i, k, _ in clear_inputs:
        turn = out[i]
        assert isinstance(turn, AssistantTurn)
        if out[i] is turns[i]:
            turn = out[i] = dataclasses.replace(turn, tool_calls=list(turn.tool_calls))
        turn.tool_calls[k] = dataclasses.replace(turn.tool_calls[k], input={})
    notes.converted(f"context_management clear_tool_uses: {len(results)} old tool result"
                    f"{'s' if len(results) != 1 else ''}{f' and {len(clear_inputs)} inputs' if clear_inputs else ''} "
                    f"cleared (≈{freed:,} tokens; the last {keep} tool uses kept), as Anthropic clears them",
                    rule="context:clear-tool-uses")
    return out
