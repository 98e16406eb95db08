"""The ``Observer`` addon: Claude Code's real traffic to Anthropic's API, inspected as it goes.

In regular (HTTPS_PROXY) mode without a backend_url the gateway re-targets nothing: the requests
to the intercepted hosts go on as they came, the answers come back as they came (streamed, byte for
byte), and the listeners — recorder, colour log, exporters — are told about each exchange, its
stream understood on the way (``AnthropicStreamObserver``). A form that cannot pass Anthropic's API
through (a translating one) has nowhere to send them: each call is answered with an error saying
so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from mitmproxy import http

from ..protocol import AnthropicStreamObserver, GatewayError, InvalidRequest, load_json_object, request_kind
from .admission import Admission, off_loop
from .exchange import Exchange, Listeners
from .flows import anthropic_error, client_url, headers_text, identify, path_of, snapshot
from .guard import fail_closed

__all__ = ["Observer"]


class Observer:
    def __init__(self, admission: Admission, listeners: Listeners) -> None:
        self.admission = admission
        self.listeners = listeners
        #: flow id → its exchange, while it goes.
        self.observed: dict[str, Exchange] = {}

    def _ours(self, flow: http.HTTPFlow) -> bool:
        a = self.admission
        return a.handles(flow) and a.backend_of(flow) is None

    @fail_closed()
    async def request(self, flow: http.HTTPFlow) -> None:
        if not self._ours(flow):
            return
        form = self.admission.form
        if not form.whole_api:
            flow.response = anthropic_error(GatewayError(
                500, "api_error", f"the gateway is in regular (proxy) mode with backend={form.name} but no "
                                  f"backend_url: restart it with --set backend_url=http://HOST:PORT"))
            return
        kind = request_kind(flow.request.method, path_of(flow))
        ex = Exchange(form=form, kind=kind, backend=f"https://{flow.request.pretty_host}", mode="regular")
        data = None
        if kind in ("messages", "count_tokens"):
            try:
                body = flow.request.get_content() or b""
                data = await off_loop(len(body), load_json_object, body)
                ex.client_model = ex.backend_model = str(data.get("model", ""))
                ex.stream = bool(data.get("stream"))
            except (InvalidRequest, ValueError):
                pass
        identify(ex, flow, data)
        ex.client_request = snapshot(flow.request, client_url(flow))
        self.observed[flow.id] = ex
        self.listeners.started(ex)

    @fail_closed()
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        ex = self.observed.get(flow.id)
        resp = flow.response
        if ex is None or resp is None:
            return
        ex.first_byte = time.monotonic()
        headers = headers_text(resp.headers)
        self.listeners.response(ex, "backend", resp.status_code, headers)
        self.listeners.response(ex, "client", resp.status_code, headers)
        if "text/event-stream" in resp.headers.get("content-type", ""):
            ex.processor = AnthropicStreamObserver(model=ex.backend_model, backend=ex.backend, notes=ex.notes)
            resp.stream = _observe_stream(ex, self.listeners)

    @fail_closed()
    def response(self, flow: http.HTTPFlow) -> None:
        self._finish(flow)

    @fail_closed()
    def error(self, flow: http.HTTPFlow) -> None:
        self._finish(flow)

    def _finish(self, flow: http.HTTPFlow) -> None:
        ex = self.observed.pop(flow.id, None)
        if ex is None:
            return
        tell = self.listeners
        resp = flow.response
        if resp is not None and ex.processor is None:
            if ex.first_byte is None:
                ex.first_byte = time.monotonic()
                headers = headers_text(resp.headers)
                tell.response(ex, "backend", resp.status_code, headers)
                tell.response(ex, "client", resp.status_code, headers)
            if resp.raw_content:
                tell.chunk(ex, "backend", resp.raw_content)
                tell.chunk(ex, "client", resp.raw_content)
        if flow.error:
            ex.incomplete = str(flow.error)
            ex.notes.error(f"exchange aborted: {flow.error}")
        flow.metadata["inspector"] = tell.ended(ex)


def _observe_stream(ex: Exchange, tell: Listeners) -> Callable[[bytes], Iterable[bytes]]:
    """The ``flow.response.stream`` callable of observed traffic: bytes go on as they came."""
    processor = ex.processor
    assert processor is not None

    def stream(chunk: bytes) -> list[bytes]:
        if chunk:
            tell.chunk(ex, "backend", chunk)
            out = processor.feed(chunk)
        else:
            out = processor.flush()
            if processor.cut:
                ex.incomplete = "the stream ended without message_stop"
        if out:
            if ex.first_token is None and processor.answering:
                ex.first_token = time.monotonic()
            tell.chunk(ex, "client", out)
            return [out]
        return []

    return stream
