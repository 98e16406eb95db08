"""The README as a contract: its blocks, found by their text, run as written.

``blocks()`` lists every fenced block of the README and docs/*.md (language, text, line, file);
``block("make run MODEL")`` is the one block of a runnable language (``sh``, ``python``) that contains
the words. ``sh(text, ...)`` runs a
shell block with bash, exactly as a user pastes it (``set -e`` off: a paste does not stop at the first
failing line either; the result says what each line did). ``exports(text)`` is the environment an
``export`` block (or a command's printed one) gives a shell. ``Running`` is a command left running
(``make run``, ``inspector replay``), read as it prints and stopped like Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from .gateway import ROOT, wait_port

__all__ = ["DOCS", "MAKE_RUN_VARIABLES", "README", "Block", "Running", "block", "blocks", "documents", "exports",
           "free", "make_env", "need_ports", "sh"]

README = ROOT / "README.md"
#: The contributor material the README points to (docs/architecture.md, testing.md, performance.md).
DOCS = ROOT / "docs"
RUNNABLE = ("sh", "python")
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
_EXPORT = re.compile(r"^\s*(?:#\s*)?export (\w+)=(\S+)", re.M)


@dataclass(frozen=True, slots=True)
class Block:
    lang: str
    text: str
    line: int
    file: str = "README.md"


def documents() -> list[Path]:
    """The README, then the docs it points to."""
    return [README, *sorted(DOCS.glob("*.md"))]


def blocks() -> list[Block]:
    """Every fenced block of the README and of docs/*.md (a block moved there is still found)."""
    found = []
    for path in documents():
        text = path.read_text()
        name = str(path.relative_to(ROOT))
        found += [Block(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1, name)
                  for m in _FENCE.finditer(text)]
    return found


def block(words: str, *, langs: tuple[str, ...] = RUNNABLE) -> str:
    """The text of the one block of ``langs`` (runnable ones by default) containing ``words`` (an
    error if none or several)."""
    found = [b for b in blocks() if b.lang in langs and words in b.text]
    if len(found) != 1:
        raise LookupError(f"{len(found)} README blocks contain {words!r}")
    return found[0].text


def exports(text: str) -> dict[str, str]:
    """``NAME=value`` for every ``export`` line (also the ``#   export`` lines of printed output)."""
    out = {}
    for name, value in _EXPORT.findall(text):
        value = value.strip("'\"")
        out[name] = os.path.expanduser(value) if value.startswith("~") else value
    return out


def sh(text: str, *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 240,
       **kw: object) -> subprocess.CompletedProcess[str]:
    """Run a README shell block with bash, as pasted."""
    return subprocess.run(["bash", "-c", text], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, **kw)  # type: ignore[call-overload]


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
        import pytest

        pytest.skip(f"the README's recipe uses port(s) {taken}, taken on this machine")


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
