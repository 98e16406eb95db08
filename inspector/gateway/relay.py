"""A loopback relay between mitmproxy and the real backend: transport only, no translation.

mitmproxy cannot stream a response that an addon makes, and it answers a failed
upstream connect with its own HTML page. Local backends are silent for minutes
while they evaluate a long prompt (Ollama sends no headers until its first
token). So translated flows go mitmproxy → relay → backend, and the relay:

* keeps pooled keep-alive HTTP/1.1 connections to backends (a lean client: the
  relay runs in mitmproxy's event loop, so every microsecond here is per request);
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
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson

from ..protocol import backend_error

__all__ = ["BackendRelay", "RELAY_HEADERS"]

log = logging.getLogger(__name__)

RELAY_HEADERS = ("x-inspector-upstream", "x-inspector-form", "x-inspector-model", "x-inspector-stream")
_HOP = {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"te", b"trailer",
        b"upgrade", b"content-length", b"host", b"accept-encoding"}
#: Request headers never sent on to the backend: hop-by-hop ones and the relay's own.
_DROP = _HOP | {h.encode() for h in RELAY_HEADERS}
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


class BackendFailure(Exception):
    """The backend could not be reached, or closed the connection without an answer."""


class _Conn:
    __slots__ = ("reader", "writer", "key")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, key: tuple) -> None:
        self.reader, self.writer, self.key = reader, writer, key

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class _Response:
    """A backend's response head, and its body as de-framed pieces."""

    def __init__(self, conn: _Conn, status: int, headers: list[tuple[str, str]], framing: str,
                 length: int, pool: _Pool) -> None:
        self.conn = conn
        self.status_code = status
        self.headers = headers
        self._framing = framing  # none | length | chunked | close
        self._left = length if framing == "length" else -1
        self._pool = pool
        self._done = framing == "none"

    async def read(self) -> bytes | None:
        """The next body piece, ``None`` at the end. Cancel-safe: a read interrupted by a
        timeout loses nothing, so callers can wait with ``asyncio.timeout``."""
        r = self.conn.reader
        try:
            if self._done:
                return None
            if self._framing == "length":
                data = await r.read(min(self._left, 65536))
                if not data:
                    raise BackendFailure("connection closed mid-body")
                self._left -= len(data)
                self._done = self._left <= 0
                return data
            if self._framing == "chunked":
                if self._left < 0:  # no chunk size read yet
                    self._left = int((await r.readuntil(b"\r\n")).split(b";", 1)[0], 16)
                if self._left == 0:
                    while await r.readuntil(b"\r\n") != b"\r\n":  # trailers
                        pass
                    self._done = True
                    return None
                data = await r.readexactly(self._left + 2)
                self._left = -1
                return data[:-2]
            data = await r.read(65536)  # close-delimited
            if not data:
                self._done = True
                return None
            return data
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, asyncio.LimitOverrunError) as e:
            raise BackendFailure(f"backend stream broke: {type(e).__name__}") from None

    async def aread(self) -> bytes:
        pieces = []
        while (piece := await self.read()) is not None:
            pieces.append(piece)
        return b"".join(pieces)

    def release(self) -> None:
        if self._done and self._framing != "close":
            self._pool.release(self.conn)
        else:
            self.conn.close()


class _Pool:
    """Idle keep-alive connections per (scheme, host, port)."""

    def __init__(self, connect_timeout: float) -> None:
        self.connect_timeout = connect_timeout
        self.idle: dict[tuple, list[_Conn]] = {}
        self._tls: ssl.SSLContext | None = None

    async def _connect(self, key: tuple) -> _Conn:
        scheme, host, port = key
        tls = None
        if scheme == "https":
            tls = self._tls = self._tls or ssl.create_default_context()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=tls, server_hostname=host if tls else None,
                                        limit=2**20), self.connect_timeout)
        except TimeoutError:
            raise BackendFailure(f"connect timeout after {self.connect_timeout:.0f} s") from None
        except ConnectionRefusedError:
            raise BackendFailure("connection refused") from None
        except OSError as e:
            raise BackendFailure(e.strerror or type(e).__name__) from None
        return _Conn(reader, writer, key)

    def release(self, conn: _Conn) -> None:
        if len(self.idle.setdefault(conn.key, [])) < 32:
            self.idle[conn.key].append(conn)
        else:
            conn.close()

    def close(self) -> None:
        for conns in self.idle.values():
            for conn in conns:
                conn.close()
        self.idle.clear()

    async def send(self, method: str, url: str, headers: list[tuple[bytes, bytes]], body: bytes) -> _Response:
        parts = urlsplit(url)
        scheme = parts.scheme
        port = parts.port or (443 if scheme == "https" else 80)
        key = (scheme, parts.hostname, port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.hostname if port in (80, 443) else f"{parts.hostname}:{port}"
        head = [f"{method} {target} HTTP/1.1\r\nhost: {host}\r\n".encode()]
        head += [k + b": " + v + b"\r\n" for k, v in headers]
        head.append(b"content-length: %d\r\n\r\n" % len(body) if body or method in ("POST", "PUT", "PATCH")
                    else b"\r\n")
        payload = b"".join(head) + body
        idle = self.idle.get(key)
        while idle:
            conn = idle.pop()
            try:
                return await self._exchange(conn, method, payload)
            except BackendFailure:
                conn.close()  # a stale keep-alive connection: try the next, then a fresh one
        conn = await self._connect(key)
        try:
            return await self._exchange(conn, method, payload)
        except BackendFailure:
            conn.close()
            raise

    async def _exchange(self, conn: _Conn, method: str, payload: bytes) -> _Response:
        conn.writer.write(payload)
        try:
            await conn.writer.drain()
            raw = await conn.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            raise BackendFailure("the backend closed the connection without answering") from None
        lines = raw[:-4].decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split(" ", 2)[1])
        except (IndexError, ValueError):
            raise BackendFailure(f"not an HTTP response: {lines[0][:60]!r}") from None
        headers = []
        framing, length = "close", 0
        for line in lines[1:]:
            k, _, v = line.partition(":")
            k, v = k.strip(), v.strip()
            headers.append((k, v))
            low = k.lower()
            if low == "transfer-encoding" and "chunked" in v.lower():
                framing = "chunked"
            elif low == "content-length" and framing != "chunked":
                framing, length = "length", int(v)
        if method == "HEAD" or status in (204, 304) or (framing == "length" and length == 0):
            framing = "none"
        return _Response(conn, status, headers, framing, length, self)


class BackendRelay:
    def __init__(self, *, ping_interval: float = 5.0, idle_timeout: float = 600.0,
                 connect_timeout: float = 10.0) -> None:
        self.ping_interval = ping_interval
        self.idle_timeout = idle_timeout
        self.pool = _Pool(connect_timeout)
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
        self.pool.close()

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
        headers = [(k, v) for k, v in req.headers if k not in _DROP]
        headers.append((b"accept-encoding", b"identity"))
        url = upstream.rstrip("/") + req.target
        send = asyncio.ensure_future(self.pool.send(req.method, url, headers, req.body))
        try:
            response = await self._exchange(send, reply, form=form, model=model, streaming=streaming,
                                            backend=upstream, head_only=req.method == "HEAD")
        finally:
            if not send.done():
                send.cancel()
                with contextlib.suppress(BaseException):
                    await send
        if response is not None:
            response.release()

    async def _exchange(self, send: asyncio.Future, reply: _Reply, *, form: str, model: str,
                        streaming: bool, backend: str, head_only: bool = False) -> _Response | None:
        """Relay one exchange; returns the backend response to release (or None)."""
        waited = 0.0
        while streaming:
            done, _ = await asyncio.wait({send}, timeout=self.ping_interval)
            if done:
                break
            waited += self.ping_interval
            if not reply.started:
                reply.head(200, [(b"content-type", _CT[form]), (b"x-inspector-early", b"1")], chunked=True)
            if waited >= self.idle_timeout:
                reply.chunk(_in_band_error(form, 504, f"no answer within {self.idle_timeout:.0f} s",
                                           model=model, backend=backend))
                reply.end()
                return None
            reply.chunk(_marker(form))
            await reply.w.drain()

        try:
            response: _Response = await send
        except BackendFailure as e:
            reason = str(e)
            if reply.started:
                reply.chunk(_in_band_error(form, 502, f"cannot reach {backend} ({reason})",
                                           model=model, backend=backend))
                reply.end()
            else:
                reply.simple(502, orjson.dumps({"error": reason}),
                             [(b"x-inspector-relay", b"unreachable")])
            return None

        if reply.started:  # committed early: only a 200 can still be relayed as is
            if response.status_code != 200:
                body = await response.aread()
                message = body.decode("utf-8", "replace")
                reply.chunk(_in_band_error(form, response.status_code, message, model=model, backend=backend))
                reply.end()
                return response
        else:
            out = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers
                   if k.lower() not in _HOP_RESP]
            if head_only:
                reply.head(response.status_code, out, chunked=False, length=0)
                return response
            reply.head(response.status_code, out, chunked=True)
        keepalive = streaming and response.status_code == 200
        await self._pump(response, reply, form=form, model=model, backend=backend, keepalive=keepalive)
        return response

    async def _pump(self, response: _Response, reply: _Reply, *, form: str, model: str,
                    backend: str, keepalive: bool) -> None:
        silent = 0.0
        writer = reply.w
        while True:
            try:
                if keepalive:
                    async with asyncio.timeout(self.ping_interval):
                        data = await response.read()
                else:
                    data = await response.read()
            except TimeoutError:
                silent += self.ping_interval
                if silent >= self.idle_timeout:
                    reply.chunk(_in_band_error(form, 504, f"backend silent for {silent:.0f} s",
                                               model=model, backend=backend))
                    break
                if reply.at_boundary(form):
                    reply.chunk(_marker(form))
                    await writer.drain()
                continue
            except BackendFailure:
                break  # cut mid-way: end the body; the translator reports the cut
            if data is None:
                break
            silent = 0.0
            reply.chunk(data)
            if writer.transport.get_write_buffer_size() > 65536:
                await writer.drain()
        reply.end()
