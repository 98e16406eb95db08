"""Issue 19 #10: the recorder never writes through a symlink someone else planted, and refuses a
recording folder others control; what it creates is owner-only."""

import os
import stat
import time

import pytest

from inspector.recording import RecordingStore, list_sessions
from inspector.recording._private import record_dir_problem
from inspector.recording._schema import session_dirname

T = 1_795_000_000.5
SID = "5e55104d-aaaa-4bbb-8ccc-dddddddddddd"
CLIENT = "claude-cli/2.1.328"
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")


def record(root, said=None):
    store = RecordingStore(root, report=(said.append if said is not None else lambda m: None))
    w = store.exchange(session_id=SID, id_source="header", client=CLIENT, kind="messages", meta={})
    if w is None:
        return None
    w.requests({"method": "POST", "path": "/v1/messages", "headers": [], "body": b'{"model": "m"}'}, None)
    w.response_head("client", 200, [("content-type", "application/json")])
    w.chunk("client", b'{"type": "message"}\n')
    w.finish({})
    return w


def files(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_a_symlink_planted_where_a_session_will_be_is_never_written_through(tmp_path, monkeypatch):
    monkeypatch.setattr(time, "time", lambda: T)
    root, outside = tmp_path / "recordings", tmp_path / "outside"
    root.mkdir(mode=0o700)
    (outside / "0001_messages").mkdir(parents=True)
    victim = outside / "0001_messages" / "client-request.json"
    victim.write_text("someone's file")
    name = session_dirname(T, CLIENT, SID)  # names are predictable: a time and an id
    (root / name).symlink_to(outside)
    assert record(root) is not None
    assert victim.read_text() == "someone's file"
    assert files(outside) == ["0001_messages", "0001_messages/client-request.json"], "nothing written there"
    (session,) = [s for s in list_sessions(root) if s.name != name]
    assert session.name == name + "_2" and session.exchanges()[0].body("client") == b'{"type": "message"}\n'
    assert (root / name).is_symlink(), "left as it was"


def test_what_the_recorder_creates_is_owner_only(tmp_path):
    assert record(tmp_path / "new" / "recordings") is not None
    root = tmp_path / "new" / "recordings"
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    for p in root.rglob("*"):
        assert stat.S_IMODE(p.lstat().st_mode) == (0o700 if p.is_dir() else 0o600), p


@pytest.mark.parametrize("mode", [0o777, 0o773])
def test_a_folder_everyone_may_write_to_is_refused_unless_sticky(tmp_path, mode):
    root = tmp_path / "shared"
    root.mkdir()
    root.chmod(mode)
    said: list[str] = []
    store = RecordingStore(root, report=said.append)
    for _ in range(2):
        assert store.exchange(session_id=SID, id_source="header", client=CLIENT, kind="messages", meta={}) is None
    assert os.listdir(root) == []
    assert len(said) == 1 and "writable by others (everyone may write to it" in said[0], said
    assert "nothing is being recorded" in said[0]
    root.chmod(mode | stat.S_ISVTX)  # /tmp's way: an entry is renamed or removed only by its owner
    assert record_dir_problem(root) is None and record(root) is not None


def test_a_world_writable_folder_on_the_way_is_refused(tmp_path):
    (tmp_path / "open").mkdir()
    (tmp_path / "open").chmod(0o777)  # others could rename "recordings" and put theirs in its place
    assert "open is writable by others" in (record_dir_problem(tmp_path / "open" / "recordings") or "")


@as_root
def test_a_symlink_another_user_owns_is_refused_ours_is_followed(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    theirs = tmp_path / "theirs"
    theirs.symlink_to(real)
    os.lchown(theirs, 12345, 12345)
    said: list[str] = []
    assert record(theirs / "recordings", said) is None
    assert "theirs is a symlink owned by another user (uid 12345)" in said[0] and files(real) == []
    mine = tmp_path / "mine"
    mine.symlink_to(real)  # a user's own link (recordings → a bigger disk) is theirs to make
    assert record(mine / "recordings") is not None and len(list_sessions(real / "recordings")) == 1


@as_root
def test_a_record_dir_of_another_user_is_refused(tmp_path):
    root = tmp_path / "recordings"
    root.mkdir(mode=0o700)
    os.chown(root, 12345, 12345)
    said: list[str] = []
    assert record(root, said) is None and "belongs to another user (uid 12345)" in said[0]
