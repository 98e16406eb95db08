"""OpenTelemetry GenAI export of every exchange: live from the gateway, or from recordings.

``_context`` places each exchange in a trace (W3C traceparent, else its session's trace).
``_genai`` is pure (no OpenTelemetry import): one exchange summary → a span and metric points.
``_otlp`` sends them through the official SDK's OTLP/HTTP exporter, an optional extra
(``pip install 'claude-code-inspector[otel]'``). ``_recorded`` reads recordings for
``inspector export --otlp``.
"""

from ._context import TraceContext, parse_traceparent, propagate, trace_context
from ._genai import (
    DURATION_BUCKETS,
    INSTRUMENTS,
    TOKEN_BUCKETS,
    ExchangeTelemetry,
    GenAIContent,
    Instrument,
    MetricPoint,
    SpanEvent,
    SpanRecord,
    exchange_telemetry,
    message_content,
    response_id_of,
    response_message_of,
    telemetry_for,
)
from ._otlp import INSTALL_HINT, LiveExport, OtlpSettings, RecordedExport, capture_from_env, why_unavailable
from ._recorded import RecordedTelemetry, exchange_start, recorded_telemetry, resolve_targets, run_export

__all__ = [
    "DURATION_BUCKETS",
    "INSTALL_HINT",
    "INSTRUMENTS",
    "TOKEN_BUCKETS",
    "ExchangeTelemetry",
    "GenAIContent",
    "Instrument",
    "LiveExport",
    "MetricPoint",
    "OtlpSettings",
    "RecordedExport",
    "RecordedTelemetry",
    "SpanEvent",
    "SpanRecord",
    "TraceContext",
    "capture_from_env",
    "exchange_start",
    "exchange_telemetry",
    "message_content",
    "parse_traceparent",
    "propagate",
    "recorded_telemetry",
    "resolve_targets",
    "response_id_of",
    "response_message_of",
    "run_export",
    "telemetry_for",
    "trace_context",
    "why_unavailable",
]
