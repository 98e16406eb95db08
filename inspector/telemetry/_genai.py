"""One exchange as OpenTelemetry GenAI telemetry: a span and its metric points (pure, no SDK).

The gateway (live) and ``inspector export --otlp`` (recordings) both call :func:`exchange_telemetry`
with an exchange summary — what ``exchange.json`` holds — and its start time, so a session looks the
same in a tracing backend whether it was exported as it happened or months later.

Conventions: OpenTelemetry GenAI semantic conventions (spans, metrics, the Anthropic page). The
span describes the Anthropic Messages call Claude Code made; what the gateway did with it
(backend form and model, translation notes, repairs, performance) is in ``inspector.*`` attributes
and span events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict, cast
from urllib.parse import urlsplit

import orjson

from ..protocol import MessageAccumulator
from ..recording import ExchangeMeta, Redactor, ladder, top_rung
from ..recording import redactor as default_redactor
from ._context import TraceContext, session_trace_id

__all__ = [
    "AttributeValue",
    "Attributes",
    "ChatMessage",
    "DURATION_BUCKETS",
    "INSTRUMENTS",
    "TOKEN_BUCKETS",
    "ExchangeTelemetry",
    "GenAIContent",
    "Instrument",
    "MetricPoint",
    "Part",
    "SpanEvent",
    "SpanRecord",
    "exchange_telemetry",
    "message_content",
    "response_id_of",
    "response_message_of",
    "telemetry_for",
]

# The conventions' ExplicitBucketBoundaries.
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)

PROVIDER = "anthropic"  # the API Claude Code called, and the flavour of the usage figures
OPERATION = "chat"


#: What an OTLP attribute holds: a str, bool, int or float, or a homogeneous list of one of them.
AttributeValue = str | bool | int | float | list[str] | list[bool] | list[int] | list[float]
Attributes = dict[str, AttributeValue]


class Part(TypedDict, total=False):
    """A message part in the GenAI conventions' JSON (text, reasoning, tool_call, tool_call_response, uri…)."""

    type: str
    content: str
    id: str | None
    name: str
    arguments: Any
    response: Any
    is_error: bool
    modality: str
    uri: str
    mime_type: str | None
    base64_chars: int


class ChatMessage(TypedDict, total=False):
    """An input or output message in the GenAI conventions' JSON."""

    role: str
    parts: list[Part]
    finish_reason: str


@dataclass(frozen=True, slots=True)
class Instrument:
    name: str
    unit: str
    description: str
    boundaries: tuple[float, ...]


INSTRUMENTS: dict[str, Instrument] = {i.name: i for i in (
    Instrument("gen_ai.client.token.usage", "{token}", "Number of input and output tokens used.",
               TOKEN_BUCKETS),
    Instrument("gen_ai.client.operation.duration", "s", "GenAI operation duration.", DURATION_BUCKETS),
    Instrument("gen_ai.client.operation.time_to_first_chunk", "s",
               "Time to receive the first chunk, measured from when the client issues the generation "
               "request to when the first chunk is received in the response stream.", DURATION_BUCKETS),
)}


@dataclass(frozen=True, slots=True)
class SpanEvent:
    name: str
    time_ns: int
    attributes: Attributes


@dataclass(frozen=True, slots=True)
class SpanRecord:
    name: str
    start_ns: int
    end_ns: int
    attributes: Attributes
    events: tuple[SpanEvent, ...] = ()
    error: str | None = None  # the span status description when the exchange failed
    #: Ids chosen by the gateway (``TraceContext``), hex; None: the exporter picks them.
    trace_id: str | None = None
    span_id: str | None = None
    parent_span_id: str | None = None
    kind: str = "client"  # client | internal
    #: What the exchange was made of: translation, queue wait, the backend call, repairs.
    children: tuple[SpanRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class MetricPoint:
    name: str  # a key of INSTRUMENTS
    value: float
    attributes: Attributes
    start_ns: int
    time_ns: int


@dataclass(frozen=True, slots=True)
class ExchangeTelemetry:
    span: SpanRecord
    metrics: tuple[MetricPoint, ...]


@dataclass(frozen=True, slots=True)
class GenAIContent:
    """The opt-in content attributes, in the conventions' JSON structures."""

    system_instructions: list[Part] = field(default_factory=list)
    input_messages: list[ChatMessage] = field(default_factory=list)
    output_messages: list[ChatMessage] = field(default_factory=list)

    def attributes(self) -> dict[str, str]:
        # Structured attributes are not yet supported on spans: the conventions say JSON strings.
        out = {}
        pairs: tuple[tuple[str, list[Any]], ...] = (
            ("gen_ai.system_instructions", self.system_instructions), ("gen_ai.input.messages", self.input_messages),
            ("gen_ai.output.messages", self.output_messages))
        for key, value in pairs:
            if value:
                out[key] = orjson.dumps(value).decode()
        return out


# -- the span and its metrics ---------------------------------------------------------------------------

def _ns(seconds: float) -> int:
    return int(round(seconds * 1e9))


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _num(value: Any) -> float | int | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _server(backend: str) -> tuple[str | None, int | None]:
    try:
        parts = urlsplit(backend)
        port = parts.port
    except ValueError:
        return None, None
    if not parts.hostname:
        return None, None
    return parts.hostname, port or {"https": 443, "http": 80}.get(parts.scheme)


def _error_type(summary: ExchangeMeta) -> str | None:
    """A low-cardinality class: the Anthropic error type the client got, else its HTTP status."""
    err = summary.get("error") or {}
    kind = err.get("type") if isinstance(err, Mapping) else None
    status = _int((summary.get("status") or {}).get("client"))
    if kind and kind != "error":
        return str(kind)
    if status is not None and status >= 400:
        return str(status)
    if kind:
        return "error"
    if summary.get("incomplete"):
        return "incomplete"
    return None


def _put(attrs: Attributes, key: str, value: Any) -> None:
    """OTLP attributes take str, bool, int, float and homogeneous lists of them; None means absent."""
    if value is None:
        return
    if isinstance(value, (list, tuple)):
        items = [v for v in value if v is not None]
        if items and len({type(v) for v in items}) == 1 and isinstance(items[0], (str, bool, int, float)):
            attrs[key] = list(items)
        return
    if isinstance(value, (str, bool, int, float)):
        attrs[key] = value


def _request_attributes(attrs: Attributes, request: Mapping[str, Any] | None) -> None:
    if not isinstance(request, Mapping):
        return
    _put(attrs, "gen_ai.request.max_tokens", _int(request.get("max_tokens")))
    for name in ("temperature", "top_p"):
        value = _num(request.get(name))
        _put(attrs, f"gen_ai.request.{name}", float(value) if value is not None else None)
    _put(attrs, "gen_ai.request.top_k", _num(request.get("top_k")))
    stops = request.get("stop_sequences")
    if isinstance(stops, list) and all(isinstance(s, str) for s in stops):
        _put(attrs, "gen_ai.request.stop_sequences", stops)


def _gateway_attributes(attrs: Attributes, s: ExchangeMeta) -> None:
    model = s.get("model") or {}
    status = s.get("status") or {}
    timing = s.get("timing_ms") or {}
    _put(attrs, "inspector.backend.form", s.get("form"))
    _put(attrs, "inspector.backend.url", s.get("backend") or None)
    _put(attrs, "inspector.backend.model", model.get("backend") or None)
    _put(attrs, "inspector.backend.status", _int(status.get("backend")))
    _put(attrs, "http.response.status_code", _int(status.get("client")))
    _put(attrs, "inspector.purpose", s.get("purpose"))
    _put(attrs, "inspector.mode", s.get("mode"))
    _put(attrs, "inspector.local", s.get("local"))
    _put(attrs, "user_agent.original", s.get("client") or None)
    _put(attrs, "inspector.incomplete", s.get("incomplete"))
    for key in ("backend_first_byte", "first_token", "total"):
        _put(attrs, f"inspector.timing.{key}_ms", _num(timing.get(key)))
    calls = s.get("tool_calls") or []
    _put(attrs, "inspector.tool_calls", [c.get("name") for c in calls if isinstance(c, Mapping)])
    notes = [n for n in s.get("notes") or [] if isinstance(n, Mapping)]
    for kind in ("dropped", "converted", "repaired", "warning", "error"):
        count = sum(_int(n.get("count")) or 1 for n in notes if n.get("kind") == kind)
        if count:
            attrs[f"inspector.notes.{kind}"] = count
    _put(attrs, "inspector.repairs",
         sorted({str(n["rule"]) for n in notes if n.get("kind") == "repaired" and n.get("rule")}))
    _put(attrs, "inspector.ladder.top", top_rung(s))
    # Optional facts (absent in older recordings: absent here too, never a made-up figure).
    for group in ("performance", "token_counts", "context_window", "prefix", "queue", "agent"):
        facts = s.get(group)
        if isinstance(facts, Mapping):
            for key, value in facts.items():
                _put(attrs, f"inspector.{group}.{key}", value)
    overhead = s.get("overhead_ms")
    if isinstance(overhead, Mapping):  # what the gateway itself spent (SCHEMA.md overhead_ms)
        _put(attrs, "inspector.overhead_ms", _num(overhead.get("total")))
        _put(attrs, "inspector.overhead.request_ms", _num(overhead.get("request")))
        _put(attrs, "inspector.overhead.response_ms", _num(overhead.get("response")))
    results = s.get("tool_results")
    if isinstance(results, list):
        attrs["inspector.tool_results.count"] = len(results)
        attrs["inspector.tool_results.errors"] = sum(1 for r in results
                                                     if isinstance(r, Mapping) and r.get("is_error"))


def _events(s: ExchangeMeta, start: float, end_ns: int) -> tuple[SpanEvent, ...]:
    timing = s.get("timing_ms") or {}
    events = []
    for key, name in (("backend_first_byte", "inspector.backend_first_byte"),
                      ("first_token", "inspector.first_token")):
        ms = _num(timing.get(key))
        if ms is not None:
            events.append(SpanEvent(name, _ns(start + ms / 1000), {}))
    # Notes carry no time of their own; they are known once the exchange has ended.
    for n in s.get("notes") or []:
        if not isinstance(n, Mapping) or not n.get("kind"):
            continue
        attrs: Attributes = {"inspector.note.kind": str(n["kind"])}
        _put(attrs, "inspector.note.message", n.get("message"))
        _put(attrs, "inspector.note.count", _int(n.get("count")))
        _put(attrs, "inspector.note.rule", n.get("rule"))
        events.append(SpanEvent("inspector.repair" if n["kind"] == "repaired" else f"inspector.{n['kind']}",
                                end_ns, attrs))
    # The repair ladder, rung by rung (parse, repair, re-ask, error): an event each, the re-ask's at
    # its end when its seconds are known (it ran last), the others with the answer's end.
    found = s.get("reask")
    reask: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    for i, step in enumerate(ladder(s), 1):
        attrs = {"inspector.ladder.rung": step.rung, "inspector.ladder.step": i,
                 "inspector.ladder.outcome": step.outcome}
        _put(attrs, "inspector.ladder.detail", step.detail or None)
        if step.rung == "re-ask":
            _put(attrs, "inspector.reask.reason", reask.get("reason"))
            _put(attrs, "inspector.reask.tool", reask.get("tool"))
            _put(attrs, "inspector.reask.how", reask.get("how"))
            _put(attrs, "inspector.reask.constrained", reask.get("constrained"))
            _put(attrs, "inspector.reask.seconds", _num(reask.get("seconds")))
        events.append(SpanEvent("inspector.ladder", end_ns, attrs))
    return tuple(events)


def _children(s: Mapping[str, Any], started: float, end_ns: int, trace: TraceContext | None,
              common: Mapping[str, Any]) -> tuple[SpanRecord, ...]:
    """The exchange's parts as child spans, from its recorded times (none is invented: a part whose
    times were not recorded has no span)."""
    timing = s.get("timing_ms") or {}
    queued, sent = _num(timing.get("queued")), _num(timing.get("sent"))
    first = _num(timing.get("first_token"))

    def at(ms: float) -> int:
        return _ns(started + ms / 1000)

    out = []
    if queued is not None:
        out.append(SpanRecord("inspector.translate", _ns(started), at(queued),
                              {"inspector.backend.form": str(s.get("form") or "")}, kind="internal"))
    queue = s.get("queue")
    if isinstance(queue, Mapping) and queued is not None:
        attrs: dict[str, Any] = {}
        for key, value in queue.items():
            _put(attrs, f"inspector.queue.{key}", value)
        # A request that never left the queue (it gave up, or its client left) waited until the end.
        out.append(SpanRecord("inspector.queue", at(queued), at(sent) if sent is not None else end_ns, attrs,
                              kind="internal"))
    if sent is not None:
        attrs = {k: v for k, v in common.items() if k.startswith("server.")}
        model = s.get("model") or {}
        _put(attrs, "inspector.backend.model", model.get("backend") or None)
        _put(attrs, "inspector.backend.status", _int((s.get("status") or {}).get("backend")))
        _put(attrs, "inspector.backend.url", s.get("backend") or None)
        out.append(SpanRecord("inspector.backend", at(sent), end_ns, attrs,
                              span_id=trace.backend_span_id if trace is not None else None))
    notes = [n for n in s.get("notes") or [] if isinstance(n, Mapping) and n.get("kind") == "repaired"]
    if notes and sent is not None:
        # Repairs are made as the answer passes: the span is the answer's, from its first token.
        attrs = {"inspector.repairs": sorted({str(n.get("rule") or "repaired") for n in notes}),
                 "inspector.notes.repaired": sum(_int(n.get("count")) or 1 for n in notes)}
        out.append(SpanRecord("inspector.repair", at(first if first is not None else sent), end_ns, attrs,
                              kind="internal"))
    return tuple(out)


def exchange_telemetry(summary: ExchangeMeta, started: float, *,
                       request: Mapping[str, Any] | None = None, response_id: str | None = None,
                       content: GenAIContent | None = None) -> ExchangeTelemetry | None:
    """The span and metric points of one exchange, or None when it is not a Messages call.

    ``summary`` is what exchange.json holds; ``started`` the start in epoch seconds; ``request`` the
    client's parsed body (for the request parameters); ``response_id`` the message id when the summary
    has none; ``content`` the opt-in message content, already redacted.
    """
    if summary.get("kind") != "messages":
        return None
    model = summary.get("model") or {}
    timing = summary.get("timing_ms") or {}
    usage = summary.get("usage") or {}
    requested = model.get("requested") or None
    error_type = _error_type(summary)
    total_ms = _num(timing.get("total"))
    start_ns = _ns(started)
    end_ns = _ns(started + total_ms / 1000) if total_ms is not None else start_ns
    address, port = _server(str(summary.get("backend") or ""))

    common: Attributes = {"gen_ai.operation.name": OPERATION, "gen_ai.provider.name": PROVIDER}
    _put(common, "gen_ai.request.model", requested)
    if not error_type:
        _put(common, "gen_ai.response.model", model.get("backend") or None)
    _put(common, "server.address", address)
    if address:
        _put(common, "server.port", port)

    attrs = dict(common)
    _put(attrs, "error.type", error_type)
    _put(attrs, "gen_ai.conversation.id", summary.get("session_id"))
    # The name Langfuse and OpenInference group sessions by (Phoenix maps the conventions' own).
    _put(attrs, "session.id", summary.get("session_id"))
    _put(attrs, "gen_ai.response.id", summary.get("message_id") or response_id)
    if summary.get("stop_reason"):
        attrs["gen_ai.response.finish_reasons"] = [str(summary["stop_reason"])]
    if summary.get("stream"):
        attrs["gen_ai.request.stream"] = True
        first = _num(timing.get("first_token"))
        _put(attrs, "gen_ai.response.time_to_first_chunk", first / 1000 if first is not None else None)
    _request_attributes(attrs, request)
    cache_read = _int(usage.get("cache_read_input_tokens"))
    cache_creation = _int(usage.get("cache_creation_input_tokens"))
    # Anthropic's input_tokens excludes cached tokens; the conventions' figure includes them.
    input_tokens = _int(usage.get("input_tokens"))
    if input_tokens is not None:
        input_tokens += (cache_read or 0) + (cache_creation or 0)
    output_tokens = _int(usage.get("output_tokens"))
    _put(attrs, "gen_ai.usage.input_tokens", input_tokens)
    _put(attrs, "gen_ai.usage.output_tokens", output_tokens)
    _put(attrs, "gen_ai.usage.cache_read.input_tokens", cache_read)
    _put(attrs, "gen_ai.usage.cache_creation.input_tokens", cache_creation)
    _gateway_attributes(attrs, summary)
    if content is not None:
        attrs.update(content.attributes())

    err = summary.get("error") if isinstance(summary.get("error"), Mapping) else None
    description = None
    if error_type:
        description = str((err or {}).get("message") or summary.get("incomplete") or error_type)
    trace = TraceContext.from_dict(summary.get("trace"))
    # A recording made before the gateway chose ids: its session's trace still joins its exchanges.
    session = summary.get("session_id")
    trace_id = trace.trace_id if trace else session_trace_id(session) if isinstance(session, str) and session else None
    queue = summary.get("queue")
    if isinstance(queue, Mapping):
        _put(attrs, "inspector.queue_ms", _num(queue.get("wait_ms")))
    span = SpanRecord(name=f"{OPERATION} {requested}" if requested else OPERATION, start_ns=start_ns,
                      end_ns=end_ns, attributes=attrs, events=_events(summary, started, end_ns),
                      error=description, trace_id=trace_id,
                      span_id=trace.span_id if trace else None,
                      parent_span_id=trace.parent_span_id if trace else None,
                      children=_children(summary, started, end_ns, trace, common))

    points = []
    if total_ms is not None:
        duration_attrs = dict(common)
        _put(duration_attrs, "error.type", error_type)
        points.append(MetricPoint("gen_ai.client.operation.duration", total_ms / 1000, duration_attrs,
                                  start_ns, end_ns))
    counts = summary.get("token_counts")
    # "If instrumentation cannot efficiently obtain the number of tokens … it MUST NOT report usage":
    # an input count the gateway only estimated stays on the span (marked so), off the metric.
    # The input figure is the backend's own count when it gave one (usage_source "backend"); else the
    # gateway's (token_counts), exact only when the backend's tokenizer made it.
    input_exact = (summary.get("usage_source") != "gateway"
                   or (isinstance(counts, Mapping) and counts.get("exact") is True))
    for kind, value in (("input", input_tokens if input_exact else None), ("output", output_tokens)):
        if value is not None:
            points.append(MetricPoint("gen_ai.client.token.usage", value,
                                      {**common, "gen_ai.token.type": kind}, start_ns, end_ns))
    first = _num(timing.get("first_token"))
    if summary.get("stream") and first is not None:
        points.append(MetricPoint("gen_ai.client.operation.time_to_first_chunk", first / 1000, dict(common),
                                  start_ns, end_ns))
    return ExchangeTelemetry(span, tuple(points))


# -- what the client got back --------------------------------------------------------------------------

def response_message_of(body: bytes) -> Any:
    """The client-facing answer reassembled: a Message dict (SSE or JSON), an error body, or None."""
    if not body:
        return None
    if body.lstrip()[:6] in (b"event:", b"data: ", b"data:{"):
        acc = MessageAccumulator()
        acc.feed(body)
        acc.flush()
        if acc.message is None:
            return {"type": "error", "error": acc.error} if acc.error else None
        return acc.message if not acc.error else {**acc.message, "error": acc.error}
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def response_id_of(body: bytes) -> str | None:
    """The message id (``msg_…``) from the start of what the client was sent."""
    message = response_message_of(body)
    if isinstance(message, dict) and isinstance(message.get("id"), str) and message.get("type") == "message":
        return message["id"]
    return None


# -- message content (opt-in) ---------------------------------------------------------------------------

_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_call",
           "refusal": "content_filter"}


def _text_of(content: Any) -> Any:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"]
        others = [b for b in content if isinstance(b, dict) and b.get("type") != "text"]
        return "".join(texts) if not others else [_part(b) for b in content if isinstance(b, dict)]
    return content


def _part(block: dict[str, Any]) -> Part:
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "content": block.get("text", "")}
    if kind == "thinking":
        return {"type": "reasoning", "content": block.get("thinking", "")}
    if kind == "tool_use":
        return {"type": "tool_call", "id": block.get("id"), "name": block.get("name", ""),
                "arguments": block.get("input")}
    if kind == "tool_result":
        part: Part = {"type": "tool_call_response", "id": block.get("tool_use_id"),
                      "response": _text_of(block.get("content", ""))}
        if block.get("is_error"):
            part["is_error"] = True
        return part
    if kind == "image":
        source = block.get("source") or {}
        if source.get("type") == "url":
            return {"type": "uri", "modality": "image", "uri": source.get("url", "")}
        # The picture itself stays out of telemetry (attribute size limits); say what it was.
        return {"type": "image", "mime_type": source.get("media_type"), "base64_chars": len(source.get("data", ""))}
    return {"type": str(kind or "unknown")}


def _parts(content: Any) -> list[Part]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    if isinstance(content, list):
        return [_part(b) for b in content if isinstance(b, dict)]
    return []


def message_content(request: Mapping[str, Any] | None, response: Any, redactor: Redactor) -> GenAIContent:
    """The conventions' system instructions, input and output messages for one Messages call."""
    request = request if isinstance(request, Mapping) else {}
    system = request.get("system")
    instructions = _parts(system) if system else []
    inputs: list[ChatMessage] = [{"role": str(m.get("role", "user")), "parts": _parts(m.get("content"))}
                                 for m in request.get("messages") or [] if isinstance(m, dict)]
    outputs: list[ChatMessage] = []
    if isinstance(response, dict) and response.get("type") == "message":
        reason = response.get("stop_reason")
        outputs.append({"role": "assistant", "parts": _parts(response.get("content") or []),
                        "finish_reason": str(_FINISH.get(reason, reason)) if reason else
                        ("error" if response.get("error") else "")})
    # The recording's own redaction — secret-named fields (a tool's ``password``, whatever its value)
    # and secret patterns in every string — over the whole answer, after its pieces were joined: a
    # key the model streamed split over several events is whole (and found) only here.
    return GenAIContent(cast(list[Part], redactor.json(instructions)), cast(list[ChatMessage], redactor.json(inputs)),
                        cast(list[ChatMessage], redactor.json(outputs)))


def telemetry_for(summary: ExchangeMeta, started: float, *, request: Mapping[str, Any] | None,
                  client_body: bytes, redactor: Redactor | None = None,
                  capture_content: bool = False) -> ExchangeTelemetry | None:
    """Both exporters' single path: ``client_body`` is what the client was sent (at least its start);
    content is captured only with ``capture_content`` (the opt-in).

    Nothing reaches a span unredacted: the summary's strings (error messages, notes, tool inputs)
    pass through ``redactor`` (the recordings' default one when None) as exchange.json's do, and so
    does the captured content."""
    if summary.get("kind") != "messages":
        return None
    redactor = redactor or default_redactor()
    summary = redactor.json(dict(summary))
    if isinstance(request, Mapping) and isinstance(request.get("stop_sequences"), list):
        request = {**request, "stop_sequences": redactor.json(request["stop_sequences"])}
    message = response_message_of(client_body)
    rid = None
    if isinstance(message, dict) and message.get("type") == "message":
        rid = message["id"] if isinstance(message.get("id"), str) else None
        # A whole (non-streamed) answer's summary may lack what the client was told: take it from there.
        filled: ExchangeMeta = {}
        if not summary.get("stop_reason") and message.get("stop_reason"):
            filled["stop_reason"] = message["stop_reason"]
        if not summary.get("usage") and isinstance(message.get("usage"), dict):
            filled["usage"] = message["usage"]
        if filled:
            summary = {**summary, **filled}
    content = message_content(request, message, redactor) if capture_content else None
    return exchange_telemetry(summary, started, request=request, response_id=rid, content=content)
