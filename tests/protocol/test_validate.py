import pytest

from inspector.protocol import Notes
from inspector.protocol._validate import check_arguments

SCHEMA = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "additionalProperties": False,
          "properties": {"file_path": {"type": "string"}, "content": {"type": "string"},
                         "limit": {"type": "integer"}, "ratio": {"type": "number"}, "all": {"type": "boolean"},
                         "edits": {"type": "array"}},
          "required": ["file_path"]}


@pytest.mark.parametrize("args, fixed", [
    ({"file_path": "/a", "limit": "10"}, {"file_path": "/a", "limit": 10}),
    ({"file_path": "/a", "ratio": "0.5"}, {"file_path": "/a", "ratio": 0.5}),
    ({"file_path": "/a", "all": "True"}, {"file_path": "/a", "all": True}),
    ({"file_path": "/a", "content": {"k": 1}}, {"file_path": "/a", "content": '{"k":1}'}),
    ({"file_path": "/a", "edits": '[{"old": "a"}]'}, {"file_path": "/a", "edits": [{"old": "a"}]}),
])
def test_unambiguous_fixes(args, fixed):
    notes = Notes()
    assert check_arguments("Edit", args, SCHEMA, notes) == fixed
    assert [n.kind for n in notes] == ["repaired"] and notes.items[0].rule == "schema:type-coerced"


@pytest.mark.parametrize("args, rule", [
    ({"content": "x"}, "schema:missing-required"),
    ({"file_path": "/a", "limit": "ten"}, "schema:type"),
    ({"file_path": "/a", "bogus": 1}, "schema:additionalProperties"),
])
def test_violations_are_reported_not_invented(args, rule):
    notes = Notes()
    assert check_arguments("Edit", args, SCHEMA, notes) == args
    assert [n.rule for n in notes.of("error")] == [rule]


def test_no_fixes_when_repair_is_off():
    notes = Notes()
    assert check_arguments("Edit", {"file_path": "/a", "limit": "10"}, SCHEMA, notes, fix=False)["limit"] == "10"
    assert [n.rule for n in notes] == ["schema:type"]
