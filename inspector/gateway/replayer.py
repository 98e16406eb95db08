"""The ``Replayer`` addon: answer Claude Code from recordings, no backend needed.

``mitmdump -s addons/replay.py --mode reverse:http://127.0.0.1:9 -p 4000 --set replay_dir=DIR``.
Matching is on the conversation (``inspector.recording._replay``; the closest-match search of a
miss runs in a worker thread, so the event loop stays free). Every answer goes through a
loopback server (mitmproxy cannot stream a response an addon makes), paced as recorded
(``replay_speed=1``), faster (``2``) or at once (``0``). A miss is a 400 whose message Claude Code
prints as it is: it names the closest recording and the first difference.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from pathlib import Path

import orjson
from mitmproxy import addonmanager, ctx, exceptions, http

from ..protocol import error_body
from ..recording import Answer, ReplayIndex, list_sessions
from ..recording._play import as_requested, serve, wants_stream
from ..transport import LoopbackServer, Reply, Request
from .auth import TOKEN_ENV
from .colourlog import quiet_mitmproxy

__all__ = ["Replayer", "sessions_of"]

log = logging.getLogger("inspector")


def sessions_of(root: Path) -> list:
    """A recording folder's sessions, or the one session a session folder is."""
    if (root / "session.json").exists():
        return [s for s in list_sessions(root.parent) if s.path == root]
    return list_sessions(root)


class Replayer:
    def __init__(self) -> None:
        self.index: ReplayIndex | None = None
        self.speed = 1.0
        self.server = LoopbackServer(self._serve)
        self.plays: dict[str, Answer] = {}

    def load(self, loader: addonmanager.Loader) -> None:
        loader.add_option("replay_dir", str, "", "Recording directory (or one session folder) to answer from.")
        loader.add_option("replay_speed", str, "1",
                          "Stream timing: 1 = as recorded, 2 = twice as fast, 0 = all at once.")

    def configure(self, updated: set[str]) -> None:
        if "flow_detail" in updated:
            quiet_mitmproxy()
        if "replay_speed" in updated:
            try:
                self.speed = float(ctx.options.replay_speed)
                if self.speed < 0:
                    raise ValueError
            except ValueError:
                raise exceptions.OptionsError("replay_speed must be a number >= 0 (0 = instant)") from None
        if "replay_dir" in updated:
            root = Path(ctx.options.replay_dir).expanduser()
            if not ctx.options.replay_dir or not root.is_dir():
                raise exceptions.OptionsError(f"replay_dir {ctx.options.replay_dir!r} is not a folder of recordings")
            sessions = sessions_of(root)
            self.index = ReplayIndex(sessions)
            for why in self.index.refused:
                log.warning(f"replay: {why}")
            if self.index.refused and not self.index.count:
                raise exceptions.OptionsError(f"replay_dir {root}: nothing to replay — {self.index.refused[0]}")
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
        r = flow.request
        body = r.get_content() or b""
        index = self.index
        # The closest-match search of a miss can take a while on a long conversation.
        # Exposed (public, or a token in use — the option's or the environment's, as GatewayAuth
        # reads it), a miss quotes no recorded text.
        o = ctx.options
        public = bool(o.gateway_public or getattr(o, "gateway_token", "") or os.environ.get(TOKEN_ENV))
        try:
            answer = await asyncio.to_thread(index.answer, r.method, r.path, body, public=public)
        except Exception as e:  # noqa: BLE001 - fail closed: an Anthropic error, never mitmproxy's 502 page
            log.warning(f"replay: cannot answer {r.method} {r.path.split('?', 1)[0]} ({type(e).__name__}: {e})")
            flow.response = http.Response.make(
                500, orjson.dumps(error_body("api_error", f"replay: this request could not be answered from "
                                                          f"the recordings ({type(e).__name__})")),
                {"content-type": "application/json", "x-should-retry": "false"})
            return
        if answer.miss:
            log.warning(f"replay: {answer.miss}")
        elif answer.broken:
            log.warning(answer.broken)
        elif answer.source is not None:
            log.info(f"replay: {r.method} {r.path.split('?', 1)[0]} ← {answer.source.ref}")
        answer = as_requested(answer, stream=wants_stream(body))
        token = secrets.token_urlsafe(18)
        self.plays[token] = answer
        r.scheme, r.host, r.port = "http", "127.0.0.1", self.server.port
        r.path = "/" + token
        r.headers = http.Headers(host=f"127.0.0.1:{self.server.port}")
        r.content = b""

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if flow.request.host == "127.0.0.1" and flow.request.port == self.server.port and flow.response:
            flow.response.stream = True

    async def _serve(self, request: Request, reply: Reply) -> None:
        answer = self.plays.pop(request.path.lstrip("/"), None)
        if answer is None:
            reply.whole(404, b"no such replay", [("content-type", "text/plain")])
            return
        await serve(answer, reply, speed=self.speed)
