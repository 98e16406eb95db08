"""The repair ladder's third rung, decided in the pure core.

A tool call goes up the ladder one rung at a time, each tried only when the one before failed::

    parse → repair (no value changed) → re-ask (the call pinned, the output constrained) → error

The translator (``_stream.Emitter``) climbs the first two as it reads the answer. When a call can
be neither read nor repaired — its arguments are no JSON, they break the tool's schema, it names
a tool that was not offered or none at all, or the token limit cut it — it decides that the answer
needs a **re-ask** (a ``Reask``: which tool, why) and holds the answer's end. This module says
what that second request asks for: the schema the output is constrained to — the tool's own
``input_schema`` when the name is known, else "one of the tools' schemas" (an ``anyOf`` of
``{"name", "arguments"}`` objects) — and how the constrained answer reads back as a call. Each
backend form writes the constraint in its server's own dialect (``BackendForm.constrained``);
the gateway sends it (``inspector.gateway.reask``). Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from ._facts import _FIELDS, BackendUsage

__all__ = ["REASONS", "TEXT_ANSWER", "Reask", "ReaskReason", "any_tool_schema", "constraint", "read_constrained",
           "read_reasked_message", "sum_usage", "tool_schema"]

ReaskReason = Literal["cut", "schema", "unparsable", "unknown-tool", "nameless", "required", "unseen-tools"]
#: What each reason means, for people (the colour log, the viewer).
REASONS: dict[str, str] = {
    "cut": "the token limit cut the call",
    "schema": "the call's arguments break the tool's schema",
    "unparsable": "the call's arguments are not JSON",
    "unknown-tool": "the call names a tool that was not offered",
    "nameless": "the call names no tool",
    "required": "the request required a tool call and the answer has none",
    "unseen-tools": "the backend's chat template shows the model none of the tools",
}


@dataclass(frozen=True, slots=True)
class Reask:
    """An answer that needs its call asked for again: ``tool`` is the client's name of the tool the
    model was calling (None: the name is lost, so the output may be any offered tool's call)."""

    reason: ReaskReason
    tool: str | None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "tool": self.tool, "detail": self.detail}


def _plain_schema(schema: Any) -> dict[str, Any]:
    """A tool's parameters as a constraint: ``$schema`` (a draft URI some grammar compilers reject
    when nested) left out; an absent or empty schema is any object."""
    if not isinstance(schema, dict) or not schema:
        return {"type": "object"}
    return {k: v for k, v in schema.items() if k != "$schema"}


def _tool_entry(tool: Any) -> tuple[str, Any] | None:
    """``(name, parameters)`` of a tool as a backend body lists it (OpenAI and Ollama both write
    ``{"type": "function", "function": {"name", "parameters"}}``)."""
    fn = tool.get("function") if isinstance(tool, dict) else None
    if isinstance(fn, dict) and isinstance(fn.get("name"), str):
        return fn["name"], fn.get("parameters")
    return None


def tool_schema(tools: list[Any], name: str) -> dict[str, Any] | None:
    """The input schema of ``name`` (the backend's name) among a backend body's ``tools``."""
    for tool in tools:
        entry = _tool_entry(tool)
        if entry is not None and entry[0] == name:
            return _plain_schema(entry[1])
    return None


def any_tool_schema(tools: list[Any], *, text: bool = False) -> dict[str, Any] | None:
    """"One of the tools' schemas": an object naming one offered tool and holding its arguments —
    or, with ``text``, an object holding a text answer (``{"text": …}``: the model may end its turn)."""
    options: list[dict[str, Any]] = []
    for tool in tools:
        entry = _tool_entry(tool)
        if entry is None:
            continue
        options.append({"type": "object", "properties": {"name": {"const": entry[0]},
                                                         "arguments": _plain_schema(entry[1])},
                        "required": ["name", "arguments"], "additionalProperties": False})
    if not options:
        return None
    if text:
        options.append(TEXT_ANSWER)
    return options[0] if len(options) == 1 else {"anyOf": options}


#: A text answer in a constrained first attempt (``--set reask=always``).
TEXT_ANSWER: dict[str, Any] = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"],
                               "additionalProperties": False}


def constraint(tools: list[Any], tool: str | None, *, text: bool = False) -> dict[str, Any] | None:
    """The schema a re-ask's output is held to: ``tool``'s own (its backend name) when known, else one
    of the tools' (``any_tool_schema``); None when the body offers no such tool."""
    if tool is not None and not text:
        return tool_schema(tools, tool)
    return any_tool_schema(tools, text=text)


def read_constrained(text: str, tool: str | None) -> tuple[str, Any] | None:
    """A constrained answer's content as ``(backend name, arguments)``: the arguments object itself
    when the tool was pinned, ``{"name", "arguments"}`` when it was not. None when it is neither —
    a server that did not keep to the constraint (read strictly: the constraint made it JSON)."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, dict):
        return None
    if tool is not None:
        return tool, value
    name = value.get("name")
    if isinstance(name, str) and name and "arguments" in value:
        return name, value["arguments"]
    return None


def read_reasked_message(message: dict[str, Any], pinned: str | None,
                         usage: BackendUsage | None) -> tuple[str | None, Any, str, BackendUsage | None]:
    """A chat message answering a re-ask (Ollama's ``message``, an OpenAI choice's): its first named
    call (vLLM's ``tool_choice`` answers with one), else its content read as the constraint made it
    (``read_constrained``) — ``(name, arguments, why not, usage)``, the name None when neither."""
    for call in message.get("tool_calls") or ():
        fn = call.get("function") if isinstance(call, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("name"), str) and fn["name"]:
            return fn["name"], fn.get("arguments"), "", usage
    content = message.get("content")
    found = read_constrained(content, pinned) if isinstance(content, str) else None
    return (found[0], found[1], "", usage) if found else (None, None, "", usage)


def sum_usage(first: BackendUsage | None, second: BackendUsage | None) -> BackendUsage | None:
    """Two attempts' ``BackendUsage`` added up, field by field (a field one attempt did not report
    is the other's): what the user's machine spent on the answer."""
    if first is None or second is None:
        return second if first is None else first
    out = BackendUsage(second.source or first.source)
    for name in _FIELDS:
        a, b = getattr(first, name), getattr(second, name)
        setattr(out, name, b if a is None else a if b is None else round(a + b, 3) if isinstance(a, float) else a + b)
    return out
