"""Which backend model a Claude Code request goes to."""

from __future__ import annotations

import fnmatch
import re

__all__ = ["TIERS", "ModelRouter", "parse_model_map", "tier_of", "unrouted_fix", "without_context_tag"]

#: Claude Code's model families: each has an ``ANTHROPIC_DEFAULT_<TIER>_MODEL`` variable (2.1.328's
#: bundled JS), and subagent definitions name them (``model: haiku``).
TIERS = ("haiku", "sonnet", "opus", "fable")
#: A context-size tag on a model name (``claude-sonnet-4-5[1m]``): Claude Code strips it before it
#: sends (and asks for the window with an anthropic-beta value instead); other clients may not.
_CONTEXT_TAG = re.compile(r"\[\d+[km]\]$", re.IGNORECASE)


def without_context_tag(model: str) -> str:
    """``claude-sonnet-4-5[1m]`` → ``claude-sonnet-4-5``."""
    return _CONTEXT_TAG.sub("", model.strip())


def tier_of(model: str) -> str | None:
    """The Claude family a model id belongs to (``claude-haiku-4-5-20251001`` → ``haiku``)."""
    name = model.lower()
    return next((t for t in TIERS if t in name), None) if name.startswith("claude") else None


def unrouted_fix(model: str) -> str:
    """What routes a Claude model id the gateway passed on unchanged (the backend has no such model):
    the gateway's option, or the variable that makes Claude Code ask for a model the backend has."""
    tier = tier_of(model)
    key = tier or without_context_tag(model)
    var = f"ANTHROPIC_DEFAULT_{tier.upper()}_MODEL" if tier else "ANTHROPIC_MODEL"
    return (f"{model!r} is a Claude model id that the gateway's model_map does not route: restart the gateway "
            f"with --set model_map={key}=MODEL (make run MODEL_MAP={key}=MODEL), or set {var}=MODEL where "
            f"Claude Code runs (its subagents: CLAUDE_CODE_SUBAGENT_MODEL=MODEL)")


def parse_model_map(spec: str) -> list[tuple[str, str]]:
    """``"haiku=qwen2.5:0.5b, sonnet=qwen3:8b, claude-opus-*=qwen3:32b"`` → ordered pairs.

    Raises ``ValueError`` with the offending entry.
    """
    pairs = []
    for entry in spec.replace(";", ",").split(","):
        entry = entry.strip()
        if not entry:
            continue
        pattern, sep, target = entry.partition("=")
        if not sep or not pattern.strip() or not target.strip():
            raise ValueError(f"model_map entry {entry!r} is not PATTERN=MODEL")
        pairs.append((without_context_tag(pattern).lower(), target.strip()))
    return pairs


class ModelRouter:
    """First matching ``model_map`` pattern wins, then ``model``, else the requested name.

    A pattern with ``*``/``?`` is a glob on the whole requested name; a plain word
    matches anywhere in it (``haiku`` matches ``claude-haiku-4-5-20251001``). A context-size tag
    (``[1m]``) on a pattern or a requested name is not part of the name.
    """

    def __init__(self, *, model: str = "", model_map: str | list[tuple[str, str]] = "") -> None:
        self.default = model
        self.pairs = parse_model_map(model_map) if isinstance(model_map, str) else list(model_map)

    def route(self, requested: str) -> str:
        return self.mapped(requested) or without_context_tag(requested)

    def mapped(self, requested: str) -> str | None:
        """The model ``model_map`` or ``model`` sends ``requested`` to; None when neither does."""
        name = without_context_tag(requested).lower()
        for pattern, target in self.pairs:
            if any(c in pattern for c in "*?["):
                if fnmatch.fnmatchcase(name, pattern):
                    return target
            elif pattern in name:
                return target
        return self.default or None

    @property
    def targets(self) -> list[str]:
        return [self.default] + [t for _, t in self.pairs]
