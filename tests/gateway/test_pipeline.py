"""One exchange from backend to client, in-process (taddons + the relay on loopback, no mitmdump):
keep-alives, timeouts, cuts, a client that leaves, credentials, errors that say what to do."""

import asyncio
import secrets
import socket

import httpx
import orjson
import pytest

from inspector.protocol import FORM_NAMES, SSEDecoder, get_form, stream_problems
from inspector.testing.backends import RENDER, Call, Reply, ScriptedBackend
from inspector.testing.inprocess import InProcessGateway
from inspector.testing.sdk import accumulate

pytestmark = pytest.mark.anyio
FORMS = FORM_NAMES
ASK = {"model": "claude-sonnet-x", "max_tokens": 200, "messages": [{"role": "user", "content": "hi"}]}
STREAM = {**ASK, "stream": True}


@pytest.fixture
def anyio_backend():
    return "asyncio"


def events(raw: bytes) -> list[str]:
    d = SSEDecoder()
    return [e.event for e in d.decode(raw) + d.flush()]


def summary(result) -> dict:
    return result.flow.metadata["inspector"]


async def settle(backend: ScriptedBackend, what, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if what():
            return
        await asyncio.sleep(0.02)


# -- a silent backend ------------------------------------------------------------------------------
@pytest.mark.parametrize("form", FORMS)
async def test_a_silent_backend_gets_keepalives_and_its_real_first_byte_is_recorded(form):
    with ScriptedBackend(form, [Reply(text="After a long prompt evaluation.", delay=1.0)]) as b:
        async with InProcessGateway(b.url, backend=form, model="q", ping_interval="0.2") as gw:
            r = await gw.send("POST", "/v1/messages", json=STREAM)
    assert r.status == 200 and r.times[0] < 0.9, "the client heard something before the backend said a word"
    if not get_form(form).writes_answers:
        assert events(r.body)[:2] == ["ping", "ping"], "pings alone: the backend's own message_start comes later"
    else:
        assert events(r.body)[:2] == ["message_start", "ping"] and events(r.body).count("ping") >= 3
    assert stream_problems(r.body) == []
    assert accumulate(r.body).content[0].text == "After a long prompt evaluation."
    timing = summary(r)["timing_ms"]
    assert timing["backend_first_byte"] >= 900, "the backend's own first byte, not the gateway's early 200"


async def test_keepalives_mid_stream_land_between_events_only():
    raw = [b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message",'
           b'"role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,'
           b'"usage":{"input_tokens":1,"output_tokens":1}}}\n\nevent: content_block_start\ndata: {"type":"con',
           0.6, b'tent_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n', 0.6,
           b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta",'
           b'"text":"hi"}}\n\nevent: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
           b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
           b'"usage":{"output_tokens":1}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n']
    with ScriptedBackend("anthropic", [Reply(raw=raw)]) as b:
        async with InProcessGateway(b.url, backend="anthropic", ping_interval="0.2") as gw:
            r = await gw.send("POST", "/v1/messages", json=STREAM)
    assert r.body.count(b"event: ping\n") >= 2
    assert b'"conevent: ping' not in r.body and stream_problems(r.body) == []
    assert accumulate(r.body).content[0].text == "hi"


# -- timeouts (idle_timeout holds for whole answers too) ------------------------------------------------
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
async def test_idle_timeout_ends_the_wait_and_closes_the_backend_connection(stream):
    with ScriptedBackend("ollama", [Reply(text="never", delay=30)]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="q", ping_interval="0.2",
                                    idle_timeout="0.6") as gw:
            r = await gw.send("POST", "/v1/messages", json=STREAM if stream else ASK)
            await settle(b, lambda: b.aborted)
    if stream:
        assert events(r.body)[-1] == "error" and b"timeout_error" in r.body and b"within 0.6 s" in r.body
        assert stream_problems(r.body) == []
    else:
        assert r.status == 504 and r.json()["error"]["type"] == "timeout_error"
        assert "idle_timeout" in r.json()["error"]["message"] and r.headers["x-should-retry"] == "false"
    assert b.aborted == [0], "the backend connection was closed, not left waiting"
    assert summary(r)["incomplete"]


async def test_idle_timeout_mid_stream():
    raw = [b'{"model":"q","message":{"role":"assistant","content":"start "},"done":false}\n', 30.0]
    with ScriptedBackend("ollama", [Reply(raw=raw)]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="q", ping_interval="0.2",
                                    idle_timeout="0.6") as gw:
            r = await gw.send("POST", "/v1/messages", json=STREAM)
    assert b"start " in r.body and events(r.body)[-1] == "error" and b"silent for" in r.body
    assert stream_problems(r.body) == []


# -- a backend that is not there, or breaks -------------------------------------------------------------
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
async def test_a_backend_that_is_not_running_is_said_at_once_and_not_retried(form, stream):
    dead = ScriptedBackend(form, [Reply()])
    dead.__exit__()  # nothing listens there now
    async with InProcessGateway(dead.url, backend=form, model="q") as gw:
        r = await gw.send("POST", "/v1/messages", json=STREAM if stream else ASK)
    assert r.status == 502 and r.json()["error"]["type"] == "api_error"
    assert r.headers["x-should-retry"] == "false", "Claude Code would retry for 3 minutes otherwise"
    message = r.json()["error"]["message"]
    assert "cannot reach" in message and dead.url in message and "connection refused" in message
    assert get_form(form).start_hint in message, "how to start it"


@pytest.mark.parametrize("form", FORMS)
async def test_a_whole_answer_cut_mid_way_is_an_error_not_a_truncated_200(form):
    with ScriptedBackend(form, [Reply(text="a whole answer", cut_after=0)]) as b:
        async with InProcessGateway(b.url, backend=form, model="q") as gw:
            r = await gw.send("POST", "/v1/messages", json=ASK)
    assert r.status == 502 and "was cut" in r.json()["error"]["message"]
    assert summary(r)["incomplete"] and summary(r)["aborted_by"] == "backend"


@pytest.mark.parametrize("form", FORMS)
async def test_a_stream_cut_mid_event_ends_cleanly_after_the_last_whole_event(form):
    chunks = RENDER[form](Reply(text="This answer is cut off in the middle"), "q", True)
    half = [*chunks[:2], chunks[2][: len(chunks[2]) // 2], b"never sent"]  # the third only half sent
    with ScriptedBackend(form, [Reply(raw=half, cut_after=3)]) as b:
        async with InProcessGateway(b.url, backend=form, model="q") as gw:
            r = await gw.send("POST", "/v1/messages", json=STREAM)
    assert events(r.body)[-1] == "error"
    assert stream_problems(r.body, strict=get_form(form).writes_answers) == []
    error = r.body.split(b"event: error")[-1]
    assert b"was cut" in error and b"backend=" not in error, "a cut, not a wrong backend form"
    with pytest.raises(Exception):
        accumulate(r.body)
    assert summary(r)["incomplete"]


async def test_a_malformed_backend_header_is_an_anthropic_error():
    async def serve(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: abc\r\n\r\n{}")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with InProcessGateway(url, backend="ollama", model="q") as gw:
        r = await gw.send("POST", "/v1/messages", json=ASK)
    server.close()
    assert r.status == 502 and r.json()["type"] == "error" and "malformed HTTP" in r.json()["error"]["message"]


@pytest.mark.parametrize("status, error, http, retry", [
    (500, "CUDA out of memory", 500, "false"),
    (503, "server busy", 529, "true"),
    (404, "model 'q' not found", 400, "false"),
])
async def test_backend_errors_say_whether_to_retry(status, error, http, retry):
    with ScriptedBackend("ollama", [Reply(status=status, error=error)]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="q") as gw:
            r = await gw.send("POST", "/v1/messages", json=ASK)
    assert r.status == http and r.headers["x-should-retry"] == retry and error in r.json()["error"]["message"]


# -- a client that walks away --------------------------------------------------------------------------
@pytest.mark.parametrize("form", FORMS)
async def test_a_client_that_leaves_stops_the_backend_at_once(form):
    with ScriptedBackend(form, [Reply(text="a long answer nobody will read " * 200, pieces=200, gap=0.02)]) as b:
        async with InProcessGateway(b.url, backend=form, model="q") as gw:
            await gw.send("POST", "/v1/messages", json=STREAM, read=2)
            await settle(b, lambda: b.aborted and gw.ended)
    sent = RENDER_COUNT[form]
    assert b.aborted and b.aborted[0] < sent / 4, f"the backend stopped after {b.aborted} of {sent} chunks"
    s = gw.ended[-1]
    assert s["aborted_by"] == "client" and "the client went away" in s["incomplete"]
    assert any(n.get("rule") == "aborted:client" for n in s["notes"])


RENDER_COUNT = {form: len(RENDER[form](Reply(text="a long answer nobody will read " * 200, pieces=200), "q",
                                       True)) for form in FORMS}


# -- a client that stops reading (issue 19, item 11) ---------------------------------------------------------
@pytest.mark.parametrize("form", FORMS)
async def test_a_client_that_stops_reading_stops_the_backend_and_is_recorded_partial(form):
    """It reads nothing: once the buffers between it and the backend are full, the gateway waits
    ``write_timeout`` for it, then closes the backend connection and ends the exchange as partial."""
    from mitmproxy import http as mhttp
    from mitmproxy.flow import Error
    from mitmproxy.proxy.layers.http import HttpErrorHook, HttpRequestHeadersHook, HttpRequestHook
    from mitmproxy.test import tflow

    words = "word " * 6_000_000  # ≈30 MB of answer: more than every buffer on the way (a few MB each)
    with ScriptedBackend(form, [Reply(text=words, pieces=600)]) as b:
        async with InProcessGateway(b.url, backend=form, model="q", write_timeout="0.5") as gw:
            flow = tflow.tflow()
            flow.client_conn.proxy_mode = gw.mode
            flow.request = mhttp.Request.make("POST", b.url + "/v1/messages", orjson.dumps(STREAM),
                                              {"content-type": "application/json"})
            await gw._hook(HttpRequestHeadersHook(flow))
            await gw._hook(HttpRequestHook(flow))
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", flow.request.port))
            await asyncio.get_running_loop().sock_sendall(
                sock, b"POST %s HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n" % flow.request.path.encode())
            await settle(b, lambda: b.aborted, timeout=30)  # and it never reads a byte
            sock.close()
            flow.error = Error("the server closed the connection")  # what mitmproxy then sees
            await gw._hook(HttpErrorHook(flow))
            await settle(b, lambda: gw.ended)
    (s,) = gw.ended
    assert s["aborted_by"] == "client" and "read nothing for 0.5 s" in s["incomplete"]
    assert any(n.get("rule") == "aborted:client-stalled" for n in s["notes"])
    assert b.aborted and b.aborted[0] < 600, "the backend connection was closed before the answer's end"


# -- credentials go only where they were meant ------------------------------------------------------------
SECRETS = {"x-api-key": "sk-ant-api03-user-key", "authorization": "Bearer oauth-user-token",
           "cookie": "session=user-cookie", "proxy-authorization": "Basic dXNlcjpwYXNz"}


@pytest.mark.parametrize("form", FORMS)
async def test_claude_codes_credentials_never_reach_a_local_backend(form):
    with ScriptedBackend(form, [Reply(text="ok")]) as b:
        async with InProcessGateway(b.url, backend=form, model="q") as gw:
            await gw.send("POST", "/v1/messages?beta=true&key=user-query-key", json=ASK, headers=SECRETS)
    (sent,) = b.chat_requests
    for name in SECRETS:
        assert name not in sent.headers
    assert "user-query-key" not in sent.path
    if get_form(form).whole_api:
        assert sent.path == "/v1/messages?beta=true", "other query parameters go on"


@pytest.mark.parametrize("form", FORMS)
async def test_a_backend_that_needs_a_key_gets_backend_api_key(form):
    with ScriptedBackend(form, [Reply(text="ok")]) as b:
        async with InProcessGateway(b.url, backend=form, model="q", backend_api_key="backend-key-123") as gw:
            await gw.send("POST", "/v1/messages", json=ASK, headers=SECRETS)
    (sent,) = b.chat_requests
    assert sent.headers["authorization"] == "Bearer backend-key-123"
    for name, value in get_form(form).auth_headers("backend-key-123"):  # x-api-key too, for an Anthropic API
        assert sent.headers[name] == value
    assert "sk-ant-api03-user-key" not in str(sent.headers)


#: Credentials under other names (issue 19, item 8): the recorder's own list of secret header names decides.
OTHER_NAMES = {"x-auth-token": "tok-1", "anthropic-api-key": "sk-ant-api03-other", "x-goog-api-key": "AIza-key",
               "x-custom-token": "tok-2", "x-vault-secret": "s3cret", "api-key": "azure-key",
               "x-portkey-api-key": "pk-key"}


@pytest.mark.parametrize("form", FORMS)
async def test_credentials_under_other_names_never_reach_a_local_backend(form):
    with ScriptedBackend(form, [Reply(text="ok")]) as b:
        async with InProcessGateway(b.url, backend=form, model="q") as gw:
            await gw.send("POST", "/v1/messages", json=ASK, headers={**OTHER_NAMES, "anthropic-beta": "x-1"})
    (sent,) = b.chat_requests
    assert [name for name in OTHER_NAMES if name in sent.headers] == []
    for value in OTHER_NAMES.values():
        assert value not in str(sent.headers)
    if get_form(form).whole_api:
        assert sent.headers["anthropic-beta"] == "x-1", "the rest goes on"


async def test_a_header_the_user_names_in_forward_headers_goes_on_and_redact_headers_adds_to_the_list():
    with ScriptedBackend("anthropic", [Reply(text="ok")]) as b:
        async with InProcessGateway(b.url, backend="anthropic", model="q", forward_headers="X-Portkey-Api-Key",
                                    redact_headers="x-tenant") as gw:
            await gw.send("POST", "/v1/messages", json=ASK, headers={**OTHER_NAMES, "x-tenant": "acme"})
    (sent,) = b.chat_requests
    assert sent.headers["x-portkey-api-key"] == "pk-key"
    assert "x-auth-token" not in sent.headers and "x-tenant" not in sent.headers


async def test_anthropics_own_host_gets_the_users_credentials(monkeypatch):
    from inspector.protocol import _passthrough as P
    assert P.is_anthropic_host("api.anthropic.com") and P.is_anthropic_host("API.Anthropic.com.")
    assert not P.is_anthropic_host("anthropic.com.evil.example") and not P.is_anthropic_host("127.0.0.1")
    monkeypatch.setattr(P, "is_anthropic_host", lambda host: True)
    with ScriptedBackend("anthropic", [Reply(text="ok")]) as b:
        async with InProcessGateway(b.url, backend="anthropic") as gw:
            await gw.send("POST", "/v1/messages?beta=true", json=ASK, headers={**SECRETS, **OTHER_NAMES})
    assert b.chat_requests[0].headers["x-api-key"] == "sk-ant-api03-user-key"
    assert b.chat_requests[0].headers["x-auth-token"] == "tok-1"


# -- headers go on as their bytes; none breaks an exchange (issue 19, item 7) -------------------------------
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("agent", ["José/1.0".encode(), b"caf\xe9/1.0", b"\xff\xfe"], ids=["utf-8", "latin-1", "ff-fe"])
async def test_a_user_agent_that_is_not_ascii_goes_on_as_it_came(form, agent):
    with ScriptedBackend(form, [Reply(text="ok")]) as b:
        async with InProcessGateway(b.url, backend=form, model="q") as gw:
            r = await gw.send("POST", "/v1/messages", json=ASK, headers=[(b"user-agent", agent)])
    assert r.status == 200, r.body
    (sent,) = b.chat_requests
    assert sent.headers["user-agent"].encode("latin-1") == agent, "the same bytes, not a re-encoding"


@pytest.mark.parametrize("form", FORMS)
async def test_a_header_with_a_control_byte_is_refused_naming_it_when_it_would_be_sent_on(form):
    with ScriptedBackend(form, [Reply(text="fine")]) as b:
        async with InProcessGateway(b.url, backend=form, model="q") as gw:
            r = await gw.send("POST", "/v1/messages", json=ASK, headers=[(b"user-agent", b"a\x00b")])
            other = await gw.send("POST", "/v1/messages", json=ASK, headers=[(b"x-trace", b"a\x01b")])
    assert r.status == 400 and "'user-agent'" in r.json()["error"]["message"]
    if get_form(form).whole_api:  # passthrough sends every header on
        assert other.status == 400 and "'x-trace'" in other.json()["error"]["message"]
        assert b.chat_requests == []
    else:  # a translated request carries only the user agent of the client's headers
        assert other.status == 200 and len(b.chat_requests) == 1


async def test_a_passed_through_answer_with_a_non_ascii_header_reaches_the_client():
    body = RENDER["anthropic"](Reply(text="bonjour"), "m", False)[0]

    async def serve(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-note: caf\xc3\xa9 \xff\r\n"
                     b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        async with InProcessGateway(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", backend="anthropic",
                                    model="m") as gw:
            r = await gw.send("POST", "/v1/messages", json=ASK)
    finally:
        server.close()
    assert r.status == 200 and r.json()["content"][0]["text"] == "bonjour"
    assert r.flow is not None and r.flow.response is not None
    assert (b"x-note", b"caf\xc3\xa9 \xff") in r.flow.response.headers.fields, "its bytes as they came"


# -- the relay serves only the gateway ---------------------------------------------------------------------
async def test_the_relay_serves_only_jobs_the_gateway_registered():
    with ScriptedBackend("ollama", [Reply(text="ok")]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="q") as gw:
            port = gw.relay.port
            async with httpx.AsyncClient() as client:
                r = await client.post(f"http://127.0.0.1:{port}/{secrets.token_urlsafe(18)}", json=ASK,
                                      headers={"x-inspector-upstream": b.url})
                assert r.status_code == 404
                ok = await gw.send("POST", "/v1/messages", json=ASK)
                assert ok.status == 200
                token = ok.flow.request.path  # a job is served once
                assert (await client.post(f"http://127.0.0.1:{port}{token}")).status_code == 404
    assert len(b.chat_requests) == 1


# -- our own bugs never reach the client as tracebacks ----------------------------------------------------
async def test_a_crash_while_translating_a_request_is_an_anthropic_500(monkeypatch):
    from inspector.protocol import OLLAMA
    monkeypatch.setattr(type(OLLAMA), "build_request", lambda *a, **k: 1 / 0)
    with ScriptedBackend("ollama", [Reply(text="never")]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="q") as gw:
            r = await gw.send("POST", "/v1/messages", json=ASK)
    assert r.status == 500 and "ZeroDivisionError" in r.json()["error"]["message"] and not b.chat_requests


async def test_a_failing_listener_never_reaches_the_traffic():
    class Broken:
        def exchange_started(self, ex): raise RuntimeError("listener bug")
        def exchange_response(self, ex, direction, status, headers): raise RuntimeError("listener bug")
        def exchange_chunk(self, ex, direction, data): raise RuntimeError("listener bug")
        def exchange_ended(self, ex): raise RuntimeError("listener bug")

    with ScriptedBackend("openai", [Reply(text="fine", calls=[Call("Read", {"file_path": "/a"})])]) as b:
        async with InProcessGateway(b.url, backend="openai", model="q") as gw:
            gw.relay.listeners.items.append(Broken())
            r = await gw.send("POST", "/v1/messages", json=STREAM)
    msg = accumulate(r.body)
    assert msg.content[0].text == "fine" and msg.stop_reason == "tool_use"


async def test_the_sdk_accepts_every_form_streaming_and_not():
    for form in FORMS:
        with ScriptedBackend(form, [Reply(thinking="hmm", text="Writing.",
                                          calls=[Call("Write", {"file_path": "/x", "content": "é\n"}, id="call_1")])]) as b:
            async with InProcessGateway(b.url, backend=form, model="q") as gw:
                streamed = await gw.send("POST", "/v1/messages", json=STREAM)
                whole = await gw.send("POST", "/v1/messages", json=ASK)
        msg = accumulate(streamed.body)
        assert [c.type for c in msg.content] == ["thinking", "text", "tool_use"]
        assert msg.content[2].input == {"file_path": "/x", "content": "é\n"}
        assert whole.json()["content"][2]["input"] == {"file_path": "/x", "content": "é\n"}
        assert summary(streamed)["message_id"] == msg.id


# -- where the seconds went, and the prompt cache, in exchange.json --------------------------------------
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
async def test_ollamas_durations_and_cache_reads_are_recorded(stream):
    reply = Reply(text="Done.", prompt_tokens=12_000, cached_tokens=11_800, output_tokens=57,
                  load_ms=1200.0, prompt_ms=400.0, decode_ms=2850.0)
    with ScriptedBackend("ollama", [reply]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="q") as gw:
            r = await gw.send("POST", "/v1/messages", json=STREAM if stream else ASK)
    s = summary(r)
    assert s["usage"] == {"input_tokens": 200, "output_tokens": 57, "cache_read_input_tokens": 11_800}
    assert s["performance"] == {"load_ms": 1200.0, "prompt_tokens": 200, "prompt_ms": 400.0, "decode_tokens": 57,
                                "decode_ms": 2850.0, "source": "ollama", "prompt_tokens_per_s": 500.0,
                                "decode_tokens_per_s": 20.0}
    message = accumulate(r.body) if stream else r.json()
    usage = message.usage if stream else message["usage"]
    cache_read = usage.cache_read_input_tokens if stream else usage["cache_read_input_tokens"]
    assert cache_read == 11_800, "Claude Code sees the cache figures too"


async def test_llama_cpps_timings_are_recorded():
    reply = Reply(text="Done.", prompt_tokens=2006, cached_tokens=1920, output_tokens=30, prompt_ms=43.0,
                  decode_ms=600.0)
    with ScriptedBackend("openai", [reply], server="llama.cpp") as b:
        async with InProcessGateway(b.url, backend="openai", model="q") as gw:
            r = await gw.send("POST", "/v1/messages", json=STREAM)
    perf = summary(r)["performance"]
    assert perf["source"] == "llama.cpp" and perf["load_ms"] is None, "llama.cpp says nothing of loading"
    assert (perf["prompt_tokens"], perf["prompt_tokens_per_s"], perf["decode_tokens_per_s"]) == (86, 2000.0, 50.0)
    assert summary(r)["usage"]["cache_read_input_tokens"] == 1920


async def test_a_backend_without_timings_is_measured_by_the_gateway():
    with ScriptedBackend("openai", [Reply(text="Measured.", delay=0.2, gap=0.05, output_tokens=9)]) as b:
        async with InProcessGateway(b.url, backend="openai", model="q") as gw:
            r = await gw.send("POST", "/v1/messages", json=STREAM)
    s = summary(r)
    perf = s["performance"]
    assert perf["source"] == "gateway" and perf["load_ms"] is None
    assert perf["prompt_ms"] >= 200 and perf["decode_ms"] > 0 and perf["decode_tokens"] == 9
    assert perf["prompt_tokens"] == 42, "the backend's usage.prompt_tokens, no cache reported"
    assert "cache_read_input_tokens" not in s["usage"], "the backend said nothing about its cache: nothing is shown"


async def test_a_failed_exchange_has_no_made_up_figures():
    with ScriptedBackend("ollama", [Reply(status=500, error="boom")]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="q") as gw:
            r = await gw.send("POST", "/v1/messages", json=STREAM)
    assert r.status == 500 and "performance" not in summary(r)


# -- one backend answer too many on a keep-alive connection (issue 19, item 2) -------------------------------
class LyingBackend:
    """Speaks ``form`` (whole answers; anything but a chat is a 404) and, after its first chat answer,
    sends one more response nobody asked for on that connection — a wrong Content-Length is enough."""

    def __init__(self, form: str) -> None:
        self.form = form
        self.chats = 0
        self.connections = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
                if path.split("?")[0] != get_form(self.form).chat_path():
                    writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                    continue
                self.chats += 1
                body = RENDER[self.form](Reply(text=f"answer {self.chats}"), "m", False)[0]
                answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body)
                writer.write(answer + body)
                if self.chats == 1:
                    wrong = RENDER[self.form](Reply(text="an answer nobody asked for"), "m", False)[0]
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                                 b"content-length: %d\r\n\r\n%s" % (len(wrong), wrong))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


@pytest.mark.parametrize("form", FORMS)
async def test_an_extra_backend_answer_never_reaches_the_next_client(form):
    liar = LyingBackend(form)
    server = await asyncio.start_server(liar.serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        async with InProcessGateway(url, backend=form, model="m") as gw:
            texts = []
            for i in range(3):
                r = await gw.send("POST", "/v1/messages", json={**ASK, "messages": [
                    {"role": "user", "content": f"question {i}"}]})
                assert r.status == 200, r.body
                texts.append(r.json()["content"][0]["text"])
    finally:
        server.close()
    assert texts == ["answer 1", "answer 2", "answer 3"], "each client gets its own answer"


@pytest.mark.parametrize("form", FORMS)
async def test_the_first_token_is_the_first_content_delta_not_the_answers_end(form):
    """An answer with nothing in it has no first token (its message_delta is not one); one with words has."""
    def brain(rec):
        return Reply(text="", output_tokens=0) if "say nothing" in str(rec.body) else Reply(text="Hello.")

    with ScriptedBackend(form, brain) as b:
        async with InProcessGateway(b.url, backend=form, model="q") as gw:
            empty = await gw.send("POST", "/v1/messages", json={**STREAM, "messages": [
                {"role": "user", "content": "say nothing"}]})
            words = await gw.send("POST", "/v1/messages", json=STREAM)
    assert events(empty.body)[-1] == "message_stop" and "content_block_delta" not in events(empty.body)
    assert summary(empty)["timing_ms"]["first_token"] is None
    first, total = summary(words)["timing_ms"]["first_token"], summary(words)["timing_ms"]["total"]
    assert first is not None and first <= total
