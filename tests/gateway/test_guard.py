"""Fail closed, hook by hook: each hook of ours that guards or rewrites a flow is made to raise, under
mitmproxy's own hook semantics (``AddonManager.trigger_event``: an addon's exception is logged and
the next addon runs), and the flow must end with an Anthropic error — a 401 for auth — with nothing
sent to the backend. Before ``guard.fail_closed``, every one of these went on: past auth, or to the
backend untranslated with the client's credentials."""

from pathlib import Path

import pytest
from mitmproxy import http
from mitmproxy.proxy.layers.http import HttpConnectHook
from mitmproxy.proxy.mode_specs import ProxyMode
from mitmproxy.test import tflow

import inspector.gateway.auth as auth_module
import inspector.gateway.gateway as gateway_module
import inspector.gateway.observer as observer_module
import inspector.gateway.replayer as replayer_module
import inspector.gateway.side as side_module
from inspector.gateway.admission import Admission
from inspector.gateway.auth import GatewayAuth
from inspector.gateway.gateway import Gateway
from inspector.gateway.guard import fail_closed
from inspector.gateway.observer import Observer
from inspector.gateway.replayer import Replayer
from inspector.protocol import FORM_NAMES
from inspector.testing.backends import Reply, ScriptedBackend
from inspector.testing.inprocess import InProcessGateway

pytestmark = pytest.mark.anyio
TOKEN = "t0ken-" + "x" * 20
ASK = {"model": "claude-x", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
RECORDINGS = Path(__file__).resolve().parents[2] / "recordings"


@pytest.fixture
def anyio_backend():
    return "asyncio"


def boom(*args, **kwargs):
    raise RuntimeError("a bug in a hook")


async def aboom(*args, **kwargs):
    raise RuntimeError("a bug in a hook")


def assert_error(r, status: int, kind: str) -> None:
    assert not r.cut
    assert r.status == status, (r.status, r.body[:300])
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] == kind
    assert r.headers["x-should-retry"] == "false"


# -- before anything is sent: the flow is answered, no server is contacted --------------------------------
@pytest.mark.parametrize("form", FORM_NAMES)
async def test_auth_that_raises_is_a_401_and_nothing_reaches_the_backend(form, monkeypatch):
    monkeypatch.setattr(auth_module, "presented", boom)
    with ScriptedBackend(form, [Reply(text="never")]) as b:
        async with InProcessGateway(b.url, backend=form, model="m", gateway_token=TOKEN) as gw:
            r = await gw.send("POST", "/v1/messages", json=ASK, headers={"x-api-key": TOKEN})
            status = await gw.send("GET", "/_inspector/status", headers={"x-api-key": TOKEN})
    assert_error(r, 401, "authentication_error")
    assert_error(status, 401, "authentication_error")
    assert b.received == []


async def test_auth_that_raises_in_replay_is_a_401_and_the_reverse_target_is_never_dialled(monkeypatch):
    monkeypatch.setattr(auth_module, "presented", boom)
    with ScriptedBackend("anthropic", [Reply(text="never")]) as target:
        async with InProcessGateway(target.url, replay_dir=str(RECORDINGS), gateway_token=TOKEN) as gw:
            r = await gw.send("POST", "/v1/messages", json=ASK, headers={"x-api-key": TOKEN})
    assert_error(r, 401, "authentication_error")
    assert target.received == []


async def test_auth_that_raises_on_connect_opens_no_tunnel(monkeypatch):
    monkeypatch.setattr(auth_module, "presented_to_proxy", boom)
    async with InProcessGateway("http://127.0.0.1:9", mode="regular", gateway_token=TOKEN) as gw:
        flow = connect_flow("Basic " + "aW5zcGVjdG9yOg==")
        await gw.ctx.master.addons.trigger_event(HttpConnectHook(flow))
    assert flow.response is not None and flow.response.status_code == 407, "a tunnel opens only on a 2xx"


def connect_flow(credentials: str | None) -> http.HTTPFlow:
    flow = tflow.tflow()
    flow.client_conn.proxy_mode = ProxyMode.parse("regular")
    flow.request = http.Request.make("CONNECT", "http://example.com:443/", b"",
                                     {"proxy-authorization": credentials} if credentials else {})
    flow.request.authority = "example.com:443"
    flow.request.path = ""
    return flow


@pytest.mark.parametrize("form", FORM_NAMES)
async def test_the_size_check_that_raises_is_a_500_and_nothing_reaches_the_backend(form, monkeypatch):
    monkeypatch.setattr(gateway_module, "expected_http_body_size", boom)
    with ScriptedBackend(form, [Reply(text="never")]) as b:
        async with InProcessGateway(b.url, backend=form, model="m") as gw:
            r = await gw.send("POST", "/v1/messages", json=ASK)
    assert_error(r, 500, "api_error")
    assert b.received == []


@pytest.mark.parametrize("form", FORM_NAMES)
async def test_a_translation_that_raises_is_a_500_and_nothing_reaches_the_backend(form, monkeypatch):
    monkeypatch.setattr(Admission, "admit", aboom)
    with ScriptedBackend(form, [Reply(text="never")]) as b:
        async with InProcessGateway(b.url, backend=form, model="m") as gw:
            r = await gw.send("POST", "/v1/messages", json=ASK, headers={"x-api-key": "sk-ant-the-users-key"})
    assert_error(r, 500, "api_error")
    assert "RuntimeError" in r.json()["error"]["message"] and "not sent on" in r.json()["error"]["message"]
    assert b.received == [], "never sent on untranslated, with the client's key"


async def test_a_translation_that_raises_in_regular_mode_is_a_500_and_nothing_goes_on(monkeypatch):
    monkeypatch.setattr(Admission, "admit", aboom)
    with ScriptedBackend("ollama", [Reply(text="never")]) as b, \
            ScriptedBackend("anthropic", [Reply(text="never")]) as origin:
        async with InProcessGateway(b.url, mode="regular", origin=origin.url, intercept_hosts="127.0.0.1") as gw:
            r = await gw.send("POST", "/v1/messages", json=ASK)
    assert_error(r, 500, "api_error")
    assert b.received == [] and origin.received == []


async def test_side_traffic_that_raises_is_a_500_and_nothing_reaches_the_backend(monkeypatch):
    monkeypatch.setattr(side_module, "side_answer", boom)
    with ScriptedBackend("ollama", [Reply(text="never")]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="m") as gw:
            r = await gw.send("POST", "/v1/messages/count_tokens", json=ASK)
    assert_error(r, 500, "api_error")
    assert [x for x in b.received if x.path not in ("/api/show", "/api/ps")] == []


async def test_the_status_page_that_raises_is_a_500_not_the_backend(monkeypatch):
    monkeypatch.setattr(Admission, "status", boom)
    with ScriptedBackend("anthropic", [Reply(text="never")]) as b:
        async with InProcessGateway(b.url, backend="anthropic", model="m") as gw:
            r = await gw.send("GET", "/_inspector/status")
    assert_error(r, 500, "api_error")
    assert b.received == []


async def test_replay_that_raises_is_a_500_and_the_reverse_target_is_never_dialled(monkeypatch):
    monkeypatch.setattr(replayer_module, "decoded_body", boom)
    with ScriptedBackend("anthropic", [Reply(text="never")]) as target:
        async with InProcessGateway(target.url, replay_dir=str(RECORDINGS)) as gw:
            r = await gw.send("POST", "/v1/messages", json=ASK)
    assert_error(r, 500, "api_error")
    assert target.received == []


async def test_replays_size_check_that_raises_is_a_500_and_the_reverse_target_is_never_dialled(monkeypatch):
    monkeypatch.setattr(replayer_module, "expected_http_body_size", boom)
    with ScriptedBackend("anthropic", [Reply(text="never")]) as target:
        async with InProcessGateway(target.url, replay_dir=str(RECORDINGS)) as gw:
            r = await gw.send("POST", "/v1/messages", json=ASK)
    assert_error(r, 500, "api_error")
    assert target.received == []


# -- the answer is in but not out: it becomes the error ------------------------------------------------
async def test_responseheaders_that_raises_replaces_the_answer(monkeypatch):
    with ScriptedBackend("anthropic", [Reply(text="the real answer")]) as origin:
        async with InProcessGateway("", mode="regular", backend="anthropic", origin=origin.url,
                                    intercept_hosts="127.0.0.1") as gw:
            monkeypatch.setattr(observer_module, "headers_text", boom)
            r = await gw.send("POST", "/v1/messages", json=ASK)
    assert_error(r, 500, "api_error")
    assert b"the real answer" not in r.body


async def test_replays_responseheaders_that_raises_replaces_the_answer(monkeypatch):
    monkeypatch.setattr(Replayer, "_ours", boom)
    async with InProcessGateway("http://127.0.0.1:9", replay_dir=str(RECORDINGS)) as gw:
        r = await gw.send("POST", "/v1/messages", json=ASK)
    assert_error(r, 500, "api_error")


async def test_response_that_raises_on_a_buffered_answer_replaces_it(monkeypatch):
    with ScriptedBackend("anthropic", [Reply(text="the real answer")]) as origin:
        async with InProcessGateway("", mode="regular", backend="anthropic", origin=origin.url,
                                    intercept_hosts="127.0.0.1") as gw:
            monkeypatch.setattr(Observer, "_finish", boom)
            r = await gw.send("POST", "/v1/messages", json=ASK)
    assert_error(r, 500, "api_error")


# -- the answer has started to go out: a cut, never a clean end ---------------------------------------
@pytest.mark.parametrize("form", FORM_NAMES)
async def test_response_that_raises_after_streaming_cuts_the_answer(form, monkeypatch):
    monkeypatch.setattr(Gateway, "_finish", boom)
    with ScriptedBackend(form, [Reply(text="hello")]) as b:
        async with InProcessGateway(b.url, backend=form, model="m") as gw:
            r = await gw.send("POST", "/v1/messages", json={**ASK, "stream": True})
    assert r.cut, "the client must not see a clean end"


async def test_error_that_raises_is_logged_and_the_flow_stays_failed(monkeypatch, caplog):
    monkeypatch.setattr(Gateway, "_finish", boom)
    with ScriptedBackend("ollama", [Reply(text="a long answer " * 20, pieces=20, gap=0.01)]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="m") as gw:
            r = await gw.send("POST", "/v1/messages", json={**ASK, "stream": True}, read=2)
    assert r.flow is not None and r.flow.error is not None
    assert "Gateway.error failed" in caplog.text


# -- the mechanism -------------------------------------------------------------------------------------------
def test_fail_closed_refuses_what_is_not_a_flow_hook():
    with pytest.raises(ValueError, match="not a flow hook"):
        fail_closed()(lambda self, flow: None)


async def test_a_hook_never_runs_on_a_flow_already_answered():
    ran = []

    class Probe:
        @fail_closed()
        def request(self, flow):
            ran.append(flow)

    flow = tflow.tflow()
    flow.response = http.Response.make(401)
    Probe().request(flow)
    assert ran == [] and flow.response.status_code == 401


def test_every_flow_hook_of_ours_fails_closed():
    """A new hook must be wrapped too: every flow hook of every addon the gateway and replay load."""
    from inspector.gateway import all_addons, replay_addons

    hooks = ("requestheaders", "request", "responseheaders", "response", "error", "http_connect")
    unwrapped = [f"{type(a).__name__}.{h}" for a in [*all_addons(), *replay_addons()] for h in hooks
                 if (m := getattr(type(a), h, None)) is not None and not hasattr(m, "__wrapped__")]
    assert unwrapped == []
    assert GatewayAuth.requestheaders.__wrapped__ and GatewayAuth.http_connect.__wrapped__
