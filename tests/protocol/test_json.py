import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.protocol._json import balanced_end, loads_lenient
from inspector.testing.profiles import examples

#: Text with the whitespace a repair must keep: leading, trailing, newlines, tabs, quotes.
TEXT = st.text(alphabet=st.sampled_from(list("ab é✓'\"\\{}[]<>/\n\t ")), max_size=30)
VALUES = st.dictionaries(st.sampled_from(["content", "file_path", "command", "old_string"]),
                         st.one_of(TEXT, st.integers(-5, 5), st.booleans()), min_size=1, max_size=3)


def single_quoted(obj) -> str:
    """How models write Python dicts: repr, single quotes, a trailing comma."""
    return repr(obj)[:-1] + ",}"


def raw_newlines(obj) -> str:
    """Strings with literal newlines inside, as weak models print them (not valid JSON)."""
    return json.dumps({k: v.replace("\n", "\x00") if isinstance(v, str) else v for k, v in obj.items()},
                      ensure_ascii=False).replace("\\u0000", "\n")


def trailing_comma(obj) -> str:
    return json.dumps(obj)[:-1] + ", }"


@settings(max_examples=examples(300), deadline=None)
@given(VALUES, st.sampled_from([json.dumps, single_quoted, raw_newlines, trailing_comma]))
def test_a_repair_changes_syntax_never_values(obj, spelling):
    loaded = loads_lenient(spelling(obj))
    assert loaded is not None and loaded[0] == obj


def test_valid_json_is_not_a_repair_and_trailing_newlines_survive():
    assert loads_lenient('{"content": "a\\n"}') == ({"content": "a\n"}, False)
    assert loads_lenient('{"content": "a\\n",}') == ({"content": "a\n"}, True)
    assert loads_lenient("{'content': 'a\n\n',}") == ({"content": "a\n\n"}, True)


@pytest.mark.parametrize("text", ["", "not json at all", "{", '{"a": '])
def test_no_safe_reading_is_none_or_keeps_what_was_written(text):
    loaded = loads_lenient(text)
    assert loaded is None or all(str(v) in text for v in (loaded[0].values() if isinstance(loaded[0], dict) else []))


def test_balanced_end_skips_braces_inside_either_quote():
    text = '{"a": "}{", \'b\': \'}\'} tail'
    assert text[:balanced_end(text)].endswith("'}'}")
    assert balanced_end('[{"a": 1}, {"b": [2]}] x') == len('[{"a": 1}, {"b": [2]}]')
    assert balanced_end('{"a": "') is None


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False,
                           allow_infinity=False) | TEXT, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(TEXT, inner, max_size=3), max_leaves=8)


@settings(max_examples=examples(150), deadline=None)
@given(st.dictionaries(TEXT, JSON_VALUES, max_size=4), st.booleans())
def test_every_prefix_of_an_object_is_a_partial_and_only_the_whole_is_closed(obj, ascii_only):
    """What a cut call is shown with (``partial_ok``) and how a cut is told (``unclosed``)."""
    from inspector.protocol._json import partial_ok, unclosed
    text = json.dumps(obj, ensure_ascii=ascii_only)
    for k in range(len(text) + 1):
        assert partial_ok(text[:k]), text[:k]
        assert unclosed(text[:k]) == (0 < k < len(text)), text[:k]


@pytest.mark.parametrize("text", ['{"a": 1 2', "{'a': 1", '[1', '{"a" 1', '{"a": tx', '{"a": 1}}', '{"a": "\\q"'])
def test_what_no_completion_can_make_valid_is_not_a_partial(text):
    from inspector.protocol._json import partial_ok
    assert not partial_ok(text)


@pytest.mark.parametrize("text", ['{"command": "rm -rf /', '{"a": {"b": [1, 2', "{'a': 'x", '{"a": tr'])
def test_text_the_model_left_open_has_no_safe_reading(text):
    assert loads_lenient(text) is None, "closing it would choose the value"
