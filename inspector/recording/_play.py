"""Playing a replay ``Answer`` to a client: the shape it asked for, with the recorded timing.

Shared by the replay addon (``inspector replay``) and the pytest plugin's ``anthropic_replay``.
A client that asks for ``stream: false`` gets the Message the recorded stream adds up to; a
streaming client gets the recorded events, paced as recorded (``speed`` 1), faster, or at once (0).
A chaos ``Fault`` (``_chaos.py``) adds its silence and gaps whatever the speed, and drops the
connection where it says.
"""

from __future__ import annotations

import asyncio

import orjson

from ..protocol import MessageAccumulator
from ..transport import Reply
from ._chaos import Fault
from ._reader import Chunk
from ._replay import Answer

__all__ = ["as_requested", "play", "wants_stream"]

_HOP = {"transfer-encoding", "content-length", "connection", "keep-alive", "content-encoding"}


def wants_stream(body: bytes) -> bool:
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return False
    return isinstance(data, dict) and bool(data.get("stream"))


def as_requested(answer: Answer, *, stream: bool) -> Answer:
    """``answer`` in the shape the client asked for: a recorded stream becomes its Message for a
    non-streaming request."""
    if stream or not answer.streamed:
        return answer
    acc = MessageAccumulator()
    acc.feed(answer.body)
    acc.flush()
    if acc.error is not None or acc.message is None:
        error = acc.error or {"type": "api_error", "message": "the recorded stream holds no message"}
        body = orjson.dumps({"type": "error", "error": error})
        status = 500
    else:
        body = orjson.dumps(acc.message)
        status = answer.status
    headers = [(k, v) for k, v in answer.headers if k.lower() not in (*_HOP, "content-type")]
    last = next((c.t for c in reversed(answer.chunks) if c.t is not None), 0.0)
    return Answer(status, [("content-type", "application/json"), *headers], [Chunk(last, body)], answer.source,
                  answer.miss)


async def play(answer: Answer, reply: Reply, *, speed: float, fault: Fault | None = None) -> None:
    """Write ``answer`` to ``reply``, chunk by chunk, paced by the recorded times / ``speed``,
    with ``fault``'s silence, gaps and cut."""
    headers = [(k, v) for k, v in answer.headers if k.lower() not in _HOP]
    if fault is not None and fault.silence:
        await asyncio.sleep(fault.silence)
    cut = fault.cut_after if fault is not None else None
    if not answer.streamed:
        if speed and answer.chunks and answer.chunks[-1].t:
            await asyncio.sleep(answer.chunks[-1].t / speed)
        if cut is None:
            reply.whole(answer.status, answer.body, headers)
            return
        reply.head(answer.status, headers, length=len(answer.body))
        reply.write(answer.body[:cut])
        await reply.drain()
        reply.abort()
        return
    reply.head(answer.status, headers)
    last = 0.0
    for n, chunk in enumerate(answer.chunks):
        if cut is not None and n >= cut:
            reply.abort()
            return
        if chunk.t is not None and speed > 0:
            await asyncio.sleep(max(0.0, chunk.t - last) / speed)
            last = chunk.t
        if fault is not None and fault.gap and n:
            await asyncio.sleep(fault.gap)
        reply.write(chunk.data)
        await reply.drain()
    reply.end()
