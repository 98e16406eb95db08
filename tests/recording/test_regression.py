
import pytest

from inspector.protocol import FORMS, _anthropic
from inspector.recording import list_sessions, retranslate
from inspector.testing.samples import samples_dir

SAMPLES = samples_dir()


def test_samples_translate_today_as_they_did(translation_regression):
    translated = [e for s in list_sessions(SAMPLES) for e in s.exchanges()
                  if FORMS[e.meta["form"]].writes_answers and not e.meta["local"]]
    assert translation_regression(SAMPLES) == len(translated) >= 4


def test_a_change_in_the_translation_shows_as_a_readable_diff(monkeypatch):
    monkeypatch.setattr(_anthropic, "_STOP", _anthropic.sse_event("message_stop", {"type": "message_stop",
                                                                                 "extra": 1}))
    result = retranslate(list_sessions(SAMPLES)[0].exchanges()[0])
    assert result.checked and not result.same
    assert '-message_stop: {"type":"message_stop"}' in result.diff
    assert '+message_stop: {"type":"message_stop","extra":1}' in result.diff


def test_a_change_in_request_translation_is_caught_too(monkeypatch):
    from inspector.protocol import _openai
    real = _openai.openai_request

    def changed(*a, **kw):
        body = real(*a, **kw)
        body["temperature"] = 0.1
        return body

    monkeypatch.setattr(_openai, "openai_request", changed)
    result = retranslate(list_sessions(SAMPLES)[1].exchanges()[0])
    assert '+  "temperature": 0.1' in result.diff


def test_error_exchanges_check_the_request_only(monkeypatch):
    error_exchange = list_sessions(SAMPLES)[2].exchanges()[0]
    assert error_exchange.meta["status"]["backend"] == 404
    result = retranslate(error_exchange)
    assert result.checked and result.same
    monkeypatch.setattr(_anthropic, "_STOP", b"changed")  # response side: not compared for a 404
    assert retranslate(error_exchange).same


@pytest.mark.parametrize("speed", [0])
def test_anthropic_replay_fixture_serves_samples_to_the_sdk(anthropic_replay, speed):
    import anthropic
    session = list_sessions(SAMPLES)[0]
    url = anthropic_replay(session.path, speed=speed)
    body = session.exchanges()[0].request_json()
    client = anthropic.Anthropic(base_url=url, api_key="k", max_retries=0)
    with client.messages.stream(**{k: body[k] for k in ("model", "messages", "max_tokens")}) as s:
        msg = s.get_final_message()
    assert msg.content[-1].text.startswith("Hello! I'm a small local model")
    # A miss is a 400 (Claude Code replaces a 404's message with its own) naming the closest recording.
    with pytest.raises(anthropic.BadRequestError, match="closest is"):
        client.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "unrecorded"}])


def test_anthropic_replay_answers_a_non_streaming_request_with_the_message(anthropic_replay):
    """Recorded as a stream, asked for without one: the Message the stream adds up to (not SSE text)."""
    import anthropic
    session = list_sessions(SAMPLES)[0]
    body = session.exchanges()[0].request_json()
    client = anthropic.Anthropic(base_url=anthropic_replay(session.path), api_key="k", max_retries=0)
    msg = client.messages.create(model=body["model"], messages=body["messages"], max_tokens=1024)
    assert msg.content[-1].text.startswith("Hello! I'm a small local model")
    assert msg.stop_reason == "end_turn" and msg.usage.output_tokens > 0
