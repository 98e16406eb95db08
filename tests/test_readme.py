"""The README is a contract: every block a user would paste runs here as written, env included, with the
real Claude Code binary where the recipe uses it.

The recipes use the README's own addresses (the gateway on 4000, Ollama on 11434, the intercepting
proxy on 8080): a test skips, naming the port, when one is taken on this machine.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from inspector.testing.backends import Reply, ScriptedBackend
from inspector.testing.claude import claude_binary
from inspector.testing.gateway import ROOT
from inspector.testing.readme import README, RUNNABLE, Running, block, blocks, exports, make_env, need_ports, sh
from inspector.testing.samples import samples_dir
from inspector.testing.shells import Shell, printed_block

pytestmark = pytest.mark.e2e

#: Every runnable README block, by words it contains → the test that runs it as written.
COVERED = {
    ".venv/bin/inspector stats recordings/": "test_the_readme_stats_recipe_runs_as_written",
    "make run\n": "test_make_run_with_no_ollama_starts_the_embedded_backend",
    "make run MODEL=qwen3:8b NUM_CTX=65536": "test_make_runs_environment_block_is_what_it_prints",
    'claude -p "Say hello." --tools ""': "test_make_run_with_no_ollama_starts_the_embedded_backend",
    "curl -s http://127.0.0.1:4000/v1/messages": "test_make_run_with_no_ollama_starts_the_embedded_backend",
    "client = anthropic.Anthropic(base_url=\"http://127.0.0.1:4000\"": "test_make_run_with_no_ollama_starts_the_embedded_backend",
    ".venv/bin/inspector doctor": "test_make_runs_environment_block_is_what_it_prints",
    "export CLAUDE_CODE_MAX_OUTPUT_TOKENS=5120": "test_make_runs_environment_block_is_what_it_prints",
    "--set backend=anthropic --listen-host 127.0.0.1 -p 8080": "test_the_intercept_recipe",
    "export HTTPS_PROXY=http://127.0.0.1:8080": "test_the_intercept_recipe",
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
    ".venv/bin/python tools/claude_window.py": "test_the_room_figures_are_what_the_real_binary_does",
}


def test_the_readme_starts_with_a_quick_start_and_points_to_the_rest():
    """Issue 21: read first by a user: run, paste, claude, view, doctor — then the rest; the contributor
    material (how it is built, tests, performance) in docs/, linked."""
    text = README.read_text()
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert headings[0] == "Quick start", headings
    quick = text[text.index("## Quick start"):text.index("## ", text.index("## Quick start") + 3)]
    for step in ("make run", "export", "zsh", "claude", "inspector view", "inspector doctor"):
        assert step in quick, f"the quick start does not say {step!r}"
    assert quick.count("\n") < 45, "short"
    for doc in ("docs/architecture.md", "docs/testing.md", "docs/performance.md"):
        assert f"]({doc})" in text and (ROOT / doc).exists(), doc
    assert not {"How it is built", "Tests", "Performance (`make bench`)"} & set(headings), "moved to docs/"


def zsh_trouble(line: str) -> str | None:
    """What interactive zsh would make of ``line`` that the writer did not mean: with
    ``interactive_comments`` unset (its default), ``#`` starts no comment — the rest of the line is
    more command — and a line of its own starting with ``#`` is "command not found: #"."""
    import shlex
    lexer = shlex.shlex(line, posix=False, punctuation_chars=";&|()<>")
    lexer.commenters = ""
    lexer.whitespace_split = True
    try:
        words = list(lexer)
    except ValueError as e:
        return f"it does not parse ({e})"
    hashed = [w for w in words if w.startswith("#")]
    return f"'{hashed[0]}' is not a comment in interactive zsh" if hashed else None


def test_every_shell_block_means_the_same_in_interactive_zsh():
    """Issue 21: what a user pastes carries no comment — after a command or on a line of its own."""
    for b in blocks():
        if b.lang != "sh":
            continue
        for n, line in enumerate(b.text.splitlines()):
            trouble = zsh_trouble(line)
            assert trouble is None, f"{b.file} line {b.line + n + 1}: {line!r}: {trouble}"


def test_every_block_a_user_would_paste_is_run_by_a_test():
    sources = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    for b in blocks():
        if b.lang not in RUNNABLE:
            continue
        owners = [test for words, test in COVERED.items() if words in b.text]
        assert owners, f"{b.file} line {b.line}: no test runs this block:\n{b.text}"
        for test in owners:
            assert f"def {test}(" in sources, f"{b.file} line {b.line}: {test} does not exist"


@pytest.fixture
def sandbox(tmp_path) -> Path:
    """A folder like a fresh clone for the blocks that use relative paths: .venv, the addons and
    exactly the shipped sample recordings (a developer's own recordings never change the result)."""
    for name in (".venv", "addons", "Makefile", "tools", "pyproject.toml", "inspector"):
        os.symlink(ROOT / name, tmp_path / name)
    shutil.copytree(samples_dir(), tmp_path / "recordings")
    return tmp_path


# -- make run -----------------------------------------------------------------------------------------
def test_make_runs_environment_block_is_what_it_prints(tmp_path, claude_on_path, shell):
    """The README's make run, its output, and its environment block pasted into bash and zsh; then
    the README's doctor and the real Claude Code in that same shell."""
    need_ports(4000, 11434)
    command = block("make run MODEL=qwen3:8b NUM_CTX=65536").strip()
    shown = block("Paste into the shell where you run Claude Code", langs=("text",))
    pasteable = block("export CLAUDE_CODE_MAX_OUTPUT_TOKENS=5120")
    with ScriptedBackend("ollama", [Reply(text="Hello from the scripted model.")], port=11434):
        run = Running(f"{command} ARGS='-- --set record_dir={tmp_path / 'rec'}'", cwd=ROOT, env=make_env())
        try:
            run.wait_for_port(4000)
            with Shell(shell, env=claude_on_path, cwd=ROOT) as terminal:
                terminal.paste(pasteable)
                env = terminal.exported()
                doctor = terminal.run(block(".venv/bin/inspector doctor").strip(), timeout=60)
                answer = terminal.run('claude -p "Say hello."', timeout=120)
        finally:
            printed = run.stop()
    assert printed_block(printed) == printed_block(shown) == pasteable, printed
    assert shown.splitlines()[0] in printed, "the header line, as the README shows it"
    assert {k: v for k, v in env.items() if k in exports(pasteable)} == exports(pasteable)
    assert doctor[0] == 0 and "all good" in doctor[1], doctor[1]
    assert answer[0] == 0 and "Hello from the scripted model." in answer[1], answer[1] + printed


def test_make_run_with_no_ollama_starts_the_embedded_backend(tmp_path, claude_on_path):
    """The first run on the default path: make run with nothing at Ollama's port starts the embedded
    backend; the block it prints, pasted as printed into bash and into zsh, lets the README's
    trimmed Claude Code prompt through (8,192-token window, 512 reserved: the gateway's cap)."""
    from inspector import embedded
    from inspector.testing.shells import missing_shell
    need_ports(4000, 11434)
    if embedded.why_unavailable():
        pytest.skip(f"the embedded backend is not built here: {embedded.why_unavailable()}")
    command = block("make run\n").splitlines()[0]
    run = Running(f"{command} ARGS='-- --set record_dir={tmp_path / 'rec'}'", cwd=ROOT, env=make_env())
    trimmed = {}
    try:
        run.wait_for_port(4000, timeout=300)
        curl = sh(block("curl -s http://127.0.0.1:4000/v1/messages"), cwd=tmp_path)
        script = tmp_path / "hello.py"
        script.write_text(block('client = anthropic.Anthropic(base_url="http://127.0.0.1:4000"'))
        python = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
        pasteable = printed_block(run.output)
        for name in ("bash", "zsh"):
            if missing_shell(name):
                continue
            with Shell(name, env=claude_on_path, cwd=tmp_path) as terminal:  # type: ignore[arg-type]
                terminal.paste(pasteable)
                trimmed[name] = (terminal.exported(), terminal.run(block('claude -p "Say hello." --tools ""').strip(),
                                                                   timeout=300))
    finally:
        printed = run.stop()
    assert "starting the embedded backend" in printed, printed
    promised = exports(pasteable)
    assert promised["ANTHROPIC_MODEL"] == "smollm2-135m-instruct", pasteable
    assert promised["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == "8192" and promised["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "512"
    answer = httpx.Response(200, content=curl.stdout.encode()).json()
    assert answer["type"] == "message" and answer["content"][0]["type"] == "text", curl.stdout
    assert python.returncode == 0 and python.stdout.strip(), python.stderr
    assert trimmed, "no shell to paste into"
    for name, (env, (status, out)) in trimmed.items():
        assert {k: v for k, v in env.items() if k in promised} == promised, name
        assert status == 0 and out.strip() and "Prompt is too long" not in out, f"{name}: {out}\n{printed}"


# -- intercepting the real API ------------------------------------------------------------------------------
def test_the_intercept_recipe(tmp_path, shell):
    """Regular (HTTPS_PROXY) mode as written: the proxy starts, makes its CA where the recipe says, and
    Claude Code's shell — the block pasted into bash and zsh — gets the proxy and the CA (a stand-in
    ``claude`` reports what it got: this machine cannot reach api.anthropic.com)."""
    need_ports(8080)
    proxy_line = block("--set backend=anthropic --listen-host 127.0.0.1 -p 8080").strip()
    pasted = block("export HTTPS_PROXY=http://127.0.0.1:8080")
    home = tmp_path / "home"
    home.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "claude").write_text('#!/bin/sh\necho "proxy=$HTTPS_PROXY"\nhead -1 "$NODE_EXTRA_CA_CERTS"\n')
    (bin_dir / "claude").chmod(0o755)
    env = {**os.environ, "HOME": str(home), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    proxy = Running(proxy_line, cwd=ROOT, env=env)
    try:
        proxy.wait_for_port(8080)
        for _ in range(50):
            if (home / ".mitmproxy" / "mitmproxy-ca-cert.pem").exists():
                break
            time.sleep(0.1)
        with Shell(shell, env={"HOME": str(home), "PATH": env["PATH"]}, cwd=tmp_path) as terminal:
            terminal.paste(pasted)
            out = terminal.transcript
        with httpx.Client(proxy="http://127.0.0.1:8080", verify=str(home / ".mitmproxy" / "mitmproxy-ca-cert.pem"),
                          timeout=10) as client:
            # A plain-HTTP host through the proxy, observed and passed on (no network needed).
            with ScriptedBackend("anthropic", [Reply(text="passed on")]) as backend:
                passed = client.get(backend.url + "/v1/models")
    finally:
        proxy.stop()
    assert "proxy=http://127.0.0.1:8080" in out and "BEGIN CERTIFICATE" in out, out
    assert passed.status_code in (200, 404)


# -- replay -------------------------------------------------------------------------------------------------
def test_the_replay_recipe_with_the_real_claude_code(sandbox, claude_on_path, shell):
    """The README's replay, and its block pasted into bash and zsh: the real Claude Code answered from
    the recording, the Write run in the fresh folder the block makes."""
    need_ports(4000)
    replay = Running(block(".venv/bin/inspector replay recordings/").strip(), cwd=sandbox)
    recipe = block('cd "$(mktemp -d)"')
    try:
        replay.wait_for_port(4000)
        with Shell(shell, env={**claude_on_path, "TMPDIR": str(sandbox)}, cwd=sandbox) as terminal:
            said = terminal.paste(recipe, timeout=180)
    finally:
        printed = replay.stop()
    assert "I wrote hello.txt." in said, "the recorded answer\n" + said + printed
    assert said.rindex("hello from a local model") > said.index("I wrote hello.txt."), "then cat hello.txt"
    (written,) = sandbox.glob("tmp.*/hello.txt")
    assert written.read_text().strip() == "hello from a local model", "the Write ran in the folder the block made"
    assert printed_block(printed) == "".join(line + "\n" for line in recipe.splitlines() if line.startswith("export ")), \
        "the README's exports are exactly what inspector replay prints"


def test_a_replay_miss_reaches_the_claude_code_user(sandbox, claude_on_path):
    """Issue 9.2: a miss is not a 404 Claude Code hides: the user reads the closest recording and why."""
    need_ports(4000)
    replay = Running(block(".venv/bin/inspector replay recordings/").strip(), cwd=sandbox)
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


# -- how much room Claude Code needs ------------------------------------------------------------------------
def test_the_room_figures_are_what_the_real_binary_does(claude):
    """The README's measuring command, limited to two reservations: its figures match the README's table
    and the constants the CLI and doctor use (client_env.NEEDS)."""
    from inspector.client_env import NEEDS
    command = block(".venv/bin/python tools/claude_window.py").strip()
    out = sh(f"{command} --setup trimmed --outputs 512,1024 --step 32 --high 16384", cwd=ROOT,
             env={**os.environ, "CLAUDE_CODE_BIN": str(claude.parents[3])}, timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr
    found = {int(m.group(1)): int(m.group(2)) for m in re.finditer(r"^trimmed\s+(\d+)\s+(\d+)\s+\d+$", out.stdout, re.M)}
    table = {int(m.group(1).replace(",", "")): int(m.group(2).replace(",", ""))
             for m in re.finditer(r"^\| ([\d,]+) \| ([\d,]+) \| [\d,]+ \|", README.read_text(), re.M)}
    for output, window in found.items():
        assert abs(window - table[output]) <= 32, (output, window, table[output])
        assert window - output <= NEEDS["trimmed"], "the constant the CLI and doctor use covers it"
