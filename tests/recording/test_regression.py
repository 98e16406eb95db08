
import pytest

from inspector.protocol import _anthropic
from inspector.recording import list_sessions, retranslate
from support.samples import samples_dir

SAMPLES = samples_dir()


def test_samples_translate_today_as_they_did(translation_regression):
    translated = [e for s in list_sessions(SAMPLES) for e in s.exchanges()
                  if e.meta["form"] in ("ollama", "openai") and not e.meta["local"]]
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

    monkeypatch.setattr("inspector.recording._regression.openai_request", changed)
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
    with pytest.raises(anthropic.NotFoundError, match="closest is"):
        client.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "unrecorded"}])
