"""The README as a contract: its blocks, found by their text, run as written.

``blocks()`` lists every fenced block (language, text, line); ``block("make run MODEL")`` is the one
block of a runnable language (``sh``, ``python``) that contains the words. ``sh(text, ...)`` runs a
shell block with bash, exactly as a user pastes it (``set -e`` off: a paste does not stop at the first
failing line either; the result says what each line did). ``exports(text)`` is the environment an
``export`` block (or a command's printed one) gives a shell.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .gateway import ROOT

__all__ = ["README", "Block", "block", "blocks", "exports", "sh"]

README = ROOT / "README.md"
RUNNABLE = ("sh", "python")
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
_EXPORT = re.compile(r"^\s*(?:#\s*)?export (\w+)=(\S+)", re.M)


@dataclass(frozen=True, slots=True)
class Block:
    lang: str
    text: str
    line: int


def blocks() -> list[Block]:
    text = README.read_text()
    return [Block(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1) for m in _FENCE.finditer(text)]


def block(words: str) -> str:
    """The text of the one runnable block containing ``words`` (an error if none or several)."""
    found = [b for b in blocks() if b.lang in RUNNABLE and words in b.text]
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
