"""A small HTTP/1.1 server on loopback, with h11 doing the framing: one helper for every loopback
server the project runs — the gateway's relay, replay, the pytest plugin's replay server, and the
scripted backends of the tests.

A handler is ``async def handle(request: Request, reply: Reply) -> None``. It decides when the
response head goes out (``reply.head``), streams the body (``reply.write`` + ``await reply.drain()``)
and ends it (``reply.end()``). When the peer goes away mid-response, the handler's task is
cancelled at once (its ``finally`` blocks run), so whatever it was waiting on — a backend, a
timer — is released; ``reply.gone`` is then true.

``LoopbackServer`` runs in the caller's event loop; ``ThreadedServer`` runs one in a thread of its
own for synchronous code (tests, the pytest plugin).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus

import h11

from ._client import header_bytes

__all__ = ["Handler", "LoopbackServer", "Reply", "Request", "ThreadedServer"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Request:
    method: str
    target: str
    #: Names lower-cased, as h11 gives them.
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def header(self, name: str, default: str = "") -> str:
        for k, v in self.headers:
            if k == name:
                return v
        return default


Handler = Callable[[Request, "Reply"], Awaitable[None]]
#: Reason phrases for the status line (clients show them: "HTTP 400 Bad Request").
_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}


class Reply:
    """The response to one request, written as the handler goes."""

    __slots__ = ("_conn", "started", "ended", "status")

    def __init__(self, conn: _Connection) -> None:
        self._conn = conn
        self.started = False
        self.ended = False
        self.status = 0

    @property
    def gone(self) -> bool:
        """The peer closed the connection."""
        return self._conn.lost

    def head(self, status: int, headers: Iterable[tuple[str, str]] = (), *, length: int | None = None) -> None:
        """Send the status line and headers; the body is chunked unless ``length`` is given."""
        if self.started:
            raise RuntimeError("the response head was already sent")
        self.started = True
        self.status = status
        # Values hold one character per byte (latin-1, as h11 gives them): passed on as they came.
        hdrs = [(k.encode("latin-1"), header_bytes(v)) for k, v in headers
                if k.lower() not in ("content-length", "transfer-encoding")]
        if length is not None:
            hdrs.append((b"content-length", b"%d" % length))
        elif status not in (204, 304) and not 100 <= status < 200:
            hdrs.append((b"transfer-encoding", b"chunked"))
        self._conn.send(h11.Response(status_code=status, headers=hdrs, reason=_REASONS.get(status, b"")))

    def write(self, data: bytes) -> None:
        if data:
            self._conn.send(h11.Data(data=data))

    def end(self) -> None:
        if not self.ended:
            self.ended = True
            self._conn.send(h11.EndOfMessage())

    def abort(self) -> None:
        """Drop the connection now, mid-response (what a crashing server does)."""
        self._conn.abort()

    def whole(self, status: int, body: bytes, headers: Iterable[tuple[str, str]] = ()) -> None:
        """A complete response in one go."""
        self.head(status, headers, length=len(body))
        self.write(body)
        self.end()

    async def drain(self) -> None:
        """Wait while the peer is slower than we write (flow control)."""
        await self._conn.drain()

    @property
    def writable(self) -> bool:
        """The peer keeps up: ``drain()`` would return at once (nothing to wait for, no timer to set)."""
        return not self._conn._paused and not self._conn.lost


class _Connection(asyncio.Protocol):
    """One client connection: requests one at a time (HTTP/1.1 keep-alive, no pipelining)."""

    def __init__(self, server: LoopbackServer) -> None:
        self.server = server
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=1 << 20)
        self.transport: asyncio.Transport | None = None
        self.task: asyncio.Task[None] | None = None
        self.lost = False
        self._request: Request | None = None
        self._body: list[bytes] = []
        self._paused = False
        self._drained: asyncio.Future[None] | None = None

    # -- asyncio.Protocol ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server._connections.add(self)

    def data_received(self, data: bytes) -> None:
        self.h11.receive_data(data)
        self._process()

    def eof_received(self) -> bool | None:
        self.h11.receive_data(b"")
        self._process()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.server._connections.discard(self)
        if self.task is not None and not self.task.done():
            self.task.cancel()
        self._wake()

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake()

    # -- internals -------------------------------------------------------------------------------
    def _wake(self) -> None:
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        self._drained = None

    async def drain(self) -> None:
        if self.lost:
            raise ConnectionResetError("the peer went away")
        if self._paused:
            self._drained = asyncio.get_running_loop().create_future()
            await self._drained
            if self.lost:
                raise ConnectionResetError("the peer went away")

    def send(self, event: h11.Response | h11.Data | h11.EndOfMessage) -> None:
        if self.lost or self.transport is None:
            return
        data = self.h11.send(event)
        if data:
            self.transport.write(data)

    def _process(self) -> None:
        while self.task is None and not self.lost:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as e:
                self._bad_request(str(e))
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self._request = Request(event.method.decode("latin-1"), event.target.decode("latin-1"),
                                        [(k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers],
                                        b"")
                self._body = []
            elif isinstance(event, h11.Data):
                self._body.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                request, self._request = self._request, None
                assert request is not None
                request.body = b"".join(self._body)
                self._body = []
                # Under an eager task factory (mitmproxy installs one) the handler may run to its
                # end inside this call: the next cycle starts from the done-callback, never here.
                task = asyncio.ensure_future(self._run(request))
                self.task = task
                task.add_done_callback(self._after)
            elif isinstance(event, h11.ConnectionClosed):
                self._close()
                return

    def _bad_request(self, why: str) -> None:
        with contextlib.suppress(h11.LocalProtocolError):
            body = f"bad request: {why}".encode()
            self.send(h11.Response(status_code=400, headers=[("content-length", str(len(body))),
                                                             ("connection", "close")]))
            self.send(h11.Data(data=body))
            self.send(h11.EndOfMessage())
        self._close()

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    async def _run(self, request: Request) -> None:
        reply = Reply(self)
        try:
            await self.server.handler(request, reply)
        except asyncio.CancelledError:
            if not self.lost:
                self._close()  # cancelled by stop(): the response cannot be completed
            return
        except Exception:
            log.exception("loopback server: the handler failed")
            if not reply.started and not self.lost:
                reply.whole(500, b"internal error", [("content-type", "text/plain")])
        if self.lost:
            return
        if not reply.started:
            reply.whole(500, b"the handler sent no response", [("content-type", "text/plain")])
        elif not reply.ended:
            reply.end()

    def _after(self, task: asyncio.Task[None]) -> None:
        self.task = None
        if self.lost:
            return
        h = self.h11
        if h.our_state is h11.DONE and h.their_state is h11.DONE:
            h.start_next_cycle()
            self._process()  # a next request may already be buffered
        else:
            self._close()


class LoopbackServer:
    """``server = LoopbackServer(handler); await server.start(); server.url``."""

    def __init__(self, handler: Handler, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[_Connection] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        """Stop listening, cancel running handlers and close every connection — at once."""
        if self._server is not None:
            self._server.close()
        tasks = [c.task for c in self._connections if c.task is not None and not c.task.done()]
        for conn in list(self._connections):
            if conn.task is not None and not conn.task.done():
                conn.task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        for conn in list(self._connections):
            conn._close()
        self._connections.clear()
        self._server = None

    @property
    def running(self) -> int:
        """Handlers running now."""
        return sum(1 for c in self._connections if c.task is not None and not c.task.done())


class ThreadedServer:
    """A ``LoopbackServer`` in a thread with its own event loop: ``with ThreadedServer(h) as url:``."""

    def __init__(self, handler: Handler, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = LoopbackServer(handler, host=host, port=port)
        self.loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    def start(self) -> str:
        ready = threading.Event()
        failed: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            try:
                self.loop.run_until_complete(self.server.start())
            except BaseException as e:  # noqa: BLE001 - reported to the starting thread
                failed.append(e)
                ready.set()
                return
            ready.set()
            self.loop.run_forever()

        self._thread = threading.Thread(target=run, name="loopback-server", daemon=True)
        self._thread.start()
        ready.wait()
        if failed:
            raise failed[0]
        return self.url

    def stop(self) -> None:
        if self._thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop)
        with contextlib.suppress(Exception):
            future.result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self._thread = None
        with contextlib.suppress(Exception):
            self.loop.close()

    def call(self, coro: Awaitable[object]) -> object:
        """Run a coroutine in the server's loop from another thread and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()  # type: ignore[arg-type]

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
