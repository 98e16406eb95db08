"""The per-backend queue: the scheduler's decisions step by step (time passed in), its asyncio
front, and how many requests a backend takes at once. Orders and counts only, never durations."""

import asyncio

import pytest

from inspector.gateway.queue import (
    PATIENCE,
    STREAK,
    BackendQueue,
    Claim,
    Overloaded,
    Rank,
    Scheduler,
    concurrency,
    is_local,
    parse_setting,
    with_slot,
)
from inspector.protocol import ModelFacts

MAIN = Claim("s/main", Rank.MAIN)
TITLE = Claim("s/title", Rank.SIDE)


def agent(name: str) -> Claim:
    return Claim(f"s/agent/{name}", Rank.SUBAGENT)


def owners(tickets):
    return [t.claim.owner for t in tickets]


# -- the scheduler ---------------------------------------------------------------------------------

def test_the_main_conversation_then_subagents_then_side_traffic_whatever_the_arrival_order():
    s = Scheduler(1)
    first, granted = s.arrive(agent("a"), 0)
    assert granted == [first] and first.ahead == 0
    side, _ = s.arrive(TITLE, 1)
    sub, _ = s.arrive(agent("b"), 2)
    main, granted = s.arrive(MAIN, 3)
    assert granted == [] and main.ahead == 2
    order = []
    current = first
    for _ in range(3):
        (current,) = s.release(current, 4)
        order.append(current)
    assert order == [main, sub, side]
    assert s.release(current, 5) == [] and s.waiting == []


def test_within_a_class_the_conversation_served_longest_ago_goes_first():
    s = Scheduler(1)
    a1, _ = s.arrive(agent("a"), 0)
    b1, _ = s.arrive(agent("b"), 0)
    (nxt,) = s.release(a1, 1)
    assert nxt is b1
    a2, _ = s.arrive(agent("a"), 1)
    c1, _ = s.arrive(agent("c"), 1)
    (nxt,) = s.release(b1, 2)
    assert nxt is c1, "c was never served"
    b2, _ = s.arrive(agent("b"), 2)
    (nxt,) = s.release(c1, 3)
    assert nxt is a2, "a was served longer ago than b"
    (nxt,) = s.release(a2, 4)
    assert nxt is b2


def test_a_conversation_that_asked_for_a_tool_finds_its_slot_kept_while_others_wait():
    s = Scheduler(1, hold=5)
    a1, _ = s.arrive(agent("a"), 0)
    b1, _ = s.arrive(agent("b"), 0)
    assert s.release(a1, 1, more=True) == [], "the slot is kept for a"
    assert s.next_deadline() == 6
    a2, granted = s.arrive(agent("a"), 1.1)
    assert granted == [a2] and a2.held and a2.warm and a2.slot == 0
    assert b1.state == "waiting"
    # Without more (the conversation ended, or failed), the slot goes to the waiter at once.
    assert s.release(a2, 2) == [b1]


def test_a_kept_slot_goes_to_the_waiters_when_the_hold_runs_out():
    s = Scheduler(1, hold=5)
    a1, _ = s.arrive(agent("a"), 0)
    b1, _ = s.arrive(agent("b"), 0)
    assert s.release(a1, 1, more=True) == []
    assert s.expire(5.9) == []
    assert s.expire(6) == [b1]
    assert not b1.held and not b1.warm


def test_a_conversation_keeps_its_slot_at_most_streak_times_in_a_row_while_others_wait():
    s = Scheduler(1, hold=5)
    a, _ = s.arrive(agent("a"), 0)
    b, _ = s.arrive(agent("b"), 0)
    held = 0
    now = 1.0
    while True:
        granted = s.release(a, now, more=True)
        if granted:
            assert granted == [b]
            break
        a, granted = s.arrive(agent("a"), now)
        assert granted == [a] and a.held
        held += 1
        now += 1
    assert held == STREAK


def test_a_kept_slot_never_holds_back_a_better_class():
    s = Scheduler(1, hold=5)
    a1, _ = s.arrive(agent("a"), 0)
    side, _ = s.arrive(TITLE, 0)
    assert s.release(a1, 1, more=True) == []
    main, granted = s.arrive(MAIN, 1)
    assert granted == [main] and not main.held
    assert side.state == "waiting"


def test_side_traffic_keeps_no_slot():
    s = Scheduler(1, hold=5)
    t1, _ = s.arrive(TITLE, 0)
    b, _ = s.arrive(agent("b"), 0)
    assert s.release(t1, 1, more=True) == [b]


def test_a_request_goes_to_the_slot_that_holds_its_conversation():
    s = Scheduler(2)
    a1, _ = s.arrive(agent("a"), 0)
    b1, _ = s.arrive(agent("b"), 0)
    assert (a1.slot, b1.slot) == (0, 1)
    s.release(a1, 1)
    s.release(b1, 2)
    b2, _ = s.arrive(agent("b"), 3)  # slot 0 was used longest ago, but slot 1 holds b's prefix
    assert b2.slot == 1 and b2.warm
    c1, _ = s.arrive(agent("c"), 4)
    assert c1.slot == 0 and not c1.warm
    assert s.holder(0) == "s/agent/c" and s.holder(1) == "s/agent/b"


def test_a_new_conversation_takes_an_unused_slot_before_evicting_one():
    s = Scheduler(3)
    a1, _ = s.arrive(agent("a"), 0)
    s.release(a1, 1)
    b1, _ = s.arrive(agent("b"), 2)
    assert b1.slot == 1, "slot 0 holds a's prefix; slot 1 holds nothing"


def test_a_waiter_whose_prefix_is_in_the_free_slot_may_go_first_but_only_patience_times():
    s = Scheduler(1)
    b, _ = s.arrive(agent("b"), 0)
    c, _ = s.arrive(agent("c"), 1)  # c was never served: its turn is next
    jumped = 0
    for i in range(PATIENCE + 2):
        again, _ = s.arrive(agent("b"), 2 + i)  # b is back while its request still runs
        (nxt,) = s.release(b, 2 + i)
        if nxt is c:
            break
        assert nxt is again and nxt.warm, "b's prefix is the one in the slot"
        jumped += 1
        b = again
    assert jumped == PATIENCE and c.state == "granted" and c.passed == PATIENCE


def test_a_waiter_that_leaves_is_never_granted():
    s = Scheduler(1)
    a, _ = s.arrive(MAIN, 0)
    gone, _ = s.arrive(agent("x"), 0)
    stays, _ = s.arrive(agent("y"), 0)
    s.cancel(gone, 1)
    assert gone.state == "gone" and s.waiting == [stays]
    assert s.release(a, 2) == [stays]
    assert s.release(gone, 3) == [], "leaving twice changes nothing"


def test_a_smaller_capacity_lets_running_requests_finish():
    s = Scheduler(2)
    a, _ = s.arrive(agent("a"), 0)
    b, _ = s.arrive(agent("b"), 0)
    c, _ = s.arrive(agent("c"), 0)
    assert s.resize(1, 1) == [] and s.busy == 2
    assert s.release(b, 2) == [], "slot 1 goes: one request at a time now"
    assert s.capacity == 1 and len(s.slots) == 1
    assert s.release(a, 3) == [c]
    assert s.resize(3, 4) == [] and len(s.slots) == 3


def test_arrival_and_grant_events_show_who_waited_behind_whom():
    s = Scheduler(1)
    a, _ = s.arrive(agent("a"), 0)
    side, _ = s.arrive(TITLE, 0)
    main, _ = s.arrive(MAIN, 0)
    (m,) = s.release(a, 1)
    (t,) = s.release(m, 2)
    assert (a.arrival, a.grant) == (1, 2)
    assert side.arrival < main.arrival < main.grant < side.grant


# -- the asyncio front ----------------------------------------------------------------------------

def test_the_front_lets_one_through_at_a_time_in_priority_order():
    async def go():
        q = BackendQueue(1)
        first = q.enter(agent("a"))
        assert first.granted.done()
        side, sub, main = q.enter(TITLE), q.enter(agent("b")), q.enter(MAIN)
        order = []
        current = first
        for _ in range(3):
            q.leave(current)
            current = next(e for e in (side, sub, main) if e.granted.done() and e not in order)
            order.append(current)
        q.leave(current)
        return order == [main, sub, side], q.status()

    ok, status = asyncio.run(go())
    assert ok and status["busy"] == 0 and status["waiting"] == 0


def test_the_slot_api_waits_its_turn_and_overloads_after_the_timeout():
    async def go():
        q = BackendQueue(1, timeout=0.05)
        async with q.slot(MAIN):
            with pytest.raises(Overloaded):
                async with q.slot(agent("late")):
                    pass
            assert q.waiting == 0, "who gave up is out of the queue"
        async with q.slot(agent("next")) as entry:
            assert entry.ticket.state == "granted"
        return q.status()

    assert asyncio.run(go())["busy"] == 0


def test_a_hold_runs_out_on_its_own_timer():
    async def go():
        q = BackendQueue(1, hold=0.01)
        a = q.enter(agent("a"))
        b = q.enter(agent("b"))
        q.leave(a, more=True)
        assert not b.granted.done()
        await asyncio.wait_for(b.granted, 10)
        q.leave(b)
        return b.ticket.held

    assert asyncio.run(go()) is False


def test_a_cancelled_waiter_leaves_the_queue():
    async def go():
        q = BackendQueue(1)
        first = q.enter(MAIN)
        waiter = q.enter(agent("b"))
        q.leave(waiter)  # its client went away
        assert waiter.granted.cancelled() and q.waiting == 0
        q.leave(first)
        return q.status()

    assert asyncio.run(go())["busy"] == 0


# -- how many at once -----------------------------------------------------------------------------

def test_with_slot_names_the_slot_and_the_cache():
    assert with_slot(b'{"model":"m"}', 1) == b'{"id_slot":1,"cache_prompt":true,"model":"m"}'
    assert with_slot(b"{}", 0) == b'{"id_slot":0,"cache_prompt":true}'
    assert with_slot(b"[]", 0) == b"[]"


@pytest.mark.parametrize("url,local", [
    ("http://127.0.0.1:11434", True), ("http://localhost:8080", True), ("http://[::1]:8080", True),
    ("http://192.168.1.20:11434", True), ("http://10.0.0.5", True), ("http://ollama:11434", True),
    ("http://gpu.lan:8000", True), ("https://api.anthropic.com", False), ("https://openrouter.ai/api", False),
    ("http://8.8.8.8", False),
])
def test_local_urls(url, local):
    assert is_local(url) is local


def test_concurrency_is_what_the_backend_says_else_one_locally_and_no_limit_remotely():
    llama = ModelFacts("m", server="llama.cpp", slots=4)
    got = concurrency("auto", "http://127.0.0.1:8080", form="openai", facts=llama, env={})
    assert (got.limit, got.chooses_slots) == (4, True) and "total_slots" in got.source
    vllm = ModelFacts("m", server="vllm")
    assert concurrency("auto", "http://127.0.0.1:8000", form="openai", facts=vllm, env={}).limit is None
    env = {"OLLAMA_NUM_PARALLEL": "3"}
    assert concurrency("auto", "http://127.0.0.1:11434", form="ollama", facts=None, env=env).limit == 3
    assert concurrency("auto", "http://127.0.0.1:11434", form="ollama", facts=None, env={}).limit == 1
    assert concurrency("auto", "https://api.anthropic.com", form="anthropic", facts=None, env={}).limit is None
    assert concurrency("2", "https://api.anthropic.com", form="anthropic", facts=None, env={}).limit == 2
    assert concurrency("unlimited", "http://127.0.0.1:8080", form="openai", facts=llama, env={}).limit is None
    one = ModelFacts("m", server="llama.cpp", slots=1)
    assert not concurrency("auto", "http://127.0.0.1:8080", form="openai", facts=one, env={}).chooses_slots
    more = concurrency("8", "http://127.0.0.1:8080", form="openai", facts=llama, env={})
    assert more.limit == 8 and not more.chooses_slots, "8 at once cannot each have one of 4 slots"


def test_the_setting():
    assert parse_setting(" Auto ") == "auto" and parse_setting("0") == "unlimited" and parse_setting("04") == "4"
    with pytest.raises(ValueError, match="backend_concurrency"):
        parse_setting("many")


def test_who_asks_the_main_conversation_a_subagent_or_side_traffic():
    from inspector.gateway.exchange import Exchange
    from inspector.gateway.queue import claim_of
    from inspector.protocol import get_form

    def ex(purpose="main", session="s1", agent=None, system="You are Claude Code.", first="hi"):
        e = Exchange(form=get_form("ollama"), kind="messages", session_id=session, purpose=purpose, agent_id=agent)
        e.client_request = {"json": {"system": system, "messages": [{"role": "user", "content": first}]}}
        return e

    assert claim_of(ex()) == Claim("s1/main", Rank.MAIN)
    assert claim_of(ex(purpose="subagent", agent="a9")) == Claim("s1/agent/a9", Rank.SUBAGENT)
    assert claim_of(ex(purpose="title")) == Claim("s1/title", Rank.SIDE)
    # No session: told apart by how the conversation begins, the same however long it grows.
    one, two = ex(session=None), ex(session=None, system="You are another agent.")
    assert claim_of(one).owner != claim_of(two).owner
    grown = ex(session=None)
    grown.client_request["json"]["messages"] += [{"role": "assistant", "content": "hello"}]
    assert claim_of(grown) == claim_of(one)


def test_a_second_call_within_a_held_turn_does_not_wait_for_itself():
    async def go():
        q = BackendQueue(1, timeout=0.05)
        async with q.slot(MAIN) as turn:
            async with q.slot(MAIN, held=turn) as again:  # a repair's re-ask, within the same exchange
                assert again is turn
            assert turn.ticket.state == "granted", "the inner call leaves the turn to its owner"
        return q.status()

    assert asyncio.run(go())["busy"] == 0


def test_a_conversation_goes_on_at_once_after_a_tool_call_but_waits_for_the_subagents_it_starts():
    from inspector.gateway.exchange import Exchange
    from inspector.gateway.queue import goes_on
    from inspector.protocol import get_form

    def answered(*calls: str, stop="tool_use", status=200, incomplete=None):
        e = Exchange(form=get_form("ollama"), kind="messages", client_status=status, incomplete=incomplete)
        e.answer = {"type": "message", "stop_reason": stop, "usage": {},
                    "content": [{"type": "tool_use", "id": f"t{i}", "name": n, "input": {}} for i, n in enumerate(calls)]}
        return e

    assert goes_on(answered("Read")) and goes_on(answered("Bash", "Edit"))
    assert not goes_on(answered("Agent")) and not goes_on(answered("Read", "Task"))
    assert not goes_on(answered(stop="end_turn")) and not goes_on(answered("Read", status=529))
    assert not goes_on(answered("Read", incomplete="the client went away"))
