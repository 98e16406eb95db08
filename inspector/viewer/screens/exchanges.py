"""A session's exchanges."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from ..data import ExchangeSummary, SessionSummary, summarize_session
from ..widgets import FilterTable

COLUMNS = ("#", "kind", "model", "status", "ttft", "duration", "tokens", "stop", "tool calls", "flags")


def _style(row: ExchangeSummary) -> str:
    if row.flags & {"error", "corrupt"}:
        return "red"
    if row.flags & {"incomplete", "repaired", "call-error"}:
        return "yellow"
    if row.kind in ("count_tokens", "hello", "event_logging", "models") or row.kind.endswith(("/quota", "/title")):
        return "dim"
    return ""


class ExchangesScreen(Screen):
    CSS_PATH = "exchanges.tcss"
    BINDINGS = [
        Binding("enter", "open", "Open", id="exchanges.open"),
        Binding("escape", "back", "Back", id="exchanges.back"),
        Binding("m", "mark", "Mark", id="exchanges.mark"),
        Binding("d", "diff", "Diff with marked", id="exchanges.diff"),
    ]

    def __init__(self, summary: SessionSummary) -> None:
        super().__init__()
        self.summary = summary

    def compose(self) -> ComposeResult:
        yield Header()
        s = self.summary
        yield Static(f"{s.name} · {s.exchanges} exchanges · {s.models} · {s.forms}", id="where")
        yield FilterTable(COLUMNS, id="exchanges")
        yield Static("", id="marked")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.summary.name
        self._fill()
        self.set_interval(2.0, self._refresh)
        self._show_mark()

    def _fill(self) -> None:
        self.query_one(FilterTable).set_rows(
            [(str(r.seq), r.cells(), r.text(), _style(r)) for r in self.summary.rows])

    def _refresh(self) -> None:
        if len(self.summary.session.exchanges()) != len(self.summary.rows) or \
                any("incomplete" in r.flags for r in self.summary.rows[-1:]):
            self.summary = summarize_session(self.summary.session)
            self._fill()

    def _row(self, key: str | None) -> ExchangeSummary | None:
        return next((r for r in self.summary.rows if str(r.seq) == key), None)

    def action_open(self) -> None:
        self._open(self.query_one(FilterTable).current_key)

    def on_filter_table_opened(self, event: FilterTable.Opened) -> None:
        self._open(event.key)

    def _open(self, key: str | None) -> None:
        from .exchange import ExchangeScreen
        row = self._row(key)
        if row is not None:
            self.app.push_screen(ExchangeScreen(row.exchange))

    def action_mark(self) -> None:
        row = self._row(self.query_one(FilterTable).current_key)
        if row is not None:
            self.app.marked = row.exchange
            self._show_mark()

    def _show_mark(self) -> None:
        marked = getattr(self.app, "marked", None)
        self.query_one("#marked", Static).update(
            f"marked: {marked.ref} — press d on another exchange to diff" if marked else
            "m marks an exchange, d diffs the highlighted one against it")

    def action_diff(self) -> None:
        from .diff import DiffScreen
        marked = getattr(self.app, "marked", None)
        row = self._row(self.query_one(FilterTable).current_key)
        if marked is None or row is None:
            self.notify("mark an exchange first (m), then highlight another and press d", severity="warning")
            return
        self.app.push_screen(DiffScreen([(marked, row.exchange)]))

    def action_back(self) -> None:
        if not self.query_one(FilterTable).clear_filter():
            self.app.pop_screen()
