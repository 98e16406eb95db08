"""``make bench``: prompt-cache reuse on llama.cpp's real ``llama-server`` with 2 slots, for 2–4
Claude Code–like conversations at once, with and without the gateway's scheduling.

Each conversation is an agent of its own system prompt (Claude Code's own text, a first line of its
own: a subagent, or a session in another folder) that calls a tool every turn — the model is forced to
by a grammar (``call_grammar``), so every answer is a ``tool_use`` — and gets the result back, as
Claude Code's agents do; all of them start at once. The figure is the backend's own: llama-server's
``timings.cache_n`` (the prompt tokens it took from a slot's cache), which the gateway records as
``usage.cache_read_input_tokens``, against the whole prompt (``cache_n + prompt_n``).

* **without**: the gateway passes requests on as they come (``--set backend_concurrency=unlimited``);
  llama-server queues what its 2 slots cannot take and gives a freed slot to the next request,
  whichever conversation's prefix it held — and, by default, keeps the prefixes it evicts in host
  memory (``--cache-ram``, 8 GiB) to restore them later; each case runs with that cache and without
  it (``--cache-ram 0``: llama.cpp builds before it, and servers without one);
* **with** (the defaults a user gets): the gateway asks llama-server how many slots it has
  (``/props total_slots``), lets that many through, sends each conversation to the slot that holds
  its prefix (``id_slot``) and keeps a slot for its conversation for ``queue_hold`` seconds after an
  answer that asks for a tool.

The SmolLM2-135M GGUF (``make embedded``) and llama-server b11434 (``make llama-server``) are needed;
without them it says so and exits 0. ``--json FILE`` writes the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

import httpx

from inspector.protocol import MessageAccumulator
from inspector.recording import list_sessions
from inspector.testing.gateway import Gateway
from inspector.testing.llama_server import TOOL_CALL_TEMPLATE, LlamaServer, call_grammar, why_unavailable

REQUEST = json.loads((ROOT / "tests" / "data" / "claude-code-request.json").read_text())
#: A slice of Claude Code 2.1.328's own system prompt (the whole is ≈1,800 tokens: minutes per cold
#: prefill for a 135M model on a busy 2-core machine; the ratio of reused tokens is what is measured).
SYSTEM = REQUEST["system"][2]["text"][:1400]
READ = {"name": "Read", "description": "Read a file from the working directory.",
        "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]}}
GRAMMAR = call_grammar("Read", '"{\\"file_path\\": \\"" [a-z]{1,6} ".py\\"}"')
FILE = "def handler(event):\n    return {'status': 200, 'body': event.get('body', '')}\n"


async def conversation(client: httpx.AsyncClient, url: str, n: int, turns: int) -> int:
    """One agent: ``turns`` requests, each answered with a Read call whose result goes back."""
    system = f"You are subagent {n}, working in /home/dev/service-{n}.\n{SYSTEM}"
    messages: list[dict[str, Any]] = [{"role": "user", "content": f"Review service {n}: read its handler first."}]
    headers = {"x-claude-code-session-id": "b3e5c0de-0000-4000-8000-000000000001",
               "x-claude-code-agent-id": f"agent{n:02d}", "anthropic-version": "2023-06-01"}
    for turn in range(turns):
        body = {"model": "claude-haiku-4-5", "max_tokens": 48, "stream": True, "system": system,
                "tools": [READ], "messages": messages}
        async with client.stream("POST", url + "/v1/messages", json=body, headers=headers) as r:
            raw = b"".join([chunk async for chunk in r.aiter_bytes()])
        acc = MessageAccumulator()
        acc.feed(raw)
        acc.flush()
        message = acc.message or {}
        calls = [b for b in message.get("content") or [] if b.get("type") == "tool_use"]
        if r.status_code != 200 or not calls:
            raise RuntimeError(f"conversation {n} turn {turn}: HTTP {r.status_code}, {raw[-300:]!r}")
        messages = messages + [
            {"role": "assistant", "content": calls},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": c["id"], "content": FILE} for c in calls]}]
    return turns


def run(conversations: int, turns: int, *, scheduled: bool, cache_ram: bool) -> dict[str, Any]:
    record = tempfile.mkdtemp(prefix="bench-slots-")
    options: dict[str, Any] = {"model": "smollm2", "record_dir": record}
    if not scheduled:
        options["backend_concurrency"] = "unlimited"
    with LlamaServer(parallel=2, ctx_size=8192, n_predict=48, chat_template=TOOL_CALL_TEMPLATE,
                     grammar=GRAMMAR, extra=() if cache_ram else ("--cache-ram", "0")) as server:
        with Gateway(server.url, backend="openai", quiet=True, **options) as gw:
            async def all_at_once() -> None:
                async with httpx.AsyncClient(timeout=httpx.Timeout(1800)) as client:
                    await asyncio.gather(*(conversation(client, gw.url, n, turns) for n in range(conversations)))

            started = time.monotonic()
            asyncio.run(all_at_once())
            wall = time.monotonic() - started
    metas = [ex.meta for s in list_sessions(record) for ex in s.exchanges() if ex.meta.get("kind") == "messages"]
    cached = sum(int(m["usage"].get("cache_read_input_tokens") or 0) for m in metas)
    evaluated = sum(int(m["usage"].get("input_tokens") or 0) for m in metas)
    waits = [m["queue"]["wait_ms"] for m in metas if isinstance(m.get("queue"), dict) and m["queue"]["wait_ms"]]
    return {"conversations": conversations, "turns": turns, "requests": len(metas), "scheduled": scheduled,
            "cache_ram": cache_ram,
            "prompt_tokens": cached + evaluated, "cached_tokens": cached, "evaluated_tokens": evaluated,
            "reuse": cached / (cached + evaluated) if cached + evaluated else None, "wall_s": round(wall, 1),
            "queue_wait_p50_ms": statistics.median(waits) if waits else 0.0,
            "slots_warm": sum(bool(m.get("queue", {}).get("warm")) for m in metas)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", default="2,3,4", help="how many at once, comma-separated (2,3,4)")
    parser.add_argument("--turns", type=int, default=4, help="requests per conversation")
    parser.add_argument("--cache-ram", default="on,off",
                        help="llama-server's host-memory prompt cache: on (its default, --cache-ram 8192), off "
                             "(--cache-ram 0, as in builds before it, and servers without one), or both (on,off)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    if problem := why_unavailable():
        print(f"slots: skipped ({problem})")
        return 0
    print(f"\nprompt-cache reuse on llama-server (2 slots, SmolLM2-135M): conversations of {args.turns} tool-calling "
          f"turns, all at once, through the gateway")
    print(f"{'server prompt cache':<22} {'conversations':>13}  {'scheduling':<11} {'reused':>7}  "
          f"{'prompt tokens evaluated':>23}  {'wall':>7}  queue wait p50")
    results = []
    for ram in args.cache_ram.split(","):
        label = "in RAM (default)" if ram == "on" else "--cache-ram 0"
        for n in (int(x) for x in args.conversations.split(",")):
            for scheduled in (False, True):
                r = run(n, args.turns, scheduled=scheduled, cache_ram=ram == "on")
                results.append(r)
                print(f"{label:<22} {n:>13}  {'with' if scheduled else 'without':<11} {r['reuse']:>7.0%}  "
                      f"{r['evaluated_tokens']:>10,} of {r['prompt_tokens']:>10,}  {r['wall_s']:>6.1f}s  "
                      f"{r['queue_wait_p50_ms'] / 1000:.2f}s", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
