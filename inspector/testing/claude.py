"""The real Claude Code CLI (pinned by the Makefile into ``.cache/``), run as a user would."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .gateway import ROOT

__all__ = ["VERSION", "claude_binary", "claude_env", "run_claude"]

VERSION = "2.1.328"


def claude_binary() -> Path | None:
    """The pinned binary: ``$CLAUDE_CODE_BIN`` (the npm prefix ``make`` installed into) or .cache/."""
    base = Path(os.environ.get("CLAUDE_CODE_BIN") or ROOT / ".cache" / f"claude-code-{VERSION}")
    exe = base / "node_modules" / "@anthropic-ai" / "claude-code-linux-x64" / "claude"
    return exe if exe.exists() else None


def claude_env(base_url: str, home: Path, *, auth: str = "key", **extra: str) -> dict[str, str]:
    """A throwaway environment: nothing of the developer's own Claude Code setup leaks in."""
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "ANTHROPIC_BASE_URL": base_url,
           "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "TERM": "dumb"}
    if auth == "key":
        env["ANTHROPIC_API_KEY"] = "sk-ant-api03-test-secret"
    elif auth == "token":
        env["ANTHROPIC_AUTH_TOKEN"] = "inspector-local-token"
    env.update(extra)
    return env


def run_claude(exe: Path, base_url: str, cwd: Path, home: Path, prompt: str, *, auth: str = "key",
               args: tuple[str, ...] = ("--allowedTools", "Write"), timeout: float = 240,
               **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(exe), "-p", prompt, *args], cwd=cwd, env=claude_env(base_url, home, auth=auth, **extra),
                          capture_output=True, text=True, timeout=timeout)
