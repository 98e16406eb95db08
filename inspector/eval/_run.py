"""An evaluation: every turn sent to every candidate, scored as it comes back.

Models are evaluated one after another (a local server holds one model at a time), each against
every turn in order; ``concurrency`` turns of one model are in flight at once (1, the default,
keeps each session's turns in the order a prompt cache sees them). A turn that fails — the
candidate down, an error answer, a bug of ours — is scored as that error, never a crash. What was
scored is kept in ``EvalRun.scores`` as it comes: a Ctrl-C leaves everything scored so far there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..recording import RecordingStore, utc_iso
from ._candidate import Candidate, CandidateClient, Outcome
from ._score import ModelSummary, TurnScore, score, summarise
from ._turns import SKIP_REASONS, Turn, TurnSet

__all__ = ["SCHEMA", "EvalRun", "run_eval"]

#: The ``--json`` document's version (inspector/eval/SCHEMA.md).
SCHEMA = "inspector.eval/1"

log = logging.getLogger("inspector")


@dataclass(slots=True)
class EvalRun:
    turns: TurnSet
    candidates: list[Candidate]
    scores: list[TurnScore] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    finished: float | None = None
    #: False until every turn was scored for every candidate (a Ctrl-C leaves it False).
    complete: bool = False
    record_dir: str | None = None

    @property
    def models(self) -> list[str]:
        return [c.model for c in self.candidates]

    @property
    def total(self) -> int:
        """Turns to score, over all candidates."""
        return len(self.turns.turns) * len(self.candidates)

    def ordered(self) -> list[TurnScore]:
        """The scores by model (in the order given) then turn."""
        rank = {m: i for i, m in enumerate(self.models)}
        return sorted(self.scores, key=lambda s: (rank.get(s.model, len(rank)), s.turn))

    def summaries(self) -> list[ModelSummary]:
        return summarise(self.ordered(), self.models)

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` document (inspector/eval/SCHEMA.md)."""
        return {
            "schema": SCHEMA, "generator": f"claude-code-inspector {__version__}", "complete": self.complete,
            "started": utc_iso(self.started), "finished": utc_iso(self.finished) if self.finished else None,
            "sessions": self.turns.sessions, "candidates": [c.as_dict() for c in self.candidates],
            "record_dir": self.record_dir,
            "skipped": {reason: self.turns.skipped.get(reason, 0) for reason in SKIP_REASONS},
            "turns": [t.as_dict() for t in self.turns.turns],
            "results": [s.as_dict() for s in self.ordered()],
            "summary": [m.as_dict() for m in self.summaries()],
        }


def _failed(e: BaseException, started: float) -> Outcome:
    """A turn the evaluation itself failed on (a bug of ours): scored as that error."""
    log.exception("eval: scoring a turn failed")
    return Outcome(None, None, {"type": "eval_error", "message": f"the evaluation failed on this turn "
                                                               f"({type(e).__name__}: {e})"},
                   {}, round((time.monotonic() - started) * 1000, 1))


async def _one_model(run: EvalRun, candidate: Candidate, *, concurrency: int, store: RecordingStore | None,
                     idle_timeout: float, on_score: Callable[[TurnScore], None]) -> None:
    queue: asyncio.Queue[Turn] = asyncio.Queue()
    for turn in run.turns.turns:
        queue.put_nowait(turn)
    async with CandidateClient(candidate, record=store, idle_timeout=idle_timeout) as client:
        async def worker() -> None:
            while not queue.empty():
                turn = queue.get_nowait()
                started = time.monotonic()
                try:
                    outcome = await client.answer(turn)
                except Exception as e:  # noqa: BLE001 - one turn's failure is its score, never the run's end
                    outcome = _failed(e, started)
                result = score(turn, outcome, candidate.model)
                run.scores.append(result)
                on_score(result)

        await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))


async def run_eval(run: EvalRun, *, concurrency: int = 1, record: Path | None = None, idle_timeout: float = 600.0,
                   on_score: Callable[[TurnScore], None] = lambda s: None) -> EvalRun:
    """Score every turn of ``run`` for every candidate; ``run.scores`` fills as it goes."""
    store = RecordingStore(record, threaded=True, report=log.warning) if record is not None else None
    run.record_dir = str(record) if record is not None else None
    try:
        for candidate in run.candidates:
            await _one_model(run, candidate, concurrency=concurrency, store=store, idle_timeout=idle_timeout,
                             on_score=on_score)
        run.complete = True
    finally:
        run.finished = time.time()
        if store is not None:
            store.flush()
    return run
