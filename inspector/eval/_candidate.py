"""The candidate side: one recorded turn sent to a candidate model exactly as the gateway would send it.

A turn's request goes through today's gateway, in-process: the gateway's ``Admission`` admits it (the
backend form prepares the whole call, with what the backend says about the model; a request that
cannot fit the model's window is refused, as the gateway refuses it), the gateway's ``Pipeline``
sends it with the project's h11 client and translates
the answer (stream processors, whole answers, error mapping, keep-alives, idle timeout), and its
loopback ``Relay`` hands the Anthropic answer back over HTTP — what Claude Code would have read. The
exchange's summary (``Exchange.summary()``: notes with their repair rules, timings, usage, prompt
cache, prefix) comes with it, and with ``record`` every exchange is written as an ordinary recording.

Nothing here translates: a change to the gateway's translation is a change to what is evaluated.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..gateway.admission import Admission, refused
from ..gateway.exchange import EndListener, Exchange, RequestSnapshot
from ..gateway.pipeline import Job, error_response
from ..gateway.reask import Ladder
from ..gateway.recorder import Recorder
from ..gateway.relay import Relay
from ..protocol import ClientCall, InvalidRequest, MessageAccumulator, TranslateOptions, get_form
from ..recording import ExchangeMeta, RecordingStore, utc_iso
from ..transport import BackendFailure
from ._turns import Turn

__all__ = ["Candidate", "CandidateClient", "Outcome"]

#: The Messages API version sent to an Anthropic-native candidate when the recording names none.
ANTHROPIC_VERSION = "2023-06-01"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A model to evaluate, and where and how to reach it (``--backend``, ``--backend-url``, ``--model``)."""

    model: str
    form: str
    url: str
    options: TranslateOptions = field(default_factory=TranslateOptions)
    api_key: str = ""
    #: The repair ladder's re-ask, as the gateway's ``--set reask`` (auto, off, always).
    reask: str = "auto"

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "backend": self.form, "backend_url": self.url,
                "options": {**{k: getattr(self.options, k) for k in ("num_ctx", "max_tokens_limit", "think", "repair")},
                            "reask": self.reask}}


@dataclass(slots=True)
class Outcome:
    """What a candidate answered to one turn, as Claude Code would have received it."""

    #: HTTP status Claude Code would have seen (None: the evaluation could not even ask).
    status: int | None
    #: The answer reassembled (the stream added up, as the SDKs do), when there is one.
    message: dict[str, Any] | None
    #: ``{"type", "message"}`` of an error answer (an HTTP error, or an ``error`` event mid-stream).
    error: dict[str, str] | None
    #: The gateway's summary of the exchange (recording/SCHEMA.md ``exchange.json``).
    meta: ExchangeMeta
    #: Seconds from sending the request to the end of the answer, as the evaluation measured it.
    wall_ms: float
    #: The exchange folder ``--record`` wrote, if any.
    recorded_as: str | None = None


class _Ended(EndListener):
    """A listener that wakes whoever waits for an exchange's end (its summary is final then)."""

    def __init__(self) -> None:
        self.waiting: dict[int, asyncio.Future[None]] = {}

    def wait(self, ex: Exchange) -> asyncio.Future[None]:
        return self.waiting.setdefault(id(ex), asyncio.get_running_loop().create_future())

    def exchange_ended(self, ex: Exchange) -> None:
        waiter = self.waiting.pop(id(ex), None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class CandidateClient:
    """``async with CandidateClient(candidate, record=store) as client: outcome = await client.answer(turn)``.

    ``record``: a ``RecordingStore`` the exchanges are written to (one session per recorded
    session and model). ``idle_timeout``: seconds of candidate silence before a turn fails, as the
    gateway's ``--set idle_timeout``."""

    def __init__(self, candidate: Candidate, *, record: RecordingStore | None = None, idle_timeout: float = 600.0,
                 ping_interval: float = 5.0) -> None:
        self.candidate = candidate
        self.form = get_form(candidate.form)
        self.store = record
        self.relay = Relay()
        self.relay.pipeline.idle_timeout = idle_timeout
        self.relay.pipeline.ping_interval = ping_interval
        # The gateway's own admission, set as the gateway's options would set it for this candidate.
        self.admission = Admission(self.relay.client, form=self.form, model=candidate.model,
                                   options=candidate.options, api_key=candidate.api_key)
        self.admission.ladder = ladder = Ladder()
        ladder.mode = candidate.reask
        self.tokens = self.admission.tokens
        self.ended = _Ended()
        # The Recorder addon, never configured: it only passes each exchange's response and end on to
        # the writer this client opens itself (``ex.writer``), exactly as the gateway's recorder does.
        self.relay.listeners.items = [Recorder(), self.tokens, self.ended]

    async def __aenter__(self) -> CandidateClient:
        await self.relay.server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.relay.done()

    # -- one turn ------------------------------------------------------------------------------------
    async def answer(self, turn: Turn) -> Outcome:
        started = time.monotonic()
        ex = Exchange(form=self.form, kind="messages", backend=self.candidate.url.rstrip("/"), mode="reverse")
        ex.client = f"inspector-eval/{self.candidate.model} ({turn.client})" if turn.client else \
            f"inspector-eval/{self.candidate.model}"
        # One recorded session per candidate: the folder is named after both (the client label and the
        # recorded session id's first characters).
        ex.session_id, ex.id_source, ex.purpose = f"{turn.session_id}/{self.candidate.model}", "eval", turn.purpose
        recorded = turn.request()
        client = recorded.client_request
        ex.client_request = RequestSnapshot(
            method="POST", path=str(client.get("path") or "/v1/messages"), url=str(client.get("url") or ""),
            headers=[(str(k), str(v)) for k, v in client.get("headers") or []], body=recorded.body,
            content_type="application/json", json=recorded.json)
        headers = [(str(k), str(v)) for k, v in client.get("headers") or []]
        if not any(k.lower() == "anthropic-version" for k, _ in headers):
            headers.append(("anthropic-version", ANTHROPIC_VERSION))
        call = ClientCall("POST", str(client.get("path") or "/v1/messages"), headers, recorded.body)
        try:
            # The recorded session is this exchange's identity (set above), whatever its body says.
            job = await self.admission.admit(ex, call, lambda ex, data: None)
        except InvalidRequest as e:
            self._open_recording(ex, turn)
            return self._refused(ex, e, started)
        self._open_recording(ex, turn)
        return await self._send(job, started)

    def _open_recording(self, ex: Exchange, turn: Turn) -> None:
        if self.store is None or ex.client_request is None:
            return
        ex.writer = self.store.exchange(session_id=ex.session_id, id_source=ex.id_source, client=ex.client,
                                        kind="messages", meta={"started": utc_iso(ex.started_wall), "eval_of": turn.ref})
        if ex.writer is not None:
            ex.writer.requests(ex.client_request, ex.backend_request)

    def _refused(self, ex: Exchange, e: InvalidRequest, started: float) -> Outcome:
        """What the gateway answers without asking the backend: a request that cannot fit the model's window."""
        err = refused(ex, e)
        status, headers, body = error_response(err)
        ex.answer = orjson.loads(body)
        tell = self.relay.listeners
        tell.started(ex)
        tell.response(ex, "client", status, headers)
        tell.chunk(ex, "client", body)
        meta = tell.ended(ex)
        return Outcome(status, None, {"type": err.type, "message": err.message}, meta,
                       round((time.monotonic() - started) * 1000, 1), _path(ex))

    async def _send(self, job: Job, started: float) -> Outcome:
        ex = job.exchange
        ex.holds = 1  # only the pipeline: there is no mitmproxy flow to let go of it
        ended = self.ended.wait(ex)
        token = self.relay.register(job)
        status: int | None = None
        pieces: list[bytes] = []
        streamed = False
        try:
            response = await self.relay.client.send("POST", f"http://127.0.0.1:{self.relay.port}/{token}", [], b"")
            try:
                status = response.status
                streamed = "event-stream" in response.header("content-type")
                while (piece := await response.read()) is not None:
                    pieces.append(piece)
            finally:
                response.close()
        except BackendFailure as e:  # the relay hop itself broke: nothing Claude Code would have seen either
            if self.relay.forget(token) is not None:
                self.relay.listeners.release(ex)
            ex.notes.error(f"the evaluation's loopback hop failed: {e}")
        await asyncio.shield(ended)  # the pipeline has let go: the summary is final
        wall = round((time.monotonic() - started) * 1000, 1)
        message, error = _read_answer(b"".join(pieces), streamed)
        if status is None and error is None:
            error = {"type": "api_error", "message": "; ".join(n.message for n in ex.notes.of("error")) or "no answer"}
        return Outcome(status, message, error, ex.final or ex.summary(), wall, _path(ex))


def _path(ex: Exchange) -> str | None:
    """The exchange folder being recorded (an ``ExchangeWriter``'s), if any."""
    path = getattr(ex.writer, "path", None)
    return str(path) if path is not None else None


def _read_answer(body: bytes, streamed: bool) -> tuple[dict[str, Any] | None, dict[str, str] | None]:
    """(the Message, the error) of an Anthropic answer, streamed or whole."""
    if streamed:
        acc = MessageAccumulator()
        acc.feed(body)
        acc.flush()
        error = _error(acc.error) if acc.error is not None else None
        if error is None and acc.message is not None and not acc.stopped:
            error = {"type": "api_error", "message": "the stream ended without message_stop"}
        return acc.message, error
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None, {"type": "api_error", "message": f"not JSON: {body[:200].decode('utf-8', 'replace')!r}"}
    if isinstance(data, dict) and data.get("type") == "message":
        return data, None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return None, _error(data["error"])
    return None, {"type": "api_error", "message": "no answer" if data is None else f"not a Message: {str(data)[:200]}"}


def _error(err: Any) -> dict[str, str]:
    if not isinstance(err, dict):
        return {"type": "api_error", "message": str(err)}
    return {"type": str(err.get("type") or "api_error"), "message": str(err.get("message") or "")}
