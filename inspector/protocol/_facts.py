"""What a backend says about itself and about each answer: the truth the gateway reports.

Pure data and pure questions, no I/O. A backend form (``_form.py``) says *which* requests to
make — ``Probe`` objects — and reads the answers; the gateway runs the probes asynchronously
(``inspector.gateway.discovery``), doctor and ``inspector run`` synchronously
(``inspector.probe``). The conversation is a generator, so every caller drives the very same
logic::

    steps = form.discover("qwen3:8b", options=..., base_path="")
    probes = next(steps)                 # a list of Probe, to run together
    probes = steps.send(answers)         # one Answer per Probe, in order … until StopIteration
    facts = stop.value                   # ModelFacts

``ModelFacts`` — the context window the backend will really use, what the model can do,
whether the backend can count tokens. ``BackendUsage`` — what one answer said about tokens,
the prompt cache and where the seconds went.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["Answer", "BackendUsage", "CountSteps", "DiscoverySteps", "ModelFacts", "Probe", "TokenCount",
           "count_of", "no_count", "run_steps"]


@dataclass(frozen=True, slots=True)
class Probe:
    """One request to ask a backend something: ``path`` is relative to the backend's origin."""

    name: str
    method: str
    path: str
    body: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """A probe's answer: the HTTP status (0: no answer — refused, timed out, not JSON-speaking)
    and the parsed JSON body (None when there was none, or it was not JSON)."""

    status: int
    data: Any = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.data is not None


@dataclass(frozen=True, slots=True)
class ModelFacts:
    """What the backend said about one model. Every field may be unknown (None)."""

    model: str
    #: The context window the backend will use for this model's requests, and who said so.
    window: int | None = None
    window_source: str | None = None
    #: The length the model was trained for, when the backend said.
    trained: int | None = None
    #: The model's capabilities as the backend lists them (Ollama: "completion", "tools",
    #: "thinking", "vision"…); None when the backend does not say.
    capabilities: tuple[str, ...] | None = None
    #: The model takes thinking *levels* (low/medium/high) rather than on/off (gpt-oss on Ollama).
    think_levels: bool = False
    #: How the backend counts a request's tokens ("llama.cpp", "vllm"), None when it cannot.
    tokenizer: str | None = None
    #: Which server answered the probes (for people): "ollama", "llama.cpp", "vllm", "lmstudio"…
    server: str | None = None
    #: The window is only an upper bound for now (an Ollama model not loaded yet): ask again later.
    provisional: bool = False
    #: How many requests the server runs at once (llama.cpp ``/props`` ``total_slots``), when it says.
    slots: int | None = None

    def with_window(self, tokens: int, source: str, *, provisional: bool = False) -> ModelFacts:
        return replace(self, window=tokens, window_source=source, provisional=provisional)

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "window": self.window, "window_source": self.window_source,
                "trained": self.trained, "capabilities": list(self.capabilities) if self.capabilities is not None
                else None, "think_levels": self.think_levels, "tokenizer": self.tokenizer, "server": self.server,
                "slots": self.slots}


@dataclass(frozen=True, slots=True)
class TokenCount:
    """A request's input tokens: counted by the backend's tokenizer (exact) or estimated."""

    tokens: int
    exact: bool
    source: str
    #: Tool names the backend's chat template left out of the prompt it renders (a template that
    #: cannot show tools hides them from the model without a word), when that could be checked.
    tools_dropped: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"input_tokens": self.tokens, "exact": self.exact, "source": self.source}


def as_object(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (answers are read, never trusted)."""
    return value if isinstance(value, dict) else {}


def _ms(value: Any, scale: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return None
    return round(value * scale, 3)


def count_of(value: Any) -> int | None:
    """A token count as servers send it: an int, or a float that is a whole number (some send
    ``1920.0``); None for anything else."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


_count = count_of


@dataclass(slots=True)
class BackendUsage:
    """What one answer said: tokens (the whole prompt, the part read from the prompt cache),
    and timings. Only what the backend said — nothing here is estimated."""

    source: str
    #: The prompt as the backend counted it, cache hits included (Ollama prompt_eval_count,
    #: OpenAI usage.prompt_tokens).
    prompt_tokens: int | None = None
    #: Of those, read from the backend's prompt cache (None: the backend did not say).
    cached_tokens: int | None = None
    #: Written to a cache the backend bills separately (OpenAI-form cache_write_tokens).
    cache_write_tokens: int | None = None
    output_tokens: int | None = None
    load_ms: float | None = None
    #: Prompt tokens the backend actually evaluated (cache hits excluded) and how long that took.
    prompt_eval_tokens: int | None = None
    prompt_ms: float | None = None
    decode_tokens: int | None = None
    decode_ms: float | None = None

    @classmethod
    def counts(cls, source: str, *, prompt: Any = None, cached: Any = None, cache_write: Any = None,
               output: Any = None) -> BackendUsage:
        return cls(source, prompt_tokens=_count(prompt), cached_tokens=_count(cached),
                   cache_write_tokens=_count(cache_write), output_tokens=_count(output))

    def timings(self, *, load_ns: Any = None, prompt_n: Any = None, prompt_ns: Any = None, decode_n: Any = None,
                decode_ns: Any = None, scale: float = 1e-6) -> BackendUsage:
        """Timing figures; durations in the backend's unit, ``scale`` turning them into ms."""
        self.load_ms = _ms(load_ns, scale)
        self.prompt_eval_tokens = _count(prompt_n)
        self.prompt_ms = _ms(prompt_ns, scale)
        self.decode_tokens = _count(decode_n)
        self.decode_ms = _ms(decode_ns, scale)
        return self

    def merge(self, other: BackendUsage | None) -> BackendUsage:
        """Another part of the same answer (OpenAI-form streams put usage and timings in different
        chunks): what it says wins where it says something."""
        if other is None:
            return self
        # The server that gave the timings names the figures (llama.cpp's, not "openai"'s).
        if other.source and (other.has_timings or not self.has_timings):
            self.source = other.source
        for name in _FIELDS:
            value = getattr(other, name)
            if value is not None:
                setattr(self, name, value)
        return self

    @property
    def has_timings(self) -> bool:
        return any(v is not None for v in (self.load_ms, self.prompt_ms, self.decode_ms))

    @property
    def input_tokens(self) -> int | None:
        """Anthropic's ``input_tokens``: the prompt without what was read from (or written to) the
        cache — Anthropic counts the three disjointly. Servers count the prompt with both in it;
        one whose prompt is smaller than its cache figures counted them apart already."""
        if self.prompt_tokens is None:
            return None
        rest = self.prompt_tokens - (self.cached_tokens or 0) - (self.cache_write_tokens or 0)
        return rest if rest >= 0 else self.prompt_tokens


_FIELDS = ("prompt_tokens", "cached_tokens", "cache_write_tokens", "output_tokens", "load_ms",
           "prompt_eval_tokens", "prompt_ms", "decode_tokens", "decode_ms")

#: The conversations a form has with a backend: lists of probes out, their answers in.
DiscoverySteps = Generator[list[Probe], list[Answer], ModelFacts]
CountSteps = Generator[list[Probe], list[Answer], TokenCount | None]


def no_count() -> CountSteps:
    """A backend that cannot count tokens."""
    return None
    yield []  # pragma: no cover - makes this a generator


def run_steps(steps: Generator[list[Probe], list[Answer], Any], ask: Any) -> Any:
    """Drive ``steps`` synchronously, ``ask(probes) -> answers`` (doctor, ``inspector run``)."""
    try:
        probes = next(steps)
        while True:
            probes = steps.send(ask(probes))
    except StopIteration as stop:
        return stop.value
