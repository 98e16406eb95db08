"""Recorded sessions as OpenTelemetry GenAI telemetry: ``inspector export --otlp SESSION…``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..recording import ExchangeMeta, ExchangeRecord, Redactor, SessionRecord, epoch_of, list_sessions, open_target
from ._genai import ExchangeTelemetry, telemetry_for

__all__ = ["RecordedTelemetry", "exchange_start", "recorded_telemetry", "resolve_targets", "run_export"]


def exchange_start(meta: ExchangeMeta) -> float | None:
    """``started`` (UTC ISO-8601) in epoch seconds, or None when absent or unreadable."""
    return epoch_of(meta.get("started"))


@dataclass(slots=True)
class RecordedTelemetry:
    telemetry: list[ExchangeTelemetry] = field(default_factory=list)
    sessions: int = 0
    skipped: list[str] = field(default_factory=list)


def resolve_targets(specs: Iterable[str], root: Path | str) -> list[tuple[SessionRecord, ExchangeRecord | None]]:
    """Each spec: a session (folder, or a name under ``root``), ``SESSION#N``, or a folder of sessions.

    Raises FileNotFoundError naming what was not found."""
    out: list[tuple[SessionRecord, ExchangeRecord | None]] = []
    for spec in specs:
        path = Path(spec)
        if path.is_dir() and not (path / "session.json").exists():
            sessions = [s for s in list_sessions(path) if (s.path / "session.json").exists()]
            if sessions:
                out += [(s, None) for s in sessions]
                continue
        out.append(open_target(spec, root))
    return out


def recorded_telemetry(targets: Iterable[tuple[SessionRecord, ExchangeRecord | None]], *,
                       redactor: Redactor | None = None, capture_content: bool = False) -> RecordedTelemetry:
    """The same telemetry the gateway would have exported live, span times from the recording
    (redacted again: the recording may predate a rule, and streamed pieces are joined here)."""
    result = RecordedTelemetry()
    for session, only in targets:
        result.sessions += 1
        if only is None and session.schema_problem:  # never exported as if it were ours
            result.skipped.append(session.schema_problem)
            continue
        for ex in [only] if only is not None else session.exchanges():
            if why := ex.schema_problem:
                result.skipped.append(why)
                continue
            meta = ex.meta
            if meta.get("kind") != "messages":
                continue
            started = exchange_start(meta)
            if started is None or meta.get("corrupt"):
                result.skipped.append(f"{ex.ref}: no start time (its exchange.json is missing or unreadable)")
                continue
            if meta.get("complete") is False and not meta.get("incomplete"):
                meta = {**meta, "incomplete": "the recording never finished (the gateway stopped mid-exchange)"}
            t = telemetry_for(meta, started, request=ex.request_json(), client_body=ex.body("client"),
                              redactor=redactor, capture_content=capture_content)
            if t is not None:
                result.telemetry.append(t)
    return result


def run_export(specs: list[str], *, root: str, endpoint: str = "", headers: str = "",
               capture_content: bool = False, metrics: bool = True,
               say: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> int:
    """Exit status: 0 all sent, 1 the collector refused some, 2 bad arguments or nothing to send."""
    from ._otlp import OtlpSettings, RecordedExport, why_unavailable

    if problem := why_unavailable():
        say(f"error: {problem}")
        return 2
    try:
        settings = OtlpSettings.resolve(endpoint=endpoint, headers=headers, capture_content=capture_content,
                                        metrics=metrics)
    except ValueError as e:
        say(f"error: {e}")
        return 2
    if settings is None:
        say("error: no OTLP endpoint: pass --endpoint http://HOST:4318 or set OTEL_EXPORTER_OTLP_ENDPOINT")
        return 2
    try:
        targets = resolve_targets(specs, root)
    except FileNotFoundError as e:
        say(f"error: {e}")
        return 2
    recorded = recorded_telemetry(targets, redactor=Redactor(), capture_content=settings.capture_content)
    for line in recorded.skipped:
        say(f"skipped {line}")
    if not recorded.telemetry:
        say(f"nothing to export: no Messages exchange in {len(targets)} session(s)")
        return 2
    export = RecordedExport(settings)
    for t in recorded.telemetry:
        export.add(t)
    count = export.finish()
    what = [f"{count.spans} spans" if settings.traces_url else "",
            f"{count.points} metric points" if settings.metrics_url else ""]
    say(f"exported {' and '.join(w for w in what if w)} from {recorded.sessions} session(s) "
        f"({settings.describe()})")
    for error in count.errors:
        say(f"error: {error}")
    return 1 if count.errors else 0
