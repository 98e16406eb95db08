"""What the viewer shows, computed from recordings without reading any large file.

A session row needs only folder names to appear; its details come from each exchange's
small ``exchange.json``. Request bodies and streams are read only when an exchange is opened.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..recording import ExchangeRecord, SessionRecord, list_sessions

__all__ = ["ExchangeSummary", "SessionSummary", "scan", "summarize_exchange", "summarize_session"]


def _when(name: str) -> str:
    stamp = name.split("_", 1)[0]
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.strptime(stamp, "%Y%m%dT%H%M%SZ"))
    except ValueError:
        return stamp


def _ms(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value / 1000:.2f}s" if value >= 1000 else f"{value:.0f}ms"


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
    input_tokens: int = 0
    output_tokens: int = 0
    total_ms: float = 0.0

    def cells(self) -> tuple[str, ...]:
        return (str(self.seq), self.kind, self.model, self.status, self.ttft, self.duration, self.tokens,
                self.stop, self.tools, " ".join(sorted(self.flags)))

    def text(self) -> str:
        return " ".join(self.cells()).lower()


def summarize_exchange(ex: ExchangeRecord) -> ExchangeSummary:
    m = ex.meta
    kind = m.get("kind", "?")
    if m.get("purpose") not in (None, "main", "side"):
        kind = f"{kind}/{m['purpose']}"
    model = m.get("model") or {}
    requested, backend = model.get("requested") or "", model.get("backend") or ""
    shown = f"{requested} → {backend}" if backend and backend != requested else requested
    status = (m.get("status") or {}).get("client")
    timing = m.get("timing_ms") or {}
    usage = m.get("usage") or {}
    flags = set()
    if m.get("corrupt") or ex.problems:
        flags.add("corrupt")
    if not m.get("complete"):
        flags.add("incomplete")
    if m.get("error") or (isinstance(status, int) and status >= 400):
        flags.add("error")
    kinds = {n.get("kind") for n in m.get("notes") or []}
    if "repaired" in kinds:
        flags.add("repaired")
    if any(n.get("kind") == "error" and str(n.get("rule") or "").startswith(("schema:", "tool:", "args:"))
           for n in m.get("notes") or []):
        flags.add("call-error")  # a tool call that could not be repaired
    if "warning" in kinds:
        flags.add("warning")
    calls = m.get("tool_calls") or []
    return ExchangeSummary(
        exchange=ex, seq=ex.seq, kind=kind, model=shown, status=str(status or ""),
        ttft=_ms(timing.get("first_token")), duration=_ms(timing.get("total")),
        tokens=f"{usage.get('input_tokens', '')}/{usage.get('output_tokens', '')}" if usage else "",
        stop=m.get("stop_reason") or "", tools=", ".join(c.get("name", "?") for c in calls),
        flags=flags, form=m.get("form") or "", input_tokens=usage.get("input_tokens") or 0,
        output_tokens=usage.get("output_tokens") or 0, total_ms=timing.get("total") or 0.0,
    )


@dataclass(slots=True)
class SessionSummary:
    session: SessionRecord
    started: str
    client: str
    loaded: bool = False
    duration: str = ""
    models: str = ""
    forms: str = ""
    exchanges: int = 0
    tokens: str = ""
    flags: set[str] = field(default_factory=set)
    rows: list[ExchangeSummary] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.session.name

    def cells(self) -> tuple[str, ...]:
        if not self.loaded:
            return (self.started, "…", self.client, "…", "…", "…", "…", "")
        return (self.started, self.duration, self.client, self.models, self.forms, str(self.exchanges),
                self.tokens, " ".join(sorted(self.flags)))

    def text(self) -> str:
        return (self.name + " " + " ".join(self.cells())).lower()


def summarize_session(session: SessionRecord, *, loaded: bool = True) -> SessionSummary:
    parts = session.name.split("_")
    client = parts[1].replace("claude-cli-", "cc ") if len(parts) > 2 else ""
    s = SessionSummary(session=session, started=_when(session.name), client=client)
    if not loaded:
        return s
    s.rows = [summarize_exchange(ex) for ex in session.exchanges()]
    s.loaded = True
    s.exchanges = len(s.rows)
    models: list[str] = []
    forms: list[str] = []
    for r in s.rows:
        if r.kind.startswith("messages") and r.model and r.model not in models:
            models.append(r.model)
        if r.form and r.form not in forms:
            forms.append(r.form)
        s.flags |= r.flags - {"warning"}
    s.models, s.forms = ", ".join(models), ", ".join(forms)
    s.tokens = f"{sum(r.input_tokens for r in s.rows)}/{sum(r.output_tokens for r in s.rows)}"
    total = 0.0
    for r in s.rows:
        total += r.total_ms
    s.duration = _ms(total) if s.rows else ""
    if session.meta.get("corrupt"):
        s.flags.add("corrupt")
    return s


def scan(root: Path | str) -> list[SessionSummary]:
    """Session rows from folder names only: instant whatever the folder's size."""
    return [summarize_session(s, loaded=False) for s in list_sessions(root)]


