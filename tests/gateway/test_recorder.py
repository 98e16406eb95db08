"""The ``Recorder`` addon: what it writes, in-process (taddons) — complete, partial, cut, a broken
disk, off — and, through the real gateway process, what survives a kill -9 and a Ctrl-C."""

import asyncio
import logging
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from inspector.recording import list_sessions
from inspector.testing.backends import Call, Reply, ScriptedBackend
from inspector.testing.forms import ONE_OF_EACH
from inspector.testing.gateway import Gateway
from inspector.testing.inprocess import InProcessGateway

ASK = {"model": "claude-x", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}], "stream": True}
HEADERS = {"x-api-key": "sk-ant-do-not-store", "authorization": "Bearer also-secret",
           "cookie": "session=secret-cookie", "x-claude-code-session-id": "5e55104d-aaaa-bbbb"}


@pytest.fixture
def anyio_backend():
    return "asyncio"


def all_bytes(root) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


@pytest.mark.anyio
async def test_a_full_exchange_with_both_sides_and_no_secrets(tmp_path):
    with ScriptedBackend("openai", [Reply(text="recorded answer", calls=[Call("Read", {"file_path": "/a"})])]) as b:
        async with InProcessGateway(b.url, backend="openai", model="qwen", record=True,
                                    record_dir=str(tmp_path)) as gw:
            await gw.send("POST", "/v1/messages?beta=true", json=ASK, headers=HEADERS)
            await gw.send("POST", "/v1/messages/count_tokens", json={"model": "m", "messages": []}, headers=HEADERS)
    (session,) = list_sessions(tmp_path)
    assert session.name.endswith("_5e55104d-aaaa-bbbb") and session.meta["id_source"] == "header"
    main, side = session.exchanges()
    assert (main.kind, side.kind, side.meta["local"]) == ("messages", "count_tokens", True)
    assert main.complete and main.meta["stop_reason"] == "tool_use"
    assert main.meta["model"] == {"requested": "claude-x", "backend": "qwen"}
    assert main.meta["tool_calls"][0]["name"] == "Read" and main.meta["usage"] == {"input_tokens": 42, "output_tokens": 7}
    assert main.request_json()["model"] == "claude-x" and main.request_json("backend")["model"] == "qwen"
    assert b'"finish_reason": "tool_calls"' in main.body("backend")
    assert b"event: message_stop" in main.body("client")
    assert main.meta["timing_ms"]["first_token"] is not None
    disk = all_bytes(tmp_path)
    for secret in (b"sk-ant-do-not-store", b"also-secret", b"secret-cookie"):
        assert secret not in disk
    assert main.meta["redacted"] == {"header:authorization": 1, "header:cookie": 1, "header:x-api-key": 1}


@pytest.mark.anyio
async def test_a_client_that_walks_away_leaves_a_marked_partial_exchange(tmp_path):
    with ScriptedBackend("ollama", [Reply(text="a long slow answer " * 10, gap=0.2)]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="q", record=True, record_dir=str(tmp_path)) as gw:
            await gw.send("POST", "/v1/messages", json=ASK, read=2)
            for _ in range(250):  # the backend notices at its next write (gap 0.2 s), the gateway at once
                if gw.ended and b.aborted:
                    break
                await asyncio.sleep(0.02)
    (ex,) = list_sessions(tmp_path)[0].exchanges()
    assert not ex.complete and ex.meta["aborted_by"] == "client" and "the client went away" in ex.meta["incomplete"]
    assert ex.body("backend") and ex.body("client").startswith(b"event: message_start")
    assert len(b.aborted) == 1, "the backend connection was closed: the model stopped generating"


@pytest.mark.anyio
async def test_a_cut_backend_stream_is_marked_incomplete(tmp_path):
    with ScriptedBackend("ollama", [Reply(text="cut in the middle of this", cut_after=2)]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="q", record=True, record_dir=str(tmp_path)) as gw:
            await gw.send("POST", "/v1/messages", json=ASK)
    (ex,) = list_sessions(tmp_path)[0].exchanges()
    assert not ex.complete and "cut" in ex.meta["incomplete"] and ex.meta["aborted_by"] == "backend"
    assert ex.body("client").rstrip().endswith(b"}") and b"event: error" in ex.body("client")


@pytest.mark.anyio
async def test_an_unusable_record_dir_never_breaks_traffic(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    caplog.set_level(logging.WARNING, logger="inspector")
    with ScriptedBackend("ollama", [Reply(text="still answered")]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="q", record=True,
                                    record_dir=str(blocker / "recordings")) as gw:
            r1 = await gw.send("POST", "/v1/messages", json={**ASK, "stream": False})
            r2 = await gw.send("POST", "/v1/messages", json={**ASK, "stream": False})
    assert r1.json()["content"][0]["text"] == r2.json()["content"][0]["text"] == "still answered"
    said = [r.getMessage() for r in caplog.records if "cannot write recordings" in r.getMessage()]
    assert len(said) == 1 and "traffic is unaffected" in said[0], said


@pytest.mark.anyio
async def test_a_record_dir_others_may_write_to_is_refused_at_start(tmp_path, caplog):
    """Issue 19 #10: said once when the gateway starts; nothing written there; traffic unaffected."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    caplog.set_level(logging.WARNING, logger="inspector")
    with ScriptedBackend("ollama", [Reply(text="still answered")]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="q", record=True, record_dir=str(shared)) as gw:
            said = [r.getMessage() for r in caplog.records if "cannot write recordings" in r.getMessage()]
            assert len(said) == 1 and "writable by others" in said[0], "said at start, before any traffic"
            r = await gw.send("POST", "/v1/messages", json={**ASK, "stream": False})
    assert r.json()["content"][0]["text"] == "still answered"
    assert list(shared.iterdir()) == []


@pytest.mark.anyio
async def test_recording_can_be_turned_off(tmp_path):
    with ScriptedBackend("ollama", [Reply(text="x")]) as b:
        async with InProcessGateway(b.url, backend="ollama", model="q", record=False, record_dir=str(tmp_path)) as gw:
            await gw.send("POST", "/v1/messages", json=ASK)
    assert list(tmp_path.iterdir()) == [] and len(gw.ended) == 1


# -- the gateway process itself ----------------------------------------------------------------------
def wait_for_sidecars(root: Path, timeout: float = 15.0) -> None:
    """Until no recording sidecar writes under ``root``: a killed gateway's sidecar (a process of its
    own) reads the pipe to its end and writes what the gateway sent, a moment after the gateway died."""
    needle = str(root).encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = False
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                text = cmdline.read_bytes()
            except OSError:
                continue
            if b"inspector.recording._sidecar" in text and needle in text:
                running = True
                break
        if not running:
            return
        time.sleep(0.05)
    raise AssertionError(f"a recording sidecar for {root} still runs after {timeout} s")


@pytest.mark.e2e
def test_a_killed_gateway_keeps_what_arrived(tmp_path):
    with ScriptedBackend("ollama", [Reply(text="one two three four five six seven eight", gap=0.3)]) as b:
        gw = Gateway(b.url, backend="ollama", model="q", record_dir=str(tmp_path))
        with gw:
            with httpx.stream("POST", gw.url + "/v1/messages", json=ASK, timeout=10) as r:
                it = r.iter_raw()
                next(it), next(it)
                os.kill(gw.proc.pid, signal.SIGKILL)
                gw.proc.wait(5)
                with pytest.raises(httpx.HTTPError):
                    for _ in it:
                        pass
    wait_for_sidecars(tmp_path)
    (ex,) = list_sessions(tmp_path)[0].exchanges()
    assert not ex.complete and ex.meta["incomplete"] == "never finished"  # no exchange.json: it just stopped
    assert ex.request_json()["messages"][0]["content"] == "hi"
    assert b'"done": false' in ex.body("backend")
    assert b"message_start" in ex.body("client")


@pytest.mark.e2e
def test_ctrl_c_to_the_whole_process_group_loses_no_recording(tmp_path):
    """A terminal's Ctrl-C reaches every process of the foreground group: the recording sidecar must
    still write everything the gateway sent before it stops."""
    import subprocess

    from inspector.testing.gateway import MITMDUMP, SCRIPT, free_port, wait_port
    with ScriptedBackend("ollama", [Reply(text="recorded before the Ctrl-C")]) as b:
        port = free_port()
        proc = subprocess.Popen([str(MITMDUMP), "-q", "-s", str(SCRIPT), "--mode", f"reverse:{b.url}",
                                 "--listen-host", "127.0.0.1", "-p", str(port), "--set", "model=q",
                                 "--set", f"record_dir={tmp_path}"], start_new_session=True)
        wait_port(port, proc=proc)
        for _ in range(5):
            httpx.post(f"http://127.0.0.1:{port}/v1/messages", json=ASK).read()
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(20)
    wait_for_sidecars(tmp_path)
    exchanges = list_sessions(tmp_path)[0].exchanges()
    assert len(exchanges) == 5 and all(e.complete for e in exchanges)


@pytest.mark.anyio
@pytest.mark.parametrize("form", ONE_OF_EACH)
async def test_a_header_byte_that_is_not_utf8_still_leaves_the_request_recorded(tmp_path, form):
    """mitmproxy hands such a byte over as a lone surrogate, which no JSON encoder takes: the request
    is recorded with it shown as \\xNN (issue 19, item 7)."""
    headers = [(b"user-agent", b"claude-cli/2.1.328 caf\xe9"), (b"x-claude-code-session-id", b"5e55\xff"),
               (b"x-note", "Grüße".encode())]
    with ScriptedBackend(form, [Reply(text="fine")]) as b:
        async with InProcessGateway(b.url, backend=form, model="q", record=True, record_dir=str(tmp_path)) as gw:
            r = await gw.send("POST", "/v1/messages", json={**ASK, "stream": False}, headers=headers)
    assert r.status == 200
    (session,) = list_sessions(tmp_path)
    (ex,) = session.exchanges()
    recorded = dict(ex.client_request["headers"])
    assert recorded["user-agent"] == "claude-cli/2.1.328 caf\\xe9"
    assert recorded["x-note"] == "Grüße"
    assert ex.meta["client"] == "claude-cli/2.1.328 caf\\xe9"
    assert ex.request_json()["model"] == "claude-x"
