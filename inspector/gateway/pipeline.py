"""One exchange, from the backend to the client: the path every chunk takes.

    backend socket ─▶ BackendClient (h11) ─▶ processor.feed (form's translator / observer) ─▶ Reply (h11) ─▶ mitmproxy ─▶ client
                           │                                                        │
                           └──────────── listeners: recorder, colour log ───────────┘

The admission step has the backend form prepare the backend call (``admission.py``) and the gateway
hands it here as a ``Job`` (through the relay, see ``relay.py``); this module waits for the backend's
queue to let it through (``queue.py``: at most the backend's slots at once, the main conversation
first), sends it, and:

* while the request waits in the queue, or the backend is silent before answering (a local model
  evaluating a long prompt), commits to HTTP 200 after ``ping_interval`` and sends the processor's
  keep-alive every interval — mid-stream too, but only between two events; a request that waits
  longer than ``queue_timeout`` is answered ``overloaded_error`` (529), which Claude Code retries;
* gives up after ``idle_timeout`` of silence, streaming or not;
* gives up on a client that reads nothing for ``write_timeout`` while the backend has more to say:
  the backend connection is closed (a local model stops generating for nobody) and the exchange
  is recorded as partial;
* turns every failure into an Anthropic error — a JSON error with the right status (and
  ``x-should-retry: false`` where retrying cannot help) before the head is sent, an ``error``
  event after it — and a stream the backend cuts into a clean end;
* when the client goes away (the relay cancels this task), closes the backend connection at
  once, so a local model stops generating for nobody, and records what arrived.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from dataclasses import dataclass
from typing import Literal

import orjson

from ..protocol import GatewayError, StreamProcessor, StreamTranslator, TokenCount, WholeAnswer, sse_event
from ..telemetry import propagate
from ..transport import BackendClient, BackendFailure, BackendResponse, Reply
from .exchange import Exchange, Listeners
from .queue import Entry, Overloaded, Queues, claim_of, goes_on, overloaded, with_slot
from .reask import ReaskPlan, climb

__all__ = ["Job", "Pipeline", "error_response"]

_SSE_HEAD = [("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-cache")]
_JSON = [("content-type", "application/json")]
#: An error body larger than this is not read whole.
_ERROR_LIMIT = 1 << 20


@dataclass(slots=True)
class Job:
    """A prepared backend request and the exchange it belongs to."""

    exchange: Exchange
    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes
    #: The backend's own count of the request's tokens, asked alongside it; used for message_start
    #: when it is there before the stream starts, and never waited for.
    count: asyncio.Future[TokenCount | None] | None = None
    #: Seconds preparing it spent waiting for the backend (asking what a model is), not working.
    waited: float = 0.0
    #: How to re-ask an answer whose tool call fails parse and repair (``reask.py``); None: never.
    reask: ReaskPlan | None = None


def _relayed(err: GatewayError, response: BackendResponse) -> GatewayError:
    """``err`` with the backend's own Retry-After when it asks the client to come back later."""
    after = response.header("retry-after")
    if after and err.status in (429, 529) and not err.retry_after:
        return dataclasses.replace(err, retry_after=after)
    return err


def request_id() -> str:
    return "req_inspector_" + secrets.token_hex(8)


def error_response(err: GatewayError, rid: str | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
    rid = rid or request_id()
    return (err.status, [*_JSON, ("request-id", rid), *err.headers()],
            orjson.dumps(err.body() | {"request_id": rid}))


class _Idle(Exception):
    """The backend was silent for ``idle_timeout``."""


class Pipeline:
    """Runs jobs (``await pipeline.run(job, reply)``); one per gateway, shared by all exchanges."""

    def __init__(self, client: BackendClient, listeners: Listeners, *, ping_interval: float = 5.0,
                 idle_timeout: float = 600.0, write_timeout: float = 120.0, queues: Queues | None = None) -> None:
        self.client = client
        self.listeners = listeners
        #: Each backend's queue: at most its concurrency at the backend, the rest wait in priority order.
        self.queues = queues if queues is not None else Queues()
        self.ping_interval = ping_interval
        self.idle_timeout = idle_timeout
        self.write_timeout = write_timeout

    async def run(self, job: Job, reply: Reply) -> None:
        run = _Run(self, job, reply)
        finished = False
        try:
            await run.go()
            finished = True
        except asyncio.CancelledError:
            run.aborted()
        except Exception as e:
            import logging
            logging.getLogger("inspector").exception("gateway: the exchange failed")
            run.fail(GatewayError(500, "api_error", f"the inspector gateway failed on this exchange "
                                                    f"({type(e).__name__}: {e}); its log has the details"))
        finally:
            run.close()
            try:
                await run.settle_count(wait=finished)
            finally:
                if job.exchange.ended is None:
                    job.exchange.ended = time.monotonic()
                # Ended once mitmproxy has also let go of the flow (its response hook): the colour log
                # and the recorder's last writes never delay the client's last bytes.
                self.listeners.release(job.exchange)


class _Run:
    __slots__ = (
        "p", "job", "ex", "reply", "response", "processor", "tell", "rid", "counted", "late", "wrote", "since",
        "entry",
    )

    def __init__(self, pipeline: Pipeline, job: Job, reply: Reply) -> None:
        self.p = pipeline
        self.job = job
        self.ex = job.exchange
        self.reply = reply
        self.response: BackendResponse | None = None
        self.processor = self.ex.processor
        self.tell = pipeline.listeners
        self.rid = request_id()
        self.counted = job.count is None
        #: The count came too late for message_start: settled once the answer has ended (``settle_count``).
        self.late = False
        self.wrote = time.monotonic()  # when the client last got bytes
        self.since: float | None = None  # a whole answer: when its last byte arrived
        if job.reask is not None and self.processor is not None:
            job.reask.arm(self.processor, counting=job.count is not None)
        #: Its place in the backend's queue, once it asked for one.
        self.entry: Entry | None = None

    def use_count(self) -> None:
        """The backend's token count, if it has arrived, for message_start (once, before it goes out)."""
        if self.counted:
            return
        self.counted = True
        task, ex = self.job.count, self.ex
        assert task is not None
        if not task.done():
            plan = self.job.reask
            if plan is not None and plan.wants_count:  # too late for message_start, not for the re-ask's ladder
                processor = self.processor
                task.add_done_callback(lambda t: plan.counted_later(t, processor))
            self.late = True  # the estimate went out; what the count says is still noted (settle_count)
            return
        count = None if task.cancelled() or task.exception() is not None else task.result()
        if count is None:
            return
        ex.token_count = count
        if self.processor is not None:
            self.processor.use_input_count(count.tokens)
        if self.job.reask is not None:
            self.job.reask.counted(count, self.processor)
        self._note_count(count)

    def _note_count(self, count: TokenCount) -> None:
        if count.tools_dropped:
            self.ex.notes.warning("the backend's chat template renders none of the tools offered: the model "
                                  "never sees Claude Code's tools (start llama-server with --jinja, or use a model "
                                  "whose template takes tools)", rule="template:tools-dropped")

    async def settle_count(self, *, wait: bool) -> None:
        """A count that came too late for ``message_start``: once the client's answer has ended, waited
        for (``wait``; its probes have their own timeout) so that what it says about the request — a
        template that renders none of the tools — is in the exchange's notes; else stopped."""
        task = self.job.count
        if task is None or not self.late:
            return
        if wait and not task.done():
            await asyncio.wait({task}, timeout=30)
        if not task.done():
            task.cancel()
            return
        count = None if task.cancelled() or task.exception() is not None else task.result()
        if count is not None:
            self._note_count(count)

    # -- writing to the client ---------------------------------------------------------------------
    def _overhead(self) -> list[tuple[str, str]]:
        overhead = self.ex.overhead
        return [overhead.header()] if overhead is not None else []

    def commit(self) -> None:
        """Send the 200 head of an SSE stream (once)."""
        if not self.reply.started:
            headers = [*_SSE_HEAD, ("request-id", self.rid), *self._overhead()]
            self.reply.head(200, headers)
            self.tell.response(self.ex, "client", 200, headers)

    def write(self, out: bytes) -> None:
        if not out:
            return
        ex = self.ex
        self.wrote = time.monotonic()
        if ex.first_token is None and self.processor is not None and self.processor.answering:
            ex.first_token = self.wrote
        self.reply.write(out)  # the client first, the listeners after
        if self.tell:
            self.tell.chunk(ex, "client", out)

    def whole(self, status: int, headers: list[tuple[str, str]], body: bytes, since: float | None = None) -> None:
        """``since``: when the backend's answer was all there (the gateway's time from then on is its own)."""
        overhead = self.ex.overhead
        if overhead is not None and since is not None:
            overhead.chunk(time.perf_counter() - since)
        headers = [*headers, *self._overhead()]
        self.reply.whole(status, body, headers)
        if self.ex.first_token is None and self.ex.answer is not None and self.ex.answer.get("type") == "message":
            self.ex.first_token = time.monotonic()
        self.tell.response(self.ex, "client", status, headers)
        if body:
            self.tell.chunk(self.ex, "client", body)

    def fail(self, err: GatewayError) -> None:
        """End the exchange with ``err``: an error event if the stream has begun, else an HTTP error."""
        ex = self.ex
        if self.reply.ended or self.reply.gone:
            return
        if self.reply.started:
            if self.processor is not None:
                self.write(self.processor.fail(err))
            else:
                ex.notes.error(err.message)
                self.write(sse_event("error", err.body()))
            return
        if self.processor is None:
            ex.notes.error(err.message)
        else:
            self.processor.fail(err)  # the processor records the error; nothing to send yet
        status, headers, body = error_response(err, self.rid)
        ex.answer = orjson.loads(body)
        self.whole(status, headers, body)

    # -- the exchange ------------------------------------------------------------------------------
    async def go(self) -> None:
        job, ex = self.job, self.ex
        self.tell.started(ex)  # recorded as prepared: the queue's id_slot is in exchange.json's queue
        queue = self.p.queues.queue_for(ex)
        ex.queued = time.monotonic()
        if queue is not None:
            self.entry = entry = queue.enter(claim_of(ex))
            try:
                if not entry.granted.done():
                    await self._turn(entry)
            except Overloaded:
                ex.queue = entry.facts()
                self.fail(overloaded(queue, ex.backend))
                return
            ex.queue = entry.facts()
            if entry.slot is not None:
                job.body = with_slot(job.body, entry.slot)
        ex.sent = time.monotonic()
        headers = propagate(job.headers, ex.trace, exported=ex.traced, inbound=self._inbound_traceparent())
        send = asyncio.ensure_future(self.p.client.send(job.method, job.url, headers, job.body))
        try:
            self.response = response = await self._head(send)
        except BackendFailure as e:
            if e.kind == "connect":
                ex.aborted_by = "backend"
                self.fail(ex.form.unreachable(backend=ex.backend, reason=str(e)))
            else:
                ex.incomplete = str(e)
                self.fail(GatewayError(502, "api_error", f"the {ex.form.label} backend at {ex.backend} "
                                                         f"failed: {e}. Is it running, and is it the server "
                                                         f"--set backend={ex.form.name} expects?"))
            return
        except _Idle:
            ex.incomplete = f"no answer within {self.p.idle_timeout:g} s"
            self.fail(GatewayError(504, "timeout_error", f"the {ex.form.label} backend at {ex.backend} did "
                                                         f"not answer within {self.p.idle_timeout:g} s "
                                                         f"(--set idle_timeout=SECONDS to wait longer)"))
            return
        finally:
            if not send.done():
                send.cancel()
            elif self.response is None and not send.cancelled() and send.exception() is None:
                send.result().close()  # answered just as we were cancelled
        ex.first_byte = time.monotonic()
        self.tell.response(ex, "backend", response.status, response.headers)
        if (self.processor is not None and response.status == 200
                and ex.form.is_stream(response.header("content-type"))):
            await self._stream(response)
        else:
            await self._whole(response)

    async def _turn(self, entry: Entry) -> None:
        """Wait for the backend's queue to let this request through — to the client it looks like a
        backend evaluating a long prompt: the 200 committed and pings after ``ping_interval`` (a stream),
        ``Overloaded`` after the queue's timeout."""
        p = self.p
        deadline = time.monotonic() + entry.queue.timeout
        streaming = self.processor is not None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Overloaded()
            step = min(p.ping_interval, left) if streaming else left
            done, _ = await asyncio.wait({entry.granted}, timeout=max(step, 0.001))
            if done:
                return
            if streaming and time.monotonic() < deadline:
                assert self.processor is not None
                self.commit()
                self.use_count()
                self.write(self.processor.keepalive())

    def _inbound_traceparent(self) -> str | None:
        request = self.ex.client_request
        for k, v in (request or {}).get("headers") or ():
            if k.lower() == "traceparent":
                return v
        return None

    async def _head(self, send: asyncio.Future[BackendResponse]) -> BackendResponse:
        p = self.p
        waited = 0.0
        streaming = self.processor is not None
        while True:
            step = min(p.ping_interval, p.idle_timeout - waited) if streaming else p.idle_timeout - waited
            done, _ = await asyncio.wait({send}, timeout=max(step, 0.001))
            if done:
                return send.result()
            waited += step
            if waited >= p.idle_timeout:
                raise _Idle()
            assert self.processor is not None
            self.commit()
            self.use_count()
            self.write(self.processor.keepalive())

    async def _stream(self, response: BackendResponse) -> None:
        ex, p, processor, reply = self.ex, self.p, self.processor, self.reply
        assert processor is not None
        self.commit()
        tell = self.tell
        overhead = ex.overhead
        silent = 0.0
        step = p.ping_interval
        while True:
            try:
                async with asyncio.timeout(step):
                    data = await response.read()
            except TimeoutError:
                silent += step
                if silent >= p.idle_timeout:
                    ex.incomplete = f"the backend was silent for {silent:g} s"
                    self.write(processor.fail(GatewayError(
                        504, "timeout_error", f"the {ex.form.label} backend at {ex.backend} was silent for "
                                              f"{silent:g} s mid-answer (--set idle_timeout=SECONDS)")))
                    break
                self.write(processor.keepalive())
                continue
            except BackendFailure as e:
                ex.incomplete = f"the backend's stream was cut ({e})"
                ex.aborted_by = "backend"
                self.write(processor.interrupt(str(e)))
                break
            if data is None:
                self.use_count()
                self.write(processor.flush())
                if processor.cut:
                    ex.incomplete = "the backend's stream ended before it said it was done"
                break
            silent = 0.0
            began = time.perf_counter()
            if not self.counted and self.job.count is not None and self.job.count.done():
                self.use_count()  # arrived: message_start says it
            out = processor.feed(data)
            if not out and time.monotonic() - self.wrote >= p.ping_interval:
                # The backend talks but says nothing for the client yet (llama.cpp's prompt_progress
                # chunks while it reads a long prompt): the client still gets its keep-alive.
                self.use_count()
                out = processor.keepalive()
            elif out and not self.counted:
                # message_start went out with the estimate: the count came too late for it. (A chunk
                # that said nothing for the client — a progress chunk — still waits for it.)
                self.use_count()
            self.write(out)
            if overhead is not None:
                overhead.chunk(time.perf_counter() - began)
            if tell:
                tell.chunk(ex, "backend", data)
            if not await self._drained():
                return
        if processor.reask is not None:  # the answer's call is held for the repair ladder's re-ask
            self.write(await self._climb(processor, streaming=True))
        reply.end()

    async def _drained(self) -> bool:
        """Wait while the client reads slower than the backend answers; False (the exchange given up)
        if it read nothing for ``write_timeout``."""
        if self.reply.writable:  # the common case: no wait, so no timer set and cancelled per chunk
            return True
        try:
            async with asyncio.timeout(self.p.write_timeout):
                await self.reply.drain()
            return True
        except TimeoutError:
            ex = self.ex
            ex.aborted_by = "client"
            ex.incomplete = (f"the client read nothing for {self.p.write_timeout:g} s; the backend connection "
                             f"was closed")
            ex.notes.warning(ex.incomplete, rule="aborted:client-stalled")
            if self.response is not None:
                self.response.close()  # not finished: closed, so the backend stops
            self.reply.abort()
            return False

    async def _whole(self, response: BackendResponse) -> None:
        """A whole answer: read with the idle timeout, then translate (or pass on) at once."""
        ex, p = self.ex, self.p
        limit = _ERROR_LIMIT if response.status != 200 else 64 << 20
        pieces: list[bytes] = []
        size = 0
        try:
            while True:
                async with asyncio.timeout(p.idle_timeout):
                    piece = await response.read()
                if piece is None:
                    break
                pieces.append(piece)
                size += len(piece)
                if size > limit:
                    raise BackendFailure(f"an answer larger than {limit >> 20} MB", kind="malformed", answered=True)
        except TimeoutError:
            ex.incomplete = f"the backend was silent for {p.idle_timeout:g} s mid-answer"
            self._record_backend(pieces)
            self.fail(GatewayError(504, "timeout_error", f"the {ex.form.label} backend at {ex.backend} was "
                                                         f"silent for {p.idle_timeout:g} s mid-answer "
                                                         f"(--set idle_timeout=SECONDS)"))
            return
        except BackendFailure as e:
            ex.incomplete = f"the backend's answer was cut ({e})"
            ex.aborted_by = "backend"
            self._record_backend(pieces)
            self.fail(GatewayError(502, "api_error", f"the answer from {ex.backend} was cut ({e}): the backend "
                                                     f"probably crashed or was stopped. Retry the request."))
            return
        body = b"".join(pieces)
        self.since = time.perf_counter()
        self._record_backend([body])
        if response.status == 200 and self.job.count is not None and not self.job.count.done():
            # Nothing has gone to the client yet: the count (bounded by the probe timeout) can be waited for.
            await asyncio.wait({self.job.count})
        self.use_count()
        answer = await self._whole_reasked(body) if (self.job.reask is not None and response.status == 200
                                                     and not ex.stream) else None
        if answer is None:
            answer = ex.form.whole_answer(response.status, response.headers, body, ex.translation(),
                                          stream=ex.stream, kind=ex.kind, request_id=self.rid)
        if answer.error is not None:
            self.fail(_relayed(answer.error, response))
            return
        if self.reply.started:  # committed early, then the backend answered whole (an error)
            self.fail(ex.form.error(status=response.status, body=body, model=ex.backend_model, backend=ex.backend))
            return
        ex.answer, ex.backend_usage = answer.message, answer.usage
        self.whole(answer.status, answer.headers, answer.body, self.since)

    async def _whole_reasked(self, body: bytes) -> WholeAnswer | None:
        """A whole answer read as a stream is, so that a call can be held for the re-ask (None: not an
        answer — the form's ``whole_answer`` says what it is instead)."""
        ex, plan = self.ex, self.job.reask
        assert plan is not None
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(data, dict) or data.get("error"):
            return None
        t = ex.form.stream_processor(ex.translation())
        assert isinstance(t, StreamTranslator)
        plan.arm(t, counting=self.job.count is not None)
        t.take_whole(data)
        usage = ex.form.read_usage(data)
        if t.reask is not None:
            await self._climb(t, streaming=False)
            usage = t.usage
        message = t.message() or t.encoder.message()
        return WholeAnswer(200, [*_JSON, ("request-id", self.rid)], orjson.dumps(message), message, usage)

    async def _climb(self, processor: StreamProcessor, *, streaming: bool) -> bytes:
        """The re-ask rung (``reask.climb``); whatever goes wrong in it, the held answer goes as it was."""
        plan = self.job.reask
        if plan is None:
            return processor.give_up("")
        need = processor.reask
        if need is not None and need.reason == "unseen-tools" and not await plan.blind(self.job.count):
            return processor.give_up("")  # the count says the model saw the tools: its words stand
        try:
            return await climb(self, plan, processor, streaming=streaming)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a bug in the rung must not cost the answer
            import logging
            logging.getLogger("inspector").exception("gateway: the re-ask failed")
            return processor.give_up(f"the re-ask failed ({type(e).__name__}: {e}); the first answer went as it was")

    def _record_backend(self, pieces: list[bytes]) -> None:
        if self.tell:
            for piece in pieces:
                if piece:
                    self.tell.chunk(self.ex, "backend", piece)

    # -- endings ---------------------------------------------------------------------------------------
    def aborted(self) -> None:
        """The task was cancelled: the client went away, or the gateway is stopping."""
        ex = self.ex
        who: Literal["client", "gateway"] = "client" if self.reply.gone else "gateway"
        ex.aborted_by = who
        n = self.processor.events_in if self.processor is not None else 0
        what = "the client went away" if who == "client" else "the gateway stopped"
        ex.incomplete = f"{what} after {n} backend events; the backend connection was closed at once"
        ex.notes.warning(ex.incomplete, rule=f"aborted:{who}")
        if who == "gateway":
            ex.holds = 1  # mitmproxy is stopping too: its flow will not let go, end it with the pipeline
            self.fail(GatewayError(503, "overloaded_error", "the inspector gateway is shutting down; "
                                                            "retry once it is back", retry=True))

    def close(self) -> None:
        if self.entry is not None:
            ex = self.ex
            if ex.queue is None:  # it left (or was stopped) while it waited
                ex.queue = self.entry.facts()
            # The conversation goes on at once when the answer asked for a tool: its slot is kept for it.
            self.entry.queue.leave(self.entry, more=goes_on(ex))
            self.entry = None
        if not self.counted and self.job.count is not None:
            self.job.count.cancel()
        if self.response is not None:
            self.response.close()  # back to the pool when finished, else closed: the backend stops
        if not self.reply.gone and self.reply.started and not self.reply.ended:
            self.reply.end()
