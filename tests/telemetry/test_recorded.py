"""``inspector export --otlp``: the committed sample sessions, decoded by a real OTLP receiver."""

import re

import orjson
import pytest

from inspector.cli import main
from inspector.recording import list_sessions
from inspector.telemetry import DURATION_BUCKETS, exchange_start, recorded_telemetry, resolve_targets, run_export
from inspector.testing.gateway import free_port
from inspector.testing.otlp import OtlpReceiver
from inspector.testing.samples import samples_dir

MSG_ID = re.compile(rb'"id":"(msg_[0-9a-zA-Z]+)"')


def recorded_messages(root):
    return [ex for s in list_sessions(root) for ex in s.exchanges() if ex.kind == "messages"]


@pytest.fixture(scope="module")
def exported():
    root = samples_dir()
    with OtlpReceiver() as rx:
        assert run_export([str(root)], root=str(root), endpoint=rx.url) == 0
        return root, rx.spans(), rx.metric_points()


def test_every_recorded_messages_exchange_is_one_span_at_its_recorded_time(exported):
    root, spans, _ = exported
    exchanges = recorded_messages(root)
    assert len(spans) == len(exchanges) == 9
    by_id = {s["attributes"]["gen_ai.response.id"]: s for s in spans if "gen_ai.response.id" in s["attributes"]}
    answered = [ex for ex in exchanges if ex.meta["status"]["client"] == 200]
    assert len(by_id) == len(answered) == 3
    for ex in answered:
        message_id = MSG_ID.search(ex.body("client")).group(1).decode()  # from message_start, as sent
        span = by_id[message_id]
        start = exchange_start(ex.meta)
        assert span["start_ns"] == round(start * 1e9)
        assert span["end_ns"] - span["start_ns"] == pytest.approx(ex.meta["timing_ms"]["total"] * 1e6, abs=1e3)
        a = span["attributes"]
        assert a["gen_ai.conversation.id"] == ex.meta["session_id"]
        assert a["gen_ai.request.model"] == ex.meta["model"]["requested"] == "claude-opus-5-5"
        assert a["gen_ai.response.model"] == ex.meta["model"]["backend"]
        assert a["gen_ai.response.finish_reasons"] == [ex.meta["stop_reason"]]
        assert a["gen_ai.usage.output_tokens"] == ex.meta["usage"]["output_tokens"]
        assert a["inspector.backend.form"] == ex.meta["form"]
        assert a["gen_ai.request.max_tokens"] == ex.request_json()["max_tokens"]
        assert not any(k.startswith("gen_ai.input") for k in a), "content only when asked"


def test_the_missing_model_session_exports_as_errors(exported):
    root, spans, _ = exported
    failed = [s for s in spans if s["attributes"].get("error.type")]
    assert len(failed) == 6
    for s in failed:
        assert s["attributes"]["error.type"] == "invalid_request_error" and s["attributes"]["inspector.backend.status"] == 404
        assert s["status"]["code"] == 2 and "is not available" in s["status"]["message"]
        assert "gen_ai.response.model" not in s["attributes"]


def test_metric_points_carry_the_recorded_times_and_the_conventions_buckets(exported):
    root, spans, points = exported
    durations = [p for p in points if p["name"] == "gen_ai.client.operation.duration"]
    assert len(durations) == len(spans)
    starts = sorted(s["start_ns"] for s in spans)
    assert sorted(p["start_ns"] for p in durations) == starts, "each point is its exchange"
    for p in durations:
        assert p["temporality"] == 1, "DELTA: one point per recorded exchange"
        assert p["count"] == 1 and p["bounds"] == list(DURATION_BUCKETS) and sum(p["bucket_counts"]) == 1
        # OTLP buckets are upper-inclusive: the one count sits in the first bucket whose bound ≥ the value.
        i = p["bucket_counts"].index(1)
        assert i == len(DURATION_BUCKETS) or p["sum"] <= DURATION_BUCKETS[i]
        assert i == 0 or p["sum"] > DURATION_BUCKETS[i - 1]
    errors = [p for p in durations if p["attributes"].get("error.type")]
    assert len(errors) == 6
    usage = [p for p in points if p["name"] == "gen_ai.client.token.usage"]
    assert {p["attributes"]["gen_ai.token.type"] for p in usage} == {"input", "output"}
    ttfc = [p for p in points if p["name"] == "gen_ai.client.operation.time_to_first_chunk"]
    assert len(ttfc) == 3, "streamed answers only"


def test_content_when_asked_and_a_single_exchange_by_ref():
    root = samples_dir()
    session = list_sessions(root)[1]
    with OtlpReceiver() as rx:
        assert run_export([f"{session.name}#2"], root=str(root), endpoint=rx.url, capture_content=True,
                          metrics=False) == 0
        (span,) = rx.spans()
        assert rx.metric_points() == []
    a = span["attributes"]
    assert "hello from a local model" in a["gen_ai.input.messages"]
    assert '"finish_reason":"stop"' in a["gen_ai.output.messages"]
    assert a["gen_ai.system_instructions"].startswith('[{"type":"text"')


def test_the_command_line(capsys):
    root = samples_dir()
    names = [s.name for s in list_sessions(root)]
    with OtlpReceiver() as rx:
        assert main(["export", "--otlp", names[0], names[1], "--root", str(root), "--endpoint", rx.url,
                     "--no-metrics"]) == 0
        assert len(rx.spans()) == 3 and rx.metric_points() == []
    assert "exported 3 spans from 2 session(s)" in capsys.readouterr().err


def test_the_command_line_reads_the_standard_variables(monkeypatch):
    root = samples_dir()
    with OtlpReceiver() as rx:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rx.url)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Basic%20cGs6c2s=")
        assert main(["export", "--otlp", str(root)]) == 0
        assert {r.headers.get("authorization") for r in rx.requests} == {"Basic cGs6c2s="}


def test_trouble_is_a_clear_error(capsys, monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    root = samples_dir()
    assert main(["export", "--otlp", str(root)]) == 2
    assert "no OTLP endpoint" in capsys.readouterr().err
    assert main(["export", "--otlp", "no-such-session", "--root", str(root), "--endpoint", "http://127.0.0.1:9"]) == 2
    assert "no session" in capsys.readouterr().err
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "1")
    down = f"http://127.0.0.1:{free_port()}"
    assert main(["export", "--otlp", str(root), "--endpoint", down]) == 1
    err = capsys.readouterr().err
    assert f"spans to {down}/v1/traces: connection refused" in err and "exported 0 spans" in err


def test_an_exchange_a_killed_gateway_left_is_skipped_and_said(tmp_path):
    import shutil
    root = samples_dir()
    copy = tmp_path / "recordings"
    shutil.copytree(list_sessions(root)[0].path, copy / list_sessions(root)[0].name)
    (next(copy.glob("*/0001_messages")) / "exchange.json").unlink()
    result = recorded_telemetry(resolve_targets([str(copy)], copy))
    assert result.telemetry == [] and len(result.skipped) == 1 and "no start time" in result.skipped[0]


# Assembled so that no literal secret sits in the source.
AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"
ANT_KEY = "sk-ant-" + "api03-" + "Q7w" * 30 + "AA"


def _secret_session(root):
    """A recording whose answer streams an sk-ant key in 12 pieces (the recorder redacts each chunk:
    whole in none, it stays), edited afterwards as a recording made before redaction would be: an
    AWS key in the prompt and a tool input's weak ``password`` in clear."""
    from inspector.recording import RecordingStore
    store = RecordingStore(root)
    w = store.exchange(session_id="5ec2e75a-0000", id_source="header", client="claude-cli/2.1.328", kind="messages",
                       meta={"started": "2026-12-02T18:02:43.113904Z"})
    w.requests({"method": "POST", "path": "/v1/messages", "headers": [], "body": b"{}"}, None)
    w.response_head("client", 200, [("content-type", "text/event-stream")])
    start = {"type": "message_start", "message": {"id": "msg_5ec", "type": "message", "role": "assistant",
                                                  "model": "m", "content": [], "stop_reason": None,
                                                  "usage": {"input_tokens": 1, "output_tokens": 0}}}
    events = [start, {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}]
    events += [{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": ANT_KEY[i:i + 9]}}
               for i in range(0, len(ANT_KEY), 9)]
    events += [{"type": "content_block_stop", "index": 0},
               {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 12}},
               {"type": "message_stop"}]
    for e in events:
        w.chunk("client", f"event: {e['type']}\ndata: ".encode() + orjson.dumps(e) + b"\n\n")
    w.finish({"kind": "messages", "form": "anthropic", "model": {"requested": "claude-x", "backend": "m"},
              "status": {"client": 200, "backend": 200}, "timing_ms": {"total": 10.0}, "stream": True})
    (ex,) = list_sessions(root)[0].exchanges()
    request = orjson.loads((ex.path / "client-request.json").read_bytes())
    request["body"] = {"encoding": "json", "json": {"model": "claude-x", "max_tokens": 5, "messages": [
        {"role": "user", "content": f"deploy with {AWS_KEY}"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "Login",
                                           "input": {"user": "me", "password": "hunter2"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}]}]}}
    (ex.path / "client-request.json").write_bytes(orjson.dumps(request))
    disk = b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())
    assert ANT_KEY.encode() not in disk and ANT_KEY[:9].encode() in disk, "pieces on disk, the key in none"
    return ex


def test_export_capture_content_sends_no_secret_even_one_streamed_in_pieces(tmp_path):
    """Issue 19 #3: ``export --otlp --capture-content`` reassembles the answer — and redacts it after."""
    ex = _secret_session(tmp_path / "recordings")
    with OtlpReceiver() as rx:
        assert main(["export", "--otlp", str(tmp_path / "recordings"), "--endpoint", rx.url, "--capture-content",
                     "--no-metrics"]) == 0
        (span,) = rx.spans()
        sent = b"".join(r.body for r in rx.requests)
    for secret in (ANT_KEY, AWS_KEY, "hunter2"):
        assert secret.encode() not in sent, secret
    a = span["attributes"]
    assert "[redacted:anthropic-key]" in a["gen_ai.output.messages"]
    inputs = orjson.loads(a["gen_ai.input.messages"])
    assert inputs[0]["parts"][0]["content"] == "deploy with [redacted:aws-access-key-id]"
    assert inputs[1]["parts"][0]["arguments"] == {"user": "me", "password": "[redacted]"}
    assert ex.complete
