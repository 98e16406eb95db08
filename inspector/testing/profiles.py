"""Hypothesis example counts by profile: ``make check`` runs the short ``check`` profile, ``make test``
the full ``test`` one (``tests/conftest.py`` registers both and loads ``test`` unless pytest is given
``--hypothesis-profile``).

A property test says how many examples it needs in full, ``@settings(max_examples=examples(300))``;
the short profile runs a tenth of them (never fewer than five), with derandomized examples, so a quick
loop stays quick and says the same thing on every run.
"""

from __future__ import annotations

from hypothesis import settings

__all__ = ["FULL", "SHORT", "examples", "register"]

#: The profiles' base counts: a test's full count is scaled by the active one's over FULL.
FULL = 100
SHORT = 10


def register() -> None:
    settings.register_profile("test", max_examples=FULL, deadline=None)
    settings.register_profile("check", max_examples=SHORT, deadline=None, derandomize=True)


def examples(full: int) -> int:
    """``full`` examples under the ``test`` profile; a tenth (at least 5) under ``check``."""
    active = settings.default.max_examples if settings.default is not None else FULL
    return full if active >= FULL else max(5, full * active // FULL)
