"""What the viewer (and the HTML report) show, computed from recordings without reading any large file.

A session row needs only folder names to appear; its details come from each exchange's
small ``exchange.json``. Request bodies and streams are read only when an exchange is opened
(or, for the exchange list's tool-error flags of older recordings, by a worker).

No Textual here: the HTML report uses the same summaries.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..recording import ExchangeMeta, ExchangeRecord, SessionRecord, epoch_of, list_sessions

__all__ = [
    "Bar", "ExchangeSummary", "Figures", "SessionSummary", "Timeline", "first_prompt", "fmt_ms", "request_tool_errors",
    "scan",
    "summarize_exchange", "summarize_session", "timeline",
]

SIDE_KINDS = frozenset({"count_tokens", "hello", "event_logging", "telemetry", "models", "other"})
SIDE_PURPOSES = frozenset({"quota", "title"})


def _when(name: str) -> str:
    stamp = name.split("_", 1)[0]
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.strptime(stamp, "%Y%m%dT%H%M%SZ"))
    except ValueError:
        return stamp


def _name_epoch(name: str) -> float | None:
    try:
        return datetime.strptime(name.split("_", 1)[0] + "+0000", "%Y%m%dT%H%M%SZ%z").timestamp()
    except ValueError:
        return None


def _num(value: Any) -> float | None:
    """A recorded figure, or None when absent, null or not a number (never a made-up 0)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def fmt_ms(value: float | None) -> str:
    """``13ms``, ``2.31s``, ``2m03s``, ``1h02m``; empty when unknown."""
    if value is None:
        return ""
    if value < 1000:
        return f"{value:.0f}ms"
    seconds = value / 1000
    if seconds < 60:
        return f"{seconds:.2f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


def _share(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.0%}"


def _rate(value: float | None) -> str:
    if value is None:
        return "unknown"
    return f"{value:,.0f} tok/s" if value >= 100 else f"{value:.1f} tok/s"


@dataclass(frozen=True, slots=True)
class Figures:
    """The per-exchange figures the gateway records when it can (every one optional)."""

    cache_read: float | None = None
    cache_share: float | None = None
    prefix_kept: float | None = None
    first_difference: str | None = None
    prefix_reason: str | None = None
    prompt_tps: float | None = None
    decode_tps: float | None = None
    source: str | None = None
    count_tokens: float | None = None
    exact: bool | None = None
    count_source: str | None = None
    context_tokens: float | None = None
    context_source: str | None = None
    #: The gateway's queue (absent: it had none for this backend, or the recording predates it).
    queue_ms: float | None = None
    queue_ahead: float | None = None
    queue_class: str | None = None
    queue_slot: float | None = None

    @classmethod
    def of(cls, meta: ExchangeMeta) -> Figures:
        usage = _dict(meta.get("usage"))
        perf = _dict(meta.get("performance"))
        prefix = _dict(meta.get("prefix"))
        counts = _dict(meta.get("token_counts"))
        window = _dict(meta.get("context_window"))
        queue = _dict(meta.get("queue"))
        read = _num(usage.get("cache_read_input_tokens"))
        share = None
        if read is not None:
            # Anthropic's usage: input_tokens excludes what was read from or written to the cache.
            total = (read + (_num(usage.get("input_tokens")) or 0)
                     + (_num(usage.get("cache_creation_input_tokens")) or 0))
            share = read / total if total > 0 else None
        exact = counts.get("exact")

        def text(d: dict[str, Any], key: str) -> str | None:
            return d.get(key) if isinstance(d.get(key), str) else None
        return cls(
            cache_read=read, cache_share=share, prefix_kept=_num(prefix.get("kept")),
            first_difference=text(prefix, "first_difference"), prefix_reason=text(prefix, "reason"),
            prompt_tps=_num(perf.get("prompt_tokens_per_s")), decode_tps=_num(perf.get("decode_tokens_per_s")),
            source=text(perf, "source"),
            count_tokens=_num(counts.get("input_tokens")), exact=exact if isinstance(exact, bool) else None,
            count_source=text(counts, "source"),
            context_tokens=_num(window.get("tokens")),
            context_source=text(window, "source"),
            queue_ms=_num(queue.get("wait_ms")), queue_ahead=_num(queue.get("ahead")),
            queue_class=text(queue, "class"), queue_slot=_num(queue.get("slot")),
        )

    def parts(self) -> list[tuple[str, str]]:
        """(label, value) pairs, ``unknown`` where the recording does not say."""
        prefix = _share(self.prefix_kept)
        if self.prefix_kept is not None and self.first_difference:
            prefix += f" (first difference: {self.first_difference})"
        if self.prefix_reason:
            prefix += f" — {self.prefix_reason}"
        if self.exact is None:
            counts = "unknown"
        else:
            counts = "exact" if self.exact else "estimated"
            if self.count_tokens is not None:
                counts = f"{self.count_tokens:,.0f} {counts}"
            if self.count_source:
                counts += f" ({self.count_source})"
        window = "unknown" if self.context_tokens is None else f"{self.context_tokens:,.0f}"
        if self.context_tokens is not None and self.context_source:
            window += f" ({self.context_source})"
        cache = _share(self.cache_share)
        if self.cache_share is not None and self.cache_read is not None:
            cache += f" ({self.cache_read:,.0f} tokens read)"
        source = f" ({self.source})" if self.source and self.decode_tps is not None else ""
        out = [("prompt cache", cache), ("prefix kept", prefix), ("prompt", _rate(self.prompt_tps)),
               ("decode", _rate(self.decode_tps) + source), ("input tokens", counts), ("context window", window)]
        if self.queue_ms is not None:
            about = [f"{self.queue_ahead:.0f} ahead" if self.queue_ahead else "", self.queue_class or "",
                     f"slot {self.queue_slot:.0f}" if self.queue_slot is not None else ""]
            detail = ", ".join(a for a in about if a)
            out.append(("queue wait", (fmt_ms(self.queue_ms) or "0ms") + (f" ({detail})" if detail else "")))
        return out

    def text(self) -> str:
        return " · ".join(f"{label} {value}" for label, value in self.parts())

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.cache_share, self.prefix_kept, self.prompt_tps, self.decode_tps,
                                            self.exact, self.context_tokens))


#: The exchange table's columns: ``ExchangeSummary.cells()`` in order (the viewer and the report).
EXCHANGE_COLUMNS = ("#", "start", "kind", "model", "status", "ttft", "duration", "tokens", "tok/s", "stop",
                    "tool calls", "flags")


@dataclass(slots=True)
class ExchangeSummary:
    exchange: ExchangeRecord
    seq: int
    kind: str
    model: str
    status: str
    ttft: str
    duration: str
    tokens: str
    stop: str
    tools: str
    flags: set[str] = field(default_factory=set)
    form: str = ""
    purpose: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    total_ms: float = 0.0
    started_at: float | None = None
    offset: float | None = None  # seconds since the session's first exchange started
    error: str = ""
    tool_errors: list[str] = field(default_factory=list)
    tool_results_known: bool = False
    decode: str = ""
    figures: Figures = field(default_factory=Figures)
    search: str = ""

    @property
    def start(self) -> str:
        return "" if self.offset is None else "+" + fmt_ms(self.offset * 1000)

    @property
    def side(self) -> bool:
        return self.kind.split("/")[0] in SIDE_KINDS or self.purpose in SIDE_PURPOSES

    @property
    def severity(self) -> str:
        """error | warning | side | "" (ordinary): how a table colours the row."""
        if self.flags & {"error", "corrupt", "unknown-schema"}:
            return "error"
        if self.flags & {"incomplete", "repaired", "call-error", "tool-error"}:
            return "warning"
        return "side" if self.side else ""

    @property
    def ended_at(self) -> float | None:
        return None if self.started_at is None else self.started_at + self.total_ms / 1000

    def cells(self) -> tuple[str, ...]:
        return (str(self.seq), self.start, self.kind, self.model, self.status, self.ttft, self.duration,
                self.tokens, self.decode, self.stop, self.tools, " ".join(sorted(self.flags)))

    def text(self) -> str:
        """What the ``/`` filter looks in: the cells and what is behind them."""
        return " ".join(self.cells()).lower() + " " + self.search

    def mark_tool_errors(self, names: list[str]) -> None:
        self.tool_errors = names
        self.tool_results_known = True
        if names:
            self.flags.add("tool-error")
            self.search += " " + " ".join(names).lower()


def _tool_errors(meta: ExchangeMeta) -> list[str] | None:
    results = meta.get("tool_results")
    if not isinstance(results, list):
        return None
    return [str(r.get("name") or r.get("tool_use_id") or "?") for r in results
            if isinstance(r, dict) and r.get("is_error")]


def request_tool_errors(request: Any) -> list[str]:
    """The failed tool results a request adds (its last user message), by tool name.

    For recordings made before ``exchange.json`` carried ``tool_results``; reads the client request,
    so callers run it off the UI thread."""
    messages = request.get("messages") if isinstance(request, dict) else None
    if not isinstance(messages, list) or not messages:
        return []
    names: dict[str, str] = {}
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        for block in content if isinstance(content, list) else []:
            if isinstance(block, dict) and block.get("type") == "tool_use":
                names[str(block.get("id"))] = str(block.get("name") or "?")
    last = messages[-1]
    content = last.get("content") if isinstance(last, dict) and last.get("role") == "user" else None
    if not isinstance(content, list):
        return []
    return [names.get(str(b.get("tool_use_id")), str(b.get("tool_use_id") or "?")) for b in content
            if isinstance(b, dict) and b.get("type") == "tool_result" and b.get("is_error")]


def summarize_exchange(ex: ExchangeRecord) -> ExchangeSummary:
    m = ex.meta
    kind = str(m.get("kind", "?"))
    purpose = str(m.get("purpose") or "")
    if purpose not in ("", "main", "side"):
        kind = f"{kind}/{purpose}"
    model = _dict(m.get("model"))
    requested, backend = str(model.get("requested") or ""), str(model.get("backend") or "")
    shown = f"{requested} → {backend}" if backend and backend != requested else requested
    status = _dict(m.get("status")).get("client")
    timing = _dict(m.get("timing_ms"))
    usage = _dict(m.get("usage"))
    notes = [n for n in m.get("notes") or [] if isinstance(n, dict)]
    flags = set()
    if m.get("corrupt") or ex.problems:
        flags.add("corrupt")
    if ex.schema_problem:
        flags.add("unknown-schema")
    if not m.get("complete"):
        flags.add("incomplete")
    error = _dict(m.get("error"))
    if error or (isinstance(status, int) and status >= 400):
        flags.add("error")
    kinds = {n.get("kind") for n in notes}
    if "repaired" in kinds:
        flags.add("repaired")
    if any(n.get("kind") == "error" and str(n.get("rule") or "").startswith(("schema:", "tool:", "args:"))
           for n in notes):
        flags.add("call-error")  # a tool call that could not be repaired
    if "warning" in kinds:
        flags.add("warning")
    calls = [c for c in m.get("tool_calls") or [] if isinstance(c, dict)]
    figures = Figures.of(m)
    inp, out = usage.get("input_tokens"), usage.get("output_tokens")
    tokens = f"{'' if inp is None else inp}/{'' if out is None else out}" if usage else ""
    if tokens and figures.exact is False:
        tokens = "≈" + tokens
    error_text = " ".join(str(error.get(k) or "") for k in ("type", "message")).strip()
    row = ExchangeSummary(
        exchange=ex, seq=ex.seq, kind=kind, model=shown, status=str(status or ""),
        ttft=fmt_ms(_num(timing.get("first_token"))), duration=fmt_ms(_num(timing.get("total"))),
        tokens=tokens, stop=str(m.get("stop_reason") or ""), tools=", ".join(str(c.get("name", "?")) for c in calls),
        flags=flags, form=str(m.get("form") or ""), purpose=purpose,
        input_tokens=inp if isinstance(inp, int) else 0, output_tokens=out if isinstance(out, int) else 0,
        total_ms=_num(timing.get("total")) or 0.0, started_at=epoch_of(m.get("started")), error=error_text,
        decode="" if figures.decode_tps is None else f"{figures.decode_tps:.0f}", figures=figures,
    )
    words = [requested, backend, purpose, row.form, error_text, str(m.get("incomplete") or "")]
    words += [str(c.get("name", "")) for c in calls]
    words += [f"{n.get('kind')} {n.get('rule') or ''} {n.get('message') or ''}" for n in notes
              if n.get("kind") in ("warning", "error", "repaired")]
    row.search = " ".join(w for w in words if w).lower()
    errors = _tool_errors(m)
    if errors is not None:
        row.mark_tool_errors(errors)
    return row


@dataclass(frozen=True, slots=True)
class Bar:
    """One exchange on the timeline: seconds from the session's start, its lane and how it ended."""

    seq: int
    start: float
    end: float
    lane: int
    state: str  # ok, side, error, incomplete
    retry: bool
    label: str
    #: When it waited in the gateway's queue, seconds from the session's start (None: it did not).
    waiting: tuple[float, float] | None = None


@dataclass(slots=True)
class Timeline:
    bars: list[Bar]
    span: float  # wall clock, seconds, first start to last end
    busy: float  # seconds at least one exchange was in flight
    lanes: int
    gaps: list[tuple[int, int, float]]  # (seq before, seq after, idle seconds), longest first
    retries: int
    errors: int
    waited: float = 0.0  # seconds exchanges spent in the gateway's queue, summed

    def summary(self) -> str:
        if not self.bars:
            return "no timed exchanges"
        parts = [f"wall clock {fmt_ms(self.span * 1000) or '0ms'}", f"busy {fmt_ms(self.busy * 1000) or '0ms'}"]
        if self.lanes > 1:
            parts.append(f"up to {self.lanes} in parallel")
        if self.errors:
            parts.append(f"{self.errors} failed")
        if self.retries:
            parts.append(f"{self.retries} retried after a failure")
        if self.waited > 0:
            parts.append(f"{fmt_ms(self.waited * 1000)} queued in the gateway")
        if self.gaps:
            before, after, idle = self.gaps[0]
            parts.append(f"longest gap {fmt_ms(idle * 1000)} (#{before} → #{after})")
        return " · ".join(parts)


def _failed(row: ExchangeSummary) -> bool:
    return "error" in row.flags or "incomplete" in row.flags and bool(row.error)


def _waiting(row: ExchangeSummary, start: float, end: float) -> tuple[float, float] | None:
    """When the exchange waited in the gateway's queue: from asking for a turn to being sent (or to its
    end, when it never left the queue)."""
    meta = row.exchange.meta
    timing = _dict(meta.get("timing_ms"))
    queued, sent = _num(timing.get("queued")), _num(timing.get("sent"))
    if not meta.get("queue") or queued is None or (row.figures.queue_ms or 0) <= 0:
        return None
    until = start + sent / 1000 if sent is not None else end
    return min(start + queued / 1000, end), min(max(until, start), end)


def timeline(rows: list[ExchangeSummary]) -> Timeline:
    timed = sorted((r for r in rows if r.offset is not None), key=lambda r: (r.offset or 0.0, r.seq))
    lane_ends: list[float] = []
    bars: list[Bar] = []
    for r in timed:
        start = r.offset or 0.0
        end = start + r.total_ms / 1000
        lane = next((i for i, e in enumerate(lane_ends) if e <= start), len(lane_ends))
        if lane == len(lane_ends):
            lane_ends.append(end)
        else:
            lane_ends[lane] = end
        state = ("error" if "error" in r.flags else "incomplete" if "incomplete" in r.flags
                 else "side" if r.side else "ok")
        label = f"#{r.seq} {r.kind} {r.status or '…'} {r.duration}".strip()
        bars.append(Bar(r.seq, start, end, lane, state, "retry" in r.flags, label, _waiting(r, start, end)))
    span = max((b.end for b in bars), default=0.0)
    busy = 0.0
    gaps: list[tuple[int, int, float]] = []
    run_start, run_end, run_last = None, 0.0, 0
    for b in sorted(bars, key=lambda b: b.start):
        if run_start is None:
            run_start, run_end, run_last = b.start, b.end, b.seq
        elif b.start > run_end:
            busy += run_end - run_start
            gaps.append((run_last, b.seq, b.start - run_end))
            run_start, run_end, run_last = b.start, b.end, b.seq
        elif b.end >= run_end:
            run_end, run_last = b.end, b.seq
    if run_start is not None:
        busy += run_end - run_start
    gaps = sorted((g for g in gaps if g[2] >= 0.5), key=lambda g: -g[2])
    return Timeline(bars, span, busy, len(lane_ends), gaps, sum(b.retry for b in bars),
                    sum(b.state == "error" for b in bars),
                    sum(b.waiting[1] - b.waiting[0] for b in bars if b.waiting is not None))


@dataclass(slots=True)
class SessionSummary:
    session: SessionRecord
    started: str
    client: str
    loaded: bool = False
    duration: str = ""
    span_s: float | None = None
    busy_s: float = 0.0
    models: str = ""
    forms: str = ""
    exchanges: int = 0
    tokens: str = ""
    flags: set[str] = field(default_factory=set)
    rows: list[ExchangeSummary] = field(default_factory=list)
    search: str = ""
    #: What the user first asked (the first main turn's prompt, Claude Code's reminders left out).
    first_prompt: str = ""

    @property
    def name(self) -> str:
        return self.session.name

    def cells(self) -> tuple[str, ...]:
        if not self.loaded:
            return (self.started, "…", self.client, "…", "…", "…", "…", "", "…")
        return (self.started, self.duration, self.client, self.models, self.forms, str(self.exchanges),
                self.tokens, " ".join(sorted(self.flags)), self.first_prompt)

    def text(self) -> str:
        """What the ``/`` filter looks in: the row, and what is inside the session (tools, models, errors…)."""
        return (self.name + " " + " ".join(self.cells())).lower() + " " + self.search

    def timeline(self) -> Timeline:
        return timeline(self.rows)


def _place(rows: list[ExchangeSummary], fallback: float | None) -> float | None:
    """Set each row's offset from the session's first start; mark retries. Returns the start.

    A retry is a request of the same kind, purpose and model sent after one that failed (the
    exchange list cannot tell from exchange.json alone whether the body was the same)."""
    starts = [r.started_at for r in rows if r.started_at is not None]
    origin = min(starts) if starts else fallback
    failed: dict[tuple[str, str, str], bool] = {}
    for r in sorted(rows, key=lambda r: r.seq):
        if origin is not None and r.started_at is not None:
            r.offset = max(0.0, r.started_at - origin)
        key = (r.kind, r.purpose, r.model)
        if failed.get(key) and not r.side:
            r.flags.add("retry")
        failed[key] = _failed(r)
    return origin


def summarize_session(session: SessionRecord, *, loaded: bool = True,
                      previous: list[ExchangeSummary] | None = None) -> SessionSummary:
    """``previous``: rows of an earlier summary; finished ones are kept, not read again."""
    parts = session.name.split("_")
    client = parts[1].replace("claude-cli-", "cc ") if len(parts) > 2 else ""
    s = SessionSummary(session=session, started=_when(session.name), client=client)
    if not loaded:
        return s
    done = {r.seq: r for r in previous or () if "incomplete" not in r.flags}
    s.rows = []
    for ex in session.exchanges():
        row = done.get(ex.seq)
        if row is None:
            row = summarize_exchange(ex)
        else:
            row.flags.discard("retry")  # placed again below
        s.rows.append(row)
    s.loaded = True
    s.exchanges = len(s.rows)
    models: list[str] = []
    forms: list[str] = []
    words: set[str] = set()
    for r in s.rows:
        if r.kind.startswith("messages") and r.model and r.model not in models:
            models.append(r.model)
        if r.form and r.form not in forms:
            forms.append(r.form)
        s.flags |= r.flags - {"warning", "retry"}
        words.add(r.kind)
        words.add(r.search)
    s.models, s.forms = ", ".join(models), ", ".join(forms)
    s.tokens = f"{sum(r.input_tokens for r in s.rows)}/{sum(r.output_tokens for r in s.rows)}"
    origin = _place(s.rows, _name_epoch(session.name))
    ends = [r.ended_at for r in s.rows if r.ended_at is not None]
    if origin is not None and ends:
        s.span_s = max(ends) - origin
        s.duration = fmt_ms(s.span_s * 1000) or "0ms"
    if session.meta.get("corrupt"):
        s.flags.add("corrupt")
    if session.schema_problem:
        s.flags.add("unknown-schema")
    first = next((r for r in s.rows if r.kind == "messages"), None)
    s.first_prompt = first_prompt(first.exchange.request_json()) if first is not None else ""
    words.add(s.first_prompt.lower())
    s.search = " ".join(sorted(w for w in words if w))
    return s


_REMINDER = re.compile(r"<system-reminder>.*?</system-reminder>", re.S)


def first_prompt(request: Any, limit: int = 60) -> str:
    """The first thing the user said in a Messages request: its first user text that is not one of
    Claude Code's ``<system-reminder>`` sections, on one line, shortened to ``limit``."""
    messages = request.get("messages") if isinstance(request, dict) else None
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        texts = [content] if isinstance(content, str) else [
            b.get("text") for b in content or [] if isinstance(b, dict) and b.get("type") == "text"] \
            if isinstance(content, list) else []
        for text in texts:
            said = " ".join(_REMINDER.sub(" ", text).split()) if isinstance(text, str) else ""
            if said:
                return said if len(said) <= limit else said[: limit - 1] + "…"
    return ""


def scan(root: Path | str) -> list[SessionSummary]:
    """Session rows from folder names only: instant whatever the folder's size."""
    return [summarize_session(s, loaded=False) for s in list_sessions(root)]
