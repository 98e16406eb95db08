"""inspector/eval/_turns.py: which recorded exchanges are turns to evaluate, and what was skipped."""

import pytest

from inspector.eval import load_turns, parse_turns, sessions_of
from inspector.testing.samples import samples_dir
from inspector.testing.synth import Spec, write_session


def test_the_samples_have_three_model_turns_and_six_without_an_answer():
    turns = load_turns(sessions_of(samples_dir()))
    assert [(t.number, t.ref.rsplit("_", 1)[1], t.kind) for t in turns.turns] == [
        (1, "8602fc2c#1", "text"), (2, "4997fd7d#1", "tool"), (3, "4997fd7d#2", "text")]
    assert dict(turns.skipped) == {"no recorded answer": 6}, "the missing-model session's six 400s"
    write = turns.turns[1]
    assert write.recorded.tool_calls[0].name == "Write" and write.recorded.stop_reason == "tool_use"
    assert write.client.startswith("claude-cli/2.1.328") and write.session_id.startswith("4997fd7d")
    assert write.workdir == "/tmp/inspector-sample-98d79ruk"
    request = write.request()  # read when sent, not kept
    assert request.json["messages"][0]["role"] == "user" and request.body.startswith(b"{")
    assert request.client_request["path"] == "/v1/messages?beta=true"


def test_side_traffic_probes_and_failed_answers_are_skipped_and_counted(tmp_path):
    write_session(tmp_path, [
        Spec(kind="count_tokens"), Spec(purpose="quota"), Spec(tool=("Write", {"file_path": "a", "content": "b"})),
        Spec(status=529, error=("overloaded_error", "busy")), Spec(answer="All done.")])
    turns = load_turns(sessions_of(tmp_path))
    assert [t.kind for t in turns.turns] == ["tool", "text"]
    assert dict(turns.skipped) == {"side traffic": 1, "not a model turn": 1, "no recorded answer": 1}


def test_turns_selects_by_number_over_all_sessions():
    turns = load_turns(sessions_of(samples_dir()), turns=parse_turns("2-3"))
    assert [t.number for t in turns.turns] == [2, 3] and turns.skipped["outside --turns"] == 1
    assert parse_turns("1-5, 8,10-12") == [(1, 5), (8, 8), (10, 12)]
    for bad in ("0", "5-2", "a", "1-", ""):
        with pytest.raises(ValueError, match="--turns"):
            parse_turns(bad)


def test_sessions_are_a_folder_a_session_or_a_name():
    root = samples_dir()
    assert len(sessions_of(root)) == 3
    (one,) = sessions_of(root / "20261202T180244Z_claude-cli-2.1.328_4997fd7d")
    assert one.name.endswith("4997fd7d")
    assert sessions_of("4997fd7d", root)[0].name == one.name
    with pytest.raises(FileNotFoundError, match="no session"):
        sessions_of("nope", root)
