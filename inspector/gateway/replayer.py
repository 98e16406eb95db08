"""The ``Replayer`` addon: answer Claude Code from recordings, no backend needed.

``mitmdump -s addons/replay.py --mode reverse:http://127.0.0.1:9 -p 4000 --set replay_dir=DIR``.
Matching is on the conversation (``inspector.recording._replay``). Streams replay as
recorded, with the original timing (``replay_speed=1``), faster (``2``) or at once (``0``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from pathlib import Path

from mitmproxy import ctx, exceptions, http

from ..recording import Chunk, ReplayIndex, list_sessions

__all__ = ["ReplayServer", "Replayer"]

log = logging.getLogger("inspector")


class ReplayServer:
    """Loopback server that plays registered chunk lists with their recorded gaps.

    mitmproxy cannot stream a response an addon makes, so timed replays are fetched
    from here (``x-inspector-replay: TOKEN``) and streamed through mitmproxy as usual.
    """

    def __init__(self) -> None:
        self.plays: dict[str, tuple[int, list[tuple[str, str]], list[Chunk], float]] = {}
        self._ids = itertools.count(1)
        self.server: asyncio.AbstractServer | None = None
        self.port = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self.server:
            self.server.close()

    def register(self, status: int, headers: list[tuple[str, str]], chunks: list[Chunk], speed: float) -> str:
        token = str(next(self._ids))
        self.plays[token] = (status, headers, chunks, speed)
        return token

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    break
                token, length = "", 0
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"x-inspector-replay":
                        token = v.strip().decode()
                    elif k.strip().lower() == b"content-length":
                        length = int(v)
                if length:
                    await reader.readexactly(length)
                status, headers, chunks, speed = self.plays.pop(token, (404, [], [], 0))
                lines = [f"HTTP/1.1 {status} Replay".encode()]
                lines += [f"{k}: {v}".encode() for k, v in headers]
                writer.write(b"\r\n".join([*lines, b"transfer-encoding: chunked"]) + b"\r\n\r\n")
                last = 0.0
                for chunk in chunks:
                    if chunk.t is not None and speed > 0:
                        await asyncio.sleep(max(0.0, chunk.t - last) / speed)
                        last = chunk.t
                    writer.write(b"%x\r\n%s\r\n" % (len(chunk.data), chunk.data))
                    await writer.drain()
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()


class Replayer:
    def __init__(self) -> None:
        self.index: ReplayIndex | None = None
        self.server = ReplayServer()
        self.speed = 1.0

    def load(self, loader) -> None:
        loader.add_option("replay_dir", str, "", "Recording directory (or one session folder) to answer from.")
        loader.add_option("replay_speed", str, "1",
                          "Stream timing: 1 = as recorded, 2 = twice as fast, 0 = all at once.")

    def configure(self, updated: set[str]) -> None:
        if "replay_speed" in updated:
            try:
                self.speed = float(ctx.options.replay_speed)
                assert self.speed >= 0
            except (ValueError, AssertionError):
                raise exceptions.OptionsError("replay_speed must be a number >= 0 (0 = instant)") from None
        if "replay_dir" in updated:
            root = Path(ctx.options.replay_dir).expanduser()
            if not ctx.options.replay_dir or not root.is_dir():
                raise exceptions.OptionsError(f"replay_dir {ctx.options.replay_dir!r} is not a folder of recordings")
            sessions = [s for s in list_sessions(root)] if not (root / "session.json").exists() \
                else [s for s in list_sessions(root.parent) if s.path == root]
            self.index = ReplayIndex(sessions)
            log.info(f"replay: {self.index.count} recorded Messages exchanges in {len(sessions)} sessions "
                     f"from {root}")
        if "connection_strategy" in updated and ctx.options.connection_strategy == "eager":
            ctx.options.connection_strategy = "lazy"  # the reverse target may be dead: never dial it

    async def running(self) -> None:
        if not self.server.port:
            await self.server.start()

    async def done(self) -> None:
        await self.server.stop()

    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or self.index is None:
            return
        answer = self.index.answer(flow.request.method, flow.request.path, flow.request.get_content() or b"")
        if answer.miss:
            log.warning(f"replay: {answer.miss}")
        if answer.streamed and self.speed > 0:
            token = self.server.register(answer.status, answer.headers, answer.chunks, self.speed)
            flow.request.headers["x-inspector-replay"] = token
            flow.request.scheme, flow.request.host, flow.request.port = "http", "127.0.0.1", self.server.port
            return
        if answer.source is not None and self.speed and answer.chunks and answer.chunks[-1].t:
            await asyncio.sleep(answer.chunks[-1].t / self.speed)
        flow.response = http.Response.make(
            answer.status, answer.body, http.Headers([(k.encode(), v.encode()) for k, v in answer.headers]))

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if "x-inspector-replay" in flow.request.headers and flow.response is not None:
            flow.response.stream = True
