"""The colour log as a person sees it in the mitmdump terminal."""

import time

import httpx
import pytest

from inspector.testing.backends import Call, Reply, ScriptedBackend
from inspector.testing.gateway import Gateway

pytestmark = pytest.mark.e2e
ASK = {"model": "claude-haiku-x", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}],
       "stream": True}


@pytest.mark.parametrize("detail", ["summary", "bodies", "events", "off"])
def test_log_detail(detail):
    with ScriptedBackend("ollama", [Reply(text="The answer.", calls=[Call("Bash", {"command": "ls -la"})])]) as b:
        with Gateway(b.url, backend="ollama", model="small", log_detail=detail, record=False) as gw:
            httpx.post(gw.url + "/v1/messages", json=ASK).read()
            httpx.post(gw.url + "/v1/messages/count_tokens", json={"model": "m", "messages": []})
            time.sleep(0.3)
            log = gw.log()
    summary = "claude-haiku-x → small [ollama]  200"
    if detail == "off":
        assert summary not in log
        return
    assert summary in log and "tool_use  Bash(command=ls -la)" in log
    assert "count_tokens  " not in log or "[ollama local]" in log
    if detail in ("bodies", "events"):
        assert '"messages"' in log and "→ ollama http://" in log and "response (as Claude Code sees it)" in log
    if detail == "events":
        assert "← line {" in log and "→ message_start" in log and "→ content_block_delta" in log
