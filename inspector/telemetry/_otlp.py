"""OTLP/HTTP (protobuf) export through the official OpenTelemetry SDK — an optional extra.

Nothing here imports ``opentelemetry`` at module level: the gateway runs without the extra, and
says how to install it when asked to export (:func:`why_unavailable`).

Live (:class:`LiveExport`): the gateway's event loop only enqueues; a worker thread builds the
telemetry and hands it to the SDK, whose batch span processor and periodic metric reader export
from their own threads with bounded queues. A collector that fails is reported once per outage
(WARNING: mitmproxy exits on an ERROR logged at startup) and what it would not take is dropped.

Recordings (:class:`RecordedExport`): spans through the same SDK pipeline, with the recorded times;
metric points as one delta data point per exchange, stamped with the exchange's own times (an SDK
meter would stamp them with the time of the export).
"""

from __future__ import annotations

import logging
import os
import queue
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from .. import __version__
from ..recording import ExchangeMeta
from ._genai import INSTRUMENTS, Attributes, ExchangeTelemetry, MetricPoint

if TYPE_CHECKING:
    from ..recording import Redactor

__all__ = ["INSTALL_HINT", "LiveExport", "OtlpSettings", "RecordedExport", "capture_from_env",
           "why_unavailable"]

INSTALL_HINT = ("pip install 'claude-code-inspector[otel]' (in a checkout: .venv/bin/pip install -e '.[otel]'), "
                "which brings opentelemetry-sdk and opentelemetry-exporter-otlp-proto-http")
SCOPE = "claude-code-inspector"
_TRUE = ("1", "true", "yes", "on")


def why_unavailable() -> str | None:
    """None when the OpenTelemetry SDK and OTLP/HTTP exporter are importable, else what to install."""
    try:
        import opentelemetry.exporter.otlp.proto.http.trace_exporter
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError as e:
        return f"OTLP export needs the optional 'otel' extra (import failed: {e}): {INSTALL_HINT}"
    return None


def capture_from_env(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return env.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "").strip().lower() in _TRUE


def parse_headers(text: str) -> dict[str, str]:
    """``k=v,k2=v2`` (values URL-encoded), the format of OTEL_EXPORTER_OTLP_HEADERS."""
    out = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"header {item.strip()!r} is not NAME=VALUE (the list looks like "
                             f"'Authorization=Basic%20abc,x-team=ml')")
        out[unquote(key.strip()).lower()] = unquote(value.strip())
    return out


def _signal_url(base: str, signal: str) -> str:
    base = base.rstrip("/")
    for known in ("/v1/traces", "/v1/metrics"):  # a signal URL given where a base was expected
        if base.endswith(known):
            base = base[: -len(known)]
    return f"{base}/v1/{signal}"


def _check_url(url: str, what: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} {url!r} must look like http://127.0.0.1:4318")


@dataclass(frozen=True, slots=True)
class OtlpSettings:
    """Where to send, resolved from the gateway's options or, when they are unset, the standard
    OTEL_EXPORTER_OTLP_* variables. ``headers`` None: the exporter reads the standard variables."""

    traces_url: str | None
    metrics_url: str | None
    headers: dict[str, str] | None = None
    capture_content: bool = False
    source: str = "option"  # option | environment

    @classmethod
    def resolve(cls, *, endpoint: str = "", headers: str = "", capture_content: bool = False,
                metrics: bool = True, env: Mapping[str, str] | None = None) -> OtlpSettings | None:
        """None when export is not asked for. Raises ValueError for settings that cannot work."""
        env = os.environ if env is None else env
        capture = capture_content or capture_from_env(env)
        parsed = parse_headers(headers) if headers else None
        if endpoint:
            _check_url(endpoint, "otlp_endpoint")
            return cls(_signal_url(endpoint, "traces"), _signal_url(endpoint, "metrics") if metrics else None,
                       parsed, capture, "option")
        if env.get("OTEL_SDK_DISABLED", "").strip().lower() in _TRUE:
            return None
        base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
        traces = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip() or (
            _signal_url(base, "traces") if base else "")
        metrics_url = env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "").strip() or (
            _signal_url(base, "metrics") if base else "")
        if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
            traces = ""
        if not metrics or env.get("OTEL_METRICS_EXPORTER", "").strip().lower() == "none":
            metrics_url = ""
        if not traces and not metrics_url:
            return None
        for name in ("OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"):
            protocol = env.get(name, "").strip()
            if protocol and protocol != "http/protobuf":
                raise ValueError(f"{name}={protocol}: the inspector exports OTLP over http/protobuf only "
                                 f"(point it at the collector's HTTP port, usually 4318)")
        for url, what in ((traces, "the OTLP traces endpoint"), (metrics_url, "the OTLP metrics endpoint")):
            if url:
                _check_url(url, what)
        return cls(traces or None, metrics_url or None, parsed, capture, "environment")

    def describe(self) -> str:
        """Where it goes — never the header values (they carry credentials)."""
        parts = [f"traces → {self.traces_url}" if self.traces_url else "no traces",
                 f"metrics → {self.metrics_url}" if self.metrics_url else "no metrics"]
        if self.headers:
            parts.append("headers " + ", ".join(sorted(self.headers)))
        if self.capture_content:
            parts.append("message content captured")
        return "; ".join(parts)


# -- watching the collector ------------------------------------------------------------------------------

class _LastWords(logging.Handler):
    """What an SDK exporter's logger said during one export: its first words carry the reason
    (a retried failure ends with a generic "due to timeout, max retries or shutdown")."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.first = ""

    def emit(self, record: logging.LogRecord) -> None:
        if self.first:
            return
        try:
            self.first = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad log call must not break export
            self.first = str(record.msg)


_EXPORTER_LOGGERS = {"spans": "opentelemetry.exporter.otlp.proto.http.trace_exporter",
                     "metrics": "opentelemetry.exporter.otlp.proto.http.metric_exporter"}
_WORDS = {signal: _LastWords() for signal in _EXPORTER_LOGGERS}


def _quiet_sdk_loggers() -> None:
    """The SDK logs every failed batch (and every retry) at WARNING/ERROR. In mitmproxy an ERROR at
    startup stops the gateway, and a collector that is down would fill the terminal: the SDK's
    loggers keep to themselves, and :class:`_Health` says what matters, once."""
    sdk_log = logging.getLogger("opentelemetry")
    sdk_log.propagate = False
    if not sdk_log.handlers:
        sdk_log.addHandler(logging.NullHandler())
    for signal, name in _EXPORTER_LOGGERS.items():
        logger = logging.getLogger(name)
        if _WORDS[signal] not in logger.handlers:
            logger.addHandler(_WORDS[signal])


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^\"')]+)")
_HTTP = re.compile(r"code: (\d+), reason: (.*)$")


def _brief(message: str) -> str:
    """The SDK's log line cut to its cause: "connection refused", "HTTP 405 Method Not Allowed"."""
    if m := _HTTP.search(message):
        return f"HTTP {m.group(1)} {m.group(2)}".strip()
    if m := _ERRNO.search(message):
        return m.group(1).strip().lower()
    return message[:200]


def _probe(url: str) -> str:
    """Why a collector did not take a batch when the SDK only said "timeout, max retries": ask the
    network once (on the exporter's thread, once per outage)."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)),
                                      timeout=2):
            return "it accepts connections but did not answer in time"
    except OSError as e:
        return (e.strerror or str(e)).lower()


class _Health:
    """Reports a signal's first failure, and its recovery, once per outage."""

    def __init__(self, signal: str, url: str, report: Callable[[str], None], hint: str = "") -> None:
        self.signal, self.url, self.report, self.hint = signal, url, report, hint
        self.words = _WORDS[signal]
        self.failing = False
        self.sent = 0
        self.failed = 0
        self.last_error = ""

    def result(self, ok: bool, items: int) -> None:
        if ok:
            self.sent += items
            if self.failing:
                self.failing = False
                self.report(f"otlp: {self.signal} export to {self.url} works again")
            return
        self.failed += items
        said = self.words.first
        self.last_error = (_probe(self.url) if not said or "due to timeout, max retries" in said
                           else _brief(said))
        if not self.failing:
            self.failing = True
            self.report(f"otlp: {self.signal} export to {self.url} failed ({self.last_error}); traffic is "
                        f"unaffected, {self.signal} are dropped until it answers{self.hint}")


def _watched_span_exporter(inner: Any, health: _Health) -> Any:
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class Watched(SpanExporter):
        def export(self, spans):
            health.words.first = ""
            try:
                result = inner.export(spans)
            except Exception as e:  # noqa: BLE001 - the exporter's bug must not kill its thread
                health.words.first = f"{type(e).__name__}: {e}"
                result = SpanExportResult.FAILURE
            health.result(result is SpanExportResult.SUCCESS, len(spans))
            return result

        def shutdown(self) -> None:
            inner.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return bool(inner.force_flush(timeout_millis))

    return Watched()


def _watched_metric_exporter(inner: Any, health: _Health) -> Any:
    from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult

    class Watched(MetricExporter):
        def __init__(self) -> None:
            super().__init__(preferred_temporality=inner._preferred_temporality,
                             preferred_aggregation=inner._preferred_aggregation)

        def export(self, metrics_data, timeout_millis: float = 10_000, **kwargs):
            points = sum(len(m.data.data_points) for rm in metrics_data.resource_metrics
                         for sm in rm.scope_metrics for m in sm.metrics)
            health.words.first = ""
            try:
                result = inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
            except Exception as e:  # noqa: BLE001
                health.words.first = f"{type(e).__name__}: {e}"
                result = MetricExportResult.FAILURE
            health.result(result is MetricExportResult.SUCCESS, points)
            return result

        def force_flush(self, timeout_millis: float = 10_000) -> bool:
            return bool(inner.force_flush(timeout_millis))

        def shutdown(self, timeout_millis: float = 30_000, **kwargs) -> None:
            inner.shutdown(timeout_millis=timeout_millis)

    return Watched()


_METRICS_HINT = (" — a trace-only backend (Phoenix, Langfuse, Tempo) takes no metrics: "
                 "--set otlp_metrics=false, or OTEL_METRICS_EXPORTER=none")


def _resource(extra: Mapping[str, str] | None = None) -> Any:
    from opentelemetry.sdk.resources import Resource

    attrs: Attributes = {"service.version": __version__}
    env = os.environ
    if not env.get("OTEL_SERVICE_NAME") and "service.name=" not in env.get("OTEL_RESOURCE_ATTRIBUTES", ""):
        attrs["service.name"] = SCOPE
    attrs.update(extra or {})
    return Resource.create(attrs)


def _bounded(fn: Callable[[], object], timeout_ms: int) -> None:
    """Run a provider's shutdown (a last flush) for at most ``timeout_ms``: a collector that does not
    answer must not hold the gateway's exit for the exporter's whole timeout."""
    t = threading.Thread(target=fn, name="inspector-otlp-shutdown", daemon=True)
    t.start()
    t.join(timeout_ms / 1000)


def _chosen_ids() -> Any:
    """An id generator that hands out the ids the gateway chose for a span (``TraceContext``), per
    thread, and random ones otherwise."""
    from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator

    class Chosen(IdGenerator):
        def __init__(self) -> None:
            self.random = RandomIdGenerator()
            self.next = threading.local()

        def choose(self, *, trace_id: str | None = None, span_id: str | None = None) -> None:
            self.next.trace = int(trace_id, 16) if trace_id else None
            self.next.span = int(span_id, 16) if span_id else None

        def generate_span_id(self) -> int:
            value, self.next.span = getattr(self.next, "span", None), None
            return value or self.random.generate_span_id()

        def generate_trace_id(self) -> int:
            value, self.next.trace = getattr(self.next, "trace", None), None
            return value or self.random.generate_trace_id()

    return Chosen()


class _Spans:
    """A TracerProvider whose one processor batches to the OTLP/HTTP exporter."""

    def __init__(self, settings: OtlpSettings, report: Callable[[str], None], *, queue_size: int,
                 batch_size: int, delay_ms: float, resource: Any) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace import SpanKind, Status, StatusCode

        assert settings.traces_url
        self.health = _Health("spans", settings.traces_url, report)
        self.exporter = _watched_span_exporter(
            OTLPSpanExporter(endpoint=settings.traces_url, headers=settings.headers), self.health)
        self.processor = BatchSpanProcessor(self.exporter, max_queue_size=queue_size,
                                            max_export_batch_size=batch_size, schedule_delay_millis=delay_ms)
        self.ids = _chosen_ids()
        self.provider = TracerProvider(resource=resource, shutdown_on_exit=False, id_generator=self.ids)
        self.provider.add_span_processor(self.processor)
        self.tracer = self.provider.get_tracer(SCOPE, __version__)
        self._kinds = {"client": SpanKind.CLIENT, "internal": SpanKind.INTERNAL}
        self._status, self._code = Status, StatusCode

    def emit(self, t: ExchangeTelemetry) -> None:
        from opentelemetry import trace
        from opentelemetry.context import Context

        s = t.span
        # The gateway's own ids: under the client's span (its traceparent), else in the session's trace.
        context = Context()
        if s.trace_id and s.parent_span_id:
            parent = trace.SpanContext(int(s.trace_id, 16), int(s.parent_span_id, 16), is_remote=True,
                                       trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED))
            context = trace.set_span_in_context(trace.NonRecordingSpan(parent), context)
        self.ids.choose(trace_id=s.trace_id, span_id=s.span_id)
        span = self.tracer.start_span(s.name, context=context, kind=self._kinds.get(s.kind, self._kinds["client"]),
                                      attributes=s.attributes, start_time=s.start_ns)
        for ev in s.events:
            span.add_event(ev.name, ev.attributes, timestamp=ev.time_ns)
        if s.error is not None:
            span.set_status(self._status(self._code.ERROR, s.error))
        inside = trace.set_span_in_context(span, Context())
        for c in s.children:
            self.ids.choose(span_id=c.span_id)
            child = self.tracer.start_span(c.name, context=inside, kind=self._kinds.get(c.kind, self._kinds["internal"]),
                                           attributes=c.attributes, start_time=c.start_ns)
            child.end(end_time=max(c.end_ns, c.start_ns))
        span.end(end_time=max(s.end_ns, s.start_ns))

    def flush(self, timeout_ms: int) -> None:
        self.processor.force_flush(timeout_ms)

    def close(self, timeout_ms: int) -> None:
        _bounded(self.provider.shutdown, timeout_ms)


class _LiveMetrics:
    """The SDK's meter: histograms with the conventions' boundaries, exported periodically."""

    def __init__(self, settings: OtlpSettings, report: Callable[[str], None], *, resource: Any,
                 interval_ms: float | None) -> None:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        assert settings.metrics_url
        self.health = _Health("metrics", settings.metrics_url, report, _METRICS_HINT)
        exporter = _watched_metric_exporter(
            OTLPMetricExporter(endpoint=settings.metrics_url, headers=settings.headers), self.health)
        self.reader = PeriodicExportingMetricReader(exporter, export_interval_millis=interval_ms)
        self.provider = MeterProvider(metric_readers=[self.reader], resource=resource, shutdown_on_exit=False)
        meter = self.provider.get_meter(SCOPE, __version__)
        self.instruments = {i.name: meter.create_histogram(i.name, unit=i.unit, description=i.description,
                                                           explicit_bucket_boundaries_advisory=list(i.boundaries))
                            for i in INSTRUMENTS.values()}

    def emit(self, points: Iterable[MetricPoint]) -> None:
        for p in points:
            self.instruments[p.name].record(p.value, p.attributes)

    def close(self, timeout_ms: int) -> None:
        _bounded(lambda: self.provider.shutdown(timeout_millis=timeout_ms), timeout_ms)


@dataclass(slots=True)
class _Job:
    summary: ExchangeMeta
    started: float
    request: Mapping[str, Any] | None
    client_body: bytes


class LiveExport:
    """What the gateway listener feeds: :meth:`submit` never blocks and never raises."""

    def __init__(self, settings: OtlpSettings, *, report: Callable[[str], None], redactor: Redactor | None = None,
                 queue_size: int = 2048, metric_interval_ms: float | None = None,
                 build: Callable[..., ExchangeTelemetry | None] | None = None) -> None:
        from ._genai import telemetry_for

        _quiet_sdk_loggers()
        self.settings = settings
        self.report = report
        #: What every span passes through (the summary always, content when captured).
        self.redactor = redactor
        self.build = build or telemetry_for
        resource = _resource()
        self.spans = (_Spans(settings, report, queue_size=queue_size, batch_size=min(512, queue_size), delay_ms=1000,
                             resource=resource) if settings.traces_url else None)
        self.metrics = (_LiveMetrics(settings, report, resource=resource, interval_ms=metric_interval_ms)
                        if settings.metrics_url else None)
        self.dropped = 0
        self._said_full = False
        self._jobs: queue.Queue[_Job | None] = queue.Queue(maxsize=queue_size)
        self._worker = threading.Thread(target=self._run, name="inspector-otlp", daemon=True)
        self._worker.start()

    def submit(self, summary: ExchangeMeta, started: float, *, request: Mapping[str, Any] | None = None,
               client_body: bytes = b"") -> None:
        try:
            self._jobs.put_nowait(_Job(summary, started, request, client_body))
        except queue.Full:
            self.dropped += 1
            if not self._said_full:
                self._said_full = True
                self.report(f"otlp: the export queue is full ({self._jobs.maxsize} exchanges waiting): the "
                            f"collector is slower than the traffic; exchanges are dropped from telemetry "
                            f"(traffic unaffected)")

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                t = self.build(job.summary, job.started, request=job.request, client_body=job.client_body,
                               redactor=self.redactor, capture_content=self.settings.capture_content)
                if t is not None:
                    if self.spans is not None:
                        self.spans.emit(t)
                    if self.metrics is not None:
                        self.metrics.emit(t.metrics)
            except Exception as e:  # noqa: BLE001 - one odd exchange must not end the worker
                self.report(f"otlp: an exchange could not be exported ({type(e).__name__}: {e})")
            finally:
                self._jobs.task_done()

    def flush(self, timeout_s: float = 5.0) -> None:
        """Wait (at most ``timeout_s``) until what was submitted has been handed to the exporters and
        the spans among it have been sent (or refused)."""
        deadline = time.monotonic() + timeout_s
        while self._jobs.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        if self.spans is not None:
            self.spans.flush(int(max(deadline - time.monotonic(), 0.1) * 1000))

    def close(self, timeout_s: float = 3.0) -> None:
        """Send what is queued, within ``timeout_s`` (less when the collector is known to be down)."""
        self._jobs.put(None)
        self._worker.join(timeout_s)
        failing = any(s is not None and s.health.failing for s in (self.spans, self.metrics))
        ms = int((0.5 if failing else timeout_s) * 1000)
        if self.spans is not None:
            self.spans.close(ms)
        if self.metrics is not None:
            self.metrics.close(ms)


@dataclass(slots=True)
class ExportCount:
    spans: int = 0
    spans_failed: int = 0
    points: int = 0
    points_failed: int = 0
    errors: tuple[str, ...] = ()


class RecordedExport:
    """Sends telemetry built from recordings, with the recorded times; :meth:`finish` says what went."""

    def __init__(self, settings: OtlpSettings, *, report: Callable[[str], None] = lambda _: None) -> None:
        _quiet_sdk_loggers()
        self.settings = settings
        resource = _resource()
        self.resource = resource
        self.spans = (_Spans(settings, report, queue_size=1_000_000, batch_size=256, delay_ms=200,
                             resource=resource) if settings.traces_url else None)
        self.points: list[MetricPoint] = []
        self.metrics_health: _Health | None = None
        self._metric_exporter: Any = None
        if settings.metrics_url:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

            self.metrics_health = _Health("metrics", settings.metrics_url, report, _METRICS_HINT)
            self._metric_exporter = _watched_metric_exporter(
                OTLPMetricExporter(endpoint=settings.metrics_url, headers=settings.headers), self.metrics_health)

    def add(self, t: ExchangeTelemetry) -> None:
        if self.spans is not None:
            self.spans.emit(t)
        if self._metric_exporter is not None:
            self.points.extend(t.metrics)

    def _metrics_data(self, points: list[MetricPoint]) -> Any:
        from opentelemetry.sdk.metrics.export import (
            AggregationTemporality,
            Histogram,
            HistogramDataPoint,
            Metric,
            MetricsData,
            ResourceMetrics,
            ScopeMetrics,
        )
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        metrics = []
        for name, inst in INSTRUMENTS.items():
            data_points = []
            for p in points:
                if p.name != name:
                    continue
                buckets = [0] * (len(inst.boundaries) + 1)
                # OTLP buckets are upper-inclusive: (bounds[i-1], bounds[i]].
                buckets[next((i for i, b in enumerate(inst.boundaries) if p.value <= b), len(inst.boundaries))] = 1
                data_points.append(HistogramDataPoint(
                    attributes=p.attributes, start_time_unix_nano=p.start_ns, time_unix_nano=p.time_ns,
                    count=1, sum=p.value, bucket_counts=buckets, explicit_bounds=list(inst.boundaries),
                    min=p.value, max=p.value))
            if data_points:
                metrics.append(Metric(name=name, description=inst.description, unit=inst.unit,
                                      data=Histogram(data_points=data_points,
                                                     aggregation_temporality=AggregationTemporality.DELTA)))
        scope = InstrumentationScope(SCOPE, __version__)
        return MetricsData([ResourceMetrics(self.resource, [ScopeMetrics(scope, metrics, "")], "")])

    def finish(self, timeout_s: float = 30.0) -> ExportCount:
        count = ExportCount()
        errors = []
        if self.spans is not None:
            self.spans.flush(int(timeout_s * 1000))
            self.spans.close(int(timeout_s * 1000))
            count.spans, count.spans_failed = self.spans.health.sent, self.spans.health.failed
            if self.spans.health.failed:
                errors.append(f"spans to {self.settings.traces_url}: {self.spans.health.last_error}")
        if self._metric_exporter is not None and self.metrics_health is not None:
            for i in range(0, len(self.points), 1000):
                self._metric_exporter.export(self._metrics_data(self.points[i:i + 1000]),
                                             timeout_millis=timeout_s * 1000)
            self._metric_exporter.shutdown()
            count.points, count.points_failed = self.metrics_health.sent, self.metrics_health.failed
            if self.metrics_health.failed:
                errors.append(f"metrics to {self.settings.metrics_url}: {self.metrics_health.last_error}")
        count.errors = tuple(errors)
        return count
