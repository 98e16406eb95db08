"""The README's OpenTelemetry recipes, run as written (in a sandbox whose .venv is this venv).

They name the default ports (gateway 4000, Ollama 11434, Phoenix 6006, OTLP/HTTP 4318): a test whose
port is taken on this machine skips, saying which.
"""

import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest

from inspector.testing.backends import Reply, ScriptedBackend
from inspector.testing.gateway import ROOT, wait_port
from inspector.testing.otlp import OtlpReceiver
from inspector.testing.samples import samples_dir

pytestmark = pytest.mark.e2e

README = (ROOT / "README.md").read_text()
SECTION = README[README.index("## OpenTelemetry"):README.index("## What gets translated")]
BLOCKS = re.findall(r"```sh\n(.*?)```", SECTION, re.S)
PHOENIX_INSTALL, PHOENIX_GATEWAY, LANGFUSE, TEMPO, EXPORT = BLOCKS
SESSION_ID = "readme-0tel-5e55"


def block_named(text: str) -> str:
    assert text in BLOCKS
    return text


def needs_ports(*ports: int) -> None:
    for port in ports:
        with socket.socket() as s:
            # As the servers bind: a port a previous test just closed (TIME_WAIT) is free.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                pytest.skip(f"port {port}, which the README's recipe names, is taken on this machine")


@pytest.fixture
def sandbox(tmp_path):
    """A folder like a checkout: .venv (this venv), addons/, recordings/ (the samples)."""
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    (tmp_path / "addons").symlink_to(ROOT / "addons")
    shutil.copytree(samples_dir(), tmp_path / "recordings")  # a copy: the recipes' gateway records into it
    return tmp_path


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LANGFUSE_"))}
    return env | extra


def run_gateway_block(block: str, cwd: Path, env: dict[str, str]) -> str:
    """Run a block ending in the gateway, ask it one Messages call as Claude Code would, stop it."""
    log = cwd / "block.log"
    with ScriptedBackend("ollama", [Reply(text="traced")], port=11434), open(log, "wb") as out:
        proc = subprocess.Popen(["bash", "-c", block], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            wait_port(4000, timeout=30, proc=proc)
            r = httpx.post("http://127.0.0.1:4000/v1/messages", timeout=30,
                           headers={"x-claude-code-session-id": SESSION_ID, "x-api-key": "sk-ant-readme"},
                           json={"model": "claude-opus-5-5", "max_tokens": 50, "stream": True,
                                 "messages": [{"role": "user", "content": "hi"}]})
            assert r.status_code == 200, r.text
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    return log.read_text(errors="replace")


def assert_one_exchange(rx: OtlpReceiver, log: str) -> dict:
    assert rx.wait(lambda: rx.exchanges()), log
    (span,) = rx.exchanges()
    assert span["attributes"]["gen_ai.conversation.id"] == SESSION_ID
    assert span["attributes"]["gen_ai.response.model"] == "qwen3:8b"
    return span


def test_the_extra_the_readme_names_holds_the_official_packages():
    assert "pip install -e '.[otel]'" in SECTION
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {re.split(r"[<>=\[ ]", d)[0] for d in extras["otel"]}
    assert names == {"opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http"}
    dev = {re.split(r"[<>=\[ ]", d)[0] for d in extras["dev"]}
    assert names | {"opentelemetry-proto"} <= dev, "make test installs what the tests need"


def test_the_phoenix_install_line_matches_make_phoenix():
    assert "pip install arize-phoenix" in PHOENIX_INSTALL and "~/phoenix/bin/phoenix serve" in PHOENIX_INSTALL
    assert "pip install --quiet --progress-bar off arize-phoenix" in \
        (ROOT / "Makefile").read_text().split("\n$(PHOENIX_STAMP):", 1)[1].split("\nphoenix:", 1)[0]


def test_the_phoenix_gateway_recipe(sandbox):
    needs_ports(4000, 11434, 6006)
    with OtlpReceiver(port=6006) as rx:
        log = run_gateway_block(block_named(PHOENIX_GATEWAY), sandbox, clean_env())
        assert_one_exchange(rx, log)
        assert {r.path for r in rx.requests} == {"/v1/traces"}, "otlp_metrics=false: Phoenix takes traces only"
    assert "otlp: exporting every Messages exchange" in log


def test_the_langfuse_recipe(sandbox):
    needs_ports(4000, 11434)
    with OtlpReceiver() as rx:
        env = clean_env(LANGFUSE_HOST=rx.url, LANGFUSE_PUBLIC_KEY="pk-lf-1234", LANGFUSE_SECRET_KEY="sk-lf-5678")
        log = run_gateway_block(block_named(LANGFUSE), sandbox, env)
        assert_one_exchange(rx, log)
        assert {r.path for r in rx.requests} == {"/api/public/otel/v1/traces"}
        for r in rx.requests:
            assert r.headers["authorization"] == "Basic " + base64.b64encode(b"pk-lf-1234:sk-lf-5678").decode()
            assert r.headers["x-langfuse-ingestion-version"] == "4"
    assert "sk-lf-5678" not in log, "the gateway's log names header names, never their values"


def test_the_tempo_recipe(sandbox):
    needs_ports(4000, 11434, 4318)
    with OtlpReceiver(port=4318) as rx:
        log = run_gateway_block(block_named(TEMPO), sandbox, clean_env())
        assert_one_exchange(rx, log)
        assert {r.path for r in rx.requests} == {"/v1/traces"}
        assert all(r.headers["x-scope-orgid"] == "claude-code" for r in rx.requests)


def test_the_export_recipe(sandbox):
    needs_ports(6006)
    with OtlpReceiver(port=6006) as rx:
        out = subprocess.run(["bash", "-c", block_named(EXPORT)], cwd=sandbox, env=clean_env(),
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        spans = rx.exchanges()
    messages = sum(1 for p in (sandbox / "recordings").glob("*/*_messages"))
    assert len(spans) == messages and "exported 9 spans from 3 session(s)" in out.stderr


def test_phoenix_serve_as_written_then_the_recipes_land_in_it(sandbox):
    from tests.test_claude_code_otlp import phoenix_bin

    exe = phoenix_bin()
    if exe is None:
        pytest.skip("Arize Phoenix is not installed: `make phoenix`, or PHOENIX_VENV=/path/to/venv")
    needs_ports(4000, 11434, 6006, 4317)
    home = sandbox / "home"
    home.mkdir()
    (home / "phoenix").symlink_to(exe.parent.parent)  # the README's ~/phoenix
    serve = next(line for line in PHOENIX_INSTALL.splitlines() if "phoenix serve" in line)
    env = clean_env(HOME=str(home), PHOENIX_WORKING_DIR=str(sandbox / "phoenix-data"),
                    PHOENIX_TELEMETRY_ENABLED="false")
    env.pop("PYTHONPATH", None)
    phoenix = subprocess.Popen(["bash", "-c", serve], cwd=sandbox, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_port(6006, timeout=120, proc=phoenix)
        log = run_gateway_block(PHOENIX_GATEWAY, sandbox, clean_env())
        out = subprocess.run(["bash", "-c", EXPORT], cwd=sandbox, env=clean_env(), capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        import time
        recorded = {json.loads((p / "session.json").read_text())["session_id"]
                    for p in (sandbox / "recordings").iterdir() if (p / "session.json").exists()}
        assert SESSION_ID in recorded and len(recorded) == 4, "the three samples and the recipe's own run"
        deadline, seen = time.monotonic() + 60, set()
        while time.monotonic() < deadline and seen != recorded:  # Phoenix ingests asynchronously
            sessions = httpx.get("http://127.0.0.1:6006/v1/projects/default/sessions").json()["data"]
            seen = {s["session_id"] for s in sessions}
            time.sleep(0.5)
        assert seen == recorded, log
        r = httpx.get(f"http://127.0.0.1:6006/v1/sessions/{SESSION_ID}")
        assert len(r.json()["data"]["traces"]) == 1, \
            "live from the gateway, then again from its recording: the session's one trace, the same span ids"
    finally:
        os.killpg(phoenix.pid, signal.SIGTERM)
        try:
            phoenix.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(phoenix.pid, signal.SIGKILL)
