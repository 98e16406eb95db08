import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.protocol._textcalls import Marker, TextCall, TextCallDetector, Thinking
from inspector.testing.profiles import examples

OFFERED = {"Write", "Bash"}
W = {"file_path": "/a", "content": "x"}
LS = {"command": "ls"}

#: (printed, shape, [(name, arguments as the detector hands them on)])
SHAPES = [
    ('<tool_call>\n{"name": "Write", "arguments": {"file_path": "/a", "content": "x"}}\n</tool_call>',
     "tool_call-tag", [("Write", W)]),
    ("<tool_call>{'name': 'Bash', 'arguments': {'command': 'ls',}}</tool_call>", "tool_call-tag", [("Bash", LS)]),
    ('<tool_call>\n{"name": "Bash", "arguments": {"command": "ls"}}\n{"name": "Write", "arguments": '
     '{"file_path": "/a", "content": "x"}}\n</tool_call>', "tool_call-tag", [("Bash", LS), ("Write", W)]),
    ('<tool_call>[{"name": "Bash", "arguments": {"command": "ls"}}, {"name": "Bash", "arguments": '
     '{"command": "ls"}},]</tool_call>', "tool_call-tag", [("Bash", LS), ("Bash", LS)]),
    ('<tool_call>\n<function=Write>\n<parameter=file_path>\n/a\n</parameter>\n<parameter=content>\nx\n'
     '</parameter>\n</function>\n</tool_call>', "function-tag", [("Write", W)]),
    ("<function=Bash><parameter=command>ls</parameter></function>", "function-tag", [("Bash", LS)]),
    ("<function=Bash>\n<parameter=command>\nls\n</parameter>\n</function>\n</tool_call>", "function-tag",
     [("Bash", LS)]),
    ('<function=Bash>{"command": "ls"}</function>', "function-tag", [("Bash", '{"command": "ls"}')]),
    ("<tool_call>Bash\n<arg_key>command</arg_key>\n<arg_value>ls</arg_value>\n</tool_call>", "glm-tag",
     [("Bash", LS)]),
    ('[TOOL_CALLS] [{"name": "Bash", "arguments": {"command": "ls"}, "id": "a1b2c3d4e"}]', "mistral",
     [("Bash", LS)]),
    ('[TOOL_CALLS] [{"name": "Bash", "arguments": {"command": "ls"}}, {"name": "Write", "arguments": '
     '{"file_path": "/a", "content": "x"}}][/TOOL_CALLS]', "mistral", [("Bash", LS), ("Write", W)]),
    ("[TOOL_CALLS][{'name': 'Bash', 'arguments': {'command': 'ls'}}]", "mistral", [("Bash", LS)]),
    ('[TOOL_CALLS]Bash[ARGS]{"command": "ls"}', "mistral", [("Bash", '{"command": "ls"}')]),
    ('[TOOL_CALLS]Bash[CALL_ID]a1b2c3d4e[ARGS]{"command": "ls"}', "mistral", [("Bash", '{"command": "ls"}')]),
    ('[TOOL_CALLS]Bash{"command": "ls"}', "mistral", [("Bash", '{"command": "ls"}')]),
    ('<|python_tag|>{"name": "Bash", "parameters": {"command": "ls"}}<|eom_id|>', "python-tag", [("Bash", LS)]),
    ('<|python_tag|>{"name": "Bash", "parameters": {"command": "ls"}}; {"name": "Bash", "parameters": '
     '{"command": "ls"}}', "python-tag", [("Bash", LS), ("Bash", LS)]),
    ('<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>Bash\n```json\n{"command": "ls"}\n```'
     '<｜tool▁call▁end｜><｜tool▁calls▁end｜>', "deepseek", [("Bash", '{"command": "ls"}')]),
    ('<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>Bash<｜tool▁sep｜>{"command": "ls"}<｜tool▁call▁end｜>'
     '<｜tool▁calls▁end｜><｜end▁of▁sentence｜>', "deepseek", [("Bash", '{"command": "ls"}')]),
    ('<|channel|>commentary to=functions.Bash <|constrain|>json<|message|>{"command": "ls"}<|call|>', "harmony",
     [("Bash", '{"command": "ls"}')]),
    ('<|start|>assistant<|channel|>commentary to=functions.Bash json<|message|>{"command": "ls"}', "harmony",
     [("Bash", '{"command": "ls"}')]),
    ('[{"name": "Bash", "arguments": {"command": "ls"}}, {"name": "Write", "arguments": {"file_path": "/a", '
     '"content": "x"}}]', "json-list", [("Bash", LS), ("Write", W)]),
    ('```json\n{"name": "Bash", "parameters": {"command": "ls"}}\n```', "fenced-json", [("Bash", LS)]),
    ('{"name": "Bash", "arguments": {"command": "ls"}}', "bare-json", [("Bash", LS)]),
    ('{"name": "Bash", "parameters": {"command": "ls"}}', "bare-json", [("Bash", LS)]),
    ('{"type": "function", "name": "Bash", "parameters": {"command": "ls"}}', "bare-json", [("Bash", LS)]),
    ('{"name": "Bash", "parameters": {"command": "ls"}}; {"name": "Bash", "parameters": {"command": "ls"}}',
     "bare-json", [("Bash", LS), ("Bash", LS)]),
]

#: Calls the stream ended inside the wrapper of, their JSON arguments closed: a call (unclosed) unless
#: the answer was truncated — a JSON value that closed is whole.
UNCLOSED = [
    ('<tool_call>\n{"name": "Bash", "arguments": {"command": "ls"}}\n', "tool_call-tag", [("Bash", LS)]),
    ('<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>Bash<｜tool▁sep｜>{"command": "ls"}', "deepseek",
     [("Bash", '{"command": "ls"}')]),
]

#: Calls the answer ended inside of, in every shape: a string, object or list never closed, or
#: key/value markup (Qwen3-coder's parameters, GLM's pairs) whose call never closed — another value
#: could still follow. Never a call, however the answer ended (``(printed, shape, name)``).
CUT = [
    ("<tool_call>\n<function=Write>\n<parameter=file_path>\n/a\n</parameter>\n<parameter=content>\nx\n",
     "function-tag", "Write"),
    ("<function=Write>\n<parameter=file_path>\n/a\n</parameter>\n<parameter=content>\nx\n</parameter>\n",
     "function-tag", "Write"),
    ("<function=Write>\n<parameter=file_path> /a\n<parameter=content>\nx\n", "function-tag", "Write"),
    ("<function=Bash>\n<parameter=command>\nls\n</parameter>\n", "function-tag", "Bash"),
    ('<function=Bash>{"command": "rm -rf /', "function-tag", "Bash"),
    ('<tool_call>\n{"name": "Bash", "arguments": {"command": "rm -rf /', "tool_call-tag", "Bash"),
    ('<tool_call>\n{"name": "Bash", "arguments": {"command": "ls"}', "tool_call-tag", "Bash"),
    ("<tool_call>Bash\n<arg_key>command</arg_key>\n<arg_value>ls</arg_value>\n", "glm-tag", "Bash"),
    ("<tool_call>Bash\n<arg_key>command</arg_key>\n<arg_value>rm -rf /", "glm-tag", "Bash"),
    ('[TOOL_CALLS] [{"name": "Bash", "arguments": {"command": "rm -rf /', "mistral", "Bash"),
    ('[TOOL_CALLS]Bash[ARGS]{"command": "rm -rf /', "mistral", "Bash"),
    ('<|python_tag|>{"name": "Bash", "parameters": {"command": "rm -rf /', "python-tag", "Bash"),
    ('<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>Bash<｜tool▁sep｜>{"command": "rm -rf /', "deepseek", "Bash"),
    ('<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>Bash\n```json\n{"command": "rm -rf /',
     "deepseek", "Bash"),
    ('<|channel|>commentary to=functions.Bash <|constrain|>json<|message|>{"command": "rm -rf /', "harmony", "Bash"),
    ('[{"name": "Bash", "arguments": {"command": "rm -rf /', "json-list", "Bash"),
    ('```json\n{"name": "Bash", "parameters": {"command": "rm -rf /', "bare-json", "Bash"),
    ('{"name": "Bash", "arguments": {"command": 12', "bare-json", "Bash"),
    ('{"name": "Bash", "arguments": {"command": "ls", "background": tr', "bare-json", "Bash"),
]


def run(text: str, cuts=(), names=OFFERED, truncated=False) -> list:
    d = TextCallDetector(names)
    out, last = [], 0
    for c in sorted(set(cuts)):
        out += d.feed(text[last:c])
        last = c
    out += d.feed(text[last:]) + d.flush(truncated=truncated)
    merged: list = []
    for item in out:
        if isinstance(item, str) and merged and isinstance(merged[-1], str):
            merged[-1] += item
        elif isinstance(item, Thinking) and merged and isinstance(merged[-1], Thinking):
            merged[-1] = Thinking(merged[-1].text + item.text)
        else:
            merged.append(item)
    return merged


def calls(out) -> list:
    return [(o.name, o.arguments) for o in out if isinstance(o, TextCall) and not o.cut]


def cuts(out) -> list:
    return [o.name for o in out if isinstance(o, TextCall) and o.cut]


def key(out) -> list:
    return [(o.name, o.arguments, o.raw, o.shape, o.unclosed, o.cut) if isinstance(o, TextCall) else o for o in out]


@pytest.mark.parametrize("printed, shape, expected", SHAPES, ids=[f"{s[1]}-{i}" for i, s in enumerate(SHAPES)])
def test_each_shape_with_prose_around_it(printed, shape, expected):
    out = run(f"Let me do that.\n{printed}\nDone.")
    assert out[0] == "Let me do that.\n" and out[-1] == "\nDone."
    assert calls(out) == expected
    assert {o.shape for o in out if isinstance(o, TextCall)} == {shape}
    assert all(not o.unclosed for o in out if isinstance(o, TextCall))
    assert [o for o in out if isinstance(o, str)] == ["Let me do that.\n", "\nDone."], "no wrapper leftovers"


def test_mistral_wrapper_leaves_nothing_behind():
    """The reported leak: ``[TOOL_CALLS] [, ][/TOOL_CALLS]`` reached the user as text."""
    printed = SHAPES[10][0]
    out = run(printed)
    assert all(isinstance(o, TextCall) for o in out) and len(out) == 2


@pytest.mark.parametrize("printed, shape, expected", UNCLOSED, ids=[f"{u[1]}-{i}" for i, u in enumerate(UNCLOSED)])
def test_a_call_left_open_at_the_end_is_a_call_unless_the_answer_was_cut(printed, shape, expected):
    out = run("Writing it.\n" + printed)
    assert out[0] == "Writing it.\n" and calls(out) == expected
    assert all(o.unclosed and o.shape == shape for o in out if isinstance(o, TextCall))
    d = TextCallDetector(OFFERED)
    out = d.feed(printed) + d.flush(truncated=True)
    assert calls(out) == [] and cuts(out) == [expected[-1][0]] and d.left_open == 1, \
        "a call the token limit cut is never run"


@pytest.mark.parametrize("printed, shape, name", CUT, ids=[f"{c[1]}-{i}" for i, c in enumerate(CUT)])
@pytest.mark.parametrize("truncated", [False, True])
def test_a_call_the_answer_ended_inside_of_is_never_a_call(printed, shape, name, truncated):
    """Closing what the model left open — a string, a bracket, a list of parameters — would be
    choosing its value: ``rm -rf /`` was ``rm -rf /tmp/build`` before the limit."""
    out = run("Writing it.\n" + printed, truncated=truncated)
    assert calls(out) == [] and cuts(out) == [name]
    (cut,) = [o for o in out if isinstance(o, TextCall)]
    assert cut.shape == shape and cut.unclosed
    text = "".join(o for o in out if isinstance(o, str))
    assert ("Writing it.\n" + printed).startswith(text) and text.startswith("Writing it.\n")


@settings(max_examples=examples(400), deadline=None)
@given(st.sampled_from(SHAPES + UNCLOSED + CUT), st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_any_split_finds_the_same_calls_and_loses_nothing(shape, splits):
    text = f"Before {shape[0]}" + ("" if shape in UNCLOSED + CUT else " after")
    whole = run(text)
    split = run(text, [c % (len(text) + 1) for c in splits])
    assert key(split) == key(whole)
    assert calls(whole) == ([] if shape in CUT else shape[2])


PROSE = st.lists(st.sampled_from([
    "The ", "model ", "prints ", "<tool_call>", "</tool_call>", "{", "}", '"name"', ": ", '"Other"', ", ",
    '"arguments"', "```", "```json\n", "\n", "<function=", "Other>", "</function>", "json ", "example ",
    '{"a": 1}', '{"name": "NotOffered", "arguments": {}}', "<parameter=x>", "</parameter>", "'", "text",
    "[TOOL_CALLS]", "[TOOL_CALLS] [", "[/TOOL_CALLS]", "[ARGS]", "[", "]", "[link](url)", "- [ ] task",
    "<|python_tag|>", "import os", "<｜tool▁calls▁begin｜>", "<｜tool▁call▁begin｜>", "<｜tool▁sep｜>",
    "<|channel|>", "commentary to=functions.Other ", "<|message|>", "<|call|>", "<|start|>", "<|end|>",
    '[{"name": "Other", "arguments": {}}]', '{"type": "object"}', "<arg_key>", "<arg_value>", "; ",
    '{"type": "function", "name": "Other"}', "use Bash ", "the Write tool ",
]), max_size=40).map("".join)


@settings(max_examples=examples(400), deadline=None)
@given(PROSE, st.lists(st.integers(min_value=0, max_value=600), max_size=10))
def test_prose_is_never_turned_into_a_call_of_an_offered_tool(text, cuts):
    text = "Here: " + text  # prose first: a leading <think> or harmony channel is markup, not prose
    out = run(text, [c % (len(text) + 1) for c in cuts])
    assert all(isinstance(o, str) for o in out)
    assert "".join(out) == text


def test_a_call_inside_leading_thinking_stays_thinking():
    out = run('<think>I could run <tool_call>{"name": "Bash", "arguments": {"command": "ls"}}</tool_call>'
              '</think>\n\nNo need.')
    assert out == [Marker("<think>", "think-tag"),
                   Thinking('I could run <tool_call>{"name": "Bash", "arguments": {"command": "ls"}}</tool_call>'),
                   "\n\nNo need."]
    after = run('<think>hm</think>{"name": "Bash", "arguments": {"command": "ls"}}')
    assert calls(after) == [("Bash", LS)], "after the thinking, calls are calls again"


def test_thinking_streams_without_waiting_for_its_end():
    d = TextCallDetector(OFFERED)
    assert d.feed("<think>step one, ") == [Marker("<think>", "think-tag"), Thinking("step one, ")]
    assert d.feed("step two</th") == [Thinking("step two")]
    assert d.feed("ink>Answer") == ["Answer"]


def test_think_tag_in_the_middle_of_prose_is_prose():
    assert run("Use a <think> tag.") == ["Use a <think> tag."]


def test_harmony_leftovers_lead_the_answer():
    out = run("<|channel|>analysis<|message|>Need the list.<|end|><|start|>assistant<|channel|>final"
              "<|message|>Here it is.<|return|>", names=set())
    assert out == [Marker("<|channel|>analysis<|message|>", "harmony"), Thinking("Need the list."),
                   Marker("<|start|>assistant<|channel|>final<|message|>", "harmony"), "Here it is."]


def test_glued_constrain_json_in_the_harmony_recipient():
    out = run('<|channel|>commentary to=functions.Bashjson<|message|>{"command": "ls"}<|call|>')
    assert calls(out) == [("Bash", '{"command": "ls"}')]


def test_plain_text_is_released_at_once():
    d = TextCallDetector(OFFERED)
    assert d.feed("Hello there, ") == ["Hello there, "]
    assert d.feed("this is plain. <") == ["this is plain. "]  # only a possible opener is held
    assert d.feed("b>bold</b>") == ["<b>bold</b>"]
    assert d.feed("a {brace} here") == ["a {brace} here"]
    assert d.feed("see [the docs](x) and [ ] ") == ["see [the docs](x) and [ ] "]
    assert d.feed('a schema {"type": "object"} ') == ['a schema {"type": "object"} ']


def test_a_mention_of_a_tag_is_not_held_until_the_end():
    for mention in ("<tool_call> tags when ", "<function=foo> in the docs ", "[TOOL_CALLS] is a token ",
                    "<｜tool▁calls▁begin｜> opens them ", "<|channel|> then "):
        d = TextCallDetector(OFFERED)
        assert "".join(d.feed("Models emit " + mention)) == "Models emit " + mention, mention


def test_a_call_of_a_tool_not_offered_stays_text_as_printed():
    for printed in ('[TOOL_CALLS] [{"name": "Bash", "arguments": {}}, {"name": "Rm", "arguments": {}}]',
                    '<function=Rm>\n<parameter=path>\n/\n</parameter>\n</function>',
                    '<|channel|>commentary to=functions.Rm <|message|>{"path": "/"}<|call|>'):
        assert run(printed) == [printed]


def test_a_bare_object_without_arguments_is_prose():
    """Llama's template always prints "parameters": ``{"name": "Bash"}`` names a tool, it does not call it."""
    for printed in ('{"name": "Bash"}', '[{"name": "Bash"}]', '```json\n{"name": "Write"}\n```'):
        assert run(f"The tool is {printed}.") == [f"The tool is {printed}."]


def test_no_offered_tools_means_no_call_detection():
    assert run(SHAPES[0][0], names=set()) == [SHAPES[0][0]]
