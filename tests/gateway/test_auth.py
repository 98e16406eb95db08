"""The ``GatewayAuth`` addon in-process (taddons): loopback by default, a token when exposed, the
token checked on every request and never passed on. The end-to-end checks (a real mitmdump on
0.0.0.0) are in ``test_hardening.py``."""

import asyncio
import base64

import orjson
import pytest
from mitmproxy import exceptions, http
from mitmproxy.proxy.layers.http import HttpConnectHook
from mitmproxy.proxy.mode_specs import ProxyMode
from mitmproxy.test import taddons, tflow

from inspector.gateway.auth import TOKEN_ENV, GatewayAuth, Throttle
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
    assert options.listen_host == "127.0.0.1" and auth.token == b""


@pytest.mark.parametrize("how", [{"gateway_public": True}, {"listen_host": "0.0.0.0"},
                                 {"mode": ["reverse:http://127.0.0.1:11434@0.0.0.0:4000"]}])
def test_every_way_of_being_reachable_from_elsewhere_needs_a_token(how, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(exceptions.OptionsError, match="without a token.*gateway_token"):
        configured(**how)
    auth, _ = configured(**how, gateway_token=TOKEN)
    assert auth.token == TOKEN.encode()
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    assert configured(**how)[0].token == TOKEN.encode()


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


# -- bytes that are not text: never the token (issue 19, item 1) -----------------------------------------
@pytest.mark.parametrize("field", [(b"x-api-key", b"\xff"), (b"x-api-key", b"caf\xe9"),
                                   (b"authorization", b"Bearer \xff\xfe"),
                                   (b"x-api-key", TOKEN.encode() + b"\xff"),
                                   (b"authorization", b"Bearer " + TOKEN.encode() + b"\xff"),
                                   (b"x-api-key", "t0ken-é".encode())],
                         ids=["ff", "latin-1", "bearer-ff-fe", "token-then-ff", "bearer-token-then-ff", "utf-8"])
async def test_a_credential_that_is_not_text_is_refused_with_a_401(field):
    with ScriptedBackend("anthropic", [Reply(text="never")]) as b:
        async with InProcessGateway(b.url, backend="anthropic", model="m", gateway_token=TOKEN) as gw:
            r = await gw.send("POST", "/v1/messages", json=ASK, headers=[field])
            status = await gw.send("GET", "/_inspector/status", headers=[field])
    assert r.status == 401 and r.json()["error"]["type"] == "authentication_error"
    assert r.headers["x-should-retry"] == "false"
    assert status.status == 401
    assert b.received == []


async def test_two_credentials_are_no_credential():
    with ScriptedBackend("anthropic", [Reply(text="never")]) as b:
        async with InProcessGateway(b.url, backend="anthropic", model="m", gateway_token=TOKEN) as gw:
            r = await gw.send("POST", "/v1/messages", json=ASK,
                              headers=[(b"x-api-key", TOKEN.encode()), (b"x-api-key", b"other")])
    assert r.status == 401 and b.received == []


async def test_a_refused_attempt_leaves_nothing_of_itself_in_the_flow():
    """mitmproxy's own flow log (``--set flow_detail=2``) prints a flow's headers: a near-miss of the
    token must not be there."""
    with ScriptedBackend("anthropic", [Reply(text="never")]) as b:
        async with InProcessGateway(b.url, backend="anthropic", model="m", gateway_token=TOKEN) as gw:
            r = await gw.send("POST", "/v1/messages", json=ASK, headers={"x-api-key": TOKEN[:-1] + "y"})
    assert r.status == 401 and r.flow is not None
    assert "x-api-key" not in r.flow.request.headers


# -- failed attempts: slowed, logged, never quoted (item 13) ----------------------------------------------
def test_the_throttle_waits_longer_per_failure_bounded_and_reports_once_a_window():
    now = [0.0]
    t = Throttle(step=0.25, cap=1.0, window=60, clock=lambda: now[0])
    delays, reports = [], []
    for _ in range(6):
        d, report = t.failed("10.0.0.7")
        delays.append(d)
        reports.append(report)
        now[0] += 1
    assert delays == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert reports[0] is not None and "1 request from 10.0.0.7" in reports[0] and reports[1:] == [None] * 5
    assert t.failed("10.0.0.8")[0] == 0.25, "per address"
    now[0] += 61  # a quiet minute: the run starts again, and the report counts what was not reported
    d, report = t.failed("10.0.0.7")
    assert d == 0.25 and report is not None and "6 requests from 10.0.0.7" in report
    t.succeeded("10.0.0.7")
    assert t.failed("10.0.0.7")[0] == 0.25


def test_the_throttle_forgets_the_oldest_addresses_beyond_its_size():
    t = Throttle(size=3)
    for i in range(10):
        t.failed(f"10.0.0.{i}")
    assert list(t._seen) == ["10.0.0.7", "10.0.0.8", "10.0.0.9"]


async def test_failed_attempts_wait_and_are_logged_without_what_was_sent(caplog):
    waited = []

    async def sleep(seconds):
        waited.append(seconds)

    guess = "guess-" + "z" * 20
    with ScriptedBackend("anthropic", [Reply(text="never")]) as b:
        async with InProcessGateway(b.url, backend="anthropic", model="m", gateway_token=TOKEN) as gw:
            gw.addon(GatewayAuth).sleep = sleep
            for _ in range(3):
                assert (await gw.send("POST", "/v1/messages", json=ASK, headers={"x-api-key": guess})).status == 401
            ok = await gw.send("POST", "/v1/messages", json=ASK, headers={"x-api-key": TOKEN})
    assert waited == sorted(waited) and waited[0] > 0 and len(waited) == 3, "slower each time"
    assert ok.status == 200
    refused = [r.getMessage() for r in caplog.records if "without the gateway's token" in r.getMessage()]
    assert len(refused) == 1, "once a minute per address, not once per attempt"
    assert guess not in caplog.text and TOKEN not in caplog.text


async def test_failures_from_one_address_are_answered_one_at_a_time():
    """Many connections guess no faster than one: each failure waits its turn."""
    waiting, most = [0], [0]

    async def sleep(seconds):
        waiting[0] += 1
        most[0] = max(most[0], waiting[0])
        for _ in range(5):
            await asyncio.sleep(0)
        waiting[0] -= 1

    with ScriptedBackend("anthropic", [Reply(text="never")]) as b:
        async with InProcessGateway(b.url, backend="anthropic", model="m", gateway_token=TOKEN) as gw:
            gw.addon(GatewayAuth).sleep = sleep
            answers = await asyncio.gather(*(gw.send("POST", "/v1/messages", json=ASK, headers={"x-api-key": f"g{i}"})
                                             for i in range(6)))
    assert [a.status for a in answers] == [401] * 6
    assert most[0] == 1


# -- regular (HTTPS_PROXY) mode: no tunnel without the token (item 4) -------------------------------------
def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("credentials", [None, basic("inspector", "wrong-" + "x" * 20), basic(TOKEN, ""),
                                         "Bearer nope", "Basic \xff\xfe", "Digest " + TOKEN],
                         ids=["none", "wrong-password", "token-as-user", "wrong-bearer", "not-base64", "digest"])
async def test_a_connect_without_the_token_opens_no_tunnel(credentials):
    async with InProcessGateway("http://127.0.0.1:9", mode="regular", gateway_token=TOKEN) as gw:
        flow = connect_flow(credentials)
        await gw.ctx.master.addons.trigger_event(HttpConnectHook(flow))
    assert flow.response is not None and flow.response.status_code == 407
    assert flow.response.headers["proxy-authenticate"].startswith("Basic")
    assert orjson.loads(flow.response.content)["error"]["type"] == "authentication_error"


@pytest.mark.parametrize("credentials", [basic("inspector", TOKEN), basic("", TOKEN), f"Bearer {TOKEN}"],
                         ids=["basic", "basic-no-user", "bearer"])
async def test_a_connect_with_the_token_opens_the_tunnel_and_what_is_inside_needs_no_more(credentials):
    with ScriptedBackend("ollama", [Reply(text="through the tunnel")]) as b, \
            ScriptedBackend("anthropic", [Reply(text="never")]) as origin:
        async with InProcessGateway(b.url, mode="regular", origin=origin.url, intercept_hosts="127.0.0.1",
                                    model="m", gateway_token=TOKEN) as gw:
            flow = connect_flow(credentials)
            await gw.ctx.master.addons.trigger_event(HttpConnectHook(flow))
            assert flow.response is None, "mitmproxy answers 200 Connection established"
            assert "proxy-authorization" not in flow.request.headers
            auth = gw.addon(GatewayAuth)
            assert flow.client_conn in auth.tunnels
            # A request inside that tunnel: the client connection is the tunnel's.
            inner = await send_on(gw, flow.client_conn, "POST", "/v1/messages", ASK, {"x-api-key": "sk-ant-mine"})
    assert inner.status_code == 200, inner.content


async def test_a_plain_http_proxy_request_needs_the_token_too():
    with ScriptedBackend("anthropic", [Reply(text="never")]) as origin:
        async with InProcessGateway("", mode="regular", backend="anthropic", origin=origin.url,
                                    intercept_hosts="127.0.0.1", gateway_token=TOKEN) as gw:
            r = await gw.send("POST", "/v1/messages", json=ASK, headers={"x-api-key": TOKEN})
            ok = await gw.send("POST", "/v1/messages", json=ASK,
                               headers={"proxy-authorization": basic("inspector", TOKEN)})
    assert r.status == 407 and r.headers["proxy-authenticate"].startswith("Basic")
    assert ok.status == 200
    assert len(origin.received) == 1 and "proxy-authorization" not in origin.received[0].headers


async def send_on(gw, client_conn, method, path, json, headers):
    """A request on an existing client connection (inside a CONNECT tunnel), through the hooks."""
    from mitmproxy.proxy.layers.http import HttpRequestHeadersHook, HttpRequestHook

    flow = tflow.tflow()
    flow.client_conn = client_conn
    flow.request = http.Request.make(method, gw.origin + path, orjson.dumps(json),
                                     {"content-type": "application/json", **headers})
    await gw.ctx.master.addons.trigger_event(HttpRequestHeadersHook(flow))
    await gw.ctx.master.addons.trigger_event(HttpRequestHook(flow))
    if flow.response is not None:
        return flow.response
    r = flow.request
    return await gw.client.request(r.method, f"http://{r.host}:{r.port}{r.path}", headers=dict(r.headers),
                                   content=r.content)


def connect_flow(credentials: str | None) -> http.HTTPFlow:
    flow = tflow.tflow()
    flow.client_conn.proxy_mode = ProxyMode.parse("regular")
    headers = [(b"proxy-authorization", credentials.encode("utf-8", "surrogateescape"))] if credentials else []
    flow.request = http.Request.make("CONNECT", "http://example.com:443/", b"", headers)
    return flow


@pytest.mark.parametrize("mode", ["socks5@0.0.0.0:1080", "transparent@0.0.0.0:8081"])
def test_a_mode_whose_callers_cannot_be_asked_for_the_token_is_not_exposed(mode):
    with pytest.raises(exceptions.OptionsError, match="cannot ask callers for its token"):
        configured(mode=[mode], gateway_token=TOKEN)


# -- credentials in the query string: never a way in, never printed (item 13) ---------------------------------
async def test_a_token_in_the_query_string_is_not_a_way_in_and_is_gone_before_anything_prints_it():
    with ScriptedBackend("anthropic", [Reply(text="never")]) as b:
        async with InProcessGateway(b.url, backend="anthropic", model="m", gateway_token=TOKEN) as gw:
            r = await gw.send("POST", f"/v1/messages?beta=true&key={TOKEN}&api-key=x", json=ASK)
    assert r.status == 401 and r.flow is not None
    assert r.flow.request.path == "/v1/messages?beta=true"
