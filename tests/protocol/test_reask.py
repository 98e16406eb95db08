"""The repair ladder's re-ask rung in the pure core: which answers are held, what the re-asked call
replaces, what a re-ask that is no better leaves (exactly what the client got without the rung), and
how each form writes the constrained request.

The SDK's accumulator judges every stream; the constrained answers are what servers send (content
JSON under ``response_format`` / Ollama's ``format``, a tool call under vLLM's named ``tool_choice``).
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
import pytest

from inspector.protocol import (
    OLLAMA,
    OPENAI,
    BackendUsage,
    OpenAIStreamTranslator,
    Reask,
    ToolNames,
    TranslateContext,
    constraint,
    get_form,
    read_constrained,
    stream_problems,
    sum_usage,
)
from inspector.testing.backends import RENDER, Call, Reply, openai_chunks
from inspector.testing.forms import REASKED
from inspector.testing.sdk import accumulate, cut_calls, feed_split, run_calls

WRITE = {"name": "Write", "description": "Write a file", "input_schema": {
    "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
    "properties": {"file_path": {"type": "string"}, "content": {"type": "string"}},
    "required": ["file_path", "content"], "additionalProperties": False}}
READ = {"name": "Read", "description": "Read a file", "input_schema": {
    "type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]}}
TOOLS = [WRITE, READ]
GOOD = {"file_path": "/tmp/a.txt", "content": "hi\n"}


def translator(form: str, *, armed: bool = True, names: ToolNames | None = None, **arm: Any):
    t = get_form(form).stream_processor(TranslateContext(model="claude-x", tools=TOOLS, names=names))
    if armed:
        t.arm_reask(**arm)
    return t


def first(form: str, t, reply: Reply, stream: bool) -> bytes:
    """The first answer through ``t``: its stream output, or (whole) nothing until the end."""
    raw = b"".join(RENDER[form](reply, "m", stream))
    if stream:
        return feed_split(t, raw, cuts=range(7, len(raw), 53))
    t.take_whole(orjson.loads(raw))
    return b""


def whole(form: str, reply: Reply) -> dict[str, Any]:
    return orjson.loads(RENDER[form](reply, "m", False)[0])


def constrained_answer(form: str, value: Any, **reply: Any) -> dict[str, Any]:
    """What a server that kept to ``response_format`` / ``format`` answers: the JSON as the content."""
    return whole(form, Reply(text=json.dumps(value), prompt_tokens=40, output_tokens=9, **reply))


def _ids(sse: bytes) -> str:
    """The events with ids and the final usage (the attempts' sum after a re-ask) left out."""
    sse = re.sub(rb'"(msg|toolu|call)_[A-Za-z0-9_]+"', b'"ID"', sse)
    return re.sub(rb'(event: message_delta\ndata: .*)"usage":\{[^}]*\}', rb"\1", sse).decode()


BROKEN = {
    "schema": Reply(text="I will write it.", calls=[Call("Write", {"file_path": "/tmp/a.txt"}, id="call_1")]),
    "unparsable": Reply(text="Writing.", calls=[Call("Write", "file_path=/tmp/a.txt content=hi", id="call_1")]),
    "unknown-tool": Reply(text="Writing.", calls=[Call("WriteFile", GOOD, id="call_1")]),
    "cut": Reply(text="Writing.", calls=[Call("Write", '{"file_path": "/tmp/a.txt", "content": "h', id="call_1")],
                 done_reason="length"),
    "text-call": Reply(text='<tool_call>\n{"name": "Write", "arguments": {"file_path": "/tmp/a.txt"}}\n</tool_call>'),
}
EXPECT = {"schema": ("schema", "Write"), "unparsable": ("unparsable", "Write"), "unknown-tool": ("unknown-tool", None),
          "cut": ("cut", "Write"), "text-call": ("schema", "Write")}


def _case(form: str, case: str) -> Reply:
    return BROKEN[case]  # (Ollama sends arguments as an object: a string is kept as it is)


# -- held, then replaced ---------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
@pytest.mark.parametrize("form", REASKED)
@pytest.mark.parametrize("case", list(BROKEN))
def test_a_call_that_fails_parse_and_repair_is_held_and_the_reasked_call_goes_in_its_place(form, stream, case):
    t = translator(form)
    out = first(form, t, _case(form, case), stream)
    reason, tool = EXPECT[case]
    assert t.reask == Reask(reason, tool, t.reask.detail), "the pure core says what to ask again"
    assert t.finished and t.message() is None, "the answer's end is held"
    if stream:
        assert b"tool_use" not in out and b"message_delta" not in out, "nothing of the call, no end yet"
        if case != "text-call":
            assert b"text_delta" in out, "the text before the call went out as it came"
    value = GOOD if tool is not None else {"name": "Write", "arguments": GOOD}
    out += t.resume(constrained_answer(form, value), how="response_format json_schema")
    if stream:
        assert stream_problems(out) == [], out
        message = accumulate(out)
        assert run_calls(out) == [("Write", GOOD)]
    else:
        message = t.message()
        assert [(b["name"], b["input"]) for b in message["content"] if b["type"] == "tool_use"] == [("Write", GOOD)]
        message = type("M", (), {"stop_reason": message["stop_reason"], "usage": type("U", (), message["usage"])})
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (42 + 40, 7 + 9), "both attempts, summed"
    rules = [n.rule for n in t.notes]
    assert f"reask:{reason}" in rules and "reask:usage-summed" in rules
    assert not [n for n in t.notes if n.kind == "error"], "what broke the first call is not what the client got"


@pytest.mark.parametrize("form", REASKED)
@pytest.mark.parametrize("case", list(BROKEN))
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_a_reask_that_is_no_better_leaves_exactly_what_the_client_got_without_the_rung(form, case, stream):
    """The rung may only add a better call: a re-ask that is no better — invalid again, no JSON, cut
    again, no call — gives the client, event for event, the answer it got before the rung existed."""
    plain = translator(form, armed=False)
    expected = first(form, plain, _case(form, case), stream)
    for answer in (constrained_answer(form, {"file_path": 3}), constrained_answer(form, "not an object"),
                   whole(form, Reply(text="Sure, here it is", output_tokens=9)),
                   constrained_answer(form, GOOD, done_reason="length")):
        t = translator(form)
        out = first(form, t, _case(form, case), stream)
        assert t.resume(answer, how="format") is None
        assert t.reask_failed
        out += t.give_up("re-asked: no better")
        if stream:
            assert _ids(out) == _ids(expected)
            assert run_calls(out) == run_calls(expected) and cut_calls(out) == cut_calls(expected)
            assert accumulate(out).usage.output_tokens == 7 + 9, "what both attempts spent"
        else:
            assert _ids(orjson.dumps({**t.message(), "usage": None})) == \
                _ids(orjson.dumps({**plain.message(), "usage": None}))
        kept = [(n.kind, n.rule) for n in plain.notes]
        assert [(n.kind, n.rule) for n in t.notes if n.rule != "reask:failed"] == kept, "the same notes, and why"
        assert [n.rule for n in t.notes].count("reask:failed") == 1


def test_only_the_first_broken_call_is_held_and_what_follows_it_keeps_its_order():
    reply = Reply(text="Two things.", calls=[Call("Write", {"file_path": "/tmp/a.txt"}, id="call_1"),
                                             Call("Read", {"file_path": "/tmp/b.txt"}, id="call_2")])
    t = translator("openai")
    out = first("openai", t, reply, True)
    assert b"tool_use" not in out, "the valid call after the held one waits behind it"
    out += t.resume(constrained_answer("openai", GOOD), how="format")
    assert run_calls(out) == [("Write", GOOD), ("Read", {"file_path": "/tmp/b.txt"})]
    assert [b.type for b in accumulate(out).content] == ["text", "tool_use", "tool_use"]


@pytest.mark.parametrize("form", REASKED)
def test_a_nameless_call_asks_for_one_of_the_tools(form):
    data = whole(form, Reply(text="Hm.", calls=[Call("", GOOD, id="c1")]))
    t = translator(form)
    t.take_whole(data)
    assert t.reask is not None and (t.reask.reason, t.reask.tool) == ("nameless", None)
    t.resume(constrained_answer(form, {"name": "Write", "arguments": GOOD}), how="format")
    assert [(b["name"], b["input"]) for b in t.message()["content"] if b["type"] == "tool_use"] == [("Write", GOOD)]
    plain = translator(form, armed=False)
    plain.take_whole(data)
    assert [n.rule for n in plain.notes] == ["tool-call:nameless"], "without the rung: dropped, and said"


@pytest.mark.parametrize("reason,tool", [("required", None), ("required", "Write"), ("unseen-tools", None)])
def test_an_answer_that_had_to_call_and_did_not_is_reasked(reason, tool):
    t = translator("openai", expect=(reason, tool))
    out = first("openai", t, Reply(text="I cannot see any tools."), True)
    assert b"text_delta" in out and t.reask == Reask(reason, tool, "the answer has no tool call")
    value = GOOD if tool else {"name": "Write", "arguments": GOOD}
    out += t.resume(constrained_answer("openai", value), how="response_format json_schema")
    assert run_calls(out) == [("Write", GOOD)] and accumulate(out).content[0].text == "I cannot see any tools."
    t = translator("openai", expect=(reason, tool))  # an answer that called is left alone
    first("openai", t, Reply(calls=[Call("Write", GOOD)]), True)
    assert t.reask is None and t.message()["stop_reason"] == "tool_use"


def test_a_server_that_enforced_the_schema_on_its_tool_call_is_read_too():
    """vLLM's named tool_choice: the re-asked call comes back as a tool call, not as content."""
    t = translator("openai")
    out = first("openai", t, BROKEN["schema"], True)
    out += t.resume(whole("openai", Reply(calls=[Call("Write", GOOD, id="call_9")])), how="tool_choice")
    assert run_calls(out) == [("Write", GOOD)]


def test_a_shortened_tool_name_is_mapped_back():
    long = "mcp__a_very_long_server_name_that_goes_on__and_a_very_long_tool_name_as_well"
    tools = [{"name": long, "description": "", "input_schema": {"type": "object", "properties": {
        "q": {"type": "string"}}, "required": ["q"]}}]
    names = ToolNames([long])
    t = OpenAIStreamTranslator(model="claude-x", tools=tools, names=names)
    t.arm_reask()
    feed_split(t, b"".join(openai_chunks(Reply(calls=[Call(names.outgoing(long), {"x": 1})]), "m", True)))
    assert t.reask is not None and t.reask.tool == long
    out = t.resume(constrained_answer("openai", {"q": "a"}), how="format")
    assert run_calls(out) == [(long, {"q": "a"})]


def test_an_unarmed_translator_never_holds():
    t = translator("openai", armed=False)
    out = first("openai", t, BROKEN["schema"], True)
    assert t.reask is None and run_calls(out) == [("Write", {"file_path": "/tmp/a.txt"})]


# -- the first attempt constrained to a call or a text answer (--set reask=always) ------------------------
@pytest.mark.parametrize("form", REASKED)
def test_an_enveloped_answer_is_read_as_the_call_or_the_text_it_holds(form):
    for value, calls, text in ((({"name": "Write", "arguments": GOOD}), [("Write", GOOD)], None),
                               ({"text": "All done."}, [], "All done."),
                               ("plain prose, not kept to the constraint", [], "plain prose, not kept to the constraint")):
        t = translator(form, enveloped=True)
        body = value if isinstance(value, str) else json.dumps(value)
        out = first(form, t, Reply(text=body), True)
        assert stream_problems(out) == [] and run_calls(out) == calls
        message = accumulate(out)
        assert message.stop_reason == ("tool_use" if calls else "end_turn")
        assert [b.text for b in message.content if b.type == "text"] == ([text] if text else [])


# -- the constrained request, in each server's dialect ---------------------------------------------------
def _body(form: str) -> dict[str, Any]:
    from inspector.protocol import parse_request

    req = parse_request(orjson.dumps({"model": "claude-x", "max_tokens": 300, "stream": True, "tools": TOOLS,
                                      "messages": [{"role": "user", "content": "write"}]}))
    return get_form(form).build_request(req, model="m", options=__import__("inspector.protocol", fromlist=["x"])
                                        .TranslateOptions(), names=get_form(form).tool_names())


@pytest.mark.parametrize("server", [None, "llama.cpp", "lmstudio", "openai"])
def test_openai_form_constrains_with_response_format_and_keeps_the_prompt(server):
    body = _body("openai")
    out, how = OPENAI.constrained(body, tool="Write", server=server)
    assert how == "response_format json_schema"
    assert out["stream"] is False and "stream_options" not in out
    assert out["tools"] == body["tools"] and out["messages"] == body["messages"], "the same prompt (and cache)"
    assert out["tool_choice"] == "none", "no server reads the constrained JSON as a call"
    schema = out["response_format"]["json_schema"]["schema"]
    assert schema == {k: v for k, v in WRITE["input_schema"].items() if k != "$schema"}
    assert out["max_tokens"] == body["max_tokens"], "never more than the client allowed"
    out, _ = OPENAI.constrained(body, tool=None, server=server)
    options = out["response_format"]["json_schema"]["schema"]["anyOf"]
    assert [o["properties"]["name"]["const"] for o in options] == ["Write", "Read"]
    assert all(o["required"] == ["name", "arguments"] for o in options)


def test_vllm_gets_its_own_structured_outputs_a_named_or_required_tool_choice():
    body = _body("openai")
    out, how = OPENAI.constrained(body, tool="Write", server="vllm")
    assert out["tool_choice"] == {"type": "function", "function": {"name": "Write"}} and "response_format" not in out
    assert "vLLM" in how and out["stream"] is False
    out, _ = OPENAI.constrained(body, tool=None, server="vllm")
    assert out["tool_choice"] == "required"


def test_ollama_constrains_with_format():
    body = _body("ollama")
    out, how = OLLAMA.constrained(body, tool="Write")
    assert how == "format json schema" and out["stream"] is False and out["tools"] == body["tools"]
    assert out["format"]["required"] == ["file_path", "content"] and "$schema" not in out["format"]
    assert out["options"] == body["options"]


def test_the_plain_reask_pins_the_call_where_the_form_can_and_passthrough_never_reasks():
    out, how = OPENAI.pinned(_body("openai"), tool="Write")
    assert out["tool_choice"] == {"type": "function", "function": {"name": "Write"}} and "response_format" not in out
    assert OLLAMA.pinned(_body("ollama"), tool="Write") is None, "Ollama cannot pin a call: the same again is useless"
    anthropic = get_form("anthropic")
    assert anthropic.constrained({"tools": []}, tool="Write") is None and anthropic.pinned({}, tool="Write") is None
    assert OPENAI.constrained({"messages": []}, tool="Write") is None, "no tools offered: nothing to constrain to"


def test_the_constraint_and_its_reading():
    assert constraint([], "Write") is None
    assert read_constrained('{"file_path": "/a"}', "Write") == ("Write", {"file_path": "/a"})
    assert read_constrained('{"name": "Read", "arguments": {"file_path": "/a"}}', None) == ("Read", {"file_path": "/a"})
    assert read_constrained('{"file_path": "/a"', "Write") is None, "never repaired: the constraint made it JSON"
    assert read_constrained('[1]', "Write") is None and read_constrained('{"x": 1}', None) is None


def test_usage_is_summed_field_by_field():
    a = BackendUsage.counts("openai", prompt=100, cached=60, output=10)
    b = BackendUsage.counts("openai", prompt=100, cached=99, output=20)
    total = sum_usage(a, b)
    assert (total.prompt_tokens, total.cached_tokens, total.output_tokens, total.input_tokens) == (200, 159, 30, 41)
    assert sum_usage(None, b) is b and sum_usage(a, None) is a


# -- the rung is invisible where nothing broke -------------------------------------------------------------
def test_with_nothing_broken_an_armed_translator_sends_exactly_what_an_unarmed_one_does():
    """Every text shape a model prints a valid call in, and structured calls: byte for byte the same
    answer, ids aside — the rung holds nothing that parse and repair could send."""
    from tests.protocol.test_repair_streams import RENDER as SHAPES

    texts = [f"Let me write it.\n{render(GOOD)}" for render in SHAPES.values()]
    for form in REASKED:
        for text in texts:
            raw = b"".join(RENDER[form](Reply(text=text, pieces=9), "m", True))
            outs = []
            for armed in (False, True):
                t = translator(form, armed=armed)
                outs.append(_ids(feed_split(t, raw, cuts=range(5, len(raw), 31))))
                assert t.reask is None
            assert outs[0] == outs[1], text
        for calls in ([Call("Write", GOOD)], [Call("Write", GOOD), Call("Read", {"file_path": "/x"})]):
            raw = b"".join(RENDER[form](Reply(text="Ok.", calls=calls), "m", True))
            assert _ids(feed_split(translator(form, armed=False), raw)) == _ids(feed_split(translator(form), raw))
