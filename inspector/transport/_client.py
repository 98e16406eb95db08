"""A pooled HTTP/1.1 client for backends, on asyncio streams with h11 doing the framing.

It knows nothing of what the bodies mean. ``send`` returns once the response head has
arrived; ``BackendResponse.read`` then yields the body piece by piece, as it arrives, and is
cancel-safe (a read interrupted by a timeout loses nothing), so callers can wait with
``asyncio.timeout`` and send keep-alives in the meantime. Every way a backend can fail —
refused, unreachable, closed without answering, cut mid-body, malformed — is one exception,
``BackendFailure``, whose message says which.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterable
from urllib.parse import urlsplit

import h11

__all__ = ["BackendClient", "BackendFailure", "BackendResponse"]

_READ = 65536
_Key = tuple[str, str, int]


def header_bytes(v: str) -> bytes:
    """A header value's bytes: strings hold one character per byte (latin-1, h11's own convention),
    as headers passed on as they came are; text beyond latin-1 (an option's value) goes as UTF-8."""
    try:
        return v.encode("latin-1")
    except UnicodeEncodeError:
        return v.encode("utf-8")


class BackendFailure(Exception):
    """The backend could not be reached, or broke the exchange (``kind`` says how)."""

    def __init__(self, message: str, *, kind: str = "failed", answered: bool = False) -> None:
        super().__init__(message)
        #: connect | closed | cut | malformed | failed
        self.kind = kind
        #: True when some of the response had arrived (a retry could repeat side effects).
        self.answered = answered


class _Connection(asyncio.Protocol):
    """One keep-alive connection: h11 framing over an asyncio transport.

    A pooled connection holds no unread byte: one whose response left bytes behind (h11's
    trailing data, a wrong ``Content-Length``, an extra response the backend was not asked
    for) is closed instead of pooled, and so is an idle one that receives anything — as urllib3
    does. Otherwise those bytes would be read as the answer to the next request sent on it, and
    every later answer on that connection would go to the wrong client."""

    def __init__(self, key: _Key) -> None:
        self.key = key
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=1 << 20)
        self.transport: asyncio.Transport | None = None
        #: Idle in the pool: any byte that arrives now was not asked for.
        self.idle = False
        self._buffer = bytearray()
        self._eof = False  # the backend closed its side (or the connection is gone)
        self._fed_eof = False
        self._broken: BaseException | None = None
        self._reading_paused = False
        self._readable: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None
        self._writing_paused = False

    # -- asyncio.Protocol ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.idle:
            self.close()  # unasked-for bytes: this connection can never be trusted again
            return
        self._buffer += data
        if len(self._buffer) >= _READ and not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool | None:
        self._eof = True
        self._wake_reader()
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._broken = exc
        self._wake_reader()
        self._wake_writer()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake_writer()

    # -- state -------------------------------------------------------------------------------------
    @property
    def reusable(self) -> bool:
        """Open, and nothing unread: neither in our buffer nor in h11's."""
        return (self.transport is not None and not self.transport.is_closing() and not self._eof
                and not self._buffer and not self.h11.trailing_data[0] and not self.h11.trailing_data[1])

    def close(self) -> None:
        self._eof = True
        if self.transport is not None:
            with contextlib.suppress(Exception):
                self.transport.close()

    def _wake_reader(self) -> None:
        if self._readable is not None and not self._readable.done():
            self._readable.set_result(None)

    def _wake_writer(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    # -- I/O ---------------------------------------------------------------------------------------
    async def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the connection is closed")
        transport.write(data)
        while self._writing_paused and not self._eof:
            self._writable = asyncio.get_running_loop().create_future()
            await self._writable
        if self._broken is not None or transport.is_closing():
            raise ConnectionResetError("the connection is closed")

    async def next_event(self) -> object:
        """The next h11 event, reading from the socket as needed (cancel-safe: a wait interrupted
        loses nothing, the bytes stay in the buffer)."""
        conn = self.h11
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as e:
                if "ConnectionClosed" in str(e):
                    raise BackendFailure("the backend closed the connection", kind="closed") from None
                raise BackendFailure(f"the backend sent malformed HTTP ({e})", kind="malformed",
                                     answered=True) from None
            if event is not h11.NEED_DATA:
                return event
            if self._buffer:
                data = bytes(self._buffer)
                self._buffer.clear()
                if self._reading_paused and self.transport is not None:
                    self._reading_paused = False
                    self.transport.resume_reading()
                conn.receive_data(data)
            elif self._eof and not self._fed_eof:
                if self._broken is not None and conn.their_state is h11.SEND_BODY:
                    raise BackendFailure(f"the connection broke ({type(self._broken).__name__})", kind="cut")
                self._fed_eof = True
                conn.receive_data(b"")  # the end of the stream
            elif self._fed_eof:
                raise BackendFailure("the backend closed the connection", kind="closed")
            else:
                self._readable = asyncio.get_running_loop().create_future()
                await self._readable


class BackendResponse:
    """A backend's response: status and headers at once, the body as it arrives."""

    __slots__ = ("_conn", "_pool", "status", "headers", "_done", "_failed")

    def __init__(self, conn: _Connection, pool: BackendClient, status: int,
                 headers: list[tuple[str, str]], done: bool) -> None:
        self._conn = conn
        self._pool = pool
        self.status = status
        #: Header names lower-cased (as h11 gives them), values as sent.
        self.headers = headers
        self._done = done
        self._failed = False

    def header(self, name: str, default: str = "") -> str:
        for k, v in self.headers:
            if k == name:
                return v
        return default

    async def read(self) -> bytes | None:
        """The next piece of the body, ``None`` at its end. Raises ``BackendFailure`` on a cut."""
        if self._done:
            return None
        try:
            event = await self._conn.next_event()
        except BackendFailure as e:
            self._failed = True
            e.answered = True
            if e.kind == "closed" or (e.kind == "malformed" and ("incomplete" in str(e) or "peer closed" in str(e))):
                raise BackendFailure("the backend closed the connection mid-answer", kind="cut",
                                     answered=True) from None
            raise
        if type(event) is h11.Data:
            return bytes(event.data)
        if type(event) is h11.EndOfMessage:
            self._done = True
            return None
        self._failed = True
        raise BackendFailure("the backend closed the connection mid-body", kind="cut", answered=True)

    async def aread(self, limit: int = 16 << 20) -> bytes:
        pieces: list[bytes] = []
        size = 0
        while (piece := await self.read()) is not None:
            pieces.append(piece)
            size += len(piece)
            if size > limit:
                self._failed = True
                raise BackendFailure(f"the backend's answer is larger than {limit >> 20} MB", kind="malformed",
                                     answered=True)
        return b"".join(pieces)

    def close(self) -> None:
        """Done with it: the connection goes back to the pool if it is reusable — the exchange
        complete and not one byte unread — else it is closed."""
        conn = self._conn
        if self._done and not self._failed:
            h = conn.h11
            if h.our_state is h11.DONE and h.their_state is h11.DONE and conn.reusable:
                h.start_next_cycle()
                self._pool._release(conn)
                return
        conn.close()


class BackendClient:
    """Keep-alive connections per (scheme, host, port), at most ``keep`` idle ones each."""

    def __init__(self, *, connect_timeout: float = 10.0, keep: int = 32) -> None:
        self.connect_timeout = connect_timeout
        self.keep = keep
        self._idle: dict[_Key, list[_Connection]] = {}
        self._tls: ssl.SSLContext | None = None

    async def send(self, method: str, url: str, headers: Iterable[tuple[str, str]],
                   body: bytes = b"") -> BackendResponse:
        """Send a request; return when the response head has arrived.

        A stale idle connection (closed by the backend while idle) is retried once on a fresh
        one — only when nothing at all was answered on it, so a request is never sent twice
        to a backend that saw it."""
        parts = urlsplit(url)
        scheme = parts.scheme or "http"
        host = parts.hostname or "127.0.0.1"
        port = parts.port or (443 if scheme == "https" else 80)
        key = (scheme, host, port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        netloc = host if port in (80, 443) else f"{host}:{port}"
        head = [(b"host", netloc.encode("idna")),
                *[(k.encode("latin-1"), header_bytes(v)) for k, v in headers
                  if k.lower() not in ("host", "content-length", "transfer-encoding")]]
        if body or method in ("POST", "PUT", "PATCH"):
            head.append((b"content-length", b"%d" % len(body)))
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            conn.idle = False
            if not conn.reusable:
                conn.close()
                continue
            try:
                return await self._exchange(conn, method, target, head, body)
            except BackendFailure as e:
                conn.close()
                if e.answered:
                    raise
            except BaseException:
                conn.close()
                raise
        conn = await self._connect(key)
        try:
            return await self._exchange(conn, method, target, head, body)
        except BaseException:
            conn.close()
            raise

    async def _connect(self, key: _Key) -> _Connection:
        scheme, host, port = key
        tls = None
        if scheme == "https":
            tls = self._tls = self._tls or ssl.create_default_context()
        conn = _Connection(key)
        try:
            await asyncio.wait_for(
                asyncio.get_running_loop().create_connection(lambda: conn, host, port, ssl=tls,
                                                             server_hostname=host if tls else None),
                self.connect_timeout)
        except TimeoutError:
            raise BackendFailure(f"no connection within {self.connect_timeout:.0f} s", kind="connect") from None
        except ConnectionRefusedError:
            raise BackendFailure("connection refused", kind="connect") from None
        except ssl.SSLError as e:
            raise BackendFailure(f"TLS failed: {e.reason or e}", kind="connect") from None
        except OSError as e:
            raise BackendFailure(e.strerror or type(e).__name__, kind="connect") from None
        return conn

    async def _exchange(self, conn: _Connection, method: str, target: str, head: list[tuple[bytes, bytes]],
                        body: bytes) -> BackendResponse:
        h = conn.h11
        try:
            data = h.send(h11.Request(method=method, target=target, headers=head))
            if body:
                data += h.send(h11.Data(data=body))
            data += h.send(h11.EndOfMessage())
        except h11.LocalProtocolError as e:
            raise BackendFailure(f"the request cannot be sent ({e})", kind="failed") from None
        try:
            await conn.write(data)
        except (ConnectionError, OSError) as e:
            raise BackendFailure(f"the connection broke while sending ({type(e).__name__})",
                                 kind="closed") from None
        while True:
            try:
                event = await conn.next_event()
            except BackendFailure as e:
                if e.kind != "malformed":
                    raise BackendFailure("the backend closed the connection without answering",
                                         kind="closed") from None
                raise
            if isinstance(event, h11.InformationalResponse):
                continue  # 100 Continue and friends
            if isinstance(event, h11.Response):
                headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers]
                done = method == "HEAD" or event.status_code in (204, 304)
                if done:
                    # h11 still expects to see the (empty) end of this message.
                    with contextlib.suppress(BackendFailure):
                        while not isinstance(await conn.next_event(), h11.EndOfMessage):
                            pass
                return BackendResponse(conn, self, event.status_code, headers, done)
            raise BackendFailure("the backend closed the connection without answering", kind="closed")

    def _release(self, conn: _Connection) -> None:
        idle = self._idle.setdefault(conn.key, [])
        if len(idle) < self.keep:
            conn.idle = True
            idle.append(conn)
        else:
            conn.close()

    def close(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()
