"""Per-flow state of one exchange going through the gateway (shared by the addons)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..protocol import Notes

__all__ = ["Exchange"]


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
    started: float = field(default_factory=time.monotonic)
    first_byte: float | None = None
    ended: float | None = None

    def summary(self) -> dict[str, Any]:
        t = self.translator
        enc = getattr(t, "encoder", None)
        return {
            "form": self.form, "kind": self.kind, "client_model": self.client_model,
            "backend_model": self.backend_model, "stream": self.stream,
            "ttfb_ms": round((self.first_byte - self.started) * 1000, 1) if self.first_byte else None,
            "duration_ms": round(((self.ended or time.monotonic()) - self.started) * 1000, 1),
            "stop_reason": getattr(enc, "stop_reason", None) or getattr(t, "stop_reason", None),
            "notes": self.notes.as_list(),
        }
