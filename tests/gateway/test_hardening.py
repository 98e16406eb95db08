"""The gateway under the audit's cases, end to end with the real mitmdump: exposure and tokens, a
SIGTERM with an open stream, chunked and encoded client bodies, a terminal that shows only the
colour log."""

import gzip
import signal
import subprocess
import time

import httpx
import pytest

from inspector.recording import list_sessions
from inspector.testing.backends import Reply, ScriptedBackend
from inspector.testing.gateway import MITMDUMP, REPLAY_SCRIPT, SCRIPT, Gateway, free_port, wait_port

pytestmark = pytest.mark.e2e
ASK = {"model": "claude-x", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
TOKEN = "gw-token-0123456789abcdef"


def start(*args: str, script=SCRIPT) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([str(MITMDUMP), "-s", str(script), "-p", str(port), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, port


# -- exposure needs a token ---------------------------------------------------------------------------
@pytest.mark.parametrize("script", [SCRIPT, REPLAY_SCRIPT], ids=["gateway", "replay"])
@pytest.mark.parametrize("exposure", [["--set", "gateway_public=true"], ["--listen-host", "0.0.0.0"]],
                         ids=["public", "listen-host"])
def test_an_exposed_gateway_refuses_to_start_without_a_token(script, exposure, tmp_path):
    extra = ["--set", f"replay_dir={tmp_path}"] if script == REPLAY_SCRIPT else []
    proc, _ = start("--mode", "reverse:http://127.0.0.1:9", *exposure, *extra, script=script)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert "without a token" in out and "gateway_token" in out


def test_with_a_token_every_request_must_carry_it_and_it_goes_no_further(tmp_path):
    with ScriptedBackend("anthropic", [Reply(text="ok")]) as b:
        with Gateway(b.url, backend="anthropic", gateway_public=True, gateway_token=TOKEN,
                     record_dir=str(tmp_path)) as gw:
            url = f"http://127.0.0.1:{gw.port}"
            for headers in ({}, {"x-api-key": "wrong-token-0123456789"}, {"authorization": "Bearer nope"}):
                r = httpx.post(url + "/v1/messages", json=ASK, headers=headers)
                assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
                assert r.headers["x-should-retry"] == "false"
            assert httpx.get(url + "/_inspector/status").status_code == 401, "status shows the backend URL"
            assert httpx.post(url + "/v1/messages", json=ASK, headers={"x-api-key": TOKEN}).status_code == 200
            assert httpx.post(url + "/v1/messages", json=ASK,
                              headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert len(b.chat_requests) == 2
    assert all(TOKEN not in str(r.headers) for r in b.chat_requests), "never forwarded"
    disk = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert TOKEN.encode() not in disk, "never written"


@pytest.mark.claude
def test_claude_code_through_a_proxy_with_a_token_needs_it_as_proxy_credentials(claude, tmp_path):
    """Regular (HTTPS_PROXY) mode with a token: the real Claude Code gets its tunnel with
    ``HTTPS_PROXY=http://inspector:TOKEN@…`` and none without (issue 19, item 4)."""
    from inspector.testing.claude import claude_env

    with ScriptedBackend("ollama", lambda rec: Reply(text="hello through the proxy")) as b:
        with Gateway(b.url, mode="regular", backend="ollama", model="q", confdir=str(tmp_path),
                     gateway_token=TOKEN) as gw:
            ca = tmp_path / "mitmproxy-ca-cert.pem"
            for _ in range(100):
                if ca.exists():
                    break
                time.sleep(0.1)
            runs = {}
            for name, user in (("with", f"inspector:{TOKEN}@"), ("without", "")):
                env = claude_env("", tmp_path, HTTPS_PROXY=f"http://{user}127.0.0.1:{gw.port}",
                                 NODE_EXTRA_CA_CERTS=str(ca))
                del env["ANTHROPIC_BASE_URL"]  # the real API's address: the proxy intercepts it
                runs[name] = subprocess.run([str(claude), "-p", "Say hi", "--tools", ""], cwd=tmp_path, env=env,
                                            capture_output=True, text=True, timeout=180)
                if name == "with":
                    answered = len(b.chat_requests)
    assert runs["with"].returncode == 0 and "hello through the proxy" in runs["with"].stdout, runs["with"]
    assert answered >= 1 and len(b.chat_requests) == answered, "nothing got through without the token"
    assert runs["without"].returncode != 0 and "proxy" in runs["without"].stdout.lower(), runs["without"]


def test_a_replay_server_listens_on_loopback_by_default(tmp_path):
    proc, port = start("--mode", "reverse:http://127.0.0.1:9", "--set", f"replay_dir={tmp_path}",
                       script=REPLAY_SCRIPT)
    try:
        wait_port(port, proc=proc)
        time.sleep(0.5)
        listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout
        assert listening.strip() and all("127.0.0.1:" in line for line in listening.splitlines()), listening
    finally:
        proc.terminate()
        proc.wait(10)


# -- shutdown with an open stream -----------------------------------------------------------------------
@pytest.mark.parametrize("delay", [30.0, 0.0], ids=["silent-backend", "streaming-backend"])
def test_sigterm_with_an_open_stream_exits_promptly_and_records_it(tmp_path, delay):
    reply = Reply(text="a very long answer " * 50, pieces=100, gap=0.3, delay=delay)
    with ScriptedBackend("ollama", [reply]) as b:
        gw = Gateway(b.url, backend="ollama", model="q", record_dir=str(tmp_path), ping_interval=0.3)
        with gw:
            with httpx.stream("POST", gw.url + "/v1/messages", json={**ASK, "stream": True}, timeout=10) as r:
                it = r.iter_raw()
                next(it)
                t0 = time.monotonic()
                gw.proc.send_signal(signal.SIGTERM)
                gw.proc.wait(15)
                took = time.monotonic() - t0
                rest = b"".join(it)
        for _ in range(50):
            if b.aborted:
                break
            time.sleep(0.05)
    assert took < 10, f"SIGTERM took {took:.1f} s with a stream open"
    assert b"event: error" in rest and b"shutting down" in rest, "the client got a clean end"
    assert b.aborted, "the backend connection was closed"
    (ex,) = list_sessions(tmp_path)[0].exchanges()
    assert ex.meta["aborted_by"] == "gateway" and not ex.complete


# -- client bodies -------------------------------------------------------------------------------------------
def test_a_chunked_client_request_reaches_a_passthrough_backend_whole():
    import orjson
    body = orjson.dumps(ASK)
    with ScriptedBackend("anthropic", [Reply(text="ok")]) as b:
        with Gateway(b.url, backend="anthropic") as gw:
            r = httpx.post(gw.url + "/v1/messages", content=iter([body[:10], body[10:]]),
                           headers={"content-type": "application/json"})
    assert r.status_code == 200
    assert b.chat_requests[0].body == ASK


def test_content_encodings_are_decoded_or_refused_with_a_400():
    import orjson
    with ScriptedBackend("ollama", [Reply(text="ok")]) as b:
        with Gateway(b.url, backend="ollama", model="q") as gw:
            r = httpx.post(gw.url + "/v1/messages", content=gzip.compress(orjson.dumps(ASK)),
                           headers={"content-type": "application/json", "content-encoding": "gzip"})
            assert r.status_code == 200
            r = httpx.post(gw.url + "/v1/messages", content=b"not brotli at all",
                           headers={"content-type": "application/json", "content-encoding": "br"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    assert "content-encoding" in r.json()["error"]["message"]


# -- the terminal shows the colour log, not mitmproxy's flow lines ------------------------------------------------
def test_one_exchange_prints_the_colour_log_line_and_nothing_of_mitmproxys_flow_log(tmp_path):
    with ScriptedBackend("ollama", [Reply(text="ok")]) as b:
        port = free_port()
        proc = subprocess.Popen([str(MITMDUMP), "-s", str(SCRIPT), "--mode", f"reverse:{b.url}",
                                 "--listen-host", "127.0.0.1", "-p", str(port), "--set", "model=q",
                                 "--set", f"record_dir={tmp_path}"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            wait_port(port, proc=proc)
            time.sleep(0.3)
            httpx.post(f"http://127.0.0.1:{port}/v1/messages", json=ASK).raise_for_status()
            httpx.get(f"http://127.0.0.1:{port}/_inspector/status").raise_for_status()
            time.sleep(0.5)
        finally:
            proc.terminate()
            out, _ = proc.communicate(timeout=15)
    lines = [line for line in out.splitlines() if line.strip()]
    exchange = [line for line in lines if "claude-x → q [ollama]  200" in line]
    assert len(exchange) == 1, out
    for noise in ("client connect", "server connect", "client disconnect", "<< 200", "POST http", "_inspector"):
        assert noise not in out, f"{noise!r} in the gateway's terminal:\n{out}"


# -- what the terminal shows ------------------------------------------------------------------------------------
def test_the_gateway_says_at_start_that_nothing_answers_at_the_backend():
    dead = f"http://127.0.0.1:{free_port()}"
    with Gateway(dead, backend="ollama", model="q") as gw:
        for _ in range(50):
            if "nothing answers at" in gw.log():
                break
            time.sleep(0.1)
        log = gw.log()
    assert f"nothing answers at {dead} (connection refused)" in log and "ollama serve" in log
    assert "--set backend_url=<where it runs>" in log, "the fix spelt as the gateway was started: mitmdump"


def _logged(gw: Gateway, words: str) -> str:
    for _ in range(100):
        if words in gw.log():
            break
        time.sleep(0.1)
    return " ".join(gw.log().split())


def test_the_gateway_says_at_start_what_doctor_would_about_its_backend():
    """Started by hand (mitmdump -s addons/translate.py): a model the backend lacks, and a backend of
    another form, are said at start, with the fix as mitmdump takes it (issue 21)."""
    with ScriptedBackend("ollama", [Reply()]) as b:
        with Gateway(b.url, backend="ollama", model="qwen3:4b") as gw:
            log = _logged(gw, "does not have")
        assert ("the backend does not have qwen3:4b (it has: qwen3:8b): run `ollama pull qwen3:4b`, or restart with "
                "--set model=qwen3:8b") in log
        with Gateway(b.url, backend="openai", model="qwen3:8b") as gw:
            log = _logged(gw, "looks like")
        assert f"{b.url} is not an OpenAI-compatible backend: it answered HTTP 404 to GET /v1/models" in log
        assert f"restart with mitmdump -s addons/translate.py --set backend=ollama --set backend_url={b.url}" in log


def test_the_colour_log_shows_no_secret_even_with_bodies():
    secret = "sk-ant-api03-" + "x" * 40
    with ScriptedBackend("ollama", [Reply(text=f"your key is {secret}")]) as b:
        with Gateway(b.url, backend="ollama", model="q", log_detail="bodies", record=False) as gw:
            httpx.post(gw.url + "/v1/messages?key=query-secret-123456",
                       json={**ASK, "stream": True, "messages": [{"role": "user", "content": f"use {secret}"}]}).read()
            _logged(gw, "response (as Claude Code sees it)")
            log = gw.log()
    assert "claude-x → q [ollama]  200" in log and "[redacted:anthropic-key]" in log
    assert secret not in log and "query-secret-123456" not in log


def test_a_client_that_leaves_stops_the_backend_through_the_real_mitmdump():
    reply = Reply(text="a long answer nobody will read " * 50, pieces=200, gap=0.02)
    with ScriptedBackend("openai", [reply]) as b:
        with Gateway(b.url, backend="openai", model="q") as gw:
            with httpx.stream("POST", gw.url + "/v1/messages", json={**ASK, "stream": True}, timeout=10) as r:
                it = r.iter_raw()
                next(it), next(it)
            for _ in range(100):
                if b.aborted:
                    break
                time.sleep(0.02)
    assert b.aborted and b.aborted[0] < 50, "the backend was stopped long before its 200 chunks"
