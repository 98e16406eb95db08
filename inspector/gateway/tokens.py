"""Per-session memory of what the backend really said: token counts that correct the estimate,
and the previous translated request that prefix stability is measured against.

``TokenBook`` is an exchange listener: when an answer carries the backend's own count of the
prompt (Ollama ``prompt_eval_count``, OpenAI ``usage.prompt_tokens``), the pair (estimate, real)
is kept for that session and model, and later estimates are scaled by what they turned out to
be. ``PrefixBook`` keeps the last translated request per session, model, purpose and subagent (a
title request, or a parallel subagent, says nothing about the main conversation's cache).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any

from ..protocol import PrefixReport, PrefixSnapshot, TokenCount, compare_prefix
from .exchange import EndListener, Exchange

__all__ = ["PrefixBook", "TokenBook", "estimate_source"]

#: Sessions remembered (least recently used forgotten first).
_SESSIONS = 256
#: Real counts per session and model that the correction is made from.
_PAIRS = 8


def estimate_source(raw: bool) -> str:
    return "estimate (request bytes / 4)" if raw else "estimate"


class _LRU(OrderedDict[Any, Any]):
    def touch(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > _SESSIONS:
            self.popitem(last=False)


class TokenBook(EndListener):
    """``estimate(session, model, raw)`` → the estimate, corrected by this session's real counts."""

    def __init__(self) -> None:
        self._pairs: _LRU = _LRU()

    def estimate(self, session: str | None, model: str, raw: int) -> TokenCount:
        pairs = self._pairs.get((session or "", model))
        if not pairs:
            return TokenCount(raw, False, estimate_source(True))
        ratio = sum(real for _, real in pairs) / max(1, sum(est for est, _ in pairs))
        n = len(pairs)
        return TokenCount(max(1, round(raw * ratio)), False,
                          f"estimate corrected by {n} real count{'s' if n > 1 else ''} this session (×{ratio:.2f})")

    def calibrated(self, session: str | None, model: str) -> bool:
        """Whether this session has seen a real count for ``model`` (the estimate is corrected)."""
        return (session or "", model) in self._pairs

    def learn(self, session: str | None, model: str, estimate: int, real: int) -> None:
        if estimate <= 0 or real <= 0:
            return
        key = (session or "", model)
        pairs = self._pairs.get(key)
        if pairs is None:
            pairs = deque(maxlen=_PAIRS)
        pairs.append((estimate, real))
        self._pairs.touch(key, pairs)

    # -- listener ---------------------------------------------------------------------------------
    def exchange_ended(self, ex: Exchange) -> None:
        if ex.kind != "messages" or ex.local or not ex.input_estimate:
            return
        usage = ex.result().backend
        if usage is not None and usage.prompt_tokens:
            self.learn(ex.session_id, ex.backend_model, ex.input_estimate, usage.prompt_tokens)


class PrefixBook:
    """The previous translated request per (session, model, purpose, subagent), to measure the next against."""

    def __init__(self) -> None:
        self._last: _LRU = _LRU()

    def compare(self, key: tuple[Any, ...], snapshot: PrefixSnapshot) -> PrefixReport | None:
        previous = self._last.get(key)
        self._last.touch(key, snapshot)
        return compare_prefix(previous, snapshot) if previous is not None else None
