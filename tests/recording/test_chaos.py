"""Replay that fails on purpose (inspector/recording/_chaos.py): the spec's grammar, seeded draws that
repeat, and each fault as the real API sends it — judged by the official anthropic SDK, served by the
pytest plugin's replay server (``anthropic_replay(..., chaos=…)``)."""

import re
import time

import anthropic
import httpx
import orjson
import pytest

from inspector.protocol import MessageAccumulator
from inspector.pytest_plugin import RecordingServer
from inspector.recording import Chaos, ChaosSpec
from inspector.recording._chaos import malformed
from inspector.testing.samples import samples_dir

WRITE = samples_dir() / "20261202T180244Z_claude-cli-2.1.328_4997fd7d"  # the Write round trip
HELLO = samples_dir() / "20261202T180243Z_claude-cli-2.1.328_8602fc2c"  # a plain answer
ASK = {"model": "claude-opus-5-5", "max_tokens": 1024,
       "messages": [{"role": "user", "content": "Write 'hello from a local model' into hello.txt"}]}
SAY_HELLO = {**ASK, "messages": [{"role": "user", "content": "Say hello in one sentence."}]}


def sdk(url: str, retries: int = 0) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key="unused", max_retries=retries)


# -- the spec ---------------------------------------------------------------------------------------------
def test_the_grammar():
    spec = ChaosSpec.parse("429@0.2, 529@#3, cut@0.1, 429:30@#5-6, prefill:2.5@#1, slow:0.2s@1, badjson@#2, seed=7")
    assert spec.seed == 7
    assert [(r.kind, r.value, r.rate, r.first, r.last) for r in spec.rules] == [
        ("429", 1.0, 0.2, None, None), ("529", None, None, 3, 3), ("cut", None, 0.1, None, None),
        ("429", 30.0, None, 5, 6), ("prefill", 2.5, None, 1, 1), ("slow", 0.2, 1.0, None, None),
        ("badjson", None, None, 2, 2)]
    assert str(spec) == "429@0.2,529@#3,cut@0.1,429:30@#5-6,prefill:2.5@#1,slow:0.2@1,badjson@#2,seed=7"
    assert ChaosSpec.parse(str(spec)) == spec
    assert ChaosSpec.parse("500@#1").seed == 0, "no seed: 0, so a run always repeats"


@pytest.mark.parametrize(("text", "says"), [
    ("418@0.5", "is not FAULT@WHEN"), ("429", "is not FAULT@WHEN"), ("429@0", "in (0, 1]"),
    ("429@1.5", "in (0, 1]"), ("429@#0", "numbered from 1"), ("429@#5-2", "numbered from 1"),
    ("529:3@#1", "takes no parameter"), ("cut:0.5@#1", "whole number"), ("seed=x,429@#1", "integer"),
    ("seed=3", "names no fault"),
])
def test_a_bad_spec_says_what_is_wrong(text, says):
    with pytest.raises(ValueError, match=re.escape(says)):
        ChaosSpec.parse(text)


def fired(spec: str, n: int = 200) -> list[str | None]:
    chaos = Chaos(spec)
    out = []
    for _ in range(n):
        d = chaos.decide("POST", "/v1/messages?beta=true")
        out.append(d.rule.kind if d else None)
    return out


def test_draws_are_seeded_and_independent_per_item():
    a = fired("429@0.2,cut@0.1,seed=7")
    assert a == fired("429@0.2,cut@0.1,seed=7"), "the same spec repeats"
    assert a != fired("429@0.2,cut@0.1,seed=8")
    assert 20 <= a.count("429") <= 60 and a.count("cut") > 0
    # An item added after another never changes where the first one fires (each has its own generator).
    assert [k == "429" for k in fired("429@0.2,529@0.5,seed=7")] == [k == "429" for k in a]
    assert fired("529@#3,500@#2-3")[:4] == [None, "500", "529", None], "the first listed item that fires wins"


def test_only_messages_requests_are_counted_and_faulted():
    chaos = Chaos("500@#2")
    assert chaos.decide("POST", "/v1/messages/count_tokens") is None
    assert chaos.decide("GET", "/v1/models") is None
    assert chaos.decide("POST", "/v1/messages") is None
    d = chaos.decide("POST", "/v1/messages?beta=true")
    assert d is not None and d.number == 2 and d.replaces


def test_malformed_arguments_are_never_json():
    for args in ({"file_path": "/tmp/a.txt", "content": "x"}, {"n": 1, "ok": True}, {}, {"nested": {"a": "b"}}):
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(malformed(args))
    assert malformed({"file_path": "/tmp/a.txt", "n": 2}) == '{"file_path": /tmp/a.txt, "n": 2}'


# -- each fault, as the SDK sees it ---------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "status", "error", "message"), [
    ("429", 429, anthropic.RateLimitError, "rate limit"),
    ("529", 529, anthropic.InternalServerError, "Overloaded"),
    ("500", 500, anthropic.InternalServerError, "Internal server error"),
])
def test_status_faults_are_what_the_api_sends(kind, status, error, message):
    with RecordingServer(WRITE, chaos=f"{kind}@#1-2,seed=3") as url:
        r = httpx.post(url + "/v1/messages", json=ASK)
        with pytest.raises(error, match=message) as raised:
            sdk(url).messages.create(**ASK)
    assert r.status_code == status and r.headers["content-type"] == "application/json"
    assert r.headers["x-should-retry"] == "true" and r.headers["request-id"].startswith("req_011C")
    body = r.json()
    assert body["type"] == "error" and body["request_id"] == r.headers["request-id"]
    assert body["error"]["type"] == {"429": "rate_limit_error", "529": "overloaded_error", "500": "api_error"}[kind]
    assert f"{kind} on Messages request #1" in r.headers["x-inspector-chaos"], "marked as what it was"
    assert raised.value.status_code == status and raised.value.request_id == raised.value.response.headers["request-id"]
    if kind == "429":
        assert r.headers["retry-after"] == "1" and r.headers["anthropic-ratelimit-requests-remaining"] == "0"
    else:
        assert "retry-after" not in r.headers


def test_request_ids_repeat_with_the_seed():
    def ids(seed: int) -> list[str]:
        with RecordingServer(WRITE, chaos=f"529@1,seed={seed}") as url:
            return [httpx.post(url + "/v1/messages", json=ASK).headers["request-id"] for _ in range(3)]
    assert ids(5) == ids(5) != ids(6)
    assert len(set(ids(5))) == 3


def test_the_sdk_retries_a_429_after_retry_after_and_gets_the_recorded_answer(anthropic_replay):
    url = anthropic_replay(WRITE, chaos="429:1@#1")
    started = time.monotonic()
    message = sdk(url, retries=2).messages.create(**ASK)
    assert time.monotonic() - started >= 1.0, "it waited the retry-after second"
    assert message.stop_reason == "tool_use" and message.content[-1].name == "Write"
    (fault,) = anthropic_replay.faults
    assert (fault.kind, fault.number, fault.applied) == ("429", 1, True)


def test_a_cut_stream_breaks_off_mid_answer():
    with RecordingServer(WRITE, chaos="cut@#1-2") as url:
        pieces = []
        with pytest.raises(httpx.RemoteProtocolError):
            with httpx.stream("POST", url + "/v1/messages", json={**ASK, "stream": True}) as r:
                assert r.status_code == 200
                for piece in r.iter_raw():
                    pieces.append(piece)
        with pytest.raises(anthropic.APIConnectionError):
            with sdk(url).messages.stream(**ASK) as s:
                s.get_final_message()
    acc = MessageAccumulator()
    acc.feed(b"".join(pieces))
    assert acc.message is not None and not acc.stopped, "the head and some events, never message_stop"


def test_badjson_makes_the_tool_arguments_invalid_and_the_sdk_says_so():
    with RecordingServer(WRITE, chaos="badjson@1") as server_url:
        with pytest.raises(ValueError, match="Unable to parse tool parameter JSON"):
            with sdk(server_url).messages.stream(**ASK) as s:
                s.get_final_message()
        raw = httpx.post(server_url + "/v1/messages", json={**ASK, "stream": True}).content
    acc = MessageAccumulator()
    acc.feed(raw)
    acc.flush()
    assert acc.stopped and acc.message is not None
    call = acc.message["content"][-1]
    assert call["name"] == "Write" and call["input"]["_raw"].startswith('{"file_path": /tmp/inspector-sample-98d79ruk')


def test_a_fault_that_cannot_apply_fires_and_says_so():
    server = RecordingServer(HELLO, chaos="badjson@#1,slow@#2")
    with server as url:
        streamed = httpx.post(url + "/v1/messages", json={**SAY_HELLO, "stream": True})  # no tool call in it
        whole = httpx.post(url + "/v1/messages", json=SAY_HELLO)  # slow: a whole answer has no events
    assert streamed.status_code == whole.status_code == 200
    assert "x-inspector-chaos" not in streamed.headers and "x-inspector-chaos" not in whole.headers
    assert [(f.kind, f.applied) for f in server.faults] == [("badjson", False), ("slow", False)]
    assert str(server.faults[0]).endswith("not injected")


def test_prefill_and_slow_take_at_least_their_seconds_whatever_the_speed():
    with RecordingServer(WRITE, chaos="prefill:0.6@#1,slow:0.1@#2") as url:
        started = time.monotonic()
        with httpx.stream("POST", url + "/v1/messages", json={**ASK, "stream": True}) as r:
            r.read()
        silent = time.monotonic() - started
        started = time.monotonic()
        slow = httpx.post(url + "/v1/messages", json={**ASK, "stream": True})
        dribbled = time.monotonic() - started
    events = slow.text.count("\nevent: ") + 1
    assert silent >= 0.6
    assert dribbled >= 0.1 * (events - 1) and events > 5
    assert "slow on Messages request #2 (0.1 s between events)" in slow.headers["x-inspector-chaos"]


def test_inspector_replay_chaos_passes_the_spec_to_the_replay_and_refuses_a_bad_one(capsys):
    from inspector.cli import main

    assert main(["replay", str(WRITE), "--chaos", "429@0.2, 529@#3,seed=7", "--dry-run"]) == 0
    printed = capsys.readouterr()
    assert "--set 'replay_chaos=429@0.2,529@#3,seed=7'" in printed.out
    assert main(["replay", str(WRITE), "--chaos", "418@0.5", "--dry-run"]) == 2
    assert "is not FAULT@WHEN" in capsys.readouterr().err
