import os

import orjson
import pytest

from inspector.recording import RecordingStore, Redactor, body_for_disk, list_sessions
from inspector.recording._schema import session_dirname, session_id_of


def store(tmp_path, **kw):
    return RecordingStore(tmp_path, **kw)


def test_an_exchange_on_disk(tmp_path):
    s = store(tmp_path)
    w = s.exchange(session_id="abcdef12-3456", id_source="header", client="claude-cli/2.1.328 (x)",
                   kind="messages", meta={"form": "ollama"})
    w.requests({"method": "POST", "path": "/v1/messages", "headers": [("x-api-key", "sk-secret"),
                                                                      ("Authorization", "Bearer t"),
                                                                      ("user-agent", "ua")],
                "body": b'{"model": "m"}'}, None)
    w.response_head("client", 200, [("content-type", "text/event-stream")])
    w.chunk("client", "event: x\ndata: é".encode()[:-1])  # split inside a UTF-8 character
    w.chunk("client", "é\n\n".encode()[1:])
    w.chunk("backend", b"\xff\xfe not utf-8")
    w.finish({"stop_reason": "end_turn"})
    (session,) = list_sessions(tmp_path)
    assert session.name.endswith("_claude-cli-2.1.328_abcdef12-3456")
    assert session.meta["session_id"] == "abcdef12-3456" and session.meta["schema"] == "inspector.recording/2"
    (ex,) = session.exchanges()
    assert ex.ref == f"{session.name}#1" and ex.complete and ex.meta["stop_reason"] == "end_turn"
    assert ex.body("client") == "event: x\ndata: é\n\n".encode()
    assert ex.body("backend") == b"\xff\xfe not utf-8"
    assert ex.response("client")[0] == 200
    headers = dict(ex.client_request["headers"])
    assert headers["x-api-key"] == headers["Authorization"] == "[redacted]" and headers["user-agent"] == "ua"
    assert ex.request_json() == {"model": "m"}
    assert b"sk-secret" not in b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert ex.meta["chunks"] == {"client": {"count": 3, "bytes": 19}, "backend": {"count": 1, "bytes": 12}}


def test_exchange_json_says_incomplete_until_finished(tmp_path):
    w = store(tmp_path).exchange(session_id=None, id_source="none", client="", kind="messages", meta={})
    w.requests({"method": "POST", "path": "/v1/messages", "headers": [], "body": b"{}"}, None)
    w.chunk("backend", b'{"done": false}\n{"do')
    (ex,) = list_sessions(tmp_path)[0].exchanges()
    # Whole lines are on disk as they arrive; an unfinished one waits for its end (or the exchange's).
    assert not ex.complete and ex.body("backend") == b'{"done": false}\n'
    w.finish({})
    (ex,) = list_sessions(tmp_path)[0].exchanges()
    assert ex.complete and ex.body("backend") == b'{"done": false}\n{"do'
    assert list_sessions(tmp_path)[0].meta["id_source"] == "time"


def test_extra_redaction_patterns(tmp_path):
    r = Redactor(["x-*-token", "X-Custom"])
    assert r.headers([("X-Session-Token", "a"), ("x-custom", "b"), ("x-keep", "c")]) == \
        [["X-Session-Token", "[redacted]"], ["x-custom", "[redacted]"], ["x-keep", "c"]]




def test_an_unusable_record_dir_is_reported_once_and_never_raises(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the recordings should go")
    said = []
    s = store(blocker, report=said.append)
    for _ in range(3):
        assert s.exchange(session_id="s", id_source="header", client="c", kind="messages", meta={}) is None
    assert len(said) == 1 and "nothing is being recorded" in said[0]


def test_a_disk_error_mid_exchange_is_reported_and_stops_that_exchange(tmp_path):
    said = []
    w = store(tmp_path, report=said.append).exchange(session_id="s", id_source="header", client="c",
                                                       kind="messages", meta={})
    w.requests({"method": "POST", "path": "/", "headers": [], "body": b""}, None)
    w.path.chmod(0o500) if os.geteuid() else None
    import shutil
    shutil.rmtree(w.path)  # the folder vanishes (disk swapped, cleaned up…)
    w.chunk("client", b"data")
    w.chunk("client", b"more")
    w.finish({})
    assert len(said) == 1 and "traffic is unaffected" in said[0]


@pytest.mark.parametrize("body, encoding", [
    (b'{"a": [1, 2]}', "json"), (b"plain text", "text"), (b"\x00\xff", "base64"), (b"", "empty"),
    (b"{broken", "text"),
])
def test_bodies_are_stored_exactly(body, encoding):
    from inspector.recording import body_bytes
    stored = body_for_disk(body)
    assert stored["encoding"] == encoding
    assert orjson.loads(body_bytes(stored)) == orjson.loads(body) if encoding == "json" else body_bytes(stored) == body


@pytest.mark.parametrize("headers, body, expected", [
    ({"x-claude-code-session-id": "h-1"}, None, ("h-1", "header")),
    ({}, {"metadata": {"user_id": '{"device_id":"d","session_id":"m-2"}'}}, ("m-2", "metadata")),
    ({}, {"metadata": {"user_id": "user_abc_account_x_session_0e3f8e63-7ac0"}}, ("0e3f8e63-7ac0", "metadata")),
    ({}, {"metadata": {"user_id": "plain"}}, (None, "none")),
    ({}, None, (None, "none")),
])
def test_session_ids(headers, body, expected):
    assert session_id_of(headers, body) == expected


def test_session_names_sort_by_time():
    a = session_dirname(1_700_000_000, "claude-cli/2.1.328 (external, cli)", "zzzz")
    b = session_dirname(1_700_000_060, "curl/8", "aaaa")
    assert sorted([b, a]) == [a, b] and a.startswith("20231114T221320Z_claude-cli-2.1.328_")


def _answer(store, sid, text):
    w = store.exchange(session_id=sid, id_source="header" if sid else "none", client="claude-cli/2.1.328",
                       kind="messages", meta={})
    w.requests({"method": "POST", "path": "/v1/messages", "headers": [], "body": b"{}"}, None)
    w.response_head("client", 200, [("content-type", "text/event-stream")])
    return w, text


def test_four_sessions_in_one_second_never_share_a_folder(tmp_path, monkeypatch):
    """Issue 19 #5: two gateways (stores) on one folder, session ids alike in their first 8
    characters, all in one second. Once 4 sessions became 1 folder and 1 exchange whose response
    held all 4 answers; now each session has its folder (one session is one folder, whichever gateway
    records it: issue 21) and each exchange its own answer."""
    import time
    monkeypatch.setattr(time, "time", lambda: 1_795_000_000.5)
    one, two = store(tmp_path), store(tmp_path)
    sessions = [(one, "aaaaaaaa-1111-4000-8000-000000000001"), (one, "aaaaaaaa-2222-4000-8000-000000000002"),
                (two, "aaaaaaaa-1111-4000-8000-000000000001"), (two, "aaaaaaaa-3333-4000-8000-000000000003")]
    writers = [_answer(s, sid, f"answer {n}") for n, (s, sid) in enumerate(sessions)]
    for w, text in writers:  # interleaved, as parallel streams are
        w.chunk("client", f"data: {text}\n\n".encode())
    for w, _ in writers:
        w.finish({})
    found = list_sessions(tmp_path)
    assert len(found) == 3 and len({s.path for s in found}) == 3
    assert sorted(s.name.split("_", 2)[2] for s in found) == [
        "aaaaaaaa-1111-4000-8000-000000000001", "aaaaaaaa-2222-4000-8000-000000000002",
        "aaaaaaaa-3333-4000-8000-000000000003"]
    answers = sorted(ex.body("client").decode() for s in found for ex in s.exchanges())
    assert answers == [f"data: answer {n}\n\n" for n in range(4)]
    shared = next(s for s in found if s.meta["session_id"] == sessions[0][1])
    assert [e.seq for e in shared.exchanges()] == [1, 2], "both gateways' exchanges, numbered apart"
    assert sorted(s.meta["session_id"] for s in found) == sorted({sid for _, sid in sessions})


def test_two_gateways_started_in_one_second_without_session_ids(tmp_path, monkeypatch):
    import time
    monkeypatch.setattr(time, "time", lambda: 1_795_000_000.5)
    writers = [_answer(store(tmp_path), None, f"answer {n}") for n in range(2)]
    for w, text in writers:
        w.chunk("client", f"{text}\n".encode())
        w.finish({})
    found = list_sessions(tmp_path)
    assert [len(s.exchanges()) for s in found] == [1, 1] and found[1].name == found[0].name + "_2"
    assert sorted(s.exchanges()[0].body("client") for s in found) == [b"answer 0\n", b"answer 1\n"]


@pytest.mark.parametrize("sid", ["a" * 80, "a/b", "a b", "..", "sess\u00e9"])
def test_an_odd_session_id_names_a_folder_of_safe_characters_and_keeps_it_apart(sid):
    label = session_dirname(0, "c", sid).split("_", 2)[2]
    assert label.strip("-.") and all(c.isalnum() or c in "._-" for c in label) and len(label) <= 40
    assert label != session_dirname(0, "c", sid + "x").split("_", 2)[2]


def test_a_record_dir_removed_while_recording_is_made_again(tmp_path):
    import shutil
    root = tmp_path / "recordings"
    s = store(root)
    _answer(s, "first-session", "one")[0].finish({})
    shutil.rmtree(root)
    w, _ = _answer(s, "second-session", "two")
    w.finish({})
    assert [x.meta["session_id"] for x in list_sessions(root)] == ["second-session"]
def test_a_session_continues_in_its_folder_after_the_gateway_restarts(tmp_path):
    """Issue 21: Claude Code keeps its session across a gateway restart; the recording (and so the
    viewer's row) does too — the next exchange is numbered on, in the same folder."""
    def one(s, sid, kind="messages"):
        w = s.exchange(session_id=sid, id_source="header", client="claude-cli/2.1.328 (x)", kind=kind, meta={})
        w.requests({"method": "POST", "path": "/v1/messages", "headers": [], "body": b"{}"}, None)
        w.finish({})

    first = store(tmp_path)
    one(first, "abcdef12-3456")
    one(first, "abcdef12-3456")
    other = tmp_path / "29991231T000000Z_claude-cli-2.1.328_abcdef12"  # another session, same id prefix
    other.mkdir()
    (other / "session.json").write_bytes(orjson.dumps({"schema": "inspector.recording/1", "session_id": "abcdef12-9999",
                                                       "started": "2999-12-31T00:00:00.000Z"}))
    restarted = store(tmp_path)
    one(restarted, "abcdef12-3456")
    sessions = {s.meta["session_id"]: s for s in list_sessions(tmp_path)}
    assert len(sessions) == 2, [s.name for s in list_sessions(tmp_path)]
    assert [e.seq for e in sessions["abcdef12-3456"].exchanges()] == [1, 2, 3]
    assert sessions["abcdef12-9999"].exchanges() == [], "never into a folder of another session"
