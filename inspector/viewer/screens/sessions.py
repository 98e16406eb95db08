"""The first screen: every session in the recording folder."""

from __future__ import annotations

import time
from pathlib import Path

from rich.text import Text
from textual import getters, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, Static
from textual.worker import get_current_worker

from ..app import InspectorApp
from ..data import SessionSummary, scan, summarize_session
from ..widgets import FilterTable

COLUMNS = ("started (UTC)", "duration", "client", "models", "backend", "exchanges", "tokens in/out", "flags",
           "first prompt")

Row = tuple[str, tuple[str, ...], str, str]


def _style(flags: set[str]) -> str:
    if flags & {"error", "corrupt", "unknown-schema"}:
        return "red"
    if "incomplete" in flags:
        return "yellow"
    return ""


class SessionsScreen(Screen[None]):
    CSS_PATH = "sessions.tcss"
    BINDINGS = [
        Binding("enter", "open", "Open", id="sessions.open"),
        Binding("escape", "back", "Back", show=False, id="sessions.back"),
        Binding("r", "rescan", "Rescan", id="sessions.rescan"),
    ]
    app = getters.app(InspectorApp)

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        self.summaries: dict[str, SessionSummary] = {}
        self._loading = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"sessions in {self.root}", id="where", markup=False)
        yield FilterTable(COLUMNS, id="sessions",
                          placeholder="filter: words that must all appear — in the row or inside the session "
                                      "(tool names, models, error text, flags…; Esc clears)")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Claude Code inspector"
        self.action_rescan()
        self.set_interval(2.0, self.action_rescan)

    def _rows(self) -> list[Row]:
        return [(name, s.cells(), s.text(), _style(s.flags)) for name, s in self.summaries.items()]

    def action_rescan(self) -> None:
        """New sessions appear while the gateway records; their details are read in the background."""
        if not self._loading:
            self._loading = True
            self._scan(dict(self.summaries))

    @work(thread=True, group="load")
    def _scan(self, known: dict[str, SessionSummary]) -> None:
        """List the folder, then read session details newest first, publishing in batches."""
        worker = get_current_worker()
        batch: list[SessionSummary] = []
        try:
            fresh = [s for s in scan(self.root) if s.name not in known]
            if fresh:
                self.app.call_from_thread(self._publish, fresh)
            pending = [s for s in fresh] + [s for s in known.values() if not s.loaded]
            newest = next(reversed(known.values()), None) if known else None
            if newest is not None and newest.loaded and len(newest.session.exchanges()) != newest.exchanges:
                pending.append(newest)  # the newest session may still be growing
            pending.sort(key=lambda s: s.name, reverse=True)
            last = time.monotonic()
            for s in pending:
                if worker.is_cancelled:
                    return
                batch.append(summarize_session(s.session, previous=s.rows))
                if time.monotonic() - last > 0.25:
                    self.app.call_from_thread(self._publish, batch)
                    batch, last = [], time.monotonic()
        finally:
            if not worker.is_cancelled:
                self.app.call_from_thread(self._publish, batch, True)

    def _publish(self, batch: list[SessionSummary], done: bool = False) -> None:
        for summary in batch:
            old = self.summaries.get(summary.name)
            if old is not None and old.loaded and not summary.loaded:
                continue
            if old is not None:
                summary.flags |= old.flags & {"tool-error"}  # found by a visit to its exchanges
            self.summaries[summary.name] = summary
        if batch:
            self.summaries = dict(sorted(self.summaries.items()))
            self.query_one(FilterTable).set_rows(self._rows())
        if done:
            self._loading = False
            self.query_one("#where", Static).update(Text(self._where()))

    def _where(self) -> str:
        if self.summaries:
            return f"sessions in {self.root}"
        return (f"{self.root} is empty: nothing has been recorded here yet. Start the gateway (make run), use Claude "
                f"Code through it, and its sessions appear here as they are recorded (rescanned every 2 s; r now).")

    def on_screen_resume(self) -> None:
        # A visit to a session's exchanges may have found more (its tool-error flags).
        if self.summaries:
            self.query_one(FilterTable).set_rows(self._rows())

    def action_open(self) -> None:
        key = self.query_one(FilterTable).current_key
        if key:
            self._open(key)

    def on_filter_table_opened(self, event: FilterTable.Opened) -> None:
        self._open(event.key)

    def _open(self, key: str) -> None:
        from .exchanges import ExchangesScreen
        # A session not read yet opens empty and fills in: its screen reads it in a worker.
        self.app.push_screen(ExchangesScreen(self.summaries[key]))

    def action_back(self) -> None:
        self.query_one(FilterTable).clear_filter()
