"""Many agents, one backend: the per-backend queue.

Claude Code runs its main conversation, parallel subagents (the Agent and Workflow tools) and side
requests (titles, summaries, quota probes) at once, each with a long prompt of its own; a local
backend has one to four slots, and each switch between conversations makes it read a prefix again.
The pipeline asks this queue for a turn right before it calls the backend:

* at most ``capacity`` requests are at the backend at once (``--set backend_concurrency``, or what
  the backend says: llama.cpp ``/props`` ``total_slots``, ``OLLAMA_NUM_PARALLEL`` where it is set,
  else one for a local server and no limit for a remote one — ``concurrency()``);
* the others wait here, the main conversation first, then subagents, then side traffic (``Rank``);
  within a class each conversation (a session's main thread, one subagent, one kind of side request)
  takes its turn, the one served longest ago first;
* prompt caches stay warm: each slot remembers whose prefix it holds. Where the backend lets the
  gateway choose (llama.cpp ``id_slot``), a request goes to the slot holding its conversation's
  prefix; and after an answer that asks for a tool (``goes_on``; not one that starts subagents, whose
  requests come first), the conversation's slot is kept for it for ``hold`` seconds (its next
  request usually follows within milliseconds) instead of going to a
  waiting conversation whose prefix would replace it — at most ``STREAK`` times in a row while
  others wait, and never against a better class. A waiter whose conversation's prefix is in a free
  slot may go before the one whose turn it is, at most ``PATIENCE`` times per waiter.

``Scheduler`` is the decision, sans I/O (time is passed in): tests drive it step by step.
``BackendQueue`` is its asyncio front (``enter``/``leave``, or ``async with queue.slot(claim)`` for any
other backend call — ``held=`` the turn an exchange already has, for a second call within it such as a
repair's re-ask); ``Queues`` keeps one per backend; ``QueueOptions`` is the addon that reads the options.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import ipaddress
import itertools
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import orjson
from mitmproxy import addonmanager, ctx, exceptions

from ..protocol import GatewayError, ModelFacts, get_form

if TYPE_CHECKING:
    from .exchange import Exchange

__all__ = ["AGENT_TOOLS", "PATIENCE", "STREAK", "BackendQueue", "Claim", "Concurrency", "Entry", "Overloaded", "QueueOptions",
           "Queues", "Rank", "Scheduler", "Ticket", "claim_of", "concurrency", "goes_on", "is_local", "with_slot"]

#: Held grants in a row a conversation may get while others wait for its slot.
STREAK = 4
#: Times a waiter may be passed over by one whose prefix is in the free slot.
PATIENCE = 2


class Rank(enum.IntEnum):
    """The order classes are served in: lower first."""

    MAIN = 0
    SUBAGENT = 1
    SIDE = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Claim:
    """Who asks: ``owner`` is the conversation whose prefix the request carries (fairness and cache
    affinity key); ``rank`` its class."""

    owner: str
    rank: Rank


def claim_of(ex: Exchange) -> Claim:
    """The main conversation, a subagent (Claude Code's ``x-claude-code-agent-id``), or side traffic
    (titles, summaries, quota probes: ``purpose``). A client that names no session is told apart by
    how its conversation begins (system prompt and first message: what stays as it grows)."""
    session = ex.session_id or _opening(ex)
    if ex.purpose == "subagent":
        return Claim(f"{session}/agent/{ex.agent_id}", Rank.SUBAGENT)
    if ex.purpose == "main":
        return Claim(f"{session}/main", Rank.MAIN)
    return Claim(f"{session}/{ex.purpose}", Rank.SIDE)


#: Claude Code's tools that start subagents: a conversation that called one waits for them (their
#: requests come first), so its slot is not kept for it.
AGENT_TOOLS = frozenset({"Agent", "Task", "Workflow"})


def goes_on(ex: Exchange) -> bool:
    """Whether ``ex``'s conversation sends its next request at once: its answer, whole and delivered,
    asked for a tool that runs in Claude Code (not one that starts subagents)."""
    if ex.incomplete is not None or ex.client_status != 200:
        return False
    result = ex.result()
    names = {str(c.get("name")) for c in result.tool_calls or []}
    return result.stop_reason == "tool_use" and not names & AGENT_TOOLS


def _opening(ex: Exchange) -> str:
    body = ex.client_request.get("json") if ex.client_request else None
    if not isinstance(body, dict):
        return "-"
    messages = body.get("messages")
    first = messages[0] if isinstance(messages, list) and messages else None
    try:
        blob = orjson.dumps([body.get("system"), first])
    except TypeError:
        return "-"
    return "conversation:" + hashlib.sha256(blob).hexdigest()[:16]


TicketState = Literal["waiting", "granted", "done", "gone"]


@dataclass(eq=False, slots=True)
class Ticket:
    claim: Claim
    seq: int
    arrived: float
    #: Requests waiting ahead of it when it arrived (0: it was let through at once).
    ahead: int = 0
    state: TicketState = "waiting"
    slot: int | None = None
    granted_at: float | None = None
    #: Its slot held its conversation's prefix (as far as the gateway knows).
    warm: bool = False
    #: It came back to a slot kept for it.
    held: bool = False
    #: Times a warm waiter went first.
    passed: int = 0
    #: Its arrival and its grant in the queue's one sequence of events (which came first, for tests
    #: and readers: a request waited behind another granted between its arrival and its grant).
    arrival: int = 0
    grant: int | None = None

    @property
    def wait(self) -> float | None:
        return None if self.granted_at is None else max(0.0, self.granted_at - self.arrived)


@dataclass(slots=True)
class _Slot:
    owner: str | None = None  # whose prefix it holds (the last conversation it served)
    ticket: Ticket | None = None  # the request it serves now
    used: int = -1  # when it was last granted (a counter)
    hold_owner: str | None = None
    hold_rank: Rank = Rank.SIDE
    hold_until: float = 0.0


class Scheduler:
    """Which waiting request goes next, and to which slot. Pure: every call says what time it is;
    ``arrive``/``cancel``/``release``/``expire`` return the tickets granted by that event."""

    def __init__(self, capacity: int, *, hold: float = 0.0) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.hold = hold
        self._capacity = capacity
        self.slots = [_Slot() for _ in range(capacity)]
        self.waiting: list[Ticket] = []
        self._seq = itertools.count()
        self._grants = itertools.count()
        self._events = itertools.count(1)
        self._served: dict[str, int] = {}  # owner → when it was last granted (a counter)
        self._streak: dict[str, int] = {}

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def busy(self) -> int:
        return sum(s.ticket is not None for s in self.slots)

    def arrive(self, claim: Claim, now: float) -> tuple[Ticket, list[Ticket]]:
        ticket = Ticket(claim, next(self._seq), now, ahead=len(self.waiting), arrival=next(self._events))
        self.waiting.append(ticket)
        return ticket, self._dispatch(now)

    def cancel(self, ticket: Ticket, now: float) -> list[Ticket]:
        """A waiting request leaves (its client went away, or it waited too long)."""
        if ticket.state == "waiting":
            self.waiting.remove(ticket)
            ticket.state = "gone"
        return self._dispatch(now)

    def release(self, ticket: Ticket, now: float, *, more: bool = False) -> list[Ticket]:
        """The backend is done with ``ticket``'s request. ``more``: its conversation goes on at once
        (the answer asked for a tool), so its slot is kept for it for ``hold`` seconds."""
        if ticket.state == "waiting":
            return self.cancel(ticket, now)
        if ticket.state != "granted":
            return []
        ticket.state = "done"
        assert ticket.slot is not None
        slot = self.slots[ticket.slot]
        slot.ticket = None
        self._trim()
        owner = ticket.claim.owner
        if more and self.hold > 0 and ticket.claim.rank < Rank.SIDE and self._streak.get(owner, 0) < STREAK:
            slot.hold_owner, slot.hold_rank, slot.hold_until = owner, ticket.claim.rank, now + self.hold
        else:
            self._streak.pop(owner, None)
        return self._dispatch(now)

    def expire(self, now: float) -> list[Ticket]:
        """Holds that ran out free their slots."""
        return self._dispatch(now)

    def next_deadline(self) -> float | None:
        """When the next hold runs out (None: none is pending)."""
        times = [s.hold_until for s in self.slots if s.hold_owner is not None and s.ticket is None]
        return min(times) if times else None

    def resize(self, capacity: int, now: float) -> list[Ticket]:
        """A new limit (the backend said how many slots it has): more slots, or fewer as they free."""
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._capacity = capacity
        while len(self.slots) < capacity:
            self.slots.append(_Slot())
        self._trim()
        return self._dispatch(now)

    def _trim(self) -> None:
        """Slots beyond a smaller capacity go once free (a busy one finishes: never interrupted)."""
        while len(self.slots) > self._capacity and self.slots[-1].ticket is None:
            self.slots.pop()

    def holder(self, slot: int) -> str | None:
        """Whose prefix ``slot`` holds, as far as the gateway knows."""
        return self.slots[slot].owner

    # -- the decision ----------------------------------------------------------------------------
    def _open(self, slot: _Slot, claim: Claim, now: float, index: int) -> bool:
        """Whether ``claim`` may take ``slot`` now."""
        if slot.ticket is not None or index >= self._capacity:
            return False
        if slot.hold_owner is None:
            return True
        if slot.hold_until <= now:
            slot.hold_owner = None
            return True
        return claim.owner == slot.hold_owner or claim.rank < slot.hold_rank

    def _dispatch(self, now: float) -> list[Ticket]:
        granted = []
        while self.waiting:
            choice = self._pick(now)
            if choice is None:
                break
            ticket, index = choice
            self._grant(ticket, index, now)
            granted.append(ticket)
        return granted

    def _free_for(self, claim: Claim, now: float) -> list[int]:
        return [i for i, s in enumerate(self.slots) if self._open(s, claim, now, i)]

    def _pick(self, now: float) -> tuple[Ticket, int] | None:
        able = [(t, free) for t in self.waiting if (free := self._free_for(t.claim, now))]
        if not able:
            return None
        best = min(t.claim.rank for t, _ in able)
        fair = sorted(((t, free) for t, free in able if t.claim.rank == best),
                      key=lambda tf: (self._served.get(tf[0].claim.owner, -1), tf[0].seq))
        chosen = fair[0]
        for position, (t, free) in enumerate(fair):
            if self._warm_slot(t.claim, free) is None:
                continue
            ahead = [other for other, _ in fair[:position]]
            if all(other.passed < PATIENCE for other in ahead):
                for other in ahead:
                    other.passed += 1
                chosen = (t, free)
            break
        ticket, free = chosen
        return ticket, self._choose_slot(ticket.claim, free)

    def _warm_slot(self, claim: Claim, free: list[int]) -> int | None:
        """A free slot kept for ``claim``'s conversation, or holding its prefix."""
        for i in free:
            if self.slots[i].hold_owner == claim.owner:
                return i
        for i in free:
            if self.slots[i].owner == claim.owner:
                return i
        return None

    def _choose_slot(self, claim: Claim, free: list[int]) -> int:
        warm = self._warm_slot(claim, free)
        if warm is not None:
            return warm
        waiting = {t.claim.owner for t in self.waiting}
        # A slot nobody used, else the one whose prefix is least likely wanted soon: not a waiting
        # conversation's, then the least recently used.
        return min(free, key=lambda i: (self.slots[i].owner is not None, self.slots[i].owner in waiting,
                                        self.slots[i].used))

    def _grant(self, ticket: Ticket, index: int, now: float) -> None:
        slot = self.slots[index]
        owner = ticket.claim.owner
        ticket.held = slot.hold_owner == owner and slot.hold_until > now
        ticket.warm = slot.owner == owner
        self._streak[owner] = self._streak.get(owner, 0) + 1 if ticket.held else 0
        slot.hold_owner = None
        slot.ticket = ticket
        slot.owner = owner
        slot.used = next(self._grants)
        self.waiting.remove(ticket)
        ticket.state, ticket.slot, ticket.granted_at, ticket.grant = "granted", index, now, next(self._events)
        self._served[owner] = slot.used
        if len(self._served) > 4096:  # long-gone conversations are forgotten (their turns are old)
            for key in sorted(self._served, key=self._served.__getitem__)[:1024]:
                del self._served[key]


# -- the asyncio front ------------------------------------------------------------------------------

class Overloaded(Exception):
    """A request waited longer than ``timeout`` for a turn."""


@dataclass(eq=False, slots=True)
class Entry:
    """A request's place in the queue: ``granted`` resolves when it may call the backend."""

    queue: BackendQueue
    ticket: Ticket
    granted: asyncio.Future[Ticket]

    @property
    def slot(self) -> int | None:
        """The backend slot to ask for (llama.cpp ``id_slot``), when the gateway chooses slots."""
        return self.ticket.slot if self.queue.chooses_slots else None

    def facts(self) -> dict[str, Any]:
        """What exchange.json's ``queue`` says (SCHEMA.md)."""
        t = self.ticket
        wait = t.wait
        return {"wait_ms": round(wait * 1000, 1) if wait is not None else None, "ahead": t.ahead,
                "class": t.claim.rank.label, "slot": self.slot, "warm": t.warm,
                "held": t.held, "limit": self.queue.scheduler.capacity, "limit_source": self.queue.source,
                "arrival": t.arrival, "grant": t.grant}


class BackendQueue:
    """One backend's queue: ``entry = queue.enter(claim)``, ``await entry.granted``, the call, then
    ``queue.leave(entry, more=…)`` — or ``async with queue.slot(claim) as entry:``."""

    def __init__(self, capacity: int, *, source: str = "", chooses_slots: bool = False, hold: float = 0.0,
                 timeout: float = 600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.scheduler = Scheduler(capacity, hold=hold)
        self.source = source
        self.chooses_slots = chooses_slots
        self.timeout = timeout
        self.clock = clock
        self._entries: dict[int, Entry] = {}
        self._timer: asyncio.TimerHandle | None = None

    def enter(self, claim: Claim) -> Entry:
        loop = asyncio.get_running_loop()
        ticket, granted = self.scheduler.arrive(claim, self.clock())
        entry = Entry(self, ticket, loop.create_future())
        self._entries[id(ticket)] = entry
        self._settle(granted)
        return entry

    def leave(self, entry: Entry, *, more: bool = False) -> None:
        """Done (or gone): the slot frees — kept for the conversation when ``more``."""
        self._entries.pop(id(entry.ticket), None)
        self._settle(self.scheduler.release(entry.ticket, self.clock(), more=more))
        if not entry.granted.done():
            entry.granted.cancel()

    def resize(self, capacity: int, source: str) -> None:
        self.source = source
        if capacity != self.scheduler.capacity:
            self._settle(self.scheduler.resize(capacity, self.clock()))

    @asynccontextmanager
    async def slot(self, claim: Claim, *, more: Callable[[], bool] | None = None,
                   held: Entry | None = None) -> AsyncIterator[Entry]:
        """A turn at the backend for one call; ``Overloaded`` after ``timeout`` seconds of waiting.
        ``held``: a turn the caller already has (the pipeline's ``entry``, for a second call within the
        same exchange, such as a repair's re-ask) — used as it is, never asked for again (with one slot,
        asking again would wait for itself)."""
        if held is not None and held.queue is self and held.ticket.state == "granted":
            yield held
            return
        entry = self.enter(claim)
        try:
            try:
                async with asyncio.timeout(self.timeout):
                    await asyncio.shield(entry.granted)
            except TimeoutError:
                raise Overloaded() from None
            yield entry
        finally:
            self.leave(entry, more=bool(more and more()))

    @property
    def waiting(self) -> int:
        return len(self.scheduler.waiting)

    def status(self) -> dict[str, Any]:
        s = self.scheduler
        return {"limit": s.capacity, "limit_source": self.source, "busy": s.busy, "waiting": len(s.waiting),
                "chooses_slots": self.chooses_slots,
                "waiting_by_class": {r.label: sum(t.claim.rank == r for t in s.waiting) for r in Rank}}

    def _settle(self, granted: list[Ticket]) -> None:
        for ticket in granted:
            entry = self._entries.get(id(ticket))
            if entry is not None and not entry.granted.done():
                entry.granted.set_result(ticket)
        self._arm()

    def _arm(self) -> None:
        """A timer for the next hold to run out."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.scheduler.next_deadline()
        if deadline is not None and self.scheduler.waiting:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(max(0.0, deadline - self.clock()), self._expire)

    def _expire(self) -> None:
        self._timer = None
        self._settle(self.scheduler.expire(self.clock()))


def with_slot(body: bytes, slot: int) -> bytes:
    """A llama.cpp request body that asks for ``slot`` (``id_slot``) and its prompt cache
    (``cache_prompt``, llama-server's default, said so the choice means something)."""
    if body[:1] != b"{":
        return body
    rest = body[1:].lstrip()
    sep = b"" if rest[:1] == b"}" else b","
    return b'{"id_slot":%d,"cache_prompt":true' % slot + sep + rest


# -- how many at once -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Concurrency:
    limit: int | None  # None: no limit (no queue)
    source: str
    chooses_slots: bool = False


_LOCAL_SUFFIXES = (".localhost", ".local", ".lan", ".internal", ".home.arpa")


def is_local(url: str) -> bool:
    """A server on this machine or the local network: loopback and private addresses, ``localhost``,
    ``.local``/``.lan``/``.internal`` names and single-label names (a compose service, ``ollama``)."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost" or host.endswith(_LOCAL_SUFFIXES) or "." not in host
    return address.is_loopback or address.is_private or address.is_link_local


def concurrency(setting: str, backend: str, *, form: str, facts: ModelFacts | None,
                env: Mapping[str, str] | None = None) -> Concurrency:
    """How many requests may be at ``backend`` at once (``setting``: ``auto``, ``unlimited`` or N)."""
    env = os.environ if env is None else env
    slots = facts.slots if facts is not None else None
    # llama.cpp's id_slot means something with two slots or more (one: there is nothing to choose).
    speaks = get_form(form)
    llama = facts is not None and facts.server == "llama.cpp" and speaks.names_slots and (slots or 0) > 1
    if setting == "unlimited":
        return Concurrency(None, "--set backend_concurrency=unlimited")
    if setting != "auto":
        n = int(setting)
        return Concurrency(n, "--set backend_concurrency", chooses_slots=llama and slots is not None and n <= slots)
    if slots:
        return Concurrency(slots, "llama.cpp /props total_slots", chooses_slots=llama)
    if facts is not None and facts.server == "vllm":
        return Concurrency(None, "vllm (it batches and queues requests itself)")
    raw = env.get(speaks.parallel_env, "").strip() if speaks.parallel_env else ""
    if raw.isdigit() and int(raw) > 0 and is_local(backend):
        return Concurrency(int(raw), str(speaks.parallel_env))
    if is_local(backend):
        return Concurrency(1, "a local server (one request at a time unless it says more)")
    return Concurrency(None, "a remote server")


def parse_setting(raw: str) -> str:
    value = raw.strip().lower()
    if value in ("auto", "unlimited"):
        return value
    if value == "0":
        return "unlimited"
    if value.isdigit():
        return str(int(value))
    raise ValueError(f"backend_concurrency must be auto, unlimited or a number of requests, not {raw!r}")


class Queues:
    """One ``BackendQueue`` per backend, sized by ``concurrency()`` (resized when the backend says more)."""

    def __init__(self) -> None:
        self.setting = "auto"
        self.hold = 2.0
        self.timeout = 600.0
        self._queues: dict[str, BackendQueue] = {}

    def configure(self, *, setting: str | None = None, hold: float | None = None,
                  timeout: float | None = None) -> None:
        if setting is not None and setting != self.setting:
            self.setting = setting
            self._queues.clear()  # sized again, from the new setting, at the next request
        if hold is not None:
            self.hold = hold
            for q in self._queues.values():
                q.scheduler.hold = hold
        if timeout is not None:
            self.timeout = timeout
            for q in self._queues.values():
                q.timeout = timeout

    def queue_for(self, ex: Exchange) -> BackendQueue | None:
        """The queue of ``ex``'s backend, None when it takes any number of requests. Only Messages calls
        take a slot: a count_tokens or a model listing passed through never waits behind generations."""
        if ex.local or not ex.backend or ex.kind != "messages":
            return None
        decided = concurrency(self.setting, ex.backend, form=ex.form.name, facts=ex.facts)
        queue = self._queues.get(ex.backend)
        if decided.limit is None:
            if queue is not None and queue.scheduler.busy == 0 and not queue.waiting:
                del self._queues[ex.backend]
            return None
        if queue is None:
            queue = self._queues[ex.backend] = BackendQueue(
                decided.limit, source=decided.source, chooses_slots=decided.chooses_slots, hold=self.hold,
                timeout=self.timeout)
        else:
            queue.chooses_slots = decided.chooses_slots
            queue.resize(decided.limit, decided.source)
        return queue

    def status(self) -> dict[str, Any]:
        return {"setting": self.setting, "hold_s": self.hold, "timeout_s": self.timeout,
                "backends": {url: q.status() for url, q in self._queues.items()}}


def overloaded(queue: BackendQueue, backend: str) -> GatewayError:
    return GatewayError(529, "overloaded_error",
                        f"the backend at {backend} is busy: this request waited {queue.timeout:g} s in the "
                        f"gateway's queue ({queue.scheduler.capacity} at a time, {queue.source}; {queue.waiting} "
                        f"still waiting). Claude Code retries; --set queue_timeout=SECONDS waits longer, "
                        f"--set backend_concurrency=N lets more through", retry=True)


class QueueOptions:
    """The addon that reads the queue's options into the relay's pipeline."""

    def __init__(self, queues: Queues) -> None:
        self.queues = queues

    def load(self, loader: addonmanager.Loader) -> None:
        loader.add_option("backend_concurrency", str, "auto",
                          "Requests at the backend at once; more wait in the gateway (main conversation first, "
                          "then subagents, then side traffic). auto: llama.cpp's /props total_slots, "
                          "OLLAMA_NUM_PARALLEL when set, else 1 for a local server and no limit for a remote one; "
                          "unlimited (or 0): no queue.")
        loader.add_option("queue_timeout", str, "600",
                          "Seconds a request may wait in the gateway's queue before it is answered 529 "
                          "overloaded_error (Claude Code retries).")
        loader.add_option("queue_hold", str, "2",
                          "Seconds a conversation's backend slot is kept for it after an answer that asks for a "
                          "tool, so its next request finds its prompt cached (0: never).")

    def configure(self, updated: set[str]) -> None:
        o = ctx.options
        if "backend_concurrency" in updated:
            try:
                self.queues.configure(setting=parse_setting(o.backend_concurrency))
            except ValueError as e:
                raise exceptions.OptionsError(str(e)) from None
        if "queue_timeout" in updated:
            self.queues.configure(timeout=_seconds("queue_timeout", allow_zero=False))
        if "queue_hold" in updated:
            self.queues.configure(hold=_seconds("queue_hold", allow_zero=True))


def _seconds(name: str, *, allow_zero: bool) -> float:
    raw = getattr(ctx.options, name)
    try:
        value = float(raw)
    except ValueError:
        raise exceptions.OptionsError(f"{name} must be a number of seconds, not {raw!r}") from None
    if value < 0 or (value == 0 and not allow_zero) or value != value:
        raise exceptions.OptionsError(f"{name} must be {'>= 0' if allow_zero else '> 0'} seconds")
    return value
