"""Replaying recordings as a backend: mitmdump -s addons/replay.py, the backend gone."""

import time
from pathlib import Path

import anthropic
import httpx
import pytest

from inspector.testing.backends import Reply, ScriptedBackend
from inspector.testing.gateway import REPLAY_SCRIPT, Gateway, free_port

pytestmark = pytest.mark.e2e
ASK = {"model": "claude-x", "max_tokens": 100, "messages": [{"role": "user", "content": "tell me a story"}]}


def replay(folder: Path, speed: str = "0") -> Gateway:
    return Gateway(f"http://127.0.0.1:{free_port()}", backend=None, script=REPLAY_SCRIPT,
                   replay_dir=str(folder), replay_speed=speed)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("rec")
    with ScriptedBackend("openai", [Reply(text="Once upon a time, slowly.", gap=0.25)]) as b:
        with Gateway(b.url, backend="openai", model="q", record_dir=str(folder)) as gw:
            c = anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0)
            with c.messages.stream(**ASK) as s:
                s.get_final_message()
            c.messages.create(**{**ASK, "messages": [{"role": "user", "content": "not streamed"}]})
    return folder


@pytest.mark.parametrize("speed", ["0", "1"])
def test_replay_answers_with_the_backend_gone(recorded, speed):
    with replay(recorded, speed) as gw:
        c = anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0)
        t0 = time.monotonic()
        with c.messages.stream(**ASK) as s:
            msg = s.get_final_message()
        took = time.monotonic() - t0
        assert msg.content[0].text == "Once upon a time, slowly."
        if speed == "1":  # paced as recorded: at least the recorded gaps (a lower bound, never flaky)
            assert took > 0.5, took
        assert c.messages.create(**{**ASK, "messages": [{"role": "user", "content": "not streamed"}]}).content
        assert c.messages.count_tokens(model="m", messages=[{"role": "user", "content": "x"}]).input_tokens >= 1


def test_an_unmatched_request_names_the_closest_recording(recorded):
    with replay(recorded) as gw:
        r = httpx.post(gw.url + "/v1/messages?beta=true",
                       json={**ASK, "messages": [{"role": "user", "content": "tell me a poem"}]})
    # 400, not 404: Claude Code prints a 400's message as it is (it replaces a 404's with its own).
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    assert r.headers["x-should-retry"] == "false"
    message = r.json()["error"]["message"]
    assert "closest is" in message and "#1" in message and "tell me a story" in message


def test_a_missing_replay_dir_is_a_clear_startup_error(tmp_path):
    gw = replay(tmp_path / "nope")
    try:
        with gw:
            gw.proc.wait(10)
    except RuntimeError:
        pass  # exited before it was even listening
    assert gw.proc.returncode not in (None, 0)
    assert "is not a folder of recordings" in gw.log()


def test_one_keep_alive_connection_replays_request_after_request(recorded):
    """Regression: under mitmproxy's eager task factory a reply written at once (speed 0) left the
    loopback connection thinking it was still busy, and the next request on it hung."""
    with replay(recorded) as gw, httpx.Client(timeout=10) as client:
        for _ in range(3):
            for body in ({**ASK, "stream": True}, {**ASK, "messages": [{"role": "user", "content": "not streamed"}]}):
                assert client.post(gw.url + "/v1/messages", json=body).status_code == 200


def test_the_replay_log_is_quiet(recorded):
    with replay(recorded) as gw:
        httpx.post(gw.url + "/v1/messages", json={**ASK, "stream": True}).read()
        time.sleep(0.3)
        log = gw.log()
    assert "replay: POST /v1/messages ← " in log
    assert "client connect" not in log and "server connect" not in log


def test_replay_fails_on_purpose_as_the_chaos_spec_says(recorded):
    """``inspector replay --chaos``: faults on the Messages requests the spec names, through mitmproxy, each
    logged and marked; count_tokens is never faulted nor counted."""
    with Gateway(f"http://127.0.0.1:{free_port()}", backend=None, script=REPLAY_SCRIPT, replay_dir=str(recorded),
                 replay_speed="0", replay_chaos="429:2@#1,cut@#2,seed=7") as gw:
        c = anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0)
        assert c.messages.count_tokens(model="m", messages=[{"role": "user", "content": "x"}]).input_tokens >= 1
        limited = httpx.post(gw.url + "/v1/messages", json={**ASK, "stream": True})
        with pytest.raises(httpx.RemoteProtocolError):
            with httpx.stream("POST", gw.url + "/v1/messages", json={**ASK, "stream": True}) as r:
                r.read()
        with c.messages.stream(**ASK) as s:
            assert s.get_final_message().content[0].text == "Once upon a time, slowly."
        time.sleep(0.3)
        log = gw.log()
    assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
    assert limited.json()["error"]["type"] == "rate_limit_error" and limited.headers["x-should-retry"] == "true"
    assert "429 on Messages request #1" in limited.headers["x-inspector-chaos"]
    assert "replay: chaos 429:2@#1,cut@#2,seed=7" in log
    assert "replay: chaos: 429 on Messages request #1 (HTTP 429 rate_limit_error, retry-after 2 s)" in log
    assert "replay: chaos: cut on Messages request #2 (the connection dropped after" in log


def test_a_bad_chaos_spec_is_a_clear_startup_error(recorded):
    gw = Gateway(f"http://127.0.0.1:{free_port()}", backend=None, script=REPLAY_SCRIPT, replay_dir=str(recorded),
                 replay_chaos="418@0.5")
    try:
        with gw:
            gw.proc.wait(10)
    except RuntimeError:
        pass
    assert gw.proc.returncode not in (None, 0)
    assert "is not FAULT@WHEN" in gw.log()


def test_a_gateway_recording_in_front_of_a_chaos_replay_keeps_the_fault_as_what_it_was(recorded, tmp_path):
    from inspector.recording import list_sessions

    with Gateway(f"http://127.0.0.1:{free_port()}", backend=None, script=REPLAY_SCRIPT, replay_dir=str(recorded),
                 replay_speed="0", replay_chaos="529@#1") as replay:
        with Gateway(replay.url, backend="anthropic", record_dir=str(tmp_path)) as gw:
            r = httpx.post(gw.url + "/v1/messages", json={**ASK, "stream": True}, headers={"x-api-key": "k"})
            time.sleep(0.5)
    assert r.status_code == 529 and r.json()["error"]["type"] == "overloaded_error"
    (session,) = list_sessions(tmp_path)
    (exchange,) = session.exchanges()
    status, headers, _ = exchange.response("client")
    assert status == 529 and exchange.meta["status"]["client"] == 529
    assert "529 on Messages request #1" in dict((k.lower(), v) for k, v in headers)["x-inspector-chaos"]
