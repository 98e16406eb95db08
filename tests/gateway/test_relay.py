"""The relay: serves only the jobs the gateway registered, and is waited for when a request
arrives before it listens (mitmproxy accepts connections before the addons' ``running`` hooks)."""

import asyncio
import json

import httpx
import pytest
from mitmproxy.test import taddons

from inspector.testing.backends import Reply, ScriptedBackend
from inspector.testing.inprocess import InProcessGateway

pytestmark = pytest.mark.anyio
ASK = {"model": "claude-x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], "stream": True}


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def test_a_request_before_the_relay_listens_waits_for_it():
    with ScriptedBackend("ollama", [Reply(text="early bird")]) as b:
        gw = InProcessGateway(b.url, backend="ollama", model="qwen3")
        gw.ctx = taddons.context(*gw.addons)
        gw.ctx.options.update(**gw.options)
        gw.client = httpx.AsyncClient(timeout=30)
        assert gw.relay.port == 0
        early = asyncio.ensure_future(gw.send("POST", "/v1/messages", json=ASK))
        await asyncio.sleep(0.2)
        assert not early.done(), "the request waits for the relay rather than going to port 0"
        await gw.relay.running()
        r = await asyncio.wait_for(early, 10)
        await gw.__aexit__(None, None, None)
    text = "".join(json.loads(line[6:])["delta"].get("text", "") for line in r.body.decode().splitlines()
                   if line.startswith("data: ") and '"content_block_delta"' in line)
    assert r.status == 200 and text == "early bird"
    assert len(b.chat_requests) == 1


async def test_the_relay_serves_no_job_it_was_not_given():
    with ScriptedBackend("ollama", [Reply(text="x")]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="qwen3") as gw:
            async with httpx.AsyncClient() as c:
                r = await c.post(f"http://127.0.0.1:{gw.relay.port}/not-a-token", content=b"{}")
    assert r.status_code == 404 and b.chat_requests == []
