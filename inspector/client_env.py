"""What Claude Code's shell needs to use the gateway: the block to paste, and the room Claude Code
needs inside a context window.

The block is only ``export NAME=value`` lines — no comment after a command and no comment line:
interactive zsh (macOS's default shell) does not treat ``#`` as a comment unless
``interactive_comments`` is set, so an explanation pasted with a command becomes more command (``;``
runs, ``(…)`` is a glob, ``'`` opens a quote) and a comment line is "command not found: #". What
each variable means is printed apart, after the block.

Claude Code checks the window itself before it sends anything, reserving room for its answer
(measured with ``tools/claude_window.py`` against the pinned 2.1.328, README "How much room Claude
Code needs"): it sends a prompt only when the window minus ``min(CLAUDE_CODE_MAX_OUTPUT_TOKENS,
20,000)`` (32,000 when unset) leaves about 3,350 tokens for ``claude -p "Say hello." --tools ""
--system-prompt "Be brief."``, 6,290 for its default setup (every tool, its own system prompt) —
its own count of the prompt plus a margin of about 3,000. Otherwise it answers every prompt with
"Prompt is too long" and never calls the gateway.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["AUTO_COMPACT_MINIMUM", "DEFAULT_OUTPUT", "NEEDS", "RESERVATION_CAP", "EnvLine", "block",
           "fits", "legend", "output_for", "reserved", "room"]

#: Claude Code treats a CLAUDE_CODE_AUTO_COMPACT_WINDOW below this as this (its minimum, 2.1.328).
AUTO_COMPACT_MINIMUM = 100_000
#: What Claude Code asks for (``max_tokens``) when CLAUDE_CODE_MAX_OUTPUT_TOKENS is unset (2.1.328).
DEFAULT_OUTPUT = 32_000
#: It reserves at most this much of the window for its answer, whatever it asks for (2.1.328).
RESERVATION_CAP = 20_000
#: The room (window minus the reservation) Claude Code 2.1.328 needs before it sends its first
#: prompt: its own count of the prompt plus its margin. Bisected to 32 tokens at seven reservations
#: from 512 to 20,000 (tools/claude_window.py): 3,320–3,342 and 6,268–6,284, rounded up.
NEEDS = {"trimmed": 3_350, "full": 6_290}
#: Answers get an eighth of the window (at least this, at most Claude Code's own default).
_SMALLEST_OUTPUT = 512


def reserved(output: int | None) -> int:
    """How much of the window Claude Code keeps for its answer, given CLAUDE_CODE_MAX_OUTPUT_TOKENS."""
    return min(output if output else DEFAULT_OUTPUT, RESERVATION_CAP)


def room(window: int, output: int | None) -> int:
    """What is left of ``window`` for Claude Code's prompt (its margin included)."""
    return window - reserved(output)


def fits(window: int, output: int | None, setup: str = "full") -> bool:
    """Does Claude Code send ``setup``'s first prompt at all with this window and reservation?"""
    return room(window, output) >= NEEDS[setup]


def output_for(window: int, limit: int = 0) -> int:
    """The CLAUDE_CODE_MAX_OUTPUT_TOKENS to print with ``window``: the gateway's cap on answers
    (``max_tokens_limit``) when it has one — reserving more would waste the window, less would cut
    answers the gateway allows — else an eighth of the window, within [512, 32,000]: Claude
    Code's default setup then fits from 8k up (8,192 − 1,024 ≥ 6,290)."""
    if limit:
        return limit
    return max(_SMALLEST_OUTPUT, min(DEFAULT_OUTPUT, window // 8))


@dataclass(frozen=True, slots=True)
class EnvLine:
    """One variable for Claude Code's shell and, for the legend, what it is for."""

    name: str
    value: str
    why: str

    @property
    def export(self) -> str:
        return f"export {self.name}={shlex.quote(self.value)}"


def block(lines: Iterable[EnvLine]) -> str:
    """The lines to paste, as printed: ``export`` lines and nothing else."""
    return "".join(line.export + "\n" for line in lines)


def legend(lines: Sequence[EnvLine]) -> str:
    """What each variable is for: printed after the block, never inside it."""
    width = max((len(line.name) for line in lines), default=0)
    return "".join(f"  {line.name:<{width}}  {line.why}\n" for line in lines)
