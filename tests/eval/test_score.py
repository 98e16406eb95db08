"""inspector/eval/_score.py: the comparison of a candidate's answer with the recorded one (pure)."""

from collections import Counter
from pathlib import Path

import pytest

from inspector.eval import (
    AnswerDigest,
    Outcome,
    ToolCall,
    Turn,
    arguments_equivalent,
    normalise,
    score,
    similarity,
    summarise,
)

CWD = "/home/me/project"


def turn(recorded: AnswerDigest, number: int = 1) -> Turn:
    return Turn(number=number, ref=f"S#{number}", session="S", seq=number, purpose="main", session_id="s",
                client="claude-cli/2.1.328", workdir=CWD, recorded=recorded, path=Path("S") / f"{number:04d}_messages")


WRITE = AnswerDigest("I'll write it.", (ToolCall("Write", {"file_path": f"{CWD}/hello.txt", "content": "hi\n"}),),
                       "tool_use")
TEXT = AnswerDigest("The file holds a greeting.", (), "end_turn")


def message(*blocks: dict, stop: str = "tool_use") -> dict:
    return {"type": "message", "role": "assistant", "content": list(blocks), "stop_reason": stop}


def call(name: str, args: object) -> dict:
    return {"type": "tool_use", "id": "toolu_1", "name": name, "input": args}


def outcome(msg: dict | None, *, notes: list | None = None, status: int = 200, error: dict | None = None,
            meta: dict | None = None) -> Outcome:
    return Outcome(status, msg, error, {"notes": notes or [], **(meta or {})}, 12.0)


@pytest.mark.parametrize(("recorded", "candidate"), [
    ({"b": 1, "a": "x"}, {"a": "x", "b": 1}),  # key order
    ({"content": "line one\n  line two\n"}, {"content": "line one line two"}),  # whitespace runs and ends
    ({"file_path": f"{CWD}/src/a.py"}, {"file_path": "src/a.py"}),  # relative to the working directory
    ({"file_path": f"{CWD}/src/a.py"}, {"file_path": f"{CWD}/src/../src/./a.py"}),  # normalised
    ({"path": f"{CWD}/src/"}, {"path": f"{CWD}/src"}),  # no trailing slash
    ({"n": 1}, {"n": 1.0}),
])
def test_arguments_that_are_equivalent(recorded, candidate):
    assert arguments_equivalent(recorded, candidate, cwd=CWD)


@pytest.mark.parametrize(("recorded", "candidate"), [
    ({"file_path": f"{CWD}/a.py"}, {"file_path": f"{CWD}/b.py"}),
    ({"content": "hi"}, {"content": "ho"}),
    ({"flag": True}, {"flag": 1}),  # JSON true is not the number 1
    ({"items": [1, 2]}, {"items": [2, 1]}),  # lists in order
    ({"a": 1}, {"a": 1, "b": 2}),
    ({"file_path": "src/a.py"}, {"file_path": "other/src/a.py"}),
])
def test_arguments_that_differ(recorded, candidate):
    assert not arguments_equivalent(recorded, candidate, cwd=CWD)


def test_the_working_directory_is_written_cwd():
    assert normalise({"file_path": "notes/todo.md", "cmd": "ls  -la"}, cwd=CWD) == \
        {"file_path": "<cwd>/notes/todo.md", "cmd": "ls -la"}


def test_similarity_is_difflib_over_words():
    assert similarity("a b c d", "a b c d") == 1.0
    assert similarity("", "") == 1.0
    assert similarity("a b c d", "w x y z") == 0.0
    assert similarity("the file holds a greeting", "the file holds a warm greeting") == pytest.approx(2 * 5 / 11, abs=1e-4)


def test_the_same_call_well_formed():
    s = score(turn(WRITE), outcome(message(call("Write", {"content": "hi", "file_path": "hello.txt"}))), "m")
    assert s.answered and s.kind == "tool" and s.stop_matches
    t = s.tool
    assert t is not None
    assert (t.called, t.well_formed, t.same_tool, t.equivalent_arguments, t.repairs, t.problems) == \
        (True, True, True, True, (), ())
    assert t.reasked is False, "the answer needed no re-ask"
    assert s.as_dict()["tool"]["reasked"] is False


def test_a_repaired_call_is_not_well_formed_and_names_its_rules():
    notes = [{"kind": "repaired", "message": "Write: repaired invalid argument JSON", "count": 1, "rule": "args:invalid-json"},
             {"kind": "dropped", "message": "metadata", "count": 1},
             {"kind": "converted", "message": "merged", "count": 1, "rule": "system:merged"}]
    s = score(turn(WRITE), outcome(message(call("Write", {"file_path": f"{CWD}/hello.txt", "content": "hi"})),
                                   notes=notes), "m")
    assert s.tool is not None
    assert s.tool.well_formed is False and s.tool.repairs == ("args:invalid-json",) and s.tool.repaired
    assert s.tool.equivalent_arguments, "what was repaired still says the same thing"


def test_another_tool_and_a_call_left_wrong():
    notes = [{"kind": "error", "message": "Bash: not offered", "count": 1, "rule": "tool:unknown"}]
    s = score(turn(WRITE), outcome(message(call("Bash", {"command": "echo hi > hello.txt"})), notes=notes), "m")
    assert s.tool is not None
    assert (s.tool.same_tool, s.tool.equivalent_arguments, s.tool.well_formed, s.tool.problems) == \
        (False, False, False, ("tool:unknown",))


def test_no_call_where_one_was_recorded():
    s = score(turn(WRITE), outcome(message({"type": "text", "text": "Sure!"}, stop="end_turn")), "m")
    assert s.answered and s.tool is not None
    assert (s.tool.called, s.tool.well_formed, s.tool.same_tool, s.stop_matches) == (False, None, False, False)


def test_a_text_turn_has_a_similarity_and_notes_a_call_where_there_was_none():
    s = score(turn(TEXT), outcome(message({"type": "text", "text": "The file holds a greeting."}, stop="end_turn")), "m")
    assert s.text is not None and s.text.similarity == 1.0 and not s.text.called and s.stop_matches
    s = score(turn(TEXT), outcome(message(call("Read", {"file_path": "x"}))), "m")
    assert s.text is not None and s.text.called and s.text.similarity == 0.0 and not s.stop_matches


def test_an_error_is_not_an_answer():
    err = {"type": "api_error", "message": "cannot reach the backend"}
    s = score(turn(WRITE), outcome(None, status=502, error=err), "m")
    assert not s.answered and s.error == err and s.tool is None and s.stop_matches is None
    # An error event after a 200: the message so far is not an answer either.
    s = score(turn(WRITE), outcome(message(call("Write", {})), error={"type": "overloaded_error", "message": "x"}), "m")
    assert not s.answered


def test_timings_are_the_backends_own_where_it_said_them():
    meta = {"performance": {"source": "ollama", "load_ms": 100.0, "prompt_ms": 400.0, "decode_ms": 1000.0,
                            "prompt_tokens_per_s": 5000.0, "decode_tokens_per_s": 20.0},
            "timing_ms": {"first_token": 777.0, "total": 2000.0},
            "usage": {"input_tokens": 100, "cache_read_input_tokens": 900, "output_tokens": 20},
            "prefix": {"kept": 0.98}}
    s = score(turn(TEXT), outcome(message({"type": "text", "text": "x"}, stop="end_turn"), meta=meta), "m")
    assert s.timings.as_dict() == {"ttft_ms": 500.0, "total_ms": 1500.0, "prompt_tokens_per_s": 5000.0,
                                   "decode_tokens_per_s": 20.0, "source": "ollama"}
    assert s.cache.as_dict() == {"input_tokens": 1000, "read_tokens": 900, "prefix_kept": 0.98}
    # Nothing from the backend: the gateway's measurement, said as such; no cache figure invented.
    meta = {"timing_ms": {"first_token": 777.0, "total": 2000.0}, "usage": {"input_tokens": 100}}
    s = score(turn(TEXT), outcome(message({"type": "text", "text": "x"}, stop="end_turn"), meta=meta), "m")
    assert (s.timings.ttft_ms, s.timings.source, s.cache.read_tokens) == (777.0, "gateway", None)


def test_the_summary_per_model_and_its_denominators():
    good = score(turn(WRITE, 1), outcome(message(call("Write", {"file_path": "hello.txt", "content": "hi"}))), "a")
    repaired = score(turn(WRITE, 2), outcome(message(call("Write", {"file_path": "hello.txt", "content": "hi"})), notes=[
        {"kind": "repaired", "message": "x", "count": 1, "rule": "text-call:tool_call-tag"}]), "a")
    failed = score(turn(WRITE, 3), outcome(None, status=529, error={"type": "overloaded_error", "message": "busy"}), "a")
    text = score(turn(TEXT, 4), outcome(message({"type": "text", "text": "The file holds greetings."}, stop="end_turn")), "a")
    (a, b) = summarise([good, repaired, failed, text], ["a", "b"])
    d = a.as_dict()
    assert (d["turns"], d["answered"], d["tool_turns"], d["calls_made"], d["well_formed"], d["repaired"]) == (4, 3, 3, 2, 1, 1)
    assert d["well_formed_share"] == 0.5, "of the turns where a call was made"
    assert d["same_tool_share"] == round(2 / 3, 4), "of the tool turns, failed ones included"
    assert d["errors"] == {"overloaded_error": 1} and d["repairs"] == {"text-call:tool_call-tag": 1}
    assert d["text_turns"] == 1 and 0 < d["similarity_mean"] < 1
    assert b.as_dict()["turns"] == 0 and b.as_dict()["well_formed_share"] is None
    assert Counter(a.errors) == Counter({"overloaded_error": 1})
