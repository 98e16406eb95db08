"""The gateway's scenarios in every form, in-process (taddons, the relay on loopback), the official SDK as
the client: round trips, tool results, side traffic, bad input, broken and silent backends, routing.
What only the real mitmdump does is in ``test_mitmdump.py``."""

import anthropic
import orjson
import pytest

from inspector.protocol import FORM_NAMES, SSEDecoder, get_form, stream_problems
from inspector.testing.backends import SCRIPTS, Call, Reply, ScriptedBackend
from inspector.testing.inprocess import InProcessGateway
from inspector.testing.sdk import accumulate

pytestmark = pytest.mark.anyio
ASK = {"model": "claude-sonnet-x", "max_tokens": 200, "messages": [{"role": "user", "content": "hi"}]}
STREAM = {**ASK, "stream": True}
#: Forms whose side traffic (count_tokens, models, hello…) the gateway answers itself.
SIDE_ANSWERED = [f for f in FORM_NAMES if not get_form(f).whole_api]


@pytest.fixture
def anyio_backend():
    return "asyncio"


def events(raw: bytes) -> list[str]:
    d = SSEDecoder()
    return [e.event for e in d.decode(raw) + d.flush()]


class Pair:
    """A scripted backend of one form with the gateway in front of it, in-process."""

    def __init__(self, form: str, *replies: Reply, **options) -> None:
        self.form = get_form(form)
        self.backend = ScriptedBackend(form, list(replies) or [Reply(text="hi")])
        self.gateway = InProcessGateway(self.backend.url, backend=form, model="qwen3", ping_interval="0.3", **options)

    async def __aenter__(self):
        self.backend.__enter__()
        await self.gateway.__aenter__()
        return self

    async def __aexit__(self, *exc):
        await self.gateway.__aexit__(*exc)
        self.backend.__exit__(*exc)


# -- the happy paths, every form ------------------------------------------------------------------
@pytest.mark.parametrize("form", FORM_NAMES)
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
async def test_sdk_round_trip(form, stream):
    write = Call("Write", {"file_path": "/tmp/x", "content": "é\n"}, id="call_w1")
    async with Pair(form, Reply(thinking="Thinking it over", text="Let me write that.", calls=[write])) as p:
        c = p.gateway.sdk()
        if stream:
            async with c.messages.stream(**ASK) as s:
                msg = await s.get_final_message()
        else:
            msg = await c.messages.create(**ASK)
    assert [b.type for b in msg.content] == ["thinking", "text", "tool_use"]
    assert msg.content[1].text == "Let me write that."
    assert (msg.content[2].id, msg.content[2].name, msg.content[2].input) == \
        ("call_w1", "Write", {"file_path": "/tmp/x", "content": "é\n"})
    assert msg.stop_reason == "tool_use" and (msg.usage.input_tokens, msg.usage.output_tokens) == (42, 7)
    (sent,) = p.backend.chat_requests
    assert sent.body["model"] == "qwen3" and sent.path == p.form.chat_path()


@pytest.mark.parametrize("form", FORM_NAMES)
async def test_tool_result_goes_back_with_the_same_id(form):
    async with Pair(form, Reply(text="It says hello.")) as p:
        msg = await p.gateway.sdk().messages.create(**{**ASK, "messages": [
            {"role": "user", "content": "read it"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "call_r1", "name": "Read",
                                               "input": {"file_path": "/a"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_r1", "content": "hello"}]}]})
    assert msg.content[0].text == "It says hello."
    sent = p.backend.chat_requests[0].body
    assert SCRIPTS[form].tool_results(sent) == ["hello"] and b"call_r1" in orjson.dumps(sent)


@pytest.mark.parametrize("form", FORM_NAMES)
async def test_query_string_does_not_break_routing_and_grammar_is_exact(form):
    async with Pair(form, Reply(text="Hello there, friend.", calls=[Call("Read", {"file_path": "/a"})])) as p:
        r = await p.gateway.send("POST", "/v1/messages?beta=true", json=STREAM)
    assert stream_problems(r.body, strict=p.form.writes_answers) == []
    assert events(r.body)[0] == "message_start" and events(r.body)[-1] == "message_stop"


# -- side traffic ----------------------------------------------------------------------------------
@pytest.mark.parametrize("form", SIDE_ANSWERED)
async def test_side_traffic_is_answered_without_the_backend(form):
    async with Pair(form, Reply(text="never")) as p:
        gw = p.gateway
        n = await gw.sdk().messages.count_tokens(model="claude-x", messages=[{"role": "user", "content": "hi " * 400}])
        assert 250 < n.input_tokens < 400
        r = await gw.send("POST", "/v1/messages/count_tokens?beta=true", json={"model": "m", "messages": []})
        assert r.status == 200 and r.json()["input_tokens"] >= 1
        models = await gw.send("GET", "/v1/models?limit=1000")
        assert models.status == 404, "no Anthropic-style id to list: Claude Code keeps its built-in list"
        assert (await gw.send("HEAD", "/api/hello")).status == 200
        assert (await gw.send("POST", "/api/event_logging/batch", json={"events": []})).status == 200
        assert (await gw.send("POST", "/v1/traces", json={"resourceSpans": []})).status == 200
        r = await gw.send("GET", "/v1/files")
        assert r.status == 404 and r.json()["error"]["type"] == "not_found_error"
    assert [x for x in p.backend.received if x.method == "POST"] == []


# -- bad input and broken backends ------------------------------------------------------------------
@pytest.mark.parametrize("form", FORM_NAMES)
@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"model": "m"}'], ids=["not-json", "not-an-object", "no-messages"])
async def test_malformed_client_json_is_an_anthropic_400(form, body):
    async with Pair(form, Reply(text="never")) as p:
        r = await p.gateway.send("POST", "/v1/messages", content=body)
    assert r.status == 400
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == "invalid_request_error"
    assert p.backend.chat_requests == []


@pytest.mark.parametrize("form", FORM_NAMES)
async def test_model_not_found_says_what_to_do(form):
    """A 400, in every form: Claude Code replaces a 404's message with its own (a local server's
    not_found_error passed through included; only Anthropic's own API keeps its 404)."""
    async with Pair(form, Reply(status=404, error="model 'qwen3' not found")) as p:
        with pytest.raises(anthropic.BadRequestError) as e:
            await p.gateway.sdk().messages.create(**ASK)
    assert "qwen3" in str(e.value)
    if p.form.writes_answers:
        assert p.form.missing_model_fix("qwen3") in str(e.value)


@pytest.mark.parametrize("form", FORM_NAMES)
async def test_backend_500_is_an_api_error(form):
    async with Pair(form, Reply(status=500, error="CUDA out of memory")) as p:
        with pytest.raises(anthropic.InternalServerError, match="CUDA out of memory"):
            await p.gateway.sdk().messages.create(**ASK)


@pytest.mark.parametrize("form", [f for f in FORM_NAMES if get_form(f).writes_answers])
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
async def test_garbage_from_backend(form, stream):
    async with Pair(form, Reply(raw=[b"<html><body>502 Bad Gateway</body></html>"], content_type="text/html")) as p:
        with pytest.raises(anthropic.APIStatusError, match=f"backend={form}"):
            c = p.gateway.sdk()
            if stream:
                async with c.messages.stream(**ASK) as s:
                    await s.get_final_message()
            else:
                await c.messages.create(**ASK)


@pytest.mark.parametrize("form", FORM_NAMES)
async def test_stream_cut_mid_way_ends_properly(form):
    async with Pair(form, Reply(text="This answer will be cut off before it ends", cut_after=2)) as p:
        r = await p.gateway.send("POST", "/v1/messages", json=STREAM)
        assert events(r.body)[-1] == "error"
        error = r.body.split(b"event: error")[-1]
        assert b"was cut" in error and b"closed the connection mid-answer" in error
        assert stream_problems(r.body, strict=False) == []
        with pytest.raises(anthropic.APIStatusError):
            async with p.gateway.sdk().messages.stream(**ASK) as s:
                await s.get_final_message()


@pytest.mark.parametrize("form", FORM_NAMES)
async def test_silent_backend_gets_pings_then_the_answer(form):
    async with Pair(form, Reply(text="Finally, after a long prompt evaluation.", delay=1.2)) as p:
        r = await p.gateway.send("POST", "/v1/messages", json=STREAM)
    names = events(r.body)
    assert r.times[0] < 1.0, "the client heard something before the backend said a word"
    if p.form.writes_answers:
        assert names[:2] == ["message_start", "ping"] and names.count("ping") >= 2
    else:
        assert names[0] == "ping", "a ping alone: the backend's own message_start comes later"
    assert stream_problems(r.body) == [] and names[-1] == "message_stop"
    assert accumulate(r.body).content[0].text == "Finally, after a long prompt evaluation."


@pytest.mark.parametrize("form", FORM_NAMES)
async def test_silent_backend_that_then_fails_gives_an_error_event(form):
    async with Pair(form, Reply(status=404, error="model 'qwen3' not found", delay=0.8)) as p:
        r = await p.gateway.send("POST", "/v1/messages", json=STREAM)
    assert events(r.body)[-1] == "error" and b"model 'qwen3' not found" in r.body
    if p.form.writes_answers:
        assert p.form.missing_model_fix("qwen3").encode() in r.body


@pytest.mark.parametrize("form", FORM_NAMES)
async def test_silences_mid_stream_get_pings(form):
    async with Pair(form, Reply(text="one two three four five six", gap=0.4)) as p:
        r = await p.gateway.send("POST", "/v1/messages", json=STREAM)
    names = events(r.body)
    first_delta = names.index("content_block_delta")
    assert "ping" in names[first_delta:], names
    assert names[-1] == "message_stop"


@pytest.mark.parametrize("form", FORM_NAMES)
async def test_a_client_that_leaves_mid_stream_leaves_the_gateway_healthy(form):
    async with Pair(form, Reply(text="a slow answer " * 5, gap=0.1)) as p:
        await p.gateway.send("POST", "/v1/messages", json=STREAM, read=1)
        p.backend.script = [Reply(text="still here")]
        assert (await p.gateway.sdk().messages.create(**ASK)).content[0].text == "still here"


# -- single-form behaviours -------------------------------------------------------------------------
async def test_model_map_routes_tiers_and_backend_key_is_sent():
    with ScriptedBackend("openai", [Reply(text="ok")]) as b:
        async with InProcessGateway(b.url, backend="openai", model="big", model_map="haiku=small",
                                    backend_api_key="backend-key-123") as gw:
            c = gw.sdk()
            await c.messages.create(**{**ASK, "model": "claude-haiku-4-5-20251001"})
            await c.messages.create(**{**ASK, "model": "claude-sonnet-9"})
            assert [r.body["model"] for r in b.chat_requests] == ["small", "big"]
            assert b.chat_requests[0].headers["authorization"] == "Bearer backend-key-123"
            listed = (await gw.send("GET", "/v1/models")).json()["data"]
            assert [(m["id"], m["display_name"]) for m in listed] == [
                ("claude-haiku-4-5-20251001", "claude-haiku-4-5-20251001 → small (via inspector gateway)"),
                ("claude-sonnet-9", "claude-sonnet-9 → big (via inspector gateway)")], "the ids Claude Code sent"


async def test_num_ctx_and_clamp_options_reach_ollama():
    with ScriptedBackend("ollama", [Reply(text="ok")]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="q", num_ctx=65536, max_tokens_limit=4096) as gw:
            await gw.send("POST", "/v1/messages", json={**ASK, "max_tokens": 128000})
            assert b.chat_requests[0].body["options"] == {"num_predict": 4096, "num_ctx": 65536}
