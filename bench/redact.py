"""``make bench`` (redaction part): what redacting costs the recorder, on Claude Code's real request.

Times ``Redactor.json`` on tests/data/claude-code-request.json (49 KB) the first time (nothing
cached) and on the next turn (the same conversation plus one message: only that is scanned),
``Redactor.text`` on a typical SSE chunk, and a full ``text`` scan of the whole request — each
against one ``orjson.loads`` of the request, so the figures compare across machines.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent

from inspector.recording import Redactor


def best(fn, n: int) -> float:
    times = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - t) / n)
    return min(times)


def main() -> int:
    raw = (ROOT / "tests" / "data" / "claude-code-request.json").read_bytes()
    body = orjson.loads(raw)
    parse = best(lambda: orjson.loads(raw), 200)
    cold = []
    for _ in range(20):
        r = Redactor()
        t = time.perf_counter()
        r.json(body)
        cold.append(time.perf_counter() - t)
    first = min(cold)
    r = Redactor()
    r.json(body)
    turn = {**body, "messages": [*body["messages"], {"role": "user", "content": "and now the tests, please " * 20}]}
    warm = best(lambda: r.json(turn), 200)
    text = raw.decode()
    whole = best(lambda: r.text(text), 50)
    chunk = ('event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
             '"delta":{"type":"text_delta","text":"Here is the function you asked for"}}\n\n')
    per_chunk = best(lambda: r.text(chunk), 20000)
    print(f"\nredaction on Claude Code's real {len(raw) / 1000:.0f} KB request "
          f"(one orjson.loads: {parse * 1e6:.0f} µs)")
    print(f"  first request of a conversation: {first * 1e6:,.0f} µs = {first / parse:.1f}× a parse")
    print(f"  the next turn (one new message): {warm * 1e6:,.0f} µs = {warm / parse:.2f}× a parse")
    print(f"  the whole request as one text:   {whole * 1e6:,.0f} µs = {whole / parse:.1f}× a parse")
    print(f"  one SSE chunk ({len(chunk)} bytes):      {per_chunk * 1e6:.1f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
