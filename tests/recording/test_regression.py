
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


# -- exchanges the gateway ended itself (issue 21): checked as far as they went ---------------------------
async def _record_endings(root):
    """Three recordings: the client walks away, the backend cuts the stream, the gateway stops."""
    import asyncio

    from inspector.testing.backends import Reply, ScriptedBackend
    from inspector.testing.inprocess import InProcessGateway
    ask = {"model": "claude-x", "max_tokens": 100, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    slow = Reply(text="one two three four five six seven eight", pieces=8, gap=0.2)
    with ScriptedBackend("ollama", [slow]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="q", record=True,
                                    record_dir=str(root / "client")) as gw:
            await gw.send("POST", "/v1/messages", json=ask, read=3)
            while b.streaming:
                await asyncio.sleep(0.05)
    with ScriptedBackend("ollama", [Reply(text="one two three four five six", pieces=6, cut_after=3)]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="q", record=True,
                                    record_dir=str(root / "cut")) as gw:
            await gw.send("POST", "/v1/messages", json=ask)
    with ScriptedBackend("ollama", [slow]) as b:
        gw = InProcessGateway(b.url, backend="ollama", model="q", record=True, record_dir=str(root / "gateway"))
        await gw.__aenter__()
        asking = asyncio.ensure_future(gw.send("POST", "/v1/messages", json=ask))
        while not b.streaming:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # some of the answer has passed (how much does not matter)
        await gw.__aexit__(None, None, None)
        await asyncio.gather(asking, return_exceptions=True)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_exchanges_the_gateway_ended_itself_are_checked_as_far_as_they_went(tmp_path, anyio_backend):
    await _record_endings(tmp_path)
    said = {}
    for ending, words in (("client", "the client went away"), ("cut", "the cut's error message"),
                          ("gateway", "the gateway stopped")):
        (session,) = list_sessions(tmp_path / ending)
        (exchange,) = session.exchanges()
        result = retranslate(exchange)
        said[ending] = (exchange.meta["aborted_by"], result)
        assert result.checked and result.same, f"{ending}:\n{result.diff}"
        assert words in result.skipped, result.skipped
    assert [aborted for aborted, _ in said.values()] == ["client", "backend", "gateway"]


def test_the_fixture_says_what_it_skipped(tmp_path):
    """The fixture returns how many it checked, with what it left out (also in the test's report)."""
    import asyncio

    from inspector.pytest_plugin import Checked
    asyncio.run(_record_endings(tmp_path))

    class Node:
        sections: list = []

        def add_report_section(self, when, key, content):
            self.sections.append((when, key, content))

    class Request:
        node = Node()

    check = translation_regression_fixture(Request())
    checked = check(tmp_path / "client")
    assert isinstance(checked, Checked) and checked == 1
    assert "not compared: the stream after its" in checked.skipped[0]
    assert Request.node.sections[0][1] == "translation_regression skipped"


def translation_regression_fixture(request):
    from inspector.pytest_plugin import translation_regression
    return translation_regression.__wrapped__(request)
