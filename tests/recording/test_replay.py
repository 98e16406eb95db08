import copy
import difflib
import threading

import orjson
import pytest

from inspector.recording import Match, Miss, RecordingStore, ReplayIndex, _replay, conversation_key, list_sessions
from inspector.testing.samples import samples_dir

SAMPLES = samples_dir()


@pytest.fixture
def cc(claude_code_request):
    return orjson.loads(claude_code_request)


def test_volatile_parts_do_not_matter(cc):
    other = copy.deepcopy(cc)
    other["system"][0]["text"] = "x-anthropic-billing-header: cc_version=9; cch=zzz;"
    other["metadata"]["user_id"] = '{"session_id": "another"}'
    other["messages"][1]["content"][0]["text"] = "# Environment\n - Primary working directory: /elsewhere"
    other["model"] = "claude-sonnet-9"
    other["max_tokens"] = 1000
    other["messages"][0]["content"][0]["text"] = "<system-reminder>\nToday is another day\n</system-reminder>"
    assert conversation_key("messages", other) == conversation_key("messages", cc)


def test_what_matters_does(cc):
    other = copy.deepcopy(cc)
    other["messages"][0]["content"][-1]["text"] = "Write bye into bye.txt"
    assert conversation_key("messages", other) != conversation_key("messages", cc)
    quota = {"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "quota"}]}
    assert conversation_key("messages", quota)[0] == "purpose quota"


def test_tool_round_trip_keys_ignore_ids(claude_code_tool_result_request):
    body = orjson.loads(claude_code_tool_result_request)
    key = conversation_key("messages", body)
    assert any(line.startswith("assistant: ") and "tool_use Write" in line for line in key)
    assert any("tool_result" in line for line in key)
    renamed = orjson.loads(claude_code_tool_result_request.replace(b"toolu_01WriteHello", b"call_other"))
    assert conversation_key("messages", renamed) == key


def test_samples_replay_in_order_and_misses_name_the_closest():
    index = ReplayIndex(list_sessions(SAMPLES))
    tool_session = list_sessions(SAMPLES)[1]
    first, second = tool_session.exchanges()
    for ex in (first, second):
        found = index.match(ex.request_json())
        assert isinstance(found, Match) and found.exchange.ref == ex.ref
    body = first.request_json()
    content = body["messages"][0]["content"]
    if isinstance(content, str):
        body["messages"][0]["content"] = "Write something else entirely"
    else:
        content[-1]["text"] = "Write something else entirely"
    miss = index.match(body)
    assert isinstance(miss, Miss) and miss.closest is not None
    assert "closest is" in miss.message and f"closest is {first.ref} " in miss.message
    assert "messages.0 (user) differs" in miss.message
    assert "Write something else entirely" in miss.message and "recorded \"Write 'hello" in miss.message
    assert "Write something else entirely" in miss.public_message and "hello" not in miss.public_message


def test_answers_for_side_traffic_and_garbage():
    index = ReplayIndex(list_sessions(SAMPLES))
    assert orjson.loads(index.answer("POST", "/v1/messages/count_tokens?beta=true",
                                     b'{"model":"m","messages":[]}').body)["input_tokens"] >= 1
    assert index.answer("HEAD", "/api/hello", b"").status == 200
    assert [m["id"] for m in orjson.loads(index.answer("GET", "/v1/models", b"").body)["data"]]
    assert index.answer("POST", "/v1/messages", b"{oops").status == 400
    assert index.answer("GET", "/v1/files", b"").status == 404


def _grown(cc, kb: int, seed: int) -> dict:
    """Claude Code's real request grown with Read round trips to ``kb`` KB of conversation."""
    body = copy.deepcopy(cc)
    n = 0
    while len(orjson.dumps(body["messages"])) < kb * 1000:
        n += 1
        tid = f"toolu_{seed}_{n}"
        body["messages"] += [
            {"role": "assistant", "content": [{"type": "tool_use", "id": tid, "name": "Read",
                                               "input": {"file_path": f"/src/{seed}/{n}.py"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tid,
                                          "content": "\n".join(f"line {seed} {n} {k}" for k in range(60))}]}]
    return body


def _record(root, bodies):
    store = RecordingStore(root)
    for i, body in enumerate(bodies):
        w = store.exchange(session_id=f"{i:08x}-s", id_source="header", client="claude-cli/2.1.328",
                           kind="messages", meta={})
        w.requests({"method": "POST", "path": "/v1/messages", "headers": [], "body": b"", "json": body}, None)
        w.finish({})
    return ReplayIndex(list_sessions(root))


def test_a_miss_on_a_long_conversation_does_line_level_work_not_character_level(cc, tmp_path, monkeypatch):
    # 14.2: the old search ran difflib over the joined conversation's characters (quadratic:
    # a 100 KB conversation took minutes). Now: hashes per line first, a line-level diff for a
    # few candidates only, never a sequence of characters.
    bodies = [_grown(cc, 300, seed) for seed in range(12)]
    index = _record(tmp_path, bodies)
    seen: list[tuple[int, int]] = []
    real = difflib.SequenceMatcher

    def spy(isjunk=None, a="", b="", autojunk=True):
        seen.append((len(a), len(b)))
        return real(isjunk, a, b, autojunk=autojunk)

    monkeypatch.setattr(_replay.difflib, "SequenceMatcher", spy)
    body = copy.deepcopy(bodies[7])
    body["messages"][-1]["content"][0]["content"] += "\none more line"
    miss = index.closest(body)
    lines = len(conversation_key("messages", body))
    assert miss.closest is not None and miss.closest.ref.startswith(index.by_key[conversation_key(
        "messages", bodies[7])][0].ref.split("#")[0])
    assert len(seen) <= _replay.FINE_CANDIDATES and all(max(a, b) <= lines + 1 for a, b in seen)
    # every candidate costs one pass over the request's lines; the finalists a line-level diff
    assert miss.comparisons <= (len(bodies) + 2 * _replay.FINE_CANDIDATES) * (lines + 1)
    assert f"messages.{len(body['messages']) - 1} (user) differs" in miss.message
    assert "one more line" in miss.message and "99% alike" in miss.message


def test_closest_reads_the_index_only_so_threads_may_run_it(cc, tmp_path):
    index = _record(tmp_path, [_grown(cc, 20, seed) for seed in range(3)])
    body = _grown(cc, 20, 9)
    before = (dict(index.used), list(index.by_key))
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(index.closest(body).message)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and (dict(index.used), list(index.by_key)) == before


def test_the_public_message_quotes_no_recorded_text(cc, tmp_path):
    recorded = copy.deepcopy(cc)
    recorded["messages"].append({"role": "assistant", "content": "the recorded SECRET-ish answer"})
    recorded["messages"].append({"role": "user", "content": "and the recorded follow-up"})
    index = _record(tmp_path, [recorded])
    shorter = copy.deepcopy(recorded)
    shorter["messages"] = shorter["messages"][:-1]
    miss = index.match(shorter)
    assert isinstance(miss, Miss)
    assert "the recording goes on with a user message" in miss.public_message
    assert "recorded follow-up" in miss.message and "recorded follow-up" not in miss.public_message
    other = copy.deepcopy(recorded)
    other["messages"][-2]["content"] = "my own answer"
    miss = index.match(other)
    assert "my own answer" in miss.public_message and "SECRET" not in miss.public_message
    assert "SECRET" in miss.message
    answer = index.answer("POST", "/v1/messages", orjson.dumps(other), public=True)
    assert b"SECRET" not in answer.body and "SECRET" in answer.miss
    assert b"SECRET" in index.answer("POST", "/v1/messages", orjson.dumps(other)).body


def test_an_empty_index_and_odd_bodies_still_answer(tmp_path):
    assert "holds no recorded Messages exchange" in ReplayIndex([]).closest({"messages": []}).message
    index = ReplayIndex(list_sessions(SAMPLES))
    for body in ({"messages": "hi"}, {"messages": [5, {"role": "user", "content": [{"type": "text", "text": 5}]}]},
                 {"metadata": "x", "messages": [{"role": "user", "content": None}]}):
        assert isinstance(index.match(body), Miss)
