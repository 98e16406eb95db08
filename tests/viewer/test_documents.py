"""The tabs' documents and the conversation turns, built without Textual running."""

import orjson

from inspector.recording import list_sessions
from inspector.testing.samples import samples_dir
from inspector.viewer.documents import conversation_items, diff_items, json_lines, load_exchange, request_items
from inspector.viewer.turns import conversation

SAMPLES = samples_dir()


def test_json_lines_match_pretty_json_and_fold_long_strings():
    value = {"a": [1, True, None, {}], "b": {"c": "x" * 700, "d": "line\n" * 200}, "e": []}
    lines = json_lines(value, limit=600)
    folded = "\n".join((f or full).plain for full, f in lines)
    assert folded.count("chars, u unfolds)") == 2 and len(folded) < 1600
    full = "\n".join(full.plain for full, _ in lines)
    assert "x" * 700 in full and full.count("\n        line") == 200  # unfolded, a multi-line string reads as lines
    short = json_lines({"a": [1, "two"], "b": {}})
    assert "\n".join(f.plain for f, _ in short) == orjson.dumps({"a": [1, "two"], "b": {}},
                                                                option=orjson.OPT_INDENT_2).decode()


def test_odd_requests_still_give_a_conversation():
    items = conversation_items({"system": 5, "messages": [None, {"role": "tool", "content": 3},
                                                          {"role": "user", "content": [{"type": "image"}]}]},
                               "plain text", [])
    assert [i.tag for i in items] == ["image", "answer"]
    assert conversation_items(None, None, []) and conversation(None, {"error": {"message": "x"}})[0].error


def test_headers_are_one_collapsed_item():
    items = request_items({"method": "POST", "path": "/v1/messages", "headers": [["x-api-key", "[redacted]"]]},
                          {"model": "m"})
    assert items[0].state == "collapsed" and "1 headers" in items[0].collapsed[0].plain
    assert "x-api-key: [redacted]" in items[0].plain


def test_every_tab_of_a_sample_exchange():
    docs = load_exchange(list_sessions(SAMPLES)[1].exchanges()[1])
    assert set(docs.tabs) == {"conversation", "request", "backend", "response", "events", "notes"}
    assert docs.tool_errors == [], "the shipped Write round trip succeeded"
    events = "\n".join(i.plain for i in docs.tabs["events"])
    assert "from the backend: HTTP 200" in events and "to the client: HTTP 200" in events
    notes = "\n".join(i.plain for i in docs.tabs["notes"])
    assert "failed tool results" not in notes and "prompt cache   unknown" in notes


def test_diff_items_fold_equal_stretches_and_pair_changed_lines():
    a = [f"line {i}" for i in range(40)]
    b = list(a)
    b[20] = "line twenty"
    items, changed = diff_items(a, b, ("A", "B"))
    assert changed == 1
    tags = [i.tag for i in items]
    assert tags.count("change") == 1 and tags[0] == "names"
    collapsed = [i for i in items if i.state == "collapsed"]
    assert [c.collapsed[0].plain for c in collapsed] == ["⋯ 17 equal lines (Enter shows them)",
                                                         "⋯ 16 equal lines (Enter shows them)"]
    change = next(i for i in items if i.tag == "change")
    assert [t.plain for t in change.full] == ["line 20", "line twenty"]
    assert diff_items(a, a, ("A", "B"))[1] == 0
