"""The Anthropic Messages side: the SSE grammar we emit, error bodies, ids.

``MessageStreamEncoder`` is the only place that writes Anthropic stream events,
so every translator produces the exact grammar the SDK accumulators enforce::

    message_start ping* (content_block_start delta* content_block_stop)* message_delta message_stop

with block indexes 0, 1, 2… in order, never interleaved, never an empty text
block, and ``usage.output_tokens`` on the final ``message_delta``.

One block may stay open: a tool call the answer was cut inside of. Anthropic's API ends such an
answer exactly so — the ``tool_use`` block started, its partial ``input_json_delta``s, *no*
``content_block_stop``, then ``message_delta`` with ``stop_reason: max_tokens`` (the Python SDK's
recorded fixture ``incomplete_partial_json_response.txt``). Claude Code runs a tool call only at
its ``content_block_stop``; a block still open at ``max_tokens`` is "a tool call cut at the output
limit": it runs nothing of it, keeps nothing of it, and asks the model to make the call again in
smaller pieces (2.1.328's output-limit recovery).
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from ._json import partial_ok

__all__ = [
    "ERROR_TYPE_BY_STATUS",
    "MessageStreamEncoder",
    "error_body",
    "error_type_for_status",
    "new_message_id",
    "new_tool_use_id",
    "sse_event",
]

ERROR_TYPE_BY_STATUS: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_type_for_status(status: int) -> str:
    if status in ERROR_TYPE_BY_STATUS:
        return ERROR_TYPE_BY_STATUS[status]
    return "invalid_request_error" if 400 <= status < 500 else "api_error"


def error_body(error_type: str, message: str, *, request_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "error", "error": {"type": error_type, "message": message}}
    if request_id:
        body["request_id"] = request_id
    return body


def new_message_id() -> str:
    return "msg_" + secrets.token_hex(12)


def new_tool_use_id() -> str:
    return "toolu_" + secrets.token_hex(12)


def sse_event(name: str, payload: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


_PING = sse_event("ping", {"type": "ping"})
_DELTA_HEAD = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
_TEXT_DELTA = b',"delta":{"type":"text_delta","text":'
_THINKING_DELTA = b',"delta":{"type":"thinking_delta","thinking":'

_STOP = sse_event("message_stop", {"type": "message_stop"})


class MessageStreamEncoder:
    """Builds one assistant message as Anthropic SSE bytes *and* as a ``Message`` snapshot.

    Every method returns the bytes to send (possibly ``b""``); ``message()``
    returns the same content as a non-streaming Message, so streaming and
    non-streaming translation share one set of rules.
    """

    __slots__ = (
        "model", "id", "input_tokens", "started", "finished", "content",
        "_open", "_open_type", "_pending_ws", "_out_chars", "stop_reason",
        "stop_sequence", "output_tokens", "tool_calls", "cache_read", "cache_creation", "cut_call", "answering",
    )

    def __init__(self, *, model: str, message_id: str | None = None, input_tokens: int = 0) -> None:
        self.model = model
        self.id = message_id or new_message_id()
        self.input_tokens = input_tokens
        self.started = False
        self.finished = False
        self.content: list[dict[str, Any]] = []
        self._open: dict[str, Any] | None = None
        self._open_type: str | None = None
        self._pending_ws = ""
        self._out_chars = 0
        self.stop_reason: str | None = None
        self.stop_sequence: str | None = None
        self.output_tokens: int | None = None
        self.tool_calls = 0
        #: What the backend said it read from / wrote to its prompt cache (None: it did not say).
        self.cache_read: int | None = None
        self.cache_creation: int | None = None
        #: The tool call the answer was cut inside of (left open, never run): ``{"id", "name", "partial"}``.
        self.cut_call: dict[str, str] | None = None
        #: A content delta has been written (text, thinking, a tool call's input): the first token is out.
        self.answering = False

    # -- events ---------------------------------------------------------------------------------
    def start(self) -> bytes:
        if self.started:
            return b""
        self.started = True
        return sse_event("message_start", {
            "type": "message_start",
            "message": {
                "id": self.id, "type": "message", "role": "assistant", "model": self.model,
                "content": [], "stop_reason": None, "stop_sequence": None,
                "usage": {
                    "input_tokens": self.input_tokens, "output_tokens": 0,
                    "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                },
            },
        })

    def ping(self) -> bytes:
        if self.finished:
            return b""
        return self.start() + _PING

    def text(self, text: str) -> bytes:
        return self._delta("text", text)

    def thinking(self, text: str) -> bytes:
        return self._delta("thinking", text)

    def signature(self, signature: str) -> bytes:
        """The open thinking block's ``signature`` (a ``signature_delta``, as Anthropic sends one just
        before the block ends): what the client sends back with the block on its next turn. The
        block is closed: the next thinking is a block of its own."""
        if self.finished or self._open_type != "thinking" or self._open is None or not signature:
            return b""
        self._open["signature"] = signature
        index = len(self.content) - 1
        return sse_event("content_block_delta", {
            "type": "content_block_delta", "index": index,
            "delta": {"type": "signature_delta", "signature": signature}}) + self._close()

    def redacted_thinking(self, data: str) -> bytes:
        """A ``redacted_thinking`` block: reasoning the client cannot read, carried back to the backend
        as it came (``data``, opaque)."""
        if self.finished or not data:
            return b""
        out = self.start() + self._close()
        index = len(self.content)
        self.content.append({"type": "redacted_thinking", "data": data})
        return out + sse_event("content_block_start", {
            "type": "content_block_start", "index": index,
            "content_block": {"type": "redacted_thinking", "data": data}}) + sse_event(
            "content_block_stop", {"type": "content_block_stop", "index": index})

    def tool_use(self, tool_id: str, name: str, tool_input: dict[str, Any]) -> bytes:
        if self.finished:
            return b""
        out = self.start() + self._close()
        index = len(self.content)
        self.content.append({"type": "tool_use", "id": tool_id, "name": name, "input": tool_input})
        self.tool_calls += 1
        partial = orjson.dumps(tool_input).decode()
        self._out_chars += len(partial) + len(name)
        self.answering = True
        return out + (
            sse_event("content_block_start", {
                "type": "content_block_start", "index": index,
                "content_block": {"type": "tool_use", "id": tool_id, "name": name, "input": {}},
            })
            + sse_event("content_block_delta", {
                "type": "content_block_delta", "index": index,
                "delta": {"type": "input_json_delta", "partial_json": partial},
            })
            + sse_event("content_block_stop", {"type": "content_block_stop", "index": index})
        )

    def finish(
        self,
        stop_reason: str,
        *,
        stop_sequence: str | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cache_read: int | None = None,
        cache_creation: int | None = None,
        cut_call: tuple[str, str, str] | None = None,
    ) -> bytes:
        """``input_tokens`` excludes ``cache_read`` and ``cache_creation``: Anthropic counts the three
        disjointly (total input = input + cache_creation + cache_read).

        ``cut_call`` — ``(id, name, partial arguments)`` of a tool call the answer was cut inside
        of — is sent as Anthropic sends one: a ``tool_use`` block left open (see the module
        docstring), its partial arguments as an ``input_json_delta`` when they are the beginning of
        valid JSON. The stop reason must then be ``max_tokens``. It is not part of ``content``:
        no one may run it, and a non-streaming answer leaves it out."""
        if self.finished:
            return b""
        out = self.start() + self._close()
        if cut_call is not None:
            out += self._cut_block(*cut_call)
        self.finished = True
        self.stop_reason = stop_reason
        self.stop_sequence = stop_sequence
        if input_tokens is not None:
            self.input_tokens = input_tokens
        self.cache_read, self.cache_creation = cache_read, cache_creation
        self.output_tokens = output_tokens if output_tokens is not None else self.estimated_output_tokens
        usage: dict[str, Any] = {"output_tokens": self.output_tokens}
        if input_tokens is not None:
            usage["input_tokens"] = input_tokens
        if cache_read is not None:
            usage["cache_read_input_tokens"] = cache_read
        if cache_creation is not None:
            usage["cache_creation_input_tokens"] = cache_creation
        return out + sse_event("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
            "usage": usage,
        }) + _STOP

    def _cut_block(self, tool_id: str, name: str, partial: str) -> bytes:
        index = len(self.content)
        self.cut_call = {"id": tool_id, "name": name, "partial": partial}
        out = sse_event("content_block_start", {
            "type": "content_block_start", "index": index,
            "content_block": {"type": "tool_use", "id": tool_id, "name": name, "input": {}}})
        if partial.strip() and partial_ok(partial):
            self._out_chars += len(partial)
            self.answering = True
            out += sse_event("content_block_delta", {
                "type": "content_block_delta", "index": index,
                "delta": {"type": "input_json_delta", "partial_json": partial}})
        return out

    def error(self, error_type: str, message: str) -> bytes:
        """An ``error`` event: ends the stream for the client (the SDKs raise on it)."""
        if self.finished:
            return b""
        self.finished = True
        self.stop_reason = None
        return sse_event("error", error_body(error_type, message))

    # -- snapshot -------------------------------------------------------------------------------
    @property
    def estimated_output_tokens(self) -> int:
        return max(1, (self._out_chars + 3) // 4) if self._out_chars else 0

    def message(self) -> dict[str, Any]:
        """The message as a non-streaming ``Message`` (call after ``finish``)."""
        content = []
        for block in self.content:
            if block["type"] in ("text", "thinking"):
                key = block["type"]
                b = {"type": key, key: "".join(block["parts"])}
                if key == "thinking":
                    b["signature"] = block.get("signature", "")
                content.append(b)
            else:
                content.append(block)
        return {
            "id": self.id, "type": "message", "role": "assistant", "model": self.model,
            "content": content, "stop_reason": self.stop_reason or "end_turn",
            "stop_sequence": self.stop_sequence,
            "usage": {
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens if self.output_tokens is not None
                else self.estimated_output_tokens,
                "cache_creation_input_tokens": self.cache_creation or 0,
                "cache_read_input_tokens": self.cache_read or 0,
            },
        }

    # -- internals ------------------------------------------------------------------------------
    def _delta(self, kind: str, text: str) -> bytes:
        if not text or self.finished:
            return b""
        if self._open_type != kind:
            if text.isspace():
                # Never open a block on whitespace alone: an all-blank block is
                # rejected by Anthropic when Claude Code sends it back.
                self._pending_ws += text
                return b""
            text, self._pending_ws = self._pending_ws + text, ""
            out = self.start() + self._close()
            index = len(self.content)
            self._open = {"type": kind, "parts": []}
            self._open_type = kind
            self.content.append(self._open)
            start_block = {"type": "text", "text": ""} if kind == "text" else {
                "type": "thinking", "thinking": "", "signature": ""}
            out += sse_event("content_block_start", {
                "type": "content_block_start", "index": index, "content_block": start_block})
        else:
            out = b""
            index = len(self.content) - 1
        assert self._open is not None
        self._open["parts"].append(text)
        self._out_chars += len(text)
        self.answering = True
        # What sse_event("content_block_delta", {...}) writes, assembled around the one value that
        # changes (a delta per token: the hottest line of every stream).
        return b"".join((out, _DELTA_HEAD, str(index).encode(), _TEXT_DELTA if kind == "text" else _THINKING_DELTA,
                         orjson.dumps(text), b"}}\n\n"))

    def _close(self) -> bytes:
        self._pending_ws = ""
        if self._open is None:
            return b""
        index = len(self.content) - 1
        self._open = None
        self._open_type = None
        return sse_event("content_block_stop", {"type": "content_block_stop", "index": index})
