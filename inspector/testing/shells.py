"""Real interactive shells, as a user has them, for pasting what the project prints.

``Shell("zsh", env=…, cwd=…)`` is ``zsh -f -i`` (``bash --norc --noprofile -i`` for bash) in a
pseudo-terminal made by util-linux's ``script``: a controlling terminal, a line editor, prompts —
and interactive zsh's rules, under which ``#`` starts no comment. ``paste(text)`` sends text as a
terminal pastes it (inside bracketed-paste markers when the shell has turned them on, as both
shells do) and presses Enter; ``run(command)`` types a command and returns its exit status and
output; ``exported()`` is the environment the shell itself prints (``env``), so what a paste left
set is read from the very shell Claude Code then runs in.

``printed_block(output)`` is what a user selects in ``make run``'s, ``inspector run``'s or
``inspector replay``'s output to paste: the lines between the blank line after "Paste into the
shell…" and the next blank line, as printed.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Literal

__all__ = ["SHELLS", "PasteError", "Shell", "missing_shell", "printed_block"]

SHELLS: tuple[Literal["bash", "zsh"], ...] = ("bash", "zsh")
_ARGV = {"bash": ["bash", "--norc", "--noprofile", "-i"], "zsh": ["zsh", "-f", "-i"]}
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][A-Za-z0-9]|\x1b[=>]|\r")
#: What either shell prints when a pasted line is not what it looks like.
_TROUBLE = ("command not found", "parse error", "syntax error", "quote>", "dquote>", "bad pattern",
            "no matches found", "unmatched", "unexpected", "not a valid identifier", "bad substitution")
_PASTE_ON, _PASTE_OFF = "\x1b[?2004h", "\x1b[?2004l"
_markers = itertools.count(1)


class PasteError(AssertionError):
    """The shell did not take a paste as plain commands (an error, or it waits inside a quote)."""


def missing_shell(name: str) -> str | None:
    """Why ``name`` cannot be run here (None: it can)."""
    if shutil.which("script") is None:
        return "util-linux's `script` (the pseudo-terminal) is not installed"
    if shutil.which(name) is None:
        return f"{name} is not installed (make test installs it with apt-get where it can)"
    return None


def printed_block(output: str, heading: str = "Paste into the shell") -> str:
    """The block to paste in a command's output, exactly as printed (newline-terminated lines)."""
    lines = output.replace("\r\n", "\n").split("\n")
    start = next((i for i, line in enumerate(lines) if line.startswith(heading)), None)
    if start is None:
        raise LookupError(f"no {heading!r} in:\n{output}")
    i = start + 1
    while i < len(lines) and lines[i].strip():  # the heading may wrap over several lines
        i += 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    end = i
    while end < len(lines) and lines[end].strip():
        end += 1
    return "".join(line + "\n" for line in lines[i:end])


class Shell:
    """An interactive ``bash`` or ``zsh`` in a pseudo-terminal (see the module docstring)."""

    def __init__(self, name: Literal["bash", "zsh"], *, env: dict[str, str], cwd: Path) -> None:
        self.name = name
        env = {**env, "PS1": "$ ", "PROMPT": "$ ", "TERM": env.get("TERM", "dumb")}
        command = " ".join(_ARGV[name])
        self.proc = subprocess.Popen(["script", "-qfec", command, "/dev/null"], cwd=cwd, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self._raw = bytearray()
        self._lock = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._wait_for(lambda raw: raw.endswith(b"$ ") or _PASTE_ON.encode() in raw, 20, "a prompt")

    # -- the terminal ----------------------------------------------------------------------------
    def _read(self) -> None:
        assert self.proc.stdout is not None
        while chunk := os.read(self.proc.stdout.fileno(), 65536):
            with self._lock:
                self._raw += chunk
                self._lock.notify_all()
        with self._lock:
            self._lock.notify_all()

    def _send(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def _wait_for(self, done: object, timeout: float, what: str) -> bytes:
        deadline = time.monotonic() + timeout
        with self._lock:
            while not done(bytes(self._raw)):  # type: ignore[operator]
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise PasteError(f"{self.name}: waited {timeout:g} s for {what}; the terminal shows:\n"
                                     f"{self.transcript}")
                self._lock.wait(min(left, 0.2))
            return bytes(self._raw)

    @property
    def transcript(self) -> str:
        """What the terminal shows so far, control sequences removed."""
        return _ANSI.sub("", bytes(self._raw).decode("utf-8", "replace"))

    @property
    def bracketed_paste(self) -> bool:
        raw = bytes(self._raw).decode("utf-8", "replace")
        return raw.rfind(_PASTE_ON) > raw.rfind(_PASTE_OFF)

    # -- what a user does ------------------------------------------------------------------------
    def paste(self, text: str, *, timeout: float = 15) -> str:
        """Paste ``text`` and press Enter; what the shell printed in answer. Raises PasteError when
        the shell complained or is left waiting (an open quote swallows everything after it)."""
        before = len(self._raw)
        data = text.rstrip("\n").encode()
        if self.bracketed_paste:
            data = b"\x1b[200~" + data + b"\x1b[201~"
        self._send(data + b"\r")
        self.run("true", timeout=timeout)  # returns once the shell reads commands again
        printed = _ANSI.sub("", bytes(self._raw[before:]).decode("utf-8", "replace"))
        trouble = [t for t in _TROUBLE if t in printed]
        if trouble:
            raise PasteError(f"{self.name} did not take the paste as plain commands ({', '.join(trouble)}):\n"
                             f"{printed}")
        return printed

    def run(self, command: str, *, timeout: float = 60) -> tuple[int, str]:
        """Type ``command`` and Enter: its exit status and what it printed."""
        n = next(_markers)
        # The markers are printed in two halves so the echo of the typed line never matches them.
        begin, end = f"<<begin-{n}>>", f"<<end-{n}>>"
        line = (f"printf '%s%s\\n' '{begin[:4]}' '{begin[4:]}'; {command}; "
                f"printf '\\n%s%s %s\\n' '{end[:4]}' '{end[4:]}' \"$?\"")
        self._send(line.encode() + b"\r")
        pattern = re.compile(re.escape(begin) + r"\n(.*?)\n?" + re.escape(end) + r" (\d+)\n", re.S)
        self._wait_for(lambda raw: pattern.search(_ANSI.sub("", raw.decode("utf-8", "replace"))), timeout,
                       f"`{command}` to finish")
        found = pattern.search(self.transcript)
        assert found is not None
        return int(found.group(2)), found.group(1)

    def exported(self) -> dict[str, str]:
        """The shell's exported variables, as it prints them itself."""
        status, out = self.run("env")
        assert status == 0, out
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._send(b"exit\r")
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 9)
            self.proc.wait()

    def __enter__(self) -> Shell:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
