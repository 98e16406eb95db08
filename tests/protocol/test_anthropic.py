import orjson
import pytest

from inspector.protocol import MessageStreamEncoder, error_body, error_type_for_status, stream_problems
from inspector.testing.sdk import accumulate, parse_message


def test_full_message_is_grammatical_and_accumulates():
    enc = MessageStreamEncoder(model="claude-x", input_tokens=10)
    out = enc.start() + enc.ping() + enc.thinking("hmm") + enc.text("Hi") + enc.text(" there")
    out += enc.tool_use("toolu_1", "Write", {"file_path": "/a", "content": "x"})
    out += enc.tool_use("toolu_2", "Read", {"file_path": "/b"})
    out += enc.finish("tool_use", input_tokens=12, output_tokens=5)
    assert stream_problems(out) == []
    msg = accumulate(out)
    assert [b.type for b in msg.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert msg.content[1].text == "Hi there"
    assert msg.content[2].input == {"file_path": "/a", "content": "x"}
    assert (msg.stop_reason, msg.usage.input_tokens, msg.usage.output_tokens) == ("tool_use", 12, 5)
    assert parse_message(enc.message()).model_dump(exclude_none=True)["content"] == \
        msg.model_dump(exclude_none=True)["content"]


def test_blank_text_never_opens_a_block_but_is_kept_before_real_text():
    enc = MessageStreamEncoder(model="m")
    out = enc.thinking("t") + enc.text("\n\n") + enc.text("  ") + enc.text("Answer")
    out += enc.finish("end_turn")
    assert stream_problems(out) == []
    assert accumulate(out).content[1].text == "\n\n  Answer"


def test_only_blank_text_gives_no_text_block():
    enc = MessageStreamEncoder(model="m")
    out = enc.text("  \n") + enc.finish("end_turn")
    assert stream_problems(out) == []
    assert accumulate(out).content == []


def test_error_ends_the_stream():
    enc = MessageStreamEncoder(model="m")
    out = enc.text("partial") + enc.error("api_error", "backend died")
    assert stream_problems(out) == []
    assert enc.text("more") == b"" and enc.finish("end_turn") == b""
    assert b"event: error" in out and b"backend died" in out


def test_output_tokens_estimated_when_backend_gives_none():
    enc = MessageStreamEncoder(model="m")
    out = enc.text("x" * 40) + enc.finish("end_turn")
    delta = [line for line in out.split(b"\n") if b"message_delta" in line and line.startswith(b"data")][0]
    assert orjson.loads(delta[6:])["usage"]["output_tokens"] == 10


@pytest.mark.parametrize("status, kind", [
    (400, "invalid_request_error"), (401, "authentication_error"), (404, "not_found_error"),
    (429, "rate_limit_error"), (500, "api_error"), (529, "overloaded_error"), (418, "invalid_request_error"),
    (502, "api_error"),
])
def test_error_types(status, kind):
    assert error_type_for_status(status) == kind
    assert error_body(kind, "m") == {"type": "error", "error": {"type": kind, "message": "m"}}


def test_a_signed_thinking_block_and_a_redacted_one_are_what_the_sdk_reads():
    enc = MessageStreamEncoder(model="m")
    out = enc.thinking("Let me see.") + enc.signature("sig-1") + enc.thinking("Again.") + enc.text("Hi.")
    out += enc.redacted_thinking("opaque") + enc.text("Bye.") + enc.finish("end_turn")
    assert stream_problems(out) == []
    msg = accumulate(out)
    assert [(b.type, getattr(b, "signature", getattr(b, "data", None))) for b in msg.content] == [
        ("thinking", "sig-1"), ("thinking", ""), ("text", None), ("redacted_thinking", "opaque"), ("text", None)]
    assert parse_message(enc.message()).content[0].signature == "sig-1"


def test_the_encoder_says_when_the_first_content_delta_went_out():
    enc = MessageStreamEncoder(model="m")
    assert not enc.answering
    enc.start(), enc.ping()
    assert not enc.answering, "message_start and pings are not the answer"
    enc.text("   ")
    assert not enc.answering, "blank text opens no block"
    enc.text("Hi")
    assert enc.answering
    other = MessageStreamEncoder(model="m")
    other.finish("end_turn")
    assert not other.answering, "message_delta is not a content delta"
