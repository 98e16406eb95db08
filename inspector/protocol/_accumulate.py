"""Reassemble an Anthropic SSE stream into the ``Message`` it describes (as the SDKs do)."""

from __future__ import annotations

from typing import Any

import orjson

from ._decoders import SSEDecoder

__all__ = ["MessageAccumulator"]


class MessageAccumulator:
    """``feed(bytes)`` any split of an Anthropic stream; ``message`` is the snapshot so far.

    Lenient where the SDK would raise: unparsable tool JSON is kept as ``{"_raw": text}``
    so a person can see it; ``error`` holds an ``error`` event's body. A ``tool_use`` block still
    open when the message ends is a call the answer was cut inside of (Anthropic's way of ending at
    ``max_tokens`` mid-call): it is marked ``"_cut": True``, its partial arguments kept as ``_raw``.
    """

    def __init__(self) -> None:
        self._sse = SSEDecoder()
        self.message: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None
        self.events = 0
        #: ``content_block_delta`` events seen (the first is the answer's first token).
        self.deltas = 0
        #: message_stop was seen.
        self.stopped = False
        self._json: dict[int, list[str]] = {}

    def feed(self, chunk: bytes) -> list[Any]:
        events = self._sse.decode(chunk)
        for sse in events:
            self._apply(sse)
        return events

    def flush(self) -> list[Any]:
        events = self._sse.flush()
        for sse in events:
            self._apply(sse)
        return events

    def _apply(self, sse: Any) -> None:
        name = sse.event
        if name in (None, "ping"):
            return
        try:
            data = orjson.loads(sse.data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(data, dict):
            return
        self.events += 1
        if name == "error":
            self.error = data.get("error") or data
            return
        if name == "message_stop":
            self.stopped = True
            return
        if name == "message_start":
            self.message = dict(data.get("message") or {})
            self.message["content"] = []
            return
        msg = self.message
        if msg is None:
            return
        content = msg["content"]
        index = data.get("index", 0)
        if name == "content_block_start":
            block = dict(data.get("content_block") or {})
            content.append(block)
            if block.get("type") in ("tool_use", "server_tool_use"):
                self._json[len(content) - 1] = []
        elif name == "content_block_delta" and 0 <= index < len(content):
            self.deltas += 1
            block, delta = content[index], data.get("delta") or {}
            kind = delta.get("type")
            if kind == "text_delta":
                block["text"] = block.get("text", "") + delta.get("text", "")
            elif kind == "thinking_delta":
                block["thinking"] = block.get("thinking", "") + delta.get("thinking", "")
            elif kind == "signature_delta":
                block["signature"] = delta.get("signature", "")
            elif kind == "input_json_delta":
                self._json.setdefault(index, []).append(delta.get("partial_json", ""))
        elif name == "content_block_stop" and index in self._json:
            raw = "".join(self._json.pop(index))
            try:
                content[index]["input"] = orjson.loads(raw) if raw else content[index].get("input", {})
            except orjson.JSONDecodeError:
                content[index]["input"] = {"_raw": raw}
        elif name == "message_delta":
            for open_index in list(self._json):  # never stopped: cut, and never run by a client
                raw = "".join(self._json.pop(open_index))
                content[open_index]["_cut"] = True
                if raw:
                    content[open_index]["input"] = {"_raw": raw}
            msg.update({k: v for k, v in (data.get("delta") or {}).items() if v is not None})
            usage = msg.setdefault("usage", {})
            usage.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
