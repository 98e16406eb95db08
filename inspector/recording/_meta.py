"""The recording's pieces as types (SCHEMA.md): what the gateway hands the recorder and what readers read.

``RequestSnapshot`` is a request as it was at one moment (``client-request.json``,
``backend-request.json``); ``Direction`` says which side a response head or chunk is (``backend``, the
backend's own bytes; ``client``, what Claude Code got); ``ExchangeMeta`` is ``exchange.json`` — the
gateway's summary of the exchange (``Exchange.summary()``) plus what the writer adds — read by the
colour log, the viewer, the exports, eval and the OpenTelemetry mapping. Every field is optional:
a reader of a recording may find any of them missing (``_reader`` reads each of its type, or its
default).
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from ..protocol import NoteDict as Note

__all__ = ["AgentMeta", "AttemptDirection", "ContextWindowMeta", "Direction", "ErrorMeta", "ExchangeMeta",
           "Headers", "ModelNames", "OverheadMeta", "PerformanceMeta", "PrefixMeta", "RequestSnapshot",
           "SessionMeta", "StatusMeta", "TimingMeta", "TokenCountsMeta", "ToolCallMeta", "ToolResultMeta",
           "TraceMeta", "UsageMeta"]

Direction = Literal["backend", "client"]
#: Where a recording handle writes a response: a ``Direction``, or a later backend attempt's (the repair
#: ladder's re-ask: ``backend-2`` …, ``_schema.attempt_direction``).
AttemptDirection = str
Headers = list[tuple[str, str]]


class RequestSnapshot(TypedDict, total=False):
    """A request as it was at one moment (what the recorder writes; secrets redacted on write)."""

    method: str
    path: str
    url: str
    headers: Headers
    body: bytes
    content_type: str
    #: The body already parsed (saves the recorder parsing it again).
    json: Any


class ModelNames(TypedDict, total=False):
    requested: str | None
    backend: str | None


class StatusMeta(TypedDict, total=False):
    client: int | None
    backend: int | None


class TimingMeta(TypedDict, total=False):
    """Milliseconds from the exchange's start."""

    backend_first_byte: float | None
    first_token: float | None
    total: float | None
    #: When the request joined the backend's queue, and when it was sent (``queue.py``).
    queued: float | None
    sent: float | None


class UsageMeta(TypedDict, total=False):
    """As the client was told (Anthropic's disjoint counts)."""

    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int


class ToolCallMeta(TypedDict, total=False):
    name: str
    id: str | None
    input: Any


class ToolResultMeta(TypedDict, total=False):
    tool_use_id: str | None
    name: str | None
    is_error: bool | None


class ErrorMeta(TypedDict, total=False):
    type: str | None
    message: str | None


class PerformanceMeta(TypedDict, total=False):
    """Where the seconds went: the backend's own figures, or what the gateway measured."""

    load_ms: float | None
    prompt_tokens: int | None
    prompt_ms: float | None
    decode_tokens: int | None
    decode_ms: float | None
    #: Who measured them: the server (``ollama``, ``llama.cpp``), or ``gateway``.
    source: str | None
    prompt_tokens_per_s: float | None
    decode_tokens_per_s: float | None


class PrefixMeta(TypedDict, total=False):
    """How much of the previous request of the session, model and purpose this one kept."""

    kept: float
    first_difference: str | None
    reason: str | None


class TokenCountsMeta(TypedDict, total=False):
    input_tokens: int
    exact: bool
    source: str
    tools_dropped: bool


class ContextWindowMeta(TypedDict, total=False):
    tokens: int
    source: str


class OverheadMeta(TypedDict, total=False):
    """What the gateway itself spent on the exchange, in milliseconds (``exchange.Overhead``)."""

    request: float
    response: float
    total: float
    chunks: float
    worst_chunk: float


class AgentMeta(TypedDict, total=False):
    """The Claude Code subagent a request is from (``x-claude-code-agent-id``), and its parent."""

    id: str | None
    parent: str | None


class TraceMeta(TypedDict, total=False):
    """The exchange's OpenTelemetry ids (``telemetry/_context.py``)."""

    trace_id: str | None
    span_id: str | None
    parent_span_id: str | None
    backend_span_id: str | None
    source: str | None


class ExchangeMeta(TypedDict, total=False):
    """``exchange.json`` (SCHEMA.md): what the gateway writes (``Exchange.summary()``, plus the
    writer's ``schema``/``seq``/``started``/``complete``/``chunks``/``redacted``) and readers see —
    every field optional, each of its type."""

    schema: str
    seq: int
    kind: str
    complete: bool
    incomplete: str | None
    corrupt: bool
    started: str | None
    form: str | None
    purpose: str | None
    mode: str | None
    local: bool
    stream: bool
    client: str | None
    session_id: str | None
    model: ModelNames
    backend: str | None
    status: StatusMeta
    timing_ms: TimingMeta
    usage: UsageMeta
    stop_reason: str | None
    message_id: str | None
    aborted_by: str | None
    tool_calls: list[ToolCallMeta]
    tool_results: list[ToolResultMeta]
    error: ErrorMeta | None
    notes: list[Note]
    translate_options: dict[str, Any] | None
    chunks: dict[str, dict[str, int]]
    redacted: dict[str, int]
    performance: PerformanceMeta | None
    prefix: PrefixMeta | None
    token_counts: TokenCountsMeta | None
    usage_source: str | None
    context_window: ContextWindowMeta | None
    dropped: dict[str, int] | None
    overhead_ms: OverheadMeta | None
    #: The repair ladder's re-ask (SCHEMA.md ``reask``; ``recording._ladder`` reads it).
    reask: dict[str, Any] | None
    agent: AgentMeta | None
    #: The request's turn at the backend (``queue.Entry.facts``: its ``class`` is a keyword here).
    queue: dict[str, Any] | None
    trace: TraceMeta | None
    #: inspector eval: the recorded exchange a candidate's answer is to (``SESSION#seq``).
    eval_of: str


class SessionMeta(TypedDict, total=False):
    schema: str
    session_id: str
    id_source: str
    started: str
    client: str
    corrupt: str
