"""What only the real mitmdump does, through ``mitmdump -s addons/translate.py``: the HTTP the client
speaks, streaming through mitmproxy, regular (HTTPS_PROXY) mode with its CA, the address it binds.
The gateway's own scenarios run in-process (``test_gateway.py``); these are its smoke tests."""

import ssl
import time
from pathlib import Path

import anthropic
import httpx
import httpx2
import pytest

from inspector.protocol import FORM_NAMES, SSEDecoder, stream_problems
from inspector.testing.backends import Call, Reply, ScriptedBackend
from inspector.testing.gateway import Gateway

pytestmark = pytest.mark.e2e

ASK = {"model": "claude-sonnet-x", "max_tokens": 200, "messages": [{"role": "user", "content": "hi"}]}
FIXTURES = Path(__file__).resolve().parent.parent / "data" / "anthropic"


def client(url: str, **kw) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key="sk-ant-secret-key", max_retries=0, **kw)


def raw_stream(url: str, body: dict, *, path="/v1/messages?beta=true") -> bytes:
    with httpx.stream("POST", url + path, json={**body, "stream": True}, timeout=30,
                      headers={"x-api-key": "sk-ant-secret-key", "anthropic-version": "2023-06-01"}) as r:
        assert r.status_code == 200, r.read()
        return b"".join(r.iter_raw())


@pytest.mark.parametrize("form", FORM_NAMES)
def test_an_sdk_stream_through_the_real_gateway(form):
    write = Call("Write", {"file_path": "/tmp/x", "content": "é\n"}, id="call_w1")
    with ScriptedBackend(form, [Reply(thinking="Thinking it over", text="Let me write that.", calls=[write])]) as b:
        with Gateway(b.url, backend=form, model="qwen3") as gw:
            with client(gw.url).messages.stream(**ASK) as s:
                msg = s.get_final_message()
    assert [c.type for c in msg.content] == ["thinking", "text", "tool_use"]
    assert msg.content[2].input == {"file_path": "/tmp/x", "content": "é\n"} and msg.stop_reason == "tool_use"


def test_real_anthropic_stream_passes_through_byte_for_byte():
    fixture = (FIXTURES / "tool_use_response.txt").read_bytes()
    with ScriptedBackend("anthropic", [Reply(raw=[fixture[:100], fixture[100:]])]) as b:
        with Gateway(b.url, backend="anthropic") as gw:
            raw = raw_stream(gw.url, ASK)
    assert raw == fixture


def test_a_client_that_leaves_mid_stream_leaves_the_real_gateway_healthy():
    with ScriptedBackend("ollama", [Reply(text="a slow answer " * 5, gap=0.2)]) as b:
        with Gateway(b.url, backend="ollama", model="qwen3") as gw:
            with httpx.stream("POST", gw.url + "/v1/messages", json={**ASK, "stream": True}, timeout=10) as r:
                next(r.iter_raw())
            b.script = [Reply(text="still here")]
            assert client(gw.url).messages.create(**ASK).content[0].text == "still here"


def test_regular_mode_intercepts_api_anthropic_com_and_retargets(tmp_path):
    with ScriptedBackend("ollama", [Reply(text="from the local model")]) as b:
        with Gateway(b.url, mode="regular", backend="ollama", model="q", confdir=str(tmp_path)) as gw:
            ca = tmp_path / "mitmproxy-ca-cert.pem"
            for _ in range(50):
                if ca.exists():
                    break
                time.sleep(0.1)
            http = httpx2.Client(proxy=gw.url, verify=ssl.create_default_context(cafile=str(ca)))
            c = anthropic.Anthropic(api_key="sk-ant-x", max_retries=0, http_client=http)
            msg = c.messages.create(**ASK)
            assert msg.content[0].text == "from the local model"
            assert b.chat_requests[0].path == "/api/chat"


def test_gateway_binds_loopback_by_default():
    with ScriptedBackend("ollama", [Reply(text="ok")]) as b:
        gw = Gateway(b.url, backend="ollama")
        i = gw.args.index("--listen-host")
        del gw.args[i:i + 2]
        with gw:
            for _ in range(50):
                if f"listening at 127.0.0.1:{gw.port}" in gw.log():
                    break
                time.sleep(0.1)
            listening = [line for line in gw.log().splitlines() if " listening at " in line]
            assert listening[-1].endswith(f"listening at 127.0.0.1:{gw.port}.")


def test_regular_mode_without_backend_url_observes_and_forwards_unchanged():
    """Learning mode: Claude Code's real traffic is inspected and sent on as it was.

    No network here, so a plain-HTTP loopback 'api' host stands in for api.anthropic.com."""
    with ScriptedBackend("anthropic", [Reply(text="straight from the real API"), Reply(text="again"),
                                       Reply(text="cut off here and never finished", cut_after=3)]) as b:
        with Gateway("", mode="regular", backend="anthropic", intercept_hosts="127.0.0.1") as gw:
            c = anthropic.Anthropic(base_url=b.url, api_key="sk-ant-real", max_retries=0,
                                    http_client=httpx2.Client(proxy=gw.url))
            with c.messages.stream(**ASK) as s:
                assert s.get_final_message().content[0].text == "straight from the real API"
            assert b.chat_requests[0].body["model"] == "claude-sonnet-x", "sent on unchanged"
            with httpx.Client(proxy=gw.url) as raw:
                raw.post(b.url + "/v1/messages", json=ASK, headers={"x-api-key": "sk-ant-real"})
            assert b.chat_requests[1].headers["x-api-key"] == "sk-ant-real"
            assert b.chat_requests[1].body == ASK
            # Pure observation is faithful: a connection the real API cuts reaches the client
            # as a cut (an error at once, never a hang); the relayed modes end it properly instead.
            t0 = time.monotonic()
            with pytest.raises(Exception, match="incomplete|closed|without message_stop"):
                with c.messages.stream(**ASK) as s:
                    s.get_final_message()
            assert time.monotonic() - t0 < 5


def test_the_stream_through_mitmproxy_is_exact():
    with ScriptedBackend("openai", [Reply(text="Hello there, friend.", calls=[Call("Read", {"file_path": "/a"})])]) as b:
        with Gateway(b.url, backend="openai", model="q") as gw:
            raw = raw_stream(gw.url, ASK)
    d = SSEDecoder()
    assert stream_problems(raw) == [] and [e.event for e in d.decode(raw) + d.flush()][-1] == "message_stop"


# -- what the gateway says it spent (issue 25) ------------------------------------------------------
@pytest.mark.parametrize("form", FORM_NAMES)
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
def test_the_gateway_reports_what_it_spent_in_a_header_and_the_recording(form, stream, tmp_path):
    """``x-inspector-overhead-ms`` on the answer, through mitmproxy — for a stream only the request's part,
    its head goes out before the stream — and the whole figure in ``exchange.json``'s ``overhead_ms``."""
    from inspector.recording import list_sessions

    session = f"overhead-{form}-{stream}"
    with ScriptedBackend(form, [Reply(text="word " * 30, pieces=10)]) as b:
        with Gateway(b.url, backend=form, model="qwen3", record_dir=str(tmp_path)) as gw:
            with httpx.Client(timeout=30) as http:
                r = http.post(gw.url + "/v1/messages", json={**ASK, "stream": stream},
                              headers={"x-api-key": "sk-ant-secret-key", "anthropic-version": "2023-06-01",
                                       "x-claude-code-session-id": session})
            assert r.status_code == 200
            said = float(r.headers["x-inspector-overhead-ms"])
            assert said > 0
            deadline = time.monotonic() + 10
            meta = None
            while time.monotonic() < deadline and meta is None:
                done = [ex.meta for s in list_sessions(tmp_path) if s.meta.get("session_id") == session
                        for ex in s.exchanges() if ex.meta.get("complete")]
                meta = done[0] if done else None
                time.sleep(0.05)
    assert meta is not None
    overhead = meta["overhead_ms"]
    assert overhead is not None
    assert overhead["request"] > 0 and overhead["total"] == pytest.approx(overhead["request"] + overhead["response"],
                                                                          abs=0.002)
    if stream:
        assert said == pytest.approx(overhead["request"], abs=0.002)
        assert overhead["chunks"] >= 2 and overhead["response"] > 0
    else:
        assert said == pytest.approx(overhead["total"], abs=0.002) and overhead["chunks"] == 1
