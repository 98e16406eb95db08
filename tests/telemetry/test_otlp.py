"""OTLP/HTTP export through the official SDK to a loopback receiver that decodes with opentelemetry-proto."""

import logging
import sys
import threading

import pytest

from inspector.telemetry import INSTALL_HINT, TOKEN_BUCKETS, LiveExport, OtlpSettings, why_unavailable
from inspector.telemetry._otlp import parse_headers
from inspector.testing.gateway import free_port
from inspector.testing.otlp import OtlpReceiver
from tests.telemetry.test_genai import SSE, STARTED, summary

# -- settings -------------------------------------------------------------------------------------------

def test_the_option_wins_and_names_both_signal_paths():
    s = OtlpSettings.resolve(endpoint="http://127.0.0.1:4318/", env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:1"})
    assert (s.traces_url, s.metrics_url, s.source) == ("http://127.0.0.1:4318/v1/traces",
                                                       "http://127.0.0.1:4318/v1/metrics", "option")
    assert OtlpSettings.resolve(endpoint="http://h:4318/v1/traces", env={}).traces_url == "http://h:4318/v1/traces"
    assert OtlpSettings.resolve(endpoint="http://h:4318", metrics=False, env={}).metrics_url is None


def test_the_standard_variables_when_the_option_is_unset():
    assert OtlpSettings.resolve(env={}) is None, "nothing asked: no export"
    s = OtlpSettings.resolve(env={"OTEL_EXPORTER_OTLP_ENDPOINT": "https://cloud.langfuse.com/api/public/otel"})
    assert s.traces_url == "https://cloud.langfuse.com/api/public/otel/v1/traces" and s.source == "environment"
    assert s.headers is None, "the SDK exporter reads OTEL_EXPORTER_OTLP_HEADERS itself"
    only = OtlpSettings.resolve(env={"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://tempo:4318/v1/traces"})
    assert (only.traces_url, only.metrics_url) == ("http://tempo:4318/v1/traces", None)
    off = OtlpSettings.resolve(env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_METRICS_EXPORTER": "none"})
    assert off.metrics_url is None and off.traces_url
    disabled = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}
    assert OtlpSettings.resolve(env=disabled) is None
    assert OtlpSettings.resolve(env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                                     "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"}).capture_content


def test_settings_that_cannot_work_say_why():
    with pytest.raises(ValueError, match="http/protobuf"):
        OtlpSettings.resolve(env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317",
                                  "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    with pytest.raises(ValueError, match="must look like"):
        OtlpSettings.resolve(endpoint="collector:4318", env={})
    with pytest.raises(ValueError, match="NAME=VALUE"):
        parse_headers("Authorization")
    assert parse_headers("Authorization=Basic%20cGs6c2s=, x-langfuse-ingestion-version=4") == {
        "authorization": "Basic cGs6c2s=", "x-langfuse-ingestion-version": "4"}


def test_describe_never_shows_header_values():
    s = OtlpSettings.resolve(endpoint="http://h:4318", headers="authorization=Bearer%20sk-live-123", env={})
    assert "authorization" in s.describe() and "sk-live-123" not in s.describe()


def test_without_the_extra_the_message_says_how_to_install_it(monkeypatch):
    assert why_unavailable() is None
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)
    problem = why_unavailable()
    assert problem and INSTALL_HINT in problem and "[otel]" in problem


# -- live export ----------------------------------------------------------------------------------------

def live(url, reports, **kw):
    return LiveExport(OtlpSettings.resolve(endpoint=url, env={}), report=reports.append, **kw)


def test_spans_and_metrics_reach_the_collector(caplog):
    reports = []
    with OtlpReceiver() as rx:
        export = live(rx.url, reports)
        for i in range(3):
            export.submit(summary(session_id=f"s{i}"), STARTED + i, client_body=SSE)
        export.close()
        spans, points = rx.spans(), rx.metric_points()
    assert reports == []
    assert sorted(s["attributes"]["gen_ai.conversation.id"] for s in spans) == ["s0", "s1", "s2"]
    span = spans[0]
    assert span["kind"] == 3, "SpanKind CLIENT"
    assert span["parent_span_id"] == "" and len({s["trace_id"] for s in spans}) == 3, "one trace per exchange"
    assert span["attributes"]["gen_ai.response.id"] == "msg_abc"
    assert span["resource"]["service.name"] == "claude-code-inspector"
    assert any(e["name"] == "inspector.repair" and e["attributes"]["inspector.note.rule"] == "args:invalid-json"
               for e in span["events"])
    usage = [p for p in points if p["name"] == "gen_ai.client.token.usage"]
    assert {p["attributes"]["gen_ai.token.type"] for p in usage} == {"input", "output"}
    assert all(p["bounds"] == [float(b) for b in TOKEN_BUCKETS] and p["unit"] == "{token}" for p in usage)
    inputs = next(p for p in usage if p["attributes"]["gen_ai.token.type"] == "input")
    assert (inputs["count"], inputs["sum"]) == (3, 3 * 12380.0), "aggregated by the SDK meter"
    assert {p["name"] for p in points} == {"gen_ai.client.token.usage", "gen_ai.client.operation.duration",
                                          "gen_ai.client.operation.time_to_first_chunk"}
    assert not [r for r in caplog.records if r.name.startswith("opentelemetry") and r.levelno >= logging.ERROR]


def test_a_collector_that_is_down_is_reported_once_and_its_spans_dropped(monkeypatch, caplog):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "0.5")
    reports = []
    down = f"http://127.0.0.1:{free_port()}"
    export = LiveExport(OtlpSettings.resolve(endpoint=down, metrics=False, env={}), report=reports.append)
    for _ in range(2):  # two separate batches, both failing
        before = export.spans.health.failed
        export.submit(summary(), STARTED, client_body=SSE)
        export.flush()
        assert export.spans.health.failed > before
    export.close(1.0)
    assert len(reports) == 1, reports
    assert "connection refused" in reports[0] and down in reports[0] and "traffic is unaffected" in reports[0]
    assert not [r for r in caplog.records if r.name.startswith("opentelemetry")], "the SDK's own logs stay quiet"


def test_recovery_is_reported_and_a_refusal_names_the_status():
    reports = []
    with OtlpReceiver(status=400) as rx:
        export = LiveExport(OtlpSettings.resolve(endpoint=rx.url, metrics=False, env={}), report=reports.append)
        export.submit(summary(), STARTED)
        assert rx.wait(lambda: export.spans.health.failed == 1)
        rx.status = 200
        export.submit(summary(), STARTED)
        assert rx.wait(lambda: export.spans.health.sent == 1)
        export.close()
    assert len(reports) == 2 and "HTTP 400 Bad Request" in reports[0] and "works again" in reports[1]


def test_a_trace_only_backend_gets_the_metrics_hint():
    reports = []
    with OtlpReceiver(status=405) as rx:
        export = live(rx.url, reports)
        export.submit(summary(), STARTED)
        export.close()
    metrics = [r for r in reports if r.startswith("otlp: metrics")]
    assert len(metrics) == 1 and "HTTP 405" in metrics[0] and "otlp_metrics=false" in metrics[0]


def test_a_full_queue_drops_and_says_so_once_without_blocking():
    reports, release = [], threading.Event()

    def slow(*args, **kwargs):
        release.wait(10)
        return None

    with OtlpReceiver() as rx:
        export = live(rx.url, reports, queue_size=2, build=slow)
        for _ in range(10):
            export.submit(summary(), STARTED)  # never blocks: the worker is stuck on the first one
        dropped = export.dropped
        release.set()
        export.close()
    assert 7 <= dropped <= 8, dropped
    assert len(reports) == 1 and "queue is full" in reports[0]


def test_one_odd_exchange_does_not_stop_the_worker():
    reports = []
    with OtlpReceiver() as rx:
        export = live(rx.url, reports)
        export.submit({"kind": "messages", "timing_ms": "not a dict"}, STARTED)
        export.submit(summary(), STARTED)
        export.close()
        assert len(rx.spans()) == 1
    assert len(reports) == 1 and "could not be exported" in reports[0]
