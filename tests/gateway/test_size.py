"""Large request bodies (issue 19, item 6): a size limit answered as Anthropic does (413
``request_too_large``, naming it) before the body is read — or, for a body of unknown length, as
soon as it grows past it — and the parsing and translating of a large body off the event loop, so
an unrelated stream's pings keep flowing meanwhile."""

import asyncio
import gzip
import threading

import pytest
from mitmproxy import exceptions
from mitmproxy.test import taddons

import inspector.protocol._form as form_module
from inspector.gateway.admission import Admission
from inspector.gateway.guard import REFUSED
from inspector.gateway.relay import Relay
from inspector.protocol import FORM_NAMES, SSEDecoder, get_form
from inspector.testing.backends import Reply, ScriptedBackend
from inspector.testing.inprocess import InProcessGateway

pytestmark = pytest.mark.anyio
FORMS = FORM_NAMES
ASK = {"model": "claude-x", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def anyio_backend():
    return "asyncio"


def asking(size: int) -> dict:
    return {**ASK, "messages": [{"role": "user", "content": "x" * size}]}


def assert_too_large(r, limit: str) -> None:
    assert r.status == 413, r.body[:300]
    error = r.json()["error"]
    assert error["type"] == "request_too_large" and limit in error["message"]
    assert "request_size_limit" in error["message"] and r.headers["x-should-retry"] == "false"


def test_the_default_limit_is_anthropics_own_32_mb_and_a_bad_one_is_refused():
    gw = Admission(Relay().client)
    with taddons.context(gw) as tctx:
        tctx.configure(gw)
        assert gw.size_limit == 32 * 1024 * 1024
        tctx.configure(gw, request_size_limit="500k")
        assert gw.size_limit == 500 * 1024
        with pytest.raises(exceptions.OptionsError, match="request_size_limit"):
            tctx.configure(gw, request_size_limit="lots")


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("size", [20_000, 300_000], ids=["small-body", "large-body"])
async def test_a_body_over_the_limit_is_a_413_before_it_is_read(form, size):
    with ScriptedBackend(form, [Reply(text="never")]) as b:
        async with InProcessGateway(b.url, backend=form, model="m", request_size_limit="10k") as gw:
            r = await gw.send("POST", "/v1/messages", json=asking(size))
    assert_too_large(r, "10,240 bytes")
    assert b.received == []
    assert r.flow is not None
    if size > 64 << 10:  # answered from the relay, the body streamed into nothing: never in memory
        assert r.flow.metadata.get(REFUSED) and r.flow.request.raw_content is None


@pytest.mark.parametrize("form", FORMS)
async def test_a_body_of_unknown_length_is_counted_as_it_comes(form):
    with ScriptedBackend(form, [Reply(text="never")]) as b:
        async with InProcessGateway(b.url, backend=form, model="m", request_size_limit="100k") as gw:
            r = await gw.send("POST", "/v1/messages", json=asking(300_000), chunked=True)
    assert_too_large(r, "102,400 bytes")
    assert "300,0" in r.json()["error"]["message"], "the size it reached"
    assert b.received == []
    assert r.flow is not None and r.flow.request.raw_content == b"", "counted as it came, never kept whole"


@pytest.mark.parametrize("form", FORMS)
async def test_a_body_of_unknown_length_within_the_limit_is_answered_as_any_other(form):
    with ScriptedBackend(form, [Reply(text="fine")]) as b:
        async with InProcessGateway(b.url, backend=form, model="m", request_size_limit="1m") as gw:
            r = await gw.send("POST", "/v1/messages", json=asking(200_000), chunked=True)
            side = await gw.send("POST", "/v1/messages/count_tokens", json=asking(200_000), chunked=True)
    assert r.status == 200 and r.json()["content"][0]["text"] == "fine"
    sent = b.chat_requests[0]
    assert "x" * 200_000 in str(sent.body), "the whole body reached the backend"
    assert side.status == 200
    if not get_form(form).whole_api:  # answered by the gateway (an Anthropic-native backend answers its own)
        assert side.json()["input_tokens"] > 0


async def test_count_tokens_of_unknown_length_over_the_limit_is_a_413():
    with ScriptedBackend("ollama", [Reply(text="never")]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="m", request_size_limit="100k") as gw:
            r = await gw.send("POST", "/v1/messages/count_tokens", json=asking(300_000), chunked=True)
    assert_too_large(r, "102,400 bytes")


@pytest.mark.parametrize("form", FORMS)
async def test_a_body_that_decodes_past_the_limit_is_a_413(form):
    bomb = gzip.compress(b'{"model": "m", "messages": [{"role": "user", "content": "' + b"x" * 5_000_000 + b'"}]}')
    assert len(bomb) < 10_000
    with ScriptedBackend(form, [Reply(text="never")]) as b:
        async with InProcessGateway(b.url, backend=form, model="m", request_size_limit="1m") as gw:
            r = await gw.send("POST", "/v1/messages", content=bomb, headers={"content-encoding": "gzip"})
    assert_too_large(r, "1,048,576 bytes")
    assert "once decoded" in r.json()["error"]["message"]
    assert b.received == []


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_an_encoded_body_within_the_limit_is_decoded(encoding):
    import zlib
    raw = b'{"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}'
    body = gzip.compress(raw) if encoding == "gzip" else zlib.compress(raw)
    with ScriptedBackend("ollama", [Reply(text="decoded")]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="m") as gw:
            r = await gw.send("POST", "/v1/messages", content=body, headers={"content-encoding": encoding})
    assert r.status == 200 and r.json()["content"][0]["text"] == "decoded"


async def test_replay_refuses_a_body_over_the_limit_too(tmp_path):
    from pathlib import Path
    recordings = Path(__file__).resolve().parents[2] / "recordings"
    async with InProcessGateway("http://127.0.0.1:9", replay_dir=str(recordings)) as gw:
        r = await gw.send("POST", "/v1/messages", json=asking(33 * 1024 * 1024))
    assert_too_large(r, "33,554,432 bytes")


async def test_a_large_body_is_parsed_off_the_event_loop_while_another_stream_keeps_its_pings(monkeypatch):
    """The large request's parse waits (in its worker thread) until the unrelated stream has had two
    more pings: on the event loop, it would wait for ever, since nothing else could run."""
    parsing = threading.Event()
    pinged = threading.Event()
    pings_while_parsing = []
    real = form_module.parse_request

    def parse(body):
        if len(body) > 2_000_000:
            parsing.set()
            pings_while_parsing.append(pinged.wait(timeout=30))
        return real(body)

    monkeypatch.setattr(form_module, "parse_request", parse)

    def watch(piece: bytes) -> None:
        if parsing.is_set():
            seen = sum(1 for e in SSEDecoder().decode(piece) if e.event == "ping")
            watch.pings += seen  # type: ignore[attr-defined]
            if watch.pings >= 2:  # type: ignore[attr-defined]
                pinged.set()

    watch.pings = 0  # type: ignore[attr-defined]
    with ScriptedBackend("ollama", [Reply(text="slow", delay=3.0), Reply(text="big one")]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="m", ping_interval="0.05") as gw:
            stream = asyncio.ensure_future(gw.send("POST", "/v1/messages", json={**ASK, "stream": True},
                                                   on_piece=watch))
            while not b.received:
                await asyncio.sleep(0.01)
            big = await gw.send("POST", "/v1/messages", json=asking(3_000_000))
            slow = await stream
    assert big.status == 200 and big.json()["content"][0]["text"] == "big one"
    assert pings_while_parsing == [True], "the other stream got its pings while the large body was parsed"
    assert slow.status == 200
