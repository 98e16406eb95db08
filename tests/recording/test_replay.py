import copy
from pathlib import Path

import orjson
import pytest

from inspector.recording import Match, Miss, ReplayIndex, conversation_key, list_sessions
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
    assert "closest is" in miss.message and "message 1 differs" in miss.message
    assert "Write something else entirely" in miss.message


def test_answers_for_side_traffic_and_garbage():
    index = ReplayIndex(list_sessions(SAMPLES))
    assert orjson.loads(index.answer("POST", "/v1/messages/count_tokens?beta=true",
                                     b'{"model":"m","messages":[]}').body)["input_tokens"] >= 1
    assert index.answer("HEAD", "/api/hello", b"").status == 200
    assert [m["id"] for m in orjson.loads(index.answer("GET", "/v1/models", b"").body)["data"]]
    assert index.answer("POST", "/v1/messages", b"{oops").status == 400
    assert index.answer("GET", "/v1/files", b"").status == 404
