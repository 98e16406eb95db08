import shutil

import orjson
import pytest

from inspector.recording import compare, exchange_view, list_sessions
from inspector.testing.samples import samples_dir

SAMPLES = samples_dir()


def test_consecutive_requests_show_what_claude_code_added():
    session = list_sessions(SAMPLES)[1]
    text = compare(f"{session.name}#1", f"{session.name}#2", root=str(SAMPLES)).text()
    assert '+            "name": "Write",' in text or '"name": "Write"' in text
    assert '+            "type": "tool_use"' in text and '"type": "tool_result"' in text
    assert "<id 1>" in text, "tool ids are normalised"


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
