"""Anthropic Messages ⇄ OpenAI Responses (``_responses.py``): the request's input items, the answer's typed
events, reasoning carried between turns. Two judges: the ``openai`` SDK's own stream accumulator checks
that the scripted Responses backend speaks the API's grammar, and the ``anthropic`` SDK reads what the
gateway makes of it."""

import base64
import json

import httpx2
import openai
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.protocol import Answer, ModelFacts, TranslateContext, TranslateOptions, get_form, parse_request, stream_problems
from inspector.protocol._responses import (
    RESPONSES,
    SIGNATURE,
    ResponsesStreamTranslator,
    responses_request,
    responses_response,
    responses_usage,
)
from inspector.protocol._tools import ToolNames
from inspector.testing.backends import Call, Reply, responses_chunks
from inspector.testing.profiles import examples
from inspector.testing.sdk import accumulate, cut_calls, feed_split, parse_message, run_calls

WRITE = {"name": "Write", "description": "Write a file", "input_schema": {
    "type": "object", "properties": {"file_path": {"type": "string"}, "content": {"type": "string"}},
    "required": ["file_path", "content"]}}
REPLIES = [
    Reply(text="Hello there, how can I help?"),
    Reply(thinking="The user wants a file.", text="Writing it.",
          calls=[Call("Write", {"file_path": "/tmp/a", "content": "é\n"}, id="call_w1")]),
    Reply(calls=[Call("Write", {"file_path": "/a", "content": "1"}, id="call_1"),
                 Call("Write", {"file_path": "/b", "content": "2"}, id="call_2")]),
    Reply(thinking="Only thinking, then a word.", text="Done."),
    Reply(text="This answer runs out", done_reason="length"),
]
SERVERS = [None, "llama.cpp"]


def body(**kw):
    b = {"model": "claude-x", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}], **kw}
    return parse_request(orjson.dumps(b))


def translator(**kw) -> ResponsesStreamTranslator:
    return ResponsesStreamTranslator(model="claude-x", input_tokens=50, names=ToolNames(), tools=[WRITE], **kw)


def translate(raw: bytes, cuts=(), **kw) -> bytes:
    return feed_split(translator(**kw), raw, cuts)


def events(*data: dict) -> bytes:
    return b"".join(f"event: {d['type']}\ndata: {json.dumps(d)}\n\n".encode() for d in data)


def openai_sdk(raw: bytes, *, stream: bool) -> openai.OpenAI:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream" if stream else "application/json"},
                               content=raw)

    return openai.OpenAI(api_key="k", base_url="http://responses.test/v1", max_retries=0,
                         http_client=httpx2.Client(transport=httpx2.MockTransport(handler)))


# -- the scripted backend is judged by the openai SDK ------------------------------------------------
@pytest.mark.parametrize("reply", REPLIES, ids=["text", "thinking-text-call", "two-calls", "thinking-text", "length"])
def test_the_scripted_responses_backend_speaks_the_grammar_the_openai_sdk_enforces(reply):
    raw = b"".join(responses_chunks(reply, "gpt-oss", True))
    with openai_sdk(raw, stream=True).responses.stream(model="gpt-oss", input="hi") as stream:
        kinds = [event.type for event in stream]
        if reply.done_reason == "length":
            assert kinds[-1] == "response.incomplete"
            return
        final = stream.get_final_response()
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert final.output_text == reply.text
    calls = [o for o in final.output if o.type == "function_call"]
    assert [(c.call_id, c.name, json.loads(c.arguments)) for c in calls] == [(c.id, c.name, c.arguments)
                                                                              for c in reply.calls]
    assert final.usage.input_tokens == 42 and final.usage.output_tokens == 7
    whole = openai_sdk(responses_chunks(reply, "gpt-oss", False)[0], stream=False).responses.create(
        model="gpt-oss", input="hi")
    assert whole.output_text == reply.text and [o.type for o in whole.output] == [o.type for o in final.output]


# -- answers: streamed and whole agree, for the API's events and llama.cpp's --------------------------
@pytest.mark.parametrize("server", SERVERS, ids=["openai", "llama.cpp"])
@pytest.mark.parametrize("reply", REPLIES, ids=["text", "thinking-text-call", "two-calls", "thinking-text", "length"])
def test_stream_and_whole_answers_agree(reply, server):
    out = translate(b"".join(responses_chunks(reply, "gpt-oss", True, server)))
    assert stream_problems(out) == []
    streamed = accumulate(out)
    whole = parse_message(responses_response(orjson.loads(responses_chunks(reply, "gpt-oss", False, server)[0]),
                                             model="claude-x", names=ToolNames(), tools=[WRITE]))
    for m in (streamed, whole):
        assert m.stop_reason == ("tool_use" if reply.calls else "max_tokens" if reply.done_reason == "length"
                                 else "end_turn")
        assert (m.usage.input_tokens, m.usage.output_tokens) == (42, 7)
        assert "".join(b.text for b in m.content if b.type == "text") == reply.text
        assert "".join(b.thinking for b in m.content if b.type == "thinking") == reply.thinking
        assert [(b.id, b.name, b.input) for b in m.content if b.type == "tool_use"] == \
            [(c.id, c.name, c.arguments) for c in reply.calls]
        assert all(b.signature.startswith(SIGNATURE) for b in m.content if b.type == "thinking")


@settings(max_examples=examples(60), deadline=None)
@given(st.sampled_from(REPLIES), st.sampled_from(SERVERS), st.lists(st.integers(min_value=0, max_value=9000),
                                                                     max_size=25))
def test_any_byte_split_gives_the_same_message(reply, server, cuts):
    raw = b"".join(responses_chunks(reply, "gpt-oss", True, server))
    split = translate(raw, [c % (len(raw) + 1) for c in cuts])
    assert stream_problems(split) == []
    a, b = accumulate(translate(raw)), accumulate(split)
    assert [c.model_dump(exclude={"id", "signature"}) for c in a.content] == \
        [c.model_dump(exclude={"id", "signature"}) for c in b.content]
    assert (a.stop_reason, a.usage) == (b.stop_reason, b.usage)


def test_the_first_token_is_the_first_content_delta():
    t = translator()
    raw = responses_chunks(Reply(text="Hi."), "m", True)
    created = t.feed(raw[0])
    assert b"message_start" in created and not t.answering, "response.created is not a token"
    out = b"".join(t.feed(c) for c in raw[1:])
    assert t.answering and b"text_delta" in out


# -- reasoning goes back on the next turn --------------------------------------------------------------
def next_request(answer: dict) -> dict:
    """What the gateway sends after Claude Code replies to ``answer`` (a Message) with a tool result."""
    calls = [b for b in answer["content"] if b["type"] == "tool_use"]
    messages = [{"role": "user", "content": "write it"}, {"role": "assistant", "content": answer["content"]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": c["id"], "content": "ok"}
                                             for c in calls] or "go on"}]
    return responses_request(body(messages=messages, thinking={"type": "adaptive"}), model="gpt-oss")


@pytest.mark.parametrize("server", SERVERS, ids=["openai", "llama.cpp"])
def test_reasoning_goes_back_as_the_item_it_was(server):
    reply = Reply(thinking="I should write the file.", text="Writing.",
                  calls=[Call("Write", {"file_path": "/a", "content": "x"}, id="call_9")])
    answer = accumulate(translate(b"".join(responses_chunks(reply, "gpt-oss", True, server)))).model_dump()
    items = next_request(answer)["input"]
    assert [i.get("type", "message") for i in items] == ["message", "reasoning", "message", "function_call",
                                                         "function_call_output"]
    reasoning = items[1]
    assert reasoning["id"].startswith("rs_")
    if server == "llama.cpp":  # the model's own reasoning, as llama-server takes it back (content[0].text)
        assert reasoning["content"] == [{"type": "reasoning_text", "text": "I should write the file."}]
        assert reasoning["summary"] == [] and "encrypted_content" not in reasoning
    else:  # a summary, and what only the backend can read
        assert reasoning["summary"] == [{"type": "summary_text", "text": "I should write the file."}]
        assert reasoning["encrypted_content"].startswith("gAAAA-encrypted-") and "content" not in reasoning
    assert items[3] == {"type": "function_call", "call_id": "call_9", "name": "Write",
                        "arguments": '{"file_path":"/a","content":"x"}'}


def test_reasoning_with_nothing_readable_is_redacted_thinking_and_goes_back_too():
    item = {"id": "rs_1", "type": "reasoning", "summary": [], "encrypted_content": "gAAAA-only-this"}
    raw = events({"type": "response.created", "response": {"id": "r", "status": "in_progress", "output": []}},
                 {"type": "response.output_item.added", "output_index": 0, "item": {**item, "encrypted_content": None}},
                 {"type": "response.output_item.done", "output_index": 0, "item": item},
                 {"type": "response.output_item.added", "output_index": 1,
                  "item": {"id": "m1", "type": "message", "role": "assistant", "content": []}},
                 {"type": "response.output_text.delta", "item_id": "m1", "output_index": 1, "delta": "Hi."},
                 {"type": "response.completed", "response": {"id": "r", "status": "completed", "output": []}})
    out = translate(raw)
    assert stream_problems(out) == []
    answer = accumulate(out).model_dump()
    assert [b["type"] for b in answer["content"]] == ["redacted_thinking", "text"]
    (reasoning,) = [i for i in next_request(answer)["input"] if i.get("type") == "reasoning"]
    assert reasoning == {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA-only-this"}


def test_thinking_another_backend_wrote_is_left_out_and_said():
    req = body(messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "Claude's own thoughts", "signature": "EqQBCkgIAxABGAIiQ..."},
        {"type": "text", "text": "Hello."}]}, {"role": "user", "content": "and?"}])
    sent = responses_request(req, model="m")
    assert [i.get("type", "message") for i in sent["input"]] == ["message", "message", "message"]
    assert [n.rule for n in req.notes] == ["reasoning:foreign"]


def test_a_tampered_signature_is_not_read():
    bad = SIGNATURE + base64.urlsafe_b64encode(b'{"via": "content"}').decode()
    req = body(messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "x", "signature": bad}, {"type": "text", "text": "y"}]},
        {"role": "user", "content": "z"}])
    assert not [i for i in responses_request(req, model="m")["input"] if i.get("type") == "reasoning"]


# -- the request -----------------------------------------------------------------------------------------
def test_request_mapping_of_a_tool_round_trip():
    req = body(system="Be brief.", max_tokens=64000, temperature=0.2, top_k=5, stop_sequences=["END"],
               tools=[WRITE], tool_choice={"type": "any", "disable_parallel_tool_use": True},
               messages=[{"role": "user", "content": [
                   {"type": "text", "text": "look"},
                   {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}}]},
                   {"role": "assistant", "content": [{"type": "text", "text": "Writing."}, {
                       "type": "tool_use", "id": "call_1", "name": "Write", "input": {"file_path": "/a"}}]},
                   {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "is_error": True,
                                                 "content": "missing content"}]}])
    sent = responses_request(req, model="gpt-oss", options=TranslateOptions(max_tokens_limit=4096))
    assert sent["instructions"] == "Be brief." and sent["model"] == "gpt-oss" and sent["store"] is False
    assert sent["input"] == [
        {"role": "user", "content": [{"type": "input_text", "text": "look"},
                                     {"type": "input_image", "image_url": "data:image/png;base64,iVBOR",
                                      "detail": "auto"}]},
        {"type": "message", "role": "assistant", "content": "Writing."},
        {"type": "function_call", "call_id": "call_1", "name": "Write", "arguments": '{"file_path":"/a"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "Error: missing content"}]
    assert sent["tools"] == [{"type": "function", "name": "Write", "description": "Write a file",
                              "parameters": WRITE["input_schema"], "strict": False}]
    assert sent["tool_choice"] == "required" and sent["parallel_tool_calls"] is False
    assert sent["max_output_tokens"] == 4096 and sent["temperature"] == 0.2
    assert "top_k" not in sent and "stop" not in sent
    dropped = " ".join(n.message for n in req.notes if n.kind == "dropped")
    assert "top_k" in dropped and "stop_sequences" in dropped


def test_calls_left_unanswered_get_a_placeholder_and_orphan_results_become_text():
    req = body(tools=[WRITE], messages=[
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "c1", "name": "Write", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "elsewhere", "content": "stray"},
                                     {"type": "text", "text": "never mind"}]}])
    items = responses_request(req, model="m")["input"]
    assert items[2] == {"type": "function_call_output", "call_id": "c1",
                        "output": "(no result: the tool call was interrupted before it finished)"}
    assert items[3] == {"role": "user", "content": "[result of tool call elsewhere]\nstray\n\nnever mind"}


@pytest.mark.parametrize("placement, role", [("merge", None), ("inline", "system"), ("user", "user")])
def test_a_late_system_message_goes_where_the_option_says(placement, role):
    req = body(messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
                         {"role": "system", "content": "Be terse."}, {"role": "user", "content": "and?"}])
    items = responses_request(req, model="m", options=TranslateOptions(system_messages=placement))["input"]
    if role is None:
        assert items[-1]["role"] == "user" and "Be terse." in items[-1]["content"]
    else:
        assert {"role": role, "content": "Be terse."} in items


@pytest.mark.parametrize("option, thinking, effort", [
    ("", {"type": "adaptive"}, None), ("high", None, "high"), ("auto", {"type": "enabled", "budget_tokens": 500}, "low")])
def test_reasoning_effort_and_what_comes_back_of_the_reasoning(option, thinking, effort):
    req = body(**({"thinking": thinking} if thinking else {}))
    sent = responses_request(req, model="m", options=TranslateOptions(reasoning_effort=option))
    assert sent.get("reasoning", {}).get("effort") == effort
    assert ("include" in sent) == (thinking is not None), "encrypted reasoning asked for when thinking is on"


def test_long_tool_names_are_mapped_both_ways():
    long = "mcp__" + "a_very_long_server_name_" * 3 + "__tool"
    names = ToolNames()
    tool = {"name": long, "description": "d", "input_schema": {"type": "object"}}
    sent = responses_request(body(tools=[tool]), model="m", names=names)
    short = sent["tools"][0]["name"]
    assert len(short) <= 64 and short != long
    reply = Reply(calls=[Call(short, {}, id="call_1")])
    out = feed_split(ResponsesStreamTranslator(model="m", names=names, tools=[tool]),
                     b"".join(responses_chunks(reply, "m", True)))
    assert run_calls(out) == [(long, {})]


# -- endings that are not clean -------------------------------------------------------------------------
def test_a_stream_cut_before_it_completed_is_an_error_and_an_unfinished_call_no_call():
    raw = b"".join(responses_chunks(Reply(text="Writing.", calls=[Call("Write", {"file_path": "/a", "content": "x"})]),
                                    "m", True))
    cut = raw[:raw.index(b"response.function_call_arguments.done")]
    out = translate(cut)
    assert stream_problems(out, strict=False) == [] and b"event: error" in out and b"was cut" in out
    assert run_calls(out) == []


def test_an_answer_that_hit_its_limit_inside_a_call_is_max_tokens_and_runs_nothing():
    args = '{"file_path": "/a", "content": "half a fi'
    item = {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "Write", "arguments": args}
    raw = events({"type": "response.created", "response": {"id": "r", "status": "in_progress", "output": []}},
                 {"type": "response.output_item.added", "output_index": 0, "item": {**item, "arguments": ""}},
                 {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "output_index": 0,
                  "delta": args},
                 {"type": "response.incomplete", "response": {
                     "id": "r", "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"},
                     "output": [], "usage": {"input_tokens": 9, "output_tokens": 30}}})
    out = translate(raw)
    assert stream_problems(out) == []
    msg = accumulate(out)
    assert msg.stop_reason == "max_tokens" and run_calls(out) == [] and cut_calls(out) == ["Write"]


def test_errors_in_the_stream_and_a_failed_response_are_anthropic_errors():
    created = {"type": "response.created", "response": {"id": "r", "status": "in_progress", "output": []}}
    for raw, status in (
            (events(created, {"type": "error", "code": "rate_limit_exceeded", "message": "slow down", "param": None}),
             "rate_limit_error"),
            (events(created, {"type": "response.failed", "response": {
                "id": "r", "status": "failed", "error": {"code": "server_error", "message": "it broke"}}}), "api_error"),
            (b'data: {"error": {"code": 500, "message": "llama.cpp broke", "type": "server_error"}}\n\n', "api_error")):
        out = translate(raw)
        assert stream_problems(out) == [] and b"event: error" in out
        assert json.loads(out.split(b"event: error\ndata: ")[1])["error"]["type"] == status
    garbage = translate(b"data: <html>nope</html>\n\n")
    assert b"backend=responses" in garbage


def test_a_refusal_is_a_refusal():
    raw = events({"type": "response.created", "response": {"id": "r", "status": "in_progress", "output": []}},
                 {"type": "response.output_item.added", "output_index": 0,
                  "item": {"id": "m", "type": "message", "role": "assistant", "content": []}},
                 {"type": "response.refusal.delta", "item_id": "m", "output_index": 0, "content_index": 0,
                  "delta": "I can't help with that."},
                 {"type": "response.completed", "response": {"id": "r", "status": "completed", "output": []}})
    msg = accumulate(translate(raw))
    assert msg.stop_reason == "refusal" and msg.content[0].text == "I can't help with that."


def test_a_call_printed_as_text_is_repaired_into_a_call():
    printed = '<tool_call>\n{"name": "Write", "arguments": {"file_path": "/a", "content": "x"}}\n</tool_call>'
    t = translator()
    out = feed_split(t, b"".join(responses_chunks(Reply(text=printed), "m", True)))
    assert run_calls(out) == [("Write", {"file_path": "/a", "content": "x"})]
    assert accumulate(out).stop_reason == "tool_use", "a repaired call is a call: Claude Code runs it"
    assert any(n.rule and n.rule.startswith("text-call:") for n in t.notes)


# -- usage, discovery, counting -------------------------------------------------------------------------
def test_usage_counts_the_cache_apart_and_reads_llama_cpps_timings():
    usage = responses_usage({"usage": {"input_tokens": 2000, "input_tokens_details": {"cached_tokens": 1500},
                                       "output_tokens": 30}},
                            {"cache_n": 1500, "prompt_n": 500, "prompt_ms": 250.0, "predicted_n": 30,
                             "predicted_ms": 600.0})
    assert (usage.prompt_tokens, usage.cached_tokens, usage.input_tokens, usage.output_tokens) == (2000, 1500, 500, 30)
    assert (usage.source, usage.prompt_eval_tokens, usage.decode_ms) == ("llama.cpp", 500, 600.0)
    reply = Reply(text="Hi.", prompt_tokens=2000, cached_tokens=1500)
    msg = accumulate(translate(b"".join(responses_chunks(reply, "m", True))))
    assert (msg.usage.input_tokens, msg.usage.cache_read_input_tokens) == (500, 1500)


@pytest.mark.parametrize(("base", "path"), [("", "/v1/responses"), ("/v1", "/responses")])
def test_the_endpoint_is_v1_responses_under_the_base(base, path):
    assert RESPONSES.chat_path(base, model="m", stream=True) == path and get_form("responses") is RESPONSES


def test_discovery_asks_what_the_openai_form_asks_and_llama_cpp_counts_a_responses_request():
    steps = RESPONSES.discover("m", options=TranslateOptions(), base_path="/v1")
    probes = next(steps)
    assert [p.path for p in probes] == ["/props", "/v1/models", "/api/v0/models/m"]
    with pytest.raises(StopIteration) as done:
        steps.send([Answer(200, {"default_generation_settings": {"n_ctx": 8192}}), Answer(404), Answer(404)])
    facts = done.value.value
    assert facts.window == 8192 and facts.tokenizer == "llama.cpp"
    count = RESPONSES.count_tokens(facts, {"model": "m", "input": [], "stream": True}, base_path="/v1")
    (probe,) = next(count)
    assert (probe.method, probe.path, probe.body) == ("POST", "/v1/responses/input_tokens", {"model": "m", "input": []})
    with pytest.raises(StopIteration) as counted:
        count.send([Answer(200, {"object": "response.input_tokens", "input_tokens": 321})])
    assert counted.value.value.tokens == 321 and counted.value.value.exact
    with pytest.raises(StopIteration) as none:  # a server without a tokenizer of its own is not asked
        next(RESPONSES.count_tokens(ModelFacts("m"), {}))
    assert none.value.value is None


def test_the_whole_answer_path_reads_what_a_server_sends_whole():
    ctx = TranslateContext(model="claude-x", names=ToolNames())
    answer = RESPONSES.whole_answer(200, [], responses_chunks(Reply(text="Hi."), "m", False)[0], ctx, stream=False)
    assert answer.error is None and parse_message(answer.message).content[0].text == "Hi."
    assert RESPONSES.whole_answer(200, [], b"<html>", ctx, stream=False).error is not None
