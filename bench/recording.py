"""``make bench``: what a recording costs — on disk and in the recording sidecar's CPU — for the
40-turn session of issue 25 (Claude Code's real 50 KB first request, ≈3 KB more per turn, the
cache mark moving as Claude Code moves it), stored whole (format 1's way) and as pieces (format 2).

Each exchange is written as the sidecar writes it (``RecordingStore``, fed the raw bodies, so it
parses them as the sidecar does): its two requests, a short streamed answer, ``exchange.json``.
The two ways alternate, session after session, in one process; CPU time (not wall time) per
exchange, the median of the rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

from inspector.protocol import ollama_request, parse_request
from inspector.recording import RecordingStore
from inspector.testing.synth import growing_session

ANSWER = b"".join(orjson.dumps({"model": "m", "message": {"role": "assistant", "content": f"word{i} "},
                                "done": False}) + b"\n" for i in range(40))


def exchanges(turns: int) -> list[tuple[bytes, bytes]]:
    out = []
    for body in growing_session(turns):
        raw = orjson.dumps(body)
        out.append((raw, orjson.dumps(ollama_request(parse_request(raw), model="qwen3:8b"))))
    return out


def record(pairs: list[tuple[bytes, bytes]], *, pieces: bool) -> tuple[float, dict[str, int]]:
    """(CPU seconds per exchange, bytes on disk by file name) for one session."""
    root = Path(tempfile.mkdtemp(prefix="bench-recording-"))
    try:
        store = RecordingStore(root, pieces=pieces)
        t0 = time.process_time()
        for raw, sent in pairs:
            w = store.exchange(session_id="bench-session", id_source="header", client="claude-cli/2.1.328",
                               kind="messages", meta={})
            assert w is not None
            w.requests({"method": "POST", "url": "http://127.0.0.1:4000/v1/messages?beta=true",
                        "path": "/v1/messages?beta=true", "headers": [("content-type", "application/json"),
                                                                     ("x-api-key", "sk-bench")],
                        "body": raw, "content_type": "application/json"},
                       {"method": "POST", "url": "http://127.0.0.1:11434/api/chat", "path": "/api/chat",
                        "headers": [("content-type", "application/json")], "body": sent,
                        "content_type": "application/json"})
            w.response_head("backend", 200, [("content-type", "application/x-ndjson")])
            for i in range(0, len(ANSWER), 80):
                w.chunk("backend", ANSWER[i:i + 80])
            w.finish({"form": "ollama", "status": {"client": 200, "backend": 200}})
        cpu = (time.process_time() - t0) / len(pairs)
        sizes: dict[str, int] = {}
        for folder, _, files in os.walk(root):
            for name in files:
                sizes[name] = sizes.get(name, 0) + os.path.getsize(os.path.join(folder, name))
        return cpu, sizes
    finally:
        shutil.rmtree(root, ignore_errors=True)


def bench(turns: int = 40, rounds: int = 7) -> dict[str, float]:
    pairs = exchanges(turns)
    sent = sum(len(raw) for raw, _ in pairs)
    cpu: dict[bool, list[float]] = {False: [], True: []}
    sizes: dict[bool, dict[str, int]] = {}
    for _ in range(rounds):
        for pieces in (False, True):
            c, sizes[pieces] = record(pairs, pieces=pieces)
            cpu[pieces].append(c)
    out = {"sent_mb": sent / 1e6}
    for pieces, name in ((False, "whole"), (True, "pieces")):
        s = sizes[pieces]
        requests = sum(v for k, v in s.items() if "request" in k or k == "pieces.jsonl")
        out[f"{name}_requests_mb"] = requests / 1e6
        out[f"{name}_requests_pct"] = 100 * requests / sent
        out[f"{name}_disk_mb"] = sum(s.values()) / 1e6
        out[f"{name}_cpu_ms"] = statistics.median(cpu[pieces]) * 1000
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    r = bench(args.turns, args.rounds)
    print(f"\nrecordings: a {args.turns}-turn Claude Code session sending {r['sent_mb']:.2f} MB of requests, "
          f"{args.rounds} alternating rounds (CPU time per exchange, median)")
    print(f"{'':28} {'requests on disk':>18} {'% of sent':>10} {'whole folder':>13} {'CPU/exchange':>13}")
    for name, label in (("whole", "whole (format 1's way)"), ("pieces", "pieces (format 2)")):
        print(f"{label:28} {r[name + '_requests_mb']:15.2f} MB {r[name + '_requests_pct']:9.1f} % "
              f"{r[name + '_disk_mb']:10.2f} MB {r[name + '_cpu_ms']:10.2f} ms")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(r, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
