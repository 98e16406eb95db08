"""The recording sidecar: frames leave the event loop without blocking it, in order, and none are lost
when the sidecar falls behind (a slow disk, a busy machine) and the pipe fills."""

import asyncio
import os
import signal

from inspector.recording import list_sessions
from inspector.recording._sidecar import _PIPE_SIZE, SidecarStore

REQ = {"method": "POST", "path": "/v1/messages", "url": "http://127.0.0.1/v1/messages",
       "headers": [("content-type", "application/json"), ("x-api-key", "sk-ant-never-on-disk")],
       "body": b'{"model":"m","max_tokens":5,"messages":[]}', "content_type": "application/json"}


def test_a_sidecar_that_falls_behind_loses_nothing_and_never_blocks_the_loop(tmp_path):
    store = SidecarStore(tmp_path, redact_headers=["x-api-key"])
    piece = b"x" * 65_000 + b"\n"
    pieces = 3 * _PIPE_SIZE // len(piece)  # three pipes' worth: the pipe must fill while the sidecar is stopped
    os.kill(store.proc.pid, signal.SIGSTOP)
    try:
        async def produce() -> float:
            loop = asyncio.get_running_loop()
            ex = store.exchange(session_id="5e55104d-1111", id_source="header", client="test", kind="messages",
                                meta={"started": "2026-12-02T00:00:00.000000Z"})
            ex.requests(REQ, None)
            ex.response_head("client", 200, [("content-type", "text/plain")])
            slowest = 0.0
            for i in range(pieces):
                t = loop.time()
                ex.chunk("client", b"%06d" % i + piece)
                await asyncio.sleep(0)  # a loop turn: the frames go to the pipe (or wait for it)
                slowest = max(slowest, loop.time() - t)
            assert store._pending, "the pipe should be full while the sidecar is stopped"
            os.kill(store.proc.pid, signal.SIGCONT)
            while store._pending or store._buf:
                await asyncio.sleep(0.01)
            ex.finish({"kind": "messages", "complete": True})
            await asyncio.sleep(0)
            return slowest

        slowest = asyncio.run(produce())
    finally:
        os.kill(store.proc.pid, signal.SIGCONT)
        store.close()
    assert slowest < 0.5, f"a loop turn took {slowest:.3f}s: the writer blocked the event loop"
    assert store.proc.returncode == 0
    (session,) = list_sessions(tmp_path)
    (ex,) = session.exchanges()
    body = ex.body("client")
    assert body == b"".join(b"%06d" % i + piece for i in range(pieces))
    assert ex.complete
    assert b"sk-ant-never-on-disk" not in b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())


def test_frames_read_in_one_batch_are_written_in_order_and_an_unfinished_exchange_keeps_them(tmp_path):
    """The sidecar holds the chunk lines of one read of the pipe and writes them per file at the
    batch's end; when the gateway goes away mid-exchange, what it held is still written."""
    store = SidecarStore(tmp_path)
    os.kill(store.proc.pid, signal.SIGSTOP)  # everything below arrives as one batch
    try:
        done = store.exchange(session_id="5e55104d-2222", id_source="header", client="test", kind="messages",
                              meta={"started": "2026-12-02T00:00:00.000000Z"})
        open_ = store.exchange(session_id="5e55104d-2222", id_source="header", client="test", kind="messages",
                               meta={"started": "2026-12-02T00:00:01.000000Z"})
        for ex in (done, open_):
            ex.requests(REQ, None)
            ex.response_head("client", 200, [("content-type", "text/event-stream")])
        for i in range(300):
            done.chunk("client", b"a%03d " % i)
            open_.chunk("client", b"b%03d " % i)
        done.finish({"kind": "messages", "complete": True})
        store._write(blocking=True)
    finally:
        os.kill(store.proc.pid, signal.SIGCONT)
    store.close()  # the gateway is gone: open_ never finished
    assert store.proc.returncode == 0
    (session,) = list_sessions(tmp_path)
    first, second = session.exchanges()
    assert first.complete and first.body("client") == b"".join(b"a%03d " % i for i in range(300))
    assert not second.complete and second.body("client") == b"".join(b"b%03d " % i for i in range(300))


def test_a_stopped_sidecar_costs_bounded_memory_and_what_was_dropped_is_said_once_and_marked(tmp_path):
    """Issue 19 #12: 150 one-MB chunks for a stopped sidecar. The gateway once grew by all of them
    (82 → 389 MB); now at most ``limit`` waits, the rest is dropped from the recording — said once
    when it starts, in total at the end — and the exchange that lost it is marked incomplete."""
    said: list[str] = []
    limit = 8 << 20
    store = SidecarStore(tmp_path, report=said.append, limit=limit)
    mb = b"x" * ((1 << 20) - 1) + b"\n"
    os.kill(store.proc.pid, signal.SIGSTOP)
    try:
        async def produce() -> int:
            peak = 0
            ex = store.exchange(session_id="5e55104d-3333", id_source="header", client="test", kind="messages",
                                meta={"started": "2026-12-02T00:00:00.000000Z"})
            ex.requests(REQ, None)
            ex.response_head("client", 200, [("content-type", "text/plain")])
            for _ in range(150):
                ex.chunk("client", mb)
                await asyncio.sleep(0)
                peak = max(peak, store.queued)
            ex.finish({"kind": "messages", "complete": True, "incomplete": None})
            os.kill(store.proc.pid, signal.SIGCONT)  # it catches up
            while store.queued:
                await asyncio.sleep(0.01)
            later = store.exchange(session_id="5e55104d-3333", id_source="header", client="test", kind="messages",
                                   meta={"started": "2026-12-02T00:00:01.000000Z"})
            later.requests(REQ, None)
            later.chunk("client", b"caught up\n")
            later.finish({"kind": "messages", "complete": True})
            await asyncio.sleep(0)
            return peak
        peak = asyncio.run(produce())
    finally:
        os.kill(store.proc.pid, signal.SIGCONT)
    store.close()
    assert peak <= limit + len(mb) + 4096, f"{peak} bytes waited for a limit of {limit}"
    behind = [m for m in said if "fell behind" in m]
    assert len(behind) == 1 and "traffic is unaffected" in behind[0]
    (total,) = [m for m in said if "while the recorder was behind" in m]
    first, second = list_sessions(tmp_path)[0].exchanges()
    dropped = first.meta["dropped"]
    assert dropped["chunks"] > 130 and dropped["requests"] == 0 and f"{dropped['chunks']} response chunks" in total
    assert not first.complete and "the recorder fell behind" in first.meta["incomplete"]
    kept = first.body("client")
    assert kept == mb * (150 - dropped["chunks"]), "what was kept is whole chunks, in order"
    assert second.complete and second.body("client") == b"caught up\n"


def test_closing_with_a_stopped_sidecar_does_not_hang(tmp_path):
    said: list[str] = []
    store = SidecarStore(tmp_path, report=said.append)
    os.kill(store.proc.pid, signal.SIGSTOP)

    async def produce() -> None:
        ex = store.exchange(session_id="5e55104d-4444", id_source="header", client="test", kind="messages", meta={})
        for _ in range(3):  # more than the pipe holds
            ex.chunk("client", b"y" * _PIPE_SIZE)
            await asyncio.sleep(0)
    asyncio.run(produce())
    import time
    t = time.monotonic()
    store.close(timeout=1.0)
    assert time.monotonic() - t < 5 and store.proc.poll() is not None
    assert any("took nothing for 1 s" in m for m in said), said
