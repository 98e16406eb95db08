"""The README is a contract: every block a user would paste runs here as written, env included, with the
real Claude Code binary where the recipe uses it.

The recipes use the README's own addresses (the gateway on 4000, Ollama on 11434, the intercepting
proxy on 8080): a test skips, naming the port, when one is taken on this machine.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from inspector.testing.backends import Reply, ScriptedBackend
from inspector.testing.claude import claude_binary
from inspector.testing.gateway import ROOT, wait_port
from inspector.testing.readme import RUNNABLE, block, blocks, exports, sh
from inspector.testing.samples import samples_dir

pytestmark = pytest.mark.e2e

#: Every runnable README block, by words it contains → the test that runs it as written.
COVERED = {
    ".venv/bin/inspector stats recordings/": "test_the_readme_stats_recipe_runs_as_written",
    "make run      # start the gateway": "test_make_run_with_no_ollama_starts_the_embedded_backend",
    "make run MODEL=qwen3:8b NUM_CTX=65536": "test_make_runs_environment_block_is_what_it_prints",
    'claude -p "Say hello." --tools ""': "test_make_run_with_no_ollama_starts_the_embedded_backend",
    "curl -s http://127.0.0.1:4000/v1/messages": "test_make_run_with_no_ollama_starts_the_embedded_backend",
    "client = anthropic.Anthropic(base_url=\"http://127.0.0.1:4000\"": "test_make_run_with_no_ollama_starts_the_embedded_backend",
    ".venv/bin/inspector doctor": "test_make_runs_environment_block_is_what_it_prints",
    "export ANTHROPIC_MODEL=qwen3:8b                      #": "test_make_runs_environment_block_is_what_it_prints",
    "--set backend=anthropic --listen-host 127.0.0.1 -p 8080": "test_the_intercept_recipe",
    ".venv/bin/inspector replay recordings/": "test_the_replay_recipe_with_the_real_claude_code",
    "cd \"$(mktemp -d)\"": "test_the_replay_recipe_with_the_real_claude_code",
    "inspector diff '4997fd7d#1' '4997fd7d#2' --text": "test_the_diff_recipe",
    "def test_my_agent_against_recorded_traffic": "test_the_pytest_plugin_snippet_streaming_and_not",
    ".venv/bin/inspector toolcalls recordings/": "test_the_toolcalls_recipe",
    ".venv/bin/inspector view": "test_a_person_in_a_terminal_finds_the_write_round_trip_and_reads_it",
    ".venv/bin/inspector scan recordings/": "test_the_readme_scan_and_its_pre_commit_hook_work_as_written",
    "exec .venv/bin/inspector scan --staged": "test_the_readme_scan_and_its_pre_commit_hook_work_as_written",
    ".venv/bin/inspector export --html 4997fd7d": "test_the_readme_export_recipe_runs_as_written",
    "~/phoenix/bin/pip install arize-phoenix": "test_the_phoenix_install_line_matches_make_phoenix",
    "--set otlp_endpoint=http://127.0.0.1:6006": "test_the_phoenix_gateway_recipe",
    "LANGFUSE_HOST": "test_the_langfuse_recipe",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:4318/v1/traces": "test_the_tempo_recipe",
    ".venv/bin/inspector export --otlp recordings/": "test_the_export_recipe",
    "export INSPECTOR_GATEWAY_TOKEN=": "test_the_exposed_gateway_recipe",
    ".venv/bin/inspector eval recordings/ --embedded": "test_the_eval_recipe_with_the_embedded_backend",
    "--model qwen3:8b --model qwen2.5-coder:7b": "test_the_eval_recipe_against_ollama",
    "--chaos '429@#1,529@#3,seed=7'": "test_the_chaos_replay_recipe_with_the_real_claude_code",
    "def test_my_agent_survives_a_rate_limit": "test_the_chaos_pytest_snippet",
}


def test_every_block_a_user_would_paste_is_run_by_a_test():
    sources = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    for b in blocks():
        if b.lang not in RUNNABLE:
            continue
        owners = [test for words, test in COVERED.items() if words in b.text]
        assert owners, f"README line {b.line}: no test runs this block:\n{b.text}"
        for test in owners:
            assert f"def {test}(" in sources, f"README line {b.line}: {test} does not exist"


def free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind: TIME_WAIT is no obstacle
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def need_ports(*ports: int) -> None:
    taken = [p for p in ports if not free(p)]
    if taken:
        pytest.skip(f"the README's recipe uses port(s) {taken}, taken on this machine")


@pytest.fixture
def sandbox(tmp_path) -> Path:
    """A folder like a fresh clone for the blocks that use relative paths: .venv, the addons and
    exactly the shipped sample recordings (a developer's own recordings never change the result)."""
    for name in (".venv", "addons", "Makefile", "tools", "pyproject.toml", "inspector"):
        os.symlink(ROOT / name, tmp_path / name)
    shutil.copytree(samples_dir(), tmp_path / "recordings")
    return tmp_path


@pytest.fixture
def claude_on_path(tmp_path, claude) -> dict[str, str]:
    """PATH with ``claude`` being the pinned binary, a throwaway HOME: Claude Code as a user runs it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(claude, bin_dir / "claude")
    home = tmp_path / "home"
    home.mkdir()
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(home), "TERM": "dumb"}


class Running:
    """A README command left running (``make run``, ``inspector replay``), stopped like Ctrl-C."""

    def __init__(self, command: str, *, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(["bash", "-c", command], cwd=cwd, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for_port(self, port: int, timeout: float = 600) -> None:
        try:
            wait_port(port, timeout=timeout, proc=self.proc)
        except (RuntimeError, TimeoutError) as e:
            self._reader.join(5)
            raise RuntimeError(f"{e}\n--- what the command printed ---\n{self.output}") from None

    def stop(self) -> str:
        with contextlib.suppress(ProcessLookupError):  # it has already ended: what it printed says why
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._reader.join(10)
        return self.output


#: What ``make test VAR=…`` puts in the environment and a pasted ``make run`` must not inherit.
MAKE_RUN_VARIABLES = ("ARGS", "BACKEND", "BACKEND_URL", "MODEL", "MODEL_MAP", "NUM_CTX", "HOST", "PORT")


def make_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("MAKE", "MFLAGS", "PYTEST")) and k not in MAKE_RUN_VARIABLES}


# -- make run -----------------------------------------------------------------------------------------
def test_make_runs_environment_block_is_what_it_prints(tmp_path, claude_on_path):
    need_ports(4000, 11434)
    recipe = block("make run MODEL=qwen3:8b NUM_CTX=65536")
    command = recipe.splitlines()[0]
    promised = exports(recipe)
    with ScriptedBackend("ollama", [Reply(text="hi")], port=11434):
        run = Running(f"{command} ARGS='-- --set record_dir={tmp_path / 'rec'}'", cwd=ROOT, env=make_env())
        try:
            run.wait_for_port(4000)
            time.sleep(0.5)
            # The README's environment block, pasted, then doctor — as the README says to check it.
            env = {**claude_on_path, **exports(block("export ANTHROPIC_MODEL=qwen3:8b                      #"))}
            doctor = sh(block(".venv/bin/inspector doctor"), cwd=ROOT, env=env)
        finally:
            printed = run.stop()
    assert printed.count("export ") >= len(promised), printed
    for name, value in promised.items():
        assert f"export {name}={value}" in printed, f"the README promises {name}={value}; make run printed:\n{printed}"
    header = next(line for line in recipe.splitlines() if line.startswith("# inspector gateway"))
    assert " ".join(header[2:].split()) in " ".join(printed.split())
    assert exports(block("export ANTHROPIC_MODEL=qwen3:8b                      #")) == promised
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "all good" in doctor.stdout or "0 failed" in doctor.stdout


def test_make_run_with_no_ollama_starts_the_embedded_backend(tmp_path, claude_on_path):
    from inspector import embedded
    need_ports(4000, 11434)
    if embedded.why_unavailable():
        pytest.skip(f"the embedded backend is not built here: {embedded.why_unavailable()}")
    command = block("make run      # start the gateway").splitlines()[0]
    run = Running(f"{command.split('#')[0].strip()} ARGS='-- --set record_dir={tmp_path / 'rec'}'", cwd=ROOT,
                  env=make_env())
    try:
        run.wait_for_port(4000, timeout=300)
        for _ in range(600):  # the gateway answers before its embedded backend is up: wait for the model
            try:
                if httpx.get("http://127.0.0.1:4000/_inspector/status", timeout=2).json().get("model"):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        curl = sh(block("curl -s http://127.0.0.1:4000/v1/messages"), cwd=tmp_path)
        script = tmp_path / "hello.py"
        script.write_text(block('client = anthropic.Anthropic(base_url="http://127.0.0.1:4000"'))
        python = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
        status = httpx.get("http://127.0.0.1:4000/_inspector/status", timeout=5).json()
        env = {**claude_on_path, "ANTHROPIC_BASE_URL": "http://127.0.0.1:4000", "ANTHROPIC_AUTH_TOKEN": "inspector-local",
               "ANTHROPIC_MODEL": status["model"], "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
        trimmed = sh(block('claude -p "Say hello." --tools ""'), cwd=tmp_path, env=env)
    finally:
        printed = run.stop()
    assert "starting the embedded backend" in printed and "export ANTHROPIC_MODEL=smollm2-135m-instruct" in printed
    answer = httpx.Response(200, content=curl.stdout.encode()).json()
    assert answer["type"] == "message" and answer["content"][0]["type"] == "text", curl.stdout
    assert python.returncode == 0 and python.stdout.strip(), python.stderr
    assert trimmed.returncode == 0 and trimmed.stdout.strip(), trimmed.stdout + trimmed.stderr


# -- intercepting the real API ------------------------------------------------------------------------------
def test_the_intercept_recipe(tmp_path):
    """Regular (HTTPS_PROXY) mode as written: the proxy starts, makes its CA where the recipe says, and
    the shell's Claude Code gets the proxy and the CA (a stand-in ``claude`` reports what it got: this
    machine cannot reach api.anthropic.com)."""
    need_ports(8080)
    recipe = block("--set backend=anthropic --listen-host 127.0.0.1 -p 8080")
    proxy_line, shell = recipe.split("\n", 1)
    home = tmp_path / "home"
    home.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "claude").write_text('#!/bin/sh\necho "proxy=$HTTPS_PROXY"\nhead -1 "$NODE_EXTRA_CA_CERTS"\n')
    (bin_dir / "claude").chmod(0o755)
    env = {**os.environ, "HOME": str(home), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    proxy = Running(proxy_line.split("#")[0], cwd=ROOT, env=env)
    try:
        proxy.wait_for_port(8080)
        for _ in range(50):
            if (home / ".mitmproxy" / "mitmproxy-ca-cert.pem").exists():
                break
            time.sleep(0.1)
        out = sh(shell, cwd=tmp_path, env=env)
        with httpx.Client(proxy="http://127.0.0.1:8080", verify=str(home / ".mitmproxy" / "mitmproxy-ca-cert.pem"),
                          timeout=10) as client:
            # A plain-HTTP host through the proxy, observed and passed on (no network needed).
            with ScriptedBackend("anthropic", [Reply(text="passed on")]) as backend:
                passed = client.get(backend.url + "/v1/models")
    finally:
        proxy.stop()
    assert "proxy=http://127.0.0.1:8080" in out.stdout and "BEGIN CERTIFICATE" in out.stdout, out.stdout + out.stderr
    assert passed.status_code in (200, 404)


# -- replay -------------------------------------------------------------------------------------------------
def test_the_replay_recipe_with_the_real_claude_code(sandbox, claude_on_path):
    need_ports(4000)
    replay = Running(block(".venv/bin/inspector replay recordings/").split("#")[0], cwd=sandbox)
    try:
        replay.wait_for_port(4000)
        time.sleep(0.5)
        session = sh(block('cd "$(mktemp -d)"'), cwd=sandbox, env={**claude_on_path, "TMPDIR": str(sandbox)})
    finally:
        printed = replay.stop()
    assert session.returncode == 0, session.stdout + session.stderr + printed
    assert "I wrote hello.txt." in session.stdout, "the recorded answer"
    assert session.stdout.rstrip().endswith("hello from a local model"), "cat hello.txt: the Write ran here"
    pasted = exports(block('cd "$(mktemp -d)"'))
    for name, value in pasted.items():
        assert f"export {name}={value}" in printed, f"inspector replay prints {name}={value}"


def test_a_replay_miss_reaches_the_claude_code_user(sandbox, claude_on_path):
    """Issue 9.2: a miss is not a 404 Claude Code hides: the user reads the closest recording and why."""
    need_ports(4000)
    replay = Running(block(".venv/bin/inspector replay recordings/").split("#")[0], cwd=sandbox)
    try:
        replay.wait_for_port(4000)
        time.sleep(0.5)
        env = {**claude_on_path, **exports(block('cd "$(mktemp -d)"'))}
        miss = subprocess.run([str(claude_binary()), "-p", "Something never recorded"], cwd=sandbox, env=env,
                              capture_output=True, text=True, timeout=120)
    finally:
        replay.stop()
    out = miss.stdout + miss.stderr
    assert "replay: no recorded exchange has this conversation; the closest is" in out, out
    assert "this request has 'Something never recorded'" in out
    assert "There's an issue with the selected model" not in out


# -- the recordings' commands --------------------------------------------------------------------------
def test_the_diff_recipe(sandbox):
    out = sh(block("inspector diff '4997fd7d#1' '4997fd7d#2' --text"), cwd=sandbox)
    first, second = out.stdout.split("\n--- ", 1) if "\n--- " in out.stdout else (out.stdout, "")
    assert first.startswith("--- 20261202T180244Z_claude-cli-2.1.328_4997fd7d#1"), out.stdout + out.stderr
    assert "tool_result" in first, "what Claude Code added: the Write's result"
    assert out.stdout.rstrip().endswith("1"), "two different sessions: diff's exit status 1"
    assert "Traceback" not in out.stderr


def test_the_pytest_plugin_snippet_streaming_and_not(sandbox):
    (sandbox / "test_snippet.py").write_text(block("def test_my_agent_against_recorded_traffic"))
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_snippet.py"],
                         cwd=sandbox, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 passed" in out.stdout


def test_the_toolcalls_recipe(sandbox):
    out = sh(block(".venv/bin/inspector toolcalls recordings/"), cwd=sandbox)
    assert out.returncode == 0, out.stderr
    assert re.search(r"qwen2\.5-coder:7b\s*│\s*2\b", out.stdout), out.stdout


def test_the_exposed_gateway_recipe(tmp_path):
    """An exposed gateway, as the README starts it: the token it prints for Claude Code is the one it
    requires, and a request without it is refused."""
    need_ports(4000, 11434)
    with ScriptedBackend("ollama", [Reply(text="hi")], port=11434):
        run = Running(block("export INSPECTOR_GATEWAY_TOKEN=").rstrip() + f" ARGS='-- --set record_dir={tmp_path}'",
                      cwd=ROOT, env=make_env())
        try:
            run.wait_for_port(4000)
            time.sleep(0.5)
            ask = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
            refused = httpx.post("http://127.0.0.1:4000/v1/messages", json=ask)
            token = exports(run.output).get("ANTHROPIC_AUTH_TOKEN", "")
            accepted = httpx.post("http://127.0.0.1:4000/v1/messages", json=ask, headers={"authorization": f"Bearer {token}"})
        finally:
            printed = run.stop()
    assert len(token) == 32 and "$INSPECTOR_GATEWAY_TOKEN" in printed, printed
    assert any(tmp_path.iterdir()), "recorded where ARGS said, not into the repository's recordings/"
    assert refused.status_code == 401 and accepted.status_code == 200, accepted.text
    assert "--listen-host 0.0.0.0" in printed and "gateway_public=true" in printed
