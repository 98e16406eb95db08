import shutil

import orjson
import pytest

from inspector.recording import compare, condense, exchange_view, list_sessions, view_lines, word_diff
from inspector.testing.samples import samples_dir

SAMPLES = samples_dir()


def test_consecutive_requests_show_what_claude_code_added():
    session = list_sessions(SAMPLES)[1]
    text = compare(f"{session.name}#1", f"{session.name}#2", root=str(SAMPLES)).text()
    assert '+            "name": "Write",' in text or '"name": "Write"' in text
    assert '+            "type": "tool_use"' in text and '"type": "tool_result"' in text
    assert '"<call id>"' in text, "tool ids are normalised"


def test_a_session_equals_itself_and_noise_is_hidden(tmp_path):
    session = list_sessions(SAMPLES)[1]
    copy = tmp_path / (session.name[:-8] + "00000000")
    shutil.copytree(session.path, copy)
    for ex_dir in copy.glob("0*"):
        # A re-run differs in ids, timings, session id and the billing header: noise.
        meta = orjson.loads((ex_dir / "exchange.json").read_bytes())
        meta["timing_ms"]["total"] = 999.0
        (ex_dir / "exchange.json").write_bytes(orjson.dumps(meta))
        raw = (ex_dir / "client-response.jsonl").read_bytes().replace(b"msg_", b"msg_X").replace(b"call_sample",
                                                                                                 b"call_other")
        (ex_dir / "client-response.jsonl").write_bytes(raw)
    assert compare(str(session.path), str(copy)).equal
    assert not compare(str(session.path), str(copy), volatile=True).equal


def test_different_backends_for_the_same_prompt_differ_in_the_answer():
    plain, tool = list_sessions(SAMPLES)[:2]
    result = compare(plain.name, tool.name, root=str(SAMPLES))
    assert not result.equal and len(result.pairs) == 2 and result.pairs[1][0] is None


def test_exchange_view_of_an_error():
    error = list_sessions(SAMPLES)[2].exchanges()[0]
    view = exchange_view(error)
    assert view["status"] == 400 and "ollama pull" in view["response"]["error"]["message"]


def test_unknown_targets_raise():
    with pytest.raises(FileNotFoundError):
        compare("nope", "nope", root=str(SAMPLES))


def _pair(tmp_path, name, a, b):
    """Two sessions of one exchange each, the second a copy of the first with its request edited."""
    source = list_sessions(SAMPLES)[1].exchanges()[0].path
    out = []
    for n, edit in enumerate((a, b)):
        folder = tmp_path / f"{name}{n}" / "0001_messages"
        shutil.copytree(source, folder)
        request = orjson.loads((folder / "client-request.json").read_bytes())
        edit(request["body"]["json"])
        (folder / "client-request.json").write_bytes(orjson.dumps(request))
        out.append(str(folder.parent))
    return out


def test_a_one_word_change_in_a_long_prompt_shows_that_word(tmp_path):
    def system(text):
        return lambda body: body.update(system=[{"type": "text", "text": text}])
    long = " ".join(f"Rule {i}: be precise and kind." for i in range(250))
    assert len(long) > 7000
    a, b = _pair(tmp_path, "long", system(long), system(long.replace("Rule 123: be precise", "Rule 123: be terse")))
    text = compare(a, b).text()
    assert "[-precise-]{+terse+}" in text
    assert len(text) < 1000 and text.count("Rule 1") < 6, "the string is not printed twice"
    (line,) = [ln for ln in text.splitlines() if ln.startswith("~")]
    assert line.lstrip("~ ").startswith('"text": …(+')


def test_a_multi_line_string_is_diffed_line_by_line(tmp_path):
    lines = [f"line {i}: some instruction" for i in range(100)]
    changed = list(lines)
    changed[50] = "line 50: another instruction"

    def system(text):
        return lambda body: body.update(system=text)
    a, b = _pair(tmp_path, "multi", system("\n".join(lines)), system("\n".join(changed)))
    diff = compare(a, b).text().splitlines()
    assert [ln for ln in diff if ln.startswith(("-", "+")) and not ln.startswith(("---", "+++"))] == [
        "-    │ line 50: some instruction", "+    │ line 50: another instruction"]


def test_renumbered_ids_are_not_differences(tmp_path):
    def calls(*ids):
        def edit(body):
            body["messages"] = [{"role": "user", "content": "go"}] + [
                {"role": "assistant", "content": [{"type": "tool_use", "id": i, "name": "Read", "input": {}}]}
                for i in ids]
        return edit
    # The same conversation with other ids: the same. One more call first: only that call differs.
    same_a, same_b = _pair(tmp_path, "ids", calls("toolu_01AAA", "toolu_01BBB"), calls("toolu_01XXX", "toolu_01YYY"))
    assert compare(same_a, same_b).equal
    more_a, more_b = _pair(tmp_path, "more", calls("toolu_01AAA"), calls("toolu_01NEW", "toolu_01AAA"))
    diff = compare(more_a, more_b).text().splitlines()
    added = [ln for ln in diff if ln.startswith("+") and not ln.startswith("+++")]
    assert not [ln for ln in diff if ln.startswith("-") and not ln.startswith("---")]
    assert len(added) == 11 and '+            "id": "<toolu id>",' in added  # the new message, nothing else


def test_view_lines_are_sorted_pretty_json_for_short_values():
    value = {"b": [1, {"z": None, "a": "x"}], "a": {}, "c": "one\ntwo"}
    assert view_lines(value) == orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode().splitlines()


def test_word_diff_and_condense():
    runs = word_diff("the quick brown fox", "the quick red fox")
    assert runs == [("equal", "the quick "), ("delete", "brown"), ("insert", "red"), ("equal", " fox")]
    long = condense([("equal", "x" * 500), ("delete", "a"), ("equal", "y" * 500)], context=10)
    assert long == [("elided", "…(+490 chars)…"), ("equal", "x" * 10), ("delete", "a"), ("equal", "y" * 10),
                    ("elided", "…(+490 chars)…")]
