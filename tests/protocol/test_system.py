from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.protocol import Notes
from inspector.protocol._request import AssistantTurn, SystemTurn, ToolCall, ToolResult, UserTurn
from inspector.protocol._system import merge_system_turns
from inspector.testing.profiles import examples


def merged(*turns):
    notes = Notes()
    return merge_system_turns(list(turns), notes), notes


def test_after_the_users_prompt_it_goes_just_before_the_users_words():
    prompt = UserTurn(texts=["<system-reminder>CLAUDE.md</system-reminder>", "Write hi"])
    out, notes = merged(prompt, SystemTurn("# Environment"), SystemTurn("<total_tokens>9</total_tokens>"))
    assert [t.texts for t in out] == [["<system-reminder>CLAUDE.md</system-reminder>", "# Environment",
                                       "<total_tokens>9</total_tokens>", "Write hi"]]
    assert prompt.texts == ["<system-reminder>CLAUDE.md</system-reminder>", "Write hi"], "the input is not changed"
    assert [n.rule for n in notes] == ["system:merged"] and notes.items[0].count == 2


def test_after_tool_results_it_joins_the_last_result():
    result = UserTurn(tool_results=[ToolResult("t1", "Write", "ok"), ToolResult("t2", "Bash", "done")])
    out, _ = merged(UserTurn(texts=["go"]), AssistantTurn(tool_calls=[ToolCall("t1", "Write", {})]), result,
                    SystemTurn("<total_tokens>5</total_tokens>"))
    assert [r.text for r in out[2].tool_results] == ["ok", "done\n\n<total_tokens>5</total_tokens>"]
    assert result.tool_results[1].text == "done"


def test_after_an_assistant_turn_it_opens_the_next_user_turn_or_stands_alone_at_the_end():
    answer = AssistantTurn(texts=["Hi"])
    out, _ = merged(UserTurn(texts=["a"]), answer, SystemTurn("S"), UserTurn(texts=["b"]))
    assert [type(t).__name__ for t in out] == ["UserTurn", "AssistantTurn", "UserTurn"] and out[2].texts == ["S", "b"]
    out, _ = merged(UserTurn(texts=["a"]), answer, SystemTurn("S"))
    assert isinstance(out[-1], UserTurn) and out[-1].texts == ["S"]
    out, _ = merged(SystemTurn("first"), UserTurn(texts=["a"]))
    assert [t.texts for t in out] == [["first", "a"]]


def test_between_a_call_and_its_result_it_follows_the_result():
    out, _ = merged(UserTurn(texts=["a"]), AssistantTurn(tool_calls=[ToolCall("t1", "Write", {})]), SystemTurn("S"),
                    UserTurn(tool_results=[ToolResult("t1", "Write", "ok")]))
    assert out[2].tool_results[0].text == "ok\n\nS" and not out[2].texts


def test_nothing_to_merge_returns_the_turns_themselves():
    turns = [UserTurn(texts=["a"]), AssistantTurn(texts=["b"])]
    assert merge_system_turns(turns, Notes()) is turns


TURN = st.sampled_from(["user", "assistant", "system", "results"])


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(TURN, min_size=1, max_size=12))
def test_no_system_turn_survives_and_no_two_user_turns_touch(kinds):
    turns = []
    for i, kind in enumerate(kinds):
        if kind == "user":
            turns.append(UserTurn(texts=[f"u{i}"]))
        elif kind == "assistant":
            turns.append(AssistantTurn(texts=[f"a{i}"]))
        elif kind == "results":
            turns.append(UserTurn(tool_results=[ToolResult(f"t{i}", None, f"r{i}")]))
        else:
            turns.append(SystemTurn(f"s{i}"))
    out, _ = merged(*turns)
    assert not any(isinstance(t, SystemTurn) for t in out)
    everything = " ".join(x for t in out
                          for x in getattr(t, "texts", []) + [r.text for r in getattr(t, "tool_results", [])])
    assert all(f"s{i}" in everything for i, k in enumerate(kinds) if k == "system"), "nothing is lost"
    def user_pairs(seq):
        return sum(isinstance(a, UserTurn) and isinstance(b, UserTurn) for a, b in zip(seq, seq[1:]))
    sent = [t for t in turns if not isinstance(t, SystemTurn)]
    assert user_pairs(out) <= user_pairs(sent), "no two user turns in a row that the client did not send so"
