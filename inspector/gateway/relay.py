"""A loopback relay between mitmproxy and the real backend: transport only, no translation.

mitmproxy cannot stream a response that an addon makes, and it answers a failed
upstream connect with its own HTML page. Local backends are silent for minutes
while they evaluate a long prompt (Ollama sends no headers until its first
token). So translated flows go mitmproxy → relay → backend, and the relay:

* keeps pooled keep-alive connections to backends (httpx);
* answers ``502`` + ``x-inspector-relay: unreachable`` when the backend cannot
  be reached, so the addon can say so in Anthropic's words;
* for streaming requests, when the backend has not answered within
  ``ping_interval`` seconds, commits to ``200`` itself and sends keep-alive
  markers the stream translators turn into Anthropic ``ping`` events (a blank
  line for NDJSON, an SSE comment otherwise) — also during silences mid-stream,
  but only between two lines/events;
* if the backend fails after that commit, writes the failure *in band* in the
  backend's own error format, so the translator emits an ``error`` event.

Requests carry ``x-inspector-upstream`` (backend origin + base path),
``x-inspector-form`` and ``x-inspector-model``; these never reach the backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import httpx
import orjson

from ..protocol import backend_error

__all__ = ["BackendRelay", "RELAY_HEADERS"]

log = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request is noise here

RELAY_HEADERS = ("x-inspector-upstream", "x-inspector-form", "x-inspector-model", "x-inspector-stream")
_HOP = {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"te", b"trailer",
        b"upgrade", b"content-length", b"host", b"accept-encoding"}
_HOP_RESP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}
_CT = {"ollama": b"application/x-ndjson", "openai": b"text/event-stream",
       "anthropic": b"text/event-stream"}


@dataclass(slots=True)
class _Request:
    method: str
    target: str
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: bytes) -> str | None:
        for k, v in self.headers:
            if k == name:
                return v.decode("latin-1")
        return None


class _Reply:
    """Writes one HTTP/1.1 response to mitmproxy, chunked when streaming."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.w = writer
        self.started = False
        self.tail = b"\n\n"  # last bytes of the body, to tell if we are between two events

    def head(self, status: int, headers: list[tuple[bytes, bytes]], *, chunked: bool,
             length: int | None = None) -> None:
        self.started = True
        lines = [b"HTTP/1.1 %d %s" % (status, b"OK" if status == 200 else b"Relay")]
        lines += [k + b": " + v for k, v in headers]
        lines.append(b"transfer-encoding: chunked" if chunked else b"content-length: %d" % (length or 0))
        self.w.write(b"\r\n".join(lines) + b"\r\n\r\n")

    def chunk(self, data: bytes) -> None:
        if data:
            self.w.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.tail = (self.tail + data)[-4:]

    def end(self) -> None:
        self.w.write(b"0\r\n\r\n")

    def at_boundary(self, form: str) -> bool:
        if form == "ollama":
            return self.tail.endswith(b"\n")
        return self.tail.endswith(b"\n\n") or self.tail.endswith(b"\r\n\r\n")

    def simple(self, status: int, body: bytes, extra: list[tuple[bytes, bytes]] = ()) -> None:
        self.head(status, [(b"content-type", b"application/json"), *extra], chunked=False,
                  length=len(body))
        self.w.write(body)


def _marker(form: str) -> bytes:
    return b"\n" if form == "ollama" else b": keep-alive\n\n"


def _in_band_error(form: str, status: int, message: str, *, model: str, backend: str) -> bytes:
    if form == "ollama":
        return orjson.dumps({"error": message, "status": status}) + b"\n"
    if form == "openai":
        return b"data: " + orjson.dumps({"error": {"message": message}, "status": status}) + b"\n\n"
    err = backend_error(form="anthropic", status=status, body=message, model=model, backend=backend)
    return b"event: error\ndata: " + err.json() + b"\n\n"


class BackendRelay:
    def __init__(self, *, ping_interval: float = 5.0, idle_timeout: float = 600.0,
                 connect_timeout: float = 10.0) -> None:
        self.ping_interval = ping_interval
        self.idle_timeout = idle_timeout
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(None, connect=connect_timeout),
            limits=httpx.Limits(max_keepalive_connections=32, keepalive_expiry=60),
            follow_redirects=False, trust_env=False,
        )
        self.server: asyncio.AbstractServer | None = None
        self.port = 0

    async def start(self, host: str = "127.0.0.1") -> int:
        self.server = await asyncio.start_server(self._serve, host, 0, limit=2**20)
        self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self.server:
            self.server.close()
            with contextlib.suppress(Exception):
                await self.server.wait_closed()
        await self.client.aclose()

    # -- server side (mitmproxy is the only client) ----------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await self._read_request(reader)
                if request is None:
                    break
                await self._handle(request, _Reply(writer))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        except Exception:  # noqa: BLE001 - never let one request kill the relay
            log.exception("relay: unexpected failure")
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        lines = head[:-4].split(b"\r\n")
        method, target, _ = lines[0].decode("latin-1").split(" ", 2)
        headers = []
        length = 0
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            k = k.strip().lower()
            v = v.strip()
            if k == b"content-length":
                length = int(v)
            headers.append((k, v))
        body = await reader.readexactly(length) if length else b""
        return _Request(method, target, headers, body)

    # -- one exchange ----------------------------------------------------------------------------
    async def _handle(self, req: _Request, reply: _Reply) -> None:
        upstream = req.header(b"x-inspector-upstream") or ""
        form = req.header(b"x-inspector-form") or "anthropic"
        model = req.header(b"x-inspector-model") or ""
        streaming = req.header(b"x-inspector-stream") == "1"
        relay_names = {h.encode() for h in RELAY_HEADERS}
        headers = [(k, v) for k, v in req.headers if k not in _HOP and k not in relay_names]
        headers.append((b"accept-encoding", b"identity"))
        url = upstream.rstrip("/") + req.target
        backend_request = self.client.build_request(req.method, url, headers=headers, content=req.body)
        send = asyncio.ensure_future(self.client.send(backend_request, stream=True))
        try:
            await self._exchange(send, reply, form=form, model=model, streaming=streaming,
                                 backend=upstream, head_only=req.method == "HEAD")
        finally:
            if not send.done():
                send.cancel()
            with contextlib.suppress(BaseException):
                response = await send
                await response.aclose()

    async def _exchange(self, send: asyncio.Future, reply: _Reply, *, form: str, model: str,
                        streaming: bool, backend: str, head_only: bool = False) -> None:
        waited = 0.0
        while True:
            done, _ = await asyncio.wait({send}, timeout=self.ping_interval if streaming else None)
            if done:
                break
            waited += self.ping_interval
            if not reply.started:
                reply.head(200, [(b"content-type", _CT[form]), (b"x-inspector-early", b"1")], chunked=True)
            if waited >= self.idle_timeout:
                reply.chunk(_in_band_error(form, 504, f"no answer within {self.idle_timeout:.0f} s",
                                           model=model, backend=backend))
                reply.end()
                return
            reply.chunk(_marker(form))
            await reply.w.drain()

        try:
            response: httpx.Response = send.result()
        except httpx.HTTPError as e:
            reason = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            if reply.started:
                reply.chunk(_in_band_error(form, 502, f"cannot reach {backend} ({reason})",
                                           model=model, backend=backend))
                reply.end()
            else:
                reply.simple(502, orjson.dumps({"error": reason}),
                             [(b"x-inspector-relay", b"unreachable")])
            return

        if reply.started:  # committed early: only a 200 can still be relayed as is
            if response.status_code != 200:
                body = await response.aread()
                message = body.decode("utf-8", "replace")
                reply.chunk(_in_band_error(form, response.status_code, message, model=model, backend=backend))
                reply.end()
                return
        else:
            out = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()
                   if k.lower() not in _HOP_RESP]
            if head_only:
                reply.head(response.status_code, out, chunked=False, length=0)
                return
            reply.head(response.status_code, out, chunked=True)
        keepalive = streaming and response.status_code == 200
        await self._pump(response, reply, form=form, model=model, backend=backend, keepalive=keepalive)

    async def _pump(self, response: httpx.Response, reply: _Reply, *, form: str, model: str,
                    backend: str, keepalive: bool) -> None:
        chunks = response.aiter_raw()
        silent = 0.0
        pending = asyncio.ensure_future(anext(chunks, None))
        try:
            while True:
                done, _ = await asyncio.wait({pending}, timeout=self.ping_interval)
                if not done:
                    if not keepalive:
                        continue
                    silent += self.ping_interval
                    if silent >= self.idle_timeout:
                        reply.chunk(_in_band_error(form, 504, f"backend silent for {silent:.0f} s",
                                                   model=model, backend=backend))
                        break
                    if reply.at_boundary(form):
                        reply.chunk(_marker(form))
                        await reply.w.drain()
                    continue
                try:
                    data = pending.result()
                except httpx.HTTPError:
                    break  # cut mid-way: end the body; the translator reports the cut
                if data is None:
                    break
                silent = 0.0
                reply.chunk(data)
                await reply.w.drain()
                pending = asyncio.ensure_future(anext(chunks, None))
        finally:
            if not pending.done():
                pending.cancel()
        reply.end()
