"""The official ``anthropic`` SDK as the judge of the SSE and JSON we produce."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2 as httpx

REQUEST = {"model": "claude-inspector-test", "max_tokens": 1024,
           "messages": [{"role": "user", "content": "hi"}]}


def _client(handler) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="test-key", base_url="http://sdk.test", max_retries=0,
                               http_client=httpx.Client(transport=httpx.MockTransport(handler)))


def accumulate(sse: bytes) -> anthropic.types.Message:
    """Run ``sse`` through the SDK's ``MessageStream`` accumulator; return the final Message."""
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=sse)

    with _client(handler).messages.stream(model="claude-inspector-test", max_tokens=1024,
                                          messages=[{"role": "user", "content": "hi"}]) as stream:
        for _ in stream:
            pass
        return stream.get_final_message()


def parse_message(body: dict[str, Any]) -> anthropic.types.Message:
    """Parse a non-streaming body the way the SDK does."""
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    return _client(handler).messages.create(model="claude-inspector-test", max_tokens=1024,
                                            messages=[{"role": "user", "content": "hi"}])


def feed_split(translator, raw: bytes, cuts=()) -> bytes:
    """Feed ``raw`` to a stream translator split at ``cuts``; return all it produced, flush included."""
    out, last = b"", 0
    for c in sorted(set(cuts)):
        out += translator.feed(raw[last:c])
        last = c
    return out + translator.feed(raw[last:]) + translator.flush()


def run_calls(sse: bytes) -> list[tuple[str, Any]]:
    """``(name, input)`` of each call Claude Code would run from ``sse``: a ``tool_use`` block that
    reached its ``content_block_stop`` (Claude Code runs a call there; a block still open when the
    answer ends at ``max_tokens`` is a call cut at the output limit, of which it runs nothing)."""
    return [(name, args) for name, args, closed in _tool_blocks(sse) if closed]


def cut_calls(sse: bytes) -> list[str]:
    """Names of the ``tool_use`` blocks left open: calls the answer was cut inside of."""
    return [name for name, _, closed in _tool_blocks(sse) if not closed]


def _tool_blocks(sse: bytes) -> list[tuple[str, Any, bool]]:
    import orjson

    from inspector.protocol import SSEDecoder

    dec = SSEDecoder()
    blocks: dict[int, list[Any]] = {}
    for event in dec.decode(sse) + dec.flush():
        if event.event not in ("content_block_start", "content_block_delta", "content_block_stop"):
            continue
        data = orjson.loads(event.data)
        index = data["index"]
        if event.event == "content_block_start" and data["content_block"]["type"] == "tool_use":
            blocks[index] = [data["content_block"]["name"], "", False]
        elif index in blocks and event.event == "content_block_delta":
            blocks[index][1] += data["delta"].get("partial_json", "")
        elif index in blocks:
            blocks[index][2] = True
    return [(name, orjson.loads(raw or "{}") if closed else raw, closed) for name, raw, closed in blocks.values()]
