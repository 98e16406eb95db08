"""The ``SideTraffic`` addon in-process (taddons): Claude Code's side requests answered without the
backend's chat endpoint, told to the listeners as local exchanges; passed through to an
Anthropic-native backend, which answers them itself."""

import pytest

from inspector.protocol import FORM_NAMES
from inspector.testing.backends import Reply, ScriptedBackend, scripted_template, scripted_tokens
from inspector.testing.forms import SIDE_ANSWERED
from inspector.testing.inprocess import InProcessGateway

pytestmark = pytest.mark.anyio
SID = "5e55104d-aaaa-4bbb-8ccc-000000000001"
COUNT = {"model": "claude-sonnet-x", "messages": [{"role": "user", "content": "count these words " * 50}]}


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.parametrize("form", SIDE_ANSWERED)
async def test_side_requests_are_answered_locally_and_told_as_local_exchanges(form):
    with ScriptedBackend(form, [Reply(text="never")]) as b:
        async with InProcessGateway(b.url, backend=form, model="qwen3:8b", model_map="claude-haiku-4-5=small") as gw:
            hello = await gw.send("HEAD", "/api/hello")
            models = await gw.send("GET", "/v1/models?beta=true")
            logged = await gw.send("POST", "/api/event_logging/batch", json={"events": [{"x": 1}]})
            count = await gw.send("POST", "/v1/messages/count_tokens?beta=true", json=COUNT,
                                  headers={"x-claude-code-session-id": SID})
            other = await gw.send("GET", "/v1/files")
    assert hello.status == 200 and hello.body == b""
    assert [(m["id"], m["display_name"]) for m in models.json()["data"]] == [
        ("claude-haiku-4-5", "claude-haiku-4-5 → small (via inspector gateway)")]
    assert logged.status == 200 and logged.json() == {}
    assert count.status == 200 and count.json()["input_tokens"] > 150
    assert other.status == 404 and "is not served by the inspector gateway" in other.json()["error"]["message"]
    assert b.chat_requests == [], "no side request reaches the backend's chat endpoint"
    kinds = [(s["kind"], s["local"], s["status"]["client"]) for s in gw.ended]
    assert kinds == [("hello", True, 200), ("models", True, 200), ("event_logging", True, 200),
                     ("count_tokens", True, 200), ("other", True, 404)]
    counted = gw.ended[3]
    assert counted["session_id"] == SID and counted["model"] == {"requested": "claude-sonnet-x", "backend": "qwen3:8b"}
    assert counted["token_counts"]["exact"] is False and counted["token_counts"]["input_tokens"] == \
        count.json()["input_tokens"]


async def test_count_tokens_uses_the_backends_own_tokenizer_when_it_has_one():
    with ScriptedBackend("openai", [Reply(text="never")], server="llama.cpp") as b:
        async with InProcessGateway(b.url, backend="openai", model="smollm2") as gw:
            count = await gw.send("POST", "/v1/messages/count_tokens", json=COUNT)
    (probe,) = [p for p in b.probes if p.path == "/apply-template"]
    rendered = scripted_template(probe.body["messages"], probe.body.get("tools"))
    assert count.json()["input_tokens"] == len(scripted_tokens(rendered))
    assert gw.ended[-1]["token_counts"]["exact"] is True and b.chat_requests == []


async def test_a_bad_count_tokens_request_is_an_anthropic_400_naming_the_problem():
    with ScriptedBackend("ollama", [Reply(text="never")]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="m") as gw:
            r = await gw.send("POST", "/v1/messages/count_tokens", json={"model": "m"})
    assert r.status == 400 and r.json()["error"]["type"] == "invalid_request_error"
    assert "messages" in r.json()["error"]["message"]


@pytest.mark.parametrize("form", FORM_NAMES)
async def test_the_status_page_is_answered_in_every_form(form):
    with ScriptedBackend(form, [Reply(text="never")]) as b:
        async with InProcessGateway(b.url, backend=form, model="m", model_map="haiku=small") as gw:
            r = await gw.send("GET", "/_inspector/status")
    status = r.json()
    assert status["gateway"] == "claude-code-inspector" and status["backend"] == form
    assert status["backend_url"] == b.url and status["model_map"] == "haiku=small"
    assert all(rec.path != "/_inspector/status" for rec in b.received), "the gateway's own page"


async def test_an_anthropic_backend_answers_side_requests_itself():
    with ScriptedBackend("anthropic", [Reply(text="never")]) as b:
        async with InProcessGateway(b.url, backend="anthropic", model="m") as gw:
            await gw.send("POST", "/v1/messages/count_tokens", json=COUNT)
    assert [r.path.split("?")[0] for r in b.received] == ["/v1/messages/count_tokens"]
