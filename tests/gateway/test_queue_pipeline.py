"""The queue in the pipeline: the gateway's addons in-process in front of scripted backends with N
slots that record how many requests they served at once and which prefix each slot held.
Orders and counts only; where a test must wait for something to happen, it polls for it."""

import asyncio
import threading
from collections.abc import Callable

import orjson
import pytest

from inspector.testing.backends import Call, Received, Reply, ScriptedBackend, anthropic_chunks, openai_chunks
from inspector.testing.inprocess import InProcessGateway

FILLER = "Follow the repository's conventions and keep answers short. " * 20
READ = {"name": "Read", "description": "Read a file", "input_schema": {
    "type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]}}


def ask(text: str, *, system: str = "You are Claude Code. " + FILLER, tools: bool = True, model: str = "claude-sonnet-4-5",
        stream: bool = False, messages: list | None = None) -> dict:
    body = {"model": model, "max_tokens": 200, "system": system,
            "messages": messages or [{"role": "user", "content": text}], "stream": stream}
    if tools:
        body["tools"] = [READ]
    return body


def headers(agent: str | None = None, session: str = "5e5510n-0000-4000-8000-000000000001") -> dict[str, str]:
    out = {"x-claude-code-session-id": session}
    if agent:
        out["x-claude-code-agent-id"] = agent
    return out


async def until(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


def waiting(gw: InProcessGateway) -> int:
    backends = gw.relay.pipeline.queues.status()["backends"]
    return sum(b["waiting"] for b in backends.values())


def first_words(rec: Received) -> str:
    """The last user message of a translated (OpenAI-form) request."""
    return next(m["content"] for m in reversed(rec.body["messages"]) if m["role"] == "user")


def gated_brain(gate: threading.Event) -> Callable[[Received], Reply]:
    """The first chat request waits for ``gate`` before answering; the rest answer at once."""
    seen = {"n": 0}

    def brain(rec: Received) -> Reply:
        seen["n"] += 1
        if seen["n"] == 1:
            return Reply(raw=[gate, *openai_chunks(Reply(text="first"), "m", bool(rec.body.get("stream")),
                                                   "llama.cpp")])
        return Reply(text="ok")

    return brain


def test_one_slot_serves_the_main_conversation_then_subagents_then_side_traffic():
    gate = threading.Event()

    async def go(backend):
        async with InProcessGateway(backend.url, backend="openai", model="m", ping_interval="30") as gw:
            first = asyncio.ensure_future(gw.send("POST", "/v1/messages", json=ask("main one"), headers=headers()))
            await until(lambda: backend.active == 1, "the first request at the backend")
            tasks = []
            for body, hdrs in ((ask("side one", system="Write a short sentence-case title for this coding session",
                                    tools=False, model="claude-haiku-4-5"), headers()),
                               (ask("subagent one"), headers(agent="a1b2c3")),
                               (ask("main two"), headers(session="5e5510n-0000-4000-8000-000000000002"))):
                tasks.append(asyncio.ensure_future(gw.send("POST", "/v1/messages", json=body, headers=hdrs)))
                queued = len(tasks)
                await until(lambda: waiting(gw) == queued, "its place in the queue")  # noqa: B023 - awaited here
            gate.set()
            results = await asyncio.gather(first, *tasks)
            return results, gw.ended

    with ScriptedBackend("openai", gated_brain(gate), server="llama.cpp", slots=1) as backend:
        results, ended = asyncio.run(go(backend))
        chats = backend.chat_requests
    assert [r.status for r in results] == [200, 200, 200, 200]
    assert backend.peak == 1, "never more than the backend's one slot at once"
    assert [first_words(r) for r in chats] == ["main one", "main two", "subagent one", "side one"], \
        "the second main conversation went first, the title last, though it asked first"
    assert not any("id_slot" in r.body for r in chats), "one slot: nothing to choose"
    queue = {s["purpose"]: s["queue"] for s in ended}
    assert queue["title"]["class"] == "side" and queue["subagent"]["class"] == "subagent"
    assert queue["title"]["ahead"] == 0 and queue["subagent"]["ahead"] == 1
    assert queue["title"]["limit"] == 1 and "total_slots" in queue["title"]["limit_source"]
    assert queue["title"]["wait_ms"] > 0
    sub = next(s for s in ended if s["purpose"] == "subagent")
    assert sub["agent"] == {"id": "a1b2c3", "parent": None}
    assert sub["timing_ms"]["queued"] <= sub["timing_ms"]["sent"]


def test_a_client_that_leaves_while_queued_is_out_of_the_queue_and_never_reaches_the_backend():
    gate = threading.Event()

    async def go(backend):
        async with InProcessGateway(backend.url, backend="openai", model="m", ping_interval="0.05") as gw:
            first = asyncio.ensure_future(gw.send("POST", "/v1/messages", json=ask("main one", stream=True),
                                                  headers=headers()))
            await until(lambda: backend.active == 1, "the first request at the backend")
            # Queued, it hears pings (a 200 committed), reads the first piece and walks away.
            left = await gw.send("POST", "/v1/messages", json=ask("walks away", stream=True),
                                 headers=headers(agent="gone"), read=1)
            await until(lambda: waiting(gw) == 0, "the queue let go of it")
            gate.set()
            done = await first
            after = await gw.send("POST", "/v1/messages", json=ask("after"), headers=headers())
            return left, done, after, gw.ended

    with ScriptedBackend("openai", gated_brain(gate), server="llama.cpp", slots=1) as backend:
        left, done, after, ended = asyncio.run(go(backend))
        chats = [first_words(r) for r in backend.chat_requests]
    assert left.status == 200 and b"event: message_start" in left.body, "the queue wait looked like a backend's"
    assert done.status == after.status == 200
    assert chats == ["main one", "after"], "the one who left never reached the backend"
    gone = next(s for s in ended if s.get("agent"))
    assert gone["aborted_by"] == "client" and gone["queue"]["grant"] is None


@pytest.mark.parametrize("stream", [False, True])
def test_waiting_too_long_is_an_overloaded_error_claude_code_retries(stream):
    gate = threading.Event()

    async def go(backend):
        # Whole answers: the 529 before any byte; a stream: the 200 went out with pings, then the error event.
        async with InProcessGateway(backend.url, backend="openai", model="m", queue_timeout="0.3",
                                    ping_interval="0.05" if stream else "30") as gw:
            first = asyncio.ensure_future(gw.send("POST", "/v1/messages", json=ask("main one"), headers=headers()))
            await until(lambda: backend.active == 1, "the first request at the backend")
            late = await gw.send("POST", "/v1/messages", json=ask("too late", stream=stream),
                                 headers=headers(agent="late"))
            gate.set()
            return late, await first

    with ScriptedBackend("openai", gated_brain(gate), server="llama.cpp", slots=1) as backend:
        late, first = asyncio.run(go(backend))
    assert first.status == 200
    if stream:
        assert late.status == 200
        events = [line for line in late.body.decode().splitlines() if line.startswith("data: ")]
        error = orjson.loads(events[-1][6:])
        assert error["type"] == "error" and error["error"]["type"] == "overloaded_error"
    else:
        assert late.status == 529 and late.json()["error"]["type"] == "overloaded_error"
        assert late.headers.get("x-should-retry") != "false"
    assert "queue" in (error if stream else late.json())["error"]["message"]


def conversation_brain(turns: int) -> Callable[[Received], Reply]:
    """A model that reads a file ``turns - 1`` times, then answers."""

    def brain(rec: Received) -> Reply:
        done = sum(m["role"] == "tool" for m in rec.body["messages"])
        if done < turns - 1:
            return Reply(text="", calls=[Call("Read", {"file_path": f"/src/{done}.py"}, id=f"call_{done}")])
        return Reply(text="done")

    return brain


async def converse(gw: InProcessGateway, name: str, turns: int) -> list[int]:
    """A subagent of its own system prompt: each answer's tool call answered, until it is done."""
    system = f"You are subagent {name}, working on module {name}. " + FILLER
    messages: list = [{"role": "user", "content": f"Look at module {name}."}]
    statuses = []
    for _ in range(turns):
        r = await gw.send("POST", "/v1/messages", json=ask("", system=system, messages=messages),
                          headers=headers(agent=name))
        statuses.append(r.status)
        answer = r.json()
        calls = [b for b in answer["content"] if b["type"] == "tool_use"]
        if not calls:
            break
        messages += [{"role": "assistant", "content": answer["content"]},
                     {"role": "user", "content": [{"type": "tool_result", "tool_use_id": c["id"], "content": "x = 1"}
                                                  for c in calls]}]
    return statuses


def warm_turns(backend: ScriptedBackend) -> tuple[int, int]:
    """(turns after a conversation's first whose whole previous prompt was cached, such turns)."""
    last: dict[str, int] = {}
    warm = later = 0
    for _, cached, prompt, agent in backend.slot_log:
        if agent in last:
            later += 1
            warm += cached >= last[agent]
        last[agent] = prompt
    return warm, later


@pytest.mark.parametrize("hold", ["60", "0"])
def test_two_slots_four_conversations_each_keeps_its_prefix_while_it_works(hold):
    turns = 4

    async def go(backend):
        async with InProcessGateway(backend.url, backend="openai", model="m", queue_hold=hold) as gw:
            return await asyncio.gather(*(converse(gw, name, turns) for name in "abcd"))

    with ScriptedBackend("openai", conversation_brain(turns), server="llama.cpp", slots=2) as backend:
        statuses = asyncio.run(go(backend))
        assert all(r.body.get("id_slot") in (0, 1) for r in backend.chat_requests)
    assert statuses == [[200] * turns] * 4
    assert backend.peak <= 2
    warm, later = warm_turns(backend)
    assert later == 4 * (turns - 1)
    if hold == "60":
        assert warm == later, "every turn after a conversation's first found its prefix in its slot"
    else:
        assert warm < later, "without holding the slot, a waiting conversation takes it between turns"


def test_a_count_tokens_passed_through_never_waits_behind_a_generation():
    gate = threading.Event()

    def brain(rec: Received) -> Reply:
        if rec.path.startswith("/v1/messages/count_tokens"):
            return Reply(raw=[b'{"input_tokens": 12}'], content_type="application/json")
        return Reply(raw=[gate, *anthropic_chunks(Reply(text="slow"), "m", False)], content_type="application/json")

    async def go(backend):
        # (Were it queued, it would wait its 5 s out and be answered 529.)
        async with InProcessGateway(backend.url, backend="anthropic", model="m", queue_timeout="5") as gw:
            slow = asyncio.ensure_future(gw.send("POST", "/v1/messages", json=ask("generate", tools=False),
                                                 headers=headers()))
            await until(lambda: backend.active == 1, "the generation at the backend")
            count = await gw.send("POST", "/v1/messages/count_tokens",
                                  json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
                                  headers=headers())
            gate.set()
            return count, await slow

    with ScriptedBackend("anthropic", brain) as backend:
        count, slow = asyncio.run(go(backend))
    assert count.status == 200 and count.json() == {"input_tokens": 12}, "answered while the slot was taken"
    assert slow.status == 200


def test_parallel_subagents_prefixes_are_measured_each_against_its_own_previous_request():
    async def go(backend):
        async with InProcessGateway(backend.url, backend="openai", model="m") as gw:
            await asyncio.gather(*(converse(gw, name, 2) for name in "ab"))
            return gw.ended

    with ScriptedBackend("openai", conversation_brain(2), server="llama.cpp", slots=2) as backend:
        ended = asyncio.run(go(backend))
    seconds = [s for s in ended if s.get("prefix") is not None]
    assert sorted(s["agent"]["id"] for s in seconds) == ["a", "b"]
    assert all(s["prefix"]["kept"] == 1.0 for s in seconds), \
        "each second turn repeats its own first whole, whatever the other subagent sent in between"
