"""The ``Replayer`` addon: answer Claude Code from recordings, no backend needed.

``mitmdump -s addons/replay.py --mode reverse:http://127.0.0.1:9 -p 4000 --set replay_dir=DIR``.
Matching is on the conversation (``inspector.recording._replay``; the closest-match search of a
miss runs in a worker thread, so the event loop stays free). Every answer goes through a
loopback server (mitmproxy cannot stream a response an addon makes), paced as recorded
(``replay_speed=1``), faster (``2``) or at once (``0``). A miss is a 400 whose message Claude Code
prints as it is: it names the closest recording and the first difference. With ``replay_chaos``
(``inspector replay --chaos SPEC``) answers fail on purpose, as the real API fails (``_chaos.py``):
each injected fault is logged and marked in the answer's ``x-inspector-chaos`` header.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from pathlib import Path

import orjson
from mitmproxy import addonmanager, ctx, exceptions, http
from mitmproxy.net.http.http1 import expected_http_body_size
from mitmproxy.utils import human

from ..protocol import GatewayError, InvalidRequest, error_body
from ..recording import Answer, Chaos, Fault, ReplayIndex, list_sessions
from ..recording._play import as_requested, serve, wants_stream
from ..transport import LoopbackServer, Reply, Request
from .auth import TOKEN_ENV
from .colourlog import quiet_mitmproxy
from .flows import REQUEST_SIZE_LIMIT, TooLarge, anthropic_error, decoded_body, point_at_loopback, too_large
from .guard import fail_closed, refuse

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
        #: token → the answer to play (and the fault injected into it), or a refusal made before the body was read.
        self.plays: dict[str, tuple[Answer, Fault | None] | http.Response] = {}
        self.chaos: Chaos | None = None
        self.size_limit = human.parse_size(REQUEST_SIZE_LIMIT) or 0
        self._started = asyncio.Event()

    def load(self, loader: addonmanager.Loader) -> None:
        loader.add_option("replay_dir", str, "", "Recording directory (or one session folder) to answer from.")
        loader.add_option("replay_speed", str, "1",
                          "Stream timing: 1 = as recorded, 2 = twice as fast, 0 = all at once.")
        loader.add_option("replay_chaos", str, "",
                          "Faults to inject, as the real API sends them: '429@0.2,529@#3,cut@0.1,seed=7' "
                          "(429[:S], 529, 500, cut[:N], badjson, prefill[:S], slow[:S]; @rate or @#N[-M]).")

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
        if "replay_chaos" in updated:
            try:
                self.chaos = Chaos(ctx.options.replay_chaos) if ctx.options.replay_chaos else None
            except ValueError as e:
                raise exceptions.OptionsError(str(e)) from None
            if self.chaos is not None:
                log.info(f"replay: chaos {self.chaos.spec}")
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
        self._started.set()

    # -- Parking: refusals answered from the replay server, their bodies never read ------------------
    @property
    def port(self) -> int:
        return self.server.port

    @property
    def parking(self) -> Replayer:
        return self

    async def ready(self) -> None:
        async with asyncio.timeout(30):
            await self._started.wait()

    def hold(self, response: http.Response) -> str:
        token = secrets.token_urlsafe(18)
        self.plays[token] = response
        return token

    async def done(self) -> None:
        await self.server.stop()

    @fail_closed()
    async def requestheaders(self, flow: http.HTTPFlow) -> None:
        """Too large a body is refused before it is read."""
        try:
            size = expected_http_body_size(flow.request)
        except ValueError:
            return  # mitmproxy refuses a malformed length itself
        if size is not None and size > self.size_limit:
            await self.ready()
            refuse(flow, too_large(size, self.size_limit), self)

    @fail_closed()
    async def request(self, flow: http.HTTPFlow) -> None:
        if self.index is None:
            return
        r = flow.request
        try:
            body = decoded_body(r, self.size_limit)
        except TooLarge as e:
            flow.response = too_large(e.size, self.size_limit, decoded=e.decoded)
            return
        except InvalidRequest as e:
            flow.response = anthropic_error(GatewayError(400, "invalid_request_error", str(e)))
            return
        index = self.index
        # The closest-match search of a miss can take a while on a long conversation.
        # Exposed (public, or a token in use — the option's or the environment's, as GatewayAuth
        # reads it), a miss quotes no recorded text.
        o = ctx.options
        public = bool(o.gateway_public or getattr(o, "gateway_token", "") or os.environ.get(TOKEN_ENV))
        chaos = self.chaos
        decision = chaos.decide(r.method, r.path) if chaos is not None else None  # in arrival order
        fault = None
        if chaos is not None and decision is not None and decision.replaces:
            answer, fault = chaos.inject(decision, None)
        else:
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
            if chaos is not None and decision is not None:
                answer, fault = chaos.inject(decision, answer)
        if fault is not None:
            log.warning(f"replay: chaos: {fault}")
        token = secrets.token_urlsafe(18)
        self.plays[token] = (answer, fault)
        point_at_loopback(r, self.server.port, token)

    @fail_closed()
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if self._ours(flow) and flow.response:
            flow.response.stream = True

    def _ours(self, flow: http.HTTPFlow) -> bool:
        """The flow is answered by the replay server."""
        return flow.request.host == "127.0.0.1" and flow.request.port == self.server.port

    async def _serve(self, request: Request, reply: Reply) -> None:
        found = self.plays.pop(request.path.lstrip("/"), None)
        if found is None:
            reply.whole(404, b"no such replay", [("content-type", "text/plain")])
        elif isinstance(found, http.Response):  # a refusal made before the body was read
            reply.whole(found.status_code, found.content or b"", list(found.headers.items(multi=True)))
        else:
            answer, fault = found
            await serve(answer, reply, speed=self.speed, fault=fault)
