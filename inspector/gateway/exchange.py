"""Per-flow state of one exchange going through the gateway, and who listens to it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..protocol import Notes

__all__ = ["Exchange", "ExchangeListener"]


@dataclass(slots=True)
class Exchange:
    form: str  # ollama | openai | anthropic
    kind: str  # messages | count_tokens | models | hello | event_logging | other
    client_model: str = ""
    backend_model: str = ""
    backend: str = ""  # origin + base path of the backend
    stream: bool = False
    notes: Notes = field(default_factory=Notes)
    translator: Any = None  # a StreamTranslator or AnthropicStreamObserver while streaming
    names: Any = None  # ToolNames for OpenAI-form name mapping
    input_estimate: int = 0
    mode: str = "reverse"  # reverse | regular
    local: bool = False  # answered by the gateway itself
    client: str = ""  # the client's user-agent
    session_id: str | None = None
    id_source: str = "none"
    purpose: str = "main"
    client_request: dict[str, Any] | None = None
    backend_request: dict[str, Any] | None = None
    backend_status: int | None = None
    client_status: int | None = None
    incomplete: str | None = None
    started_wall: float = field(default_factory=time.time)
    started: float = field(default_factory=time.monotonic)
    first_byte: float | None = None
    first_token: float | None = None
    ended: float | None = None
    recorder: Any = None  # the ExchangeWriter, when recording
    options: dict[str, Any] | None = None  # the TranslateOptions used (for regression re-runs)
    client_json: Any = None  # the client body, already parsed (the recorder need not parse it again)
    backend_json: Any = None  # the body sent to the backend, before serialisation
    final: dict[str, Any] | None = None  # the summary, once the exchange has ended
    tools: list[dict[str, Any]] | None = None  # the offered tools (names and input schemas)

    def _ms(self, t: float | None) -> float | None:
        return round((t - self.started) * 1000, 1) if t is not None else None

    @property
    def error(self) -> dict[str, str] | None:
        err = getattr(self.translator, "error", None)
        if err is not None:
            return {"type": err.type, "message": err.message}
        errors = self.notes.of("error")
        return {"type": "error", "message": errors[-1].message} if errors else None

    def usage(self) -> dict[str, int]:
        t = self.translator
        enc = getattr(t, "encoder", None)
        if enc is not None and enc.finished and enc.stop_reason:
            return {"input_tokens": enc.input_tokens, "output_tokens": enc.output_tokens or 0}
        usage = getattr(t, "usage", None) or {}
        return {k: v for k, v in usage.items() if k in ("input_tokens", "output_tokens") and isinstance(v, int)}

    def tool_calls(self) -> list[dict[str, Any]]:
        t = self.translator
        enc = getattr(t, "encoder", None)
        if enc is not None:
            return [{"name": b["name"], "id": b["id"], "input": b["input"]}
                    for b in enc.content if b.get("type") == "tool_use"]
        return [{"name": n} for n in getattr(t, "tool_calls", None) or []]

    def stop_reason(self) -> str | None:
        t = self.translator
        enc = getattr(t, "encoder", None)
        return getattr(enc, "stop_reason", None) or getattr(t, "stop_reason", None)

    def summary(self) -> dict[str, Any]:
        """What ``exchange.json`` and the colour log say about the exchange."""
        return {
            "form": self.form, "kind": self.kind, "purpose": self.purpose, "mode": self.mode,
            "local": self.local, "stream": self.stream, "client": self.client,
            "session_id": self.session_id,
            "model": {"requested": self.client_model, "backend": self.backend_model},
            "backend": self.backend,
            "status": {"client": self.client_status, "backend": self.backend_status},
            "timing_ms": {"backend_first_byte": self._ms(self.first_byte),
                          "first_token": self._ms(self.first_token),
                          "total": self._ms(self.ended or time.monotonic())},
            "usage": self.usage(), "stop_reason": self.stop_reason(), "tool_calls": self.tool_calls(),
            "error": self.error, "incomplete": self.incomplete, "notes": self.notes.as_list(),
            "translate_options": self.options,
        }


class ExchangeListener(Protocol):
    """Told about every exchange the gateway handles (the recorder and the colour log)."""

    def exchange_started(self, ex: Exchange) -> None: ...

    def exchange_response(self, ex: Exchange, direction: str, status: int,
                          headers: list[tuple[str, str]]) -> None: ...

    def exchange_chunk(self, ex: Exchange, direction: str, data: bytes) -> None: ...

    def exchange_ended(self, ex: Exchange) -> None: ...
