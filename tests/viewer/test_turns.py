"""The conversation as a person reads it: turns shared by the viewer and the HTML report."""

from inspector.recording import list_sessions, response_message
from inspector.testing.samples import samples_dir
from inspector.viewer.turns import conversation

SAMPLES = samples_dir()


def test_turns_of_the_sample_tool_round_trip():
    ex = list_sessions(SAMPLES)[1].exchanges()[1]
    turns = conversation(ex.request_json(), response_message(ex), ex.meta["notes"])
    kinds = [t.kind for t in turns]
    assert kinds[0] == "system" and "tool-call" in kinds and kinds[-1] == "stop"
    result = next(t for t in turns if t.kind == "tool-result")
    assert not result.error and result.title == "tool result ← Write call_sample_write"
    assert result.text.startswith("File created successfully at: /") and "/hello.txt" in result.text
    assert [t.text for t in turns if t.answer and t.kind == "answer"] == ["I wrote hello.txt."]


def test_each_request_turn_knows_its_message():
    request = {"system": "be brief", "messages": [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": [{"type": "text", "text": "two"}, {"type": "tool_use", "id": "t1",
                                                                            "name": "Read", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "three"}]}]}
    turns = conversation(request, {"content": [{"type": "text", "text": "four"}], "stop_reason": "end_turn"})
    assert [(t.kind, t.message) for t in turns] == [
        ("system", -1), ("user", 0), ("assistant", 1), ("tool-call", 1), ("tool-result", 2), ("answer", -1),
        ("stop", -1)]
    assert turns[4].title == "tool result ← Read t1"
