"""Per-session memory: estimates corrected by real counts, and prefix stability turn over turn,
through the gateway (in-process) and on their own."""

import orjson
import pytest

from inspector.gateway.tokens import PrefixBook, TokenBook
from inspector.protocol import OLLAMA, PrefixSnapshot
from inspector.testing.backends import Reply, ScriptedBackend
from inspector.testing.inprocess import InProcessGateway

pytestmark = pytest.mark.anyio
SESSION = {"x-claude-code-session-id": "3f1c2d9e-0000-4000-8000-000000000001"}


@pytest.fixture
def anyio_backend():
    return "asyncio"


def ask(*texts: str, system: str = "You are Claude Code.") -> dict:
    messages = []
    for i, text in enumerate(texts):
        messages.append({"role": "user" if i % 2 == 0 else "assistant", "content": text})
    return {"model": "claude-sonnet-x", "max_tokens": 100, "system": system, "messages": messages, "stream": True}


def test_the_estimate_is_corrected_by_the_sessions_real_counts():
    book = TokenBook()
    assert book.estimate("s", "m", 1000).source == "estimate (request bytes / 4)"
    book.learn("s", "m", 1000, 800)
    book.learn("s", "m", 2000, 1700)
    count = book.estimate("s", "m", 3000)
    assert count.tokens == 2500 and not count.exact and "2 real counts this session (×0.83)" in count.source
    assert book.estimate("s", "other-model", 3000).tokens == 3000
    assert book.estimate("t", "m", 3000).tokens == 3000


def test_the_prefix_book_compares_with_the_previous_request_of_the_same_key():
    book = PrefixBook()
    body = {"model": "q", "messages": [{"role": "user", "content": "hi"}]}
    snap = PrefixSnapshot(*OLLAMA.prefix_sections(body))
    assert book.compare(("s", "q", "main"), snap) is None, "nothing to compare the first request with"
    assert book.compare(("s", "q", "title"), snap) is None, "a title request is another conversation"
    assert book.compare(("s", "q", "main"), snap).kept == 1.0


async def test_turn_over_turn_the_prefix_is_reported_and_a_break_is_explained():
    with ScriptedBackend("ollama", [Reply(text="ok", prompt_tokens=120, cached_tokens=100)]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="qwen3:8b", num_ctx=65536) as gw:
            await gw.send("POST", "/v1/messages", json=ask("Write hi"), headers=SESSION)
            await gw.send("POST", "/v1/messages", json=ask("Write hi", "Done.", "Again"), headers=SESSION)
            changed = ask("Write hi", "Done.", "Again", "Done.", "More", system="You are Claude Code. Date: 2026-11-22")
            await gw.send("POST", "/v1/messages", json=changed, headers=SESSION)
    first, second, third = gw.ended
    assert "prefix" not in first, "the first exchange of a session has nothing to keep"
    assert second["prefix"] == {"kept": 1.0, "first_difference": None, "reason": None}
    assert third["prefix"]["first_difference"] == "system" and third["prefix"]["kept"] < 0.5
    assert "date" in third["prefix"]["reason"]
    log = gw.log.getvalue()
    assert "prefix kept 100% · cache 100 tok" in log
    assert "prefix: system differs from the previous request: the system prompt changed" in log


async def test_a_real_count_in_an_answer_corrects_the_next_message_start():
    with ScriptedBackend("ollama", [Reply(text="ok", prompt_tokens=40)]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="qwen3:8b", num_ctx=65536) as gw:
            await gw.send("POST", "/v1/messages", json=ask("Write hi"), headers=SESSION)
            r = await gw.send("POST", "/v1/messages", json=ask("Write hi"), headers=SESSION)
    start = orjson.loads(r.body.split(b"\n\n")[0].split(b"data: ")[1])
    assert start["message"]["usage"]["input_tokens"] == 40, "the same request, as the backend counted it before"
    assert gw.ended[-1]["token_counts"]["input_tokens"] == 40
