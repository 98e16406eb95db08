"""The gateway's addons in-process (``mitmproxy.test.taddons``), with the relay on loopback: fast
tests of the addon logic and the pipeline without starting mitmdump.

``async with InProcessGateway(backend.url, backend="ollama", model="qwen3") as gw:``
``    result = await gw.send("POST", "/v1/messages", json=...)``

A request runs through the addons' ``requestheaders`` and ``request`` hooks as mitmproxy would
call them; when the gateway points the flow at the relay, the harness fetches the answer from
it as mitmproxy does (``stream=True``), then calls ``responseheaders`` and ``response``. What
mitmproxy itself adds (HTTP parsing of the client's bytes, the client socket) is left to the
end-to-end tests that run the real mitmdump.
"""

from __future__ import annotations

import asyncio
import io
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from mitmproxy import http
from mitmproxy.flow import Error
from mitmproxy.proxy.mode_specs import ProxyMode
from mitmproxy.test import taddons, tflow
from rich.console import Console

from ..gateway import all_addons
from ..gateway.colourlog import ColourLog
from ..gateway.relay import Relay

__all__ = ["InProcessGateway", "Result"]


@dataclass
class Result:
    status: int
    headers: dict[str, str]
    body: bytes
    #: Seconds from sending to each body piece's arrival.
    times: list[float] = field(default_factory=list)
    flow: http.HTTPFlow | None = None

    def json(self) -> Any:
        return orjson.loads(self.body)


class InProcessGateway:
    def __init__(self, backend_url: str, *, backend: str = "ollama", mode: str = "reverse",
                 record: bool = False, **options: Any) -> None:
        self.backend_url = backend_url
        self.mode = ProxyMode.parse(f"reverse:{backend_url}" if mode == "reverse" else "regular")
        self.options = {"backend": backend, "record": record, "log_detail": "summary", **options}
        if mode != "reverse":
            self.options.setdefault("backend_url", backend_url)
        self.addons = all_addons()
        self.log = io.StringIO()
        for a in self.addons:
            if isinstance(a, ColourLog):
                a.console = Console(file=self.log, width=400, highlight=False, soft_wrap=True)
        self.relay = next(a for a in self.addons if isinstance(a, Relay))
        #: Summaries of the exchanges that ended, in order (what exchange.json would hold).
        self.ended: list[dict[str, Any]] = []

    async def __aenter__(self) -> InProcessGateway:
        self.ctx = taddons.context(*self.addons)
        self.ctx.options.update(**self.options)
        await self.relay.running()
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

    async def _hooks(self, name: str, flow: http.HTTPFlow) -> None:
        for a in self.addons:
            hook = getattr(a, name, None)
            if hook is not None:
                out = hook(flow)
                if hasattr(out, "__await__"):  # mitmproxy awaits async hooks
                    await out
            if flow.response is not None and name in ("requestheaders", "request"):
                return
        if name in ("response", "error"):
            # mitmproxy's next read of the client happens at least one loop turn later: what the
            # addons deferred until the client had its answer (the exchange's end) has run by then.
            await asyncio.sleep(0)

    async def send(self, method: str, path: str, *, json: Any = None, content: bytes | None = None,
                   headers: dict[str, str] | None = None, read: int | None = None) -> Result:
        """One request through the addons. ``read=N`` walks away after N body pieces."""
        body = orjson.dumps(json) if json is not None else (content or b"")
        base = self.backend_url if self.mode.type_name == "reverse" else "https://api.anthropic.com"
        flow = tflow.tflow()
        flow.client_conn.proxy_mode = self.mode
        fields = {"content-type": "application/json", **(headers or {})}
        flow.request = http.Request.make(method, base + path, body, [(k.encode(), v.encode()) for k, v in fields.items()])
        t0 = time.monotonic()
        await self._hooks("requestheaders", flow)
        if flow.response is None:
            await self._hooks("request", flow)
        if flow.response is not None:
            await self._hooks("response", flow)
            resp = flow.response
            return Result(resp.status_code, dict(resp.headers), resp.content or b"", [], flow)
        r = flow.request
        url = f"http://{r.host}:{r.port}{r.path}"
        pieces: list[bytes] = []
        times: list[float] = []
        async with self.client.stream(r.method, url, headers=dict(r.headers), content=r.content) as answer:
            flow.response = http.Response.make(answer.status_code, b"",
                                               [(k.encode(), v.encode()) for k, v in answer.headers.items()])
            await self._hooks("responseheaders", flow)
            async for piece in answer.aiter_raw():
                pieces.append(piece)
                times.append(time.monotonic() - t0)
                if read is not None and len(pieces) >= read:
                    break
            status, hdrs = answer.status_code, dict(answer.headers)
        if read is not None and len(pieces) >= read:
            flow.error = flow.error or Error("client disconnected")
            await self._hooks("error", flow)
        else:
            await self._hooks("response", flow)
        return Result(status, hdrs, b"".join(pieces), times, flow)


class _Collect:
    def __init__(self, into: list[dict[str, Any]]) -> None:
        self.into = into

    def exchange_started(self, ex: Any) -> None:
        pass

    def exchange_response(self, ex: Any, direction: Any, status: int, headers: Any) -> None:
        pass

    def exchange_chunk(self, ex: Any, direction: Any, data: bytes) -> None:
        pass

    def exchange_ended(self, ex: Any) -> None:
        self.into.append(ex.final or ex.summary())
