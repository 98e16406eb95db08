"""The real Claude Code running parallel subagents (the Agent tool) through the gateway to a backend
with one slot, while side traffic (title requests) competes: every request answered, never more than
one at the backend, the main conversation and the subagents never waiting while side traffic is let
through. Orders and counts, read from the recording's queue facts; never durations."""

import json
import threading
import time

import httpx
import pytest

from inspector.recording import list_sessions
from inspector.testing.backends import Call, Received, Reply, ScriptedBackend, openai_chunks
from inspector.testing.claude import run_claude
from inspector.testing.gateway import Gateway

pytestmark = [pytest.mark.e2e, pytest.mark.claude]

SIDE = 3  # title requests sent while the first subagent holds the backend's one slot
TITLE = {"model": "claude-haiku-4-5", "max_tokens": 20, "stream": True,
         "system": "Write a short sentence-case title for this coding session", "messages": [
             {"role": "user", "content": "Summarise: two agents say alpha and beta"}]}


def tools(rec: Received) -> list[str]:
    return [t["function"]["name"] for t in rec.body.get("tools") or []]


def has_tool_result(rec: Received) -> bool:
    return any(m.get("role") == "tool" for m in rec.body.get("messages") or [])


class Stage:
    """The scripted model, and the gates that hold an answer until the gateway's queue is in the state
    the test needs (polled from its status endpoint)."""

    def __init__(self) -> None:
        self.first_subagent = threading.Event()  # released once a subagent and the titles are all queued
        self.first_title = threading.Event()  # released once the main conversation's next request is queued
        self.seen = {"subagents": 0, "titles": 0}
        self.lock = threading.Lock()

    def brain(self, rec: Received) -> Reply:
        stream = bool(rec.body.get("stream"))

        def held(gate: threading.Event, text: str) -> Reply:
            return Reply(raw=[gate, *openai_chunks(Reply(text=text), "m", stream, "llama.cpp")])

        names = tools(rec)
        if "Workflow" in names:  # the main conversation (its subagents are not offered Workflow)
            if has_tool_result(rec):
                return Reply(text="Both agents reported.")
            return Reply(text="Fanning out.", calls=[
                Call("Agent", {"description": "say alpha", "prompt": "Say alpha.", "subagent_type": "general-purpose"},
                     id="toolu_a"),
                Call("Agent", {"description": "say beta", "prompt": "Say beta.", "subagent_type": "general-purpose"},
                     id="toolu_b")])
        with self.lock:
            if names:
                self.seen["subagents"] += 1
                first = self.seen["subagents"] == 1
            else:
                self.seen["titles"] += 1
                first = self.seen["titles"] == 1
        if names:
            return held(self.first_subagent, "alpha done") if first else Reply(text="beta done")
        return held(self.first_title, "Two agents") if first else Reply(text="A title")


def queue_state(gw: Gateway) -> dict:
    backends = httpx.get(gw.url + "/_inspector/status", timeout=5).json()["queue"]["backends"]
    return next(iter(backends.values()), {"waiting": 0, "waiting_by_class": {}})


def wait_for(check, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def conduct(stage: Stage, gw: Gateway, backend: ScriptedBackend, titles: list) -> None:
    """The test's side: once the first subagent is at the backend, queue the titles; let it answer once
    the other subagent and every title wait; let the first title answer once the main conversation's
    next request waits too."""
    wait_for(lambda: stage.seen["subagents"] == 1 and backend.active == 1, "the first subagent at the backend")
    wait_for(lambda: queue_state(gw)["waiting_by_class"].get("subagent") == 1, "the second subagent in the queue")

    def title() -> None:
        titles.append(httpx.post(gw.url + "/v1/messages", json=TITLE, timeout=240,
                                 headers={"x-claude-code-session-id": "0e4f3c5a-0000-4000-8000-00000000aaaa"}))

    for _ in range(SIDE):
        threading.Thread(target=title, daemon=True).start()
    wait_for(lambda: queue_state(gw)["waiting_by_class"].get("side") == SIDE, "the titles in the queue")
    stage.first_subagent.set()
    wait_for(lambda: queue_state(gw)["waiting_by_class"].get("main", 0) >= 1, "the main conversation's next turn")
    stage.first_title.set()


def test_parallel_subagents_and_side_traffic_share_one_slot_in_priority_order(claude, tmp_path):
    stage = Stage()
    titles: list = []
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    with ScriptedBackend("openai", stage.brain, server="llama.cpp", slots=1) as backend:
        with Gateway(backend.url, backend="openai", model="m", ping_interval=1,
                     record_dir=str(tmp_path / "rec")) as gw:
            failures: list[BaseException] = []

            def conductor_run() -> None:
                try:
                    conduct(stage, gw, backend, titles)
                except BaseException as e:  # noqa: BLE001 - said below, and nothing is left waiting
                    failures.append(e)
                    stage.first_subagent.set()
                    stage.first_title.set()

            conductor = threading.Thread(target=conductor_run, daemon=True)
            conductor.start()
            try:
                result = run_claude(claude, gw.url, work, home, "Ask two agents in parallel, then report.",
                                    args=("--allowedTools", "Agent"))
            finally:
                stage.first_subagent.set()
                stage.first_title.set()
            conductor.join(60)
            wait_for(lambda: len(titles) == SIDE, "the titles' answers")
            log = gw.log()
        chats = len(backend.chat_requests)
    assert not failures, failures
    assert result.returncode == 0, result.stdout + result.stderr + log
    assert "Both agents reported." in result.stdout
    assert backend.peak == 1, "never more than the backend's one slot at once"
    assert all(t.status_code == 200 for t in titles)
    exchanges = [ex.meta for s in list_sessions(tmp_path / "rec") for ex in s.exchanges()
                 if ex.meta.get("kind") == "messages"]
    assert len(exchanges) == chats, "every request reached the backend once"
    assert all(m["status"]["client"] == 200 and m["complete"] for m in exchanges), "every request answered"
    by_class: dict[str, list] = {}
    for m in exchanges:
        by_class.setdefault(m["queue"]["class"], []).append(m["queue"])
    # The main conversation: its first turn, the turn that hears the agents were started (2.1.328 runs
    # them in the background), and the one that hears what they said.
    assert len(by_class["main"]) >= 2 and len(by_class["subagent"]) == 2 and len(by_class["side"]) == SIDE
    subagents = [m for m in exchanges if m["purpose"] == "subagent"]
    assert len({m["agent"]["id"] for m in subagents}) == 2, "each subagent by its own agent id"
    # Nobody of a better class waited while side traffic was let through.
    for better in by_class["main"] + by_class["subagent"]:
        for side in by_class["side"]:
            assert not better["arrival"] < side["grant"] < better["grant"], (better, side)
    # And the order was really contested: titles that asked first waited behind a later main turn.
    assert any(side["arrival"] < main["arrival"] and main["grant"] < side["grant"]
               for main in by_class["main"] for side in by_class["side"])


@pytest.mark.parametrize("ping_interval", ["30", "0.5"], ids=["529-before-any-byte", "error-event-after-pings"])
def test_claude_code_retries_a_request_that_waited_too_long(claude, tmp_path, ping_interval):
    """The backend's one slot is held past queue_timeout by another client: Claude Code's request is
    answered overloaded_error (an HTTP 529, or an error event once its 200 and pings went out), Claude
    Code retries it, and the retry gets through once the slot is free."""
    hold = threading.Event()

    def brain(rec: Received) -> Reply:
        if "hold the slot" in json.dumps(rec.body):
            return Reply(raw=[hold, *openai_chunks(Reply(text="released"), "m", False, "llama.cpp")],
                         content_type="application/json")
        return Reply(text="Through at last.")

    home, work, rec = tmp_path / "home", tmp_path / "work", tmp_path / "rec"
    home.mkdir()
    work.mkdir()

    def overloaded_recorded() -> bool:
        for path in rec.rglob("exchange.json"):
            meta = json.loads(path.read_text())
            if (meta.get("error") or {}).get("type") == "overloaded_error":
                return True
        return False

    with ScriptedBackend("openai", brain, server="llama.cpp", slots=1) as backend:
        with Gateway(backend.url, backend="openai", model="m", queue_timeout="2", ping_interval=ping_interval,
                     record_dir=str(rec)) as gw:
            holder = threading.Thread(target=lambda: httpx.post(gw.url + "/v1/messages", timeout=240, json={
                "model": "claude-haiku-4-5", "max_tokens": 5,
                "messages": [{"role": "user", "content": "hold the slot"}]}), daemon=True)
            holder.start()
            wait_for(lambda: backend.active == 1, "the holder at the backend")

            def release() -> None:
                wait_for(overloaded_recorded, "Claude Code's request answered overloaded_error")
                hold.set()

            releaser = threading.Thread(target=release, daemon=True)
            releaser.start()
            try:
                result = run_claude(claude, gw.url, work, home, "Say something.", args=("--tools", ""))
            finally:
                hold.set()
            releaser.join(30)
            holder.join(60)
            log = gw.log()
    assert result.returncode == 0, result.stdout + result.stderr + log
    assert "Through at last." in result.stdout
    metas = [json.loads(p.read_text()) for p in rec.rglob("exchange.json")]
    failed = [m for m in metas if (m.get("error") or {}).get("type") == "overloaded_error"]
    assert failed and all(m["queue"]["grant"] is None for m in failed), "it never reached the backend"
    if ping_interval == "30":
        assert all(m["status"]["client"] == 529 for m in failed)
    else:
        assert all(m["status"]["client"] == 200 for m in failed), "the 200 and pings had gone out"
    assert backend.peak == 1
