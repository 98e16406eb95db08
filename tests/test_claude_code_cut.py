"""The real Claude Code against calls the model never finished (issue 20 §1), through the gateway.

Claude Code runs a tool call at its ``content_block_stop``. A call the answer was cut inside of
reaches it as Anthropic's API sends one — the ``tool_use`` block left open, ``stop_reason:
max_tokens`` — and 2.1.328 runs nothing of it (it answers with its output-limit recovery prompt
instead). On main these calls arrived complete: ``Bash {"command": "touch …/marker"}`` ran.
"""

import json

import pytest

from inspector.testing.backends import Reply, ScriptedBackend, is_reask, tool_names
from inspector.testing.claude import run_claude
from inspector.testing.gateway import Gateway

pytestmark = [pytest.mark.e2e, pytest.mark.claude]


def chunk(delta, finish=None) -> bytes:
    return b"data: " + json.dumps({"id": "c", "object": "chat.completion.chunk", "choices": [
        {"index": 0, "delta": delta, "finish_reason": finish}]}).encode() + b"\n\n"


def call(index: int, call_id: str, name: str, arguments: str) -> bytes:
    return chunk({"tool_calls": [{"index": index, "id": call_id, "type": "function",
                                  "function": {"name": name, "arguments": arguments}}]})


def once(first: Reply, tool: str):
    """Offered ``tool``: ``first`` the first time, a closing sentence after; side requests get text."""
    seen: list[int] = []

    def brain(rec) -> Reply:
        body = rec.body if isinstance(rec.body, dict) else {}
        if tool not in tool_names("openai", body):  # Ollama's and OpenAI's tools are written alike
            return Reply(text="Greeting")
        seen.append(1)
        return first if len(seen) == 1 else Reply(text="Stopping here.")
    return brain


@pytest.mark.parametrize("ending", ["length", "no-finish-reason"])
def test_a_bash_call_cut_inside_its_command_is_never_run(claude, tmp_path, ending):
    """The issue's report: ``rm -rf /tmp/build`` cut to ``rm -rf /`` — here ``touch …/marker-full``
    cut to ``touch …/marker`` (a command that would still run, and would do the wrong thing)."""
    marker = tmp_path / "marker"
    whole = json.dumps({"command": f"touch {marker}-full"})
    cut = whole[: whole.index("-full")]
    raw = [chunk({"role": "assistant", "content": "I will run it."}), call(0, "call_1", "Bash", cut)]
    raw += [chunk({}, "length"), b"data: [DONE]\n\n"] if ending == "length" else [b"data: [DONE]\n\n"]
    with ScriptedBackend("openai", once(Reply(raw=raw), "Bash")) as backend:
        with Gateway(backend.url, backend="openai", model="m", record_dir=str(tmp_path / "rec")) as gw:
            result = run_claude(claude, gw.url, tmp_path, tmp_path, "Run the command", args=("--allowedTools", "Bash"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert not marker.exists() and not (tmp_path / "marker-full").exists(), "nothing of the cut call ran"
    turns = [r.body for r in backend.chat_requests if "Bash" in tool_names("openai", r.body)
             and not is_reask("openai", r.body)]  # the ladder's re-ask (answered in words here) aside
    assert len(turns) == 2 and not any(m.get("role") == "tool" for m in turns[1]["messages"]), \
        "no tool result: Claude Code kept nothing of the call"
    assert "Output token limit hit" in turns[1]["messages"][-1]["content"], "its output-limit recovery"
    from inspector.recording import list_sessions
    (session,) = list_sessions(tmp_path / "rec")
    first = next(e for e in session.exchanges() if "Bash" in json.dumps(e.meta.get("notes")))
    assert first.meta["stop_reason"] == "max_tokens" and first.meta["tool_calls"] == []
    (note,) = [n for n in first.meta["notes"] if n.get("rule") == "tool-call:cut"]
    assert str(marker) in note["message"], "the recording shows the call as it was cut"


def test_of_two_parallel_calls_the_finished_one_runs_and_the_cut_one_does_not(claude, tmp_path):
    first, cut = tmp_path / "first", tmp_path / "second"
    whole = json.dumps({"command": f"touch {cut}-full"})
    raw = [chunk({"role": "assistant", "content": "Running both."}),
           call(0, "call_a", "Bash", json.dumps({"command": f"touch {first}"})),
           call(1, "call_b", "Bash", whole[: whole.index("-full")]), chunk({}, "length"), b"data: [DONE]\n\n"]
    with ScriptedBackend("openai", once(Reply(raw=raw), "Bash")) as backend:
        with Gateway(backend.url, backend="openai", model="m") as gw:
            result = run_claude(claude, gw.url, tmp_path, tmp_path, "Run them", args=("--allowedTools", "Bash"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert first.exists() and not cut.exists() and not (tmp_path / "second-full").exists()
    second = [r.body for r in backend.chat_requests if "Bash" in tool_names("openai", r.body)
              and not is_reask("openai", r.body)][1]
    assert [m.get("tool_call_id") for m in second["messages"] if m.get("role") == "tool"] == ["call_a"]


def test_a_write_printed_as_text_and_cut_inside_its_content_is_never_written(claude, tmp_path):
    """Qwen3-coder's markup, the answer ended inside the content parameter (the issue's 512-token cap)."""
    target = tmp_path / "out.txt"
    printed = (f"I'll write the file.\n<tool_call>\n<function=Write>\n<parameter=file_path>\n{target}\n"
               f"</parameter>\n<parameter=content>\nthe first half of a long fi")
    first = Reply(text=printed, done_reason="length")
    with ScriptedBackend("ollama", once(first, "Write")) as backend:
        with Gateway(backend.url, backend="ollama", model="m") as gw:
            result = run_claude(claude, gw.url, tmp_path, tmp_path, "Write the file")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not target.exists(), "a cut Write is not written truncated as if it were done"
    assert len([r for r in backend.chat_requests if "Write" in tool_names("ollama", r.body)
                and not is_reask("ollama", r.body)]) == 2


def test_the_last_fragment_beside_trailing_text_writes_the_whole_file(claude, tmp_path):
    """vLLM with speculative decoding: main wrote to the cut path and sent a phantom call."""
    target = tmp_path / "dir" / "whole-name.txt"
    args = json.dumps({"file_path": str(target), "content": "all of it\n"})
    split = args.index("whole-name")
    raw = [chunk({"role": "assistant"}), call(0, "call_w", "Write", args[:split]),
           chunk({"content": "Written.", "tool_calls": [{"index": 0, "function": {"arguments": args[split:]}}]}),
           chunk({}, "tool_calls"), b"data: [DONE]\n\n"]
    (tmp_path / "dir").mkdir()
    with ScriptedBackend("openai", once(Reply(raw=raw), "Write")) as backend:
        with Gateway(backend.url, backend="openai", model="m") as gw:
            result = run_claude(claude, gw.url, tmp_path, tmp_path, "Write the file")
    assert result.returncode == 0, result.stdout + result.stderr
    assert target.read_text() == "all of it\n"
    second = [r.body for r in backend.chat_requests if "Write" in tool_names("openai", r.body)
              and not is_reask("openai", r.body)][1]
    assert [m["tool_call_id"] for m in second["messages"] if m.get("role") == "tool"] == ["call_w"], "no phantom"
