"""The ``HeaderDeadline`` addon: a client has ``header_timeout`` seconds to send each request's head.

mitmproxy closes a connection only after ``tcp_timeout`` (600 s) without *any* byte, and has no
deadline for a request head: a client that trickles one header byte now and then holds a
connection (and its memory) for ever, and 500 of them hold 500. The clock starts when the client
connects, and again when an answer ends on a kept-alive connection (or a ``CONNECT`` opens a
tunnel); the request head stops it. A connection past it is closed, and the log says so at most
once a minute. (A client that stops *reading* an answer is the relay's ``write_timeout``.)
"""

from __future__ import annotations

import asyncio
import logging
import time

from mitmproxy import addonmanager, connection, ctx, http

from .guard import fail_closed
from .relay import seconds

__all__ = ["HeaderDeadline"]

log = logging.getLogger("inspector")


class HeaderDeadline:
    def __init__(self) -> None:
        self.timeout = 60.0
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._closed = 0
        self._reported = -1e9

    def load(self, loader: addonmanager.Loader) -> None:
        loader.add_option("header_timeout", str, "60",
                          "Seconds a client has to send a request's head, from connecting or from the end "
                          "of the previous answer on its connection; then the connection is closed.")

    def configure(self, updated: set[str]) -> None:
        if "header_timeout" in updated:
            self.timeout = seconds("header_timeout")

    def done(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    # -- hooks -----------------------------------------------------------------------------------
    def client_connected(self, client: connection.Client) -> None:
        self._arm(client)

    def client_disconnected(self, client: connection.Client) -> None:
        self._disarm(client)

    @fail_closed()
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        self._disarm(flow.client_conn)

    @fail_closed()
    def http_connect(self, flow: http.HTTPFlow) -> None:
        self._arm(flow.client_conn)  # the tunnel's first request head (after TLS) is due in time too

    @fail_closed()
    def response(self, flow: http.HTTPFlow) -> None:
        self._arm(flow.client_conn)

    @fail_closed()
    def error(self, flow: http.HTTPFlow) -> None:
        self._arm(flow.client_conn)

    def tcp_start(self, flow: object) -> None:
        client = getattr(flow, "client_conn", None)
        if client is not None:
            self._disarm(client)  # raw TCP through a tunnel: tcp_timeout's business

    def websocket_start(self, flow: http.HTTPFlow) -> None:
        self._disarm(flow.client_conn)

    # -- the clock ---------------------------------------------------------------------------------
    def _arm(self, client: connection.Client) -> None:
        self._disarm(client)
        self._timers[client.id] = asyncio.get_running_loop().call_later(self.timeout, self._expire, client)

    def _disarm(self, client: connection.Client) -> None:
        timer = self._timers.pop(client.id, None)
        if timer is not None:
            timer.cancel()

    def _expire(self, client: connection.Client) -> None:
        self._timers.pop(client.id, None)
        if not close(client):
            return
        self._closed += 1
        now = time.monotonic()
        if now - self._reported >= 60:
            self._reported = now
            n, self._closed = self._closed, 0
            log.warning(f"gateway: closed {n} connection{'s' if n != 1 else ''} that sent no request head within "
                        f"{self.timeout:g} s (latest from {client.peername[0] if client.peername else 'unknown'}; "
                        f"--set header_timeout=SECONDS)")


def close(client: connection.Client) -> bool:
    """Close a client's connection through mitmproxy's proxy server (its connection task is
    cancelled, which closes the socket); False if it is not open there."""
    proxyserver = ctx.master.addons.get("proxyserver")
    handler = getattr(proxyserver, "connections", {}).get(client.id) if proxyserver is not None else None
    io = handler.transports.get(handler.client) if handler is not None else None
    task = getattr(io, "handler", None)
    if task is None or task.done():
        return False
    task.cancel("no request head in time")
    return True
