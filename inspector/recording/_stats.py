"""``inspector stats``: where the seconds went, per model, across recorded sessions.

Read from ``exchange.json`` only (``performance``, ``timing_ms``, ``queue``, ``usage``, ``prefix``, ``overhead_ms``), so it is
fast on large folders. A figure the backend never gave (an older recording, a server that reports
no timings) is not guessed: it is left out of the percentiles, and a model with none says unknown.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._ladder import RUNGS, top_rung
from ._meta import ExchangeMeta
from ._reader import SessionRecord, is_session, list_sessions

__all__ = ["ModelStats", "quantile", "stats_report"]


def quantile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile with linear interpolation between ranks (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@dataclass(slots=True)
class ModelStats:
    model: str
    exchanges: int = 0  # Messages exchanges the backend answered
    sessions: set[str] = field(default_factory=set)
    prompt_tps: list[float] = field(default_factory=list)
    decode_tps: list[float] = field(default_factory=list)
    ttft_ms: list[float] = field(default_factory=list)
    #: Time waited in the gateway's queue before the backend call (exchanges that had a queue).
    queue_ms: list[float] = field(default_factory=list)
    prefix_kept: list[float] = field(default_factory=list)
    overhead_ms: list[float] = field(default_factory=list)  # what the gateway itself spent (overhead_ms.total)
    cache_read: int = 0
    cache_input: int = 0  # all input tokens of the exchanges whose cache reads were reported
    cache_known: int = 0
    sources: Counter[str] = field(default_factory=Counter)
    #: The repair ladder: exchanges whose calls ended parsed, repaired, re-asked or failed, and the
    #: seconds each re-ask took (``_ladder.py``).
    rungs: Counter[str] = field(default_factory=Counter)
    reask_s: list[float] = field(default_factory=list)

    @property
    def cache_share(self) -> float | None:
        return self.cache_read / self.cache_input if self.cache_known and self.cache_input else None

    def add(self, meta: ExchangeMeta, session: str) -> None:
        self.exchanges += 1
        self.sessions.add(session)
        perf = _obj(meta.get("performance"))
        for key, into in (("prompt_tokens_per_s", self.prompt_tps), ("decode_tokens_per_s", self.decode_tps)):
            value = _num(perf.get(key))
            if value is not None:
                into.append(value)
        if isinstance(perf.get("source"), str):
            self.sources[perf["source"]] += 1
        ttft = _num(_obj(meta.get("timing_ms")).get("first_token"))
        if ttft is not None:
            self.ttft_ms.append(ttft)
        overhead = _num(_obj(meta.get("overhead_ms")).get("total"))
        if overhead is not None:
            self.overhead_ms.append(overhead)
        waited = _num(_obj(meta.get("queue")).get("wait_ms"))
        if waited is not None:
            self.queue_ms.append(waited)
        kept = _num(_obj(meta.get("prefix")).get("kept"))
        if kept is not None:
            self.prefix_kept.append(kept)
        usage = _obj(meta.get("usage"))
        read = usage.get("cache_read_input_tokens")
        if isinstance(read, int):
            # Anthropic's usage is disjoint: all input = input + cache reads + cache writes.
            self.cache_known += 1
            self.cache_read += read
            self.cache_input += read + int(usage.get("input_tokens") or 0) + int(usage.get("cache_creation_input_tokens") or 0)

    def climbed(self, meta: ExchangeMeta) -> None:
        """Where this exchange's tool calls ended on the repair ladder, and what its re-ask took. Counted
        for every answered exchange — one whose call stayed broken too (it carries an error note)."""
        if (rung := top_rung(meta)) is not None:
            self.rungs[rung] += 1
        seconds = _num(_obj(meta.get("reask")).get("seconds"))
        if seconds is not None:
            self.reask_s.append(seconds)

    def as_dict(self) -> dict[str, Any]:
        def pair(values: list[float]) -> dict[str, float | None]:
            p50, p90 = quantile(values, 0.5), quantile(values, 0.9)
            return {"p50": None if p50 is None else round(p50, 3), "p90": None if p90 is None else round(p90, 3),
                    "n": len(values)}
        return {"model": self.model, "exchanges": self.exchanges, "sessions": len(self.sessions),
                "prompt_tokens_per_s": pair(self.prompt_tps), "decode_tokens_per_s": pair(self.decode_tps),
                "ttft_ms": pair(self.ttft_ms), "queue_ms": pair(self.queue_ms), "prefix_kept": pair(self.prefix_kept),
                "overhead_ms": pair(self.overhead_ms),
                "cache_hit_share": self.cache_share, "cache_read_tokens": self.cache_read if self.cache_known else None,
                "sources": dict(self.sources), "rungs": {rung: self.rungs[rung] for rung in RUNGS},
                "reask_s": pair(self.reask_s)}


def _sessions(root: Path) -> list[SessionRecord]:
    return [SessionRecord(root)] if is_session(root) else list_sessions(root)


def stats_report(root: Path | str) -> list[ModelStats]:
    """Per backend model, the figures of every answered Messages exchange under ``root`` (a folder
    of sessions, or one session)."""
    models: dict[str, ModelStats] = {}
    for session in _sessions(Path(root)):
        for ex in session.exchanges():
            meta = ex.meta
            status = _obj(meta.get("status")).get("client")
            if meta.get("kind") != "messages" or meta.get("local") or status != 200:
                continue
            names = _obj(meta.get("model"))
            model = names.get("backend") or names.get("requested") or "?"
            stats = models.setdefault(model, ModelStats(model))
            stats.climbed(meta)
            if not meta.get("error"):
                stats.add(meta, session.path.name)
    return sorted(models.values(), key=lambda m: m.model)
