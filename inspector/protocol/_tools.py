"""Tool calls coming back from a backend: argument parsing/repair, ids, name mapping."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson

from ._anthropic import new_tool_use_id
from ._json import loads_lenient
from ._notes import Notes

__all__ = ["ToolNames", "parse_arguments", "tool_use_id"]

_ID_OK = re.compile(r"^[A-Za-z0-9_-]+$")
_ID_BAD = re.compile(r"[^A-Za-z0-9_-]")
_NAME_OK = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def tool_use_id(raw: Any) -> str:
    """The backend's id when usable, sanitised when not, synthesised when missing.

    No table is kept: Claude Code echoes the id back in ``tool_result.tool_use_id``
    and we forward it as the backend's ``tool_call_id``, so ids stay consistent.
    """
    if isinstance(raw, str) and raw:
        return raw if _ID_OK.match(raw) else _ID_BAD.sub("_", raw)
    return new_tool_use_id()


def _excerpt(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def parse_arguments(raw: Any, *, name: str, notes: Notes, repair: bool = True) -> dict[str, Any]:
    """Tool arguments as an object, whatever shape the backend sent them in.

    With ``repair=False`` only valid JSON is accepted; anything else becomes ``{}`` with an error note."""
    if isinstance(raw, dict):
        return raw
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if isinstance(raw, str):
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = _repair(raw, name=name, notes=notes) if repair else None
        else:
            if isinstance(value, str):  # doubly encoded: "{\"a\": 1}"
                try:
                    inner = orjson.loads(value)
                except orjson.JSONDecodeError:
                    inner = None
                if isinstance(inner, dict) and repair:
                    notes.repaired(f"{name}: arguments were JSON encoded twice", rule="args:double-encoded")
                    return inner
        if isinstance(value, dict):
            return value
        raw = value
    notes.error(f"{name}: arguments are not an object ({_excerpt(repr(raw))}); sent as {{}}",
                rule="args:unparsable")
    return {}


def _repair(raw: str, *, name: str, notes: Notes) -> Any:
    loaded = loads_lenient(raw)  # syntax only: a repair never changes a value
    if loaded is None:
        return None
    value = loaded[0]
    if isinstance(value, dict) and value:
        notes.repaired(f"{name}: repaired invalid argument JSON {_excerpt(raw)!r}", rule="args:invalid-json")
    return value


class ToolNames:
    """OpenAI function names are ``[A-Za-z0-9_-]{1,64}``; Claude Code's MCP names can exceed that.

    Long or odd names are shortened to ``name[:55] + "_" + sha256[:8]`` going out and mapped
    back on the way in.
    """

    __slots__ = ("_out", "_back")

    def __init__(self, names: list[str] | set[str] | tuple[str, ...] = ()) -> None:
        self._out: dict[str, str] = {}
        self._back: dict[str, str] = {}
        for name in names:
            self.outgoing(name)

    def outgoing(self, name: str) -> str:
        if name in self._out:
            return self._out[name]
        safe = name
        if not _NAME_OK.match(name):
            digest = hashlib.sha256(name.encode()).hexdigest()[:8]
            safe = _ID_BAD.sub("_", name)[:55] + "_" + digest
        self._out[name] = safe
        self._back[safe] = name
        return safe

    def incoming(self, name: str) -> str:
        return self._back.get(name, name)

    @property
    def renamed(self) -> dict[str, str]:
        return {k: v for k, v in self._out.items() if k != v}
