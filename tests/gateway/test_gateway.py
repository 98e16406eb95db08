"""The gateway end to end: real mitmdump + addons/translate.py, the official SDK as the client."""

import time

import anthropic
import httpx
import pytest

from inspector.protocol import SSEDecoder, stream_problems
from inspector.testing.backends import Call, Reply, ScriptedBackend
from inspector.testing.gateway import Gateway, free_port
from inspector.testing.sdk import accumulate

pytestmark = pytest.mark.e2e

ASK = {"model": "claude-sonnet-x", "max_tokens": 200, "messages": [{"role": "user", "content": "hi"}]}


def client(url: str, **kw) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key="sk-ant-secret-key", max_retries=0, **kw)


def raw_stream(url: str, body: dict, *, path="/v1/messages?beta=true") -> tuple[bytes, list[float]]:
    """POST a streaming request; return the raw SSE bytes and the arrival time of each chunk."""
    t0 = time.monotonic()
    chunks, times = [], []
    with httpx.stream("POST", url + path, json={**body, "stream": True}, timeout=30,
                      headers={"x-api-key": "sk-ant-secret-key", "anthropic-version": "2023-06-01"}) as r:
        assert r.status_code == 200, r.read()
        for chunk in r.iter_raw():
            chunks.append(chunk)
            times.append(time.monotonic() - t0)
    return b"".join(chunks), times


def events(raw: bytes) -> list[str]:
    d = SSEDecoder()
    return [e.event for e in d.decode(raw) + d.flush()]


# -- the happy paths, every form ------------------------------------------------------------------
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
def test_sdk_round_trip(pair, stream):
    pair.script(Reply(thinking="Thinking it over", text="Let me write that.",
                      calls=[Call("Write", {"file_path": "/tmp/x", "content": "é\n"}, id="call_w1")]))
    c = client(pair.url)
    if stream:
        with c.messages.stream(**ASK) as s:
            msg = s.get_final_message()
    else:
        msg = c.messages.create(**ASK)
    assert [b.type for b in msg.content] == ["thinking", "text", "tool_use"]
    assert msg.content[1].text == "Let me write that."
    assert (msg.content[2].id, msg.content[2].name, msg.content[2].input) == \
        ("call_w1" if pair.backend.form != "anthropic" else "call_w1", "Write", {"file_path": "/tmp/x", "content": "é\n"})
    assert msg.stop_reason == "tool_use" and (msg.usage.input_tokens, msg.usage.output_tokens) == (42, 7)
    (sent,) = pair.backend.chat_requests
    assert sent.body["model"] == "qwen3"
    assert sent.path == {"ollama": "/api/chat", "openai": "/v1/chat/completions",
                         "anthropic": "/v1/messages"}[pair.backend.form]
    if pair.backend.form == "openai" and stream:
        assert sent.body["stream_options"] == {"include_usage": True}


def test_tool_result_goes_back_with_the_same_id(pair):
    pair.script(Reply(text="It says hello."))
    c = client(pair.url)
    msg = c.messages.create(**{**ASK, "messages": [
        {"role": "user", "content": "read it"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "call_r1", "name": "Read",
                                           "input": {"file_path": "/a"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_r1", "content": "hello"}]}]})
    assert msg.content[0].text == "It says hello."
    sent = pair.backend.chat_requests[0].body["messages"]
    if pair.backend.form == "anthropic":
        assert sent[2]["content"][0]["tool_use_id"] == "call_r1"
    else:
        tool = [m for m in sent if m["role"] == "tool"][0]
        assert tool["tool_call_id"] == "call_r1" and tool["content"] == "hello"


def test_query_string_does_not_break_routing_and_grammar_is_exact(pair):
    pair.script(Reply(text="Hello there, friend.", calls=[Call("Read", {"file_path": "/a"})]))
    raw, _ = raw_stream(pair.url, ASK)
    assert stream_problems(raw, strict=pair.backend.form != "anthropic") == []
    assert events(raw)[0] == "message_start" and events(raw)[-1] == "message_stop"


# -- side traffic ----------------------------------------------------------------------------------
def test_side_traffic_is_answered_without_the_backend(pair):
    if pair.backend.form == "anthropic":
        pytest.skip("an Anthropic-native backend answers its own side traffic (passed through)")
    pair.script(Reply(text="never"))
    n = client(pair.url).messages.count_tokens(model="claude-x", messages=[{"role": "user", "content": "hi " * 400}])
    assert 250 < n.input_tokens < 400
    r = httpx.post(pair.url + "/v1/messages/count_tokens?beta=true", json={"model": "m", "messages": []})
    assert r.status_code == 200 and r.json()["input_tokens"] >= 1
    models = httpx.get(pair.url + "/v1/models?limit=1000")
    assert models.status_code == 404, "no Anthropic-style id to list: Claude Code keeps its built-in list"
    assert httpx.head(pair.url + "/api/hello").status_code == 200
    assert httpx.post(pair.url + "/api/event_logging/batch", json={"events": []}).status_code == 200
    assert httpx.post(pair.url + "/v1/traces", json={"resourceSpans": []}).status_code == 200
    r = httpx.get(pair.url + "/v1/files")
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"
    assert pair.backend.received == []


# -- bad input and broken backends ------------------------------------------------------------------
@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"model": "m"}'])
def test_malformed_client_json_is_an_anthropic_400(pair, body):
    if pair.backend.form == "anthropic" and body.startswith(b"{\"model"):
        pytest.skip("passthrough: field validation is the Anthropic-native backend's job")
    pair.script(Reply(text="never"))
    r = httpx.post(pair.url + "/v1/messages", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == "invalid_request_error"
    assert pair.backend.chat_requests == []


def test_model_not_found_says_what_to_do(pair):
    """A 400, in every form: Claude Code replaces a 404's message with its own (a local server's
    not_found_error passed through included; only Anthropic's own API keeps its 404)."""
    pair.script(Reply(status=404, error="model 'qwen3' not found"))
    with pytest.raises(anthropic.BadRequestError) as e:
        client(pair.url).messages.create(**ASK)
    assert "qwen3" in str(e.value)
    if pair.backend.form == "ollama":
        assert "ollama pull qwen3" in str(e.value)


def test_backend_500_is_an_api_error(pair):
    pair.script(Reply(status=500, error="CUDA out of memory"))
    with pytest.raises(anthropic.InternalServerError, match="CUDA out of memory"):
        client(pair.url).messages.create(**ASK)


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
def test_garbage_from_backend(pair, stream):
    if pair.backend.form == "anthropic":
        pytest.skip("passthrough forwards what an Anthropic-native backend says")
    pair.script(Reply(raw=[b"<html><body>502 Bad Gateway</body></html>"], content_type="text/html"))
    with pytest.raises(anthropic.APIStatusError, match=f"backend={pair.backend.form}"):
        if stream:
            with client(pair.url).messages.stream(**ASK) as s:
                s.get_final_message()
        else:
            client(pair.url).messages.create(**ASK)


def test_stream_cut_mid_way_ends_properly(pair):
    pair.script(Reply(text="This answer will be cut off before it ends", cut_after=2))
    raw, _ = raw_stream(pair.url, ASK)
    assert events(raw)[-1] == "error"
    error = raw.split(b"event: error")[-1]
    assert b"was cut" in error and b"closed the connection mid-answer" in error
    assert stream_problems(raw, strict=False) == []
    with pytest.raises(anthropic.APIStatusError):
        with client(pair.url).messages.stream(**ASK) as s:
            s.get_final_message()


def test_silent_backend_gets_pings_then_the_answer(pair):
    pair.script(Reply(text="Finally, after a long prompt evaluation.", delay=1.5))
    raw, times = raw_stream(pair.url, ASK)
    names = events(raw)
    assert times[0] < 1.0, "the client heard something before the backend said a word"
    if pair.backend.form == "anthropic":
        assert names[0] == "ping", "a ping alone: the backend's own message_start comes later"
    else:
        assert names[:2] == ["message_start", "ping"] and names.count("ping") >= 2
    assert stream_problems(raw) == []
    assert names[-1] == "message_stop"
    assert accumulate(raw).content[0].text == \
        "Finally, after a long prompt evaluation."


def test_silent_backend_that_then_fails_gives_an_error_event(pair):
    pair.script(Reply(status=404, error="model 'qwen3' not found", delay=1.0))
    raw, _ = raw_stream(pair.url, ASK)
    assert events(raw)[-1] == "error"
    if pair.backend.form == "ollama":
        assert b"ollama pull qwen3" in raw


def test_silences_mid_stream_get_pings(pair):
    pair.script(Reply(text="one two three four five six", gap=0.5))
    raw, _ = raw_stream(pair.url, ASK)
    names = events(raw)
    first_delta = names.index("content_block_delta")
    assert "ping" in names[first_delta:], names
    assert names[-1] == "message_stop"


def test_client_disconnect_mid_stream_leaves_the_gateway_healthy(pair):
    pair.script(Reply(text="a slow answer " * 5, gap=0.2))
    with httpx.stream("POST", pair.url + "/v1/messages", json={**ASK, "stream": True}, timeout=10) as r:
        next(r.iter_raw())
    pair.script(Reply(text="still here"))
    assert client(pair.url).messages.create(**ASK).content[0].text == "still here"


def test_claude_codes_credentials_are_not_forwarded_to_translated_backends(pair):
    pair.script(Reply(text="ok"))
    httpx.post(pair.url + "/v1/messages", json=ASK,
               headers={"x-api-key": "sk-ant-secret-key", "authorization": "Bearer bearer-secret"})
    headers = pair.backend.chat_requests[0].headers
    # Not even in passthrough: Claude Code's credentials are for Anthropic's own hosts only.
    assert "x-api-key" not in headers and "authorization" not in headers
    assert not any(k.startswith("x-inspector") for k in headers)


# -- single-form behaviours -------------------------------------------------------------------------
def test_backend_down_is_an_anthropic_error_with_advice():
    dead = f"http://127.0.0.1:{free_port()}"
    with Gateway(dead, backend="ollama", model="qwen3") as gw:
        with pytest.raises(anthropic.APIStatusError) as e:
            client(gw.url).messages.create(**ASK)
        assert e.value.status_code == 502
        assert "cannot reach" in str(e.value) and "ollama serve" in str(e.value)
        raw = httpx.post(gw.url + "/v1/messages", json={**ASK, "stream": True}).json()
        assert raw["type"] == "error" and "ollama serve" in raw["error"]["message"]


def test_model_map_routes_tiers_and_backend_key_is_sent():
    with ScriptedBackend("openai", [Reply(text="ok")]) as b:
        with Gateway(b.url, backend="openai", model="big", model_map="haiku=small",
                     backend_api_key="backend-key-123") as gw:
            c = client(gw.url)
            c.messages.create(**{**ASK, "model": "claude-haiku-4-5-20251001"})
            c.messages.create(**{**ASK, "model": "claude-sonnet-9"})
            assert [r.body["model"] for r in b.chat_requests] == ["small", "big"]
            assert b.chat_requests[0].headers["authorization"] == "Bearer backend-key-123"
            listed = httpx.get(gw.url + "/v1/models").json()["data"]
            assert [(m["id"], m["display_name"]) for m in listed] == [
                ("claude-haiku-4-5-20251001", "claude-haiku-4-5-20251001 → small (via inspector gateway)"),
                ("claude-sonnet-9", "claude-sonnet-9 → big (via inspector gateway)")], "the ids Claude Code sent"


def test_num_ctx_and_clamp_options_reach_ollama():
    with ScriptedBackend("ollama", [Reply(text="ok")]) as b:
        with Gateway(b.url, backend="ollama", model="q", num_ctx=65536, max_tokens_limit=4096) as gw:
            httpx.post(gw.url + "/v1/messages", json={**ASK, "max_tokens": 128000})
            assert b.chat_requests[0].body["options"] == {"num_predict": 4096, "num_ctx": 65536}


def test_real_anthropic_stream_passes_through_byte_for_byte():
    from pathlib import Path
    fixture = (Path(__file__).parent.parent / "data" / "anthropic" / "tool_use_response.txt").read_bytes()
    with ScriptedBackend("anthropic", [Reply(raw=[fixture[:100], fixture[100:]])]) as b:
        with Gateway(b.url, backend="anthropic") as gw:
            raw, _ = raw_stream(gw.url, ASK)
    assert raw == fixture


def test_regular_mode_intercepts_api_anthropic_com_and_retargets(tmp_path):
    with ScriptedBackend("ollama", [Reply(text="from the local model")]) as b:
        with Gateway(b.url, mode="regular", backend="ollama", model="q", confdir=str(tmp_path)) as gw:
            ca = tmp_path / "mitmproxy-ca-cert.pem"
            for _ in range(50):
                if ca.exists():
                    break
                time.sleep(0.1)
            import ssl

            import httpx2
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
    with ScriptedBackend("anthropic", [Reply(text="straight from the real API"),
                                       Reply(text="cut off here and never finished", cut_after=3)]) as b:
        b.script = [Reply(text="straight from the real API"), Reply(text="again"),
                    Reply(text="cut off here and never finished", cut_after=3)]
        with Gateway("", mode="regular", backend="anthropic", intercept_hosts="127.0.0.1") as gw:
            import httpx2
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


# -- our own bugs never reach the client as tracebacks or half-translated requests --------------


# -- what the gateway says it spent (issue 25) ------------------------------------------------------
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
def test_the_gateway_reports_what_it_spent_in_a_header_and_the_recording(pair, stream):
    """``x-inspector-overhead-ms`` on the answer — for a stream only the request's part, its head goes
    out before the stream — and the whole figure in ``exchange.json``'s ``overhead_ms``."""
    from inspector.recording import list_sessions

    pair.script(Reply(text="word " * 30, pieces=10))
    with httpx.Client(timeout=30) as http:
        r = http.post(pair.url + "/v1/messages", json={**ASK, "stream": stream},
                      headers={"x-api-key": "sk-ant-secret-key", "anthropic-version": "2023-06-01",
                               "x-claude-code-session-id": f"overhead-{pair.backend.form}-{stream}"})
    assert r.status_code == 200
    said = float(r.headers["x-inspector-overhead-ms"])
    assert said > 0
    deadline = time.monotonic() + 10
    meta = None
    while time.monotonic() < deadline and meta is None:
        sessions = [s for s in list_sessions(pair.gateway.record_dir)
                    if s.meta.get("session_id") == f"overhead-{pair.backend.form}-{stream}"]
        done = [ex.meta for s in sessions for ex in s.exchanges() if ex.meta.get("complete")]
        meta = done[0] if done else None
        time.sleep(0.05)
    assert meta is not None
    overhead = meta["overhead_ms"]
    assert overhead["request"] > 0 and overhead["total"] == pytest.approx(overhead["request"] + overhead["response"],
                                                                          abs=0.002)
    if stream:
        assert said == pytest.approx(overhead["request"], abs=0.002)
        assert overhead["chunks"] >= 2 and overhead["response"] > 0
    else:
        assert said == pytest.approx(overhead["total"], abs=0.002) and overhead["chunks"] == 1
