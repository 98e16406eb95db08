import json
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.protocol import (
    OPENAI,
    Answer,
    ModelFacts,
    OpenAIStreamTranslator,
    ToolNames,
    TranslateOptions,
    openai_facts,
    openai_request,
    openai_response,
    openai_usage,
    parse_request,
    stream_problems,
)
from inspector.testing.backends import Call, Reply, openai_chunks
from inspector.testing.profiles import examples
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
        # the tool result's image came before the user's words: it stays before them
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,QQ"}},
                                     {"type": "text", "text": "next"}]},
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
    ("auto", {"type": "adaptive"}, None),
])
def test_reasoning_effort(option, thinking, expected):
    r = body(thinking=thinking) if thinking else body()
    assert openai_request(r, model="m", options=TranslateOptions(reasoning_effort=option)).get(
        "reasoning_effort") == expected


def test_claude_codes_effort_becomes_reasoning_effort(claude_code_request):
    """Claude Code 2.1.328 sends thinking {type: adaptive} with output_config.effort (medium here)."""
    out = openai_request(parse_request(claude_code_request), model="m",
                         options=TranslateOptions(reasoning_effort="auto"))
    assert out["reasoning_effort"] == "medium"
    r = body(thinking={"type": "adaptive"}, output_config={"effort": "max"})
    assert openai_request(r, model="m", options=TranslateOptions(reasoning_effort="auto"))["reasoning_effort"] == "high"


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


@settings(max_examples=examples(80), deadline=None)
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
    assert b"prompt is too long" in out and stream_problems(out) == []
    out = translate(b"data: {not json\n\n")
    assert b"not an OpenAI chat completion" in out


# -- what OpenAI-form servers say: windows, tokenizers, cache figures, timings --------------------------
LLAMA_PROPS = Answer(200, {"default_generation_settings": {"n_ctx": 16384, "params": {}}, "total_slots": 1})
NO = Answer(404, {"error": "not found"})


def test_llama_cpp_says_n_ctx_in_props_and_counts_with_its_template():
    models = Answer(200, {"data": [{"id": "/m/q.gguf", "meta": {"n_ctx_train": 40960}}]})
    facts = openai_facts("any", LLAMA_PROPS, models, NO)
    assert (facts.window, facts.trained, facts.tokenizer, facts.server) == (16384, 40960, "llama.cpp", "llama.cpp")
    request = {"model": "any", "messages": [{"role": "user", "content": "hi"}],
               "tools": [{"type": "function", "function": {"name": "Write", "parameters": {},
                                                           "description": "Writes a file to the local filesystem."}}]}
    steps = OPENAI.count_tokens(facts, request, base_path="/v1")
    (apply,) = next(steps)
    assert (apply.method, apply.path) == ("POST", "/apply-template") and apply.body == request, \
        "the whole request: the server renders it as its chat endpoint does"
    prompt = "# Tools\nWrite: Writes a file to the local filesystem.\n<|im_start|>user\nhi"
    (tokenize,) = steps.send([Answer(200, {"prompt": prompt})])
    assert tokenize.path == "/tokenize" and tokenize.body == {"content": prompt, "add_special": True}
    with pytest.raises(StopIteration) as stop:
        steps.send([Answer(200, {"tokens": [1, 2, 3, 4]})])
    assert stop.value.value.as_dict() == {"input_tokens": 4, "exact": True,
                                          "source": "llama.cpp /apply-template + /tokenize"}
    assert not stop.value.value.tools_dropped


def test_a_template_that_renders_no_tools_is_caught():
    facts = ModelFacts("m", tokenizer="llama.cpp")
    tools = [{"function": {"name": "Write", "description": "Writes a file to the local filesystem."}}]
    steps = OPENAI.count_tokens(facts, {"messages": [], "tools": tools})
    next(steps)
    steps.send([Answer(200, {"prompt": "<|im_start|>system\nUse the Write tool.<|im_end|>\n"})])
    with pytest.raises(StopIteration) as stop:
        steps.send([Answer(200, {"tokens": [1]})])
    assert stop.value.value.tools_dropped


def test_vllm_says_max_model_len_and_tokenizes_messages():
    models = Answer(200, {"object": "list", "data": [{"id": "Qwen/Qwen3-8B", "max_model_len": 32768}]})
    facts = openai_facts("Qwen/Qwen3-8B", NO, models, NO)
    assert (facts.window, facts.tokenizer, facts.server) == (32768, "vllm", "vllm")
    steps = OPENAI.count_tokens(facts, {"model": "Qwen/Qwen3-8B", "messages": [{"role": "user", "content": "hi"}]})
    (probe,) = next(steps)
    assert probe.path == "/tokenize" and probe.body == {"model": "Qwen/Qwen3-8B", "add_generation_prompt": True,
                                                        "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(StopIteration) as stop:
        steps.send([Answer(200, {"count": 9, "max_model_len": 32768, "tokens": list(range(9))})])
    assert stop.value.value.tokens == 9 and stop.value.value.source == "vllm /tokenize"


def test_lm_studio_says_its_loaded_context():
    lm = Answer(200, {"id": "qwen", "state": "loaded", "max_context_length": 32768, "loaded_context_length": 8192})
    facts = openai_facts("qwen", NO, Answer(200, {"data": [{"id": "qwen"}]}), lm)
    assert facts.window == 8192 and "loaded_context_length" in facts.window_source and facts.tokenizer is None


def test_a_plain_server_says_nothing_and_cannot_count():
    facts = openai_facts("m", NO, Answer(200, {"data": [{"id": "m"}]}), NO)
    assert facts.window is None and facts.tokenizer is None
    assert next(OPENAI.discover("m", options=TranslateOptions(), base_path="/v1"))[1].path == "/v1/models"
    with pytest.raises(StopIteration):
        next(OPENAI.count_tokens(facts, {"messages": []}))


def test_usage_with_cached_tokens_and_llama_cpp_timings():
    u = openai_usage({"usage": {"prompt_tokens": 2006, "completion_tokens": 300,
                                "prompt_tokens_details": {"cached_tokens": 1920}}})
    assert (u.prompt_tokens, u.cached_tokens, u.input_tokens, u.output_tokens, u.source) == (2006, 1920, 86, 300,
                                                                                              "openai")
    t = openai_usage({"timings": {"cache_n": 1920, "prompt_n": 86, "prompt_ms": 43.0, "predicted_n": 300,
                                  "predicted_ms": 6000.0}})
    assert (t.prompt_tokens, t.cached_tokens, t.prompt_eval_tokens, t.prompt_ms, t.decode_ms, t.source) == (
        2006, 1920, 86, 43.0, 6000.0, "llama.cpp")
    assert openai_usage({"choices": []}) is None


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("server", [None, "llama.cpp"])
def test_cache_reads_reach_anthropic_usage_disjointly(stream, server):
    reply = Reply(text="Done.", prompt_tokens=2006, cached_tokens=1920, output_tokens=3)
    raw = b"".join(openai_chunks(reply, "m", stream, server))
    if stream:
        t = OpenAIStreamTranslator(model="claude-x", input_tokens=50)
        msg = accumulate(t.feed(raw) + t.flush())
        backend = t.result().backend
    else:
        msg = parse_message(openai_response(orjson.loads(raw), model="claude-x"))
        backend = OPENAI.read_usage(orjson.loads(raw))
    assert msg.usage.input_tokens == 86 and msg.usage.cache_read_input_tokens == 1920
    assert backend.source == ("llama.cpp" if server else "openai")
    assert (backend.prompt_ms is not None) == (server == "llama.cpp")


# -- what the server said about why it stopped, and its prompt cache (issue 20 §3) --------------------
def _both(chunks: list[dict], message: dict, finish: str, choice_extra: dict | None = None, top: dict | None = None):
    """The same answer streamed and whole, as the SDK reads each."""
    extra = choice_extra or {}
    raw = sse(*chunks, {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": finish, **extra}],
                        **(top or {})}, b"[DONE]")
    whole = {"id": "c", "choices": [{"index": 0, "message": message, "finish_reason": finish, **extra}], **(top or {})}
    return accumulate(translate(raw)), parse_message(openai_response(whole, model="claude-x"))


@pytest.mark.parametrize("extra, top, expected", [
    ({"stop_reason": "</answer>"}, None, ("stop_sequence", "</answer>")),  # vLLM: the stop string matched
    ({"stop_reason": 128009}, None, ("end_turn", None)),  # vLLM: a stop *token* — not a sequence
    ({"stop_reason": None}, None, ("end_turn", None)),
    ({"stop_type": "word", "stopping_word": "###"}, None, ("stop_sequence", "###")),  # llama.cpp
    ({"stop_type": "eos", "stopping_word": ""}, None, ("end_turn", None)),
    ({}, {"stop_type": "word", "stopping_word": "END"}, ("stop_sequence", "END")),
])
def test_a_stop_sequence_the_server_reports_reaches_claude_code(extra, top, expected):
    for msg in _both([delta({"content": "The answer is 4."})], {"role": "assistant", "content": "The answer is 4."},
                     "stop", extra, top):
        assert (msg.stop_reason, msg.stop_sequence) == expected
        assert msg.content[0].text == "The answer is 4."


def test_a_stop_string_beside_finish_length_is_still_max_tokens():
    for msg in _both([delta({"content": "x"})], {"role": "assistant", "content": "x"}, "length",
                     {"stop_reason": "</answer>"}):
        assert (msg.stop_reason, msg.stop_sequence) == ("max_tokens", None)


def test_content_filter_and_openais_refusal_field_are_refusals():
    for msg in _both([delta({"content": "I can't"})], {"role": "assistant", "content": "I can't"}, "content_filter"):
        assert msg.stop_reason == "refusal"
    raw = (Path(__file__).parent.parent / "data" / "oracle" / "openai-python" / "refusal.sse").read_bytes()
    msg = accumulate(translate(raw))
    assert msg.stop_reason == "refusal" and msg.content[0].text == "I'm sorry, I can't assist with that request."
    whole = openai_response({"choices": [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": None, "refusal": "No."}}]}, model="m")
    assert whole["stop_reason"] == "refusal" and whole["content"][0]["text"] == "No."


CACHE_USAGES = [  # (the server's usage, cache read, cache write) — prompt_tokens counts both, as servers do
    ({"prompt_tokens": 2006, "prompt_tokens_details": {"cached_tokens": 1920}}, 1920, None),  # OpenAI, vLLM
    ({"prompt_tokens": 2006, "prompt_tokens_details": {"cached_tokens": 1000, "cache_write_tokens": 900}},
     1000, 900),  # OpenRouter
    ({"prompt_tokens": 2006, "prompt_tokens_details": {"cached_tokens": 0, "created_cache_tokens": 1900}},
     0, 1900),  # vLLM's own name for a write
    ({"prompt_tokens": 2006, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 900},
     1000, 900),  # Anthropic's names at the top, as LiteLLM-style proxies pass them on
    ({"prompt_tokens": 2006, "prompt_tokens_details": {"cache_creation_tokens": 1900}}, None, 1900),
    ({"prompt_tokens": 2006, "prompt_cache_hit_tokens": 1920, "prompt_cache_miss_tokens": 86}, 1920, None),  # DeepSeek
    ({"prompt_tokens": 2006.0, "prompt_tokens_details": {"cached_tokens": 1000.0, "cache_write_tokens": 900.0}},
     1000, 900),  # whole-number floats
]


@pytest.mark.parametrize("usage, read, write", CACHE_USAGES)
def test_cache_reads_and_writes_under_every_name_reach_anthropic_usage(usage, read, write):
    usage = {**usage, "completion_tokens": 3}
    raw = sse(delta({"content": "Done."}), delta({}, "stop"), {"id": "c", "choices": [], "usage": usage}, b"[DONE]")
    whole = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Done."}, "finish_reason": "stop"}],
             "usage": usage}
    for msg in (accumulate(translate(raw)), parse_message(openai_response(whole, model="claude-x"))):
        assert msg.usage.cache_read_input_tokens == (read or 0)
        assert msg.usage.cache_creation_input_tokens == (write or 0)
        assert msg.usage.input_tokens == 2006 - (read or 0) - (write or 0), "input excludes reads and writes"
        assert msg.usage.output_tokens == 3


@pytest.mark.parametrize(("base", "path"), [("", "/v1/chat/completions"), ("/v1", "/chat/completions"),
                                            ("/proxy/v1", "/chat/completions")])
def test_a_base_url_ending_in_v1_already_has_it(base, path):
    assert OPENAI.chat_path(base, model="qwen3", stream=True) == path
