"""The ``GatewayAuth`` addon: loopback by default; a token whenever the gateway is reachable from
elsewhere.

A gateway on a non-loopback address (``--set gateway_public=true``, ``--listen-host 0.0.0.0``, a
mode with its own address) refuses to start without a token (``--set gateway_token=…`` or the
``INSPECTOR_GATEWAY_TOKEN`` variable) and then answers only requests that carry it — as
``x-api-key`` or ``Authorization: Bearer``, which Claude Code sends from ``ANTHROPIC_API_KEY`` /
``ANTHROPIC_AUTH_TOKEN``. The comparison is constant-time; the token is removed from the request
before anything else sees it, so it is never forwarded and never recorded.

On loopback the gateway binds 127.0.0.1 from the start (it sets ``listen_host`` before
mitmproxy's listeners open).
"""

from __future__ import annotations

import hmac
import logging
import os

import orjson
from mitmproxy import addonmanager, ctx, exceptions, http
from mitmproxy.proxy.mode_specs import ProxyMode

from ..protocol import error_body

__all__ = ["GatewayAuth", "TOKEN_ENV"]

log = logging.getLogger("inspector")

TOKEN_ENV = "INSPECTOR_GATEWAY_TOKEN"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _exposed_hosts() -> list[str]:
    o = ctx.options
    hosts = []
    for spec in o.mode:
        try:
            mode = ProxyMode.parse(spec)
        except ValueError:
            continue
        host = mode.custom_listen_host if mode.custom_listen_host is not None else o.listen_host
        if host not in _LOOPBACK:
            hosts.append(host or "*")
    return hosts


def bearer(headers: http.Headers) -> str:
    key = headers.get("x-api-key")
    if key:
        return key
    auth = headers.get("authorization", "")
    return auth[7:].strip() if auth[:7].lower() == "bearer " else ""


class GatewayAuth:
    def __init__(self) -> None:
        self.token = ""

    def load(self, loader: addonmanager.Loader) -> None:
        loader.add_option("gateway_public", bool, False,
                          "Listen on all interfaces (default: loopback only). Requires gateway_token.")
        loader.add_option("gateway_token", str, "",
                          f"The token callers must send (x-api-key or Authorization: Bearer) when the "
                          f"gateway is reachable from other machines; also read from ${TOKEN_ENV}. "
                          f"Never forwarded, never recorded.")

    def configure(self, updated: set[str]) -> None:
        o = ctx.options
        self.token = o.gateway_token or os.environ.get(TOKEN_ENV, "")
        if not o.gateway_public and not o.listen_host:
            # Before the listeners open (scripts configure before mitmproxy starts listening).
            o.listen_host = "127.0.0.1"
        exposed = _exposed_hosts()
        if exposed and not self.token:
            raise exceptions.OptionsError(
                f"the gateway would listen on {', '.join(exposed)}, reachable from other machines, "
                f"without a token: set one with --set gateway_token=… (or ${TOKEN_ENV}); callers send it "
                f"as ANTHROPIC_AUTH_TOKEN")
        if self.token and len(self.token) < 16:
            raise exceptions.OptionsError("gateway_token must be at least 16 characters")

    def running(self) -> None:
        # mitmdump loads -s scripts in a task that can lose the race with its listeners; if they
        # came up on every interface before this addon could say otherwise, rebind them now.
        o = ctx.options
        proxyserver = ctx.master.addons.get("proxyserver")
        if o.gateway_public or proxyserver is None:
            return
        wide = [a for a in proxyserver.listen_addrs() if a[0] not in ("127.0.0.1", "::1", "localhost")]
        if wide and not _exposed_hosts():
            log.warning("gateway: mitmproxy opened its listener on all interfaces before the gateway "
                        "loaded; rebinding to 127.0.0.1 now. Pass --listen-host 127.0.0.1 (as make run "
                        "does) to bind loopback from the start.")
            specs = []
            for spec in o.mode:
                mode = ProxyMode.parse(spec)
                port = mode.listen_port(o.listen_port)
                if mode.custom_listen_host is None and port is not None:
                    spec = f"{mode.type_name}{':' + mode.data if mode.data else ''}@127.0.0.1:{port}"
                specs.append(spec)
            o.mode = specs  # a changed spec is what makes mitmproxy rebind a listener

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if not self.token or flow.response:
            return
        given = bearer(flow.request.headers)
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            flow.response = http.Response.make(
                401, orjson.dumps(error_body("authentication_error",
                                             "this inspector gateway needs its token: export "
                                             "ANTHROPIC_AUTH_TOKEN=<the gateway_token>")),
                {"content-type": "application/json", "x-should-retry": "false"})
            return
        # The caller's credential was the gateway's token: it goes no further.
        for name in ("x-api-key", "authorization"):
            flow.request.headers.pop(name, None)
