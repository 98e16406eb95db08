"""The OtlpExport listener in the real gateway (mitmdump), exporting to a loopback OTLP receiver."""

import json
import os

import httpx
import pytest

from inspector.protocol import FORM_NAMES
from inspector.telemetry import response_message_of
from inspector.testing.backends import Call, Reply, ScriptedBackend
from inspector.testing.gateway import Gateway, free_port
from inspector.testing.otlp import OtlpReceiver
from tests.test_claude_code_repair import text_calls

pytestmark = pytest.mark.e2e
ASK = {"model": "claude-x", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
HEADERS = {"x-api-key": "sk-ant-never-exported", "x-claude-code-session-id": "0tel-5e55-10n"}


def messages(gw, *, stream=True, body=None, headers=HEADERS):
    r = httpx.post(gw.url + "/v1/messages?beta=true", json=(body or ASK) | {"stream": stream}, headers=headers,
                   timeout=30)
    return r


@pytest.mark.parametrize("form", FORM_NAMES)
def test_one_span_per_messages_exchange_in_each_form(form):
    with OtlpReceiver() as rx:
        with ScriptedBackend(form, [Reply(text="hello there")]) as backend:
            with Gateway(backend.url, backend=form, model="qwen3", otlp_endpoint=rx.url) as gw:
                streamed = messages(gw)
                whole = messages(gw, stream=False)
                httpx.post(gw.url + "/v1/messages/count_tokens", json=ASK, headers=HEADERS)
                assert rx.wait(lambda: len(rx.exchanges()) >= 2)
        spans, points, log = rx.exchanges(), rx.metric_points(), gw.log()
    assert streamed.status_code == whole.status_code == 200
    assert len(spans) == 2, "count_tokens is not a Messages exchange"
    ids = {s["attributes"]["gen_ai.response.id"] for s in spans}
    sent = {json.loads(streamed.text.split("data: ", 1)[1].split("\n", 1)[0])["message"]["id"], whole.json()["id"]}
    assert ids == sent, "the message id the client got, streamed or not"
    for s in spans:
        a = s["attributes"]
        assert s["name"] == "chat claude-x" and a["gen_ai.request.model"] == "claude-x"
        assert a["gen_ai.response.model"] == "qwen3" and a["inspector.backend.form"] == form
        assert a["gen_ai.conversation.id"] == "0tel-5e55-10n" and a["gen_ai.response.finish_reasons"] == ["end_turn"]
        assert a["gen_ai.usage.output_tokens"] == 7 and a["http.response.status_code"] == 200
        assert a["server.port"] == backend.port
        assert not any(k.startswith("gen_ai.input") for k in a), "no content unless asked"
    streamed_span = next(s for s in spans if s["attributes"].get("gen_ai.request.stream"))
    assert streamed_span["attributes"]["gen_ai.response.time_to_first_chunk"] > 0
    # Metrics: the SDK meter's last export when the gateway stops.
    names = {p["name"] for p in points}
    assert names == {"gen_ai.client.token.usage", "gen_ai.client.operation.duration",
                     "gen_ai.client.operation.time_to_first_chunk"}
    duration = [p for p in points if p["name"] == "gen_ai.client.operation.duration"]
    assert sum(p["count"] for p in duration) == 2
    assert "otlp: exporting every Messages exchange" in log
    every_byte = b"".join(r.body for r in rx.requests)
    assert b"sk-ant-never-exported" not in every_byte


def test_content_when_asked_redacted_as_recordings_are():
    secret_call = Call("Fetch", {"url": "https://example.com", "api_key": "sk-live-must-not-leave"}, id="call_1")
    with OtlpReceiver() as rx:
        with ScriptedBackend("openai", [Reply(text="fetching", calls=[secret_call])]) as backend:
            with Gateway(backend.url, backend="openai", model="m", otlp_endpoint=rx.url,
                         otlp_capture_content=True) as gw:
                body = ASK | {"system": "Be brief.", "tools": [{"name": "Fetch", "input_schema": {
                    "type": "object", "properties": {"url": {"type": "string"}, "api_key": {"type": "string"}}}}]}
                assert messages(gw, body=body).status_code == 200
                assert rx.wait(lambda: rx.exchanges())
        (span,) = rx.exchanges()
    a = span["attributes"]
    assert json.loads(a["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
    assert json.loads(a["gen_ai.input.messages"]) == [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
    (out,) = json.loads(a["gen_ai.output.messages"])
    assert out["finish_reason"] == "tool_call"
    call = next(p for p in out["parts"] if p["type"] == "tool_call")
    assert call["name"] == "Fetch" and call["arguments"] == {"url": "https://example.com", "api_key": "[redacted]"}
    assert b"sk-live-must-not-leave" not in b"".join(r.body for r in rx.requests)


# Assembled so that no literal secret sits in the source.
AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"
ANT_KEY = "sk-ant-" + "api03-" + "Q7w" * 30 + "AA"


def test_no_secret_reaches_the_collector_live_even_streamed_in_pieces(tmp_path):
    """Issue 19 #3: an AWS key in the prompt, an sk-ant key the model streams in 12 pieces (whole in
    no chunk: the recording cannot catch it per chunk, the collector gets it reassembled) and a
    weak tool ``password`` — the collector gets none of them, the recording none either."""
    login = Call("Login", {"user": "me", "password": "hunter2"}, id="call_1")
    body = ASK | {"system": f"deploy with {AWS_KEY}", "messages": [
        {"role": "user", "content": f"my key is {AWS_KEY}, log in"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_0", "name": "Login",
                                           "input": {"user": "me", "password": "hunter2"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_0", "content": "denied"}]}],
        "tools": [{"name": "Login", "input_schema": {"type": "object", "properties": {
            "user": {"type": "string"}, "password": {"type": "string"}}}}]}
    with OtlpReceiver() as rx:
        with ScriptedBackend("openai", [Reply(text=f"retrying with {ANT_KEY} now", pieces=12, calls=[login])]) as b:
            with Gateway(b.url, backend="openai", model="m", otlp_endpoint=rx.url, otlp_capture_content=True,
                         record_dir=str(tmp_path)) as gw:
                answer = messages(gw, body=body)
                assert rx.wait(lambda: rx.exchanges())
        (span,) = rx.exchanges()
    told = response_message_of(answer.content)
    assert answer.status_code == 200 and ANT_KEY in told["content"][0]["text"], "the traffic itself is untouched"
    assert ANT_KEY.encode() not in answer.content, "streamed in pieces: whole in no event"
    sent = b"".join(r.body for r in rx.requests)
    for secret in (AWS_KEY, ANT_KEY, "hunter2"):
        assert secret.encode() not in sent, secret
    a = span["attributes"]
    (out,) = json.loads(a["gen_ai.output.messages"])
    text = next(p["content"] for p in out["parts"] if p["type"] == "text")
    assert text == "retrying with [redacted:anthropic-key] now", "redacted after the pieces were joined"
    call = next(p for p in out["parts"] if p["type"] == "tool_call")
    assert call["arguments"] == {"user": "me", "password": "[redacted]"}
    assert "[redacted:aws-access-key-id]" in a["gen_ai.system_instructions"]
    inputs = json.loads(a["gen_ai.input.messages"])
    assert inputs[1]["parts"][0]["arguments"] == {"user": "me", "password": "[redacted]"}
    disk = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    for secret in (AWS_KEY, "hunter2"):
        assert secret.encode() not in disk, secret


def test_the_standard_variables_turn_it_on_with_their_headers(monkeypatch):
    with OtlpReceiver() as rx:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rx.url)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-team=ml,authorization=Bearer%20tok")
        monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
        with ScriptedBackend("ollama", [Reply(text="hi")]) as backend:
            with Gateway(backend.url, backend="ollama", model="m") as gw:
                messages(gw)
                assert rx.wait(lambda: rx.exchanges())
        assert {r.path for r in rx.requests} == {"/v1/traces"}
        assert all(r.headers["x-team"] == "ml" and r.headers["authorization"] == "Bearer tok" for r in rx.requests)


def test_failures_and_repairs_are_on_the_span():
    printed = text_calls("/tmp/out.txt")["hermes"]
    offers_write = ASK | {"tools": [{"name": "Write", "input_schema": {
        "type": "object", "properties": {"file_path": {"type": "string"}, "content": {"type": "string"}},
        "required": ["file_path", "content"]}}]}
    with OtlpReceiver() as rx:
        with ScriptedBackend("ollama", [Reply(text=printed), Reply(status=404, error="model 'nope' not found")]) as b:
            with Gateway(b.url, backend="ollama", model="m", otlp_endpoint=rx.url) as gw:
                assert messages(gw, body=offers_write).status_code == 200
                assert messages(gw).status_code == 400
                assert rx.wait(lambda: len(rx.exchanges()) == 2)
        repaired, failed = sorted(rx.exchanges(), key=lambda s: s["start_ns"])
    assert any(r.startswith("text-call:") for r in repaired["attributes"]["inspector.repairs"])
    assert repaired["attributes"]["inspector.tool_calls"] == ["Write"]
    events = [e for e in repaired["events"] if e["name"] == "inspector.repair"]
    assert events and events[0]["attributes"]["inspector.note.rule"].startswith("text-call:")
    assert failed["attributes"]["error.type"] == "invalid_request_error" and failed["status"]["code"] == 2
    assert "ollama pull" in failed["status"]["message"]


def test_a_collector_that_is_down_never_touches_the_traffic():
    down = f"http://127.0.0.1:{free_port()}"
    with ScriptedBackend("ollama", [Reply(text="still here")]) as backend:
        with Gateway(backend.url, backend="ollama", model="m", otlp_endpoint=down) as gw:
            answers = [messages(gw, stream=False) for _ in range(3)]
            import time
            deadline = time.monotonic() + 15
            while "otlp: spans export" not in gw.log() and time.monotonic() < deadline:
                time.sleep(0.1)
            log = gw.log()
    assert all(r.status_code == 200 and r.json()["content"][0]["text"] == "still here" for r in answers)
    assert log.count("otlp: spans export") == 1, log
    assert "connection refused" in log and "traffic is unaffected" in log
    assert "Error logged during startup" not in log and "Traceback" not in log


@pytest.fixture
def without_the_extra(tmp_path, monkeypatch):
    """A gateway whose Python cannot import opentelemetry (as when the otel extra is not installed)."""
    shadow = tmp_path / "shadow" / "opentelemetry"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('opentelemetry is not installed (test shadow)')\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(shadow.parent), os.environ.get("PYTHONPATH", "")]))


def test_asked_to_export_without_the_extra_the_gateway_says_how_to_install_it(without_the_extra):
    import subprocess

    from inspector.testing.gateway import ROOT
    args = Gateway("http://127.0.0.1:9", backend="ollama", otlp_endpoint="http://127.0.0.1:4318").args
    out = subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode != 0, "an explicit --set otlp_endpoint that cannot work stops the gateway"
    assert "pip install 'claude-code-inspector[otel]'" in out.stdout + out.stderr


def test_variables_meant_for_others_without_the_extra_only_warn(without_the_extra, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    with ScriptedBackend("ollama", [Reply(text="fine")]) as backend:
        with Gateway(backend.url, backend="ollama", model="m") as gw:
            r = messages(gw, stream=False)
            log = gw.log()
    assert r.status_code == 200 and r.json()["content"][0]["text"] == "fine"
    assert "nothing is exported" in log and "claude-code-inspector[otel]" in log


def test_an_inbound_traceparent_is_the_parent_and_the_backend_is_told_the_gateways_span():
    trace, client_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    session = "8db04336-2522-4ade-8225-9e58e40c1936"
    with OtlpReceiver() as rx:
        with ScriptedBackend("openai", [Reply(text="hello there")], server="llama.cpp", slots=1) as backend:
            with Gateway(backend.url, backend="openai", model="m", otlp_endpoint=rx.url, otlp_metrics=False) as gw:
                joined = messages(gw, headers={**HEADERS, "x-claude-code-session-id": session,
                                               "traceparent": f"00-{trace}-{client_span}-01"})
                first = messages(gw, headers={**HEADERS, "x-claude-code-session-id": session})
                second = messages(gw, headers={**HEADERS, "x-claude-code-session-id": session,
                                               "x-claude-code-agent-id": "a1"})
                assert rx.wait(lambda: len(rx.exchanges()) == 3 and len(rx.spans()) >= 12)
        told = [r.headers.get("traceparent") for r in backend.chat_requests]
        spans = sorted(rx.exchanges(), key=lambda s: s["start_ns"])
        parts = {s["span_id"]: rx.children(s) for s in spans}
    assert joined.status_code == first.status_code == second.status_code == 200
    inbound, alone, sub = spans
    assert (inbound["trace_id"], inbound["parent_span_id"]) == (trace, client_span), "the client's span is the parent"
    assert alone["trace_id"] == sub["trace_id"] == session.replace("-", ""), "no traceparent: the session's trace"
    assert alone["parent_span_id"] == sub["parent_span_id"] == ""
    assert sub["attributes"]["inspector.agent.id"] == "a1" and sub["attributes"]["inspector.purpose"] == "subagent"
    for span, header in zip(spans, told, strict=True):
        names = [c["name"] for c in parts[span["span_id"]]]
        assert names == ["inspector.backend", "inspector.queue", "inspector.translate"], names
        backend_span = parts[span["span_id"]][0]
        assert header == f"00-{span['trace_id']}-{backend_span['span_id']}-01", \
            "the backend's own spans would hang under the gateway's backend call"
        assert span["attributes"]["inspector.queue_ms"] >= 0
        assert all(span["start_ns"] <= c["start_ns"] <= c["end_ns"] <= span["end_ns"] for c in parts[span["span_id"]])


def test_without_export_the_clients_traceparent_goes_on_as_it_came():
    value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with ScriptedBackend("ollama", [Reply(text="hi")]) as backend:
        with Gateway(backend.url, backend="ollama", model="m") as gw:
            messages(gw, headers={**HEADERS, "traceparent": value})
            messages(gw)
        told = [r.headers.get("traceparent") for r in backend.chat_requests]
    assert told == [value, None]
