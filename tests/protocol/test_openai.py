import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.protocol import (
    OpenAIStreamTranslator,
    ToolNames,
    TranslateOptions,
    openai_request,
    openai_response,
    parse_request,
    stream_problems,
)
from inspector.testing.backends import Call, Reply, openai_chunks
from inspector.testing.sdk import accumulate, feed_split, parse_message


def body(**kw):
    b = {"model": "claude-x", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    b.update(kw)
    return parse_request(orjson.dumps(b))


def translate(raw: bytes, cuts=(), **kw) -> bytes:
    return feed_split(OpenAIStreamTranslator(model="claude-x", input_tokens=50, **kw), raw, cuts)


def sse(*chunks) -> bytes:
    return b"".join(b"data: " + (c if isinstance(c, bytes) else json.dumps(c).encode()) + b"\n\n" for c in chunks)


def delta(d, finish=None):
    return {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": d, "finish_reason": finish}]}


def test_request_mapping_tool_round_trip_with_images_and_errors():
    r = body(system=[{"type": "text", "text": "S"}], stream=True, stop_sequences=list("abcde"),
             tools=[{"name": "Bash", "description": "run", "input_schema": {"type": "object"}}],
             tool_choice={"type": "any", "disable_parallel_tool_use": True},
             messages=[
                 {"role": "user", "content": "go"},
                 {"role": "assistant", "content": [{"type": "thinking", "thinking": "r", "signature": ""},
                                                   {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"c": 1}},
                                                   {"type": "tool_use", "id": "t2", "name": "Bash", "input": {}}]},
                 {"role": "user", "content": [
                     {"type": "tool_result", "tool_use_id": "t1", "content": [
                         {"type": "text", "text": "out"},
                         {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "QQ"}}]},
                     {"type": "tool_result", "tool_use_id": "t2", "content": "bad", "is_error": True},
                     {"type": "text", "text": "next"}]},
             ])
    out = openai_request(r, model="qwen")
    assert out["stream_options"] == {"include_usage": True}
    assert out["stop"] == list("abcd") and out["tool_choice"] == "required" and out["parallel_tool_calls"] is False
    assert out["messages"] == [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": "", "reasoning_content": "r", "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "Bash", "arguments": '{"c":1}'}},
            {"id": "t2", "type": "function", "function": {"name": "Bash", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "out"},
        {"role": "tool", "tool_call_id": "t2", "content": "Error: bad"},
        {"role": "user", "content": [{"type": "text", "text": "next"},
                                     {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,QQ"}}]},
    ]


def test_interrupted_calls_and_orphan_results_keep_the_ordering_rule():
    r = body(messages=[
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}]},
        {"role": "system", "content": "reminder"},
        {"role": "user", "content": [{"type": "text", "text": "never mind"},
                                     {"type": "tool_result", "tool_use_id": "zz", "content": "stray"}]},
    ])
    messages = openai_request(r, model="m")["messages"]
    assert [(m["role"], m.get("tool_call_id")) for m in messages] == \
        [("user", None), ("assistant", None), ("tool", "t1"), ("user", None)]
    assert messages[-1]["content"].endswith("reminder\n\nnever mind"), "the user's words stay last"
    old = openai_request(body(messages=r.raw["messages"]), model="m", options=TranslateOptions(system_messages="user"))
    assert [(m["role"], m.get("tool_call_id")) for m in old["messages"]] == \
        [("user", None), ("assistant", None), ("tool", "t1"), ("user", None), ("user", None)]


def test_long_mcp_tool_names_are_mapped_both_ways():
    long = "mcp__some_server__" + "x" * 70
    names = ToolNames()
    r = body(tools=[{"name": long, "input_schema": {"type": "object"}}], tool_choice={"type": "tool", "name": long})
    out = openai_request(r, model="m", names=names)
    short = out["tools"][0]["function"]["name"]
    assert len(short) <= 64 and out["tool_choice"]["function"]["name"] == short
    raw = b"".join(openai_chunks(Reply(calls=[Call(short, {"a": 1})]), "m", True))
    msg = accumulate(translate(raw, names=names))
    assert msg.content[0].name == long


def test_claude_code_request_merges_its_late_system_message_into_the_users_turn(claude_code_request):
    r = parse_request(claude_code_request)
    out = openai_request(r, model="m")
    assert [m["role"] for m in out["messages"]] == ["system", "user"]
    assert out["messages"][1]["content"].endswith("Write hi into hello.txt"), "the user's words come last"
    assert "# Environment" in out["messages"][1]["content"]
    assert any(n.rule == "system:merged" for n in r.notes)
    inline = openai_request(parse_request(claude_code_request), model="m",
                            options=TranslateOptions(system_messages="inline"))
    assert "system" in [m["role"] for m in inline["messages"][1:]]
    old = openai_request(parse_request(claude_code_request), model="m", options=TranslateOptions(system_messages="auto"))
    assert [m["role"] for m in old["messages"]] == ["system", "user", "user"], "recordings made with auto replay as made"


@pytest.mark.parametrize("option, thinking, expected", [
    ("", {"type": "enabled", "budget_tokens": 2000}, None),
    ("auto", {"type": "enabled", "budget_tokens": 1024}, "low"),
    ("auto", {"type": "enabled", "budget_tokens": 8000}, "medium"),
    ("auto", {"type": "enabled", "budget_tokens": 30000}, "high"),
    ("high", None, "high"),
])
def test_reasoning_effort(option, thinking, expected):
    r = body(thinking=thinking) if thinking else body()
    assert openai_request(r, model="m", options=TranslateOptions(reasoning_effort=option)).get(
        "reasoning_effort") == expected


REPLIES = [
    Reply(text="Hello, world"),
    Reply(thinking="Let me think", text="Done"),
    Reply(text="Writing.", calls=[Call("Write", {"file_path": "/a", "content": "é ✓"}, id="call_abc")]),
    Reply(calls=[Call("Read", {"file_path": "/a"}, id="c1"), Call("Read", {"file_path": "/b"}, id="c2")]),
    Reply(text="cut short", done_reason="length"),
]


@pytest.mark.parametrize("reply", REPLIES)
def test_stream_and_non_stream_agree(reply):
    streamed = accumulate(translate(b"".join(openai_chunks(reply, "qwen", True))))
    whole = parse_message(openai_response(orjson.loads(openai_chunks(reply, "qwen", False)[0]), model="claude-x"))
    for m in (streamed, whole):
        assert m.stop_reason == ("tool_use" if reply.calls else "max_tokens" if reply.done_reason == "length"
                                 else "end_turn")
        assert (m.usage.input_tokens, m.usage.output_tokens) == (42, 7)
        assert "".join(b.text for b in m.content if b.type == "text") == reply.text
        assert "".join(b.thinking for b in m.content if b.type == "thinking") == reply.thinking
        assert [(b.id, b.name, b.input) for b in m.content if b.type == "tool_use"] == \
            [(c.id, c.name, c.arguments) for c in reply.calls]


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(REPLIES), st.lists(st.integers(min_value=0, max_value=6000), max_size=25))
def test_any_byte_split_gives_the_same_message(reply, cuts):
    raw = b"".join(openai_chunks(reply, "qwen", True))
    split = translate(raw, [c % (len(raw) + 1) for c in cuts])
    assert stream_problems(split) == []
    a, b = accumulate(translate(raw)), accumulate(split)
    assert [c.model_dump(exclude={"id"}) for c in a.content] == [c.model_dump(exclude={"id"}) for c in b.content]
    assert (a.stop_reason, a.usage) == (b.stop_reason, b.usage)


def test_ollama_v1_parallel_calls_all_at_index_0_are_separate_blocks():
    raw = sse(delta({"role": "assistant", "tool_calls": [
        {"index": 0, "id": "call_1", "type": "function", "function": {"name": "Read", "arguments": '{"p":1}'}}]}),
        delta({"tool_calls": [{"index": 0, "id": "call_2", "type": "function",
                               "function": {"name": "Read", "arguments": '{"p":2}'}}]}),
        delta({}, "tool_calls"), b"[DONE]")
    msg = accumulate(translate(raw))
    assert [(b.id, b.input) for b in msg.content] == [("call_1", {"p": 1}), ("call_2", {"p": 2})]


def test_content_and_finish_in_one_chunk_and_usage_after_finish():
    raw = sse(delta({"content": "All done"}, "stop"),
              {"id": "c", "choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 3}}, b"[DONE]")
    out = translate(raw)
    assert stream_problems(out) == []
    msg = accumulate(out)
    assert (msg.content[0].text, msg.stop_reason, msg.usage.input_tokens, msg.usage.output_tokens) == \
        ("All done", "end_turn", 11, 3)


def test_finish_without_done_is_accepted_but_no_finish_is_a_cut():
    msg = accumulate(translate(sse(delta({"content": "ok"}, "stop"))))
    assert msg.stop_reason == "end_turn"
    out = translate(sse(delta({"content": "partial"})))
    assert b"event: error" in out and stream_problems(out) == []


def test_broken_argument_json_is_repaired_into_one_valid_delta():
    raw = sse(delta({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "Bash", "arguments": "{'command': "}}]}),
              delta({"tool_calls": [{"index": 0, "function": {"arguments": "'ls',}"}}]}),
              delta({}, "tool_calls"), b"[DONE]")
    t = OpenAIStreamTranslator(model="m")
    out = t.feed(raw) + t.flush()
    assert stream_problems(out) == []
    assert accumulate(out).content[0].input == {"command": "ls"}
    assert any("repaired" in str(n) for n in t.notes.of("repaired"))


def test_reasoning_field_variants_and_keepalive_comments():
    raw = b": keep-alive\n\n" + sse(delta({"reasoning": "vllm style"}), delta({"reasoning_content": " deepseek"}),
                                    delta({"content": "x"}, "stop"), b"[DONE]")
    out = translate(raw)
    assert out.index(b"event: ping") < out.index(b"thinking_delta")
    assert accumulate(out).content[0].thinking == "vllm style deepseek"


def test_error_chunk_and_garbage():
    out = translate(sse({"error": {"message": "This model's maximum context length is 8192 tokens"}}))
    assert b"Prompt is too long" in out and stream_problems(out) == []
    out = translate(b"data: {not json\n\n")
    assert b"not an OpenAI chat completion" in out
