"""Anthropic-native backends: bytes pass through untouched, the stream is still understood."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._accumulate import MessageAccumulator
from ._anthropic import sse_event
from ._errors import GatewayError
from ._facts import BackendUsage
from ._form import BackendForm, StreamProcessor, StreamResult
from ._notes import Notes
from ._options import TranslateOptions

if TYPE_CHECKING:
    from ._reask import Reask, ReaskReason
    from ._request import AnthropicRequest
    from ._tools import ToolNames

__all__ = ["ANTHROPIC", "AnthropicForm", "AnthropicStreamObserver"]

_PING = sse_event("ping", {"type": "ping"})
_USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


class AnthropicForm(BackendForm):
    """An Anthropic-native backend (api.anthropic.com, Ollama ≥ 0.14's /v1/messages, vLLM, LM Studio,
    llama.cpp): requests go as they are (only ``model`` is mapped), answers come back as they are."""

    name = "anthropic"
    label = "Anthropic-compatible"
    translates = False
    stream_type = "text/event-stream"
    stream_marker = "event-stream"
    expected = "Anthropic Messages JSON or SSE"
    models_path = "/v1/models"

    def chat_path(self, base_path: str, client_path: str) -> str:
        path = client_path.split("?", 1)
        # The client already speaks to the full path when the backend URL's base is its prefix.
        if base_path and path[0].startswith(base_path + "/"):
            return client_path
        return base_path + client_path

    def build_request(self, req: AnthropicRequest, *, model: str, options: TranslateOptions,
                      names: ToolNames | None) -> dict[str, Any]:
        return req.raw if model == req.model else {**req.raw, "model": model}

    def stream_processor(self, *, options: TranslateOptions, names: ToolNames | None, model: str,
                         backend_model: str, backend: str, input_tokens: int, notes: Notes,
                         tools: list[dict[str, Any]] | None) -> StreamProcessor:
        return AnthropicStreamObserver(model=backend_model, backend=backend, notes=notes)

    def whole_response(self, data: dict[str, Any], *, options: TranslateOptions, names: ToolNames | None,
                       model: str, input_tokens: int, notes: Notes,
                       tools: list[dict[str, Any]] | None) -> dict[str, Any]:
        return data

    def read_usage(self, data: dict[str, Any]) -> BackendUsage | None:
        """A Message's ``usage``: input, cache reads and cache writes are disjoint (Anthropic)."""
        return anthropic_usage(data.get("usage"))

    def prefix_sections(self, body: dict[str, Any]) -> tuple[list[tuple[str, Any]], Any]:
        # Anthropic's prompt-cache prefix order: tools, then system, then messages. A string is the
        # same prompt as one text block, and cache_control marks a breakpoint without being prompt.
        sections: list[tuple[str, Any]] = [("tools", [_plain(t) for t in body.get("tools") or []]),
                                           ("system", _blocks(body.get("system") or []))]
        sections.extend((f"messages.{i}", {"role": m.get("role"), "content": _blocks(m.get("content"))})
                        for i, m in enumerate(body.get("messages") or []) if isinstance(m, dict))
        return sections, {"model": body.get("model")}


ANTHROPIC = AnthropicForm()


def _plain(block: Any) -> Any:
    return {k: v for k, v in block.items() if k != "cache_control"} if isinstance(block, dict) else block


def _blocks(content: Any) -> Any:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [_plain(b) for b in content] if isinstance(content, list) else content


def anthropic_usage(usage: Any) -> BackendUsage | None:
    if not isinstance(usage, dict):
        return None
    parts = [usage.get(k) for k in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")]
    ints = [p for p in parts if isinstance(p, int) and not isinstance(p, bool)]
    return BackendUsage.counts("anthropic", prompt=sum(ints) if ints else None,
                               cached=usage.get("cache_read_input_tokens"),
                               cache_write=usage.get("cache_creation_input_tokens"),
                               output=usage.get("output_tokens"))


def _boundary(buf: bytes) -> int:
    """Index just after the last complete SSE event (a blank line) in ``buf``, 0 if none."""
    return max(buf.rfind(b"\n\n") + 2 if b"\n\n" in buf else 0,
               buf.rfind(b"\r\n\r\n") + 4 if b"\r\n\r\n" in buf else 0,
               buf.rfind(b"\r\r") + 2 if b"\r\r" in buf else 0)


class AnthropicStreamObserver:
    """Watches an Anthropic SSE stream as it is forwarded unchanged (a ``StreamProcessor``).

    ``feed`` returns its input as it was, but only up to the last complete event: a partial
    event is held until its end arrives, so a keep-alive, or the ``error`` event that ends a
    cut stream, always lands between two events. The stream is understood on the way (a
    ``MessageAccumulator``): usage, stop reason, tool calls, the message.
    """

    form = ANTHROPIC

    def __init__(self, *, model: str = "", backend: str = "the backend", notes: Notes | None = None) -> None:
        self.acc = MessageAccumulator()
        self.model = model
        self.backend = backend
        self.notes = notes if notes is not None else Notes()
        self.error: GatewayError | None = None
        self.cut = False
        self._held = b""
        self._ended = False

    @property
    def events_in(self) -> int:
        return self.acc.events

    @property
    def finished(self) -> bool:
        return self._ended

    def feed(self, chunk: bytes) -> bytes:
        if self._ended and not self._held:
            return b""
        buf = self._held + chunk if self._held else chunk
        end = _boundary(buf)
        if end == len(buf):
            self._held = b""
            out = buf
        else:
            self._held = buf[end:]
            out = buf[:end]
        if out:
            self._see(out)
        return out

    def _see(self, data: bytes) -> None:
        self.acc.feed(data)
        if self.acc.error is not None and not self._ended:
            self._ended = True
            message = self.acc.error.get("message") if isinstance(self.acc.error, dict) else None
            self.notes.error(str(message or self.acc.error)[:500])
        elif self.acc.stopped:
            self._ended = True

    def flush(self) -> bytes:
        out = b""
        if self._held:
            held, self._held = self._held, b""
            # The last event without its blank line: sent on only if it is a whole event.
            before = self.acc.events
            self._see(held + b"\n\n")
            if self.acc.events > before:
                out = held  # as it was: a faithful passthrough adds nothing
        if self._ended:
            return out
        return out + self._end_cut(None)

    def interrupt(self, reason: str) -> bytes:
        self._held = b""  # half an event: it stays in the recording only
        if self._ended:
            return b""
        return self._end_cut(reason)

    def fail(self, err: GatewayError) -> bytes:
        if self._ended:
            return b""
        self._held = b""
        self._ended = True
        self.error = err
        self.notes.error(err.message)
        return sse_event("error", err.body())

    def use_input_count(self, tokens: int) -> None:
        pass  # the backend's own message_start goes through as it is

    # An answer passed through is never held for a re-ask: it goes as the backend sent it.
    def arm_reask(self, expect: tuple[ReaskReason, str | None] | None = None, *, enveloped: bool = False) -> None:
        pass

    @property
    def reask(self) -> Reask | None:
        return None

    def resume(self, data: dict[str, Any], *, how: str) -> bytes | None:
        return None

    @property
    def reask_failed(self) -> str:
        return ""

    def give_up(self, why: str, usage: BackendUsage | None = None) -> bytes:
        return b""

    def keepalive(self) -> bytes:
        """An ``event: ping`` between two events, as the gateway contract asks during silent gaps: the
        SDKs skip pings wherever they come, and it resets Claude Code's byte watchdog."""
        return b"" if self._held or self._ended else _PING

    def _end_cut(self, reason: str | None) -> bytes:
        self.cut = True
        n = self.acc.events
        what = "before sending anything" if not n else f"after {n} events"
        why = f" ({reason})" if reason else ""
        return self.fail(GatewayError(502, "api_error",
                                      f"the stream from {self.backend} was cut {what}, without message_stop"
                                      f"{why}: the backend probably crashed or was stopped. Retry the request."))

    def result(self) -> StreamResult:
        msg = self.acc.message or {}
        usage = msg.get("usage") if isinstance(msg.get("usage"), dict) else None
        calls = [{"name": b.get("name"), "id": b.get("id"), "input": b.get("input")}
                 for b in msg.get("content") or [] if isinstance(b, dict) and b.get("type") == "tool_use"
                 and not b.get("_cut")]
        return StreamResult(
            message_id=msg.get("id") if isinstance(msg.get("id"), str) else None,
            stop_reason=msg.get("stop_reason") if isinstance(msg.get("stop_reason"), str) else None,
            usage={k: v for k, v in usage.items() if k in _USAGE_KEYS and isinstance(v, int)} if usage else None,
            tool_calls=calls, backend=anthropic_usage(usage) if self.acc.stopped else None)

    def message(self) -> dict[str, Any] | None:
        return self.acc.message if self.acc.stopped else None
