"""14.13: every consumer of recordings opens recordings of the wrong shape, says what is wrong, goes on."""

import orjson
import pytest

from inspector.cli import main
from inspector.recording import (
    ReplayIndex,
    exchange_view,
    list_sessions,
    readable_request,
    readable_response,
    response_message,
    session_to_har,
    toolcall_report,
)
from inspector.testing.bad_recordings import SHAPES, bad_session

EXPECTED = {  # a problem each shape must be reported with
    "gateway-400": "client request: messages is a string, not a list",
    "jsonl-5": "client-response.jsonl line 3 is an integer, not a chunk",
    "bad-base64": "b64 is not base64",
    "text-5": "text must be a string, not an integer",
    "wrong-types": "exchange.json: model must be an object, not a string",
    "request-list": "client-request.json is a list, not an object",
    "bad-blocks": "messages.2.content.1.text is an integer, not a string",
}


def err(capsys) -> str:
    return " ".join(capsys.readouterr().err.split())


@pytest.fixture
def bad(tmp_path):
    root = tmp_path / "recordings"
    paths = bad_session(root)
    (session,) = list_sessions(root)
    return root, session, paths


def test_the_reader_flags_each_shape_and_reads_the_rest(bad):
    root, session, paths = bad
    assert session.meta.get("corrupt") == "session.json is a list, not an object"
    exchanges = {ex.path: ex for ex in session.exchanges()}
    for shape in SHAPES:
        ex = exchanges[paths[shape]]
        meta = ex.meta
        assert isinstance(meta.get("model") or {}, dict) and isinstance(meta.get("notes") or [], list)
        status, headers, chunks = ex.response("client")
        assert status is None or isinstance(status, int)
        assert all(isinstance(c.data, bytes) for c in chunks)
        readable = ex.readable_request()
        assert isinstance(readable.get("messages", []), list)
        readable_response(response_message(ex), ex.problems)
        exchange_view(ex)
        assert any(EXPECTED[shape] in p for p in ex.problems), (shape, ex.problems)
        assert not ex.complete
    ok = exchanges[paths["jsonl-5"]]
    assert ok.response("client")[0] == 200 and ok.body().startswith(b"event: message_start")
    wrong = exchanges[paths["wrong-types"]].meta
    assert wrong["model"] == {} and wrong["usage"] == {} and wrong["tool_calls"] == [] and wrong["seq"] == 5
    assert [n["kind"] for n in wrong["notes"]] == [] and wrong["timing_ms"] == {} and wrong["status"] == {}
    assert wrong["complete"] is False and wrong["kind"] == "messages"


def test_readable_request_of_any_json():
    for value in (None, 5, "hi", [], {"messages": {"a": 1}}, {"system": [5, {"type": "text", "text": 1}]}):
        problems = []
        out = readable_request(value, problems)
        assert isinstance(out, dict) and isinstance(out.get("messages", []), list)
        assert problems or value is None


def test_har_toolcalls_replay_and_diff_take_them(bad, tmp_path, capsys):
    root, session, paths = bad
    har = session_to_har(session)
    clients = [e for e in har["log"]["entries"] if "the client's request" in e["comment"]]
    assert len(clients) == len(SHAPES) - 1  # the one whose request is a list has no request
    assert any("problems reading the recording" in e["comment"] for e in har["log"]["entries"])
    assert sum(s.turns for s in toolcall_report(root)) >= 1
    index = ReplayIndex([session])
    assert index.count >= 4
    other = {"model": "m", "messages": [{"role": "user", "content": "zzz"}]}
    assert index.answer("POST", "/v1/messages", orjson.dumps(other)).status == 400
    out = tmp_path / "bad.har"
    assert main(["export", "--har", str(session.path), "-o", str(out)]) == 0
    assert orjson.loads(out.read_bytes())["log"]["entries"]
    assert main(["toolcalls", str(root)]) == 0
    for a, b in ((1, 7), (5, 6), (2, 3)):
        assert main(["diff", f"{session.path}#{a}", f"{session.path}#{b}", "--text"]) in (0, 1)
    capsys.readouterr()


def test_the_cli_refuses_folders_that_are_not_recordings(tmp_path, capsys):
    etc = tmp_path / "etc"
    (etc / "ssl").mkdir(parents=True)
    (etc / "hosts").write_text("127.0.0.1 localhost\n")
    out = tmp_path / "x.har"
    assert main(["export", "--har", str(etc), "-o", str(out)]) == 2 and not out.exists()
    assert "is not a recorded session" in err(capsys)
    assert main(["toolcalls", str(etc)]) == 2
    assert "not a folder of recordings" in err(capsys)
    assert main(["view", str(etc)]) == 2
    assert main(["replay", str(etc), "--dry-run"]) == 2
    assert main(["diff", str(etc), str(etc), "--text"]) == 2
    assert main(["diff", "x#x", "y", "--text"]) == 2
    assert "must be an exchange number" in err(capsys)
    empty = tmp_path / "fresh"
    empty.mkdir()
    assert main(["toolcalls", str(empty)]) == 0, "an empty recording folder is one nothing was recorded into yet"


def test_a_diff_that_fails_exits_2(bad, monkeypatch, capsys):
    root, session, paths = bad
    import inspector.recording._diff as diff

    def broken(*a, **kw):
        raise OSError("disk gone")

    monkeypatch.setattr(diff, "exchange_view", broken)
    assert main(["diff", f"{session.path}#2", f"{session.path}#3", "--text"]) == 2
    assert "disk gone" in err(capsys)
