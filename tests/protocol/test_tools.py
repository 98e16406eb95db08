import pytest

from inspector.protocol import Notes, ToolNames, parse_arguments, tool_use_id


@pytest.mark.parametrize("raw, expected, kind", [
    ({"a": 1}, {"a": 1}, None),
    ('{"a": 1}', {"a": 1}, None),
    ("", {}, None),
    (None, {}, None),
    ('"{\\"a\\": 1}"', {"a": 1}, "repaired"),
    ('{"a": 1,}', {"a": 1}, "repaired"),
    ("{'a': 'b'}", {"a": "b"}, "repaired"),
    ('{"a": "trunc', {}, "error"),  # never closed: closing it would choose the value (see test_never_invent)
    ("[1, 2]", {}, "error"),
    ("definitely not json", {}, "error"),
])
def test_parse_arguments(raw, expected, kind):
    notes = Notes()
    assert parse_arguments(raw, name="T", notes=notes) == expected
    assert [n.kind for n in notes] == ([kind] if kind else [])


def test_tool_ids_kept_sanitised_or_synthesised():
    assert tool_use_id("call_ab12cd34") == "call_ab12cd34"
    assert tool_use_id("functions.Bash:0") == "functions_Bash_0"
    a, b = tool_use_id(None), tool_use_id("")
    assert a.startswith("toolu_") and b.startswith("toolu_") and a != b


def test_tool_names_round_trip():
    names = ToolNames(["Bash", "mcp__srv__" + "y" * 80, "has space"])
    for original in ["Bash", "mcp__srv__" + "y" * 80, "has space"]:
        out = names.outgoing(original)
        assert len(out) <= 64 and names.incoming(out) == original
    assert names.outgoing("Bash") == "Bash" and set(names.renamed) == {"mcp__srv__" + "y" * 80, "has space"}
