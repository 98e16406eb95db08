"""The gateway's addons in-process (``mitmproxy.test.taddons``), with the relay on loopback: fast
tests of the addon logic and the pipeline without starting mitmdump.

``async with InProcessGateway(backend.url, backend="ollama", model="qwen3") as gw:``
``    result = await gw.send("POST", "/v1/messages", json=...)``

A request runs through the addons' hooks as mitmproxy calls them — every addon, in order, an
addon whose hook raises logged and the next one run (mitmproxy's own ``trigger_event``); a body
streamed when a hook set ``request.stream``; an answer a hook made, or the one fetched from where
the flow points (the relay), through ``responseheaders`` (and its ``stream`` callable) and
``response``. What mitmproxy itself adds (HTTP parsing of the client's bytes, the client socket)
is left to the end-to-end tests that run the real mitmdump.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from mitmproxy import http
from mitmproxy.flow import Error
from mitmproxy.proxy.commands import StartHook
from mitmproxy.proxy.layers.http import (
    HttpErrorHook,
    HttpRequestHeadersHook,
    HttpRequestHook,
    HttpResponseHeadersHook,
    HttpResponseHook,
)
from mitmproxy.proxy.mode_specs import ProxyMode
from mitmproxy.test import taddons, tflow
from rich.console import Console

from ..gateway import all_addons, replay_addons
from ..gateway.colourlog import ColourLog
from ..gateway.exchange import EndListener
from ..gateway.relay import Relay
from ..gateway.replayer import Replayer

__all__ = ["InProcessGateway", "Result"]


@dataclass
class Result:
    status: int
    headers: dict[str, str]
    body: bytes
    #: Seconds from sending to each body piece's arrival.
    times: list[float] = field(default_factory=list)
    flow: http.HTTPFlow | None = None
    #: The connection was closed before the answer ended (the flow was killed).
    cut: bool = False

    def json(self) -> Any:
        return orjson.loads(self.body)


class InProcessGateway:
    """The gateway's addons — or, given ``replay_dir``, the replay server's (``backend_url`` is then
    the reverse target it must never dial)."""

    def __init__(self, backend_url: str, *, backend: str = "ollama", mode: str = "reverse",
                 record: bool = False, origin: str = "https://api.anthropic.com", **options: Any) -> None:
        self.backend_url = backend_url
        #: Where requests go in regular mode (the host Claude Code thinks it talks to).
        self.origin = origin
        self.mode = ProxyMode.parse(f"reverse:{backend_url}" if mode == "reverse" else "regular")
        if "replay_dir" in options:
            self.options = {"replay_speed": "0", **options}
            self.addons = replay_addons()
        else:
            self.options = {"backend": backend, "record": record, "log_detail": "summary", **options}
            if mode != "reverse":
                self.options.setdefault("backend_url", backend_url)
            self.addons = all_addons()
        self.log = io.StringIO()
        for a in self.addons:
            if isinstance(a, ColourLog):
                a.console = Console(file=self.log, width=400, highlight=False, soft_wrap=True)
        self.relay = next((a for a in self.addons if isinstance(a, Relay)), None)
        #: Summaries of the exchanges that ended, in order (what exchange.json would hold).
        self.ended: list[dict[str, Any]] = []

    def addon[A](self, kind: type[A]) -> A:
        return next(a for a in self.addons if isinstance(a, kind))

    def sdk(self, **kw: Any) -> Any:
        """The official ``anthropic`` SDK (``AsyncAnthropic``) as the client, its requests going through
        the addons as ``send`` sends them: its accumulator and its error classes judge the answers."""
        import anthropic
        import httpx2

        async def handle(request: httpx2.Request) -> httpx2.Response:
            url = httpx2.URL(str(request.url))
            path = url.raw_path.decode()
            headers = [(k.encode(), v.encode("latin-1")) for k, v in request.headers.multi_items()
                       if k.lower() not in ("host", "content-length", "accept-encoding")]
            result = await self.send(request.method, path, content=await request.aread(), headers=headers)
            return httpx2.Response(result.status, headers=[(k, v) for k, v in result.headers.items()
                                                           if k.lower() not in ("content-length", "transfer-encoding")],
                                   content=result.body)

        return anthropic.AsyncAnthropic(base_url="http://gateway.test", api_key=kw.pop("api_key", "sk-ant-secret-key"),
                                        max_retries=0, http_client=httpx2.AsyncClient(
                                            transport=httpx2.MockTransport(handle)), **kw)

    async def __aenter__(self) -> InProcessGateway:
        self.ctx = taddons.context(*self.addons)
        self.ctx.options.update(**self.options)
        for a in self.addons:
            if isinstance(a, (Relay, Replayer)):
                await a.running()
        if self.relay is not None:
            self.relay.listeners.items.append(_Collect(self.ended))
        self.client = httpx.AsyncClient(timeout=30)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()
        for a in self.addons:
            done = getattr(a, "done", None)
            if done is not None:
                out = done()
                if hasattr(out, "__await__"):
                    await out

    async def _hook(self, hook: StartHook) -> None:
        """One hook across every addon, exactly as mitmproxy runs it: an addon whose hook raises is
        logged ("Addon error") and the next one runs (``AddonManager.trigger_event``)."""
        await self.ctx.master.addons.trigger_event(hook)

    async def send(self, method: str, path: str, *, json: Any = None, content: bytes | None = None,
                   headers: dict[str, str] | dict[str, bytes] | list[tuple[bytes, bytes]] | None = None,
                   read: int | None = None, chunked: bool = False,
                   on_piece: Callable[[bytes], None] | None = None) -> Result:
        """One request through the addons, in the order mitmproxy calls their hooks. ``read=N`` walks
        away after N body pieces; ``chunked``: the body has no length (``Transfer-Encoding: chunked``);
        ``on_piece`` sees each piece of the answer as it arrives. Header values may be bytes (sent as
        they are, like a client's)."""
        body = orjson.dumps(json) if json is not None else (content or b"")
        base = self.backend_url if self.mode.type_name == "reverse" else self.origin
        flow = tflow.tflow()
        flow.client_conn.proxy_mode = self.mode
        given = headers.items() if isinstance(headers, dict) else (headers or [])
        fields = [(b"content-type", b"application/json")] if not any(
            _b(k).lower() == b"content-type" for k, _ in given) else []
        fields += [(_b(k), _b(v)) for k, v in given]
        flow.request = http.Request.make(method, base + path, body, fields)
        if chunked:
            flow.request.headers.pop("content-length", None)
            flow.request.headers["transfer-encoding"] = "chunked"
        flow.request.data.content = None  # at requestheaders, mitmproxy has not read the body yet
        t0 = time.monotonic()
        await self._hook(HttpRequestHeadersHook(flow))
        if _killed(flow):
            return Result(0, {}, b"", [], flow, cut=True)
        target = flow.request
        if callable(target.stream) and body and flow.response is None:
            # mitmproxy sends the head to the server now and streams the body through the callable
            # (whose result is what the server gets); the request hook runs before the body's end.
            for i in range(0, len(body), 1 << 16):
                target.stream(body[i:i + (1 << 16)])
            target.stream(b"")
            await self._hook(HttpRequestHook(flow))
        else:
            flow.request.data.content = body
            await self._hook(HttpRequestHook(flow))
            if _killed(flow):
                return Result(0, {}, b"", [], flow, cut=True)
            if flow.response is not None:  # made by a hook: mitmproxy emulates responseheaders
                await self._hook(HttpResponseHeadersHook(flow))
                await self._hook(HttpResponseHook(flow))
                resp = flow.response
                await asyncio.sleep(0)
                return Result(resp.status_code, dict(resp.headers), resp.content or b"", [], flow)
            target = flow.request
        url = f"http://{target.host}:{target.port}{target.path}"
        pieces: list[bytes] = []
        times: list[float] = []
        walked = False
        async with self.client.stream(target.method, url, headers=dict(target.headers),
                                      content=b"" if callable(target.stream) else target.content) as answer:
            flow.response = http.Response.make(answer.status_code, b"", list(answer.headers.raw))
            flow.response.headers.pop("content-length", None)
            await self._hook(HttpResponseHeadersHook(flow))
            if _killed(flow):
                return Result(0, {}, b"", [], flow, cut=True)
            stream = flow.response.stream
            async for piece in answer.aiter_raw():
                out = stream(piece) if callable(stream) else [piece]
                for chunk in [out] if isinstance(out, bytes) else out:
                    pieces.append(chunk)
                    times.append(time.monotonic() - t0)
                    if on_piece is not None:
                        on_piece(chunk)
                if read is not None and len(pieces) >= read:
                    walked = True
                    break
            if callable(stream) and not walked:
                last = stream(b"")
                pieces += [c for c in ([last] if isinstance(last, bytes) else last) if c]
        if walked:
            flow.error = flow.error or Error("client disconnected")
            await self._hook(HttpErrorHook(flow))
            await asyncio.sleep(0)
            return Result(flow.response.status_code, dict(flow.response.headers), b"".join(pieces), times, flow)
        if not stream:  # buffered: the response hook sees it whole, and may still change it
            flow.response.content = b"".join(pieces)
        await self._hook(HttpResponseHook(flow))
        # mitmproxy's next read of the client happens at least one loop turn later: what the addons
        # deferred until the client had its answer (the exchange's end) has run by then.
        await asyncio.sleep(0)
        resp = flow.response
        if _killed(flow):
            return Result(resp.status_code, dict(resp.headers), b"".join(pieces), times, flow, cut=True)
        body_out = b"".join(pieces) if stream else (resp.content or b"")
        return Result(resp.status_code, dict(resp.headers), body_out, times, flow)


def _b(v: str | bytes) -> bytes:
    return v if isinstance(v, bytes) else v.encode()


def _killed(flow: http.HTTPFlow) -> bool:
    return flow.error is not None and flow.error.msg == Error.KILLED_MESSAGE


class _Collect(EndListener):
    def __init__(self, into: list[dict[str, Any]]) -> None:
        self.into = into

    def exchange_ended(self, ex: Any) -> None:
        self.into.append(ex.final or ex.summary())
