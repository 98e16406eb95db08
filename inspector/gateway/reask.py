"""The repair ladder's re-ask, sent: the one rung of the ladder that does I/O.

A translated answer climbs ``parse → repair → re-ask → error`` (``inspector.protocol._reask``). The
translator decides, purely, that an answer needs a re-ask and holds its end; this module sends the
second attempt:

* ``Ladder`` — an addon (``--set reask=auto|off|always``, ``reask_attempts``, ``reask_budget``) that
  plans each translated exchange's re-ask (``plan``, called by the gateway) and remembers what it
  learned: which backends refused a constrained request (they get the plain re-ask, or none),
  whose chat template shows the model no tool, which sessions needed a re-ask (``always``
  constrains their later first attempts).
* ``climb`` — run by the pipeline once the held answer's end has come: the first attempt's request
  again, whole, the call pinned and the output constrained in the backend's own dialect
  (``BackendForm.constrained``), keep-alive pings to the client meanwhile, within ``reask_attempts``
  and ``reask_budget``; a client that leaves cancels it. Its answer goes back to the translator
  (``resume``), which sends the call in place of the held one — or, when nothing better came,
  the held answer as it would have gone without the rung (``give_up``).

Every step is told: a note per rung, ``Exchange.reask`` (``exchange.json``'s ``reask``), the second
request and its answer to the listeners (``exchange_attempt``: the recorder writes them beside the
first, ``backend-request-2.json`` / ``backend-response-2.jsonl``).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import orjson
from mitmproxy import addonmanager, ctx, exceptions

from ..log.render import reask_label
from ..protocol import REASONS, AnthropicRequest, BackendForm, ReaskReason, StreamProcessor, TokenCount
from ..protocol._request import SystemTurn, UserTurn
from ..transport import BackendFailure
from .exchange import Exchange, RequestSnapshot

if TYPE_CHECKING:
    from .pipeline import _Run

__all__ = ["MODES", "Attempt", "Ladder", "ReaskPlan", "Rung", "climb"]

MODES = ("auto", "off", "always")
#: A re-ask's answer larger than this is not read whole (it is one call's arguments).
_LIMIT = 16 << 20

Outcome = Literal["valid", "no better", "refused", "failed", "timeout", "cancelled", "not possible"]


@dataclass(slots=True)
class Attempt:
    """A second (third…) backend request of an exchange and its answer, as the listeners see it."""

    n: int
    how: str
    constrained: bool
    request: RequestSnapshot
    status: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    error: str | None = None


@dataclass(slots=True)
class Rung:
    """The re-ask rung of one exchange (``exchange.json``'s ``reask``)."""

    reason: ReaskReason
    tool: str | None
    detail: str
    #: How the second request was asked ("response_format json_schema", "format json schema",
    #: "tool_choice named" …) and whether its output was constrained (False: the plain re-ask).
    how: str | None = None
    constrained: bool | None = None
    outcome: Outcome | None = None
    why: str = ""
    seconds: float | None = None
    #: Per backend attempt (the first included): its HTTP status and what its usage said.
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "tool": self.tool, "detail": self.detail[:300], "how": self.how,
                "constrained": self.constrained, "outcome": self.outcome, "why": self.why[:300],
                "seconds": self.seconds, "attempts": self.attempts}


@dataclass(slots=True)
class ReaskPlan:
    """What the ladder knows of one exchange before it is sent: enough to re-ask it."""

    ladder: Ladder
    #: The backend request as translated (what a re-ask asks again).
    body: dict[str, Any]
    server: str | None
    key: tuple[str, str]  # (backend, backend model)
    session: tuple[str, str]  # (session id, backend model)
    #: The request ends on the user's own words (not on tool results): a turn that starts here.
    user_words: bool
    #: An answer without a call needs a re-ask too: ``(reason, tool)``.
    expect: tuple[ReaskReason, str | None] | None = None
    #: ``always``: the first attempt to send instead, constrained to a call or a text answer.
    first: dict[str, Any] | None = None

    @property
    def enveloped(self) -> bool:
        return self.first is not None

    def arm(self, processor: StreamProcessor, *, counting: bool = False) -> None:
        """Open the translator's re-ask rung. ``counting``: the backend's count of this request is on its
        way and will say whether the model's template shows the tools; until then an answer without a
        call to a turn the user started is held too — the pipeline waits for the count at its end
        (``blind``), so the decision never depends on which of the two came first."""
        expect = self.expect
        if expect is None and not self.enveloped and counting and self.wants_count and self.user_words:
            expect = ("unseen-tools", None)
        processor.arm_reask(expect, enveloped=self.enveloped)

    async def blind(self, count: asyncio.Future[TokenCount | None] | None, *, timeout: float = 30.0) -> bool:
        """Whether the model's template shows it none of the tools: what the ladder learned, or — for the
        first request of a model it knows nothing of — the backend's count of it, waited for."""
        if self.key in self.ladder.blind:
            return True
        if self.key in self.ladder.checked or count is None:
            return False
        if not count.done():
            await asyncio.wait({count}, timeout=timeout)
        if count.done() and not count.cancelled() and count.exception() is None and (n := count.result()) is not None:
            self.counted(n, None)
        return self.key in self.ladder.blind

    @property
    def wants_count(self) -> bool:
        """Whether the backend's own count of this request should be asked for: it says whether the
        model's chat template shows the tools, which nobody has checked for this backend and model yet."""
        return self.key not in self.ladder.checked

    def counted_later(self, task: asyncio.Future[TokenCount | None], processor: StreamProcessor | None) -> None:
        """The count arrived after the answer began (``counted``, if the answer has not ended yet)."""
        if not task.cancelled() and task.exception() is None and (count := task.result()) is not None:
            self.counted(count, processor)

    def counted(self, count: TokenCount, processor: StreamProcessor | None) -> None:
        """The backend counted this request (its template rendered): if the template shows the model
        none of the tools, the model cannot call on its own — an answer without a call to a turn the
        user started gets a re-ask (``unseen-tools``)."""
        self.ladder.checked.add(self.key)
        if not count.tools_dropped:
            self.ladder.blind.discard(self.key)
            return
        self.ladder.blind.add(self.key)
        if self.user_words and self.expect is None and not self.enveloped:
            self.expect = ("unseen-tools", None)
            if processor is not None:
                processor.arm_reask(self.expect)


class _Recent(OrderedDict[tuple[str, str], None]):
    """A set that keeps the ``limit`` most recently added keys."""

    limit = 1024

    def add(self, key: tuple[str, str]) -> None:
        self[key] = None
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


def _user_words(req: AnthropicRequest) -> bool:
    """The conversation ends on the user's own words, not on tool results (Claude Code's late system
    messages — its environment block — aside)."""
    last = next((t for t in reversed(req.turns) if not isinstance(t, SystemTurn)), None)
    return isinstance(last, UserTurn) and not last.tool_results and bool(last.texts or last.images)


class Ladder:
    """The re-ask's settings and what it has learned (one per gateway)."""

    def __init__(self) -> None:
        self.mode = "auto"
        self.attempts = 1
        self.budget = 300.0
        #: (backend, model) that answered a constrained request with HTTP 400: the plain re-ask only.
        self.unconstrained: set[tuple[str, str]] = set()
        #: (backend, model) whose chat template shows the model none of the tools, and those checked.
        self.blind: set[tuple[str, str]] = set()
        self.checked: set[tuple[str, str]] = set()
        #: (session, model) that needed a re-ask: ``always`` constrains their first attempts (the most
        #: recent sessions: a long-running gateway forgets the oldest).
        self.needed: _Recent = _Recent()

    def load(self, loader: addonmanager.Loader) -> None:
        loader.add_option("reask", str, "auto",
                          "The repair ladder's re-ask: when a local model's tool call can be neither parsed nor "
                          "repaired (or the token limit cut it), ask again with the call pinned and the output "
                          "constrained to the tool's schema. auto (on for the forms that can re-ask: Ollama, "
                          "OpenAI chat), off, always (as auto; and once a session needed a re-ask, its later "
                          "requests are constrained to a call or a text answer from the start).", choices=MODES)
        loader.add_option("reask_attempts", int, 1, "How many re-asks one answer may get.")
        loader.add_option("reask_budget", str, "300",
                          "Seconds all re-asks of one answer may take together; then the answer goes as it was.")

    def configure(self, updated: set[str]) -> None:
        o = ctx.options
        if "reask" in updated:
            if o.reask not in MODES:
                raise exceptions.OptionsError(f"reask must be one of {', '.join(MODES)}")
            self.mode = o.reask
        if "reask_attempts" in updated:
            if o.reask_attempts < 0:
                raise exceptions.OptionsError("reask_attempts must be >= 0")
            self.attempts = o.reask_attempts
        if "reask_budget" in updated:
            try:
                budget = float(o.reask_budget)
            except ValueError:
                raise exceptions.OptionsError(f"reask_budget must be a number of seconds, not {o.reask_budget!r}") \
                    from None
            if budget <= 0:
                raise exceptions.OptionsError("reask_budget must be > 0 seconds")
            self.budget = budget

    def plan(self, ex: Exchange, req: AnthropicRequest, body: dict[str, Any]) -> ReaskPlan | None:
        """The re-ask plan of a translated exchange about to be sent (None: no re-ask for it). With
        ``always``, a session that needed a re-ask gets a first attempt constrained to a call or a text
        answer: then ``plan.first`` is what to send."""
        if self.mode == "off" or not self.attempts or not ex.form.reasks or not body.get("tools"):
            return None
        choice = req.tool_choice or {}
        if choice.get("type") == "none":
            return None
        key = (ex.backend, ex.backend_model)
        plan = ReaskPlan(self, body, ex.facts.server if ex.facts is not None else None, key,
                         (ex.session_id or "", ex.backend_model), _user_words(req))
        if choice.get("type") == "any":
            plan.expect = ("required", None)
        elif choice.get("type") == "tool" and isinstance(choice.get("name"), str):
            plan.expect = ("required", choice["name"])
        elif self.mode == "always" and plan.session in self.needed and key not in self.unconstrained:
            enveloped = ex.form.constrained(body, tool=None, server=plan.server, text=True)
            if enveloped is not None:
                plan.first = enveloped[0]
                ex.notes.converted(f"this session needed a re-ask before (--set reask=always): sent constrained to "
                                   f"a call or a text answer ({enveloped[1]}); its text comes whole, at the end",
                                   rule="reask:always")
        if plan.expect is None and not plan.enveloped and key in self.blind and plan.user_words:
            plan.expect = ("unseen-tools", None)
        return plan


async def climb(run: _Run, plan: ReaskPlan, processor: StreamProcessor, *, streaming: bool) -> bytes:
    """The re-ask of the answer ``processor`` holds: what to send the client to end it (the call, or
    the held answer as it was). ``streaming``: keep-alive pings go to the client meanwhile."""
    need = processor.reask
    assert need is not None
    ex, ladder, form = run.ex, plan.ladder, run.ex.form
    rung = Rung(need.reason, need.tool, need.detail)
    ex.reask = rung
    first = ex.backend_usage if ex.backend_usage is not None else getattr(processor, "usage", None)
    rung.attempts.append({"n": 1, "status": ex.backend_status, "usage": _usage(first)})
    ladder.needed.add(plan.session)
    names = ex.names
    tool = names.outgoing(need.tool) if names is not None and need.tool is not None else need.tool
    ways = _ways(plan, form, tool)
    what = f"{need.tool or 'a tool call'}: {REASONS[need.reason]}"
    if not ways:
        rung.outcome, rung.why = "not possible", (f"the {form.label} backend can neither constrain an answer nor "
                                                  f"pin a call")
        return processor.give_up(f"{what}; no re-ask: {rung.why}")
    started = time.monotonic()
    out: bytes | None = None
    tried = 0
    try:
        async with asyncio.timeout(ladder.budget):
            while ways and tried < ladder.attempts:
                body, how, constrained = ways[0]
                rung.how, rung.constrained = how, constrained
                attempt = await _ask(run, processor, body, how, constrained, n=len(rung.attempts) + 1,
                                     streaming=streaming)
                rung.attempts.append({"n": attempt.n, "how": how, "constrained": constrained,
                                      "status": attempt.status, "error": attempt.error})
                if attempt.status == 400 and constrained:
                    # A server that does not take this constraint: learned, and the plain re-ask follows.
                    ladder.unconstrained.add(plan.key)
                    ways = [w for w in ways if not w[2]]
                    ex.notes.warning(f"the backend refused the constrained re-ask ({how}: HTTP 400); "
                                     f"{'the plain re-ask follows' if ways else 'no plain re-ask is possible'}, "
                                     f"and this backend gets no constrained one again", rule="reask:refused")
                    rung.outcome, rung.why = "refused", f"HTTP 400 to {how}"
                    continue
                tried += 1
                data = _json(attempt.body) if attempt.status == 200 else None
                if data is None:
                    rung.outcome = "failed"
                    rung.why = attempt.error or (f"HTTP {attempt.status}: {attempt.body[:200].decode('utf-8', 'replace')}"
                                                 if attempt.status != 200 else "the answer was not a JSON object")
                    continue
                rung.attempts[-1]["usage"] = _usage(form.read_usage(data))
                out = processor.resume(data, how=how)
                if out is not None:
                    rung.outcome, rung.why = "valid", ""
                    break
                rung.outcome, rung.why = "no better", processor.reask_failed
    except TimeoutError:
        rung.outcome, rung.why = "timeout", f"no answer within reask_budget ({ladder.budget:g} s)"
    except asyncio.CancelledError:
        rung.outcome, rung.why = "cancelled", "the client went away"
        rung.seconds = round(time.monotonic() - started, 3)
        raise
    finally:
        rung.seconds = round(time.monotonic() - started, 3)
    if out is not None:
        return out
    return processor.give_up(f"{what}; {reask_label(rung.as_dict())} ({rung.why}); the answer went as it was")


def _ways(plan: ReaskPlan, form: BackendForm, tool: str | None) -> list[tuple[dict[str, Any], str, bool]]:
    """The requests to try, best first: constrained (unless this backend refused one), then plain."""
    ways: list[tuple[dict[str, Any], str, bool]] = []
    if plan.key not in plan.ladder.unconstrained:
        constrained = form.constrained(plan.body, tool=tool, server=plan.server)
        if constrained is not None:
            ways.append((constrained[0], constrained[1], True))
    pinned = form.pinned(plan.body, tool=tool)
    if pinned is not None:
        ways.append((pinned[0], pinned[1] + " (plain)", False))
    return ways


def _json(body: bytes) -> dict[str, Any] | None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) and "error" not in data else None


def _usage(u: Any) -> dict[str, Any] | None:
    if u is None:
        return None
    return {"input_tokens": u.input_tokens, "output_tokens": u.output_tokens, "cache_read_input_tokens": u.cached_tokens,
            "prompt_ms": u.prompt_ms, "decode_ms": u.decode_ms}


async def _ask(run: _Run, processor: StreamProcessor, body: dict[str, Any], how: str, constrained: bool, *, n: int,
               streaming: bool) -> Attempt:
    """Send one re-ask and read its whole answer, pinging the client while the backend is silent."""
    job, p, tell = run.job, run.p, run.tell
    data = orjson.dumps(body)
    attempt = Attempt(n, how, constrained, RequestSnapshot(method=job.method, path=job.url, url=job.url,
                                                           headers=list(job.headers), body=data, json=body,
                                                           content_type="application/json"))
    tell.attempt(run.ex, attempt)
    send = asyncio.ensure_future(p.client.send(job.method, job.url, _whole_headers(job.headers), data))
    response = None
    try:
        response = await _pinging(run, processor, send, streaming=streaming)
        attempt.status, attempt.headers = response.status, list(response.headers)
        pieces: list[bytes] = []
        size = 0
        while True:
            piece = await _pinging(run, processor, response.read(), streaming=streaming)
            if piece is None:
                break
            pieces.append(piece)
            size += len(piece)
            if size > _LIMIT:
                raise BackendFailure(f"an answer larger than {_LIMIT >> 20} MB", kind="malformed", answered=True)
        attempt.body = b"".join(pieces)
    except BackendFailure as e:
        attempt.error = f"the backend failed: {e}"
    finally:
        if not send.done():
            send.cancel()
        elif response is None and not send.cancelled() and send.exception() is None:
            response = send.result()  # answered just as we were cancelled
        if response is not None:
            response.close()  # back to the pool when read whole, else closed: the backend stops
        tell.attempt(run.ex, attempt)
    return attempt


async def _pinging[T](run: _Run, processor: StreamProcessor, work: Awaitable[T], *, streaming: bool) -> T:
    """``work``'s result; while it takes, a keep-alive ping to a streaming client every ping_interval.
    ``BackendResponse.read`` is cancel-safe, so waiting on it in steps loses nothing."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=run.p.ping_interval)
            if done:
                return task.result()
            if streaming:
                run.write(processor.keepalive())
    finally:
        if not task.done():
            task.cancel()


def _whole_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The first attempt's headers, asking for a whole JSON answer."""
    return [(k, "application/json" if k.lower() == "accept" else v) for k, v in headers]
