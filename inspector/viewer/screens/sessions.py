"""The first screen: every session in the recording folder."""

from __future__ import annotations

from pathlib import Path

import time

from textual import work
from textual.worker import get_current_worker
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from ..data import SessionSummary, scan, summarize_session
from ..widgets import FilterTable

COLUMNS = ("started (UTC)", "duration", "client", "models", "backend", "exchanges", "tokens in/out", "flags")


def _style(flags: set[str]) -> str:
    if "error" in flags or "corrupt" in flags:
        return "red"
    if "incomplete" in flags:
        return "yellow"
    return ""


class SessionsScreen(Screen):
    CSS_PATH = "sessions.tcss"
    BINDINGS = [
        Binding("enter", "open", "Open", id="sessions.open"),
        Binding("escape", "back", "Back", show=False, id="sessions.back"),
        Binding("r", "rescan", "Rescan", id="sessions.rescan"),
    ]

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        self.summaries: dict[str, SessionSummary] = {}
        self._loading = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"sessions in {self.root}", id="where")
        yield FilterTable(COLUMNS, id="sessions")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Claude Code inspector"
        self.action_rescan()
        self.set_interval(2.0, self.action_rescan)

    def _rows(self):
        rows = []
        for name, s in self.summaries.items():
            rows.append((name, s.cells(), s.text(), _style(s.flags)))
        return rows

    def action_rescan(self) -> None:
        """New sessions appear while the gateway records; finished ones are read in the background."""
        fresh = [s for s in scan(self.root) if s.name not in self.summaries]
        for s in fresh:
            self.summaries[s.name] = s
        if fresh:
            self.query_one(FilterTable).set_rows(self._rows())
        pending = [n for n, s in self.summaries.items() if not s.loaded] + self._growing()
        if pending and not self._loading:
            self._loading = True
            self._load(pending)

    def _growing(self) -> list[str]:
        """The newest session may still be growing: reload it when its exchange count changes."""
        if not self.summaries:
            return []
        name = next(reversed(self.summaries))
        s = self.summaries[name]
        return [name] if s.loaded and len(s.session.exchanges()) != s.exchanges else []

    @work(thread=True, group="load")
    def _load(self, names: list[str]) -> None:
        """Read session details off the UI thread, newest first, publishing in batches."""
        worker = get_current_worker()
        batch: list[tuple[str, SessionSummary]] = []
        last = time.monotonic()
        try:
            for name in reversed(names):
                if worker.is_cancelled:
                    return
                batch.append((name, summarize_session(self.summaries[name].session)))
                if time.monotonic() - last > 0.25:
                    self.app.call_from_thread(self._loaded, batch)
                    batch, last = [], time.monotonic()
        finally:
            if not worker.is_cancelled:
                self.app.call_from_thread(self._loaded, batch, True)

    def _loaded(self, batch: list[tuple[str, SessionSummary]], done: bool = False) -> None:
        for name, summary in batch:
            self.summaries[name] = summary
        if batch:
            self.query_one(FilterTable).set_rows(self._rows())
        if done:
            self._loading = False

    def action_open(self) -> None:
        key = self.query_one(FilterTable).current_key
        if key:
            self._open(key)

    def on_filter_table_opened(self, event: FilterTable.Opened) -> None:
        self._open(event.key)

    def _open(self, key: str) -> None:
        from .exchanges import ExchangesScreen
        summary = self.summaries[key]
        if not summary.loaded:
            summary = self.summaries[key] = summarize_session(summary.session)
        self.app.push_screen(ExchangesScreen(summary))

    def action_back(self) -> None:
        self.query_one(FilterTable).clear_filter()
