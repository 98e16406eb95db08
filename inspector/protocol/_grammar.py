"""Check an Anthropic SSE stream against the grammar the SDKs enforce (protocols.md §2.2, §3)."""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from ._decoders import ServerSentEvent, SSEDecoder

__all__ = ["stream_problems"]

_KNOWN = {"message_start", "content_block_start", "content_block_delta", "content_block_stop",
          "message_delta", "message_stop", "ping", "error"}
_DELTA_FOR = {"text": {"text_delta", "citations_delta"}, "thinking": {"thinking_delta", "signature_delta"},
              "tool_use": {"input_json_delta"}, "server_tool_use": {"input_json_delta"}}


def stream_problems(stream: bytes | Iterable[ServerSentEvent], *, strict: bool = True) -> list[str]:
    """Every way ``stream`` breaks the Messages streaming grammar; ``[]`` when it is well formed.

    A stream ends with ``message_stop`` or with an ``error`` event; the last block may be left
    open only when it is a ``tool_use`` the answer was cut inside of (``max_tokens``). ``strict`` adds the
    rules we hold our own output to (no empty text block: Anthropic rejects it when
    Claude Code sends it back; the real API emits one only for refusals).
    """
    if isinstance(stream, bytes):
        dec = SSEDecoder()
        events = dec.decode(stream) + dec.flush()
    else:
        events = list(stream)
    problems: list[str] = []
    started = stopped = delta_seen = False
    open_index: int | None = None
    open_type: str | None = None
    open_text: list[str] = []
    next_index = 0
    for n, sse in enumerate(events):
        name = sse.event
        where = f"event {n} ({name})"
        if name not in _KNOWN:
            problems.append(f"{where}: unknown event name")
            continue
        try:
            data = orjson.loads(sse.data)
        except orjson.JSONDecodeError:
            problems.append(f"{where}: data is not JSON")
            continue
        if data.get("type") != name:
            problems.append(f"{where}: data.type {data.get('type')!r} differs from the event name")
        if stopped:
            problems.append(f"{where}: after the end of the stream")
        if name == "ping":
            continue
        if name == "error":
            err = data.get("error") or {}
            if not err.get("type") or not isinstance(err.get("message"), str):
                problems.append(f"{where}: error needs error.type and error.message")
            stopped = True
            continue
        if name == "message_start":
            if started:
                problems.append(f"{where}: second message_start")
            started = True
            msg = data.get("message") or {}
            if msg.get("content") != []:
                problems.append(f"{where}: message.content must be []")
            if not isinstance(msg.get("usage"), dict):
                problems.append(f"{where}: message.usage missing")
            continue
        if not started:
            problems.append(f"{where}: before message_start")
        index = data.get("index")
        if name == "content_block_start":
            if open_index is not None:
                problems.append(f"{where}: block {open_index} still open (blocks must not interleave)")
            if index != next_index:
                problems.append(f"{where}: index {index}, expected {next_index}")
            block = data.get("content_block") or {}
            open_index, open_type, open_text = index, block.get("type"), []
            next_index += 1
            if open_type == "text" and block.get("text") != "":
                problems.append(f"{where}: text block must start with text ''")
            if open_type == "thinking" and block.get("thinking") != "":
                problems.append(f"{where}: thinking block must start with thinking ''")
            if open_type == "tool_use" and (not block.get("id") or not block.get("name")
                                            or block.get("input") != {}):
                problems.append(f"{where}: tool_use block needs id, name and input {{}}")
        elif name == "content_block_delta":
            if index != open_index:
                problems.append(f"{where}: delta for index {index} but {open_index} is open")
            kind = (data.get("delta") or {}).get("type")
            allowed = _DELTA_FOR.get(open_type or "", {f"{open_type}_delta"})
            if kind not in allowed:
                problems.append(f"{where}: {kind} inside a {open_type} block")
            if kind == "text_delta":
                open_text.append(data["delta"].get("text", ""))
            elif kind == "input_json_delta":
                open_text.append(data["delta"].get("partial_json", ""))
        elif name == "content_block_stop":
            if index != open_index:
                problems.append(f"{where}: stop for index {index} but {open_index} is open")
            if strict and open_type == "text" and not "".join(open_text).strip():
                problems.append(f"{where}: empty or blank text block")
            if open_type == "tool_use" and open_text:
                try:
                    if not isinstance(orjson.loads("".join(open_text) or "{}"), dict):
                        problems.append(f"{where}: tool input is not an object")
                except orjson.JSONDecodeError:
                    problems.append(f"{where}: tool input is not valid JSON")
            open_index, open_type = None, None
        elif name == "message_delta":
            stop = (data.get("delta") or {}).get("stop_reason")
            # One exception, Anthropic's own: an answer cut inside a tool call ends with that
            # block open and stop_reason max_tokens (the client runs nothing of it).
            if open_index is not None and not (open_type == "tool_use" and stop == "max_tokens"):
                problems.append(f"{where}: block {open_index} still open")
            if not isinstance((data.get("usage") or {}).get("output_tokens"), int):
                problems.append(f"{where}: usage.output_tokens must be an int")
            if not (data.get("delta") or {}).get("stop_reason"):
                problems.append(f"{where}: no stop_reason")
            delta_seen = True
        elif name == "message_stop":
            if not delta_seen:
                problems.append(f"{where}: message_stop without message_delta")
            stopped = True
    if not stopped:
        problems.append("stream ends without message_stop or error")
    return problems
