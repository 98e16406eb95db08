"""The repair ladder's re-ask through the gateway, in-process: scripted backends of every form that
answer the constrained re-ask correctly, that answer it no better, that refuse it (HTTP 400), that
are slow to; the client's stream, the recording of both attempts, and what the ladder learns.

The backends check what they are sent: ``constrained_reply`` validates its answer against the schema
the gateway's request carried, as a server holding its output to that schema would produce it.
"""

import asyncio
import json
import threading

import orjson
import pytest

from inspector.gateway.reask import Ladder
from inspector.protocol import SSEDecoder, stream_problems
from inspector.recording import list_sessions
from inspector.testing.backends import (
    SCRIPTS,
    Call,
    Reply,
    ScriptedBackend,
    constrained_reply,
    constraint_of,
    has_tool_result,
    openai_chunks,
    reask_brain,
)
from inspector.testing.forms import REASKED
from inspector.testing.inprocess import InProcessGateway
from inspector.testing.sdk import accumulate, cut_calls, run_calls

pytestmark = pytest.mark.anyio

WRITE = {"name": "Write", "description": "Writes a file to the local filesystem", "input_schema": {
    "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
    "properties": {"file_path": {"type": "string"}, "content": {"type": "string"}},
    "required": ["file_path", "content"], "additionalProperties": False}}
READ = {"name": "Read", "description": "Reads a file from the local filesystem", "input_schema": {
    "type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]}}
GOOD = {"file_path": "/tmp/a.txt", "content": "hi\n"}
ASK = {"model": "claude-x", "max_tokens": 300, "tools": [WRITE, READ],
       "messages": [{"role": "user", "content": "Write hi into /tmp/a.txt"}]}
BROKEN = Reply(text="I will write it.", calls=[Call("Write", {"file_path": "/tmp/a.txt"}, id="call_1")])
#: (form, the server it says it is): each writes the constraint in its own dialect.
#: Every server dialect of every form the ladder re-asks in (Ollama; OpenAI-compatible plain, llama.cpp, vLLM, LM Studio).
SERVERS = [(form, server) for form in REASKED for server in SCRIPTS[form].servers or (None,)]
IDS = [f"{f}-{s}" for f, s in SERVERS]


@pytest.fixture
def anyio_backend():
    return "asyncio"


def events(raw: bytes) -> list[str]:
    d = SSEDecoder()
    return [e.event for e in d.decode(raw) + d.flush()]


def _valid(form, rec):
    reply = constrained_reply(form, rec, GOOD)
    reply.prompt_tokens, reply.output_tokens = 30, 12
    return reply


# -- every form: the re-asked call replaces the broken one ---------------------------------------------------
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
@pytest.mark.parametrize("form,server", SERVERS, ids=IDS)
async def test_a_broken_call_is_reasked_in_the_servers_dialect_and_both_attempts_are_recorded(form, server, stream,
                                                                                              tmp_path):
    with ScriptedBackend(form, reask_brain(form, BROKEN, lambda rec: _valid(form, rec)), server=server) as b:
        async with InProcessGateway(b.url, backend=form, model="q", record=True, record_dir=str(tmp_path)) as gw:
            r = await gw.send("POST", "/v1/messages", json={**ASK, "stream": stream})
    assert r.status == 200
    first, second = b.chat_requests
    kind, schema = constraint_of(form, second.body)
    assert constraint_of(form, first.body) is None, "the first attempt is the plain translation"
    assert kind == {"ollama": "format", "vllm": "tool_choice"}.get(server, "response_format")
    assert second.body["messages"] == first.body["messages"], "the same request again"
    assert second.body["stream"] is False
    if stream:
        assert stream_problems(r.body) == []
        message = accumulate(r.body)
        assert run_calls(r.body) == [("Write", GOOD)]
        assert [b.type for b in message.content] == ["text", "tool_use"] and message.content[0].text == BROKEN.text
        assert (message.usage.input_tokens, message.usage.output_tokens) == (42 + 30, 7 + 12)
        assert message.stop_reason == "tool_use"
    else:
        m = r.json()
        assert [(c["name"], c["input"]) for c in m["content"] if c["type"] == "tool_use"] == [("Write", GOOD)]
        assert (m["usage"]["input_tokens"], m["usage"]["output_tokens"]) == (42 + 30, 7 + 12)
    s = gw.ended[-1]
    reask = s["reask"]
    assert (reask["reason"], reask["tool"], reask["constrained"], reask["outcome"]) == ("schema", "Write", True, "valid")
    assert [a["n"] for a in reask["attempts"]] == [1, 2] and reask["attempts"][1]["usage"]["output_tokens"] == 12
    assert s["tool_calls"][0]["input"] == GOOD and s["usage"]["output_tokens"] == 19
    assert "re-asked (schema) → valid" in gw.log.getvalue(), "the colour log says it"
    (session,) = list_sessions(tmp_path)
    (ex,) = session.exchanges()
    assert ex.meta["reask"]["outcome"] == "valid"
    assert ex.request_json("backend") == first.body, "the first attempt as it was"
    assert ex.request_json("backend-2") == second.body, "the re-ask beside it"
    status, _, chunks = ex.response("backend-2")
    assert status == 200 and b"".join(c.data for c in chunks)
    assert ex.attempts == [2]


@pytest.mark.parametrize("form,server", SERVERS, ids=IDS)
async def test_a_reask_no_better_leaves_the_answer_as_it_was_and_says_why(form, server):
    still_broken = Reply(text=json.dumps({"file_path": "/tmp/a.txt"}), calls=[] if server != "vllm" else
                         [Call("Write", {"file_path": "/tmp/a.txt"})])
    if server == "vllm":
        still_broken.text = ""
    with ScriptedBackend(form, reask_brain(form, BROKEN, still_broken), server=server) as b:
        async with InProcessGateway(b.url, backend=form, model="q") as gw:
            r = await gw.send("POST", "/v1/messages", json={**ASK, "stream": True})
    assert len(b.chat_requests) == 2
    assert run_calls(r.body) == [("Write", {"file_path": "/tmp/a.txt"})], "the first call, as it went before"
    s = gw.ended[-1]
    assert s["reask"]["outcome"] == "no better" and "required" in s["reask"]["why"]
    rules = [n.get("rule") for n in s["notes"]]
    assert "schema:missing-required" in rules and "reask:failed" in rules
    assert "re-asked (schema) → no better" in gw.log.getvalue()


# -- a server that refuses the constrained request ------------------------------------------------------------
async def test_a_400_to_the_constrained_request_gets_the_plain_reask_and_is_remembered():
    def brain(rec):
        body = rec.body
        if body.get("response_format"):
            return Reply(status=400, error="response_format is not supported")
        if isinstance(body.get("tool_choice"), dict):  # the plain re-ask pins the call
            return Reply(calls=[Call("Write", GOOD)])
        return BROKEN

    with ScriptedBackend("openai", brain) as b:
        async with InProcessGateway(b.url, backend="openai", model="q") as gw:
            r = await gw.send("POST", "/v1/messages", json={**ASK, "stream": True})
            again = await gw.send("POST", "/v1/messages", json={**ASK, "stream": True})
    assert run_calls(r.body) == [("Write", GOOD)] and run_calls(again.body) == [("Write", GOOD)]
    first, second = gw.ended[-2]["reask"], gw.ended[-1]["reask"]
    assert [a.get("status") for a in first["attempts"]] == [200, 400, 200]
    assert (first["constrained"], first["outcome"]) == (False, "valid")
    assert [a.get("status") for a in second["attempts"]] == [200, 200], "learned: no constrained request again"
    assert [n.get("rule") for n in gw.ended[-2]["notes"]].count("reask:refused") == 1
    assert "re-asked (plain) → valid" in gw.log.getvalue()
    sent = [r.body for r in b.chat_requests]
    assert [("response_format" in s, isinstance(s.get("tool_choice"), dict)) for s in sent] == \
        [(False, False), (True, False), (False, True), (False, False), (False, True)]


async def test_ollama_refusing_the_format_gets_no_plain_reask_and_the_log_says_so():
    def brain(rec):
        return Reply(status=400, error="invalid format") if rec.body.get("format") else BROKEN

    with ScriptedBackend("ollama", brain) as b:
        async with InProcessGateway(b.url, backend="ollama", model="q") as gw:
            r = await gw.send("POST", "/v1/messages", json={**ASK, "stream": True})
            await gw.send("POST", "/v1/messages", json={**ASK, "stream": True})
    assert run_calls(r.body) == [("Write", {"file_path": "/tmp/a.txt"})]
    first, second = gw.ended[-2], gw.ended[-1]
    assert first["reask"]["outcome"] == "refused"
    assert any("no plain re-ask is possible" in n["message"] for n in first["notes"])
    assert (second["reask"]["constrained"], second["reask"]["outcome"]) == (None, "not possible")
    assert "no re-ask (not possible)" in gw.log.getvalue()
    assert len(b.chat_requests) == 3, "the second exchange asked nothing again"


# -- a call cut by the token limit -----------------------------------------------------------------------------
@pytest.mark.parametrize("form", REASKED)
async def test_a_call_cut_by_the_token_limit_is_reasked_within_what_the_client_allowed(form):
    cut = Reply(text="Writing.", calls=[Call("Write", '{"file_path": "/tmp/a.txt", "content": "h')],
                done_reason="length")
    if not SCRIPTS[form].keeps_cut_calls:  # Ollama's own parser drops an unclosed call: what reaches us is its text
        cut = Reply(text='Writing.\n<tool_call>\n{"name": "Write", "arguments": {"file_path": "/tmp/a.txt", "co',
                    done_reason="length")
    with ScriptedBackend(form, reask_brain(form, cut, lambda rec: _valid(form, rec))) as b:
        async with InProcessGateway(b.url, backend=form, model="q", max_tokens_limit=200) as gw:
            r = await gw.send("POST", "/v1/messages", json={**ASK, "stream": True})
    assert run_calls(r.body) == [("Write", GOOD)] and cut_calls(r.body) == []
    first, second = (rec.body for rec in b.chat_requests)
    limit = SCRIPTS[form].output_limit
    assert limit(first) == limit(second) == 200, "the client's 300, clamped by max_tokens_limit: never more"
    assert gw.ended[-1]["reask"]["reason"] == "cut"
    assert not [n for n in gw.ended[-1]["notes"] if n.get("rule") in ("tool-call:cut", "text-call:cut")]


# -- while it runs ------------------------------------------------------------------------------------------------
async def test_the_client_hears_pings_while_the_reask_runs_and_the_call_comes_whole():
    slow = Reply(text=json.dumps(GOOD), delay=1.0)
    with ScriptedBackend("openai", reask_brain("openai", BROKEN, slow)) as b:
        async with InProcessGateway(b.url, backend="openai", model="q", ping_interval="0.2") as gw:
            r = await gw.send("POST", "/v1/messages", json={**ASK, "stream": True})
    names = events(r.body)
    text_end = max(i for i, n in enumerate(names) if n == "content_block_delta" and i < names.index("content_block_stop"))
    call = names.index("content_block_start", text_end)
    assert "ping" in names[text_end:call], "keep-alives between the text and the re-asked call"
    assert names[call:call + 3] == ["content_block_start", "content_block_delta", "content_block_stop"], "whole"
    assert stream_problems(r.body) == []


async def test_a_reask_over_its_budget_leaves_the_answer_as_it_was():
    slow = Reply(text=json.dumps(GOOD), delay=5.0)
    with ScriptedBackend("openai", reask_brain("openai", BROKEN, slow)) as b:
        async with InProcessGateway(b.url, backend="openai", model="q", reask_budget="0.3") as gw:
            r = await gw.send("POST", "/v1/messages", json={**ASK, "stream": True})
    assert run_calls(r.body) == [("Write", {"file_path": "/tmp/a.txt"})]
    assert gw.ended[-1]["reask"]["outcome"] == "timeout"


async def test_a_client_that_leaves_cancels_the_reask_and_the_backend_stops():
    """The re-ask's answer never comes; the client reads the first answer and the pings that follow
    it, and walks away (after 25 pieces: the first answer is a few, the pings as many as it waits)."""
    hold = threading.Event()
    with ScriptedBackend("openai", reask_brain("openai", BROKEN, Reply(raw=[hold, b"{}"]))) as b:
        async with InProcessGateway(b.url, backend="openai", model="q", ping_interval="0.05") as gw:
            r = await gw.send("POST", "/v1/messages", json={**ASK, "stream": True}, read=25)
            for _ in range(250):
                if gw.ended and b.aborted:
                    break
                await asyncio.sleep(0.02)
            hold.set()
    assert len(b.chat_requests) == 2 and b"ping" in r.body, "it left during the re-ask"
    s = gw.ended[-1]
    assert s["reask"]["outcome"] == "cancelled" and s["aborted_by"] == "client"
    assert b.aborted, "the re-ask's backend connection was closed"


# -- the modes ------------------------------------------------------------------------------------------------------
async def test_reask_off_sends_the_broken_call_as_before():
    with ScriptedBackend("openai", reask_brain("openai", BROKEN, lambda rec: _valid("openai", rec))) as b:
        async with InProcessGateway(b.url, backend="openai", model="q", reask="off") as gw:
            r = await gw.send("POST", "/v1/messages", json={**ASK, "stream": True})
    assert len(b.chat_requests) == 1 and run_calls(r.body) == [("Write", {"file_path": "/tmp/a.txt"})]
    assert "reask" not in gw.ended[-1]


async def test_passthrough_is_never_reasked():
    with ScriptedBackend("anthropic", reask_brain("anthropic", BROKEN, BROKEN)) as b:
        async with InProcessGateway(b.url, backend="anthropic", model="q") as gw:
            r = await gw.send("POST", "/v1/messages", json={**ASK, "stream": True})
    assert len(b.chat_requests) == 1 and run_calls(r.body) == [("Write", {"file_path": "/tmp/a.txt"})]


async def test_always_constrains_the_first_attempt_of_a_session_that_needed_a_reask():
    session = {"x-claude-code-session-id": "5e55-1"}

    def brain(rec):
        kind = constraint_of("openai", rec.body)
        if kind is None:
            return BROKEN
        schema = kind[1]
        if "anyOf" in schema and {"text"} in [set(o["properties"]) for o in schema["anyOf"]]:
            return Reply(text=json.dumps({"name": "Read", "arguments": {"file_path": "/tmp/b.txt"}}))
        return _valid("openai", rec)

    with ScriptedBackend("openai", brain) as b:
        async with InProcessGateway(b.url, backend="openai", model="q", reask="always") as gw:
            await gw.send("POST", "/v1/messages", json={**ASK, "stream": True}, headers=session)
            r = await gw.send("POST", "/v1/messages", json={**ASK, "stream": True}, headers=session)
            other = await gw.send("POST", "/v1/messages", json={**ASK, "stream": True},
                                  headers={"x-claude-code-session-id": "5e55-2"})
    third = b.chat_requests[2].body
    assert third["stream"] is True, "streamed as the client asked"
    options = third["response_format"]["json_schema"]["schema"]["anyOf"]
    assert {"text"} in [set(o["properties"]) for o in options], "the model may still answer in words"
    assert run_calls(r.body) == [("Read", {"file_path": "/tmp/b.txt"})] and accumulate(r.body).stop_reason == "tool_use"
    assert "reask:always" in [n.get("rule") for n in gw.ended[1]["notes"]]
    assert len(b.chat_requests) == 5 and constraint_of("openai", b.chat_requests[3].body) is None, \
        "another session starts unconstrained"
    assert run_calls(other.body) == [("Write", GOOD)]


# -- an answer that had to call -------------------------------------------------------------------------------------
async def test_a_required_call_that_did_not_come_is_reasked():
    prose = Reply(text="Here is how you would write the file: ...")  # a server whose tool_choice forces nothing

    def brain(rec):
        return _valid("openai", rec) if rec.body.get("response_format") else prose

    with ScriptedBackend("openai", brain) as b:
        async with InProcessGateway(b.url, backend="openai", model="q") as gw:
            r = await gw.send("POST", "/v1/messages", json={**ASK, "stream": True,
                                                             "tool_choice": {"type": "tool", "name": "Write"}})
    assert run_calls(r.body) == [("Write", GOOD)]
    assert (gw.ended[-1]["reask"]["reason"], gw.ended[-1]["reask"]["tool"]) == ("required", "Write")


async def test_a_model_whose_template_shows_no_tool_is_reasked_on_the_turn_the_user_started():
    """llama.cpp's own count (``/apply-template``) says the template renders none of the tools: the
    model cannot call on its own. The turn the user's words start gets one of the tools' calls; after a
    tool result, the model's words end the turn."""
    checked = threading.Event()  # the first answer waits until the ladder has the count (a model is slow)
    prose = Reply(raw=[checked, *openai_chunks(Reply(text="I am a small model and I see no tools."), "q", True)])

    def brain(rec):
        if constraint_of("openai", rec.body) is not None:
            return constrained_reply("openai", rec, GOOD, "Write")
        return prose if not has_tool_result("openai", rec.body) else Reply(text="Written.")

    with ScriptedBackend("openai", brain, server="llama.cpp") as b:
        b.template_tools = False
        async with InProcessGateway(b.url, backend="openai", model="q", ping_interval="0.05") as gw:
            ladder = gw.addon(Ladder)
            task = asyncio.ensure_future(gw.send("POST", "/v1/messages", json={**ASK, "stream": True}))
            for _ in range(500):
                if ladder.checked:
                    break
                await asyncio.sleep(0.02)
            checked.set()
            r = await task
            done = {**ASK, "stream": True, "messages": [
                *ASK["messages"], {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "Write", "input": GOOD}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}]}]}
            after = await gw.send("POST", "/v1/messages", json=done)
    assert run_calls(r.body) == [("Write", GOOD)]
    assert gw.ended[0]["reask"]["reason"] == "unseen-tools"
    assert accumulate(after.body).stop_reason == "end_turn" and "reask" not in gw.ended[1]
    anyof = b.chat_requests[1].body["response_format"]["json_schema"]["schema"]["anyOf"]
    assert [o["properties"]["name"]["const"] for o in anyof] == ["Write", "Read"], "the name was never known"


# -- failing closed ---------------------------------------------------------------------------------------------
async def test_a_backend_that_breaks_during_the_reask_leaves_the_answer_as_it_was():
    with ScriptedBackend("openai", reask_brain("openai", BROKEN, Reply(raw=[b'{"choi'], cut_after=0))) as b:
        async with InProcessGateway(b.url, backend="openai", model="q") as gw:
            r = await gw.send("POST", "/v1/messages", json={**ASK, "stream": True})
    assert stream_problems(r.body) == [] and run_calls(r.body) == [("Write", {"file_path": "/tmp/a.txt"})]
    assert gw.ended[-1]["reask"]["outcome"] == "failed"


def test_the_recording_reader_is_tolerant_of_attempts_it_does_not_find(tmp_path):
    from inspector.recording import ExchangeRecord

    (tmp_path / "0001_messages").mkdir()
    (tmp_path / "0001_messages" / "exchange.json").write_bytes(orjson.dumps({"schema": "inspector.recording/1",
                                                                            "reask": "garbage"}))
    ex = ExchangeRecord(tmp_path / "0001_messages")
    assert ex.attempts == [] and ex.meta.get("reask") is None and ex.problems


def test_the_ladder_plans_nothing_where_there_is_nothing_to_reask():
    from inspector.gateway.exchange import Exchange
    from inspector.protocol import TranslateOptions, get_form, parse_request

    ladder = Ladder()

    def plan(form="openai", **request):
        req = parse_request(json.dumps({**ASK, **request}).encode())
        ex = Exchange(form=get_form(form), kind="messages", backend="http://b", backend_model="q", session_id="s")
        return ladder.plan(ex, req, get_form(form).build_request(req, model="q", options=TranslateOptions(), names=None))

    assert plan() is not None and plan().expect is None
    assert plan(tool_choice={"type": "none"}) is None, "the client forbade calls"
    assert plan(tools=[]) is None and plan("anthropic") is None
    assert plan(tool_choice={"type": "any"}).expect == ("required", None)
    ladder.mode = "off"
    assert plan() is None
    ladder.mode = "always"
    ladder.needed.add(("s", "q"))
    assert plan().first is not None and plan().first["response_format"]["json_schema"]["name"] == "answer"
    for n in range(ladder.needed.limit + 10):
        ladder.needed.add((f"s{n}", "q"))
    assert len(ladder.needed) == ladder.needed.limit and ("s", "q") not in ladder.needed, "the oldest forgotten"
