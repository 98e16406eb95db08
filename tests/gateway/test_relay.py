"""The loopback relay on its own: transport, early commit, keep-alive markers, in-band errors."""

import asyncio
import threading
import time

import httpx
import pytest

from inspector.gateway.relay import BackendRelay
from support.backends import Reply, ScriptedBackend
from support.gateway import free_port


@pytest.fixture
def relay():
    loop = asyncio.new_event_loop()
    r = BackendRelay(ping_interval=0.2, idle_timeout=3)
    port = loop.run_until_complete(r.start())
    t = threading.Thread(target=loop.run_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{port}"
    asyncio.run_coroutine_threadsafe(r.stop(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)


def post(relay, upstream, form="ollama", stream=True, path="/api/chat", body=None):
    headers = {"x-inspector-upstream": upstream, "x-inspector-form": form, "x-inspector-model": "qwen3",
               "x-inspector-stream": "1" if stream else "0", "x-secret-test": "kept"}
    t0 = time.monotonic()
    chunks, times = [], []
    with httpx.stream("POST", relay + path, json=body or {"model": "qwen3", "stream": stream},
                      headers=headers, timeout=10) as r:
        for c in r.iter_raw():
            chunks.append(c)
            times.append(time.monotonic() - t0)
        return r, b"".join(chunks), times


def test_forwards_and_strips_its_own_headers(relay):
    with ScriptedBackend("ollama", [Reply(text="hello")]) as b:
        r, body, _ = post(relay, b.url)
    assert r.status_code == 200 and b'"done": true' in body
    sent = b.received[0]
    assert sent.path == "/api/chat" and sent.body == {"model": "qwen3", "stream": True}
    assert sent.headers["accept-encoding"] == "identity" and sent.headers["x-secret-test"] == "kept"
    assert not any(k.startswith("x-inspector") for k in sent.headers)


def test_unreachable_backend_is_marked(relay):
    r, body, _ = post(relay, f"http://127.0.0.1:{free_port()}")
    assert r.status_code == 502 and r.headers["x-inspector-relay"] == "unreachable"
    assert b"connection refused" in body


def test_early_commit_and_markers_while_the_backend_is_silent(relay):
    with ScriptedBackend("ollama", [Reply(text="late", delay=1.0)]) as b:
        r, body, times = post(relay, b.url)
    assert r.status_code == 200 and r.headers["x-inspector-early"] == "1"
    assert times[0] < 0.6
    assert body.startswith(b"\n\n") and b'"done": true' in body


def test_in_band_error_after_early_commit_is_in_the_backends_format(relay):
    with ScriptedBackend("openai", [Reply(status=404, error="no such model", delay=0.7)]) as b:
        r, body, _ = post(relay, b.url, form="openai", path="/v1/chat/completions")
    assert r.status_code == 200
    assert body.startswith(b": keep-alive\n\n")
    assert b'data: {"error":{"message":' in body and b"no such model" in body and b'"status":404' in body


def test_markers_only_between_lines(relay):
    raw = [b'{"message":{"role":"assistant","content":"he', 0.7, b'llo"},"done":false}\n', 0.5,
           b'{"message":{"role":"assistant","content":""},"done":true}\n']
    with ScriptedBackend("ollama", [Reply(raw=raw)]) as b:
        _, body, _ = post(relay, b.url)
    first, rest = body.split(b"\n", 1)
    assert first == b'{"message":{"role":"assistant","content":"hello"},"done":false}', "no marker mid-line"
    assert rest.startswith(b"\n"), "a marker once the line was complete"


def test_non_streaming_bodies_are_never_touched(relay):
    with ScriptedBackend("ollama", [Reply(text="whole", delay=0.5)]) as b:
        r, body, _ = post(relay, b.url, stream=False)
    assert r.status_code == 200 and body.startswith(b"{") and "x-inspector-early" not in r.headers


def test_idle_timeout_ends_a_silent_stream(relay):
    with ScriptedBackend("ollama", [Reply(text="never", delay=5)]) as b:
        _, body, _ = post(relay, b.url)
    assert b'"status":504' in body and b"no answer within" in body
