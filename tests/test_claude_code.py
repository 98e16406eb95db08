"""The real Claude Code CLI (pinned 2.1.328, installed by the Makefile) through the gateway."""


import pytest

from inspector.protocol import FORM_NAMES, get_form
from inspector.testing.backends import SCRIPTS, ScriptedBackend, has_tool_result, write_file_brain
from inspector.testing.claude import run_claude
from inspector.testing.gateway import REPLAY_SCRIPT, Gateway

pytestmark = [pytest.mark.e2e, pytest.mark.claude]

@pytest.mark.parametrize("form", FORM_NAMES)
def test_write_tool_round_trip(claude, form, tmp_path):
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir(), home.mkdir()
    target = work / "hello.txt"
    content = "hi from a local model ✓\n"
    script = SCRIPTS[form]
    brain = write_file_brain(form, str(target), content, answer="Wrote hello.txt for you.",
                             call_id="call_write_1" if script.ids_calls else None)
    # Claude Code's two ways to authenticate (x-api-key, Authorization: Bearer), one form after the other.
    auth = ("key", "token")[FORM_NAMES.index(form) % 2]
    with ScriptedBackend(form, brain) as backend:
        with Gateway(backend.url, backend=form, model="qwen3-coder", num_ctx=65536) as gw:
            result = run_claude(claude, gw.url, work, home, "Write a greeting into hello.txt", auth=auth)
            log = gw.log()
    assert result.returncode == 0, result.stderr + log
    assert target.read_text() == content, "Claude Code ran the Write tool the model asked for"
    assert "Wrote hello.txt for you." in result.stdout

    chats = [r for r in backend.chat_requests if "Write" in script.tool_names(r.body)]
    assert len(chats) == 2, "the tool call, then the turn carrying its result"
    first, second = chats[0].body, chats[1].body
    assert first["model"] == second["model"] == "qwen3-coder"
    assert not has_tool_result(form, first) and has_tool_result(form, second)
    calls, results = script.call_ids(second)
    assert calls and results == calls, "the synthesized/kept id is consistent across turns"
    if script.ids_calls:
        assert calls == ["call_write_1"]
    else:
        assert calls[0].startswith("toolu_"), "a call without an id got one"
    if get_form(form).sizes_context:
        assert first["options"]["num_ctx"] == 65536
    for chat in chats:  # Claude Code's key is for Anthropic's own hosts: a local backend never sees it
        assert "x-api-key" not in chat.headers and "authorization" not in chat.headers


def test_record_then_replay_with_the_backend_gone(claude, tmp_path):
    from inspector.recording import list_sessions
    from inspector.testing.gateway import free_port

    work, record_dir = tmp_path / "work", tmp_path / "recordings"
    work.mkdir()
    target = work / "hello.txt"
    prompt = "Write a greeting into hello.txt"
    brain = write_file_brain("ollama", str(target), "recorded greeting\n", answer="Wrote hello.txt (recorded).")
    with ScriptedBackend("ollama", brain) as backend:
        with Gateway(backend.url, backend="ollama", model="qwen3", record_dir=str(record_dir)) as gw:
            home = tmp_path / "home1"
            home.mkdir()
            first = run_claude(claude, gw.url, work, home, prompt)
    assert first.returncode == 0 and target.read_text() == "recorded greeting\n"

    # What the recording holds: the prompt, the tool call, the result, the answer — no key.
    (session,) = list_sessions(record_dir)
    turns = [e for e in session.exchanges() if e.kind == "messages"]
    assert len(turns) == 2 and all(e.complete for e in turns)
    assert prompt in str(turns[0].request_json()["messages"])
    assert turns[0].meta["tool_calls"][0]["name"] == "Write"
    assert turns[0].meta["tool_calls"][0]["input"]["content"] == "recorded greeting\n"
    assert "tool_result" in str(turns[1].request_json()["messages"])
    from inspector.protocol import MessageAccumulator
    answer = MessageAccumulator()
    answer.feed(turns[1].body("client"))
    assert answer.message["content"][0]["text"] == "Wrote hello.txt (recorded)."
    assert session.meta["id_source"] == "header"
    disk = b"".join(p.read_bytes() for p in record_dir.rglob("*") if p.is_file())
    assert b"sk-ant-api03-test-secret" not in disk

    # The backend is gone; a new Claude Code run (new HOME, new session) is answered from the recording.
    target.unlink()
    dead = f"http://127.0.0.1:{free_port()}"
    with Gateway(dead, backend=None, script=REPLAY_SCRIPT, replay_dir=str(record_dir),
                 replay_speed="0") as gw:
        home = tmp_path / "home2"
        home.mkdir()
        again = run_claude(claude, gw.url, work, home, prompt)
    assert again.returncode == 0, again.stdout + again.stderr
    assert target.read_text() == "recorded greeting\n"
    assert again.stdout == first.stdout


def test_a_missing_model_tells_the_claude_code_user_what_to_do(claude, tmp_path):
    from inspector.testing.backends import Reply
    with ScriptedBackend("ollama", [Reply(status=404, error="model 'qwen9:7b' not found")]) as backend:
        with Gateway(backend.url, backend="ollama", model="qwen9:7b") as gw:
            result = run_claude(claude, gw.url, tmp_path, tmp_path, "hello")
    assert result.returncode != 0
    assert "ollama pull qwen9:7b" in result.stdout + result.stderr


def test_a_stopped_backend_shows_the_advice_in_seconds_not_minutes(claude, tmp_path):
    """A backend that is not running is not transient: the gateway says x-should-retry: false, so
    Claude Code prints the advice at once instead of retrying for ~3 minutes."""
    import time

    from inspector.testing.gateway import free_port
    dead = f"http://127.0.0.1:{free_port()}"
    with Gateway(dead, backend="ollama", model="qwen3") as gw:
        t0 = time.monotonic()
        result = run_claude(claude, gw.url, tmp_path, tmp_path, "hello", timeout=120)
        took = time.monotonic() - t0
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "cannot reach the Ollama backend" in out and "ollama serve" in out, out
    assert took < 30, f"Claude Code needed {took:.0f} s to show it"
