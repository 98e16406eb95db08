"""The real ``inspector view`` in a real terminal (tmux): keys sent as a person types them, the screen read back."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from inspector.testing.samples import samples_dir

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install -y tmux)")
ROOT = Path(__file__).resolve().parent.parent.parent


def _inspector() -> list[str]:
    script = Path(sys.executable).parent / "inspector"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from inspector.cli import main; sys.exit(main())"]


class Terminal:
    """One tmux server of its own (its own socket), one window of a fixed size."""

    def __init__(self, command: list[str], cwd: Path, *, width: int = 150, height: int = 40) -> None:
        self.socket = f"inspector-test-{uuid.uuid4().hex[:8]}"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               "TERM": "xterm-256color", "COLUMNS": str(width), "LINES": str(height)}
        shell = f"cd {shlex.quote(str(cwd))} && {shlex.join(command)}; echo EXITED $?; sleep 60"
        self._tmux("new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height), shell, env=env)

    def _tmux(self, *args: str, env: dict[str, str] | None = None) -> str:
        assert TMUX is not None
        done = subprocess.run([TMUX, "-L", self.socket, *args], capture_output=True, text=True, env=env,
                              timeout=20)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "t")

    def wait_for(self, *texts: str, gone: tuple[str, ...] = (), timeout: float = 30.0) -> str:
        """Until every text is on screen (and none of ``gone``); waiting is not timing: it fails only if never."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if all(t in screen for t in texts) and not any(g in screen for g in gone):
                return screen
            if time.monotonic() > deadline:
                pytest.fail(f"never saw {texts} (without {gone}) on the screen:\n{screen}")
            time.sleep(0.1)

    def keys(self, *keys: str) -> None:
        for key in keys:
            self._tmux("send-keys", "-t", "t", key)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", "t", "-l", text)

    def close(self) -> None:
        subprocess.run([TMUX or "tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=20)


@pytest.fixture
def terminal():
    started: list[Terminal] = []

    def start(*args: str) -> Terminal:
        t = Terminal([*_inspector(), *args], samples_dir().parent)
        started.append(t)
        return t
    yield start
    for t in started:
        t.close()


def test_a_person_in_a_terminal_finds_the_write_round_trip_and_reads_it(terminal):
    t = terminal("view", "recordings")
    t.wait_for("sessions in recordings", "qwen2.5-coder:7b", "llama9:70b")
    # Sessions filtered by what is inside them: only one session called Write.
    t.keys("/")
    t.wait_for("filter: words that must all appear")
    t.type("Write")
    t.wait_for("qwen2.5-coder:7b", gone=("llama9:70b", "qwen3:8b"))
    t.keys("Enter")  # back to the table, filter kept
    t.keys("Enter")
    screen = t.wait_for("wall clock", "tool_use", "▲ #1", "m marks an exchange")
    assert "ok" in screen and "▲ #1" in screen  # the timeline, the first exchange highlighted
    t.keys("j", "Enter")
    t.wait_for("▸ system prompt (", "Write 'hello from a local model' into hello.txt")
    t.keys("Enter")  # the cursor starts on the system prompt
    t.wait_for("You are a Claude agent, built on Anthropic's Claude Agent SDK.")
    t.keys("2")  # the Request tab: keys act on it at once
    t.wait_for("POST /v1/messages?beta=true")
    t.keys("G")
    t.wait_for('"stream": true', gone=("POST /v1/messages?beta=true",))
    t.keys("/")
    t.wait_for("search (Enter; then n / N")
    t.type("planted")
    t.keys("Enter")
    screen = t.wait_for("match 1/1 for 'planted'")
    assert "planted `json.py`" in screen  # found inside a folded string, unfolded to show it
    # One key at a time, as a person presses them: a terminal reads ESC followed at once by a key as Alt+key.
    t.keys("Escape")
    t.wait_for("/ search · n N next/previous match", gone=("match 1/1",))
    t.keys("Escape")
    t.wait_for("wall clock")
    t.keys("Escape")
    t.wait_for("sessions in recordings")
    t.keys("q")
    t.wait_for("EXITED 0")
