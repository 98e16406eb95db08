"""The pure core's speed: stream events translated per second, a 1 MB request translated — and every
shape of a tool call printed as text still detected.

Run on its own (``python bench/core.py --json -``) it measures whatever ``inspector`` the import
path finds: ``bench/gateway.py --baseline REF`` runs it with another commit's tree first on
``PYTHONPATH``, alternating with this one, so two commits are compared in one session. It uses
only what the stream translators have offered since e071ee3 (``model``, ``tools``, ``repair``).

Workloads (CPU time, the best of ``repeat``):

* ``ollama`` / ``openai``: 20,000 token-sized text deltas in 16 KB reads, no tools offered — the
  figure issue 25 compares with e071ee3's (≈380k and ≈215k events/s there);
* ``… + tools``: the same with Claude Code's tools offered, as the gateway runs them (the text-call
  detector looks for every shape);
* ``shapes``: one answer per shape of a call printed as text, fed a few characters at a time
  through the Ollama-form translator with tools offered: each must come out as its tool call.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REQUEST = json.loads((ROOT / "tests" / "data" / "claude-code-request.json").read_text())
EVENTS = 20_000

#: One answer per shape a model prints a call in (inspector/protocol/_textcalls.py), with prose before.
SHAPES = {
    "tool_call-tag": '<tool_call>\n{"name": "Bash", "arguments": {"command": "ls"}}\n</tool_call>',
    "function-tag": "<function=Bash><parameter=command>ls</parameter></function>",
    "glm-tag": "<tool_call>Bash\n<arg_key>command</arg_key>\n<arg_value>ls</arg_value>\n</tool_call>",
    "mistral": '[TOOL_CALLS] [{"name": "Bash", "arguments": {"command": "ls"}}]',
    "python-tag": '<|python_tag|>{"name": "Bash", "parameters": {"command": "ls"}}<|eom_id|>',
    "deepseek": ('<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>Bash<｜tool▁sep｜>{"command": "ls"}<｜tool▁call▁end｜>'
                 '<｜tool▁calls▁end｜>'),
    "harmony": '<|channel|>commentary to=functions.Bash <|constrain|>json<|message|>{"command": "ls"}<|call|>',
    "json-list": '[{"name": "Bash", "arguments": {"command": "ls"}}]',
    "fenced-json": '```json\n{"name": "Bash", "parameters": {"command": "ls"}}\n```',
    "bare-json": '{"name": "Bash", "arguments": {"command": "ls"}}',
}
TOOLS = [{"name": "Bash", "description": "run a command",
          "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}},
         {"name": "Write", "description": "write a file", "input_schema": {"type": "object"}}]


def _ndjson(texts: list[str]) -> bytes:
    lines = [json.dumps({"model": "m", "message": {"role": "assistant", "content": t}, "done": False})
             for t in texts]
    lines.append(json.dumps({"model": "m", "message": {"role": "assistant", "content": ""}, "done": True,
                             "done_reason": "stop", "prompt_eval_count": 5, "eval_count": len(texts)}))
    return "\n".join(lines).encode() + b"\n"


def _sse(texts: list[str]) -> bytes:
    return b"".join(b"data: " + json.dumps({"id": "c", "choices": [{"index": 0, "delta": {"content": t},
                                                                     "finish_reason": None}]}).encode() + b"\n\n"
                    for t in texts) + b"data: [DONE]\n\n"


def _feed(cls: Any, data: bytes, tools: list[dict[str, Any]] | None, step: int = 16384) -> bytes:
    t = cls(model="m", tools=tools) if tools is not None else cls(model="m")
    out = [t.feed(data[i:i + step]) for i in range(0, len(data), step)]
    out.append(t.flush())
    return b"".join(out)


def throughput(repeat: int = 5) -> dict[str, float]:
    from inspector.protocol import OllamaStreamTranslator, OpenAIStreamTranslator

    texts = [f"tok{i} " for i in range(EVENTS)]
    tools = REQUEST["tools"]
    out = {}
    for name, cls, data in (("ollama", OllamaStreamTranslator, _ndjson(texts)),
                            ("openai", OpenAIStreamTranslator, _sse(texts))):
        for label, offered in ((name, None), (f"{name} + tools", tools)):
            best = float("inf")
            for _ in range(repeat):
                t0 = time.process_time()
                _feed(cls, data, offered)
                best = min(best, time.process_time() - t0)
            out[label] = EVENTS / best
    return out


def big_request(repeat: int = 5) -> dict[str, float]:
    import orjson

    from inspector.protocol import TranslateOptions, ollama_request, openai_request, parse_request

    turns: list[dict[str, Any]] = []
    while len(json.dumps(turns)) < 950_000:
        turns += [{"role": "user", "content": [{"type": "text", "text": "please look at this file " * 40}]},
                  {"role": "assistant", "content": [
                      {"type": "text", "text": "Reading it."},
                      {"type": "tool_use", "id": f"toolu_{len(turns)}", "name": "Read", "input": {"file_path": "/a"}}]},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"toolu_{len(turns)}",
                                                "content": "line of code\n" * 150}]},
                  {"role": "assistant", "content": "It looks fine."}]
    big = json.dumps({**REQUEST, "messages": REQUEST["messages"][:1] + turns}).encode()
    out = {}
    for name, fn in (("ollama", ollama_request), ("openai", openai_request)):
        best = float("inf")
        for _ in range(repeat):
            t0 = time.process_time()
            orjson.dumps(fn(parse_request(big), model="m", options=TranslateOptions()))
            best = min(best, time.process_time() - t0)
        out[f"1 MB request → {name} ms"] = best * 1000
    return out


def shapes() -> dict[str, bool]:
    """Each shape, fed 3 characters at a time after some prose: does its call come out as a tool_use?"""
    from inspector.protocol import OllamaStreamTranslator

    found = {}
    for shape, printed in SHAPES.items():
        text = "Let me look. " + printed
        data = _ndjson([text[i:i + 3] for i in range(0, len(text), 3)])
        out = _feed(OllamaStreamTranslator, data, TOOLS, step=97)
        found[shape] = b'"type":"tool_use"' in out and b'"name":"Bash"' in out
    return found


def measure(repeat: int = 5) -> dict[str, Any]:
    return {"events_per_s": throughput(repeat), "request": big_request(repeat), "shapes": shapes()}


def workload(form: str, events: int) -> None:
    """Build ``abs(events)`` token deltas and, when ``events`` > 0, translate them once (no tools): for an
    instruction count, ``bench/gateway.py`` runs this under callgrind with N and -N and takes the difference."""
    from inspector.protocol import OllamaStreamTranslator, OpenAIStreamTranslator

    texts = [f"tok{i} " for i in range(abs(events))]
    data = _ndjson(texts) if form == "ollama" else _sse(texts)
    if events > 0:
        _feed(OllamaStreamTranslator if form == "ollama" else OpenAIStreamTranslator, data, None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", help="write the figures as JSON to this file (- for stdout)")
    parser.add_argument("--workload", nargs=2, metavar=("FORM", "EVENTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.workload:
        workload(args.workload[0], int(args.workload[1]))
        return 0
    figures = measure(args.repeat)
    if args.json == "-":
        print(json.dumps(figures))
    else:
        for name, value in figures["events_per_s"].items():
            print(f"{name:20} {value:12,.0f} events/s")
        for name, value in figures["request"].items():
            print(f"{name:28} {value:8.1f}")
        missed = [s for s, ok in figures["shapes"].items() if not ok]
        print(f"text-call shapes detected: {len(figures['shapes']) - len(missed)}/{len(figures['shapes'])}"
              + (f" (missed: {', '.join(missed)})" if missed else ""))
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
