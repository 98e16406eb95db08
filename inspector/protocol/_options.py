"""Translation settings shared by the backend forms (the addon fills them from its options)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

__all__ = ["DEFAULT_OPTIONS", "TranslateOptions"]


@dataclass(frozen=True, slots=True)
class TranslateOptions:
    #: Ollama ``options.num_ctx``; 0 leaves Ollama's default (which silently truncates).
    num_ctx: int = 0
    #: Clamp ``max_tokens`` to this (0 = no clamp).
    max_tokens_limit: int = 0
    #: Ollama ``think``: auto (omit unless the client disabled thinking) | on | off | low | medium | high.
    think: str = "auto"
    #: Where ``role:"system"`` messages inside ``messages[]`` go: merge (into the adjacent user turn, so
    #: every chat template accepts them; see ``_system``) | inline (kept as system messages) | user (user
    #: messages of their own) | auto (the default before merge: inline for Ollama, user for OpenAI — kept
    #: so that recordings made with it re-translate as they were).
    system_messages: str = "merge"
    #: OpenAI ``reasoning_effort``: "" (not sent) | auto (from thinking.budget_tokens) | low | medium | high.
    reasoning_effort: str = ""
    #: Repair tool calls: text-form calls converted, argument JSON repaired, schema types coerced.
    repair: bool = True
    #: The routed model's capabilities as the backend reported them (Ollama /api/show
    #: ``capabilities``); None when unknown. A model without "thinking" is never sent ``think``.
    capabilities: tuple[str, ...] | None = None
    #: The model takes thinking levels (low/medium/high), not on/off: gpt-oss on Ollama.
    think_levels: bool = False
    #: Tools the client deferred (``defer_loading``) and no ``tool_reference`` loaded: hide (as
    #: Anthropic does) | show (sent like any tool — how the gateway translated before it hid them).
    deferred_tools: str = "hide"
    #: Ask a streamed answer for the server's prompt-processing progress while it reads the prompt
    #: (llama.cpp server's ``return_progress``: ``prompt_progress`` chunks before the first token).
    prompt_progress: bool = False

    @classmethod
    def recorded(cls, settings: dict[str, Any]) -> TranslateOptions:
        """The options a recording's ``translate_options`` says it was translated with. A setting
        the recording predates means the behaviour before it existed, so it re-translates as made."""
        known = {f.name for f in fields(cls)}
        return cls(**{**_BEFORE, **{k: v for k, v in settings.items() if k in known}})


#: What each option added since recordings began did before it existed.
_BEFORE: dict[str, Any] = {"deferred_tools": "show"}


DEFAULT_OPTIONS = TranslateOptions()
