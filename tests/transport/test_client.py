"""The backend client: pooled keep-alive connections, h11 framing, every failure one exception."""

import asyncio
import socket

import pytest

from inspector.transport import BackendClient, BackendFailure, LoopbackServer, Reply, Request

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def raw_server(answer: bytes, *, close: bool = True):
    """A server that answers every connection with these exact bytes (malformed ones included)."""
    connections = []

    async def serve(reader, writer):
        connections.append(writer)
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        if close:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", connections


async def test_keep_alive_connections_are_reused():
    seen = []

    async def handle(request: Request, reply: Reply):
        seen.append(request.header("host"))
        reply.whole(200, b"ok " + request.body)

    server = LoopbackServer(handle)
    await server.start()
    client = BackendClient()
    for i in range(3):
        r = await client.send("POST", server.url + "/x", [], b"%d" % i)
        assert (r.status, await r.aread()) == (200, b"ok %d" % i)
        r.close()
    assert len(server._connections) == 1, "one connection for three requests"
    assert seen == [f"127.0.0.1:{server.port}"] * 3
    client.close()
    await server.stop()


async def test_a_connection_the_backend_closed_while_idle_is_replaced_not_failed():
    server, url, conns = await raw_server(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", close=False)
    client = BackendClient()
    r = await client.send("GET", url + "/", [])
    assert await r.aread() == b"ok"
    r.close()
    conns[0].close()  # the backend drops the idle keep-alive connection
    await asyncio.sleep(0.05)
    r = await client.send("GET", url + "/", [])
    assert await r.aread() == b"ok" and len(conns) == 2
    server.close()


@pytest.mark.parametrize("answer, kind, words", [
    (b"HTTP/1.1 200 OK\r\ncontent-length: abc\r\n\r\n", "malformed", "malformed HTTP"),
    (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "malformed", "malformed HTTP"),
    (b"", "closed", "without answering"),
])
async def test_broken_answers_are_one_clear_failure(answer, kind, words):
    server, url, _ = await raw_server(answer)
    with pytest.raises(BackendFailure, match=words) as e:
        await BackendClient().send("POST", url + "/api/chat", [], b"{}")
    assert e.value.kind == kind
    server.close()


async def test_a_body_cut_mid_way_is_a_cut():
    server, url, _ = await raw_server(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nab")
    r = await BackendClient().send("GET", url + "/", [])
    assert await r.read() == b"hello"
    with pytest.raises(BackendFailure, match="closed the connection mid-answer") as e:
        while await r.read() is not None:
            pass
    assert e.value.kind == "cut" and e.value.answered
    server.close()


async def test_nothing_listening_is_a_connect_failure():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(BackendFailure, match="connection refused") as e:
        await BackendClient().send("GET", f"http://127.0.0.1:{port}/", [])
    assert e.value.kind == "connect" and not e.value.answered


async def test_informational_responses_are_skipped():
    server, url, _ = await raw_server(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nyes")
    r = await BackendClient().send("POST", url + "/", [], b"x")
    assert (r.status, await r.aread()) == (200, b"yes")
    server.close()


async def test_a_read_interrupted_by_a_timeout_loses_nothing():
    async def handle(request: Request, reply: Reply):
        reply.head(200, [("content-type", "text/plain")])
        reply.write(b"first ")
        await asyncio.sleep(0.3)
        reply.write(b"second")
        reply.end()

    server = LoopbackServer(handle)
    await server.start()
    r = await BackendClient().send("GET", server.url + "/", [])
    got, timeouts = [], 0
    while True:
        try:
            async with asyncio.timeout(0.05):
                piece = await r.read()
        except TimeoutError:
            timeouts += 1
            continue
        if piece is None:
            break
        got.append(piece)
    assert b"".join(got) == b"first second" and timeouts >= 2
    await server.stop()


# -- never pool a connection with unread bytes (issue 19, item 2) ---------------------------------------------
class Liar:
    """A keep-alive backend that, on its first connection, sends one response more than it was asked
    for — at once (as a wrong Content-Length does), or a moment later, once the connection is idle."""

    def __init__(self, extra: bytes, *, late: bool = False) -> None:
        self.extra = extra
        self.late = late
        self.answered = 0
        self.connections = 0
        self.extra_sent = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        first_connection = self.connections == 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
                self.answered += 1
                body = b"answer %d" % self.answered
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
                if first_connection and self.answered == 1:
                    if self.late:
                        await writer.drain()
                        await asyncio.sleep(0.05)
                    writer.write(self.extra)
                    self.extra_sent.set()
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


EXTRA = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nunrequested"


@pytest.mark.parametrize("extra, late", [(EXTRA, False), (EXTRA, True), (b"trailing garbage", False)],
                         ids=["extra-response", "extra-response-while-idle", "bytes-past-content-length"])
async def test_bytes_nobody_asked_for_never_shift_the_next_answer(extra, late):
    liar = Liar(extra, late=late)
    server = await asyncio.start_server(liar.serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    client = BackendClient()
    got = []
    for i in range(3):
        r = await client.send("POST", url, [], b"question %d" % i)
        got.append(await r.aread())
        r.close()
        if i == 0:
            await liar.extra_sent.wait()
            await asyncio.sleep(0.01)  # the late bytes are on the wire; the connection sits idle
    assert got == [b"answer 1", b"answer 2", b"answer 3"]
    assert liar.connections == 2, "the poisoned connection was dropped, the next one pooled"
    client.close()
    server.close()
