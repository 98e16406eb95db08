"""``make bench``: how many of a small model's answers to Claude Code become valid tool calls, without the
repair ladder, with repair only, and with the re-ask — and what the re-ask costs in seconds.

The real thing: llama.cpp's own ``llama-server`` (``make llama-server``) with the SmolLM2-135M GGUF
(``make embedded``), whose chat template renders no tools, sampling pinned (temperature 0, top-k 1,
a seed, a repeat penalty of 1.3 — without one a 135M model repeats a string until the token limit),
answers capped at 256 tokens (``max_tokens_limit``). The requests are real Claude Code 2.1.328
requests that ask for something to be done: the shipped recording that asks to write a file
(recordings/), ``tests/data/claude-code-request.json``, and the same request with its prompt replaced
by six other tool-asking prompts (synthesized here: the system prompt, tools and reminders are
Claude Code's own).

Each request is sent once, through the gateway with the ladder on (``--set reask=auto``), and recorded.
A model's first answer does not depend on the ladder (the same request, pinned sampling), so the three
figures come from that one run: *without the ladder* — the first answer read with repair off
(``TranslateOptions(repair=False)``), *repair only* — read with repair on, no re-ask, and *with the
re-ask* — what the gateway sent Claude Code. A call is valid when it names an offered tool and its
input satisfies the tool's ``input_schema`` (jsonschema), in an answer that ends ``tool_use``.

Says why and exits 0 when llama-server or the GGUF is missing.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

import httpx
import jsonschema

from inspector.protocol import FORMS, Notes, ToolNames, TranslateOptions, parse_request
from inspector.recording import ExchangeRecord, list_sessions
from inspector.testing import llama_server as ls
from inspector.testing.gateway import Gateway

DATA = ROOT / "tests" / "data"
PROMPTS = ["Create notes.md containing a short TODO list.", "Read the file README.md.",
           "Run `ls -la` in this directory.", "Replace 'foo' with 'bar' in config.py.",
           "Write a Python script hello.py that prints hello.", "Make a folder named build."]
LIMIT = 256


def requests() -> list[tuple[str, dict[str, Any]]]:
    """``(where it comes from, the request)``: recorded ones that ask for a tool, then synthesized ones."""
    out = []
    for session in list_sessions(ROOT / "recordings"):
        for ex in session.exchanges():
            body = ex.request_json() if ex.kind == "messages" else None
            if not isinstance(body, dict) or not body.get("tools"):
                continue
            said = [m for m in body.get("messages") or [] if m.get("role") == "user"]
            if said and "Write" in json.dumps(said[-1]["content"])[-300:]:
                out.append((ex.ref, body))
    base = json.loads((DATA / "claude-code-request.json").read_text())
    out.append(("tests/data/claude-code-request.json", base))
    for prompt in PROMPTS:
        body = copy.deepcopy(base)
        for message in reversed(body["messages"]):
            if message["role"] == "user":
                texts = [b for b in message["content"] if b.get("type") == "text"]
                texts[-1]["text"] = prompt
                break
        out.append((f"synthesized: {prompt}", body))
    return out


def _valid(message: dict[str, Any] | None, schemas: dict[str, Any]) -> bool:
    if not message or message.get("stop_reason") != "tool_use":
        return False
    calls = [b for b in message.get("content") or [] if b.get("type") == "tool_use"]
    if not calls:
        return False
    for call in calls:
        if call.get("name") not in schemas:
            return False
        try:
            jsonschema.validate(call.get("input"), schemas[call["name"]])
        except jsonschema.ValidationError:
            return False
    return True


def _first_answer(ex: ExchangeRecord, *, repair: bool) -> dict[str, Any] | None:
    """The first attempt's answer as the gateway would have sent it with ``repair`` and no re-ask."""
    meta = ex.meta
    form = FORMS[str(meta.get("form"))]
    req = parse_request(ex.request_body())
    names = ToolNames() if form.uses_tool_names() else None
    form.build_request(req, model="m", options=TranslateOptions(), names=names)  # the names, as sent
    t = form.stream_processor(options=TranslateOptions(repair=repair), names=names, model=req.model,
                              backend_model="m", backend="bench", input_tokens=0, notes=Notes(), tools=req.tools)
    for chunk in ex.response("backend")[2]:
        t.feed(chunk.data)
    t.flush()
    return t.message()


def _answer(ex: ExchangeRecord) -> dict[str, Any] | None:
    """What Claude Code got (the stream added up)."""
    from inspector.recording import response_message

    return response_message(ex)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=0, help="only the first N requests (default: all)")
    parser.add_argument("--json", action="store_true", help="the figures as JSON")
    args = parser.parse_args(argv)
    reason = ls.why_unavailable()
    if reason:
        print(f"bench/toolcalls.py: skipped — {reason}")
        return 0
    todo = requests()[: args.requests or None]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-toolcalls-") as tmp:
        with ls.LlamaServer(ctx_size=8192, extra=("--repeat-penalty", "1.3")) as server, \
                Gateway(server.url, backend="openai", model=ls.MODEL, record_dir=str(Path(tmp) / "rec"),
                        max_tokens_limit=LIMIT) as gw:
            for where, body in todo:
                started = time.monotonic()
                r = httpx.post(gw.url + "/v1/messages", json={**body, "stream": True}, timeout=1800,
                               headers={"x-claude-code-session-id": f"bench-{len(rows)}"})
                r.raise_for_status()
                rows.append({"request": where, "seconds": round(time.monotonic() - started, 1)})
        gw_log = gw.log()  # the gateway has stopped: every exchange.json is written
        recorded = [e for s in list_sessions(Path(tmp) / "rec") for e in s.exchanges() if e.kind == "messages"]
        for row, ex in zip(rows, sorted(recorded, key=lambda e: e.meta.get("started") or ""), strict=True):
            schemas = {t["name"]: t["input_schema"] for t in ex.request_json().get("tools") or []}
            reask = ex.meta.get("reask") or {}
            answer = _answer(ex) or {}
            row.update({"called": [b.get("name") for b in answer.get("content") or [] if b.get("type") == "tool_use"],
                        "without the ladder": _valid(_first_answer(ex, repair=False), schemas),
                        "repair only": _valid(_first_answer(ex, repair=True), schemas),
                        "with the re-ask": _valid(_answer(ex), schemas),
                        "reask": {k: reask.get(k) for k in ("reason", "how", "outcome", "why", "seconds")}
                        if reask else None})
    n = len(rows)
    shares = {k: sum(r[k] for r in rows) for k in ("without the ladder", "repair only", "with the re-ask")}
    costs = [r["reask"]["seconds"] for r in rows if r["reask"] and isinstance(r["reask"].get("seconds"), (int, float))]
    summary = {"requests": n, "model": f"{ls.MODEL} (llama-server b{ls.BUILD}, SmolLM2's own template)",
               "valid": shares, "reasks": len(costs),
               "reask_seconds": {"p50": round(statistics.median(costs), 1) if costs else None,
                                 "max": round(max(costs), 1) if costs else None},
               "answer_seconds_p50": round(statistics.median([r["seconds"] for r in rows]), 1) if rows else None}
    if args.json:
        print(json.dumps({"summary": summary, "rows": rows}, indent=2))
        return 0
    print(f"tool calls from {summary['model']}, {n} Claude Code requests that ask for a tool "
          f"(answers capped at {LIMIT} tokens); per request: without · repair · re-ask, the tool called")
    for key, valid in shares.items():
        print(f"  valid calls {key:<20} {valid}/{n}  ({valid / n:.0%})" if n else f"  {key}: no requests")
    if costs:
        print(f"  the re-ask's cost: {summary['reask_seconds']['p50']} s p50, {summary['reask_seconds']['max']} s max "
              f"({len(costs)} re-asks; a whole answer took {summary['answer_seconds_p50']} s p50)")
    for row in rows:
        marks = " ".join("✓" if row[k] else "·" for k in shares)
        reask = row["reask"] or {}
        called = ", ".join(row["called"]) or "no call"
        print(f"    {marks}  {row['request'][:56]:<56}  {called:<8} {reask.get('outcome') or '':<10} "
              f"{reask.get('why') or ''}"[:170])
    if "Traceback" in gw_log:
        print(gw_log[-3000:], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
