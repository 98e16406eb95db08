"""The ``Relay`` addon: the loopback hop that lets the gateway answer before the backend does.

mitmproxy streams a response only once an upstream server has sent its head, cannot stream a
response an addon makes, and answers a failed upstream connect with its own HTML page; Ollama
sends no headers until its first token, which on a CPU can be minutes away. So the gateway
sends each translated (or passed-through) exchange to this in-process loopback server instead
of the backend: it registers a ``Job`` here and points the flow at ``/<token>``. The relay
serves only jobs the gateway registered (an unguessable one-time token; the upstream is never
chosen by anything in the request), and hands each to the ``Pipeline``, which talks to the
backend and writes the Anthropic answer back through mitmproxy to the client.

It also serves answers made in advance (``hold``: a refusal whose body is never read, see
``guard.py``), and answers decided later (``reserve``: a request whose body of unknown length
streams here, counted, while the hooks decide what it gets — mitmproxy runs the request hooks
before it sends the request's end, so by the time the relay serves it, the flow has its answer
or the gateway has ``settle``-d a job for it).

Transport only: the relay knows nothing of formats — the pipeline and the backend form do.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from mitmproxy import addonmanager, ctx, exceptions, http

from ..protocol import GatewayError
from ..transport import BackendClient, LoopbackServer, Reply, Request
from .exchange import ExchangeListener, Listeners
from .flows import anthropic_error
from .pipeline import Job, Pipeline

__all__ = ["Relay"]

#: What a token stands for: a job for the pipeline, an answer made in advance, or a flow whose
#: answer the request hooks decide.
_Slot = Job | http.Response | http.HTTPFlow

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
        self.jobs: dict[str, _Slot] = {}
        self.settled: dict[str, Job] = {}
        self._started: asyncio.Event | None = None

    def load(self, loader: addonmanager.Loader) -> None:
        loader.add_option("ping_interval", str, "5",
                          "Seconds of backend silence before the gateway sends a keep-alive ping "
                          "(and, before the first byte, commits to HTTP 200).")
        loader.add_option("idle_timeout", str, "600",
                          "Seconds of backend silence (before or during its answer) after which the "
                          "request fails with an error.")
        loader.add_option("write_timeout", str, "120",
                          "Seconds a client may read nothing while its answer streams; then the backend "
                          "request is stopped and the exchange recorded as partial.")

    def configure(self, updated: set[str]) -> None:
        if "ping_interval" in updated:
            self.pipeline.ping_interval = seconds("ping_interval")
        if "idle_timeout" in updated:
            self.pipeline.idle_timeout = seconds("idle_timeout")
        if "write_timeout" in updated:
            self.pipeline.write_timeout = seconds("write_timeout")

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

    def hold(self, response: http.Response) -> str:
        """Keep an answer made in advance for the next request to ``/<token>``; return the token."""
        token = secrets.token_urlsafe(18)
        self.jobs[token] = response
        return token

    def reserve(self, flow: http.HTTPFlow) -> str:
        """A token for ``flow``: served with the answer its request hooks gave it, or the job ``settle``-d."""
        token = secrets.token_urlsafe(18)
        self.jobs[token] = flow
        return token

    def settle(self, token: str, job: Job) -> None:
        """The job a reserved flow's answer comes from (unless a hook answered the flow after all)."""
        if token in self.jobs:
            self.settled[token] = job

    def forget(self, token: str) -> Job | None:
        """A job whose flow failed before reaching the relay."""
        slot = self.jobs.pop(token, None)
        job = self.settled.pop(token, None)
        return slot if isinstance(slot, Job) else job

    async def _serve(self, request: Request, reply: Reply) -> None:
        token = request.path.lstrip("/")
        slot = self.jobs.pop(token, None)
        job = self.settled.pop(token, None)
        if isinstance(slot, http.HTTPFlow):  # its request hooks have run: what did they decide?
            if slot.response is not None and job is not None:
                self.listeners.release(job.exchange)  # a hook answered it after all: the job never runs
            slot = slot.response or job or anthropic_error(GatewayError(
                500, "api_error", "the inspector gateway gave this request no answer; its log may say why"))
        if slot is None:
            reply.whole(404, b"no such relay job", [("content-type", "text/plain")])
        elif isinstance(slot, http.Response):
            reply.whole(slot.status_code, slot.content or b"", list(slot.headers.items(multi=True)))
        else:
            await self.pipeline.run(slot, reply)
