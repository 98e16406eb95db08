"""The committed sample sessions (listed in recordings/samples.txt), and only them.

Developers record their own sessions into recordings/ too (``make run``); tests that read the
samples use a private copy so those never change what the tests see.
"""

from __future__ import annotations

import shutil
import tempfile
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def sample_names() -> list[str]:
    return (ROOT / "recordings" / "samples.txt").read_text().split()


@cache
def samples_dir() -> Path:
    """A folder named ``recordings`` holding a copy of just the sample sessions (made once per run)."""
    target = Path(tempfile.mkdtemp(prefix="inspector-samples-")) / "recordings"
    target.mkdir()
    for name in sample_names():
        shutil.copytree(ROOT / "recordings" / name, target / name)
    return target
