"""What the colour log says while a request waits for the backend's first token.

A local model can read a long prompt for minutes before it writes anything; a log that shows
nothing meanwhile looks dead. ``Waiting`` follows each exchange from the moment it goes to the
backend until its first token (or its end) and says, once it has waited ``after`` seconds: how
long, the prompt's tokens, and how far the backend has read it — the backend's own figure where it
streams one (llama.cpp server's ``prompt_progress`` chunks: ``total``, ``cache``, ``processed``,
``time_ms``; tools/server/README.md ``return_progress``), else an estimate from the prompt rate
the backend showed earlier in the session, else nothing made up.

Pure (no I/O, no clock of its own): the colour log feeds it and asks ``lines(now)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from ..protocol import SSEDecoder

__all__ = ["Progress", "Waiting", "WaitingRequest", "read_progress"]


@dataclass(frozen=True, slots=True)
class Progress:
    """llama.cpp server's ``prompt_progress``: ``processed`` of ``total`` prompt tokens read,
    ``cache`` of them from the prompt cache (read at once)."""

    total: int
    cache: int
    processed: int
    time_ms: float

    @property
    def share(self) -> float:
        """The timed share done: (processed − cache) / (total − cache), as the server's README says."""
        todo = self.total - self.cache
        return 1.0 if todo <= 0 else max(0.0, min(1.0, (self.processed - self.cache) / todo))


def read_progress(data: str) -> Progress | None:
    """The ``prompt_progress`` of one SSE data payload, or None."""
    if "prompt_progress" not in data:
        return None
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    p = chunk.get("prompt_progress") if isinstance(chunk, dict) else None
    if not isinstance(p, dict):
        return None
    total, cache, processed, ms = p.get("total"), p.get("cache"), p.get("processed"), p.get("time_ms")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (total, cache, processed)):
        return None
    assert isinstance(total, int) and isinstance(cache, int) and isinstance(processed, int)
    return Progress(total, cache, processed, float(ms) if isinstance(ms, (int, float)) else 0.0)


@dataclass(slots=True)
class WaitingRequest:
    key: int
    session: str
    model: str
    backend: str
    since: float  # when the request went to the backend
    prompt_tokens: int | None
    exact: bool
    sse: bool = True  # the backend's stream is server-sent events (where progress can come)
    progress: Progress | None = None
    said: float | None = None  # when a plain line was last printed for it
    decoder: SSEDecoder = field(default_factory=SSEDecoder)


class Waiting:
    """The requests waiting for their first token, and what to say about them."""

    def __init__(self, *, after: float = 3.0) -> None:
        self.after = after
        self.requests: dict[int, WaitingRequest] = {}
        #: Prompt tokens per second the backend showed earlier in the session, per (backend, model).
        self.rates: dict[tuple[str, str], float] = {}

    def __bool__(self) -> bool:
        return bool(self.requests)

    def start(self, key: int, *, session: str, model: str, backend: str, since: float,
              prompt_tokens: int | None, exact: bool = False, sse: bool = True) -> None:
        self.requests[key] = WaitingRequest(key, session, model, backend, since, prompt_tokens, exact, sse)

    def backend_chunk(self, key: int, data: bytes) -> None:
        """A backend chunk before the first token: it may carry the server's prompt progress."""
        w = self.requests.get(key)
        if w is None or not w.sse:
            return
        for event in w.decoder.decode(data):
            progress = read_progress(event.data)
            if progress is not None:
                w.progress = progress

    def stop(self, key: int) -> WaitingRequest | None:
        """The first token came (or the exchange ended): nothing more to say about it."""
        return self.requests.pop(key, None)

    def learn(self, backend: str, model: str, performance: Any) -> None:
        """An answered exchange's figures: its prompt rate estimates the next requests' progress."""
        rate = performance.get("prompt_tokens_per_s") if isinstance(performance, dict) else None
        if isinstance(rate, (int, float)) and rate > 0:
            self.rates[(backend, model)] = float(rate)

    def due(self, now: float) -> list[WaitingRequest]:
        """The requests that have waited ``after`` seconds or more, longest first."""
        return sorted((w for w in self.requests.values() if now - w.since >= self.after), key=lambda w: w.since)

    def text(self, w: WaitingRequest, now: float) -> str:
        """``f72849ba qwen3:8b waiting 12s for the first token · prompt 13,219 tok · read 45% (llama.cpp)``."""
        parts = [f"{w.session} {w.model} waiting {now - w.since:.0f}s for the first token"]
        if w.prompt_tokens:
            parts.append(f"prompt {'' if w.exact else '≈'}{w.prompt_tokens:,} tok")
        if w.progress is not None:
            p = w.progress
            cached = f", {p.cache:,} from the cache" if p.cache else ""
            parts.append(f"read {p.share:.0%} ({p.processed:,} of {p.total:,}{cached}; the backend says)")
        elif (rate := self.rates.get((w.backend, w.model))) and w.prompt_tokens:
            share = min(1.0, rate * (now - w.since) / w.prompt_tokens)
            left = max(0.0, w.prompt_tokens / rate - (now - w.since))
            parts.append(f"read ≈{share:.0%} (at the {rate:,.0f} tok/s it showed earlier"
                         + (f", ≈{left:.0f}s left" if share < 1 else "; the prompt cache may hold less") + ")")
        else:
            parts.append("the backend says nothing about its progress")
        return " · ".join(parts)
