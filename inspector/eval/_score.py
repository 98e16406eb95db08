"""Scoring: a candidate's answer to one recorded turn against the recorded answer. Pure functions, no I/O.

Per turn (``TurnScore``): answered or not (and the error); for a turn whose recorded answer called
a tool (``ToolScore``) — was a call made, was it well-formed as the candidate sent it, which repairs
the gateway made (the rules of its repair notes), the same tools, equivalent arguments, the same
stop reason; for a text turn (``TextScore``) — how similar the text is; the timings the backend gave
and its prompt cache (``Timings``, ``Cache``). Per model (``ModelSummary``): the shares and the p50s.

How arguments are compared (``normalise``): objects by key whatever their order; strings with every
run of whitespace made one space and the ends trimmed; a path (a value under a key naming a path —
``file_path``, ``path``, ``notebook_path``, ``cwd``, ``dir`` … — or a string starting with ``/``,
``./``, ``../`` or ``~/``) made absolute against the recorded working directory and normalised
(``a/./b/../c`` is ``a/c``, no trailing slash), the working directory itself written ``<cwd>``; lists
in order; numbers by value (``1`` equals ``1.0``); ``true`` never equals ``1``. Text similarity is
``difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()`` over the two texts' words
(whitespace-split): 2·matches / (words in both), 1.0 for identical texts.
"""

from __future__ import annotations

import difflib
import posixpath
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..recording import ExchangeMeta, quantile
from ._candidate import Outcome
from ._turns import AnswerDigest, ToolCall, Turn

__all__ = [
    "TOOL_RULES", "Cache", "ModelSummary", "TextScore", "Timings", "ToolScore", "TurnScore", "arguments_equivalent",
    "normalise", "score", "similarity", "summarise",
]

#: Note rule families that are about the tool calls (protocol/_notes.py, recording/SCHEMA.md ``notes``).
TOOL_RULES = ("text-call:", "tool-call:", "args:", "schema:", "tool:")
_PATH_KEYS = {"path", "file", "dir", "directory", "cwd", "folder"}
_PATH_STARTS = ("/", "./", "../", "~/")


# -- arguments and text -----------------------------------------------------------------------------
def _is_path_key(key: str | None) -> bool:
    return key is not None and ("path" in key.lower() or key.lower() in _PATH_KEYS)


def _path(text: str, cwd: str | None) -> str:
    p = text.strip()
    if cwd and not p.startswith(("/", "~")):
        p = posixpath.join(cwd, p)
    p = posixpath.normpath(p) if p else p
    if cwd and (p == cwd or p.startswith(cwd.rstrip("/") + "/")):
        p = "<cwd>" + p[len(cwd.rstrip("/")):]
    return p


def normalise(value: Any, *, cwd: str | None = None, key: str | None = None) -> Any:
    """``value`` in the form arguments are compared in (see the module docstring)."""
    if isinstance(value, dict):
        return {str(k): normalise(v, cwd=cwd, key=str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v, cwd=cwd, key=key) for v in value]
    if isinstance(value, bool):
        return ("bool", value)  # JSON true is not the number 1
    if isinstance(value, str):
        text = value.strip()
        if text and (_is_path_key(key) or (text.startswith(_PATH_STARTS) and not any(c.isspace() for c in text))):
            return _path(text, cwd)
        return " ".join(value.split())
    return value


def arguments_equivalent(recorded: Any, candidate: Any, *, cwd: str | None = None) -> bool:
    return bool(normalise(recorded, cwd=cwd) == normalise(candidate, cwd=cwd))


def similarity(a: str, b: str) -> float:
    """``difflib`` ratio over words: 1.0 identical, 0.0 nothing in common."""
    wa, wb = a.split(), b.split()
    if not wa and not wb:
        return 1.0
    return round(difflib.SequenceMatcher(None, wa, wb, autojunk=False).ratio(), 4)


def _matched(recorded: tuple[ToolCall, ...], candidate: tuple[ToolCall, ...], cwd: str | None) -> bool:
    """Every recorded call has its own candidate call of the same tool with equivalent arguments."""
    if len(recorded) != len(candidate):
        return False
    left = list(candidate)
    for r in recorded:
        found = next((c for c in left if c.name == r.name and arguments_equivalent(r.input, c.input, cwd=cwd)), None)
        if found is None:
            return False
        left.remove(found)
    return True


# -- per turn -------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ToolScore:
    """A turn whose recorded answer called a tool."""

    called: bool
    #: The calls came as the candidate's own structured calls, arguments parsing and fitting the
    #: schema, naming an offered tool — nothing for the gateway to repair or report (None: no call).
    well_formed: bool | None
    #: Rules of the repairs the gateway made to the calls (``text-call:<shape>``, ``args:invalid-json`` …).
    repairs: tuple[str, ...]
    #: Rules of what stayed wrong (``schema:missing-required``, ``tool:unknown``, ``args:unparsable`` …).
    problems: tuple[str, ...]
    #: Whether the call needed the repair ladder's re-ask (its ``reask`` in the exchange's summary).
    reasked: bool | None
    same_tool: bool
    equivalent_arguments: bool

    @property
    def repaired(self) -> bool:
        return bool(self.repairs)

    def as_dict(self) -> dict[str, Any]:
        return {"called": self.called, "well_formed": self.well_formed, "repaired": self.repaired,
                "repairs": list(self.repairs), "problems": list(self.problems), "reasked": self.reasked,
                "same_tool": self.same_tool, "equivalent_arguments": self.equivalent_arguments}


@dataclass(frozen=True, slots=True)
class TextScore:
    """A turn whose recorded answer was text."""

    similarity: float
    #: The candidate called a tool where the recording answered in words.
    called: bool

    def as_dict(self) -> dict[str, Any]:
        return {"similarity": self.similarity, "called": self.called}


@dataclass(frozen=True, slots=True)
class Timings:
    """Milliseconds and tokens per second: the backend's own figures where it gave them."""

    ttft_ms: float | None = None
    total_ms: float | None = None
    prompt_tokens_per_s: float | None = None
    decode_tokens_per_s: float | None = None
    #: Who measured them: ``ollama`` / ``llama.cpp`` (the backend), ``gateway`` (measured), None.
    source: str | None = None

    @classmethod
    def of(cls, meta: ExchangeMeta) -> Timings:
        perf = meta.get("performance") or {}
        timing = meta.get("timing_ms") or {}
        source = perf.get("source") if isinstance(perf.get("source"), str) else None
        ttft, total = timing.get("first_token"), timing.get("total")
        prompt_ms, decode_ms, load_ms = perf.get("prompt_ms"), perf.get("decode_ms"), perf.get("load_ms")
        if source not in (None, "gateway") and isinstance(prompt_ms, (int, float)):
            ttft = round((load_ms if isinstance(load_ms, (int, float)) else 0.0) + prompt_ms, 1)
            if isinstance(decode_ms, (int, float)):
                total = round(ttft + decode_ms, 1)
        elif ttft is not None:
            source = source or "gateway"
        return cls(ttft, total, _num(perf.get("prompt_tokens_per_s")), _num(perf.get("decode_tokens_per_s")), source)

    def as_dict(self) -> dict[str, Any]:
        return {"ttft_ms": self.ttft_ms, "total_ms": self.total_ms, "prompt_tokens_per_s": self.prompt_tokens_per_s,
                "decode_tokens_per_s": self.decode_tokens_per_s, "source": self.source}


@dataclass(frozen=True, slots=True)
class Cache:
    """The backend's prompt cache on this turn, and how much of the previous replayed request it repeated."""

    #: The whole prompt (input, cache reads and writes), when the answer said its usage.
    input_tokens: int | None = None
    #: Read from the backend's prompt cache (None: the backend said nothing about its cache).
    read_tokens: int | None = None
    #: Share of the previous replayed request's prefix (same recorded session and model) this one repeats.
    prefix_kept: float | None = None

    @classmethod
    def of(cls, meta: ExchangeMeta) -> Cache:
        usage = meta.get("usage") or {}
        parts = [usage.get(k) for k in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")]
        total = sum(p for p in parts if isinstance(p, int)) if isinstance(parts[0], int) else None
        read = usage.get("cache_read_input_tokens")
        kept = (meta.get("prefix") or {}).get("kept")
        return cls(total, read if isinstance(read, int) else None, _num(kept))

    def as_dict(self) -> dict[str, Any]:
        return {"input_tokens": self.input_tokens, "read_tokens": self.read_tokens, "prefix_kept": self.prefix_kept}


@dataclass(frozen=True, slots=True)
class TurnScore:
    model: str
    turn: int
    ref: str
    kind: str  # tool | text
    answered: bool
    status: int | None
    error: dict[str, str] | None
    stop_reason: str | None
    #: The candidate stopped for the recorded reason (None: it did not answer).
    stop_matches: bool | None
    #: What the candidate answered, as Claude Code would have received it (None: it did not answer).
    answer: AnswerDigest | None
    tool: ToolScore | None
    text: TextScore | None
    timings: Timings
    cache: Cache
    recorded_as: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "turn": self.turn, "ref": self.ref, "kind": self.kind, "answered": self.answered,
                "status": self.status, "error": self.error, "stop_reason": self.stop_reason,
                "stop_matches": self.stop_matches, "answer": self.answer.as_dict() if self.answer else None,
                "tool": self.tool.as_dict() if self.tool else None,
                "text": self.text.as_dict() if self.text else None, "timings": self.timings.as_dict(),
                "cache": self.cache.as_dict(), "recorded_as": self.recorded_as}


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _tool_rules(meta: ExchangeMeta) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(repairs, problems): rules of the tool-call notes the gateway made, each once, in order."""
    repairs: list[str] = []
    problems: list[str] = []
    for note in meta.get("notes") or []:
        rule = note.get("rule")
        if not isinstance(rule, str) or not rule.startswith(TOOL_RULES):
            continue
        into = repairs if note.get("kind") in ("repaired", "converted") else problems
        if rule not in into:
            into.append(rule)
    return tuple(repairs), tuple(problems)


def score(turn: Turn, outcome: Outcome, model: str) -> TurnScore:
    """How the candidate's ``outcome`` compares with ``turn``'s recorded answer."""
    message = outcome.message if outcome.error is None else None
    answer = AnswerDigest.of(message) if message is not None else None
    answered = outcome.status == 200 and answer is not None and answer.stop_reason is not None
    recorded = turn.recorded
    tool = text_score = None
    if answer is not None and answered and turn.kind == "tool":
        calls = answer.tool_calls
        repairs, problems = _tool_rules(outcome.meta)
        reasked = isinstance(outcome.meta.get("reask"), dict)
        tool = ToolScore(
            called=bool(calls), well_formed=(not repairs and not problems and not reasked) if calls else None,
            repairs=repairs, problems=problems, reasked=reasked,
            same_tool=bool(calls) and sorted(c.name for c in calls) == sorted(c.name for c in recorded.tool_calls),
            equivalent_arguments=bool(calls) and _matched(recorded.tool_calls, calls, turn.workdir))
    elif answer is not None and answered:
        text_score = TextScore(similarity(recorded.text, answer.text), bool(answer.tool_calls))
    return TurnScore(
        model=model, turn=turn.number, ref=turn.ref, kind=turn.kind, answered=answered, status=outcome.status,
        error=outcome.error, stop_reason=answer.stop_reason if answer is not None else None,
        stop_matches=(answer is not None and answer.stop_reason == recorded.stop_reason) if answered else None,
        answer=answer if answered else None, tool=tool, text=text_score,
        timings=Timings.of(outcome.meta), cache=Cache.of(outcome.meta), recorded_as=outcome.recorded_as)


# -- per model ----------------------------------------------------------------------------------------
def _share(n: int, of: int) -> float | None:
    return round(n / of, 4) if of else None


def _p50(values: list[float]) -> float | None:
    q = quantile(values, 0.5)
    return round(q, 1) if q is not None else None


@dataclass(slots=True)
class ModelSummary:
    """One model's figures over the turns scored so far (see ``as_dict`` for the denominators)."""

    model: str
    turns: int = 0
    answered: int = 0
    errors: Counter[str] = field(default_factory=Counter)  # error type → turns
    tool_turns: int = 0  # the recorded answer called a tool (answered by the candidate or not)
    calls_made: int = 0
    well_formed: int = 0
    repaired: int = 0
    repairs: Counter[str] = field(default_factory=Counter)  # rule → turns
    reasked: int = 0  # tool turns whose call needed the repair ladder's re-ask
    same_tool: int = 0
    equivalent_arguments: int = 0
    stop_matches: int = 0
    text_turns: int = 0  # the recorded answer was text
    similarities: list[float] = field(default_factory=list)
    ttft_ms: list[float] = field(default_factory=list)
    prompt_tps: list[float] = field(default_factory=list)
    decode_tps: list[float] = field(default_factory=list)
    sources: Counter[str] = field(default_factory=Counter)
    cache_read: int = 0
    cache_input: int = 0  # the whole prompt of the turns whose cache reads were said
    prefix_kept: list[float] = field(default_factory=list)

    def add(self, s: TurnScore) -> None:
        self.turns += 1
        if s.kind == "tool":
            self.tool_turns += 1
        else:
            self.text_turns += 1
        if not s.answered:
            self.errors[(s.error or {}).get("type") or "no answer"] += 1
            return
        self.answered += 1
        self.stop_matches += bool(s.stop_matches)
        if s.tool is not None:
            t = s.tool
            self.calls_made += t.called
            self.well_formed += bool(t.well_formed)
            self.repaired += t.repaired
            self.repairs.update(t.repairs)
            self.reasked += bool(t.reasked)
            self.same_tool += t.same_tool
            self.equivalent_arguments += t.equivalent_arguments
        if s.text is not None:
            self.similarities.append(s.text.similarity)
        tm = s.timings
        for value, into in ((tm.ttft_ms, self.ttft_ms), (tm.prompt_tokens_per_s, self.prompt_tps),
                            (tm.decode_tokens_per_s, self.decode_tps)):
            if value is not None:
                into.append(value)
        if tm.source:
            self.sources[tm.source] += 1
        c = s.cache
        if c.read_tokens is not None and c.input_tokens:
            self.cache_read += c.read_tokens
            self.cache_input += c.input_tokens
        if c.prefix_kept is not None:
            self.prefix_kept.append(c.prefix_kept)

    @property
    def similarity_mean(self) -> float | None:
        return round(sum(self.similarities) / len(self.similarities), 4) if self.similarities else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "turns": self.turns, "answered": self.answered,
            "answered_share": _share(self.answered, self.turns), "errors": dict(self.errors.most_common()),
            "tool_turns": self.tool_turns, "calls_made": self.calls_made,
            "calls_made_share": _share(self.calls_made, self.tool_turns),
            "well_formed": self.well_formed, "well_formed_share": _share(self.well_formed, self.calls_made),
            "repaired": self.repaired, "repaired_share": _share(self.repaired, self.calls_made),
            "repairs": dict(self.repairs.most_common()),
            "reasked": self.reasked, "reasked_share": _share(self.reasked, self.tool_turns),
            "same_tool": self.same_tool, "same_tool_share": _share(self.same_tool, self.tool_turns),
            "equivalent_arguments": self.equivalent_arguments,
            "equivalent_arguments_share": _share(self.equivalent_arguments, self.tool_turns),
            "stop_matches": self.stop_matches, "stop_matches_share": _share(self.stop_matches, self.answered),
            "text_turns": self.text_turns, "similarity_mean": self.similarity_mean,
            "similarity_p50": quantile(self.similarities, 0.5),
            "ttft_ms_p50": _p50(self.ttft_ms), "prompt_tokens_per_s_p50": _p50(self.prompt_tps),
            "decode_tokens_per_s_p50": _p50(self.decode_tps), "timings_from": dict(self.sources.most_common()),
            "cache_read_share": _share(self.cache_read, self.cache_input) if self.cache_input else None,
            "prefix_kept_p50": quantile(self.prefix_kept, 0.5),
        }


def summarise(scores: list[TurnScore], models: list[str]) -> list[ModelSummary]:
    """One summary per model, in ``models``' order."""
    out = {m: ModelSummary(m) for m in models}
    for s in scores:
        out.setdefault(s.model, ModelSummary(s.model)).add(s)
    return list(out.values())
