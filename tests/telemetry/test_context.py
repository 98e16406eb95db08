"""Where an exchange sits in a trace: W3C traceparent parsing, the session's trace, what the backend is
told, and the child spans built from an exchange's recorded times."""

import pytest

from inspector.telemetry import exchange_telemetry, parse_traceparent, propagate, trace_context
from inspector.telemetry._context import TraceContext, session_trace_id

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


@pytest.mark.parametrize("value, expected", [
    (f"00-{TRACE}-{SPAN}-01", (TRACE, SPAN, True)),
    (f"00-{TRACE}-{SPAN}-00", (TRACE, SPAN, False)),
    (f" 00-{TRACE.upper()}-{SPAN}-01 ", (TRACE, SPAN, True)),
    (f"01-{TRACE}-{SPAN}-01-future", (TRACE, SPAN, True)),  # a later version may add fields
    (f"00-{TRACE}-{SPAN}-01-extra", None),  # version 00 has exactly four
    (f"ff-{TRACE}-{SPAN}-01", None),
    (f"00-{'0' * 32}-{SPAN}-01", None),
    (f"00-{TRACE}-{'0' * 16}-01", None),
    (f"00-{TRACE[:-1]}-{SPAN}-01", None),
    ("", None), (None, None), ("garbage", None),
])
def test_traceparent(value, expected):
    assert parse_traceparent(value) == expected


def test_an_inbound_traceparent_is_the_parent_else_the_session_is_the_trace():
    inbound = trace_context(f"00-{TRACE}-{SPAN}-01", "8db04336-2522-4ade-8225-9e58e40c1936")
    assert (inbound.trace_id, inbound.parent_span_id, inbound.source) == (TRACE, SPAN, "traceparent")
    assert inbound.span_id != inbound.backend_span_id
    a = trace_context(None, "8db04336-2522-4ade-8225-9e58e40c1936")
    b = trace_context("not a traceparent", "8db04336-2522-4ade-8225-9e58e40c1936")
    assert a.trace_id == b.trace_id == "8db0433625224ade82259e58e40c1936", "a UUID session id is the trace id"
    assert a.parent_span_id is None and a.source == "session" and a.span_id != b.span_id
    assert len(session_trace_id("not-a-uuid")) == 32 and session_trace_id("x") == session_trace_id("x")
    alone = trace_context(None, None)
    assert alone.source == "new" and alone.trace_id != trace_context(None, None).trace_id
    assert TraceContext.from_dict(a.as_dict()) == a
    assert TraceContext.from_dict({"trace_id": "zz"}) is None


def test_the_backend_is_told_the_gateways_span_only_when_it_is_exported():
    ctx = trace_context(f"00-{TRACE}-{SPAN}-01", None)
    headers = [("content-type", "application/json"), ("traceparent", "00-stale")]
    exported = propagate(headers, ctx, exported=True, inbound=f"00-{TRACE}-{SPAN}-01")
    assert exported == [("content-type", "application/json"),
                        ("traceparent", f"00-{TRACE}-{ctx.backend_span_id}-01")]
    # Not exported: the client's own traceparent goes on as it came (a span never exported is nobody's parent).
    assert propagate(headers, ctx, exported=False, inbound=f"00-{TRACE}-{SPAN}-01")[-1] == \
        ("traceparent", f"00-{TRACE}-{SPAN}-01")
    assert propagate(headers, ctx, exported=False, inbound="garbage") == [("content-type", "application/json")]


def summary(**extra):
    ctx = trace_context(f"00-{TRACE}-{SPAN}-01", "s1")
    return {"kind": "messages", "form": "ollama", "purpose": "subagent", "session_id": "s1",
            "model": {"requested": "claude-haiku-4-5", "backend": "qwen3"}, "backend": "http://127.0.0.1:11434",
            "status": {"client": 200, "backend": 200}, "stop_reason": "tool_use",
            "timing_ms": {"queued": 5.0, "sent": 905.0, "backend_first_byte": 1000.0, "first_token": 1200.0,
                          "total": 2000.0},
            "queue": {"wait_ms": 900.0, "ahead": 2, "class": "subagent", "slot": 1, "warm": True, "held": False,
                      "limit": 2, "limit_source": "llama.cpp /props total_slots", "arrival": 3, "grant": 7},
            "agent": {"id": "a1", "parent": None}, "trace": ctx.as_dict(),
            "notes": [{"kind": "repaired", "message": "a call printed as text", "count": 1, "rule": "text-call:hermes"}],
            **extra}, ctx


def test_the_span_is_placed_by_the_gateways_ids_with_its_parts_as_children():
    s, ctx = summary()
    t = exchange_telemetry(s, 1000.0)
    span = t.span
    assert (span.trace_id, span.span_id, span.parent_span_id) == (TRACE, ctx.span_id, SPAN)
    assert span.attributes["inspector.queue_ms"] == 900.0 and span.attributes["inspector.queue.class"] == "subagent"
    assert span.attributes["inspector.agent.id"] == "a1"
    parts = {c.name: c for c in span.children}
    assert list(parts) == ["inspector.translate", "inspector.queue", "inspector.backend", "inspector.repair"]
    at = lambda ms: int(round((1000.0 + ms / 1000) * 1e9))  # noqa: E731
    assert (parts["inspector.translate"].start_ns, parts["inspector.translate"].end_ns) == (span.start_ns, at(5))
    assert (parts["inspector.queue"].start_ns, parts["inspector.queue"].end_ns) == (at(5), at(905))
    assert parts["inspector.queue"].attributes["inspector.queue.slot"] == 1
    backend = parts["inspector.backend"]
    assert (backend.start_ns, backend.end_ns, backend.span_id) == (at(905), span.end_ns, ctx.backend_span_id)
    assert backend.kind == "client" and backend.attributes["server.port"] == 11434
    assert parts["inspector.repair"].attributes["inspector.repairs"] == ["text-call:hermes"]
    assert parts["inspector.repair"].start_ns == at(1200)


def test_an_exchange_without_recorded_parts_has_no_invented_children():
    s, _ = summary()
    del s["timing_ms"]["queued"], s["timing_ms"]["sent"], s["queue"], s["trace"]
    span = exchange_telemetry(s, 1000.0).span
    assert span.children == () and span.parent_span_id is None and span.span_id is None
    assert span.trace_id == session_trace_id("s1"), "an older recording still joins its session's trace"
