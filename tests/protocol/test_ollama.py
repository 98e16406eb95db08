import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.protocol import (
    OLLAMA,
    Answer,
    OllamaStreamTranslator,
    TranslateOptions,
    ollama_facts,
    ollama_request,
    ollama_response,
    ollama_usage,
    parse_request,
    stream_problems,
)
from inspector.testing.backends import Call, Reply, ollama_chunks
from inspector.testing.profiles import examples
from inspector.testing.sdk import accumulate, feed_split, parse_message


def body(**kw):
    b = {"model": "claude-x", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    b.update(kw)
    return parse_request(orjson.dumps(b))


def translate(raw: bytes, cuts=(), **kw) -> bytes:
    return feed_split(OllamaStreamTranslator(model="claude-x", input_tokens=50, **kw), raw, cuts)


def test_request_mapping_of_a_tool_round_trip():
    r = body(system="S", temperature=0.2, top_p=0.9, top_k=40, stop_sequences=["END"], stream=True,
             tools=[{"name": "Bash", "description": "run", "input_schema": {"type": "object"}}],
             messages=[
                 {"role": "user", "content": [{"type": "text", "text": "look"},
                                              {"type": "image", "source": {"type": "base64",
                                                                           "media_type": "image/png", "data": "QUJD"}}]},
                 {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": ""},
                                                   {"type": "tool_use", "id": "call_1", "name": "Bash",
                                                    "input": {"command": "ls"}}]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "a",
                                               "is_error": True}, {"type": "text", "text": "and?"}]},
             ])
    out = ollama_request(r, model="qwen3", options=TranslateOptions(num_ctx=65536))
    assert out["model"] == "qwen3" and out["stream"] is True
    assert out["options"] == {"num_predict": 100, "temperature": 0.2, "top_p": 0.9, "top_k": 40,
                              "stop": ["END"], "num_ctx": 65536}
    assert out["tools"] == [{"type": "function", "function": {"name": "Bash", "description": "run",
                                                              "parameters": {"type": "object"}}}]
    assert out["messages"] == [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "look", "images": ["QUJD"]},
        {"role": "assistant", "content": "", "thinking": "t",
         "tool_calls": [{"id": "call_1", "function": {"index": 0, "name": "Bash", "arguments": {"command": "ls"}}}]},
        {"role": "tool", "content": "Error: a", "tool_call_id": "call_1", "tool_name": "Bash"},
        {"role": "user", "content": "and?"},
    ]
    assert "think" not in out  # auto: never risk a 400 on non-thinking models


@pytest.mark.parametrize("thinking, mode, expected", [
    ({"type": "adaptive"}, "auto", None), ({"type": "disabled"}, "auto", False),
    ({"type": "enabled", "budget_tokens": 2000}, "auto", None), (None, "on", True), (None, "off", False),
    (None, "high", "high"),
])
def test_think_option(thinking, mode, expected):
    out = ollama_request(body(thinking=thinking) if thinking else body(), model="m",
                         options=TranslateOptions(think=mode))
    assert out.get("think") == expected


def test_tool_choice_none_omits_tools_and_max_tokens_clamp():
    r = body(max_tokens=128000, tool_choice={"type": "none"},
             tools=[{"name": "X", "input_schema": {"type": "object"}}])
    out = ollama_request(r, model="m", options=TranslateOptions(max_tokens_limit=8192))
    assert "tools" not in out and out["options"]["num_predict"] == 8192
    assert any("clamped" in str(n) for n in r.notes)


def test_context_window_warning_for_claude_codes_prompt(claude_code_request):
    r = parse_request(claude_code_request)
    ollama_request(r, model="m")
    assert any("num_ctx" in str(n) for n in r.notes.of("warning"))
    r = parse_request(claude_code_request)
    ollama_request(r, model="m", options=TranslateOptions(num_ctx=4096))
    assert any("silently drop" in str(n) for n in r.notes.of("warning"))
    r = parse_request(claude_code_request)
    out = ollama_request(r, model="m", options=TranslateOptions(num_ctx=65536))
    assert not r.notes.of("warning")
    roles = [m["role"] for m in out["messages"]]
    assert roles == ["system", "user"], "the late system message merged into the user's turn"
    assert out["messages"][1]["content"].endswith("Write hi into hello.txt")
    inline = ollama_request(parse_request(claude_code_request), model="m",
                            options=TranslateOptions(system_messages="inline"))
    assert [m["role"] for m in inline["messages"]] == ["system", "user", "system"]


def test_claude_code_tool_result_turn(claude_code_tool_result_request):
    out = ollama_request(parse_request(claude_code_tool_result_request), model="m")
    tool_msgs = [m for m in out["messages"] if m["role"] == "tool"]
    calls = [c for m in out["messages"] for c in m.get("tool_calls", [])]
    assert len(tool_msgs) == 1 and tool_msgs[0]["tool_name"] == "Write"
    assert tool_msgs[0]["tool_call_id"] == calls[0]["id"] == "toolu_01WriteHello"


REPLIES = [
    Reply(text="Hello, world"),
    Reply(thinking="Let me think", text="Done"),
    Reply(text="Writing.", calls=[Call("Write", {"file_path": "/a", "content": "é ✓"}, id="call_x1y2z3w4")]),
    Reply(calls=[Call("Read", {"file_path": "/a"}), Call("Read", {"file_path": "/b"})]),  # old Ollama: no ids
    Reply(text="cut short", done_reason="length"),
]


@pytest.mark.parametrize("reply", REPLIES)
def test_stream_and_non_stream_agree(reply):
    streamed = accumulate(translate(b"".join(ollama_chunks(reply, "qwen3", True))))
    whole = parse_message(ollama_response(orjson.loads(ollama_chunks(reply, "qwen3", False)[0]), model="claude-x"))
    for m in (streamed, whole):
        assert m.stop_reason == ("tool_use" if reply.calls else "max_tokens" if reply.done_reason == "length"
                                 else "end_turn")
        assert (m.usage.input_tokens, m.usage.output_tokens) == (42, 7)
        texts = "".join(b.text for b in m.content if b.type == "text")
        assert texts == reply.text
        assert [(b.name, b.input) for b in m.content if b.type == "tool_use"] == \
            [(c.name, c.arguments) for c in reply.calls]
        ids = [b.id for b in m.content if b.type == "tool_use"]
        assert len(set(ids)) == len(ids) and all(ids)
    if reply.calls and reply.calls[0].id:
        assert streamed.content[-1].id == reply.calls[0].id


@settings(max_examples=examples(80), deadline=None)
@given(st.sampled_from(REPLIES), st.lists(st.integers(min_value=0, max_value=4000), max_size=20))
def test_any_byte_split_gives_the_same_message(reply, cuts):
    raw = b"".join(ollama_chunks(reply, "qwen3", True))
    whole = translate(raw)
    split = translate(raw, [c % (len(raw) + 1) for c in cuts])
    assert stream_problems(split) == []
    a, b = accumulate(whole), accumulate(split)
    assert a.model_dump(exclude={"id"}) | {"content": [c.model_dump(exclude={"id"}) for c in a.content]} == \
        b.model_dump(exclude={"id"}) | {"content": [c.model_dump(exclude={"id"}) for c in b.content]}


def test_cut_stream_ends_with_an_error_event():
    raw = b"".join(ollama_chunks(Reply(text="Hello there, how are you"), "q", True)[:2])
    out = translate(raw)
    assert stream_problems(out) == []
    assert b"event: error" in out and b"was cut after 2 chunks" in out


def test_a_stream_cut_mid_line_is_reported_as_a_cut_not_as_garbage():
    raw = b"".join(ollama_chunks(Reply(text="Hello there, how are you"), "q", True)[:2])
    t = OllamaStreamTranslator(model="claude-x", backend="http://b")
    out = t.feed(raw[:-7]) + t.interrupt("connection reset by peer")
    assert stream_problems(out) == [] and t.cut
    error = out.split(b"event: error")[-1]
    assert b"was cut" in error and b"connection reset by peer" in error
    assert b"NDJSON" not in error and b"backend=" not in error, "a cut is not a wrong backend form"


def test_garbage_and_in_band_errors():
    out = translate(b"<html>502 Bad Gateway</html>\n")
    assert b"event: error" in out and b"not Ollama JSON or NDJSON" in out and b"backend=ollama" in out
    out = translate(b'{"error": "model \'qwen9\' not found", "status": 404}\n', backend_model="qwen9")
    assert b"ollama pull qwen9" in out and stream_problems(out) == []
    out = translate(b'{"error":"an error was encountered while running the model"}\n')
    assert b"event: error" in out and b"running the model" in out


def test_blank_lines_become_pings_and_start_the_message_early():
    t = OllamaStreamTranslator(model="claude-x")
    first = t.feed(b"\n")
    assert b"event: message_start" in first and b"event: ping" in first
    rest = t.feed(b"".join(ollama_chunks(Reply(text="hi"), "q", True))) + t.flush()
    assert stream_problems(first + rest) == []


def test_truncation_warning_from_prompt_eval_count():
    t = OllamaStreamTranslator(model="c", input_tokens=12000, num_ctx=4096)
    t.feed(b"".join(ollama_chunks(Reply(text="hi", prompt_tokens=4096), "q", True)))
    assert any("truncated" in str(n) for n in t.notes.of("warning"))


# -- what Ollama says: the window, capabilities, cache figures and timings ----------------------------

SHOW = Answer(200, {"details": {"family": "qwen3"}, "capabilities": ["completion", "tools"],
                    "model_info": {"general.architecture": "qwen3", "qwen3.context_length": 8192}})


@pytest.mark.parametrize("num_ctx, ps, window, source", [
    (65536, [], 8192, "num_ctx 65,536 capped by Ollama at the trained 8,192"),  # llm/server.go caps it
    (4096, [], 4096, "num_ctx"),
    (0, [{"name": "qwen3:latest", "context_length": 4096}], 4096, "ollama /api/ps"),
    (0, [], 8192, "trained length"),
])
def test_the_window_ollama_will_really_use(num_ctx, ps, window, source):
    facts = ollama_facts("qwen3", SHOW, Answer(200, {"models": ps}), num_ctx=num_ctx)
    assert facts.window == window and source in facts.window_source
    assert facts.provisional == (not num_ctx and not ps), "an upper bound is asked again once the model is loaded"
    assert facts.capabilities == ("completion", "tools") and facts.trained == 8192 and not facts.think_levels


def test_a_model_ollama_does_not_have_says_nothing():
    facts = ollama_facts("nope", Answer(404, {"error": "model 'nope' not found"}), Answer(200, {"models": []}))
    assert facts.window is None and facts.capabilities is None


def test_discovery_asks_show_and_ps():
    steps = OLLAMA.discover("qwen3", options=TranslateOptions(num_ctx=65536), base_path="/ollama")
    probes = next(steps)
    assert [(p.method, p.path, p.body) for p in probes] == [("POST", "/ollama/api/show", {"model": "qwen3"}),
                                                            ("GET", "/ollama/api/ps", None)]
    with pytest.raises(StopIteration) as stop:
        steps.send([SHOW, Answer(200, {"models": []})])
    assert stop.value.value.window == 8192


@pytest.mark.parametrize("mode", ["auto", "on", "high"])
def test_think_is_never_sent_to_a_model_that_cannot_think(mode):
    r = body(thinking={"type": "enabled", "budget_tokens": 4000})
    out = ollama_request(r, model="llama3.2", options=TranslateOptions(think=mode, capabilities=("completion",)))
    assert "think" not in out, "Ollama answers 400 'does not support thinking' to any truthy think"
    if mode != "auto":
        assert any(n.rule == "think:unsupported" for n in r.notes)


@pytest.mark.parametrize("raw, mode, expected", [
    ({"output_config": {"effort": "medium"}, "thinking": {"type": "adaptive"}}, "auto", "medium"),
    ({"output_config": {"effort": "max"}}, "auto", "high"),
    ({"thinking": {"type": "enabled", "budget_tokens": 500}}, "auto", "low"),
    ({"thinking": {"type": "enabled", "budget_tokens": 30000}}, "on", "high"),
    ({"thinking": {"type": "disabled"}}, "auto", "low"),  # gpt-oss cannot stop thinking
    ({}, "off", "low"), ({}, "medium", "medium"), ({}, "auto", None), ({}, "on", "medium"),
])
def test_gpt_oss_takes_levels_from_claude_codes_effort(raw, mode, expected):
    r = body(**raw)
    out = ollama_request(r, model="gpt-oss:20b", options=TranslateOptions(
        think=mode, capabilities=("completion", "tools", "thinking"), think_levels=True))
    assert out.get("think") == expected


def test_gpt_oss_is_recognised_by_its_family():
    show = Answer(200, {"details": {"family": "gptoss"}, "capabilities": ["completion", "tools", "thinking"],
                        "model_info": {"gptoss.context_length": 131072}})
    assert ollama_facts("gpt-oss:20b", show, Answer(200, {"models": []})).think_levels


def test_usage_cache_and_timings_from_the_final_chunk():
    final = {"done": True, "prompt_eval_count": 12_000, "prompt_eval_cached_count": 11_800, "eval_count": 57,
             "load_duration": 1_200_000_000, "prompt_eval_duration": 400_000_000, "eval_duration": 2_850_000_000}
    u = ollama_usage(final)
    assert (u.prompt_tokens, u.cached_tokens, u.input_tokens, u.output_tokens) == (12_000, 11_800, 200, 57)
    assert (u.load_ms, u.prompt_eval_tokens, u.prompt_ms, u.decode_tokens, u.decode_ms) == (1200, 200, 400, 57, 2850)
    assert OLLAMA.read_usage(final) == u


@pytest.mark.parametrize("stream", [True, False])
def test_cache_reads_reach_anthropic_usage_disjointly(stream):
    reply = Reply(text="Done.", prompt_tokens=12_000, cached_tokens=11_800, output_tokens=5)
    raw = b"".join(ollama_chunks(reply, "qwen3", stream))
    if stream:
        msg = accumulate(translate(raw))
    else:
        msg = parse_message(ollama_response(orjson.loads(raw), model="claude-x"))
    assert msg.usage.input_tokens == 200 and msg.usage.cache_read_input_tokens == 11_800
    assert msg.usage.output_tokens == 5


def test_without_a_cached_count_nothing_is_said_about_the_cache():
    t = OllamaStreamTranslator(model="claude-x", input_tokens=50)
    out = t.feed(b"".join(ollama_chunks(Reply(text="hi"), "q", True)))
    assert b"cache_read_input_tokens\":0" in out  # message_start's seed, as Anthropic's own streams start
    assert "cache_read_input_tokens" not in t.result().usage and t.result().backend.cached_tokens is None


def test_the_chat_endpoint_is_api_chat_under_the_base():
    assert OLLAMA.chat_path() == OLLAMA.chat_path("/ollama", model="qwen3", stream=True) == "/api/chat"
