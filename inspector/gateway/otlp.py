"""The ``OtlpExport`` addon: every Messages exchange as an OpenTelemetry GenAI span and metrics.

A listener of the gateway (see ``exchange.ExchangeListener``). Its hooks run on the proxy's event
loop and only copy references: building the span and exporting it happen on other threads
(``inspector.telemetry.LiveExport``), so a slow or absent collector never touches the traffic.
"""

from __future__ import annotations

import logging
from typing import Any

from mitmproxy import ctx, exceptions
from mitmproxy.addonmanager import Loader

from ..recording import Redactor
from ..telemetry import LiveExport, OtlpSettings, why_unavailable
from .exchange import Exchange

__all__ = ["OtlpExport"]

log = logging.getLogger("inspector")

OPTIONS = {"otlp_endpoint", "otlp_headers", "otlp_capture_content", "otlp_metrics", "redact_headers"}
ID_WINDOW = 8192  # bytes of the client's answer kept (without content capture) to find the message id


class _Seen:
    """What the client was sent: the start (where the message id is), or all of it when content is
    captured. Bytes are only referenced here; they are parsed on the export thread."""

    __slots__ = ("chunks", "size", "whole")

    def __init__(self, whole: bool) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.whole = whole

    def add(self, data: bytes) -> None:
        if self.whole or self.size < ID_WINDOW:
            self.chunks.append(data)
            self.size += len(data)

    def body(self) -> bytes:
        return b"".join(self.chunks)


class OtlpExport:
    """``--set otlp_endpoint=URL`` (or the standard OTEL_EXPORTER_OTLP_* variables) turns it on."""

    def __init__(self) -> None:
        self.export: LiveExport | None = None
        self.settings: OtlpSettings | None = None
        self._seen: dict[int, _Seen] = {}

    def load(self, loader: Loader) -> None:
        loader.add_option("otlp_endpoint", str, "",
                          "OTLP/HTTP collector base URL (e.g. http://127.0.0.1:4318): every Messages exchange "
                          "is exported as an OpenTelemetry GenAI span with metrics. Empty: the standard "
                          "OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT variables, if set.")
        loader.add_option("otlp_headers", str, "",
                          "Headers for the collector, 'name=value,name2=value2' (values URL-encoded). "
                          "Empty: OTEL_EXPORTER_OTLP_HEADERS / OTEL_EXPORTER_OTLP_TRACES_HEADERS.")
        loader.add_option("otlp_capture_content", bool, False,
                          "Also export message content (system prompt, messages, the answer), redacted as "
                          "recordings are. Also on with OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true.")
        loader.add_option("otlp_metrics", bool, True,
                          "Export the GenAI metrics too (off for trace-only backends: Phoenix, Langfuse, Tempo).")

    def configure(self, updated: set[str]) -> None:
        if not updated & OPTIONS:
            return
        o = ctx.options
        try:
            settings = OtlpSettings.resolve(endpoint=o.otlp_endpoint, headers=o.otlp_headers,
                                            capture_content=o.otlp_capture_content, metrics=o.otlp_metrics)
        except ValueError as e:
            if o.otlp_endpoint or o.otlp_headers:
                raise exceptions.OptionsError(str(e)) from None
            # WARNING, not ERROR: mitmproxy exits on an error logged at startup, and variables meant
            # for other programs must not stop the gateway.
            log.warning(f"otlp: not exporting: {e}")
            settings = None
        if settings == self.settings and "redact_headers" not in updated and (
                self.export is not None or settings is None):
            return
        self._stop()
        self.settings = settings
        if settings is None:
            return
        if problem := why_unavailable():
            if settings.source == "option":
                raise exceptions.OptionsError(problem)
            log.warning(f"otlp: OTEL_EXPORTER_OTLP_* is set but nothing is exported: {problem}")
            return
        extra = getattr(o, "redact_headers", "")  # the Recorder's option: spans are redacted as recordings are
        self.export = LiveExport(settings, report=log.warning, redactor=Redactor(extra.split(",")))
        log.info(f"otlp: exporting every Messages exchange ({settings.describe()})")

    def _stop(self) -> None:
        if self.export is not None:
            self.export.close()
            self.export = None
        self._seen.clear()

    def done(self) -> None:
        self._stop()

    # -- listener -------------------------------------------------------------------------------
    def exchange_started(self, ex: Exchange) -> None:
        if self.export is not None and ex.kind == "messages":
            # The summary carries the message id; the answer's bytes are kept only to export content.
            self._seen[id(ex)] = _Seen(whole=self.export.settings.capture_content)
            # Its span will exist: the backend may hang its own spans under the gateway's.
            ex.traced = self.export.spans is not None

    def exchange_response(self, ex: Exchange, direction: str, status: int, headers: Any) -> None:
        pass

    def exchange_chunk(self, ex: Exchange, direction: str, data: bytes) -> None:
        # The summary carries the message id (gen_ai.response.id); the answer's start is a fallback for one
        # that has none (an error before message_start), and its whole is the content when captured.
        if direction == "client" and (seen := self._seen.get(id(ex))) is not None:
            seen.add(data)

    def exchange_ended(self, ex: Exchange) -> None:
        seen = self._seen.pop(id(ex), None)
        if self.export is None or seen is None:
            return
        request = ex.client_request.get("json") if ex.client_request else None
        self.export.submit(ex.final or ex.summary(), ex.started_wall,
                           request=request if isinstance(request, dict) else None,
                           client_body=seen.body())
