from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.protocol import AnthropicStreamObserver, stream_problems
from inspector.testing.profiles import examples
from inspector.testing.sdk import accumulate

FIXTURES = Path(__file__).parent.parent / "data" / "anthropic"
COMPLETE = ["basic_response.txt", "tool_use_response.txt", "stream-a-refusal.sse", "stream-a-toolrefusal.sse",
            "stream-b-fallback.sse", "refusal_response.txt", "fallback_response.txt"]


def observe(raw: bytes, cuts=()):
    obs = AnthropicStreamObserver(backend="http://b")
    out, last = b"", 0
    for c in sorted(set(cuts)):
        out += obs.feed(raw[last:c])
        last = c
    return obs, out + obs.feed(raw[last:]) + obs.flush()


@pytest.mark.parametrize("name", COMPLETE)
def test_real_streams_pass_through_byte_for_byte(name):
    raw = (FIXTURES / name).read_bytes()
    obs, out = observe(raw)
    assert out == raw
    assert obs.finished and obs.error is None
    assert accumulate(out).model_dump(warnings=False) == accumulate(raw).model_dump(warnings=False)


@settings(max_examples=examples(40), deadline=None)
@given(st.sampled_from(COMPLETE), st.lists(st.integers(min_value=0, max_value=5000), max_size=15))
def test_any_split_is_still_untouched(name, cuts):
    raw = (FIXTURES / name).read_bytes()
    assert observe(raw, [c % (len(raw) + 1) for c in cuts])[1] == raw


def test_observer_reads_stop_reason_usage_and_tools():
    obs, _ = observe((FIXTURES / "tool_use_response.txt").read_bytes())
    result = obs.result()
    assert result.stop_reason == "tool_use" and result.message_id and result.message_id.startswith("msg_")
    assert [c["name"] for c in result.tool_calls] == ["get_weather"]
    assert result.tool_calls[0]["input"] == accumulate((FIXTURES / "tool_use_response.txt").read_bytes()).content[-1].input
    assert result.usage["input_tokens"] == 377 and result.usage["output_tokens"] > 1


@pytest.mark.parametrize("ending", ["flush", "interrupt"])
def test_a_stream_cut_mid_event_ends_after_a_clean_event_boundary(ending):
    """The half event is held back (it is in the recording), so the error event never glues onto it."""
    raw = (FIXTURES / "tool_use_response.txt").read_bytes()
    cut = raw[: len(raw) // 2]
    assert not cut.endswith(b"\n\n")
    obs = AnthropicStreamObserver(backend="http://b")
    out = obs.feed(cut)
    assert out and cut.startswith(out) and out.endswith(b"\n\n"), "only whole events are passed on"
    end = obs.flush() if ending == "flush" else obs.interrupt("connection reset")
    assert end.startswith(b"event: error\n") and obs.error is not None and obs.cut
    assert stream_problems(out + end, strict=False) == []
    with pytest.raises(Exception, match="cut"):
        accumulate(out + end)


def test_keepalives_only_between_events():
    raw = (FIXTURES / "basic_response.txt").read_bytes()
    obs = AnthropicStreamObserver()
    first = raw.index(b"\n\n") + 2
    obs.feed(raw[: first + 5])
    assert obs.keepalive() == b"", "mid-event: nothing may be inserted"
    obs.feed(raw[first + 5: raw.index(b"\n\n", first) + 2])
    assert obs.keepalive() == b'event: ping\ndata: {"type":"ping"}\n\n', "the contract's ping, between events"


def test_anthropic_usage_is_already_disjoint():
    from inspector.protocol import ANTHROPIC
    u = ANTHROPIC.read_usage({"usage": {"input_tokens": 200, "cache_read_input_tokens": 11_800,
                                        "cache_creation_input_tokens": 50, "output_tokens": 57}})
    assert (u.prompt_tokens, u.cached_tokens, u.cache_write_tokens, u.input_tokens) == (12_050, 11_800, 50, 200)
    assert ANTHROPIC.read_usage({}) is None


def test_the_observer_reports_what_the_stream_said_about_the_cache():
    from inspector.protocol import AnthropicStreamObserver
    from inspector.testing.backends import Reply, anthropic_chunks
    obs = AnthropicStreamObserver()
    obs.use_input_count(999)  # the backend's own message_start goes through untouched
    out = b"".join(obs.feed(c) for c in anthropic_chunks(Reply(text="hi", prompt_tokens=30), "m", True))
    assert b'"input_tokens": 30' in out and obs.result().backend.prompt_tokens == 30


def test_the_apis_own_cut_inside_a_tool_call_is_no_call():
    """Anthropic's answer cut inside a tool call (the SDK's recorded fixture): the open block is marked
    cut, its partial arguments kept to show, and it is not among the answer's tool calls."""
    raw = (FIXTURES / "incomplete_partial_json_response.txt").read_bytes()
    obs, out = observe(raw)
    assert out == raw and obs.result().stop_reason == "max_tokens" and obs.result().tool_calls == []
    block = obs.message()["content"][1]
    assert block["_cut"] is True and block["input"]["_raw"].startswith('{"filename": "taxes.txt"')
