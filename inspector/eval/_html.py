"""``inspector eval --html FILE``: the evaluation as one self-contained page, in the style of
``inspector export --html`` (its stylesheet), recorded and candidate answers side by side per turn.

Like the export, the page makes no network request: the CSS is inline, allowed by hash, and there is
no script at all (turns open and close as ``<details>``). Everything recorded or answered is
HTML-escaped text.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import orjson

from .. import __version__
from ._report import COLUMNS, LEFT, summary_rows
from ._run import EvalRun
from ._score import TurnScore
from ._turns import SKIP_REASONS, ToolCall, Turn

__all__ = ["eval_report"]

_CSS = """
.sides { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 10px; }
.side { border: 1px solid var(--line); border-radius: 6px; padding: 6px 10px; min-width: 0; }
.side h3 { font-size: 13px; margin: 0 0 6px; }
.side.recorded { background: var(--panel); }
.side pre { margin: 4px 0; white-space: pre-wrap; word-break: break-word; }
.marks span { display: inline-block; margin: 0 10px 2px 0; font-size: 12.5px; }
.yes { color: var(--ok); } .no { color: var(--err); } .so { color: var(--warn); }
table.exchanges td.num { text-align: right; }
"""
#: Turns open when the page loads, when there are at most this many.
OPEN_ALL_UP_TO = 12


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _mark(ok: bool | None, yes: str, no: str) -> str:
    if ok is None:
        return ""
    return f'<span class="{"yes" if ok else "no"}">{"✓" if ok else "✗"} {_e(yes if ok else no)}</span>'


def _calls(calls: Iterable[ToolCall]) -> str:
    return "".join(f'<div class="turn tool-call"><h4>tool call: {_e(c.name)}</h4><pre>'
                   f'{_e(orjson.dumps(c.input, option=orjson.OPT_INDENT_2).decode())}</pre></div>' for c in calls)


def _text(text: str) -> str:
    return f'<div class="turn answer"><h4>text</h4><pre>{_e(text)}</pre></div>' if text.strip() else ""


def _recorded(turn: Turn) -> str:
    r = turn.recorded
    return (f'<div class="side recorded"><h3>recorded</h3><p class="muted">stop {_e(r.stop_reason)}</p>'
            f"{_text(r.text)}{_calls(r.tool_calls)}</div>")


def _candidate(s: TurnScore | None, model: str) -> str:
    if s is None:
        return f'<div class="side"><h3>{_e(model)}</h3><p class="muted">not scored (interrupted)</p></div>'
    if not s.answered:
        err = s.error or {}
        return (f'<div class="side"><h3>{_e(model)}</h3><div class="turn error"><h4>error '
                f'{_e(s.status or "")} {_e(err.get("type", ""))}</h4><pre>{_e(err.get("message", ""))}</pre></div></div>')
    marks = [_mark(s.stop_matches, f"stop {s.stop_reason}", f"stop {s.stop_reason}")]
    body = _text(s.answer.text) + _calls(s.answer.tool_calls) if s.answer is not None else ""
    if s.tool is not None:
        t = s.tool
        marks += [_mark(t.called, "called a tool", "no tool call"), _mark(t.same_tool, "same tool", "other tool"),
                  _mark(t.equivalent_arguments, "equivalent arguments", "arguments differ"),
                  _mark(t.well_formed, "well-formed as sent", "not well-formed as sent")]
        if t.repairs:
            marks.append(f'<span class="so">repaired: {_e(", ".join(t.repairs))}</span>')
        if t.problems:
            marks.append(f'<span class="no">problems: {_e(", ".join(t.problems))}</span>')
    if s.text is not None:
        marks.append(f'<span>similarity {s.text.similarity:.2f}</span>')
        if s.text.called:
            marks.append('<span class="so">called a tool</span>')
    tm = s.timings
    figures = [f"{k} {v}" for k, v in (("ttft", tm.ttft_ms and f"{tm.ttft_ms:.0f} ms"),
                                       ("prompt", tm.prompt_tokens_per_s and f"{tm.prompt_tokens_per_s:.1f} tok/s"),
                                       ("decode", tm.decode_tokens_per_s and f"{tm.decode_tokens_per_s:.1f} tok/s"),
                                       ("from", tm.source)) if v]
    where = f'<p class="muted">recorded as <code>{_e(s.recorded_as)}</code></p>' if s.recorded_as else ""
    return (f'<div class="side"><h3>{_e(model)}</h3><p class="marks">{"".join(marks)}</p>{body}'
            f'<p class="muted">{_e(" · ".join(figures))}</p>{where}</div>')


def _severity(scores: list[TurnScore | None]) -> str:
    if any(s is not None and not s.answered for s in scores):
        return "err"
    if any(s is not None and (not s.stop_matches or (s.tool is not None and not s.tool.equivalent_arguments))
           for s in scores):
        return "warn"
    return ""


def _summary_html(run: EvalRun) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in COLUMNS)
    rows = ["<tr>" + "".join(f'<td class="{"" if c in LEFT else "num"}">{_e(v)}</td>' for c, v in zip(COLUMNS, row, strict=True))
            + "</tr>" for row in summary_rows(run.summaries())]
    return f'<table class="exchanges"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def eval_report(run: EvalRun, *, generated: datetime | None = None) -> str:
    """The page for ``run``."""
    css = resources.files("inspector.report").joinpath("report.css").read_text(encoding="utf-8") + _CSS
    csp = f"default-src 'none'; style-src {_csp_hash(css)}; img-src 'none'; base-uri 'none'; form-action 'none'"
    by_turn: dict[tuple[str, int], TurnScore] = {(s.model, s.turn): s for s in run.scores}
    models = run.models
    turns = run.turns.turns
    open_all = len(turns) <= OPEN_ALL_UP_TO
    articles = []
    for turn in turns:
        scores = [by_turn.get((m, turn.number)) for m in models]
        recorded = ", ".join(c.name for c in turn.recorded.tool_calls) or "text"
        verdicts = " · ".join(f"{m}: " + ("–" if s is None else "error" if not s.answered else
                                         ("✓" if s.stop_matches and (s.tool is None or s.tool.equivalent_arguments)
                                          else "≠")) for m, s in zip(models, scores, strict=True))
        articles.append(
            f'<details class="exchange {_severity(scores)}" id="turn-{turn.number}"{" open" if open_all else ""}>'
            f"<summary>turn {turn.number} · {_e(turn.ref)} · {_e(turn.purpose)} · recorded {_e(recorded)} · "
            f"{_e(verdicts)}</summary><div class=\"body\"><div class=\"sides\">{_recorded(turn)}"
            + "".join(_candidate(s, m) for s, m in zip(scores, models, strict=True)) + "</div></div></details>")
    made = (generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    skipped = ", ".join(f"{reason} {run.turns.skipped[reason]}" for reason in SKIP_REASONS
                        if run.turns.skipped.get(reason)) or "none"
    facts = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in (
        ("sessions", ", ".join(run.turns.sessions)),
        ("candidates", ", ".join(f"{c.model} ({c.form} at {c.url})" for c in run.candidates)),
        ("turns", f"{len(turns)} per model" + ("" if run.complete else " — interrupted: not every turn was scored")),
        ("skipped", skipped),
    ))
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_e(csp)}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="claude-code-inspector {_e(__version__)}">
<title>inspector eval — {_e(", ".join(models))}</title>
<style>{css}</style>
</head>
<body>
<header>
<h1>Candidate models on recorded Claude Code turns</h1>
<dl class="facts">{facts}</dl>
<p class="muted">Made by claude-code-inspector {_e(__version__)} on {_e(made)} (<code>inspector eval --html</code>).
Each recorded request was sent to each candidate through today's gateway translation; everything recorded
or answered is shown as text.</p>
</header>
<main>
<section><h2>Summary</h2>{_summary_html(run)}</section>
<section><h2>Turn by turn: recorded and candidates side by side</h2>{"".join(articles)}</section>
</main>
</body>
</html>
"""
