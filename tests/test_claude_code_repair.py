"""The real Claude Code against local models' broken tool calls, through the gateway."""

import json

import pytest

from inspector.testing.backends import SCRIPTS, Call, Reply, ScriptedBackend, scripted_brain, tool_results
from inspector.testing.claude import run_claude
from inspector.testing.forms import WRITTEN
from inspector.testing.gateway import Gateway

pytestmark = [pytest.mark.e2e, pytest.mark.claude]


#: What the model means to write: leading spaces and the trailing newline must survive every repair.
CONTENT = "  repaired, indented\nsecond line\n"


def text_calls(path: str) -> dict[str, str]:
    """A Write call as each model family prints it when the server does not parse it."""
    args = {"file_path": path, "content": CONTENT}
    xml = f"<parameter=file_path>\n{path}\n</parameter>\n<parameter=content>\n{CONTENT}\n"
    return {
        "hermes": f'I will create it.\n<tool_call>\n{json.dumps({"name": "Write", "arguments": args})}\n</tool_call>',
        "qwen-coder": f"<tool_call>\n<function=Write>\n{xml}</parameter>\n</function>\n</tool_call>",
        # The stream ends after the call's JSON closed, before </tool_call>: a call (the JSON is whole).
        "hermes-unclosed": f'I will create it.\n<tool_call>\n{json.dumps({"name": "Write", "arguments": args})}\n',
        "mistral": f"[TOOL_CALLS] [{json.dumps({'name': 'Write', 'arguments': args, 'id': 'a1b2c3d4e'})}][/TOOL_CALLS]",
        "mistral-v11": f"[TOOL_CALLS]Write[CALL_ID]a1b2c3d4e[ARGS]{json.dumps(args)}",
        "harmony": ("<|channel|>analysis<|message|>The user wants a file.<|end|><|start|>assistant<|channel|>"
                    f"commentary to=functions.Write <|constrain|>json<|message|>{json.dumps(args)}<|call|>"),
        "fenced": f'Here is the call:\n```json\n{json.dumps({"name": "Write", "parameters": args})}\n```',
        "bare": json.dumps({"name": "Write", "arguments": args}),
    }


@pytest.mark.parametrize("style", ["hermes", "qwen-coder", "hermes-unclosed", "mistral", "mistral-v11",
                                   "harmony", "fenced", "bare"])
@pytest.mark.parametrize("form", WRITTEN)
def test_text_form_calls_complete_the_round_trip(claude, tmp_path, style, form):
    target = tmp_path / "out.txt"
    printed = text_calls(str(target))[style]
    first = Reply(text=printed)
    with ScriptedBackend(form, scripted_brain(form, first, "Wrote it.")) as backend:
        with Gateway(backend.url, backend=form, model="qwen2.5-coder", record_dir=str(tmp_path / "rec")) as gw:
            result = run_claude(claude, gw.url, tmp_path, tmp_path, "Write 'repaired' into out.txt")
    assert result.returncode == 0, result.stdout + result.stderr
    assert target.read_text() == CONTENT, "exactly what the model meant, leading spaces and last newline included"
    assert "Wrote it." in result.stdout
    from inspector.recording import list_sessions
    (session,) = list_sessions(tmp_path / "rec")
    first_turn = next(e for e in session.exchanges() if e.meta.get("tool_calls"))
    rules = [n.get("rule") for n in first_turn.meta["notes"]]
    assert any(r and r.startswith("text-call:") for r in rules)
    assert ("text-call:unclosed" in rules) == style.endswith("unclosed")
    assert first_turn.meta["stop_reason"] == "tool_use"
    sent = [content for _, content in SCRIPTS[form].conversation(
        next(r for r in backend.chat_requests if tool_results(form, r.body)).body) if isinstance(content, str)]
    assert not any("[TOOL_CALLS]" in b or "<|channel|>" in b or "<function=" in b for b in sent), \
        "no wrapper leftovers went back to the model as text"


def test_broken_argument_json_is_repaired(claude, tmp_path):
    target = tmp_path / "fixed.txt"
    broken = Call("Write", "{'file_path': '" + str(target) + "', 'content': 'fixed',}", id="call_b1")
    with ScriptedBackend("openai", scripted_brain("openai", Reply(calls=[broken]), "Fixed.")) as backend:
        with Gateway(backend.url, backend="openai", model="m") as gw:
            result = run_claude(claude, gw.url, tmp_path, tmp_path, "Write fixed")
    assert result.returncode == 0 and target.read_text() == "fixed"


def test_an_unrepairable_call_gets_a_clear_error_the_model_sees(claude, tmp_path):
    missing_content = Call("Write", {"file_path": str(tmp_path / "never.txt")}, id="call_m1")
    with ScriptedBackend("ollama", scripted_brain("ollama", Reply(calls=[missing_content]), "Sorry.")) as backend:
        with Gateway(backend.url, backend="ollama", model="m", record_dir=str(tmp_path / "rec")) as gw:
            run_claude(claude, gw.url, tmp_path, tmp_path, "Write something")
    assert not (tmp_path / "never.txt").exists()
    second = [r for r in backend.chat_requests if tool_results("ollama", r.body)]
    assert second, "Claude Code answered the broken call with a tool result"
    assert "content" in tool_results("ollama", second[0].body)[0].lower()
    from inspector.recording import list_sessions
    (session,) = list_sessions(tmp_path / "rec")
    notes = [n for e in session.exchanges() for n in e.meta.get("notes", [])]
    assert any(n.get("rule") == "schema:missing-required" for n in notes)


@pytest.mark.parametrize("form", WRITTEN)
def test_claude_codes_late_system_messages_reach_the_backend_in_the_users_turn(claude, tmp_path, form):
    """The environment block Claude Code sends as role:"system" after the prompt: merged into the
    user's turn ahead of the prompt, so strict chat templates accept it and the prompt is said last."""
    target = tmp_path / "out.txt"
    first = Reply(text=text_calls(str(target))["qwen-coder"])
    with ScriptedBackend(form, scripted_brain(form, first, "Wrote it.")) as backend:
        with Gateway(backend.url, backend=form, model="m") as gw:
            result = run_claude(claude, gw.url, tmp_path, tmp_path, "Write 'repaired' into out.txt")
    assert result.returncode == 0, result.stdout + result.stderr
    chats = [SCRIPTS[form].conversation(r.body) for r in backend.chat_requests if r.body.get("tools")]
    assert len(chats) == 2
    for said in chats:
        roles = [role for role, _ in said]
        assert roles[0] == "system" and "system" not in roles[1:], roles
        assert all(a != b for a, b in zip(roles[1:], roles[2:])), f"roles alternate: {roles}"
        prompt = said[1][1]
        assert "# Environment" in prompt and prompt.endswith("Write 'repaired' into out.txt")
    assert chats[0][:2] == chats[1][:2], "turn over turn, the start stays the same"
