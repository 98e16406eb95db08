from pathlib import Path

import pytest

from inspector.protocol import MessageStreamEncoder, sse_event, stream_problems

FIXTURES = Path(__file__).parent.parent / "data" / "anthropic"


@pytest.mark.parametrize("name", ["basic_response.txt", "tool_use_response.txt", "stream-b-fallback.sse",
                                  "compaction_response.txt", "refusal_response.txt"])
def test_real_streams_are_grammatical(name):
    assert stream_problems((FIXTURES / name).read_bytes(), strict=False) == []


def test_strict_rejects_the_empty_text_block_we_must_never_send():
    assert any("blank text" in p for p in stream_problems((FIXTURES / "refusal_response.txt").read_bytes()))


def test_the_apis_own_cut_inside_a_tool_call_is_grammatical_and_nothing_else_left_open_is():
    """Anthropic ends an answer cut inside a tool call with that block open and max_tokens (the SDK's
    recorded fixture); Claude Code runs nothing of such a block. Any other open block is broken."""
    raw = (FIXTURES / "incomplete_partial_json_response.txt").read_bytes()
    assert stream_problems(raw, strict=False) == []
    assert any("still open" in p for p in stream_problems(raw.replace(b'"max_tokens"', b'"end_turn"'), strict=False))
    text_open = raw.split(b"event: content_block_stop")[0] + raw[raw.index(b"event: message_delta"):]
    assert any("still open" in p for p in stream_problems(text_open, strict=False))


def _start():
    return MessageStreamEncoder(model="m").start()


BROKEN = [
    (b"", "ends without"),
    (sse_event("content_block_start", {"type": "content_block_start", "index": 0,
                                       "content_block": {"type": "text", "text": ""}}), "before message_start"),
    (_start() + sse_event("content_block_start", {"type": "content_block_start", "index": 1,
                                                  "content_block": {"type": "text", "text": ""}}), "expected 0"),
    (_start() + sse_event("content_block_start", {"type": "content_block_start", "index": 0,
                                                  "content_block": {"type": "text", "text": ""}})
     + sse_event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                         "delta": {"type": "input_json_delta", "partial_json": "{"}}),
     "input_json_delta inside a text block"),
    (_start() + sse_event("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                                            "usage": {}}), "output_tokens"),
    (_start() + _start(), "second message_start"),
]


@pytest.mark.parametrize("events, problem", BROKEN, ids=[problem for _, problem in BROKEN])  # not the random ids
def test_broken_streams_are_named(events, problem):
    assert any(problem in p for p in stream_problems(events)), stream_problems(events)
