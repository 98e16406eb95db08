"""What an evaluation shows: a live table with a progress bar per model while it runs, the summary per
model when it is done, a line per turn where there is no terminal to redraw, and the ``--json`` file."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ._run import EvalRun
from ._score import ModelSummary, TurnScore
from ._turns import SKIP_REASONS

__all__ = ["COLUMNS", "EvalDisplay", "summary_rows", "summary_table", "turn_line", "write_json"]

COLUMNS = ("model", "turns", "answered", "calls made", "well-formed", "same tool", "equiv. args", "repaired",
           "stop ok", "text sim.", "TTFT p50", "prompt tok/s", "decode tok/s", "cache read", "figures from")
LEFT = ("model", "figures from")


def _share(n: int, of: int) -> str:
    return f"{n / of:.0%} ({n}/{of})" if of else "–"


def _ms(value: float | None) -> str:
    return "unknown" if value is None else f"{value / 1000:.2f}s" if value >= 1000 else f"{value:.0f}ms"


def _rate(value: float | None) -> str:
    return "unknown" if value is None else f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def summary_rows(summaries: list[ModelSummary]) -> list[tuple[str, ...]]:
    """One row of ``COLUMNS`` per model: the shares (with their counts) and the p50s."""
    rows: list[tuple[str, ...]] = []
    for m in summaries:
        d = m.as_dict()
        cache = "unknown" if d["cache_read_share"] is None else f"{d['cache_read_share']:.0%}"
        sim = "–" if m.similarity_mean is None else f"{m.similarity_mean:.2f}"
        rows.append((m.model, str(m.turns), _share(m.answered, m.turns), _share(m.calls_made, m.tool_turns),
                     _share(m.well_formed, m.calls_made), _share(m.same_tool, m.tool_turns),
                     _share(m.equivalent_arguments, m.tool_turns), _share(m.repaired, m.calls_made),
                     _share(m.stop_matches, m.answered), sim, _ms(d["ttft_ms_p50"]), _rate(d["prompt_tokens_per_s_p50"]),
                     _rate(d["decode_tokens_per_s_p50"]), cache,
                     ", ".join(f"{k} {n}" for k, n in m.sources.most_common()) or "unknown"))
    return rows


def summary_table(summaries: list[ModelSummary], *, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in LEFT else "right", no_wrap=column == "model")
    for row in summary_rows(summaries):
        table.add_row(*row)
    return table


def turn_line(s: TurnScore, done: int, total: int) -> str:
    """One scored turn, for a log (rich markup): ``[done/total] model turn N SESSION#N kind …``."""
    head = f"[{done}/{total}] [bold]{s.model}[/] turn {s.turn} [dim]{s.ref}[/] {s.kind}"
    if not s.answered:
        error = s.error or {}
        return f"{head}  [red]error[/] {error.get('type', '')}: {str(error.get('message', ''))[:160]}"
    parts = []
    calls = s.answer.tool_calls if s.answer is not None else ()
    if s.tool is not None:
        t = s.tool
        if not t.called:
            parts.append("[red]no call[/]")
        else:
            parts.append(f"→ {', '.join(c.name for c in calls)}")
            parts.append("same tool ✓" if t.same_tool else "[yellow]other tool[/]")
            parts.append("args ✓" if t.equivalent_arguments else "[yellow]args differ[/]")
            parts.append("well-formed" if t.well_formed else f"[yellow]repaired {', '.join(t.repairs)}[/]"
                         if t.repairs else f"[red]{', '.join(t.problems)}[/]")
    if s.text is not None:
        parts.append(f"similarity {s.text.similarity:.2f}" + (" [yellow]called a tool[/]" if s.text.called else ""))
    parts.append(f"stop {s.stop_reason}" + ("" if s.stop_matches else " [yellow](recorded other)[/]"))
    if s.timings.ttft_ms is not None:
        parts.append(f"ttft {_ms(s.timings.ttft_ms)}")
    return f"{head}  " + "  ".join(parts)


class EvalDisplay:
    """The live view: a progress bar per model and the summary table so far (a terminal), or a
    line per turn (anything else). ``with display.live(): … display.scored(s)``."""

    def __init__(self, run: EvalRun, console: Console) -> None:
        self.run = run
        self.console = console
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=console)
        self.tasks = {m: self.progress.add_task(m, total=len(run.turns.turns)) for m in run.models}
        self.done: Counter[str] = Counter()
        self._live: Live | None = None

    def _view(self) -> Group:
        return Group(self.progress, summary_table(self.run.summaries(), title="so far"))

    @contextmanager
    def live(self) -> Iterator[None]:
        if not self.console.is_terminal:
            yield
            return
        with Live(self._view(), console=self.console, refresh_per_second=4, transient=True) as live:
            self._live = live
            try:
                yield
            finally:
                self._live = None

    def scored(self, s: TurnScore) -> None:
        self.progress.advance(self.tasks[s.model])
        self.done[s.model] += 1
        if self._live is not None:
            self._live.update(self._view())
        else:
            self.console.print(turn_line(s, self.done[s.model], len(self.run.turns.turns)), soft_wrap=True)

    def summary(self, out: Console) -> None:
        run = self.run
        state = "" if run.complete else " — interrupted: what was scored so far"
        out.print(summary_table(run.summaries(), title=f"inspector eval: {len(run.turns.turns)} turns from "
                                                        f"{len(run.turns.sessions)} sessions{state}"))
        for m in run.summaries():
            if m.errors:
                out.print(f"  [bold]{m.model}[/] errors: " + ", ".join(f"{k} {n}" for k, n in m.errors.most_common()))
            if m.repairs:
                out.print(f"  [bold]{m.model}[/] repairs: " + ", ".join(f"{k} {n}" for k, n in m.repairs.most_common()))
        skipped = [(reason, run.turns.skipped[reason]) for reason in SKIP_REASONS if run.turns.skipped.get(reason)]
        if skipped:
            out.print("  skipped: " + ", ".join(f"{reason} {n}" for reason, n in skipped), highlight=False)


def write_json(run: EvalRun, target: str) -> None:
    """``--json FILE`` (``-``: standard output)."""
    data: Any = orjson.dumps(run.as_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    if target == "-":
        import sys
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        Path(target).write_bytes(data)
