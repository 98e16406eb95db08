"""The ``ColourLog`` addon in-process (taddons): what each ``log_detail`` prints, a note's detail
once per run, and no secret on the terminal. That the mitmdump terminal shows this line and none of
mitmproxy's own flow lines is end-to-end, in ``test_hardening.py``."""

import pytest

from inspector.testing.backends import Call, Reply, ScriptedBackend
from inspector.testing.inprocess import InProcessGateway

pytestmark = pytest.mark.anyio
ASK = {"model": "claude-haiku-x", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}],
       "stream": True}


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.parametrize("detail", ["summary", "bodies", "events", "off"])
async def test_log_detail(detail):
    with ScriptedBackend("ollama", [Reply(text="The answer.", calls=[Call("Bash", {"command": "ls -la"})])]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="small", log_detail=detail) as gw:
            await gw.send("POST", "/v1/messages", json=ASK)
            await gw.send("POST", "/v1/messages/count_tokens", json={"model": "m", "messages": []})
            log = gw.log.getvalue()
    summary = "claude-haiku-x → small [ollama]  200"
    if detail == "off":
        assert log == ""
        return
    assert summary in log and "tool_use  Bash(command=ls -la)" in log
    assert "count_tokens  m → small [ollama local]  200" in log
    bodies = '"messages"' in log and "→ ollama http://" in log and "response (as Claude Code sees it)" in log
    assert bodies == (detail in ("bodies", "events"))
    events = "← line {" in log and "→ message_start" in log and "→ content_block_delta" in log
    assert events == (detail == "events")


async def test_a_notes_detail_line_prints_once_per_run_and_its_count_every_time():
    tools = {**ASK, "tools": [{"name": "Bash", "description": "run", "input_schema": {
        "type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}]}
    broken = Reply(calls=[Call("Bash", '{"command": "ls -la",}', id="call_1")])  # a trailing comma
    bad = {**ASK, "max_tokens": 0}
    with ScriptedBackend("openai", [broken]) as b:
        async with InProcessGateway(b.url, backend="openai", model="small") as gw:
            for _ in range(3):
                await gw.send("POST", "/v1/messages", json=tools)
            await gw.send("POST", "/v1/messages", json=bad)
            await gw.send("POST", "/v1/messages", json=bad)
            log = gw.log.getvalue()
    lines = log.splitlines()
    summaries = [line for line in lines if "claude-haiku-x → small" in line]
    assert len(summaries) == 3 and all("repaired 1" in line for line in summaries), log
    repairs = [line for line in lines if line.startswith("    repaired:")]
    assert len(repairs) == 1, f"the repair's detail line once per run: {log}"
    errors = [line for line in lines if line.startswith("    error:")]
    assert len(errors) == 2 and "max_tokens" in errors[0], "an error's detail prints every time"


async def test_no_secret_reaches_the_terminal():
    key = "sk-ant-api03-" + "A1b2C3d4E5f6G7h8" * 5
    with ScriptedBackend("ollama", [Reply(text=f"your key is {key}")]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="small", log_detail="events") as gw:
            await gw.send("POST", "/v1/messages", json={**ASK, "messages": [{"role": "user", "content": key}]},
                          headers={"x-api-key": key})
            log = gw.log.getvalue()
    assert key not in log and "[redacted:anthropic-key]" in log
