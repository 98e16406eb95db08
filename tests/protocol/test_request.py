import orjson
import pytest

from inspector.protocol import InvalidRequest, parse_request
from inspector.protocol._request import AssistantTurn, SystemTurn, UserTurn


def req(**kw):
    body = {"model": "claude-x", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    body.update(kw)
    return parse_request(orjson.dumps(body))


@pytest.mark.parametrize("body, message", [
    (b"", "empty"),
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"messages": []}', "model"),
    (b'{"model": "m"}', "messages"),
    (b'{"model": "m", "messages": [], "max_tokens": -1}', "max_tokens"),
    (b'{"model": "m", "messages": [{"role": "robot", "content": "x"}]}', "role"),
    (b'{"model": "m", "messages": [{"role": "user", "content": 5}]}', "content"),
    (b'{"model": "m", "messages": [{"role": "user", "content": [{"type": "tool_result"}]}]}', "tool_use_id"),
])
def test_invalid_requests_say_what_is_wrong(body, message):
    with pytest.raises(InvalidRequest, match=message):
        parse_request(body)


def test_system_string_and_blocks_billing_header_dropped():
    assert req(system="Be brief.").system == "Be brief."
    r = req(system=[{"type": "text", "text": "x-anthropic-billing-header: cc_version=1; cch=abc;"},
                    {"type": "text", "text": "A", "cache_control": {"type": "ephemeral"}},
                    {"type": "text", "text": "B"}])
    assert r.system == "A\n\nB"
    messages = [str(n) for n in r.notes]
    assert any("billing-header" in m for m in messages)
    assert any("cache_control" in m for m in messages)


def test_mid_conversation_system_messages_are_kept_in_place():
    r = req(messages=[{"role": "user", "content": "a"},
                      {"role": "system", "content": [{"type": "text", "text": "<total_tokens>9</total_tokens>"}]},
                      {"role": "assistant", "content": "b"}])
    assert [type(t) for t in r.turns] == [UserTurn, SystemTurn, AssistantTurn]
    assert r.turns[1].text == "<total_tokens>9</total_tokens>"


def test_tool_round_trip_turns():
    r = req(messages=[
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "plan", "signature": "s"},
            {"type": "text", "text": "Running."},
            {"type": "tool_use", "id": "toolu_A", "name": "Bash", "input": {"command": "ls"}},
            {"type": "tool_use", "id": "toolu_B", "name": "Read", "input": {"file_path": "/x"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_A", "content": "a.txt"},
            {"type": "tool_result", "tool_use_id": "toolu_B", "is_error": True,
             "content": [{"type": "text", "text": "no such file"},
                         {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}}]},
            {"type": "text", "text": "thanks"}]},
    ])
    assistant, user = r.turns[1], r.turns[2]
    assert assistant.thinking == ["plan"] and assistant.texts == ["Running."]
    assert [(c.id, c.name) for c in assistant.tool_calls] == [("toolu_A", "Bash"), ("toolu_B", "Read")]
    a, b = user.tool_results
    assert (a.name, a.text, a.is_error) == ("Bash", "a.txt", False)
    assert (b.name, b.text, b.is_error, b.images[0].data) == ("Read", "no such file", True, "iVBOR")
    assert user.texts == ["thanks"]


def test_server_tools_and_anthropic_only_fields_are_dropped_with_notes(claude_code_request):
    r = parse_request(claude_code_request)
    names = [t["name"] for t in r.tools]
    assert "Write" in names and "Bash" in names
    notes = " | ".join(str(n) for n in r.notes)
    for expected in ("output_config", "billing-header", "cache_control"):
        assert expected in notes
    assert any(isinstance(t, SystemTurn) for t in r.turns), "Claude Code's mid-conversation system message"
    r2 = req(tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
                    {"name": "Write", "input_schema": {"type": "object"}}])
    assert [t["name"] for t in r2.tools] == ["Write"]
    assert any("web_search" in str(n) for n in r2.notes)


def test_estimate_ignores_image_bytes():
    small = req().estimated_input_tokens
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "A" * 400_000}}
    big = req(messages=[{"role": "user", "content": [image, {"type": "text", "text": "hi"}]}])
    assert 1600 <= big.estimated_input_tokens - small <= 1700


def test_an_assistant_turns_blocks_keep_their_order_and_thinking_its_signature():
    req = parse_request(orjson.dumps({"model": "m", "max_tokens": 10, "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "first", "signature": "sig-a"},
            {"type": "text", "text": "Calling."},
            {"type": "tool_use", "id": "t1", "name": "Read", "input": {}},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "tool_use", "id": "t2", "name": "Read", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "a"},
                                     {"type": "tool_result", "tool_use_id": "t2", "content": "b"}]}]}))
    turn = next(t for t in req.turns if isinstance(t, AssistantTurn))
    kinds = [type(p).__name__ if not isinstance(p, str) else "text" for p in turn.parts]
    assert kinds == ["Reasoning", "text", "ToolCall", "Reasoning", "ToolCall"]
    assert [(r.text, r.signature, r.data) for r in turn.reasoning] == [("first", "sig-a", ""), ("", "", "opaque")]
    assert turn.thinking == ["first"] and [c.id for c in turn.tool_calls] == ["t1", "t2"]
