"""How much room the real Claude Code needs: the smallest CLAUDE_CODE_MAX_CONTEXT_TOKENS it sends a
prompt with, per CLAUDE_CODE_MAX_OUTPUT_TOKENS, found by bisection against a scripted backend.

    .venv/bin/python tools/claude_window.py [--setup trimmed|full] [--outputs 512,1024,…]

Claude Code checks the window itself, before any request: below what it needs it prints
``Prompt is too long`` and never calls the backend. Each probe runs the pinned binary
(``make claude-code``) with a throwaway HOME against a scripted Anthropic-form backend on
loopback and counts a probe as working when the prompt reached the backend and Claude Code
printed its answer. ``trimmed`` is the README's quick prompt
(``claude -p "Say hello." --tools "" --system-prompt "Be brief."``), ``full`` Claude Code's
default setup (every tool, its own system prompt). Also printed: the ``max_tokens`` Claude Code
asked for, which is the reservation it made.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from inspector.testing.backends import Reply, ScriptedBackend
from inspector.testing.claude import claude_binary

SETUPS = {"trimmed": ("-p", "Say hello.", "--tools", "", "--system-prompt", "Be brief."),
          "full": ("-p", "Say hello.")}


def probe(exe: Path, backend: ScriptedBackend, setup: str, window: int, output: int | None,
          home: Path, work: Path) -> tuple[bool, int | None, str]:
    """(worked, max_tokens asked for, what Claude Code printed) for one window."""
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "TERM": "dumb",
           "ANTHROPIC_BASE_URL": backend.url, "ANTHROPIC_AUTH_TOKEN": "inspector-local",
           "ANTHROPIC_MODEL": "qwen3:8b", "ANTHROPIC_DEFAULT_HAIKU_MODEL": "qwen3:8b",
           "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "CLAUDE_CODE_MAX_CONTEXT_TOKENS": str(window)}
    if output is not None:
        env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] = str(output)
    before = len(backend.chat_requests)
    done = subprocess.run([str(exe), *SETUPS[setup]], cwd=work, env=env, capture_output=True, text=True,
                          timeout=120)
    sent = [r for r in backend.chat_requests[before:] if r.path.startswith("/v1/messages")
            and isinstance(r.body, dict) and "max_tokens" in r.body and r.path.split("?")[0] == "/v1/messages"]
    printed = (done.stdout + done.stderr).strip()
    worked = done.returncode == 0 and bool(sent) and "Prompt is too long" not in printed
    return worked, (sent[-1].body["max_tokens"] if sent else None), printed


def smallest(exe: Path, backend: ScriptedBackend, setup: str, output: int | None, home: Path, work: Path,
             lo: int, hi: int, step: int) -> tuple[int | None, int | None]:
    """The smallest working window in (lo, hi], to ``step`` tokens; and the max_tokens asked for there."""
    ok, asked, printed = probe(exe, backend, setup, hi, output, home, work)
    if not ok:
        print(f"    {hi}: does not work either: {printed[:200]}", file=sys.stderr)
        return None, None
    while hi - lo > step:
        mid = (lo + hi) // 2
        worked, got, _ = probe(exe, backend, setup, mid, output, home, work)
        print(f"    window {mid:>7}: {'works' if worked else 'Prompt is too long'}", file=sys.stderr)
        if worked:
            hi, asked = mid, got
        else:
            lo = mid
    return hi, asked


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setup", choices=tuple(SETUPS), action="append")
    parser.add_argument("--outputs", default="none,512,1024,2048,4096,8192,16384,32000",
                        help="CLAUDE_CODE_MAX_OUTPUT_TOKENS values to try ('none': unset)")
    parser.add_argument("--step", type=int, default=64, help="bisection precision in tokens")
    parser.add_argument("--high", type=int, default=200_000)
    args = parser.parse_args()
    exe = claude_binary()
    if exe is None:
        raise SystemExit("the pinned Claude Code binary is missing: make claude-code (or set CLAUDE_CODE_BIN)")
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True).stdout.strip()
    print(f"Claude Code {version}")
    print("setup    CLAUDE_CODE_MAX_OUTPUT_TOKENS  smallest CLAUDE_CODE_MAX_CONTEXT_TOKENS  max_tokens asked")
    with ScriptedBackend("anthropic", [Reply(text="Hello.")]) as backend, \
            tempfile.TemporaryDirectory(prefix="cc-window-") as tmp:
        home, work = Path(tmp) / "home", Path(tmp) / "work"
        home.mkdir()
        work.mkdir()
        for setup in args.setup or list(SETUPS):
            for value in args.outputs.split(","):
                output = None if value == "none" else int(value)
                found, asked = smallest(exe, backend, setup, output, home, work, 0, args.high, args.step)
                shown = "unset" if output is None else str(output)
                print(f"{setup:<8} {shown:>29}  {found if found is not None else 'none ≤ ' + str(args.high):>38}"
                      f"  {asked if asked is not None else '-':>16}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
