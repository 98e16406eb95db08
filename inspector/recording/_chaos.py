"""Replay that fails on purpose: faults injected into replayed answers, each as the real API sends it.

``inspector replay DIR --chaos SPEC`` (``--set replay_chaos=SPEC``) and
``anthropic_replay(path, chaos=SPEC)``. The grammar (README, "Replay that fails on purpose")::

    SPEC  := ITEM ("," ITEM)*
    ITEM  := FAULT "@" WHEN | "seed=" INTEGER
    FAULT := KIND [":" NUMBER]
    WHEN  := RATE | "#" N ["-" M]        RATE in (0, 1]; N, M count Messages requests from 1, in arrival order

    429[:S]      HTTP 429 rate_limit_error, ``retry-after: S`` (default 1 s) and the rate-limit headers
    529          HTTP 529 overloaded_error ("Overloaded")
    500          HTTP 500 api_error ("Internal server error")
    cut[:N]      the connection dropped after N events of the answer (default: half of them)
    badjson      the first tool call's streamed arguments made invalid JSON (a string value unquoted)
    prefill[:S]  S seconds of silence before the response head (default 5)
    slow[:S]     S seconds between the events of a stream (default 0.5)

``429@0.2,529@#3,cut@0.1,seed=7``: a 429 on one Messages request in five, a 529 on the third, a cut on
one in ten. Every item draws from a generator of its own (seeded by the seed, 0 unless given, and the
item's place in the spec) on every Messages request, so a run repeats; the first listed item that
fires is the fault, one per request. Status faults carry ``request-id``, ``x-should-retry: true`` and
the Anthropic error body with its ``request_id``, as the API does; every injected answer says what it
is in ``x-inspector-chaos`` (a recording made through the gateway keeps it) and is logged. A fault that
cannot apply to an answer (``badjson`` on one without a streamed tool call, ``slow`` on a whole
answer) fires but changes nothing, and says so.
"""

from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

import orjson

from ..protocol import SSEDecoder, error_body, request_kind
from ._reader import Chunk
from ._replay import Answer

__all__ = ["Chaos", "ChaosRule", "ChaosSpec", "Decision", "Fault"]

#: kind → (what it is, its parameter's default, the parameter's meaning)
KINDS: dict[str, tuple[str, float | None, str]] = {
    "429": ("rate_limit_error", 1.0, "retry-after seconds"),
    "529": ("overloaded_error", None, ""),
    "500": ("api_error", None, ""),
    "cut": ("the connection dropped mid-answer", None, "events sent before the cut"),
    "badjson": ("malformed tool-call JSON", None, ""),
    "prefill": ("silence before the first byte", 5.0, "seconds"),
    "slow": ("a slow stream", 0.5, "seconds between events"),
}
STATUS = {"429": 429, "529": 529, "500": 500}
_MESSAGES = {"429": "This request would exceed your organization's rate limit of 50 requests per minute. For details, "
                    "refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for "
                    "current usage; try again later.",
             "529": "Overloaded", "500": "Internal server error"}
_ITEM = re.compile(r"^(?P<kind>[a-z0-9]+)(?::(?P<value>[0-9.]+)s?)?@(?P<when>#\d+(?:-\d+)?|[0-9.]+)$")
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


@dataclass(frozen=True, slots=True)
class ChaosRule:
    """One item of a spec: a fault, and when it fires."""

    kind: str
    value: float | None
    rate: float | None = None
    first: int | None = None
    last: int | None = None

    def fires(self, number: int, draw: float) -> bool:
        if self.rate is not None:
            return draw < self.rate
        assert self.first is not None and self.last is not None
        return self.first <= number <= self.last

    def __str__(self) -> str:
        value = "" if self.value is None or self.value == KINDS[self.kind][1] else f":{self.value:g}"
        when = f"{self.rate:g}" if self.rate is not None else \
            f"#{self.first}" + (f"-{self.last}" if self.last != self.first else "")
        return f"{self.kind}{value}@{when}"


@dataclass(frozen=True, slots=True)
class ChaosSpec:
    rules: tuple[ChaosRule, ...]
    seed: int = 0

    @classmethod
    def parse(cls, text: str) -> ChaosSpec:
        """Raises ``ValueError`` saying what is wrong and what the grammar is."""
        rules: list[ChaosRule] = []
        seed = 0
        for raw in text.split(","):
            item = raw.strip().lower()
            if not item:
                continue
            if item.startswith("seed="):
                try:
                    seed = int(item[5:])
                except ValueError:
                    raise ValueError(f"chaos: {raw.strip()!r}: the seed must be an integer") from None
                continue
            m = _ITEM.match(item)
            if m is None or m.group("kind") not in KINDS:
                raise ValueError(f"chaos: {raw.strip()!r} is not FAULT@WHEN — FAULT one of {', '.join(KINDS)} "
                                 f"(429:S, cut:N, prefill:S, slow:S take a number), WHEN a rate (0.2) or "
                                 f"Messages requests (#3, #2-4); e.g. 429@0.2,529@#3,cut@0.1,seed=7")
            kind, value, when = m.group("kind"), m.group("value"), m.group("when")
            number = float(value) if value is not None else KINDS[kind][1]
            if value is not None and not KINDS[kind][2]:
                raise ValueError(f"chaos: {raw.strip()!r}: {kind} takes no parameter")
            if kind == "cut" and number is not None and (number < 1 or number != int(number)):
                raise ValueError(f"chaos: {raw.strip()!r}: cut:N needs a whole number of events, at least 1")
            if when.startswith("#"):
                first, _, last = when[1:].partition("-")
                lo, hi = int(first), int(last or first)
                if lo < 1 or hi < lo:
                    raise ValueError(f"chaos: {raw.strip()!r}: Messages requests are numbered from 1 (#1, #2-4)")
                rules.append(ChaosRule(kind, number, first=lo, last=hi))
            else:
                rate = float(when)
                if not 0 < rate <= 1:
                    raise ValueError(f"chaos: {raw.strip()!r}: a rate is a share of requests, in (0, 1]")
                rules.append(ChaosRule(kind, number, rate=rate))
        if not rules:
            raise ValueError(f"chaos: {text!r} names no fault (e.g. 429@0.2,529@#3,seed=7)")
        return cls(tuple(rules), seed)

    def __str__(self) -> str:
        return ",".join([*map(str, self.rules), f"seed={self.seed}"])


@dataclass(frozen=True, slots=True)
class Decision:
    """The fault drawn for one Messages request (``number``, from 1 in arrival order)."""

    number: int
    rule: ChaosRule

    @property
    def replaces(self) -> bool:
        """A status fault: the answer is the error, the recording is not consulted."""
        return self.rule.kind in STATUS


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault as injected: what, on which Messages request, and how ``play`` carries it out."""

    kind: str
    number: int
    detail: str
    #: False: it fired on an answer it cannot apply to (it changed nothing).
    applied: bool = True
    silence: float = 0.0  # seconds before the response head
    gap: float = 0.0  # seconds between events
    cut_after: int | None = None  # events (a whole answer: bytes) sent before the connection drops

    def __str__(self) -> str:
        what = f"{self.kind} on Messages request #{self.number} ({self.detail})"
        return what if self.applied else f"{what}: not injected"


class Chaos:
    """The faults of a spec, drawn request by request (thread-safe: the pytest fixture's server
    answers from several threads). ``injected`` lists every fault that fired, in order."""

    def __init__(self, spec: ChaosSpec | str) -> None:
        self.spec = spec if isinstance(spec, ChaosSpec) else ChaosSpec.parse(spec)
        seed = self.spec.seed
        self._draws = [random.Random(f"{seed}:{i}:{rule.kind}") for i, rule in enumerate(self.spec.rules)]
        self._ids = random.Random(f"{seed}:request-id")
        self._lock = threading.Lock()
        self.count = 0
        self.injected: list[Fault] = []

    def decide(self, method: str, path: str) -> Decision | None:
        """Call once per request, as it arrives: a Messages request is counted and its fault drawn
        (None: no fault); other requests (count_tokens, models, telemetry) are never faulted."""
        if request_kind(method, path) != "messages":
            return None
        with self._lock:
            self.count += 1
            draws = [rng.random() for rng in self._draws]  # every item draws: one's result never shifts another's
            for rule, draw in zip(self.spec.rules, draws, strict=True):
                if rule.fires(self.count, draw):
                    return Decision(self.count, rule)
        return None

    def _request_id(self) -> str:
        with self._lock:
            return "req_011C" + "".join(self._ids.choice(_BASE58) for _ in range(20))

    def inject(self, decision: Decision, answer: Answer | None) -> tuple[Answer, Fault]:
        """``answer`` with the fault in it (a status fault: the error answer itself; ``answer`` may be None)."""
        rule, n = decision.rule, decision.number
        if decision.replaces:
            answer, fault = self._status(rule, n)
        else:
            assert answer is not None
            answer, fault = _stream_fault(rule, n, answer)
        with self._lock:
            self.injected.append(fault)
        if fault.applied:
            answer = replace(answer, headers=[*answer.headers,
                                              ("x-inspector-chaos", f"{fault} seed={self.spec.seed}")])
        return answer, fault

    def _status(self, rule: ChaosRule, n: int) -> tuple[Answer, Fault]:
        status = STATUS[rule.kind]
        rid = self._request_id()
        body = error_body(KINDS[rule.kind][0], _MESSAGES[rule.kind]) | {"request_id": rid}
        headers = [("content-type", "application/json"), ("request-id", rid), ("x-should-retry", "true")]
        detail = f"HTTP {status} {KINDS[rule.kind][0]}"
        if rule.kind == "429":
            wait = rule.value or 1.0
            seconds = max(1, round(wait))
            reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + wait))
            headers += [("retry-after", str(seconds)), ("anthropic-ratelimit-requests-limit", "50"),
                        ("anthropic-ratelimit-requests-remaining", "0"), ("anthropic-ratelimit-requests-reset", reset)]
            detail += f", retry-after {seconds} s"
        return Answer(status, headers, [Chunk(0.0, orjson.dumps(body))]), Fault(rule.kind, n, detail)


# -- faults inside an answer ------------------------------------------------------------------------
def _events(answer: Answer) -> list[tuple[float | None, str | None, str]]:
    """(time, event name, data) of each event of a streamed answer, timed by the chunk that ended it."""
    dec = SSEDecoder()
    out = []
    for chunk in answer.chunks:
        out += [(chunk.t, e.event, e.data) for e in dec.decode(chunk.data) if e.comment is None]
    out += [(None, e.event, e.data) for e in dec.flush() if e.comment is None]
    return out


def _encode(name: str | None, data: str) -> bytes:
    head = f"event: {name}\n" if name else ""
    return (head + "".join(f"data: {line}\n" for line in data.split("\n")) + "\n").encode()


def _per_event(events: list[tuple[float | None, str | None, str]]) -> list[Chunk]:
    return [Chunk(t, _encode(name, data)) for t, name, data in events]


def malformed(arguments: Any) -> str:
    """A tool call's arguments written as a model gets them wrong: its first string value unquoted
    (``{"file_path": /tmp/a.txt}``), or a dangling comma when it has none — never valid JSON."""
    if not isinstance(arguments, dict) or not arguments:
        return "{,}"
    parts = []
    unquoted = False
    for key, value in arguments.items():
        text = orjson.dumps(value).decode()
        if isinstance(value, str) and not unquoted:
            text, unquoted = value, True
        parts.append(f"{orjson.dumps(str(key)).decode()}: {text}")
    return "{" + ", ".join(parts) + ("}" if unquoted else ",}")


def _break_tool_json(events: list[tuple[float | None, str | None, str]]) -> list[tuple[float | None, str | None, str]] | None:
    """The events with the first tool call's argument deltas replaced by malformed JSON (None: no tool call)."""
    index = None
    pieces: list[str] = []
    positions: list[int] = []
    for i, (_, name, data) in enumerate(events):
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(payload, dict):
            continue
        block = payload.get("content_block")
        if index is None and name == "content_block_start" and isinstance(block, dict) and block.get("type") == "tool_use":
            index = payload.get("index")
        elif index is not None and name == "content_block_delta" and payload.get("index") == index:
            delta = payload.get("delta") or {}
            if delta.get("type") == "input_json_delta":
                pieces.append(str(delta.get("partial_json", "")))
                positions.append(i)
    if index is None or not positions:
        return None
    try:
        arguments = orjson.loads("".join(pieces) or "{}")
    except orjson.JSONDecodeError:
        arguments = {}
    broken = malformed(arguments)
    out = [e for i, e in enumerate(events) if i not in positions[1:]]
    t, name, _ = events[positions[0]]
    out[positions[0]] = (t, name, orjson.dumps({"type": "content_block_delta", "index": index,
                                                "delta": {"type": "input_json_delta", "partial_json": broken}}).decode())
    return out


def _stream_fault(rule: ChaosRule, n: int, answer: Answer) -> tuple[Answer, Fault]:
    kind = rule.kind
    if kind == "prefill":
        silence = rule.value or 0.0
        return answer, Fault(kind, n, f"{silence:g} s of silence before the first byte", silence=silence)
    if not answer.streamed:
        if kind == "cut":
            size = len(answer.body)
            cut = int(rule.value) if rule.value is not None else size // 2
            return answer, Fault(kind, n, f"the connection dropped after {min(cut, size)} of {size} bytes",
                                 cut_after=min(cut, size))
        return answer, Fault(kind, n, "a whole (not streamed) answer", applied=False)
    events = _events(answer)
    if kind == "cut":
        cut = min(int(rule.value) if rule.value is not None else max(1, len(events) // 2), len(events))
        answer = replace(answer, chunks=_per_event(events))
        return answer, Fault(kind, n, f"the connection dropped after {cut} of {len(events)} events", cut_after=cut)
    if kind == "slow":
        gap = rule.value or 0.0
        return replace(answer, chunks=_per_event(events)), Fault(kind, n, f"{gap:g} s between events", gap=gap)
    broken = _break_tool_json(events)  # badjson
    if broken is None:
        return answer, Fault(kind, n, "the answer has no streamed tool call", applied=False)
    return replace(answer, chunks=_per_event(broken)), Fault(kind, n, "the first tool call's arguments are not JSON")
