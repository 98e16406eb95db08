"""``mitmweb -s addons/translate.py``, judged through mitmweb's own HTTP API (``GET /flows``,
``/flows/<id>/request/content.data``, ``POST /flows/<id>/replay``; mitmproxy 12.3 wants its
``web_password`` as a Bearer token, and an XSRF cookie and header for a POST).

A translated exchange is two flows in its list: the client's (Claude Code's request as it came, the
Anthropic answer as it streamed) and the backend's beside it (the translated request and the
backend's answer as it came) — not an empty request with "content missing". Replaying the client's
flow goes through the gateway again; replaying the backend's sends the translated request to the
backend as it is.
"""

from __future__ import annotations

import json
import subprocess
import time

import httpx
import pytest

from inspector.testing.backends import Reply, ScriptedBackend, ollama_chunks
from inspector.testing.gateway import MITMDUMP, SCRIPT, free_port, wait_port

pytestmark = pytest.mark.e2e
ASK = {"model": "claude-x", "max_tokens": 20, "stream": True, "messages": [{"role": "user", "content": "hi"}]}


class Mitmweb:
    def __init__(self, backend_url: str, *options: str) -> None:
        self.port, self.web_port = free_port(), free_port()
        self.proc = subprocess.Popen(
            [str(MITMDUMP.with_name("mitmweb")), "-s", str(SCRIPT), "--mode", f"reverse:{backend_url}",
             "--listen-host", "127.0.0.1", "-p", str(self.port), "--web-port", str(self.web_port),
             "--set", "web_open_browser=false", "--set", "web_password=s3cret", "--set", "record=false", *options],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.api = httpx.Client(base_url=f"http://127.0.0.1:{self.web_port}", timeout=30,
                                headers={"authorization": "Bearer s3cret", "x-xsrftoken": "00ff"},
                                cookies={"_mitmproxy_xsrf": "00ff"})

    def __enter__(self) -> Mitmweb:
        wait_port(self.port, 60, self.proc)
        wait_port(self.web_port, 60, self.proc)
        return self

    def __exit__(self, *exc: object) -> None:
        self.api.close()
        self.proc.terminate()
        self.proc.communicate(timeout=20)

    def flows(self) -> list[dict]:
        return self.api.get("/flows").json()

    def content(self, flow: dict, message: str) -> bytes:
        answer = self.api.get(f"/flows/{flow['id']}/{message}/content.data")
        assert answer.status_code == 200, answer.text
        return answer.content

    def until(self, count: int) -> list[dict]:
        for _ in range(300):
            flows = self.flows()
            if len(flows) >= count and all(f.get("response") or f.get("error") for f in flows):
                return flows
            time.sleep(0.05)
        raise AssertionError(f"mitmweb lists {self.flows()}")


def test_mitmweb_lists_the_clients_flow_and_the_backends_as_they_went():
    with ScriptedBackend("ollama", [Reply(text="Hello there.")]) as b, \
            Mitmweb(b.url, "--set", "backend=ollama", "--set", "model=qwen3:8b") as web:
        answer = httpx.post(f"http://127.0.0.1:{web.port}/v1/messages", json=ASK, timeout=30,
                            headers={"anthropic-version": "2023-06-01", "x-test": "as-sent"})
        client, backend = sorted(web.until(2), key=lambda f: f["request"]["path"] != "/v1/messages")
        sent = web.content(client, "request")
        streamed = web.content(client, "response")
        translated = json.loads(web.content(backend, "request"))
        said = web.content(backend, "response")
    assert answer.status_code == 200
    assert client["request"]["method"] == "POST" and client["request"]["path"] == "/v1/messages"
    assert json.loads(sent) == ASK, "Claude Code's request, not the relay hop's empty one"
    assert ["x-test", "as-sent"] in client["request"]["headers"]
    assert streamed == answer.content, "the answer as it streamed to the client (no 'content missing')"
    assert client["response"]["status_code"] == 200 and b"message_stop" in streamed
    assert backend["request"]["path"] == "/api/chat" and backend["request"]["port"] == b.port
    assert translated["model"] == "qwen3:8b" and translated["messages"] == [{"role": "user", "content": "hi"}]
    assert said == b"".join(ollama_chunks(Reply(text="Hello there."), "qwen3:8b", True)), "every chunk, as sent"
    assert "inspector gateway" in client["comment"] and "inspector gateway" in backend["comment"]


def test_mitmwebs_replay_buttons_do_the_right_thing_with_gateway_flows():
    with ScriptedBackend("ollama", [Reply(text="Hello there.")]) as b, \
            Mitmweb(b.url, "--set", "backend=ollama", "--set", "model=qwen3:8b") as web:
        httpx.post(f"http://127.0.0.1:{web.port}/v1/messages", json=ASK, timeout=30)
        client, backend = sorted(web.until(2), key=lambda f: f["request"]["path"] != "/v1/messages")
        assert web.api.post(f"/flows/{client['id']}/replay").status_code == 200
        flows = web.until(3)  # the client's flow again, through the gateway: a new backend flow beside it
        assert web.api.post(f"/flows/{backend['id']}/replay").status_code == 200
        for _ in range(300):
            if len(b.chat_requests) >= 3:
                break
            time.sleep(0.05)
        again = {f["id"]: f for f in web.flows()}
        replayed_answer = web.content(again[client["id"]], "response")
        backend_answer = web.content(again[backend["id"]], "response")
    assert len(flows) == 3 and sum(f["request"]["path"] == "/api/chat" for f in flows) == 2, \
        [(f["request"]["method"], f["request"]["path"], f.get("is_replay")) for f in flows]
    assert again[client["id"]]["is_replay"] == "request" and b"message_stop" in replayed_answer
    assert b.chat_requests[2].body == b.chat_requests[0].body, "the translated request, sent again as it was"
    assert again[backend["id"]]["response"]["status_code"] == 200 and b'"done": true' in backend_answer
