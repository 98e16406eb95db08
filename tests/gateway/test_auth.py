"""The ``GatewayAuth`` addon in-process (taddons): loopback by default, a token when exposed, the
token checked on every request and never passed on. The end-to-end checks (a real mitmdump on
0.0.0.0) are in ``test_hardening.py``."""

import pytest
from mitmproxy import exceptions
from mitmproxy.test import taddons

from inspector.gateway.auth import TOKEN_ENV, GatewayAuth
from inspector.testing.backends import Reply, ScriptedBackend
from inspector.testing.inprocess import InProcessGateway

pytestmark = pytest.mark.anyio
TOKEN = "t0ken-" + "x" * 20
ASK = {"model": "claude-sonnet-x", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def anyio_backend():
    return "asyncio"


def configured(**options):
    auth = GatewayAuth()
    with taddons.context(auth) as tctx:
        tctx.configure(auth, **options)
        return auth, tctx.options


def test_loopback_by_default_and_no_token_needed(monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    auth, options = configured()
    assert options.listen_host == "127.0.0.1" and auth.token == ""


@pytest.mark.parametrize("how", [{"gateway_public": True}, {"listen_host": "0.0.0.0"},
                                 {"mode": ["reverse:http://127.0.0.1:11434@0.0.0.0:4000"]}])
def test_every_way_of_being_reachable_from_elsewhere_needs_a_token(how, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(exceptions.OptionsError, match="without a token.*gateway_token"):
        configured(**how)
    auth, _ = configured(**how, gateway_token=TOKEN)
    assert auth.token == TOKEN
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    assert configured(**how)[0].token == TOKEN


def test_a_short_token_is_refused():
    with pytest.raises(exceptions.OptionsError, match="at least 16"):
        configured(gateway_public=True, gateway_token="short")


@pytest.mark.parametrize("header", ["x-api-key", "authorization"])
async def test_the_token_opens_the_gateway_and_goes_no_further(header):
    value = TOKEN if header == "x-api-key" else f"Bearer {TOKEN}"
    with ScriptedBackend("anthropic", [Reply(text="hello")]) as b:
        async with InProcessGateway(b.url, backend="anthropic", model="m", gateway_token=TOKEN) as gw:
            r = await gw.send("POST", "/v1/messages", json=ASK, headers={header: value})
    assert r.status == 200 and r.json()["content"][0]["text"] == "hello"
    (sent,) = b.chat_requests
    assert TOKEN not in repr(sent.headers), "the caller's credential was the gateway's token: never forwarded"


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "sk-ant-someone-elses-key"},
                                     {"authorization": "Bearer " + TOKEN[:-1] + "y"}])
async def test_without_the_token_nothing_reaches_the_backend(headers):
    with ScriptedBackend("ollama", [Reply(text="never")]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="m", gateway_token=TOKEN) as gw:
            r = await gw.send("POST", "/v1/messages", json=ASK, headers=headers)
            status = await gw.send("GET", "/_inspector/status")
    assert r.status == 401 and r.headers["x-should-retry"] == "false"
    assert r.json()["error"]["type"] == "authentication_error" and "ANTHROPIC_AUTH_TOKEN" in r.json()["error"]["message"]
    assert status.status == 401, "the status page names the backend: it needs the token too"
    assert b.chat_requests == [] and gw.ended == [], "refused before any addon saw it: nothing recorded"
