"""The ``Relay`` addon: the loopback hop that lets the gateway answer before the backend does.

mitmproxy streams a response only once an upstream server has sent its head, cannot stream a
response an addon makes, and answers a failed upstream connect with its own HTML page; Ollama
sends no headers until its first token, which on a CPU can be minutes away. So the gateway
sends each translated (or passed-through) exchange to this in-process loopback server instead
of the backend: it registers a ``Job`` here and points the flow at ``/<token>``. The relay
serves only jobs the gateway registered (an unguessable one-time token; the upstream is never
chosen by anything in the request), and hands each to the ``Pipeline``, which talks to the
backend and writes the Anthropic answer back through mitmproxy to the client.

Transport only: the relay knows nothing of formats — the pipeline and the backend form do.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from mitmproxy import addonmanager, ctx, exceptions

from ..transport import BackendClient, LoopbackServer, Reply, Request
from .exchange import ExchangeListener, Listeners
from .pipeline import Job, Pipeline

__all__ = ["Relay"]

log = logging.getLogger("inspector")


def seconds(name: str) -> float:
    """A positive number of seconds from a string option (mitmproxy cannot --set floats)."""
    raw = getattr(ctx.options, name)
    try:
        value = float(raw)
    except ValueError:
        raise exceptions.OptionsError(f"{name} must be a number of seconds, not {raw!r}") from None
    if value <= 0:
        raise exceptions.OptionsError(f"{name} must be > 0 seconds")
    return value


class Relay:
    def __init__(self) -> None:
        self.listeners = Listeners()
        self.client = BackendClient()
        self.pipeline = Pipeline(self.client, self.listeners)
        self.server = LoopbackServer(self._serve)
        self.jobs: dict[str, Job] = {}
        self._started: asyncio.Event | None = None

    def load(self, loader: addonmanager.Loader) -> None:
        loader.add_option("ping_interval", str, "5",
                          "Seconds of backend silence before the gateway sends a keep-alive ping "
                          "(and, before the first byte, commits to HTTP 200).")
        loader.add_option("idle_timeout", str, "600",
                          "Seconds of backend silence (before or during its answer) after which the "
                          "request fails with an error.")

    def configure(self, updated: set[str]) -> None:
        if "ping_interval" in updated:
            self.pipeline.ping_interval = seconds("ping_interval")
        if "idle_timeout" in updated:
            self.pipeline.idle_timeout = seconds("idle_timeout")

    async def running(self) -> None:
        # Every loaded addon that implements the listener protocol is told about exchanges.
        self.listeners.items = [a for a in addonmanager.traverse(ctx.master.addons.chain)
                                if isinstance(a, ExchangeListener)]
        if not self.server.port:
            await self.server.start()
        self._event().set()

    def _event(self) -> asyncio.Event:
        if self._started is None:
            self._started = asyncio.Event()
        return self._started

    async def ready(self) -> None:
        """Wait until the loopback server listens: mitmproxy accepts connections before the
        addons' ``running`` hooks have all run, so a request can arrive first."""
        if self.server.port:
            return
        try:
            async with asyncio.timeout(30):
                await self._event().wait()
        except TimeoutError:
            raise RuntimeError("the gateway's relay did not start within 30 s") from None

    async def done(self) -> None:
        await self.server.stop()  # open exchanges end at once, each with a clean ending
        self.client.close()

    @property
    def port(self) -> int:
        return self.server.port

    def register(self, job: Job) -> str:
        """Keep ``job`` for the next request to ``/<token>``; return the token."""
        token = secrets.token_urlsafe(18)
        self.jobs[token] = job
        return token

    def forget(self, token: str) -> Job | None:
        """A job whose flow failed before reaching the relay."""
        return self.jobs.pop(token, None)

    async def _serve(self, request: Request, reply: Reply) -> None:
        job = self.jobs.pop(request.path.lstrip("/"), None)
        if job is None:
            reply.whole(404, b"no such relay job", [("content-type", "text/plain")])
            return
        await self.pipeline.run(job, reply)
