"""One exchange going through the gateway — its identity, its timings, its live handles — and the
listeners (recorder, colour log, exporters) that are told about it."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, cast, runtime_checkable

from ..protocol import (
    BackendForm,
    BackendUsage,
    ModelFacts,
    Notes,
    PrefixReport,
    RequestKind,
    StreamProcessor,
    StreamResult,
    TokenCount,
    ToolNames,
    TranslateContext,
    TranslateOptions,
)
from ..recording import ExchangeMeta
from ..recording._meta import (
    AttemptDirection,
    Direction,
    ErrorMeta,
    Headers,
    OverheadMeta,
    PerformanceMeta,
    PrefixMeta,
    RequestSnapshot,
    TokenCountsMeta,
    ToolCallMeta,
    ToolResultMeta,
    TraceMeta,
    UsageMeta,
)
from ..telemetry import TraceContext

__all__ = ["OVERHEAD_HEADER", "Direction", "EndListener", "Exchange", "ExchangeListener", "Listeners", "Mode", "Overhead",
           "RecordingHandle", "RequestSnapshot"]

#: The response header that says what the gateway itself spent before the response head went out
#: (a streamed answer's head goes before its stream: there it is the request's part only).
OVERHEAD_HEADER = "x-inspector-overhead-ms"

log = logging.getLogger("inspector")

Mode = Literal["reverse", "regular"]


class RecordingHandle(Protocol):
    """Where an exchange is being recorded (``ExchangeWriter``, or the sidecar's front half)."""

    def requests(self, client: RequestSnapshot, backend: RequestSnapshot | None) -> None: ...

    def response_head(self, direction: AttemptDirection, status: int, headers: Iterable[tuple[str, str]],
                      t: float | None = None) -> None: ...

    def chunk(self, direction: AttemptDirection, data: bytes, t: float | None = None) -> None: ...

    def finish(self, meta: ExchangeMeta) -> None: ...

    def attempt_request(self, n: int, request: RequestSnapshot) -> None: ...


@dataclass(slots=True)
class Overhead:
    """What the gateway itself spent on one exchange, in seconds, measured where it works (SCHEMA.md
    ``overhead_ms``): preparing the request (parse, translate, serialise, count — from the request
    hook to the job handed to the relay), and for each of the backend's chunks the time from its
    bytes being read to their translation written toward the client (a whole answer: from its last
    byte to the client's answer). The relay's loopback hop and mitmproxy's own forwarding are not in it."""

    request: float = 0.0
    response: float = 0.0
    chunks: int = 0
    worst: float = 0.0  # the longest one chunk took

    def chunk(self, seconds: float) -> None:
        self.response += seconds
        self.chunks += 1
        if seconds > self.worst:
            self.worst = seconds

    @property
    def total(self) -> float:
        return self.request + self.response

    def header(self) -> tuple[str, str]:
        """``x-inspector-overhead-ms``: what was spent until now (milliseconds)."""
        return OVERHEAD_HEADER, f"{self.total * 1000:.3f}"

    def as_dict(self) -> OverheadMeta:
        return {"request": round(self.request * 1000, 3), "response": round(self.response * 1000, 3),
                "total": round(self.total * 1000, 3), "chunks": self.chunks,
                "worst_chunk": round(self.worst * 1000, 3)}


@dataclass(slots=True)
class Exchange:
    form: BackendForm
    kind: RequestKind
    mode: Mode = "reverse"
    # -- what it is --------------------------------------------------------------------------------
    client_model: str = ""
    backend_model: str = ""
    backend: str = ""  # origin + base path of the backend
    stream: bool = False
    local: bool = False  # answered by the gateway itself
    client: str = ""  # the client's user-agent
    session_id: str | None = None
    id_source: str = "none"
    purpose: str = "main"
    #: Claude Code's ``x-claude-code-agent-id`` / ``-parent-agent-id``: a subagent's requests carry them.
    agent_id: str | None = None
    parent_agent_id: str | None = None
    #: The exchange's place in a trace (an inbound ``traceparent``, else the session's trace).
    trace: TraceContext | None = None
    #: Its spans are exported (the OTLP listener said so): the backend is told the gateway's span.
    traced: bool = False
    notes: Notes = field(default_factory=Notes)
    # -- the requests --------------------------------------------------------------------------------
    client_request: RequestSnapshot | None = None
    backend_request: RequestSnapshot | None = None
    options: TranslateOptions | None = None
    tools: list[dict[str, Any]] | None = None  # the offered tools (names and input schemas)
    names: ToolNames | None = None  # OpenAI-form tool name mapping
    input_estimate: int = 0
    tool_results: list[ToolResultMeta] = field(default_factory=list)
    # -- what the backend says (SCHEMA.md: token_counts, context_window, prefix, performance) -------
    facts: ModelFacts | None = None
    token_count: TokenCount | None = None  # the request's input tokens as the gateway counted them
    context: tuple[int, str] | None = None  # (tokens, source) of the context window it was checked against
    prefix: PrefixReport | None = None  # against the previous request of this session, model and purpose
    backend_usage: BackendUsage | None = None  # what a whole (non-streamed) answer said
    #: The repair ladder's re-ask rung, when it ran (``reask.Rung``: why, how, the outcome).
    reask: Any = None
    # -- live handles ----------------------------------------------------------------------------------
    processor: StreamProcessor | None = None  # translator or passthrough observer, while streaming
    answer: dict[str, Any] | None = None  # a whole (non-streamed) Message or error body sent to the client
    writer: RecordingHandle | None = None  # the recording, when recording
    # -- how it went ---------------------------------------------------------------------------------
    backend_status: int | None = None
    client_status: int | None = None
    incomplete: str | None = None
    aborted_by: Literal["client", "backend", "gateway"] | None = None
    started_wall: float = field(default_factory=time.time)
    started: float = field(default_factory=time.monotonic)
    queued: float | None = None  # it asked the backend's queue for a turn (translation done)
    queue: dict[str, Any] | None = None  # what the queue said (SCHEMA.md: queue); None when there was none
    sent: float | None = None  # the request went to the backend
    first_byte: float | None = None  # the backend's response head
    first_token: float | None = None  # the first content delta sent to the client
    ended: float | None = None
    final: ExchangeMeta | None = None  # the summary, once the exchange has ended
    #: What the gateway itself spent on it (``overhead_ms``); None for traffic it only observed.
    overhead: Overhead | None = None
    #: Parties still working on it (the relay's pipeline, mitmproxy's flow): it ends when both let go.
    holds: int = 0
    told_start: bool = False

    def translation(self) -> TranslateContext:
        """The exchange as its form translates it (``message_start`` reports the tokens counted so far)."""
        tokens = self.token_count.tokens if self.token_count is not None else self.input_estimate
        return TranslateContext(options=self.options or TranslateOptions(), model=self.client_model,
                                backend_model=self.backend_model, backend=self.backend, input_tokens=tokens,
                                notes=self.notes, names=self.names, tools=self.tools)

    def _ms(self, t: float | None) -> float | None:
        return round((t - self.started) * 1000, 1) if t is not None else None

    def result(self) -> StreamResult:
        if self.processor is not None:
            return self.processor.result()
        a = self.answer
        if isinstance(a, dict) and a.get("type") == "message":
            usage = a["usage"] if isinstance(a.get("usage"), dict) else {}
            known = self.backend_usage
            said = {"cache_read_input_tokens": known is not None and known.cached_tokens is not None,
                    "cache_creation_input_tokens": known is not None and known.cache_write_tokens is not None}
            return StreamResult(
                message_id=a.get("id"), stop_reason=a.get("stop_reason"),
                # A translated answer's cache fields are zeros unless the backend said something.
                usage={k: v for k, v in usage.items() if isinstance(v, int)
                       and (not self.form.writes_answers or said.get(k, True))},
                tool_calls=[{"name": b.get("name"), "id": b.get("id"), "input": b.get("input")}
                            for b in a.get("content") or [] if isinstance(b, dict) and b.get("type") == "tool_use"],
                backend=known)
        return StreamResult()

    def performance(self, r: StreamResult) -> PerformanceMeta | None:
        """Where the seconds went: the backend's own figures when it gave them (Ollama's durations,
        llama.cpp's ``timings``), else what the gateway measured — never an invented figure."""
        b = r.backend
        if b is not None and b.has_timings:
            perf: PerformanceMeta = {"load_ms": b.load_ms, "prompt_tokens": b.prompt_eval_tokens, "prompt_ms": b.prompt_ms,
                                    "decode_tokens": b.decode_tokens, "decode_ms": b.decode_ms, "source": b.source}
        elif (self.stream and self.kind == "messages" and not self.local and self.sent is not None
              and self.first_token is not None and self.ended is not None and r.stop_reason):
            # Only a stream shows when the prompt was done (its first token); a whole answer cannot be split.
            evaluated = None
            if b is not None and b.prompt_tokens is not None:
                evaluated = b.prompt_tokens - (b.cached_tokens or 0)
            perf = {"load_ms": None, "prompt_tokens": evaluated,
                    "prompt_ms": round((self.first_token - self.sent) * 1000, 1),
                    "decode_tokens": b.output_tokens if b is not None else None,
                    "decode_ms": round((self.ended - self.first_token) * 1000, 1), "source": "gateway"}
        else:
            return None
        perf["prompt_tokens_per_s"] = _rate(perf.get("prompt_tokens"), perf.get("prompt_ms"))
        perf["decode_tokens_per_s"] = _rate(perf.get("decode_tokens"), perf.get("decode_ms"))
        return perf

    @property
    def error(self) -> ErrorMeta | None:
        err = self.processor.error if self.processor is not None else None
        if err is not None:
            return {"type": err.type, "message": err.message}
        a = self.answer
        if isinstance(a, dict) and a.get("type") == "error" and isinstance(a.get("error"), dict):
            return {"type": str(a["error"].get("type")), "message": str(a["error"].get("message"))}
        errors = self.notes.of("error")
        return {"type": "error", "message": errors[-1].message} if errors else None

    def summary(self) -> ExchangeMeta:
        """What ``exchange.json`` and the colour log say about the exchange (SCHEMA.md)."""
        r = self.result()
        out: ExchangeMeta = {
            "form": self.form.name, "kind": self.kind, "purpose": self.purpose, "mode": self.mode,
            "local": self.local, "stream": self.stream, "client": self.client,
            "session_id": self.session_id,
            "model": {"requested": self.client_model, "backend": self.backend_model},
            "backend": self.backend,
            "status": {"client": self.client_status, "backend": self.backend_status},
            "timing_ms": {"backend_first_byte": self._ms(self.first_byte),
                          "first_token": self._ms(self.first_token),
                          "total": self._ms(self.ended or time.monotonic())},
            "message_id": r.message_id,
            # The protocol core's own dicts, in the shapes SCHEMA.md gives them.
            "usage": cast(UsageMeta, r.usage or {}), "stop_reason": r.stop_reason,
            "tool_calls": cast(list[ToolCallMeta], r.tool_calls or []),
            "tool_results": self.tool_results,
            "error": self.error, "incomplete": self.incomplete, "aborted_by": self.aborted_by,
            "notes": self.notes.as_list(),
            "translate_options": _options_dict(self.options),
        }
        if self.agent_id is not None:
            out["agent"] = {"id": self.agent_id, "parent": self.parent_agent_id}
        if self.queued is not None and self.sent is not None and not self.local:
            out["timing_ms"] |= {"queued": self._ms(self.queued), "sent": self._ms(self.sent)}
        if self.queue is not None:
            out["queue"] = self.queue
        if self.trace is not None:
            out["trace"] = cast(TraceMeta, self.trace.as_dict())
        if self.token_count is not None:
            out["token_counts"] = cast(TokenCountsMeta, self.token_count.as_dict())
        if self.form.writes_answers and r.usage:
            said = r.backend
            out["usage_source"] = "backend" if said is not None and said.prompt_tokens is not None else "gateway"
        if self.context is not None:
            out["context_window"] = {"tokens": self.context[0], "source": self.context[1]}
        if self.prefix is not None:
            out["prefix"] = cast(PrefixMeta, self.prefix.as_dict())
        performance = self.performance(r)
        if performance is not None:
            out["performance"] = performance
        if self.overhead is not None:
            out["overhead_ms"] = self.overhead.as_dict()
        if self.reask is not None:
            out["reask"] = self.reask.as_dict()
        return out


def _rate(tokens: int | None, ms: float | None) -> float | None:
    if tokens is None or not ms or ms <= 0:
        return None
    return round(tokens / (ms / 1000), 1)


def _options_dict(options: TranslateOptions | None) -> dict[str, Any] | None:
    if options is None:
        return None
    out = {name: getattr(options, name) for name in options.__dataclass_fields__}
    if out.get("capabilities") is not None:
        out["capabilities"] = list(out["capabilities"])
    return out


@runtime_checkable
class ExchangeListener(Protocol):
    """Told about every exchange the gateway handles. Any loaded addon with these four methods is
    one (the recorder, the colour log, exporters — or a script of your own)."""

    def exchange_started(self, ex: Exchange) -> None: ...

    def exchange_response(self, ex: Exchange, direction: Direction, status: int, headers: Headers) -> None: ...

    def exchange_chunk(self, ex: Exchange, direction: Direction, data: bytes) -> None: ...

    def exchange_ended(self, ex: Exchange) -> None: ...


class EndListener:
    """A listener that only wants each exchange's end (the token book, eval's waiter, the tests' collector):
    the other three calls do nothing."""

    def exchange_started(self, ex: Exchange) -> None:
        pass

    def exchange_response(self, ex: Exchange, direction: Direction, status: int, headers: Headers) -> None:
        pass

    def exchange_chunk(self, ex: Exchange, direction: Direction, data: bytes) -> None:
        pass

    def exchange_ended(self, ex: Exchange) -> None:
        raise NotImplementedError


class Listeners:
    """The listeners, called directly (typed, no string dispatch); a listener's bug is logged once
    and never reaches the traffic."""

    __slots__ = ("items", "_failed")

    def __init__(self, items: Iterable[ExchangeListener] = ()) -> None:
        self.items: list[ExchangeListener] = list(items)
        self._failed: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self.items)

    def _broken(self, listener: object, what: str) -> None:
        key = f"{type(listener).__name__}.{what}"
        if key not in self._failed:
            self._failed.add(key)
            log.exception(f"gateway: {key} failed (traffic unaffected; said once)")

    def started(self, ex: Exchange) -> None:
        ex.told_start = True
        for listener in self.items:
            try:
                listener.exchange_started(ex)
            except Exception:  # noqa: BLE001
                self._broken(listener, "exchange_started")

    def response(self, ex: Exchange, direction: Direction, status: int, headers: Headers) -> None:
        if direction == "client":
            ex.client_status = status
        else:
            ex.backend_status = status
        for listener in self.items:
            try:
                listener.exchange_response(ex, direction, status, headers)
            except Exception:  # noqa: BLE001
                self._broken(listener, "exchange_response")

    def chunk(self, ex: Exchange, direction: Direction, data: bytes) -> None:
        for listener in self.items:
            try:
                listener.exchange_chunk(ex, direction, data)
            except Exception:  # noqa: BLE001
                self._broken(listener, "exchange_chunk")

    def attempt(self, ex: Exchange, attempt: Any) -> None:
        """Another backend request of the exchange (a re-ask, ``reask.Attempt``): told when it is sent
        (``attempt.status`` None) and when it is answered, to listeners with an ``exchange_attempt``
        method (optional: the four above make a listener)."""
        for listener in self.items:
            hook = getattr(listener, "exchange_attempt", None)
            if hook is None:
                continue
            try:
                hook(ex, attempt)
            except Exception:  # noqa: BLE001
                self._broken(listener, "exchange_attempt")

    def release(self, ex: Exchange) -> ExchangeMeta | None:
        """One party is done with ``ex``; the last one ends it and gets the summary (the others None)."""
        ex.holds -= 1
        if ex.holds > 0:
            return None
        if not ex.told_start:
            self.started(ex)
        return self.ended(ex)

    def ended(self, ex: Exchange) -> ExchangeMeta:
        if ex.final is not None:
            return ex.final
        if ex.ended is None:
            ex.ended = time.monotonic()
        ex.final = summary = ex.summary()
        for listener in self.items:
            try:
                listener.exchange_ended(ex)
            except Exception:  # noqa: BLE001
                self._broken(listener, "exchange_ended")
        return summary
