"""The ``GatewayAuth`` addon: loopback by default; a token whenever the gateway is reachable from
elsewhere.

A gateway on a non-loopback address (``--set gateway_public=true``, ``--listen-host 0.0.0.0``, a
mode with its own address) refuses to start without a token (``--set gateway_token=…`` or the
``INSPECTOR_GATEWAY_TOKEN`` variable) and then answers only requests that carry it:

* reverse mode (``ANTHROPIC_BASE_URL``): as ``x-api-key`` or ``Authorization: Bearer``, which
  Claude Code sends from ``ANTHROPIC_API_KEY`` / ``ANTHROPIC_AUTH_TOKEN``;
* regular and upstream (``HTTPS_PROXY``) mode: as proxy credentials, ``Proxy-Authorization: Basic``
  with the token as the password (``HTTPS_PROXY=http://inspector:TOKEN@host:port``) or ``Bearer``,
  on the ``CONNECT`` that opens a tunnel (no tunnel opens without it) or on a plain-HTTP proxy
  request. Inside an authenticated tunnel the API credentials are the upstream's, not ours.

The token is compared as bytes, in constant time; a header that is not text (``x-api-key: \\xff``)
is simply not the token. It is removed from the request before anything else sees it (a refused
request's attempt too), so it is never forwarded, printed or recorded. A failed attempt waits a
little longer each time from the same address (``Throttle``, bounded) and is logged at most once a
minute per address — never with what was sent. Credentials in the query string (``?key=``,
``?token=`` …) are never a way in: they are removed from a reverse-mode request before anything
can print it.

On loopback the gateway binds 127.0.0.1 from the start (it sets ``listen_host`` before
mitmproxy's listeners open).
"""

from __future__ import annotations

import asyncio
import binascii
import hmac
import logging
import math
import os
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import orjson
from mitmproxy import addonmanager, connection, ctx, exceptions, http
from mitmproxy.proxy.mode_specs import ProxyMode, RegularMode, UpstreamMode

from ..protocol import error_body
from .flows import without_secret_params
from .guard import Parking, fail_closed, refuse

__all__ = ["GatewayAuth", "TOKEN_ENV", "Throttle", "presented"]

log = logging.getLogger("inspector")

TOKEN_ENV = "INSPECTOR_GATEWAY_TOKEN"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: The modes whose callers the token can be asked of.
_CHECKED_MODES = ("reverse", "regular", "upstream")
_REALM = 'Basic realm="claude-code-inspector"'


def _exposed_modes() -> list[tuple[str, str]]:
    """(listen host, mode name) of every listener reachable from other machines."""
    o = ctx.options
    exposed = []
    for spec in o.mode:
        try:
            mode = ProxyMode.parse(spec)
        except ValueError:
            continue
        host = mode.custom_listen_host if mode.custom_listen_host is not None else o.listen_host
        if host not in _LOOPBACK:
            exposed.append((host or "*", mode.type_name))
    return exposed


def _exposed_hosts() -> list[str]:
    return [host for host, _ in _exposed_modes()]


def _raw(headers: http.Headers, name: bytes) -> list[bytes]:
    return [v for k, v in headers.fields if k.lower() == name]


def presented(headers: http.Headers) -> bytes | None:
    """The credential a caller presents to the gateway's API, as the bytes sent: ``x-api-key``, else
    ``Authorization: Bearer``. None when there is none, or more than one."""
    keys = _raw(headers, b"x-api-key")
    if keys:
        return keys[0] if len(keys) == 1 else None
    auth = _raw(headers, b"authorization")
    if len(auth) != 1 or auth[0][:7].lower() != b"bearer ":
        return None
    return auth[0][7:].strip()


def presented_to_proxy(headers: http.Headers) -> bytes | None:
    """The credential in ``Proxy-Authorization``: a Basic password (any user name) or a Bearer token."""
    values = _raw(headers, b"proxy-authorization")
    if len(values) != 1:
        return None
    scheme, _, rest = values[0].strip().partition(b" ")
    rest = rest.strip()
    if scheme.lower() == b"bearer":
        return rest
    if scheme.lower() != b"basic":
        return None
    try:
        decoded = binascii.a2b_base64(rest, strict_mode=True)
    except binascii.Error:
        return None
    user, colon, password = decoded.partition(b":")
    return password if colon else None


@dataclass(slots=True)
class _Attempts:
    run: int = 0  # failures with no gap longer than the window between them
    last: float = -math.inf  # when the last one came
    reported: float = -math.inf  # when they were last logged
    unreported: int = 0  # failures since then
    #: Failures from one address are answered one after another: many connections guess no faster.
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)


class Throttle:
    """Failed token attempts per client address: each waits ``step`` seconds more than the one
    before (at most ``cap``) while they keep coming less than ``window`` seconds apart, one after
    another (``turn``); they are logged at most once a ``window`` per address, counted, never quoted."""

    def __init__(self, *, step: float = 0.25, cap: float = 3.0, window: float = 60.0, size: int = 4096,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.step, self.cap, self.window, self.size, self.clock = step, cap, window, size, clock
        self._seen: OrderedDict[str, _Attempts] = OrderedDict()  # least recently failed first

    def turn(self, address: str) -> asyncio.Lock:
        """Held while a failure from ``address`` waits: its failures are answered one at a time."""
        a = self._seen.get(address)
        return a.turn if a is not None else asyncio.Lock()

    def failed(self, address: str) -> tuple[float, str | None]:
        """One more failure from ``address``: how long to wait before answering, and what to log (or None)."""
        now = self.clock()
        a = self._seen.pop(address, None) or _Attempts()
        if now - a.last > self.window:
            a.run = 0
        a.run += 1
        a.last = now
        a.unreported += 1
        self._seen[address] = a
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)
        delay = min(self.step * a.run, self.cap)
        if now - a.reported < self.window:
            return delay, None
        n, a.reported, a.unreported = a.unreported, now, 0
        return delay, (f"gateway: refused {n} request{'s' if n != 1 else ''} from {address} without the gateway's "
                       f"token since the last report; each further one waits longer, up to {self.cap:g} s")

    def succeeded(self, address: str) -> None:
        a = self._seen.get(address)
        if a is not None:
            a.run = 0


def _address(flow: http.HTTPFlow) -> str:
    peer = flow.client_conn.peername
    return str(peer[0]) if peer else "an unknown address"


def _proxy_mode(flow: http.HTTPFlow) -> bool:
    return isinstance(flow.client_conn.proxy_mode, (RegularMode, UpstreamMode))


def unauthorized(flow: http.HTTPFlow, e: Exception | None = None) -> http.Response:
    """The answer without the token: 401 (407 from a proxy), never retried."""
    if _proxy_mode(flow):
        return http.Response.make(
            407, orjson.dumps(error_body("authentication_error", "this inspector gateway needs its token as proxy "
                                                                 "credentials: HTTPS_PROXY=http://inspector:"
                                                                 "<the gateway_token>@HOST:PORT")),
            {"content-type": "application/json", "proxy-authenticate": _REALM, "x-should-retry": "false"})
    return http.Response.make(
        401, orjson.dumps(error_body("authentication_error", "this inspector gateway needs its token: export "
                                                             "ANTHROPIC_AUTH_TOKEN=<the gateway_token>")),
        {"content-type": "application/json", "x-should-retry": "false"})


class GatewayAuth:
    def __init__(self, parking: Parking | None = None) -> None:
        self.token = b""
        #: Where a refusal with a body still to come is answered from, its body never read.
        self.parking = parking
        self.throttle = Throttle()
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        #: Client connections whose CONNECT carried the token (regular mode).
        self.tunnels: weakref.WeakKeyDictionary[connection.Client, bool] = weakref.WeakKeyDictionary()

    def load(self, loader: addonmanager.Loader) -> None:
        loader.add_option("gateway_public", bool, False,
                          "Listen on all interfaces (default: loopback only). Requires gateway_token.")
        loader.add_option("gateway_token", str, "",
                          f"The token callers must send (x-api-key or Authorization: Bearer; as proxy "
                          f"credentials in regular mode) when the gateway is reachable from other machines; "
                          f"also read from ${TOKEN_ENV}. Never forwarded, never recorded.")

    def configure(self, updated: set[str]) -> None:
        o = ctx.options
        token = o.gateway_token or os.environ.get(TOKEN_ENV, "")
        self.token = token.encode()
        if not o.gateway_public and not o.listen_host:
            # Before the listeners open (scripts configure before mitmproxy starts listening).
            o.listen_host = "127.0.0.1"
        exposed = _exposed_modes()
        if exposed and not token:
            raise exceptions.OptionsError(
                f"the gateway would listen on {', '.join(h for h, _ in exposed)}, reachable from other machines, "
                f"without a token: set one with --set gateway_token=… (or ${TOKEN_ENV}); callers send it "
                f"as ANTHROPIC_AUTH_TOKEN")
        unchecked = sorted({m for _, m in exposed if m not in _CHECKED_MODES})
        if unchecked:
            raise exceptions.OptionsError(
                f"the gateway cannot ask callers for its token in {', '.join(unchecked)} mode: expose only "
                f"reverse, regular or upstream mode (keep the others on 127.0.0.1)")
        if token and len(token) < 16:
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

    # -- hooks -----------------------------------------------------------------------------------
    @fail_closed(unauthorized)
    async def http_connect(self, flow: http.HTTPFlow) -> None:
        """Regular mode: no tunnel opens without the token."""
        if not self.token:
            return
        if await self._check(flow, presented_to_proxy(flow.request.headers), ("proxy-authorization",)):
            self.tunnels[flow.client_conn] = True

    @fail_closed(unauthorized)
    async def requestheaders(self, flow: http.HTTPFlow) -> None:
        if not _proxy_mode(flow):  # credentials in the query string: never a way in, nor printed
            flow.request.path = without_secret_params(flow.request.path)
        if not self.token:
            return
        if _proxy_mode(flow):
            if flow.client_conn in self.tunnels:
                return  # inside an authenticated tunnel: the API credentials are the upstream's
            await self._check(flow, presented_to_proxy(flow.request.headers), ("proxy-authorization",))
        else:
            await self._check(flow, presented(flow.request.headers), ("x-api-key", "authorization"))

    async def _check(self, flow: http.HTTPFlow, given: bytes | None, names: tuple[str, ...]) -> bool:
        ok = given is not None and hmac.compare_digest(given, self.token)
        for name in names:  # the caller's credential was (or tried to be) the gateway's: it goes no further
            flow.request.headers.pop(name, None)
        address = _address(flow)
        if ok:
            self.throttle.succeeded(address)
            return True
        delay, report = self.throttle.failed(address)
        if report:
            log.warning(report)
        async with self.throttle.turn(address):
            await self.sleep(delay)
        if self.parking is not None and not self.parking.port:
            await self.parking.ready()
        refuse(flow, unauthorized(flow), self.parking)
        return False
