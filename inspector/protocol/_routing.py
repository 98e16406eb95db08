"""Which backend model a Claude Code request goes to."""

from __future__ import annotations

import fnmatch

__all__ = ["ModelRouter", "parse_model_map"]


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
        pairs.append((pattern.strip().lower(), target.strip()))
    return pairs


class ModelRouter:
    """First matching ``model_map`` pattern wins, then ``model``, else the requested name.

    A pattern with ``*``/``?`` is a glob on the whole requested name; a plain word
    matches anywhere in it (``haiku`` matches ``claude-haiku-4-5-20251001``).
    """

    def __init__(self, *, model: str = "", model_map: str | list[tuple[str, str]] = "") -> None:
        self.default = model
        self.pairs = parse_model_map(model_map) if isinstance(model_map, str) else list(model_map)

    def route(self, requested: str) -> str:
        name = requested.lower()
        for pattern, target in self.pairs:
            if any(c in pattern for c in "*?[") :
                if fnmatch.fnmatchcase(name, pattern):
                    return target
            elif pattern in name:
                return target
        return self.default or requested

    @property
    def targets(self) -> list[str]:
        return [self.default] + [t for _, t in self.pairs]
