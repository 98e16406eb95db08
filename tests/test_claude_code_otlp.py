"""The real Claude Code through the gateway with OTLP export: what a collector (and Arize Phoenix) gets."""

import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from inspector.recording import list_sessions
from inspector.telemetry import exchange_start, run_export
from inspector.testing.backends import ScriptedBackend, write_file_brain
from inspector.testing.claude import run_claude
from inspector.testing.gateway import ROOT, Gateway, free_port, wait_port
from inspector.testing.otlp import OtlpReceiver

pytestmark = [pytest.mark.e2e, pytest.mark.claude]


def write_session(claude_exe, tmp_path, **gateway_options):
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir(), home.mkdir()
    target = work / "hello.txt"
    brain = write_file_brain("ollama", str(target), "hi from a traced model\n", answer="Wrote hello.txt.")
    with ScriptedBackend("ollama", brain) as backend:
        with Gateway(backend.url, backend="ollama", model="qwen3-coder", num_ctx=65536,
                     record_dir=str(tmp_path / "rec"), **gateway_options) as gw:
            result = run_claude(claude_exe, gw.url, work, home, "Write a greeting into hello.txt")
            log = gw.log()
    assert result.returncode == 0, result.stderr + log
    assert target.read_text() == "hi from a traced model\n"
    (session,) = list_sessions(tmp_path / "rec")
    return backend, session, log


def test_a_claude_code_session_as_a_collector_gets_it(claude, tmp_path):
    with OtlpReceiver() as rx:
        backend, session, log = write_session(claude, tmp_path, otlp_endpoint=rx.url)
        live, points = rx.exchanges(), rx.metric_points()
    recorded = [ex for ex in session.exchanges() if ex.kind == "messages"]
    assert len(live) == len(recorded) == len(backend.chat_requests) >= 2
    assert {s["attributes"]["gen_ai.conversation.id"] for s in live} == {session.meta["session_id"]}
    by_id = {s["attributes"]["gen_ai.response.id"]: s for s in live}
    for ex in recorded:
        span = by_id[ex.body("client").split(b'"id":"', 1)[1].split(b'"', 1)[0].decode()]
        assert abs(span["start_ns"] - exchange_start(ex.meta) * 1e9) < 2e3, "the recording's start, to the µs"
        assert span["attributes"]["gen_ai.usage.input_tokens"] == ex.meta["usage"]["input_tokens"]
    turn = next(s for s in live if s["attributes"].get("inspector.tool_calls") == ["Write"])
    assert turn["attributes"]["gen_ai.response.finish_reasons"] == ["tool_use"]
    assert turn["attributes"]["gen_ai.request.model"] == claude_model(turn)
    assert turn["attributes"]["gen_ai.response.model"] == "qwen3-coder"
    usage_in = sum(p["sum"] for p in points if p["name"] == "gen_ai.client.token.usage"
                   and p["attributes"]["gen_ai.token.type"] == "input")
    assert usage_in == sum(s["attributes"]["gen_ai.usage.input_tokens"] for s in live)

    # The same session exported from its recording: the same spans, attribute for attribute.
    with OtlpReceiver() as again:
        assert run_export([str(session.path)], root=str(session.path.parent), endpoint=again.url) == 0
        replayed = {s["attributes"]["gen_ai.response.id"]: s for s in again.exchanges()}
    assert replayed.keys() == by_id.keys()
    assert len({s["trace_id"] for s in live}) == 1, "one session, one trace (keyed by its session id)"
    for rid, span in by_id.items():
        assert replayed[rid]["attributes"] == span["attributes"]
        assert (replayed[rid]["trace_id"], replayed[rid]["span_id"]) == (span["trace_id"], span["span_id"]), \
            "the recording keeps the ids the gateway chose: exporting it again lands on the same spans"
        assert abs(replayed[rid]["start_ns"] - span["start_ns"]) < 2e3
        assert abs(replayed[rid]["end_ns"] - span["end_ns"]) < 2e3


def claude_model(span):
    """What Claude Code asked for (its default model name): the span's name says it too."""
    assert span["name"] == f"chat {span['attributes']['gen_ai.request.model']}"
    return span["attributes"]["gen_ai.request.model"]


# -- Arize Phoenix, a real OTLP receiver -------------------------------------------------------------------

def phoenix_bin() -> Path | None:
    for venv in (os.environ.get("PHOENIX_VENV"), ROOT / ".cache" / "phoenix-venv"):
        if venv and (Path(venv) / "bin" / "phoenix").exists():
            return Path(venv) / "bin" / "phoenix"
    return None


@pytest.fixture
def phoenix(tmp_path):
    exe = phoenix_bin()
    if exe is None:
        pytest.skip("Arize Phoenix is not installed: `make phoenix` (a separate venv in .cache/phoenix-venv, "
                    "≈820 MB), or PHOENIX_VENV=/path/to/venv")
    port, grpc = free_port(), free_port()
    env = {**os.environ, "PHOENIX_WORKING_DIR": str(tmp_path / "phoenix"), "PHOENIX_PORT": str(port),
           "PHOENIX_GRPC_PORT": str(grpc), "PHOENIX_HOST": "127.0.0.1", "PHOENIX_TELEMETRY_ENABLED": "false"}
    env.pop("PYTHONPATH", None)  # Phoenix runs from its own venv, nothing of ours
    log = open(tmp_path / "phoenix.log", "wb")
    proc = subprocess.Popen([str(exe), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_port(port, timeout=120, proc=proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while httpx.get(url + "/healthz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_the_session_shows_in_arize_phoenix(claude, phoenix, tmp_path):
    backend, session, log = write_session(claude, tmp_path, otlp_endpoint=phoenix, otlp_metrics=False,
                                          otlp_capture_content=True)
    assert "otlp: spans export" not in log, log  # Phoenix took every batch
    sid = session.meta["session_id"]
    calls = len([ex for ex in session.exchanges() if ex.kind == "messages"])
    deadline, data = time.monotonic() + 60, None
    while time.monotonic() < deadline:  # Phoenix ingests asynchronously
        r = httpx.get(f"{phoenix}/v1/sessions/{sid}")
        if r.status_code == 200 and len(r.json()["data"]["traces"]) == 1:
            data = r.json()["data"]
            break
        time.sleep(0.5)
    assert data is not None, f"Phoenix has no session {sid} in one trace"
    assert data["token_count_prompt"] == sum(ex.meta["usage"]["input_tokens"] for ex in session.exchanges()
                                             if ex.kind == "messages")
    every = httpx.get(f"{phoenix}/v1/projects/default/spans/otlpv1", params={"limit": 100}).json()["data"]
    spans = [s for s in every if s["name"].startswith("chat")]
    assert len(spans) == calls
    assert {"inspector.translate", "inspector.queue", "inspector.backend"} <= {s["name"] for s in every}, \
        "each call's parts, as child spans"
    for span in spans:
        attrs = {a["key"]: a["value"] for a in span["attributes"]}
        assert attrs["gen_ai.conversation.id"]["string_value"] == sid
        assert attrs["openinference.span.kind"]["string_value"] == "LLM", "Phoenix read it as an LLM call"
        assert attrs["llm.model_name"]["string_value"] in ("qwen3-coder", span["name"].removeprefix("chat "))
    assert any("Write a greeting" in str(span["attributes"]) for span in spans), "the conversation is there"
