"""The loopback server helper: keep-alive, a peer that leaves cancels its handler, prompt stop."""

import asyncio

import httpx
import pytest

from inspector.transport import LoopbackServer, Reply, Request, ThreadedServer

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def test_a_reply_written_at_once_under_an_eager_task_factory_keeps_the_connection_usable():
    """mitmproxy runs with asyncio's eager task factory: a handler that never awaits finishes inside
    the call that starts it. The next request on the same connection must still be served."""
    loop = asyncio.get_running_loop()
    loop.set_task_factory(asyncio.eager_task_factory)
    try:
        async def handle(request: Request, reply: Reply):
            reply.whole(200, request.path.encode())

        server = LoopbackServer(handle)
        await server.start()
        async with httpx.AsyncClient(timeout=5) as client:
            for i in range(4):
                assert (await client.get(f"{server.url}/{i}")).text == f"/{i}"
        assert len(server._connections) == 1
        await server.stop()
    finally:
        loop.set_task_factory(None)


async def test_a_peer_that_leaves_cancels_its_handler_at_once():
    state = {"sent": 0, "cancelled": asyncio.Event()}

    async def handle(request: Request, reply: Reply):
        reply.head(200, [("content-type", "text/plain")])
        try:
            for _ in range(1000):
                reply.write(b"x" * 10)
                state["sent"] += 1
                await reply.drain()
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            assert reply.gone
            state["cancelled"].set()
            raise

    server = LoopbackServer(handle)
    await server.start()
    async with httpx.AsyncClient() as client:
        async with client.stream("GET", server.url + "/") as r:
            async for _ in r.aiter_raw():
                break
    await asyncio.wait_for(state["cancelled"].wait(), 5)
    assert state["sent"] < 100, "the handler stopped when the peer left, not at its end"
    await server.stop()


async def test_stop_ends_running_handlers_promptly():
    started = asyncio.Event()

    async def handle(request: Request, reply: Reply):
        reply.head(200, [])
        started.set()
        await asyncio.sleep(3600)  # a backend that never answers

    server = LoopbackServer(handle)
    await server.start()
    async with httpx.AsyncClient() as client:
        task = asyncio.ensure_future(client.get(server.url + "/"))
        await started.wait()
        await asyncio.wait_for(server.stop(), 5)
        with pytest.raises(httpx.HTTPError):
            await task
    assert server.running == 0


def test_malformed_requests_get_a_400_and_the_connection_is_closed():
    import socket

    async def handle(request: Request, reply: Reply):
        reply.whole(200, b"never")

    with ThreadedServer(handle) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"GARBAGE\r\n\r\n")
            s.settimeout(5)
            data = b""
            while chunk := s.recv(4096):  # until the server closes the connection
                data += chunk
            assert data.startswith(b"HTTP/1.1 400") and b"bad request" in data
