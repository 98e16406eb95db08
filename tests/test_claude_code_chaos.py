"""The real Claude Code (pinned 2.1.328) against replay that fails on purpose: it retries a 429 as it
would the real API's (the request arrives again and the session completes), and reports a 500 the way
it reports the real API's."""

import signal
import subprocess
import sys
import time

import pytest

from inspector.pytest_plugin import RecordingServer
from inspector.testing.claude import run_claude
from inspector.testing.gateway import free_port, wait_port
from inspector.testing.samples import samples_dir

pytestmark = [pytest.mark.e2e, pytest.mark.claude]

WRITE = samples_dir() / "20261202T180244Z_claude-cli-2.1.328_4997fd7d"  # the Write round trip
PROMPT = "Write 'hello from a local model' into hello.txt"
ARGS = ("--tools", "Write", "--allowedTools", "Write")  # as the sample was recorded


def test_claude_code_retries_a_429_from_inspector_replay_chaos_and_completes(claude, tmp_path):
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir(), home.mkdir()
    port = free_port()
    replay = subprocess.Popen([sys.executable, "-m", "inspector.cli", "replay", str(WRITE), "--port", str(port),
                               "--speed", "0", "--chaos", "429@#1,seed=7"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        wait_port(port, timeout=60, proc=replay)
        started = time.monotonic()
        result = run_claude(claude, f"http://127.0.0.1:{port}", work, home, PROMPT, args=ARGS)
        took = time.monotonic() - started
        time.sleep(0.3)
    finally:
        replay.send_signal(signal.SIGINT)
        log, _ = replay.communicate(timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr + log
    assert "I wrote hello.txt." in result.stdout, "the session completed"
    assert (work / "hello.txt").read_text() == "hello from a local model\n", "the Write ran after the retry"
    assert took >= 1.0, "Claude Code waited the retry-after second"
    lines = [line for line in log.splitlines() if "replay: " in line]
    fault = next(i for i, line in enumerate(lines) if "chaos: 429 on Messages request #1" in line)
    served = [i for i, line in enumerate(lines) if "replay: POST /v1/messages ← " in line]
    assert len(served) == 2 and served[0] > fault, "the 429'd request arrived again, then the next turn:\n" + log
    assert lines[served[0]].endswith("4997fd7d#1") and lines[served[1]].endswith("4997fd7d#2")
    assert "replay: chaos 429@#1,seed=7" in log, "the replay says what it injects"


def test_claude_code_reports_a_500_from_the_replay_fixture_as_it_reports_the_real_apis(claude, tmp_path):
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir(), home.mkdir()
    server = RecordingServer(WRITE, chaos="500@1")
    with server as url:
        # One retry instead of Claude Code's ten (over minutes): enough to see it treat the 500 as retryable.
        result = run_claude(claude, url, work, home, PROMPT, args=ARGS, CLAUDE_CODE_MAX_RETRIES="1")
    out = result.stdout + result.stderr
    assert result.returncode != 0
    # What Claude Code prints for the real API's 500: its status and the API's message, as for a real outage.
    assert "API Error: 500 Internal server error" in out, out
    assert [f.kind for f in server.faults] == ["500", "500"], "retried once, as CLAUDE_CODE_MAX_RETRIES=1 says"
    assert not (work / "hello.txt").exists()


@pytest.mark.parametrize("spec", ["529@#1", "cut@#1", "prefill:1@#1"])
def test_claude_code_rides_out_an_overload_a_cut_stream_and_a_slow_prefill(claude, tmp_path, spec):
    """What the README says of these faults, measured: Claude Code retries (or waits) and completes."""
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir(), home.mkdir()
    server = RecordingServer(WRITE, chaos=spec)
    with server as url:
        result = run_claude(claude, url, work, home, PROMPT, args=ARGS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "I wrote hello.txt." in result.stdout and (work / "hello.txt").read_text() == "hello from a local model\n"
    assert [(f.kind, f.applied) for f in server.faults] == [(spec.split("@")[0].split(":")[0], True)]
    assert not server.misses


def test_claude_code_keeps_malformed_tool_json_unparsed_and_sends_it_back(claude, tmp_path):
    """badjson: Claude Code 2.1.328 keeps the arguments it could not parse (``__unparsedToolInput``) in the
    conversation it sends next — which no recording holds, so the replay answers with its miss."""
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir(), home.mkdir()
    server = RecordingServer(WRITE, chaos="badjson@#1")
    with server as url:
        result = run_claude(claude, url, work, home, PROMPT, args=ARGS, CLAUDE_CODE_MAX_RETRIES="0")
    assert result.returncode != 0 and not (work / "hello.txt").exists()
    assert "__unparsedToolInput" in server.misses[0] and "API Error: 400 replay:" in result.stdout + result.stderr
