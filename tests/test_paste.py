"""What the project prints for the user to paste, pasted as printed into an interactive bash and an
interactive ``zsh -f -i`` (in a pseudo-terminal, bracketed paste as a terminal does it); every
variable read back from that shell; then the real Claude Code run in that very shell.

For ``make run`` in front of an Ollama with an 8k, 16k, 32k and 128k window (the scripted Ollama
double), for ``inspector run``, and for ``inspector replay``. The embedded backend's and the README's
own blocks are pasted the same way in tests/test_readme.py.
"""

from __future__ import annotations

import re

import pytest

from inspector.client_env import NEEDS, output_for, reserved
from inspector.testing.backends import Reply, ScriptedBackend
from inspector.testing.gateway import ROOT, free_port
from inspector.testing.readme import Running, make_env
from inspector.testing.samples import samples_dir
from inspector.testing.shells import Shell, printed_block

pytestmark = [pytest.mark.e2e, pytest.mark.claude]

HELLO = "Hello from the scripted model."
TRIMMED = 'claude -p "Say hello." --tools "" --system-prompt "Be brief."'
FULL = 'claude -p "Say hello."'
_EXPORT = re.compile(r"^export (\w+)=(.*)$")


def promised(block: str) -> dict[str, str]:
    """NAME → value of each line of a printed block (every line must be an export: nothing else is
    pasted)."""
    out = {}
    for line in block.splitlines():
        m = _EXPORT.match(line)
        assert m, f"a line that is not an export in the block to paste: {line!r}"
        out[m.group(1)] = m.group(2).strip("'")
    return out


def pasted(shell: str, block: str, env: dict[str, str], cwd) -> tuple[Shell, dict[str, str]]:
    sh = Shell(shell, env=env, cwd=cwd)  # type: ignore[arg-type]
    sh.paste(block)
    got = sh.exported()
    for name, value in promised(block).items():
        assert got.get(name) == value, f"{shell}: {name} is {got.get(name)!r} after the paste, the block says {value!r}"
    return sh, got


@pytest.mark.parametrize("window", [8192, 16384, 32768, 131072])
def test_make_runs_block_for_an_ollama_window_works_pasted(window, shell, tmp_path, claude_on_path):
    gateway_port = free_port()
    with ScriptedBackend("ollama", [Reply(text=HELLO)]) as backend:
        backend.context_length = window
        run = Running(f"make run MODEL=qwen3:8b NUM_CTX={window} BACKEND_URL={backend.url} PORT={gateway_port} "
                      f"ARGS='-- --set record_dir={tmp_path / 'rec'}'", cwd=ROOT, env=make_env())
        try:
            run.wait_for_port(gateway_port, timeout=120)
            block = printed_block(run.output)
            sh, env = pasted(shell, block, claude_on_path, tmp_path)
            with sh:
                trimmed = sh.run(TRIMMED, timeout=120)
                full = sh.run(FULL, timeout=120)
        finally:
            printed = run.stop()
    output = output_for(window)
    assert env["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == str(window), printed
    assert env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == str(output)
    assert env["ANTHROPIC_BASE_URL"] == f"http://127.0.0.1:{gateway_port}" and env["ANTHROPIC_MODEL"] == "qwen3:8b"
    assert window - reserved(output) >= NEEDS["full"], "the reservation leaves Claude Code room for its full setup"
    assert trimmed[0] == 0 and HELLO in trimmed[1], trimmed[1] + printed
    if window >= 16384:
        assert full[0] == 0 and HELLO in full[1], full[1] + printed
    else:
        # Claude Code sends its full setup (it fits the room it keeps): the gateway, counting ≈13k
        # tokens, refuses it against the 8,192-token window — not Claude Code on its own.
        assert "backend's context window is 8,192 tokens" in printed, printed
    assert "Prompt is too long" not in trimmed[1]


def test_inspector_runs_block_works_pasted(shell, tmp_path, claude_on_path):
    gateway_port = free_port()
    with ScriptedBackend("ollama", [Reply(text=HELLO)]) as backend:
        backend.context_length = 40960
        run = Running(f".venv/bin/inspector run --model qwen3:8b --num-ctx 65536 --backend-url {backend.url} "
                      f"--port {gateway_port} -- --set record_dir={tmp_path / 'rec'}", cwd=ROOT, env=make_env())
        try:
            run.wait_for_port(gateway_port, timeout=120)
            sh, env = pasted(shell, printed_block(run.output), claude_on_path, tmp_path)
            with sh:
                full = sh.run(FULL, timeout=120)
        finally:
            printed = run.stop()
    assert env["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == "40960" and env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "5120"
    assert full[0] == 0 and HELLO in full[1], full[1] + printed


def test_inspector_replays_block_works_pasted(shell, tmp_path, claude_on_path):
    port = free_port()
    replay = Running(f".venv/bin/inspector replay {samples_dir()} --port {port}", cwd=ROOT, env=make_env())
    work = tmp_path / "work"
    work.mkdir()
    try:
        replay.wait_for_port(port, timeout=60)
        sh, env = pasted(shell, printed_block(replay.output), claude_on_path, work)
        with sh:
            status, out = sh.run("claude -p \"Write 'hello from a local model' into hello.txt\" --tools Write "
                                 "--allowedTools Write", timeout=120)
    finally:
        printed = replay.stop()
    assert env["ANTHROPIC_BASE_URL"] == f"http://127.0.0.1:{port}"
    assert status == 0 and "I wrote hello.txt." in out, out + printed
    assert (work / "hello.txt").read_text().strip() == "hello from a local model"


def test_a_comment_after_a_command_breaks_zsh_and_the_harness_says_so(tmp_path):
    """The judge itself: what issue 21 found (an explanation after an export) fails the paste."""
    from inspector.testing.shells import PasteError, missing_shell
    if why := missing_shell("zsh"):
        pytest.skip(why)
    with Shell("zsh", env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, cwd=tmp_path) as sh, \
            pytest.raises(PasteError, match="waited"):
        sh.paste("export A=1  # the backend's window (asked of it)\nexport B=2\n", timeout=5)
