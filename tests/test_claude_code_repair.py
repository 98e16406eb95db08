"""The real Claude Code against local models' broken tool calls, through the gateway."""

import pytest

from inspector.testing.backends import Call, Reply, ScriptedBackend, scripted_brain, tool_results
from inspector.testing.gateway import Gateway
from inspector.testing.claude import run_claude

pytestmark = [pytest.mark.e2e, pytest.mark.claude]


def text_calls(path: str) -> dict[str, str]:
    return {
        "hermes": f'I will create it.\n<tool_call>\n{{"name": "Write", "arguments": {{"file_path": "{path}", '
                  f'"content": "repaired\\n"}}}}\n</tool_call>',
        "qwen-coder": f"<tool_call>\n<function=Write>\n<parameter=file_path>\n{path}\n</parameter>\n"
                      f"<parameter=content>\nrepaired\n\n</parameter>\n</function>\n</tool_call>",
        "fenced": f'Here is the call:\n```json\n{{"name": "Write", "parameters": {{"file_path": "{path}", '
                  f'"content": "repaired\\n"}}}}\n```',
        "bare": f'{{"name": "Write", "arguments": {{"file_path": "{path}", "content": "repaired\\n"}}}}',
    }


@pytest.mark.parametrize("style", ["hermes", "qwen-coder", "fenced", "bare"])
@pytest.mark.parametrize("form", ["ollama", "openai"])
def test_text_form_calls_complete_the_round_trip(claude, tmp_path, style, form):
    target = tmp_path / "out.txt"
    printed = text_calls(str(target))[style]
    first = Reply(text=printed)
    with ScriptedBackend(form, scripted_brain(form, first, "Wrote it.")) as backend:
        with Gateway(backend.url, backend=form, model="qwen2.5-coder", record_dir=str(tmp_path / "rec")) as gw:
            result = run_claude(claude, gw.url, tmp_path, tmp_path, "Write 'repaired' into out.txt")
    assert result.returncode == 0, result.stdout + result.stderr
    assert target.read_text() == "repaired\n"
    assert "Wrote it." in result.stdout
    from inspector.recording import list_sessions
    (session,) = list_sessions(tmp_path / "rec")
    first_turn = next(e for e in session.exchanges() if e.meta.get("tool_calls"))
    rules = [n.get("rule") for n in first_turn.meta["notes"]]
    assert any(r and r.startswith("text-call:") for r in rules)


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
