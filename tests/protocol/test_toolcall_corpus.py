"""Real model output (tests/data/toolcalls/, sources and licences in SOURCES.md) through the
translators, streaming and not, Ollama and OpenAI forms, judged by the official SDK."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import orjson
import pytest

from inspector.protocol import (
    OLLAMA,
    OPENAI,
    Notes,
    OllamaStreamTranslator,
    OpenAIStreamTranslator,
    ollama_response,
    openai_response,
    stream_problems,
)
from inspector.testing.sdk import accumulate, cut_calls, feed_split, parse_message, run_calls

CORPUS = Path(__file__).resolve().parent.parent / "data" / "toolcalls"
SAMPLES = [(f.stem, data["tools"], s) for f in sorted(CORPUS.glob("*.json"))
           for data in [json.loads(f.read_text())] for s in data["samples"]]


def _ollama(text: str, size: int) -> bytes:
    lines = [{"model": "m", "message": {"role": "assistant", "content": text[i:i + size]}, "done": False}
             for i in range(0, len(text), size)]
    lines.append({"model": "m", "message": {"role": "assistant", "content": ""}, "done": True,
                  "done_reason": "stop", "prompt_eval_count": 10, "eval_count": 5})
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


def _openai(text: str, size: int) -> bytes:
    def chunk(delta, finish=None):
        return b"data: " + orjson.dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}) + b"\n\n"
    return (b"".join(chunk({"content": text[i:i + size]}) for i in range(0, len(text), size))
            + chunk({}, "stop") + b"data: [DONE]\n\n")


def every_path(text: str, tools: list[dict]):
    """(path, SDK Message, notes, the calls Claude Code would run, the calls left open as cut): a token
    or so at a time, one big chunk, and not streamed (where a cut call is simply absent)."""
    for size in (3, 1 << 20):
        for cls, raw in ((OllamaStreamTranslator, _ollama(text, size)), (OpenAIStreamTranslator, _openai(text, size))):
            t = cls(model="claude-x", tools=tools)
            out = feed_split(t, raw)
            assert stream_problems(out) == [], (cls.form.name, size)
            yield (f"{cls.form.name}/stream/{size}", accumulate(out), t.notes,
                   [list(c) for c in run_calls(out)], cut_calls(out))
    for name, message in (
            (OLLAMA.name, lambda notes: ollama_response({"message": {"role": "assistant", "content": text}, "done": True},
                                                     model="m", tools=tools, notes=notes)),
            (OPENAI.name, lambda notes: openai_response({"choices": [{"index": 0, "message": {
                "role": "assistant", "content": text}, "finish_reason": "stop"}]}, model="m", tools=tools,
                notes=notes))):
        notes = Notes()
        msg = parse_message(message(notes))
        yield name, msg, notes, [[b.name, b.input] for b in msg.content if b.type == "tool_use"], None


@pytest.mark.parametrize("source, tools, sample", SAMPLES, ids=[f"{s[0]}:{s[2]['id']}" for s in SAMPLES])
def test_real_output_becomes_the_calls_the_model_meant(source, tools, sample):
    tools = sample.get("tools", tools)
    for where, msg, notes, calls, cut in every_path(sample["text"], tools):
        assert calls == sample["calls"], where
        if cut is not None:
            assert cut == ([sample["cut"]] if "cut" in sample else []), where
        assert msg.stop_reason == ("tool_use" if sample["calls"] else "max_tokens" if "cut" in sample
                                   else "end_turn"), where
        if "content" in sample:
            assert "".join(b.text for b in msg.content if b.type == "text") == sample["content"], where
        if "thinking" in sample:
            assert "".join(b.thinking for b in msg.content if b.type == "thinking") == sample["thinking"], where
        rules = {n.rule for n in notes}
        assert any(r and r.startswith("text-call:") for r in rules) == bool(sample["calls"] or "cut" in sample), where
        assert ("text-call:cut" in rules) == ("cut" in sample), where
        assert ("text-call:unclosed" in rules) == bool(sample.get("unclosed")), where


def test_the_corpus_covers_every_shape():
    """Each shape the repair knows has real output behind it (not only our own renderings)."""
    shapes: Counter[str] = Counter()
    for _, tools, sample in SAMPLES:
        for _, _, notes, _, _ in list(every_path(sample["text"], sample.get("tools", tools)))[-1:]:
            shapes.update(n.rule.split(":", 1)[1] for n in notes if n.rule and n.rule.startswith("text-call:"))
    assert {"tool_call-tag", "function-tag", "mistral", "deepseek", "harmony", "bare-json"} <= set(shapes), shapes
