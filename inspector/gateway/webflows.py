"""The ``WebFlows`` addon: what ``mitmweb -s addons/translate.py`` (or the mitmproxy console) lists
for a translated exchange — two flows, each as it really went:

* the client's flow: Claude Code's request as it came (headers and body; ``Gateway`` restores it
  over the relay hop at the end) and the Anthropic answer as it streamed to the client (mitmproxy
  keeps streamed bodies when ``store_streamed_bodies`` is on, which this addon turns on where a
  flow list shows them);
* the backend's flow, added to the list beside it: the translated request (URL, headers, body)
  and the backend's answer as it came (status, headers, every chunk).

Replaying the client's flow (mitmweb's replay button) sends Claude Code's request through the
gateway again; replaying the backend's flow sends the translated request to the backend as it
is — the gateway leaves a flow marked ``inspector_backend_flow`` alone. With no flow list
(mitmdump), this addon does nothing.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlsplit

from mitmproxy import connection, ctx, http

from .exchange import Direction, Exchange

__all__ = ["BACKEND_FLOW", "WebFlows"]

log = logging.getLogger("inspector")

#: flow.metadata key of a backend flow this addon made (the gateway passes such a flow on untouched).
BACKEND_FLOW = "inspector_backend_flow"


class WebFlows:
    def __init__(self) -> None:
        self.view: Any = None  # mitmproxy's View addon, where there is a flow list
        self._backend: dict[int, tuple[int, list[tuple[str, str]], list[bytes]]] = {}

    @property
    def active(self) -> bool:
        return self.view is not None

    def running(self) -> None:
        self.view = ctx.master.addons.get("view")
        if self.active and "store_streamed_bodies" in ctx.options and not ctx.options.store_streamed_bodies:
            ctx.options.update(store_streamed_bodies=True)  # the client's flow shows the answer as streamed
            log.info("gateway: store_streamed_bodies on, so the flow list shows each answer as it streamed")

    # -- listener -------------------------------------------------------------------------------
    def exchange_started(self, ex: Exchange) -> None:
        pass

    def exchange_response(self, ex: Exchange, direction: Direction, status: int,
                          headers: list[tuple[str, str]]) -> None:
        if self.active and direction == "backend" and ex.form.writes_answers and not ex.local:
            self._backend[id(ex)] = (status, list(headers), [])

    def exchange_chunk(self, ex: Exchange, direction: Direction, data: bytes) -> None:
        if direction == "backend" and (held := self._backend.get(id(ex))) is not None:
            held[2].append(data)

    def exchange_ended(self, ex: Exchange) -> None:
        held = self._backend.pop(id(ex), None)
        if not self.active or ex.backend_request is None or not ex.form.writes_answers or ex.local:
            return
        try:
            self.view.add([backend_flow(ex, held)])
        except Exception:
            log.exception("gateway: the backend's flow could not be added to the flow list")


def backend_flow(ex: Exchange, held: tuple[int, list[tuple[str, str]], list[bytes]] | None) -> http.HTTPFlow:
    """A flow of the translated request and the backend's answer as they went."""
    req = ex.backend_request
    assert req is not None
    parts = urlsplit(req["url"])
    sent = ex.started_wall + ((ex.sent or ex.started) - ex.started)
    client = connection.Client(peername=("127.0.0.1", 0), sockname=("127.0.0.1", 0), timestamp_start=sent)
    server = connection.Server(address=(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)))
    flow = http.HTTPFlow(client, server)
    headers = [(k, v) for k, v in req.get("headers") or []]
    if not any(k.lower() == "host" for k, _ in headers):
        headers.insert(0, ("host", parts.netloc))  # as the gateway's client sent it
    flow.request = http.Request.make(req["method"], req["url"], req.get("body") or b"",
                                     [(k.encode(), v.encode()) for k, v in headers])
    flow.request.timestamp_start = flow.request.timestamp_end = sent
    if held is not None:
        status, headers, chunks = held
        flow.response = http.Response.make(status, b"".join(chunks),
                                           [(k.encode(), v.encode()) for k, v in headers])
        first = ex.first_byte if ex.first_byte is not None else ex.sent or ex.started
        flow.response.timestamp_start = ex.started_wall + (first - ex.started)
        flow.response.timestamp_end = ex.started_wall + ((ex.ended or time.monotonic()) - ex.started)
    if ex.incomplete:
        from mitmproxy.flow import Error
        flow.error = Error(ex.incomplete)
    flow.metadata[BACKEND_FLOW] = True
    flow.comment = (f"the inspector gateway's {ex.form.label} request for {ex.client_model or 'a Messages call'} "
                    f"(session {(ex.session_id or '?')[:8]}): what the backend got and said, as it went")
    return flow


def show_client_request(flow: http.HTTPFlow, ex: Exchange, note: str) -> None:
    """Put the client's request back on its flow (it went to the relay as an empty request): the
    flow list shows what Claude Code sent, and replaying it goes through the gateway again."""
    snap: Any = ex.client_request
    if not snap:
        return
    r = flow.request
    parts = urlsplit(snap.get("url") or "")
    if parts.hostname:
        r.scheme = parts.scheme or r.scheme
        r.host = parts.hostname
        r.port = parts.port or (443 if parts.scheme == "https" else 80)
    r.path = snap.get("path") or r.path
    r.headers = http.Headers([(k.encode(), v.encode()) for k, v in snap.get("headers") or []])
    r.raw_content = snap.get("body") or b""
    flow.comment = note
