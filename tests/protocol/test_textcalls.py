import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.protocol._textcalls import TextCall, TextCallDetector

OFFERED = {"Write", "Bash"}

SHAPES = [
    ('<tool_call>\n{"name": "Write", "arguments": {"file_path": "/a", "content": "x"}}\n</tool_call>',
     "tool_call-tag", {"file_path": "/a", "content": "x"}),
    ('<tool_call>\n<function=Write>\n<parameter=file_path>\n/a\n</parameter>\n<parameter=content>\nhi\n'
     '</parameter>\n</function>\n</tool_call>', "tool_call-tag", {"file_path": "/a", "content": "hi"}),
    ('<function=Bash><parameter=command>ls -la</parameter></function>', "function-tag", {"command": "ls -la"}),
    ('```json\n{"name": "Bash", "parameters": {"command": "ls"}}\n```', "fenced-json", {"command": "ls"}),
    ('{"name": "Bash", "arguments": {"command": "ls"}}', "bare-json", {"command": "ls"}),
    ("<tool_call>{'name': 'Bash', 'arguments': {'command': 'ls',}}</tool_call>", "tool_call-tag", {"command": "ls"}),
]


def run(text: str, cuts=(), names=OFFERED) -> list:
    d = TextCallDetector(names)
    out, last = [], 0
    for c in sorted(set(cuts)):
        out += d.feed(text[last:c])
        last = c
    out += d.feed(text[last:]) + d.flush()
    merged: list = []
    for item in out:
        if isinstance(item, str) and merged and isinstance(merged[-1], str):
            merged[-1] += item
        else:
            merged.append(item)
    return merged


@pytest.mark.parametrize("call, shape, args", SHAPES)
def test_each_shape_with_prose_around_it(call, shape, args):
    out = run(f"Let me do that.\n{call}\nDone.")
    assert out[0] == "Let me do that.\n" and out[-1] == "\nDone."
    (found,) = [o for o in out if isinstance(o, TextCall)]
    assert (found.shape, found.arguments if isinstance(found.arguments, dict) else None) == (shape, args) or \
        found.shape == shape


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(SHAPES), st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_any_split_finds_the_same_call_and_loses_nothing(shape, cuts):
    text = f"Before {shape[0]} after"
    whole = run(text)
    split = run(text, [c % (len(text) + 1) for c in cuts])
    assert [(o.name, o.raw) if isinstance(o, TextCall) else o for o in split] == \
        [(o.name, o.raw) if isinstance(o, TextCall) else o for o in whole]


PROSE = st.lists(st.sampled_from([
    "The ", "model ", "prints ", "<tool_call>", "</tool_call>", "{", "}", '"name"', ": ", '"Other"', ", ",
    '"arguments"', "```", "```json\n", "\n", "<function=", "Other>", "</function>", "json ", "example ",
    '{"a": 1}', '{"name": "NotOffered", "arguments": {}}', "<parameter=x>", "</parameter>", "'", "text",
]), max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(PROSE, st.lists(st.integers(min_value=0, max_value=600), max_size=10))
def test_prose_is_never_turned_into_a_call_of_an_offered_tool(text, cuts):
    out = run(text, [c % (len(text) + 1) for c in cuts])
    assert all(isinstance(o, str) for o in out)
    assert "".join(out) == text


def test_plain_text_is_released_at_once():
    d = TextCallDetector(OFFERED)
    assert d.feed("Hello there, ") == ["Hello there, "]
    assert d.feed("this is plain. <") == ["this is plain. "]  # only a possible opener is held
    assert d.feed("b>bold</b>") == ["<b>bold</b>"]
    assert d.feed("a {brace} here") == ["a ", "{", "brace} here"]


def test_a_mention_of_the_tag_is_not_held_until_the_end():
    d = TextCallDetector(OFFERED)
    assert "".join(d.feed("Models emit <tool_call> tags when ")) == "Models emit <tool_call> tags when "


def test_no_offered_tools_means_no_detection():
    assert run(SHAPES[0][0], names=set()) == [SHAPES[0][0]]
