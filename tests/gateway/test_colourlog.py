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
    assert bodies == (detail == "bodies"), "events shows the events, not the whole bodies again (issue 21)"
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


@pytest.mark.parametrize("detail", ["bodies", "events"])
async def test_no_secret_reaches_the_terminal(detail):
    key = "sk-ant-api03-" + "A1b2C3d4E5f6G7h8" * 5
    with ScriptedBackend("ollama", [Reply(text=f"your key is {key}")]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="small", log_detail=detail) as gw:
            await gw.send("POST", "/v1/messages", json={**ASK, "messages": [{"role": "user", "content": key}]},
                          headers={"x-api-key": key})
            log = gw.log.getvalue()
    assert key not in log
    assert ("[redacted:anthropic-key]" in log) == (detail == "bodies"), "events mode prints no bodies (issue 21)"


# -- a gateway that shows it is alive (issue 21) ----------------------------------------------------------
def _colourlog(gw):
    from inspector.gateway.colourlog import ColourLog
    return next(a for a in gw.addons if isinstance(a, ColourLog))


class Clock:
    """The colour log's clock, moved by the test: nothing here waits for real seconds."""

    def __init__(self) -> None:
        import time
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


async def _until(condition, what: str) -> None:
    import asyncio
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")


async def test_a_request_waiting_for_its_first_token_shows_a_live_status_and_clears_it():
    import asyncio
    import io
    import threading

    from rich.console import Console
    hold = threading.Event()
    with ScriptedBackend("ollama", [Reply(text="The answer.", hold=hold)]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="small") as gw:
            log = _colourlog(gw)
            terminal = io.StringIO()
            log.console = Console(file=terminal, force_terminal=True, width=200, highlight=False, soft_wrap=True)
            log.clock = clock = Clock()
            asking = asyncio.ensure_future(gw.send("POST", "/v1/messages", json=ASK))
            await _until(lambda: log.waiting.requests, "the request is sent")
            (w,) = log.waiting.requests.values()
            clock.now = w.since + 2
            log.tick()
            assert terminal.getvalue() == "", "nothing for the first seconds"
            clock.now = w.since + 12
            log.tick()
            shown = terminal.getvalue()
            hold.set()
            await asking
    assert shown.startswith("\r\x1b[2K") and "small waiting 12s for the first token" in shown
    assert "prompt ≈" in shown and "the backend says nothing about its progress" in shown
    assert not shown.endswith("\n"), "a live line, rewritten in place"
    import re
    after = terminal.getvalue()[len(shown):]
    assert after.startswith("\r\x1b[2K") and "claude-haiku-x → small [ollama]  200" in re.sub(r"\x1b\[[0-9;]*m", "", after), \
        "cleared when the first token arrives, before the next line is printed"
    assert not log.waiting.requests


async def test_the_status_shows_llama_cpps_own_prompt_progress():
    import asyncio
    import threading
    hold = threading.Event()
    reply = Reply(text="The answer.", prompt_tokens=4000, cached_tokens=1000, progress=[2000, 2500], hold=hold)
    with ScriptedBackend("openai", [reply], server="llama.cpp") as b:
        async with InProcessGateway(b.url, backend="openai", model="small") as gw:
            log = _colourlog(gw)
            log.clock = clock = Clock()
            asking = asyncio.ensure_future(gw.send("POST", "/v1/messages", json=ASK))
            await _until(lambda: any(w.progress and w.progress.processed == 2500
                                     for w in log.waiting.requests.values()), "the second progress chunk")
            (w,) = log.waiting.requests.values()
            clock.now = w.since + 30
            log.tick()
            hold.set()
            result = await asking
    (chat,) = b.chat_requests
    assert chat.body["return_progress"] is True, "asked of llama.cpp's server (it answers /props)"
    line = next(line for line in gw.log.getvalue().splitlines() if "waiting" in line)
    assert line.startswith("    … ") and "waiting 30s for the first token" in line
    assert "read 50% (2,500 of 4,000, 1,000 from the cache; the backend says)" in line
    import json
    import re
    text = "".join(json.loads(m)["delta"]["text"] for m in re.findall(rb'^data: (\{.*"text_delta".*\})$', result.body, re.M))
    assert result.status == 200 and text == "The answer.", "the answer, as if no progress had come"
    assert b'"message_stop"' in result.body and b"prompt_progress" not in result.body


async def test_off_a_terminal_the_status_is_a_plain_line_at_intervals_and_estimates_from_the_rate_seen():
    import asyncio
    import threading
    hold = threading.Event()
    # The first answer says its prompt took 250 ms for 4,000 tokens: 16,000 tok/s.
    first, second = Reply(text="One.", prompt_tokens=4000), Reply(text="Two.", hold=hold)
    with ScriptedBackend("ollama", [first, second]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="small") as gw:
            log = _colourlog(gw)
            log.clock = clock = Clock()
            await gw.send("POST", "/v1/messages", json=ASK)
            big = {**ASK, "messages": [{"role": "user", "content": "word " * 40000}]}
            asking = asyncio.ensure_future(gw.send("POST", "/v1/messages", json=big))
            await _until(lambda: log.waiting.requests, "the second request is sent")
            (w,) = log.waiting.requests.values()
            for seconds in (4, 10, 19, 20):
                clock.now = w.since + seconds
                log.tick()
            hold.set()
            await asking
    lines = [line for line in gw.log.getvalue().splitlines() if "waiting" in line]
    assert [line.split("waiting ")[1].split("s ")[0] for line in lines] == ["4", "19"], \
        "a plain line when due, then every 15 s: never a rewritten line in a file"
    assert "at the 16,000 tok/s it showed earlier" in lines[0] and "\r" not in gw.log.getvalue()


async def test_an_answer_with_no_output_says_so_plainly():
    with ScriptedBackend("ollama", [Reply(text="", output_tokens=0)]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="small") as gw:
            await gw.send("POST", "/v1/messages", json=ASK)
            await gw.send("POST", "/v1/messages", json={**ASK, "stream": False})
            log = gw.log.getvalue()
    said = [line for line in log.splitlines() if "no output" in line]
    assert len(said) == 2, log
    assert said[0].strip() == ("no output: the backend answered nothing: no text, no tool call (stop_reason "
                               "end_turn, 0 tokens out); Claude Code shows an empty answer")


async def test_the_client_gets_keepalives_while_llama_cpp_streams_only_its_progress():
    """Progress chunks are backend bytes with nothing in them for Claude Code: it still gets a ping
    every ping_interval (issue 21: asking for progress must not starve the client's keep-alive)."""
    reply = Reply(text="The answer.", prompt_tokens=4000, progress=list(range(500, 4001, 500)), gap=0.4)
    with ScriptedBackend("openai", [reply], server="llama.cpp") as b:
        async with InProcessGateway(b.url, backend="openai", model="small", ping_interval="1") as gw:
            result = await gw.send("POST", "/v1/messages", json=ASK)
    before_text = result.body.split(b"content_block_start")[0]
    assert b"event: ping" in before_text, result.body[:600]
