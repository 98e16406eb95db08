"""``make bench`` (replay part): how long one unmatched request takes to explain itself.

Builds a recording folder holding Claude Code-shaped conversations of the given sizes (its
real first request, then tool round trips with Read results of realistic size, up to SIZE KB
of conversation), then times ``ReplayIndex.closest`` for a request that differs from the
largest recording at its last, middle and first message. Reported against the time it takes
to parse that request's JSON once (``orjson.loads``), so the figures compare across machines.
``--old`` also times the quadratic search this replaced (difflib over the joined conversation;
only sensible for small sizes: 20 KB took 13 s).
"""

from __future__ import annotations

import argparse
import copy
import difflib
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent

from inspector.recording import RecordingStore, ReplayIndex, conversation_key, list_sessions


def conversation(size_kb: int, seed: int = 0) -> dict:
    """Claude Code's real request, grown with tool round trips until its messages hold ``size_kb`` KB."""
    body = orjson.loads((ROOT / "tests" / "data" / "claude-code-request.json").read_bytes())
    base = len(orjson.dumps(body["messages"]))
    n = 0
    while len(orjson.dumps(body["messages"])) - base < size_kb * 1000:
        n += 1
        tool_id = f"toolu_{seed:04d}{n:06d}"
        lines = "\n".join(f"{k:>6}\tdef function_{seed}_{n}_{k}(value):  # returns value + {k}" for k in range(40))
        body["messages"].append({"role": "assistant", "content": [
            {"type": "text", "text": f"Let me read part {n} of the module."},
            {"type": "tool_use", "id": tool_id, "name": "Read", "input": {"file_path": f"/src/part_{n}.py"}}]})
        body["messages"].append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": tool_id, "content": lines}]})
    return body


def record(folder: Path, bodies: list[dict]) -> None:
    store = RecordingStore(folder)
    for i, body in enumerate(bodies):
        w = store.exchange(session_id=f"{i:08x}-bench", id_source="header", client="claude-cli/2.1.328",
                           kind="messages",
                           meta={"form": "anthropic"})
        assert w is not None
        w.requests({"method": "POST", "path": "/v1/messages", "headers": [], "body": orjson.dumps(body), "json": body},
                   None)
        w.response_head("client", 200, [("content-type", "application/json")])
        w.chunk("client", b'{"type": "message", "content": []}')
        w.finish({})


def old_search(index: ReplayIndex, body: dict) -> float:
    want = "\n".join(conversation_key("messages", body))
    best = -1.0
    for k in index.by_key:
        best = max(best, difflib.SequenceMatcher(None, want, "\n".join(k), autojunk=False).ratio())
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="50,200,500", help="conversation sizes in KB, comma-separated")
    parser.add_argument("--old", action="store_true", help="also time the old quadratic search (small sizes only)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        folder = Path(tmp) / "recordings"
        bodies = [conversation(kb, seed=i) for i, kb in enumerate(sizes)]
        record(folder, bodies)
        t = time.perf_counter()
        index = ReplayIndex(list_sessions(folder))
        print(f"\nreplay miss: {index.count} recorded conversations of {args.sizes} KB "
              f"(index built in {time.perf_counter() - t:.2f} s)")
        largest = bodies[-1]
        raw = orjson.dumps(largest)
        t = time.perf_counter()
        for _ in range(10):
            orjson.loads(raw)
        parse = (time.perf_counter() - t) / 10
        n = len(largest["messages"])
        for label, where in (("last", n - 1), ("middle", n // 2), ("first", 0)):
            body = copy.deepcopy(largest)
            content = body["messages"][where]["content"]
            if isinstance(content, str):
                body["messages"][where]["content"] = content + " (changed)"
            else:
                block = next(b for b in content if b.get("type") in ("text", "tool_result"))
                key = "text" if block["type"] == "text" else "content"
                block[key] = str(block[key]) + " (changed)"
            t = time.perf_counter()
            miss = index.closest(body)
            took = time.perf_counter() - t
            print(f"  {len(raw) / 1e3:,.0f} KB request, differs at its {label} message: closest found in "
                  f"{took * 1000:.1f} ms = {took / parse:.1f}× one JSON parse of it ({miss.alike:.0%} alike, "
                  f"{miss.comparisons:,} line comparisons)")
            if args.old:
                t = time.perf_counter()
                old_search(index, body)
                print(f"    the old search: {time.perf_counter() - t:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
