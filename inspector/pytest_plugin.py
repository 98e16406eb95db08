"""pytest plugin (registered as ``inspector`` through the ``pytest11`` entry point).

Fixtures for projects that test against recorded Claude Code / Anthropic traffic:

``anthropic_replay(path, speed=0, chaos=None)``
    Serves a recording directory (or one session folder) as an Anthropic-compatible base
    URL for the test — point ``ANTHROPIC_BASE_URL`` or ``anthropic.Anthropic(base_url=…)``
    at the returned URL. Same matching rule as ``inspector replay``; no mitmproxy needed.
    ``chaos="429@#1,seed=7"`` makes answers fail on purpose as ``inspector replay --chaos``
    does (grammar: the README, "Replay that fails on purpose"); ``anthropic_replay.faults`` lists what was injected.

``translation_regression(path)``
    Re-runs today's translator over every recorded translated exchange under ``path`` and
    fails with a readable diff if the backend request or what the client was sent changed.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .recording import Chaos, ChaosSpec, Fault, ReplayIndex, SessionRecord, list_sessions, retranslate
from .recording._play import as_requested, serve, wants_stream
from .transport import Reply, Request, ThreadedServer

__all__ = ["Checked", "RecordingServer", "anthropic_replay", "translation_regression"]


def _sessions(path: Path) -> list[SessionRecord]:
    path = Path(path)
    if (path / "session.json").exists():
        return [s for s in list_sessions(path.parent) if s.path == path]
    return list_sessions(path)


class RecordingServer:
    """A loopback HTTP server answering from recordings (``with RecordingServer(path) as url:``).

    The same matching and the same answers as ``inspector replay``, without mitmproxy; ``chaos``
    injects faults as ``inspector replay --chaos`` does (``faults``: what was injected, in order)."""

    def __init__(self, path: Path | str, *, speed: float = 0.0, chaos: str | ChaosSpec | None = None) -> None:
        self.index = ReplayIndex(_sessions(Path(path)))
        for why in self.index.refused:  # a recording format this version does not read: never replayed
            warnings.warn(f"replay: {why}", stacklevel=3)
        if self.index.refused and not self.index.count:
            raise ValueError(f"{path}: nothing to replay — {self.index.refused[0]}")
        self.speed = speed
        self.chaos = Chaos(chaos) if chaos else None
        self.misses: list[str] = []
        self._server = ThreadedServer(self._serve)

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def faults(self) -> list[Fault]:
        return list(self.chaos.injected) if self.chaos is not None else []

    async def _serve(self, request: Request, reply: Reply) -> None:
        chaos = self.chaos
        decision = chaos.decide(request.method, request.target) if chaos is not None else None
        fault = None
        if chaos is not None and decision is not None and decision.replaces:
            answer, fault = chaos.inject(decision, None)
        else:
            answer = self.index.answer(request.method, request.target, request.body)
            if answer.miss:
                self.misses.append(answer.miss)
            answer = as_requested(answer, stream=wants_stream(request.body))
            if chaos is not None and decision is not None:
                answer, fault = chaos.inject(decision, answer)
        await serve(answer, reply, speed=self.speed, fault=fault)

    def __enter__(self) -> str:
        return self._server.start()

    def __exit__(self, *exc: object) -> None:
        self._server.stop()


class _Replays:
    """What the ``anthropic_replay`` fixture gives: call it for a base URL; ``faults`` lists the chaos
    faults injected by every server it started, in order."""

    def __init__(self) -> None:
        self.servers: list[RecordingServer] = []

    def __call__(self, path: Path | str, *, speed: float = 0.0, chaos: str | None = None) -> str:
        server = RecordingServer(path, speed=speed, chaos=chaos)
        self.servers.append(server)
        return server.__enter__()

    @property
    def faults(self) -> list[Fault]:
        return [f for server in self.servers for f in server.faults]


@pytest.fixture
def anthropic_replay() -> Iterator[Callable[..., str]]:
    """``url = anthropic_replay("recordings/SESSION", speed=0, chaos=None)``: an Anthropic base URL."""
    replays = _Replays()
    yield replays
    for server in replays.servers:
        server.__exit__(None, None, None)


class Checked(int):
    """How many exchanges ``translation_regression`` checked; ``skipped`` says what it left out."""

    skipped: list[str]

    def __new__(cls, value: int, skipped: list[str]) -> Checked:
        self = super().__new__(cls, value)
        self.skipped = skipped
        return self


@pytest.fixture
def translation_regression(request: pytest.FixtureRequest) -> Callable[[Path | str], int]:
    """``translation_regression("recordings")``: fails with a diff if a recorded translation changed;
    returns how many exchanges it checked. An exchange the gateway ended itself (the client went
    away, the gateway stopped, the backend cut the stream) is checked as far as it went; what was
    left out is in the returned count's ``skipped`` and in the test's report."""

    def check(path: Path | str) -> int:
        checked, failures, skipped = 0, [], []
        for session in _sessions(Path(path)):
            for exchange in session.exchanges():
                if why := exchange.schema_problem:  # never compared as if it were ours
                    failures.append(why)
                    continue
                result = retranslate(exchange)
                checked += result.checked
                if result.skipped:
                    skipped.append(f"{exchange.ref}: not compared: {result.skipped}")
                if result.checked and not result.same:
                    failures.append(f"{exchange.ref}:\n{result.diff}")
        if skipped:
            request.node.add_report_section("call", "translation_regression skipped", "\n".join(skipped))
        if failures:
            pytest.fail("the translation of recorded traffic changed:\n\n" + "\n\n".join(failures), pytrace=False)
        return Checked(checked, skipped)

    return check
