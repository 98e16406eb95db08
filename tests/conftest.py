import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import settings

from inspector.testing import profiles
from inspector.testing.claude import VERSION, claude_binary

# Hypothesis: the full example counts unless pytest is run with --hypothesis-profile=check (make check).
profiles.register()
settings.load_profile("test")

TESTS = Path(__file__).resolve().parent

DATA = TESTS / "data"


@pytest.fixture
def claude_code_request() -> bytes:
    """A real 49 KB request body from Claude Code 2.1.328 (first turn, Write offered)."""
    return (DATA / "claude-code-request.json").read_bytes()


@pytest.fixture
def claude_code_tool_result_request() -> bytes:
    """The same session's second turn: it carries the Write tool_result."""
    return (DATA / "claude-code-tool-result-request.json").read_bytes()


@pytest.fixture(scope="session")
def claude() -> Path:
    """The pinned Claude Code binary. ``make test`` installs it (and says where in CLAUDE_CODE_BIN):
    missing there is a failure, not a skip."""
    exe = claude_binary()
    if exe is None:
        if os.environ.get("CLAUDE_CODE_BIN") or os.environ.get("CI"):
            pytest.fail(f"the pinned Claude Code binary is missing under {os.environ.get('CLAUDE_CODE_BIN')}: "
                        f"`make test` installs it into .cache/")
        pytest.skip("Claude Code binary not installed: run `make claude-code`")
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    assert VERSION in out.stdout
    return exe


@pytest.fixture
def claude_on_path(tmp_path, claude) -> dict[str, str]:
    """PATH with ``claude`` being the pinned binary, a throwaway HOME: Claude Code as a user runs it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(claude, bin_dir / "claude")
    home = tmp_path / "home"
    home.mkdir()
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(home), "TERM": "dumb"}


@pytest.fixture(params=["bash", "zsh"])
def shell(request) -> str:
    """Each shell a user pastes into; zsh is skipped, saying why, only where it cannot be installed."""
    from inspector.testing.shells import missing_shell

    if why := missing_shell(request.param):
        pytest.skip(why)
    return request.param
