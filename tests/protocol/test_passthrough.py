from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.protocol import AnthropicStreamObserver, stream_problems
from support.sdk import accumulate

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
    assert obs.ended and obs.error is None
    assert accumulate(out).model_dump(warnings=False) == accumulate(raw).model_dump(warnings=False)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(COMPLETE), st.lists(st.integers(min_value=0, max_value=5000), max_size=15))
def test_any_split_is_still_untouched(name, cuts):
    raw = (FIXTURES / name).read_bytes()
    assert observe(raw, [c % (len(raw) + 1) for c in cuts])[1] == raw


def test_observer_reads_stop_reason_usage_and_tools():
    obs, _ = observe((FIXTURES / "tool_use_response.txt").read_bytes())
    assert obs.stop_reason == "tool_use" and obs.tool_calls == ["get_weather"]
    assert obs.usage["input_tokens"] == 377 and obs.usage["output_tokens"] > 1


def test_a_stream_cut_mid_way_gets_a_proper_end():
    raw = (FIXTURES / "tool_use_response.txt").read_bytes()
    cut = raw[: len(raw) // 2]
    obs, out = observe(cut)
    assert out.startswith(cut) and out.endswith(b"\n\n")
    assert b"event: error" in out[len(cut):] and obs.error is not None
    tail = out[len(cut):]
    assert stream_problems(tail.replace(b"event: error", b"event: error"), strict=False) == []
