"""``max_tokens`` is required on ``/v1/messages`` — Anthropic answers 400 without it — and not on
``count_tokens`` (issue 20 §2), in every backend form, passthrough included, before any backend call."""

import pytest

from inspector.protocol import FORM_NAMES, get_form
from inspector.testing.backends import Reply, ScriptedBackend
from inspector.testing.inprocess import InProcessGateway

pytestmark = pytest.mark.anyio
NO_MAX = {"model": "claude-sonnet-x", "messages": [{"role": "user", "content": "Say hello."}]}


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.parametrize("form", FORM_NAMES)
async def test_a_messages_call_without_max_tokens_is_refused_and_count_tokens_is_not(form):
    with ScriptedBackend(form, [Reply(text="never")]) as b:
        async with InProcessGateway(b.url, backend=form, model="small") as gw:
            r = await gw.send("POST", "/v1/messages", json=NO_MAX)
            counted = await gw.send("POST", "/v1/messages/count_tokens", json=NO_MAX)
    assert r.status == 400 and r.json()["type"] == "error"
    assert r.json()["error"]["type"] == "invalid_request_error" and "max_tokens" in r.json()["error"]["message"]
    assert b.chat_requests == [] or all("count_tokens" in c.path for c in b.chat_requests), "refused before the backend"
    assert counted.status == 200, "count_tokens takes no max_tokens"
    if not get_form(form).whole_api:  # passthrough forwards it: the scripted backend's answer is its own
        assert counted.json()["input_tokens"] >= 1
