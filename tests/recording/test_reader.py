
import pytest

from inspector.recording import list_sessions, open_target
from inspector.testing.samples import samples_dir

SAMPLES = samples_dir()


def test_samples_list_lazily_and_read():
    sessions = list_sessions(SAMPLES)
    assert len(sessions) == 3
    forms = [s.exchanges()[0].meta["form"] for s in sessions]
    assert forms == ["ollama", "openai", "ollama"]
    tool = sessions[1].exchanges()
    assert [e.meta["stop_reason"] for e in tool] == ["tool_use", "end_turn"]
    assert tool[0].meta["tool_calls"][0]["name"] == "Write"
    assert all(e.complete for s in sessions for e in s.exchanges())


def test_a_truncated_chunk_log_and_a_corrupt_meta_are_reported_not_fatal(tmp_path):
    import shutil
    session = list_sessions(SAMPLES)[0]
    copy = tmp_path / session.name
    shutil.copytree(session.path, copy)
    ex_dir = next(p for p in copy.iterdir() if p.is_dir())
    log = ex_dir / "client-response.jsonl"
    log.write_bytes(log.read_bytes()[:-30])  # a gateway killed mid-line
    (ex_dir / "exchange.json").write_text("{ not json")
    (ex := list_sessions(tmp_path)[0].exchanges()[0])
    assert not ex.complete and ex.meta.get("corrupt")
    status, _, chunks = ex.response("client")
    assert status == 200 and chunks
    assert any("truncated" in p for p in ex.problems) and any("exchange.json" in p for p in ex.problems)


def test_open_target_by_name_substring_and_number():
    session = list_sessions(SAMPLES)[1]
    s, ex = open_target(session.name.split("_")[-1] + "#2", SAMPLES)
    assert s.path == session.path and ex.seq == 2
    with pytest.raises(FileNotFoundError, match="no exchange #9"):
        open_target(session.name + "#9", SAMPLES)
    with pytest.raises(FileNotFoundError, match="no session"):
        open_target("nothing-like-it", SAMPLES)
