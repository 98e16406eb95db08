"""``Notes``: what a translation did that a person should know — ordered, the same note counted
rather than repeated, kept in recordings as ``NoteDict``."""

from inspector.protocol import Notes


def test_the_same_note_is_counted_not_repeated_and_order_is_kept():
    notes = Notes()
    notes.dropped("metadata")
    notes.repaired("broken JSON closed", rule="args:invalid-json")
    notes.dropped("metadata")
    notes.warning("metadata")  # the same text of another kind is another note
    assert [(n.kind, n.message, n.count) for n in notes] == [
        ("dropped", "metadata", 2), ("repaired", "broken JSON closed", 1), ("warning", "metadata", 1)]
    assert [str(n) for n in notes] == ["metadata (×2)", "broken JSON closed", "metadata"]
    assert len(notes) == 3 and bool(notes) and not Notes()
    assert [n.message for n in notes.of("dropped")] == ["metadata"]


def test_as_recorded_a_rule_only_when_there_is_one():
    notes = Notes()
    notes.error("the backend is down")
    notes.repaired("a call printed as text converted", rule="text-call:tool_call-tag")
    assert notes.as_list() == [
        {"kind": "error", "message": "the backend is down", "count": 1},
        {"kind": "repaired", "message": "a call printed as text converted", "count": 1, "rule": "text-call:tool_call-tag"}]
