"""Anthropic-native backends: bytes pass through untouched, the stream is still understood."""

from __future__ import annotations

from typing import Any

import orjson

from ._anthropic import sse_event
from ._decoders import SSEDecoder
from ._errors import GatewayError
from ._notes import Notes

__all__ = ["AnthropicStreamObserver"]


class AnthropicStreamObserver:
    """Watches an Anthropic SSE stream as it is forwarded unchanged.

    ``feed`` returns its input (so a backend's bytes reach the client as they
    were); ``flush`` adds an ``error`` event only if the backend's stream ended
    without ``message_stop`` or ``error``, so the client never sees a hung or
    silently truncated message.
    """

    form = "anthropic"

    def __init__(self, *, model: str = "", backend: str = "the backend", notes: Notes | None = None) -> None:
        self._sse = SSEDecoder()
        self.model = model
        self.backend = backend
        self.notes = notes if notes is not None else Notes()
        self.events_in = 0
        self.ended = False
        self.error: GatewayError | None = None
        self.stop_reason: str | None = None
        self.usage: dict[str, Any] = {}
        self.tool_calls: list[str] = []
        #: True when the stream ended without message_stop or error.
        self.cut = False

    @property
    def finished(self) -> bool:
        return self.ended

    def feed(self, chunk: bytes) -> bytes:
        for sse in self._sse.decode(chunk):
            self._observe(sse)
        return chunk

    def flush(self) -> bytes:
        for sse in self._sse.flush():
            self._observe(sse)
        if self.ended:
            return b""
        self.ended = True
        self.cut = True
        what = "before sending anything" if not self.events_in else f"after {self.events_in} events"
        self.error = GatewayError(502, "api_error",
                                  f"the stream from {self.backend} ended {what}, without message_stop: "
                                  f"the backend probably crashed or was stopped. Retry the request.")
        self.notes.error(self.error.message)
        return sse_event("error", self.error.body())

    def _observe(self, sse: Any) -> None:
        self.events_in += 1
        name = sse.name
        if name in ("message_stop", "error"):
            self.ended = True
        if name == "error":
            try:
                self.notes.error(str(orjson.loads(sse.data).get("error", {}).get("message")))
            except (orjson.JSONDecodeError, AttributeError):
                self.notes.error(sse.data[:200])
        elif name == "message_delta":
            try:
                data = orjson.loads(sse.data)
                self.stop_reason = (data.get("delta") or {}).get("stop_reason")
                self.usage.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
            except (orjson.JSONDecodeError, AttributeError):
                pass
        elif name == "message_start":
            try:
                self.usage.update((orjson.loads(sse.data).get("message") or {}).get("usage") or {})
            except (orjson.JSONDecodeError, AttributeError):
                pass
        elif name == "content_block_start" and '"tool_use"' in sse.data:
            try:
                self.tool_calls.append(orjson.loads(sse.data)["content_block"]["name"])
            except (orjson.JSONDecodeError, KeyError, TypeError):
                pass
