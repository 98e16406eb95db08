"""One exchange summary → the GenAI span and metric points (pure: no SDK, no network)."""

import orjson
import pytest

from inspector.recording import REDACTED, Redactor
from inspector.telemetry import (
    DURATION_BUCKETS,
    INSTRUMENTS,
    TOKEN_BUCKETS,
    exchange_telemetry,
    message_content,
    response_id_of,
    response_message_of,
    telemetry_for,
)

STARTED = 1_795_280_160.25


def summary(**over):
    base = {
        "kind": "messages", "form": "ollama", "purpose": "main", "mode": "reverse", "local": False,
        "stream": True, "client": "claude-cli/2.1.328 (external, sdk-cli)", "session_id": "sess-1",
        "model": {"requested": "claude-opus-5-5", "backend": "qwen3:8b"}, "backend": "http://10.0.0.7:11434",
        "status": {"client": 200, "backend": 200},
        "timing_ms": {"backend_first_byte": 120.0, "first_token": 150.5, "total": 2310.0},
        "usage": {"input_tokens": 12380, "output_tokens": 57}, "stop_reason": "tool_use",
        "tool_calls": [{"name": "Write", "id": "toolu_1", "input": {}}], "error": None, "incomplete": None,
        "notes": [{"kind": "dropped", "message": "cache_control", "count": 3},
                  {"kind": "repaired", "message": "a <tool_call> printed as text became a tool_use",
                   "count": 1, "rule": "text-call:tool_call-tag"},
                  {"kind": "repaired", "message": "argument JSON repaired", "count": 2, "rule": "args:invalid-json"}],
    }
    return base | over


def test_the_conventions_attributes_of_a_chat_span():
    t = exchange_telemetry(summary(), STARTED)
    a = t.span.attributes
    assert t.span.name == "chat claude-opus-5-5"
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "anthropic"
    assert a["gen_ai.request.model"] == "claude-opus-5-5" and a["gen_ai.response.model"] == "qwen3:8b"
    assert a["gen_ai.response.finish_reasons"] == ["tool_use"]
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (12380, 57)
    assert a["gen_ai.conversation.id"] == a["session.id"] == "sess-1"
    assert a["gen_ai.request.stream"] is True and a["gen_ai.response.time_to_first_chunk"] == pytest.approx(0.1505)
    assert (a["server.address"], a["server.port"]) == ("10.0.0.7", 11434)
    assert "error.type" not in a and t.span.error is None
    assert t.span.start_ns == round(STARTED * 1e9) and t.span.end_ns - t.span.start_ns == pytest.approx(2.31e9, abs=1e3)


def test_the_gateways_own_facts_ride_along():
    a = exchange_telemetry(summary(), STARTED).span.attributes
    assert a["inspector.backend.form"] == "ollama" and a["inspector.backend.model"] == "qwen3:8b"
    assert a["inspector.backend.url"] == "http://10.0.0.7:11434" and a["inspector.purpose"] == "main"
    assert a["inspector.tool_calls"] == ["Write"] and a["user_agent.original"].startswith("claude-cli/2.1.328")
    assert a["inspector.notes.dropped"] == 3 and a["inspector.notes.repaired"] == 3
    assert a["inspector.repairs"] == ["args:invalid-json", "text-call:tool_call-tag"]
    assert a["inspector.timing.backend_first_byte_ms"] == 120.0


def test_repairs_and_notes_are_span_events_with_their_rule():
    t = exchange_telemetry(summary(), STARTED)
    repairs = [e for e in t.span.events if e.name == "inspector.repair"]
    assert [e.attributes["inspector.note.rule"] for e in repairs] == ["text-call:tool_call-tag", "args:invalid-json"]
    assert repairs[1].attributes["inspector.note.count"] == 2
    first = next(e for e in t.span.events if e.name == "inspector.first_token")
    assert first.time_ns == round((STARTED + 0.1505) * 1e9)
    assert [e.attributes["inspector.note.message"] for e in t.span.events if e.name == "inspector.dropped"] \
        == ["cache_control"]


def test_optional_fields_become_attributes_and_absence_invents_nothing():
    rich = summary(
        usage={"input_tokens": 100, "output_tokens": 5, "cache_read_input_tokens": 900,
               "cache_creation_input_tokens": 20},
        performance={"load_ms": None, "prompt_tokens": 1020, "prompt_ms": 510.0, "prompt_tokens_per_s": 2000.0,
                     "decode_tokens": 5, "decode_ms": 100.0, "decode_tokens_per_s": 50.0, "source": "ollama"},
        token_counts={"input_tokens": 1020, "exact": True, "source": "ollama"},
        context_window={"tokens": 65536, "source": "num_ctx"},
        prefix={"kept": 0.97, "first_difference": "messages.3", "reason": None},
        tool_results=[{"tool_use_id": "t1", "name": "Write", "is_error": True},
                      {"tool_use_id": "t2", "name": "Read", "is_error": False}])
    a = exchange_telemetry(rich, STARTED).span.attributes
    # Anthropic's input_tokens excludes the cache; the conventions' figure includes it.
    assert a["gen_ai.usage.input_tokens"] == 1020
    assert a["gen_ai.usage.cache_read.input_tokens"] == 900 and a["gen_ai.usage.cache_creation.input_tokens"] == 20
    assert a["inspector.performance.prompt_tokens_per_s"] == 2000.0 and a["inspector.performance.source"] == "ollama"
    assert "inspector.performance.load_ms" not in a, "null stays absent, never a made-up figure"
    assert a["inspector.token_counts.exact"] is True and a["inspector.context_window.tokens"] == 65536
    assert a["inspector.prefix.kept"] == 0.97 and a["inspector.prefix.first_difference"] == "messages.3"
    assert (a["inspector.tool_results.count"], a["inspector.tool_results.errors"]) == (2, 1)

    bare = exchange_telemetry(summary(usage={}), STARTED).span.attributes
    assert not any(k.startswith(("gen_ai.usage.", "inspector.performance", "inspector.token_counts",
                                 "inspector.prefix", "inspector.tool_results")) for k in bare)


@pytest.mark.parametrize("over, expected", [
    ({"error": {"type": "overloaded_error", "message": "busy"}, "status": {"client": 529, "backend": 503}},
     "overloaded_error"),
    ({"error": {"type": "error", "message": "model 'x' is not available"}, "status": {"client": 400, "backend": 404}},
     "400"),
    ({"error": None, "incomplete": "Client disconnected."}, "incomplete"),
])
def test_failures_carry_error_type_and_an_error_status(over, expected):
    t = exchange_telemetry(summary(**over), STARTED)
    assert t.span.attributes["error.type"] == expected
    assert t.span.error
    assert "gen_ai.response.model" not in t.span.attributes, "no model answered"
    duration = next(p for p in t.metrics if p.name == "gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == expected


def test_metric_points_follow_the_conventions():
    t = exchange_telemetry(summary(), STARTED)
    by = {(p.name, p.attributes.get("gen_ai.token.type")): p for p in t.metrics}
    assert by[("gen_ai.client.token.usage", "input")].value == 12380
    assert by[("gen_ai.client.token.usage", "output")].value == 57
    assert by[("gen_ai.client.operation.duration", None)].value == pytest.approx(2.31)
    assert by[("gen_ai.client.operation.time_to_first_chunk", None)].value == pytest.approx(0.1505)
    for p in t.metrics:
        assert p.attributes["gen_ai.operation.name"] == "chat" and p.attributes["gen_ai.provider.name"] == "anthropic"
        assert p.attributes["gen_ai.request.model"] == "claude-opus-5-5"
        assert "gen_ai.conversation.id" not in p.attributes, "metric attributes stay low-cardinality"
    assert INSTRUMENTS["gen_ai.client.token.usage"].boundaries == TOKEN_BUCKETS
    assert TOKEN_BUCKETS[:3] == (1, 4, 16) and TOKEN_BUCKETS[-1] == 67108864
    assert INSTRUMENTS["gen_ai.client.operation.duration"].boundaries == DURATION_BUCKETS
    assert DURATION_BUCKETS[0] == 0.01 and DURATION_BUCKETS[-1] == 81.92


def test_an_estimated_input_count_stays_off_the_usage_metric():
    estimate = {"input_tokens": 12380, "exact": False, "source": "gateway"}
    t = exchange_telemetry(summary(token_counts=estimate, usage_source="gateway"), STARTED)
    assert t.span.attributes["inspector.token_counts.exact"] is False
    kinds = [p.attributes.get("gen_ai.token.type") for p in t.metrics if p.name == "gen_ai.client.token.usage"]
    assert kinds == ["output"]
    # The backend's own count in its answer is real, whatever the gateway estimated before sending.
    t = exchange_telemetry(summary(token_counts=estimate, usage_source="backend"), STARTED)
    kinds = [p.attributes.get("gen_ai.token.type") for p in t.metrics if p.name == "gen_ai.client.token.usage"]
    assert kinds == ["input", "output"]


def test_no_stream_no_time_to_first_chunk():
    t = exchange_telemetry(summary(stream=False), STARTED)
    assert "gen_ai.response.time_to_first_chunk" not in t.span.attributes
    assert not [p for p in t.metrics if p.name.endswith("time_to_first_chunk")]


def test_only_messages_exchanges_make_spans():
    assert exchange_telemetry(summary(kind="count_tokens"), STARTED) is None
    assert telemetry_for(summary(kind="models"), STARTED, request=None, client_body=b"") is None


def test_request_parameters_from_the_client_body():
    req = {"model": "claude-opus-5-5", "max_tokens": 32000, "temperature": 1, "top_p": 0.9, "top_k": 40,
           "stop_sequences": ["\n\nHuman:"], "messages": []}
    a = exchange_telemetry(summary(), STARTED, request=req).span.attributes
    assert a["gen_ai.request.max_tokens"] == 32000 and a["gen_ai.request.temperature"] == 1.0
    assert a["gen_ai.request.top_p"] == 0.9 and a["gen_ai.request.top_k"] == 40
    assert a["gen_ai.request.stop_sequences"] == ["\n\nHuman:"]


SSE = (b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_abc","type":"message",'
       b'"role":"assistant","model":"m","content":[],"stop_reason":null,"usage":{"input_tokens":3,"output_tokens":0}}}\n\n'
       b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
       b'"content_block":{"type":"text","text":""}}\n\n'
       b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
       b'"delta":{"type":"text_delta","text":"Hi"}}\n\n'
       b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
       b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
       b'"usage":{"output_tokens":1}}\n\n'
       b'event: message_stop\ndata: {"type":"message_stop"}\n\n')


def test_the_message_id_is_found_in_a_stream_or_a_json_answer():
    assert response_id_of(SSE) == "msg_abc"
    assert response_id_of(SSE[:300]) == "msg_abc", "the start of the stream is enough"
    assert response_id_of(orjson.dumps({"id": "msg_json", "type": "message", "content": []})) == "msg_json"
    assert response_id_of(b'{"type":"error","error":{"type":"api_error","message":"x"}}') is None
    assert response_id_of(b"") is None and response_id_of(b"<html>") is None
    assert response_message_of(SSE)["content"] == [{"type": "text", "text": "Hi"}]


def test_content_follows_the_conventions_structures():
    req = {"system": [{"type": "text", "text": "You are Claude Code."}],
           "messages": [
               {"role": "user", "content": "Write hi"},
               {"role": "assistant", "content": [{"type": "thinking", "thinking": "hmm"},
                                                 {"type": "tool_use", "id": "toolu_1", "name": "Write",
                                                  "input": {"file_path": "/a", "content": "hi"}}]},
               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok",
                                             "is_error": True},
                                            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                                         "data": "AAAA"}}]}]}
    c = message_content(req, response_message_of(SSE), Redactor())
    assert c.system_instructions == [{"type": "text", "content": "You are Claude Code."}]
    assert c.input_messages[0] == {"role": "user", "parts": [{"type": "text", "content": "Write hi"}]}
    assert c.input_messages[1]["parts"] == [
        {"type": "reasoning", "content": "hmm"},
        {"type": "tool_call", "id": "toolu_1", "name": "Write", "arguments": {"file_path": "/a", "content": "hi"}}]
    result, image = c.input_messages[2]["parts"]
    assert result == {"type": "tool_call_response", "id": "toolu_1", "response": "ok", "is_error": True}
    assert image == {"type": "image", "mime_type": "image/png", "base64_chars": 4}, "no picture in telemetry"
    assert c.output_messages == [{"role": "assistant", "parts": [{"type": "text", "content": "Hi"}],
                                  "finish_reason": "stop"}]
    attrs = c.attributes()
    assert orjson.loads(attrs["gen_ai.input.messages"]) == c.input_messages  # JSON strings on spans


def test_content_is_redacted_by_the_recordings_redactor():
    req = {"messages": [{"role": "assistant", "content": [
        {"type": "tool_use", "id": "t", "name": "Fetch",
         "input": {"url": "https://x", "api_key": "sk-secret-1", "headers": {"Authorization": "Bearer sk-2"},
                   "x-team-token": "tok-3"}}]}]}
    c = message_content(req, None, Redactor(["x-*-token"]))
    args = c.input_messages[0]["parts"][0]["arguments"]
    assert args == {"url": "https://x", "api_key": REDACTED, "headers": {"Authorization": REDACTED},
                    "x-team-token": REDACTED}
    assert "sk-secret" not in orjson.dumps(c.input_messages).decode()


def test_content_only_when_asked():
    body = SSE
    off = telemetry_for(summary(), STARTED, request={"messages": [{"role": "user", "content": "secret plan"}]},
                        client_body=body)
    assert off.span.attributes["gen_ai.response.id"] == "msg_abc"
    assert not any(k.startswith(("gen_ai.input", "gen_ai.output", "gen_ai.system")) for k in off.span.attributes)
    on = telemetry_for(summary(), STARTED, request={"messages": [{"role": "user", "content": "secret plan"}]},
                       client_body=body, redactor=Redactor(), capture_content=True)
    assert "secret plan" in on.span.attributes["gen_ai.input.messages"]
    assert "Hi" in on.span.attributes["gen_ai.output.messages"]


def test_what_the_gateway_spent_is_on_the_span():
    over = {"request": 0.42, "response": 0.31, "total": 0.73, "chunks": 12, "worst_chunk": 0.05}
    a = exchange_telemetry(summary(overhead_ms=over), STARTED).span.attributes
    assert a["inspector.overhead_ms"] == 0.73
    assert (a["inspector.overhead.request_ms"], a["inspector.overhead.response_ms"]) == (0.42, 0.31)
    assert "inspector.overhead_ms" not in exchange_telemetry(summary(), STARTED).span.attributes
