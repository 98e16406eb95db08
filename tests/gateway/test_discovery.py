"""What each backend says about its models, asked by the gateway (in-process, scripted servers that
answer as each server documents): the real window refuses what cannot fit before any chat call,
counts come from the backend's tokenizer, and a model is asked once."""

import asyncio
from pathlib import Path

import orjson
import pytest

from inspector.gateway.admission import Admission
from inspector.gateway.discovery import Discovery
from inspector.protocol import OLLAMA, OPENAI, TranslateOptions
from inspector.testing.backends import Reply, ScriptedBackend, scripted_template, scripted_tokens
from inspector.testing.inprocess import InProcessGateway
from inspector.testing.sdk import accumulate
from inspector.transport import BackendClient

pytestmark = pytest.mark.anyio
DATA = Path(__file__).resolve().parent.parent / "data"
CLAUDE_CODE = (DATA / "claude-code-request.json").read_bytes()  # ≈12.5k tokens by the estimate
SMALL = {"model": "claude-sonnet-x", "max_tokens": 100, "messages": [{"role": "user", "content": "Say hello."}]}


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def test_an_ollama_window_of_8192_refuses_claude_codes_request_before_any_chat_call():
    """Issue 10's example: /api/show says 8,192, the gateway runs with num_ctx=65536 (Ollama caps it)."""
    with ScriptedBackend("ollama", [Reply(text="never")]) as b:
        b.context_length = 8192
        async with InProcessGateway(b.url, backend="ollama", model="qwen3:8b", num_ctx=65536) as gw:
            r = await gw.send("POST", "/v1/messages", content=CLAUDE_CODE)
    assert r.status == 400 and r.json()["error"]["type"] == "invalid_request_error"
    message = r.json()["error"]["message"]
    assert message.startswith("prompt is too long: 13219 tokens > 8192 maximum"), "the Anthropic API's words"
    assert "context window is 8,192 tokens" in message
    assert "≈13,219 tokens (estimated)" in message and "capped by Ollama at the trained 8,192" in message
    assert b.chat_requests == [], "no /api/chat call was made"
    (ex,) = gw.ended
    assert ex["context_window"]["tokens"] == 8192 and ex["token_counts"] == {
        "input_tokens": 13219, "exact": False, "source": "estimate (request bytes / 4)"}
    assert ex["notes"][-1]["rule"] == "context:too-long" and ex["model"]["backend"] == "qwen3:8b"


async def test_a_model_is_asked_once_and_again_after_a_context_failure():
    context_error = Reply(status=400, error="the input length exceeds the context length")
    with ScriptedBackend("ollama", [Reply(text="hi"), Reply(text="hi"), context_error, Reply(text="hi")]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="qwen3:8b", num_ctx=4096) as gw:
            for _ in range(2):
                await gw.send("POST", "/v1/messages", json=SMALL)
            shows = [p for p in b.probes if p.path == "/api/show"]
            assert len(shows) == 1, "cached per model"
            r = await gw.send("POST", "/v1/messages", json=SMALL)  # answered with the backend's context error
            assert r.status == 400 and r.json()["error"]["message"].startswith("prompt is too long")
            await gw.send("POST", "/v1/messages", json=SMALL)
            assert len([p for p in b.probes if p.path == "/api/show"]) == 2, "asked again after failing for context"


async def test_an_unloaded_ollama_model_is_asked_again_once_it_is_loaded():
    with ScriptedBackend("ollama", [Reply(text="hi")]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="qwen3:8b") as gw:
            await gw.send("POST", "/v1/messages", json=SMALL)
            assert "trained length" in gw.ended[-1]["context_window"]["source"]
            b.loaded["qwen3:8b"] = 4096  # Ollama loaded it with its default context
            await gw.send("POST", "/v1/messages", json=SMALL)  # the first exchange's end asks again
            discovery = gw.addon(Admission).discovery
            for _ in range(40):
                if [f.window for f in discovery.known()] == [4096]:
                    break
                await asyncio.sleep(0.05)
            await gw.send("POST", "/v1/messages", json=SMALL)
    assert gw.ended[-1]["context_window"] == {"tokens": 4096, "source": "ollama /api/ps (the loaded model's context)"}


@pytest.mark.parametrize("server, window, source", [
    ("llama.cpp", 16384, "llama.cpp /props (n_ctx per slot)"),
    ("vllm", 32768, "vllm /v1/models max_model_len"),
    ("lmstudio", 8192, "lmstudio /api/v0/models loaded_context_length"),
])
async def test_each_openai_form_server_says_its_window(server, window, source):
    with ScriptedBackend("openai", [Reply(text="hi")], server=server) as b:
        async with InProcessGateway(b.url, backend="openai", model="qwen3") as gw:
            r = await gw.send("POST", "/v1/messages", json=SMALL)
    assert r.status == 200 and gw.ended[-1]["context_window"] == {"tokens": window, "source": source}


@pytest.mark.parametrize("server, source", [("llama.cpp", "llama.cpp /apply-template + /tokenize"),
                                            ("vllm", "vllm /tokenize")])
async def test_count_tokens_comes_from_the_backends_tokenizer(server, source):
    with ScriptedBackend("openai", [Reply(text="hi")], server=server) as b:
        async with InProcessGateway(b.url, backend="openai", model="qwen3") as gw:
            r = await gw.send("POST", "/v1/messages/count_tokens", json=SMALL)
    sent = next(p for p in b.probes if p.path in ("/apply-template", "/tokenize")).body
    expected = len(scripted_tokens(scripted_template(sent["messages"], sent.get("tools"))))
    assert r.status == 200 and r.json() == {"input_tokens": expected}
    assert gw.ended[-1]["token_counts"] == {"input_tokens": expected, "exact": True, "source": source}
    assert "count" in gw.log.getvalue() and "exact" in gw.log.getvalue()


async def test_without_a_tokenizer_count_tokens_is_the_estimate_corrected_by_real_counts():
    with ScriptedBackend("ollama", [Reply(text="hi", prompt_tokens=30)]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="qwen3:8b", num_ctx=65536) as gw:
            headers = {"x-claude-code-session-id": "s-1"}
            first = await gw.send("POST", "/v1/messages/count_tokens", json=SMALL, headers=headers)
            await gw.send("POST", "/v1/messages", json=SMALL, headers=headers)  # the backend counts 30
            second = await gw.send("POST", "/v1/messages/count_tokens", json=SMALL, headers=headers)
            other = await gw.send("POST", "/v1/messages/count_tokens", json=SMALL,
                                  headers={"x-claude-code-session-id": "s-2"})
    estimate = first.json()["input_tokens"]
    assert gw.ended[0]["token_counts"]["source"] == "estimate (request bytes / 4)"
    assert second.json() == {"input_tokens": 30}, "the same request, now as the backend counts it"
    assert "corrected by 1 real count" in gw.ended[2]["token_counts"]["source"]
    assert gw.ended[2]["token_counts"]["exact"] is False
    assert other.json() == {"input_tokens": estimate}, "another session has seen no real count"


async def test_the_exact_count_overrules_an_estimate_over_the_window():
    """The estimate says ≈13k; the backend's template renders far fewer tokens: the request goes."""
    with ScriptedBackend("openai", [Reply(text="hi")], server="llama.cpp") as b:
        b.n_ctx = 12_000
        b.template_tools = False  # like SmolLM2's template: no tools in the prompt
        # (reask off: the ladder would ask the model that cannot see the tools again, for a call)
        async with InProcessGateway(b.url, backend="openai", model="qwen3", reask="off") as gw:
            r = await gw.send("POST", "/v1/messages", content=CLAUDE_CODE.replace(b'"stream":true', b'"stream":false'))
    assert r.status == 200 and len(b.chat_requests) == 1
    counts = gw.ended[-1]["token_counts"]
    assert counts["exact"] and counts["input_tokens"] < 12_000 < 13_219
    assert any(n.get("rule") == "template:tools-dropped" for n in gw.ended[-1]["notes"])


async def test_an_exact_count_over_the_window_is_refused_with_it():
    long = {**SMALL, "messages": [{"role": "user", "content": "word " * 3000}]}
    with ScriptedBackend("openai", [Reply(text="never")], server="llama.cpp") as b:
        b.n_ctx = 2048
        async with InProcessGateway(b.url, backend="openai", model="qwen3") as gw:
            r = await gw.send("POST", "/v1/messages", json=long)
    message = r.json()["error"]["message"]
    assert r.status == 400 and "(counted by llama.cpp /apply-template + /tokenize)" in message
    assert "2,048 tokens (llama.cpp /props (n_ctx per slot))" in message and b.chat_requests == []


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
async def test_message_start_carries_the_backends_count(stream):
    with ScriptedBackend("openai", [Reply(text="hi", delay=0.3)], server="vllm") as b:
        async with InProcessGateway(b.url, backend="openai", model="qwen3") as gw:
            r = await gw.send("POST", "/v1/messages", json={**SMALL, "stream": stream})
    counted = gw.ended[-1]["token_counts"]
    assert counted["exact"] and counted["source"] == "vllm /tokenize"
    if stream:
        start = r.body.split(b"\n\n")[0]
        assert f'"input_tokens":{counted["input_tokens"]}'.encode() in start


async def test_a_backend_that_says_nothing_leaves_everything_unknown():
    with ScriptedBackend("openai", [Reply(text="hi")]) as b:
        async with InProcessGateway(b.url, backend="openai", model="qwen3") as gw:
            r = await gw.send("POST", "/v1/messages", json=SMALL)
    assert r.status == 200
    assert "context_window" not in gw.ended[-1] and not gw.ended[-1]["token_counts"]["exact"]


async def test_the_status_page_shows_what_was_learnt():
    with ScriptedBackend("ollama", [Reply(text="hi")]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="qwen3:8b", num_ctx=65536) as gw:
            await gw.send("POST", "/v1/messages", json=SMALL)
            r = await gw.send("GET", "/_inspector/status")
    (facts,) = r.json()["models"]
    assert facts["model"] == "qwen3:8b" and facts["window"] == 40960
    assert facts["capabilities"] == ["completion", "tools", "thinking"]


async def test_probes_time_out_quickly_and_say_nothing():
    async def silent(reader, writer):
        await asyncio.sleep(5)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = BackendClient()
    discovery = Discovery(client, timeout=0.2)
    facts = await discovery.facts(OLLAMA, f"http://127.0.0.1:{port}", "qwen3", TranslateOptions())
    assert facts.window is None and facts.capabilities is None
    assert await discovery.count(OPENAI, "http://127.0.0.1:1", facts, {"messages": []}) is None
    client.close()
    server.close()


async def test_thinking_is_not_sent_to_a_model_ollama_says_cannot_think():
    with ScriptedBackend("ollama", [Reply(text="hi")]) as b:
        b.capabilities = ["completion", "tools"]
        async with InProcessGateway(b.url, backend="ollama", model="qwen3:8b", think="on") as gw:
            await gw.send("POST", "/v1/messages", json=SMALL)
    (sent,) = b.chat_requests
    assert "think" not in sent.body
    assert gw.ended[-1]["translate_options"]["capabilities"] == ["completion", "tools"]


async def test_gpt_oss_gets_claude_codes_effort_as_a_level():
    raw = orjson.loads(CLAUDE_CODE)  # thinking adaptive, output_config.effort medium
    raw["messages"] = raw["messages"][:1]
    with ScriptedBackend("ollama", [Reply(text="hi")]) as b:
        b.models, b.family, b.context_length = ["gpt-oss:20b"], "gptoss", 131072
        async with InProcessGateway(b.url, backend="ollama", model="gpt-oss:20b", num_ctx=65536) as gw:
            r = await gw.send("POST", "/v1/messages", json=raw)
    assert r.status == 200 and accumulate(r.body).content[0].text == "hi"
    assert b.chat_requests[0].body["think"] == "medium"


async def test_the_tokenizer_counts_a_sessions_first_request_and_the_answers_correct_the_rest():
    """No backend round trip per request: after the first answer's real count, the estimate is corrected."""
    session = {"x-claude-code-session-id": "9d1c2d9e-0000-4000-8000-000000000002"}
    # The first token comes after a prompt evaluation (0.5 s), as from a real server: a streamed answer uses
    # the backend's count only when it is there before the stream starts, and this pins that it is.
    with ScriptedBackend("openai", [Reply(text="hi", prompt_tokens=25, delay=0.5)], server="llama.cpp") as b:
        async with InProcessGateway(b.url, backend="openai", model="qwen3") as gw:
            for _ in range(3):
                await gw.send("POST", "/v1/messages", json={**SMALL, "stream": True}, headers=session)
            counted = await gw.send("POST", "/v1/messages/count_tokens", json=SMALL, headers=session)
    assert len([p for p in b.probes if p.path == "/tokenize"]) == 2, "the first request, and count_tokens"
    first, second, third, _ = gw.ended
    assert first["token_counts"]["exact"] and not second["token_counts"]["exact"]
    assert second["token_counts"]["input_tokens"] == third["token_counts"]["input_tokens"] == 25
    assert counted.json()["input_tokens"] == first["token_counts"]["input_tokens"], "count_tokens: always exact"


async def test_probes_carry_the_backend_key():
    with ScriptedBackend("openai", [Reply(text="hi")], server="vllm") as b:
        async with InProcessGateway(b.url, backend="openai", model="qwen3", backend_api_key="backend-key-1") as gw:
            await gw.send("POST", "/v1/messages", json=SMALL)
    asked = b.probes + [r for r in b.received if r.method == "GET"]  # /tokenize; /v1/models, /props, LM Studio's
    assert len(asked) == 4 and {r.headers.get("authorization") for r in asked} == {"Bearer backend-key-1"}
    assert "backend-key-1" not in str(gw.ended[-1]), "the key is never recorded"


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
async def test_a_count_that_comes_after_the_answer_still_says_the_template_drops_the_tools(stream):
    """The count races the model's first token (llama.cpp's prompt progress comes first): when it loses,
    message_start says the estimate — and what the count says about the request, that the model never saw
    the tools, is still in the exchange's notes once the answer has ended (the count used to be dropped)."""
    with ScriptedBackend("openai", [Reply(text="hi")], server="llama.cpp") as b:
        b.template_tools = False
        b.counts_late = True  # the tokenizer answers only after the chat answer went out in full
        async with InProcessGateway(b.url, backend="openai", model="qwen3", reask="off") as gw:
            body = CLAUDE_CODE if stream else CLAUDE_CODE.replace(b'"stream":true', b'"stream":false')
            r = await gw.send("POST", "/v1/messages", content=body)
            for _ in range(500):
                if gw.ended:
                    break
                await asyncio.sleep(0.01)
    assert r.status == 200
    assert any(n.get("rule") == "template:tools-dropped" for n in gw.ended[-1]["notes"])
