"""A session's exchanges on a wall-clock axis: parallel requests in lanes, failures red, gaps as gaps,
the time a request waited in the gateway's queue (for a busy backend) light."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from ..data import Timeline, fmt_ms

__all__ = ["TimelineChart", "TimelineView"]

STATE_STYLES = {"ok": "green", "side": "grey50", "error": "red", "incomplete": "yellow"}
_PRIORITY = {"side": 0, "ok": 1, "incomplete": 2, "error": 3}
MAX_LANES = 6


class TimelineChart:
    """A rich renderable: one line per lane, an axis, a legend. ``highlight`` is a seq to point at."""

    def __init__(self, timeline: Timeline, *, highlight: int | None = None) -> None:
        self.timeline = timeline
        self.highlight = highlight

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        tl = self.timeline
        width = max(20, options.max_width)
        yield Text(tl.summary(), style="bold" if tl.errors else "")
        if not tl.bars:
            return
        span = tl.span if tl.span > 0 else 1e-3
        lanes = min(tl.lanes, MAX_LANES)
        cells: list[list[tuple[str, str, int]]] = [[(" ", "", -1)] * width for _ in range(lanes)]
        marker = None
        for bar in tl.bars:
            lane = min(bar.lane, lanes - 1)
            first = min(width - 1, int(bar.start / span * (width - 1)))
            last = max(first, min(width - 1, int(bar.end / span * (width - 1))))
            wait = None
            if bar.waiting is not None:
                wait = (int(bar.waiting[0] / span * (width - 1)), int(bar.waiting[1] / span * (width - 1)))
            for x in range(first, last + 1):
                _, _, prio = cells[lane][x]
                if _PRIORITY[bar.state] >= prio:
                    queued = wait is not None and wait[0] <= x < wait[1]
                    char = "↻" if bar.retry and x == first else "░" if queued else "█"
                    style = STATE_STYLES[bar.state]
                    if bar.seq == self.highlight:
                        style += " reverse" if char == "↻" else ""
                        char = "▓" if char == "█" else char
                    cells[lane][x] = (char, style, _PRIORITY[bar.state])
            if bar.seq == self.highlight:
                marker = first
        for row in cells:
            line = Text()
            for char, style, _ in row:
                line.append(char, style)
            yield line
        axis = [" "] * width
        ticks = [(0, "0s")]
        for quarter in (1, 2, 3):
            ticks.append((quarter * (width - 1) // 4, fmt_ms(span * quarter / 4 * 1000)))
        ticks.append((width - 1, fmt_ms(span * 1000)))
        for x, label in ticks:
            start = min(max(0, x - len(label) // 2), width - len(label)) if x else 0
            if all(c == " " for c in axis[max(0, start - 1):start + len(label) + 1]):
                axis[start:start + len(label)] = label
        yield Text("".join(axis), style="dim")
        if marker is not None:
            label = f"▲ #{self.highlight}"
            pad = min(marker, width - len(label))
            yield Text(" " * pad + label, style="bold")
        legend = Text()
        for name, style in (("ok", "green"), ("side traffic", "grey50"), ("error", "red"),
                            ("incomplete", "yellow")):
            legend.append("█ ", style)
            legend.append(name + "   ", "dim")
        legend.append("↻ retried after a failure", "dim")
        if any(b.waiting is not None for b in tl.bars):
            legend.append("   ░ waiting in the gateway's queue", "dim")
        if tl.lanes > MAX_LANES:
            legend.append(f"   ({tl.lanes} lanes; the last row holds lanes {MAX_LANES}+)", "dim")
        yield legend


class TimelineView(Widget):
    DEFAULT_CSS = (Path(__file__).with_name("timeline.tcss")).read_text()
    highlight: reactive[int | None] = reactive(None)

    def __init__(self, timeline: Timeline | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.timeline = timeline

    def show(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self.refresh(layout=True)

    def render(self) -> TimelineChart | Text:
        if self.timeline is None:
            return Text("…", style="dim")
        return TimelineChart(self.timeline, highlight=self.highlight)
