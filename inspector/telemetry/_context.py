"""Where an exchange sits in a trace (W3C Trace Context), decided when it arrives.

An inbound ``traceparent`` (its client's span) becomes the parent of the gateway's span, in the
client's trace. Without one, every exchange of a Claude Code session shares one trace, keyed by
the session id (a UUID session id *is* the trace id, dashes removed; any other id is hashed), so
a session's main conversation, subagents and side requests sit together in a tracing backend.
The ids are chosen here, not by the exporter, so the backend can be told the gateway's span
(``traceparent`` on the backend request) before the span is exported, and a recording exported
later (``inspector export --otlp``) gets the same ids.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["TraceContext", "parse_traceparent", "propagate", "session_trace_id", "trace_context"]

#: version-traceid-parentid-flags; version ff is invalid, all-zero ids are invalid (W3C Trace Context §3.2).
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16


def parse_traceparent(value: str | None) -> tuple[str, str, bool] | None:
    """``(trace_id, parent_span_id, sampled)`` from a ``traceparent`` header, None when it is not a
    valid one (a receiver that cannot parse it starts a new trace, W3C §3.4)."""
    if not value:
        return None
    m = _TRACEPARENT.fullmatch(value.strip().lower())
    if m is None:
        return None
    version, trace_id, span_id, flags, rest = m.groups()
    if version == "ff" or (version == "00" and rest) or trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return trace_id, span_id, bool(int(flags, 16) & 1)


def _span_id() -> str:
    while (value := secrets.token_hex(8)) == _ZERO_SPAN:
        pass
    return value


def session_trace_id(session_id: str) -> str:
    """The trace id of a Claude Code session: its UUID's 32 hex digits, else a hash of the id."""
    try:
        value = uuid.UUID(session_id).hex
    except ValueError:
        value = hashlib.sha256(b"claude-code-session:" + session_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return value if value != _ZERO_TRACE else "1".rjust(32, "0")


@dataclass(frozen=True, slots=True)
class TraceContext:
    trace_id: str
    #: The gateway's span for the exchange.
    span_id: str
    #: The backend call's span (a child): what the backend is told is its parent.
    backend_span_id: str
    #: The client's span, from its ``traceparent``; None for the first span of its own.
    parent_span_id: str | None
    #: ``traceparent`` (the client's), ``session`` (keyed by the session id), ``new`` (neither).
    source: str
    sampled: bool = True

    def header(self) -> str:
        """The ``traceparent`` the backend is sent: this trace, the backend call's span."""
        return f"00-{self.trace_id}-{self.backend_span_id}-{'01' if self.sampled else '00'}"

    def as_dict(self) -> dict[str, Any]:
        return {"trace_id": self.trace_id, "span_id": self.span_id, "backend_span_id": self.backend_span_id,
                "parent_span_id": self.parent_span_id, "source": self.source}

    @classmethod
    def from_dict(cls, data: Any) -> TraceContext | None:
        """A recorded context (exchange.json ``trace``), None when it is absent or not well-formed."""
        if not isinstance(data, Mapping):
            return None
        trace_id, span_id, backend = data.get("trace_id"), data.get("span_id"), data.get("backend_span_id")
        parent = data.get("parent_span_id")
        hex32, hex16 = re.compile(r"[0-9a-f]{32}"), re.compile(r"[0-9a-f]{16}")
        if not (isinstance(trace_id, str) and hex32.fullmatch(trace_id) and isinstance(span_id, str)
                and hex16.fullmatch(span_id)):
            return None
        if not (isinstance(backend, str) and hex16.fullmatch(backend)):
            backend = _span_id()
        if not (isinstance(parent, str) and hex16.fullmatch(parent)):
            parent = None
        return cls(trace_id, span_id, backend, parent, str(data.get("source") or "recorded"))


def trace_context(traceparent: str | None, session_id: str | None) -> TraceContext:
    """The context of a new exchange: under the client's span, else in its session's trace."""
    inbound = parse_traceparent(traceparent)
    if inbound is not None:
        trace_id, parent, sampled = inbound
        return TraceContext(trace_id, _span_id(), _span_id(), parent, "traceparent", sampled)
    if session_id:
        return TraceContext(session_trace_id(session_id), _span_id(), _span_id(), None, "session")
    while (trace_id := secrets.token_hex(16)) == _ZERO_TRACE:
        pass
    return TraceContext(trace_id, _span_id(), _span_id(), None, "new")


def propagate(headers: list[tuple[str, str]], context: TraceContext | None, *, exported: bool,
              inbound: str | None) -> list[tuple[str, str]]:
    """The backend request's headers with the right ``traceparent``: the gateway's span when its spans
    are exported (the backend's own spans then hang under it), else the client's as it came (a
    span never exported must not become anyone's parent), else none."""
    kept = [(k, v) for k, v in headers if k.lower() != "traceparent"]
    if exported and context is not None:
        return [*kept, ("traceparent", context.header())]
    if inbound and parse_traceparent(inbound) is not None:
        return [*kept, ("traceparent", inbound.strip())]
    return kept
