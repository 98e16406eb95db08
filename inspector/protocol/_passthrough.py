"""Anthropic-native backends: bytes pass through untouched, the stream is still understood."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

from ._accumulate import MessageAccumulator
from ._anthropic import sse_event
from ._errors import GatewayError, is_anthropic_error
from ._facts import BackendUsage
from ._form import (
    BackendAccess,
    BackendCall,
    BackendForm,
    ClientCall,
    ClientRequest,
    StreamProcessor,
    StreamResult,
    TranslateContext,
    WholeAnswer,
    sendable,
    split_url,
)
from ._notes import Notes
from ._options import TranslateOptions
from ._request import Endpoint, validate_request

if TYPE_CHECKING:
    from ._reask import Reask, ReaskReason
    from ._request import AnthropicRequest
    from ._tools import ToolNames

__all__ = ["ANTHROPIC", "AnthropicForm", "AnthropicStreamObserver", "is_anthropic_host"]

_PING = sse_event("ping", {"type": "ping"})
_USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
#: Client headers never sent on: hop-by-hop ones, and framing (the relay sets its own).
_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
        "content-length", "host", "accept-encoding", "content-encoding"}
#: Response headers never passed on from the backend (framing is the relay's own).
_ANSWER_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "upgrade",
               "trailer", "te", "content-encoding"}
#: The backend's quota headers, never passed on (the gateway contract, "Usage-limit headers").
_QUOTA = "anthropic-ratelimit-"
#: The anthropic-beta value that goes with the request's ``tags`` (request-tags-2026-08-21).
_TAGS_BETA = "request-tags-"


class AnthropicForm(BackendForm):
    """An Anthropic-native backend (api.anthropic.com, Ollama ≥ 0.14's /v1/messages, vLLM, LM Studio,
    llama.cpp): requests go as they are (only ``model`` is mapped), answers come back as they are.

    The client's own headers go on too — except its credentials, which go only to Anthropic's own
    hosts (and not even there when the client authenticates to the gateway with the gateway's token);
    request tags and their beta value go only where Anthropic's API takes them."""

    name = "anthropic"
    label = "Anthropic-compatible"
    stream_type = "text/event-stream"
    stream_marker = "event-stream"
    expected = "Anthropic Messages JSON or SSE"
    models_path = "/v1/models"
    needs_backend_model = False
    whole_api = True
    writes_answers = False

    def read(self, call: ClientCall) -> ClientRequest:
        """Refused as a translating gateway would refuse it (``validate_request``), else as it is."""
        if call.kind in ("messages", "count_tokens"):
            endpoint: Endpoint = "messages" if call.kind == "messages" else "count_tokens"
            return ClientRequest(call, validate_request(call.body, endpoint=endpoint))
        return ClientRequest(call)

    def chat_path(self, base_path: str = "", *, model: str = "", stream: bool = False) -> str:
        return "/v1/messages"

    def auth_headers(self, api_key: str) -> list[tuple[str, str]]:
        return [("x-api-key", api_key), ("authorization", f"Bearer {api_key}")] if api_key else []

    def build_request(self, req: AnthropicRequest, *, model: str, options: TranslateOptions,
                      names: ToolNames | None) -> dict[str, Any]:
        return req.raw if model == req.model else {**req.raw, "model": model}

    def prepare(self, request: ClientRequest, ctx: TranslateContext, access: BackendAccess) -> BackendCall:
        call = request.call
        origin, base_path = split_url(access.url)
        anthropic = is_anthropic_host(urlsplit(origin).hostname)
        own = anthropic and not access.token_in_use  # the client's credentials are for Anthropic only
        path = call.path if own else access.without_secrets(call.path)
        headers = sendable([(k, v) for k, v in call.headers
                            if k.lower() not in _HOP and (own or not access.is_credential(k))])
        headers.append(("accept-encoding", "identity"))
        data, body = request.data, call.body
        if data is not None and ctx.backend_model and data.get("model") != ctx.backend_model:
            data = {**data, "model": ctx.backend_model}
        if not anthropic:
            # Request tags label usage on Anthropic's API; other servers may refuse them (the contract:
            # leave the field and its beta value out before upstreams that do not take them).
            headers = _without_tag_beta(headers)
            if data is not None and "tags" in data:
                data = {k: v for k, v in data.items() if k != "tags"}
        if data is not request.data:
            body = orjson.dumps(data)
        if access.api_key:
            headers = [(k, v) for k, v in headers if k.lower() not in ("x-api-key", "authorization")]
            headers += self.auth_headers(access.api_key)
        return BackendCall(call.method, origin + _below(base_path, path), headers, body, data)

    def stream_processor(self, ctx: TranslateContext) -> StreamProcessor:
        return AnthropicStreamObserver(model=ctx.backend_model, backend=ctx.backend, notes=ctx.notes)

    def whole_response(self, data: dict[str, Any], ctx: TranslateContext) -> dict[str, Any]:
        return data

    def whole_answer(self, status: int, headers: Sequence[tuple[str, str]], body: bytes, ctx: TranslateContext, *,
                     stream: bool, kind: str = "messages", request_id: str = "") -> WholeAnswer:
        """The backend's answer as it was (framing headers and the backend's own quota aside). An error
        Claude Code could not read — not in Anthropic's envelope — is put in it, and a count_tokens the
        backend does not serve is a 501 Claude Code does not ask again."""
        if kind == "count_tokens" and status in (404, 405, 501):
            return WholeAnswer(error=GatewayError(
                501, "not_supported", f"{ctx.backend} does not count tokens (POST /v1/messages/count_tokens "
                                      f"answered HTTP {status}); Claude Code estimates the count itself"))
        # A 404 for a model: Claude Code shows its own words instead of the backend's, so a server other
        # than Anthropic's gets a 400 that says how to route the model (Anthropic's API keeps its own).
        unknown_model = status == 404 and kind == "messages" and not is_anthropic_host(urlsplit(ctx.backend).hostname)
        if status >= 400 and kind in ("messages", "count_tokens") and (not is_anthropic_error(body) or unknown_model):
            return WholeAnswer(error=self.error(status=status, body=body, model=ctx.backend_model,
                                                backend=ctx.backend))
        # The backend's rate-limit headers describe the gateway's key or server, not the user's quota.
        kept = [(k, v) for k, v in headers if k not in _ANSWER_HOP and not k.startswith(_QUOTA)]
        answer = WholeAnswer(status, kept, body)
        if body[:1] == b"{":
            try:
                parsed = orjson.loads(body)
                answer.message = parsed if isinstance(parsed, dict) else None
            except orjson.JSONDecodeError:
                pass
            if answer.message is not None and status == 200:
                answer.usage = self.read_usage(answer.message)
        if status >= 400:
            ctx.notes.error(f"the backend answered HTTP {status}: {body[:300].decode('utf-8', 'replace')}")
        return answer

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


def is_anthropic_host(host: str | None) -> bool:
    """Anthropic's own API (``api.anthropic.com`` and the rest of ``anthropic.com``)."""
    host = (host or "").lower().rstrip(".")
    return host == "anthropic.com" or host.endswith(".anthropic.com")


def _below(base_path: str, client_path: str) -> str:
    """The client's path under the backend URL's base (the client may already speak to the full path)."""
    path = client_path.split("?", 1)[0]
    if base_path and (path == base_path or path.startswith(base_path + "/")):
        return client_path
    return base_path + client_path


def _without_tag_beta(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``anthropic-beta`` without its request-tags value (and without the header if nothing is left)."""
    out = []
    for k, v in headers:
        if k.lower() == "anthropic-beta":
            v = ",".join(b for b in (b.strip() for b in v.split(",")) if b and not b.startswith(_TAGS_BETA))
            if not v:
                continue
        out.append((k, v))
    return out


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

    @property
    def answering(self) -> bool:
        return self.acc.deltas > 0

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
