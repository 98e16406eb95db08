"""Never reorder, never drop what the model must see (issue 20 §2): the request side."""

import json

import orjson
import pytest

from inspector.protocol import (
    InvalidRequest,
    TranslateOptions,
    count_tokens,
    ollama_request,
    openai_request,
    parse_request,
    validate_request,
)

IMG = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}}


def body(**kw):
    b = {"model": "claude-x", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    b.update(kw)
    return b


def roles(messages) -> list[str]:
    return [m["role"] for m in messages]


def test_max_tokens_is_required_on_messages_not_on_count_tokens():
    no_max = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    for check in (parse_request, validate_request):
        with pytest.raises(InvalidRequest, match="max_tokens: field required"):
            check(orjson.dumps(no_max))
    assert count_tokens(orjson.dumps(no_max))["input_tokens"] >= 1
    assert parse_request(no_max, endpoint="count_tokens").max_tokens is None
    assert validate_request(no_max, endpoint="count_tokens") == no_max


def test_text_and_images_keep_the_clients_order_in_openai_form():
    r = parse_request(body(messages=[{"role": "user", "content": [
        {"type": "text", "text": "Compare this one"}, IMG, {"type": "text", "text": "with this one"},
        {**IMG, "source": {**IMG["source"], "data": "SECOND"}}, {"type": "text", "text": "Which is bigger?"}]}]))
    parts = openai_request(r, model="m")["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url", "text", "image_url", "text"]
    assert [p.get("text") or p["image_url"]["url"].rsplit(",", 1)[1] for p in parts] == [
        "Compare this one", "iVBOR", "with this one", "SECOND", "Which is bigger?"]


def test_a_late_system_message_merged_into_a_turn_leaves_its_images_where_they_were():
    r = parse_request(body(messages=[
        {"role": "user", "content": [IMG, {"type": "text", "text": "What is in it?"}]},
        {"role": "system", "content": "<env>linux</env>"}]))
    parts = openai_request(r, model="m")["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["image_url", "text", "text"]
    assert [p["text"] for p in parts[1:]] == ["<env>linux</env>", "What is in it?"], "the user's words stay last"


@pytest.mark.parametrize("build", [openai_request, ollama_request])
def test_an_assistant_turn_of_thinking_only_keeps_the_roles_alternating(build):
    r = parse_request(body(messages=[
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "hmm", "signature": "s"}]},
        {"role": "user", "content": "second"}]))
    messages = build(r, model="m", options=TranslateOptions())["messages"]
    assert roles(messages) == ["user", "assistant", "user"]
    assert messages[1]["content"] == ""
    if build is openai_request:
        assert any(n.rule == "turn:empty-assistant" for n in r.notes)


def _claude_code(claude_code_request: bytes) -> dict:
    return json.loads(claude_code_request)


def test_a_deferred_tool_is_kept_from_the_model_and_the_tokens_saved_are_reported(claude_code_request):
    """Claude Code 2.1.328 sends DeferredToolPlaceholder with defer_loading: true."""
    r = parse_request(claude_code_request)
    assert "DeferredToolPlaceholder" not in r.tool_names and "Write" in r.tool_names
    assert r.deferred == ["DeferredToolPlaceholder"] and r.deferred_tokens > 0
    (note,) = [n for n in r.notes if n.rule == "tools:deferred"]
    assert f"≈{r.deferred_tokens:,} tokens" in note.message
    for build in (openai_request, ollama_request):
        sent = build(parse_request(claude_code_request), model="m", options=TranslateOptions())
        assert "DeferredToolPlaceholder" not in json.dumps(sent["tools"])


def test_a_tool_reference_loads_its_deferred_tool_and_reads_as_text():
    mcp = {"name": "mcp__github__create_issue", "description": "Open an issue",
           "input_schema": {"type": "object", "properties": {"title": {"type": "string"}}}, "defer_loading": True}
    other = {**mcp, "name": "mcp__github__close_issue"}
    tools = [{"name": "ToolSearch", "input_schema": {"type": "object"}}, mcp, other]
    messages = [
        {"role": "user", "content": "open an issue"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "ToolSearch",
                                           "input": {"query": "issue"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [
            {"type": "tool_reference", "tool_name": "mcp__github__create_issue"}]}]}]
    r = parse_request(body(tools=tools, messages=messages))
    assert r.tool_names == {"ToolSearch", "mcp__github__create_issue"} and r.deferred == ["mcp__github__close_issue"]
    sent = openai_request(r, model="m")
    tool_message = next(m for m in sent["messages"] if m["role"] == "tool")
    assert "mcp__github__create_issue" in tool_message["content"] and "loaded" in tool_message["content"]
    assert not any(n.message.startswith("tool_reference block") for n in r.notes), "not dropped any more"
    chosen = parse_request(body(tools=tools, tool_choice={"type": "tool", "name": "mcp__github__close_issue"}))
    assert "mcp__github__close_issue" in chosen.tool_names, "a tool the client forces is shown"


def _thinking_turns(n: int) -> list[dict]:
    out = []
    for i in range(n):
        out += [{"role": "user", "content": f"q{i}"},
                {"role": "assistant", "content": [{"type": "thinking", "thinking": f"think {i}", "signature": "s"},
                                                  {"type": "text", "text": f"a{i}"}]}]
    return out + [{"role": "user", "content": "last"}]


@pytest.mark.parametrize("keep, kept", [("all", ["think 0", "think 1", "think 2"]),
                                        ({"type": "thinking_turns", "value": 1}, ["think 2"]),
                                        (None, ["think 2"]),
                                        ({"type": "thinking_turns", "value": 0}, [])])
def test_clear_thinking_is_applied_as_anthropic_applies_it(keep, kept):
    edit = {"type": "clear_thinking_20251015"} | ({} if keep is None else {"keep": keep})
    r = parse_request(body(messages=_thinking_turns(3), context_management={"edits": [edit]}))
    sent = ollama_request(r, model="m", options=TranslateOptions())["messages"]
    assert [m["thinking"] for m in sent if m.get("thinking")] == kept
    assert any(n.rule == "context:clear-thinking" for n in r.notes) == (len(kept) < 3)


def _tool_turns(n: int, size: int = 4000) -> list[dict]:
    out: list[dict] = [{"role": "user", "content": "go"}]
    for i in range(n):
        name = "Read" if i % 2 else "Bash"
        out += [{"role": "assistant", "content": [{"type": "tool_use", "id": f"t{i}", "name": name,
                                                   "input": {"arg": f"value {i}"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"t{i}", "content": "x" * size}]}]
    return out


def test_clear_tool_uses_clears_the_oldest_results_once_the_trigger_is_passed():
    edit = {"type": "clear_tool_uses_20250919", "trigger": {"type": "input_tokens", "value": 2000},
            "keep": {"type": "tool_uses", "value": 2}, "exclude_tools": ["Read"], "clear_tool_inputs": True}
    r = parse_request(body(messages=_tool_turns(6), context_management={"edits": [edit]}))
    sent = openai_request(r, model="m")["messages"]
    results = [m["content"] for m in sent if m["role"] == "tool"]
    cleared = [i for i, c in enumerate(results) if "cleared by context management" in c]
    assert cleared == [0, 2], "Bash uses t0, t2 cleared; t4 is among the last two kept; Read is excluded"
    calls = [c for m in sent if m.get("tool_calls") for c in m["tool_calls"]]
    assert [json.loads(c["function"]["arguments"]) for c in calls][:3] == [{}, {"arg": "value 1"}, {}]
    assert any(n.rule == "context:clear-tool-uses" for n in r.notes)
    below = parse_request(body(messages=_tool_turns(6), context_management={"edits": [
        {**edit, "trigger": {"type": "input_tokens", "value": 10**9}}]}))
    assert not any("cleared" in m["content"] for m in openai_request(below, model="m")["messages"]
                   if m["role"] == "tool")
    not_enough = parse_request(body(messages=_tool_turns(6), context_management={"edits": [
        {**edit, "clear_at_least": {"type": "input_tokens", "value": 10**6}}]}))
    assert not any("cleared by" in m["content"] for m in openai_request(not_enough, model="m")["messages"]
                   if m["role"] == "tool")
    assert any("nothing cleared" in n.message for n in not_enough.notes)


def test_an_edit_the_gateway_cannot_apply_is_noted(claude_code_request):
    r = parse_request(body(context_management={"edits": [{"type": "compact_20260112"}]}))
    assert any(n.rule == "context:unsupported" and "compact_20260112" in n.message for n in r.notes)
    cc = parse_request(claude_code_request)  # keep: "all": nothing to apply, nothing to say
    assert not [n for n in cc.notes if (n.rule or "").startswith("context:")]


def test_recordings_made_before_deferred_tools_were_hidden_re_translate_as_made(claude_code_request):
    """Their ``translate_options`` predate ``deferred_tools``: they re-translate with the tools shown."""
    old = TranslateOptions.recorded({"num_ctx": 65536, "system_messages": "merge", "repair": True})
    assert old.deferred_tools == "show" and old.num_ctx == 65536
    assert TranslateOptions.recorded({"deferred_tools": "hide"}).deferred_tools == "hide"
    for build in (openai_request, ollama_request):
        shown = build(parse_request(claude_code_request), model="m", options=old)
        assert "DeferredToolPlaceholder" in json.dumps(shown["tools"])
