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
