"""Tool-call repair inside the stream translators, judged by the official SDK."""

import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.protocol import OllamaStreamTranslator, OpenAIStreamTranslator, ollama_response, stream_problems
from inspector.testing.sdk import accumulate, feed_split

TOOLS = [{"name": "Write", "description": "", "input_schema": {
    "type": "object", "properties": {"file_path": {"type": "string"}, "content": {"type": "string"}},
    "required": ["file_path", "content"]}}]
TEXT_CALL = ('I will write it now.\n<tool_call>\n{"name": "Write", "arguments": '
             '{"file_path": "/tmp/a.txt", "content": "hello"}}\n</tool_call>')


def ollama_stream(text: str, pieces: int = 7) -> bytes:
    size = max(1, len(text) // pieces)
    lines = [{"model": "q", "message": {"role": "assistant", "content": text[i:i + size]}, "done": False}
             for i in range(0, len(text), size)]
    lines.append({"model": "q", "message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop"})
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


def translate(cls, raw: bytes, cuts=(), **kw) -> bytes:
    t = cls(model="claude-x", tools=TOOLS, **kw)
    return feed_split(t, raw, cuts), t


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=3000), max_size=15))
def test_a_text_call_split_anywhere_becomes_a_tool_use(cuts):
    raw = ollama_stream(TEXT_CALL, pieces=11)
    out, t = translate(OllamaStreamTranslator, raw, [c % (len(raw) + 1) for c in cuts])
    assert stream_problems(out) == []
    msg = accumulate(out)
    assert [b.type for b in msg.content] == ["text", "tool_use"] and msg.stop_reason == "tool_use"
    assert msg.content[0].text.strip() == "I will write it now."
    assert msg.content[1].input == {"file_path": "/tmp/a.txt", "content": "hello"}
    assert [n.rule for n in t.notes.of("repaired")] == ["text-call:tool_call-tag"]


def test_repair_off_leaves_the_text_alone():
    out, t = translate(OllamaStreamTranslator, ollama_stream(TEXT_CALL), repair=False)
    msg = accumulate(out)
    assert [b.type for b in msg.content] == ["text"] and "<tool_call>" in msg.content[0].text


def test_openai_qwen_coder_function_form_and_broken_json_fragments():
    def chunk(delta, finish=None):
        return b"data: " + json.dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}).encode() + b"\n\n"
    qwen = "<function=Write>\n<parameter=file_path>\n/b\n</parameter>\n<parameter=content>\nyo\n</parameter>\n</function>"
    raw = b"".join(chunk({"content": qwen[i:i + 9]}) for i in range(0, len(qwen), 9)) + chunk({}, "stop") + b"data: [DONE]\n\n"
    out, _ = translate(OpenAIStreamTranslator, raw)
    assert accumulate(out).content[0].input == {"file_path": "/b", "content": "yo"}
    broken = (chunk({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "Write", "arguments": "{'file_path': '/c',"}}]})
              + chunk({"tool_calls": [{"index": 0, "function": {"arguments": " 'content': 'z'"}}]})
              + chunk({}, "tool_calls") + b"data: [DONE]\n\n")
    out, t = translate(OpenAIStreamTranslator, broken)
    assert accumulate(out).content[0].input == {"file_path": "/c", "content": "z"}
    assert [n.rule for n in t.notes.of("repaired")] == ["args:invalid-json"]


def test_schema_violation_and_unknown_tool_are_noted_and_sent_as_made():
    data = {"message": {"role": "assistant", "content": "", "tool_calls": [
        {"function": {"name": "Write", "arguments": {"file_path": "/x"}}},
        {"function": {"name": "Delete", "arguments": {"path": "/"}}}]}, "done": True}
    from inspector.protocol import Notes
    notes = Notes()
    msg = ollama_response(data, model="m", tools=TOOLS, notes=notes)
    assert [b["name"] for b in msg["content"]] == ["Write", "Delete"]
    assert sorted(n.rule for n in notes.of("error")) == ["schema:missing-required", "tool:unknown"]


@pytest.mark.parametrize("text", ["Plain answer with a {brace} and ```code``` and <tool_call> mention.",
                                  '{"name": "NotATool", "arguments": {}}'])
def test_no_false_positives(text):
    out, t = translate(OllamaStreamTranslator, ollama_stream(text))
    msg = accumulate(out)
    assert msg.stop_reason == "end_turn" and msg.content[0].text == text and not t.notes.of("repaired")
