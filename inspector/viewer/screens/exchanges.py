"""A session's exchanges: the timeline above, the list below."""

from __future__ import annotations

from textual import getters, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, Static
from textual.worker import get_current_worker

from ...recording import ExchangeRecord
from ..app import InspectorApp
from ..data import EXCHANGE_COLUMNS, ExchangeSummary, SessionSummary, request_tool_errors, summarize_session
from ..widgets import FilterTable, TimelineView

_STYLE = {"error": "red", "warning": "yellow", "side": "dim", "": ""}


def _style(row: ExchangeSummary) -> str:
    return _STYLE[row.severity]


class ExchangesScreen(Screen[None]):
    CSS_PATH = "exchanges.tcss"
    BINDINGS = [
        Binding("enter", "open", "Open", id="exchanges.open"),
        Binding("escape", "back", "Back", id="exchanges.back"),
        Binding("m", "mark", "Mark", id="exchanges.mark"),
        Binding("d", "diff", "Diff with marked", id="exchanges.diff"),
        Binding("t", "timeline", "Timeline", id="exchanges.timeline"),
    ]
    app = getters.app(InspectorApp)

    def __init__(self, summary: SessionSummary) -> None:
        super().__init__()
        self.summary = summary
        self._reloading = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self._where(), id="where", markup=False)
        yield TimelineView(self.summary.timeline(), id="timeline")
        yield FilterTable(EXCHANGE_COLUMNS, id="exchanges",
                          placeholder="filter: words that must all appear (kinds, models, tools, error text…; "
                                      "Esc clears)")
        yield Static("", id="marked", markup=False)
        yield Footer()

    def _where(self) -> str:
        s = self.summary
        return f"{s.name} · {s.exchanges} exchanges · {s.models} · {s.forms}"

    def on_mount(self) -> None:
        self.sub_title = self.summary.name
        self._fill()
        self.set_interval(2.0, self._refresh)
        self.watch(self.app, "marked", self._show_mark)
        self._find_tool_errors(self.summary.rows)
        if not self.summary.loaded:
            self._refresh()  # opened before the sessions screen had read it: read it now, in a worker

    def _fill(self) -> None:
        self.query_one(FilterTable).set_rows(
            [(str(r.seq), r.cells(), r.text(), _style(r)) for r in self.summary.rows])
        self.query_one(TimelineView).show(self.summary.timeline())
        self.query_one("#where", Static).update(self._where())

    # -- background work -------------------------------------------------------------------------------
    def _refresh(self) -> None:
        if not self._reloading:
            self._reloading = True
            self._reload(self.summary)

    @work(thread=True, group="reload")
    def _reload(self, summary: SessionSummary) -> None:
        """The session may still be growing: new exchanges, or the last one finishing."""
        try:
            if len(summary.session.exchanges()) == len(summary.rows) and \
                    not any("incomplete" in r.flags for r in summary.rows[-1:]):
                return
            fresh = summarize_session(summary.session, previous=summary.rows)
            if [r.cells() for r in fresh.rows] != [r.cells() for r in summary.rows]:
                self.app.call_from_thread(self._reloaded, fresh)
        finally:
            self._reloading = False

    def _reloaded(self, fresh: SessionSummary) -> None:
        self.summary = fresh
        self._fill()
        self._find_tool_errors([r for r in fresh.rows if not r.tool_results_known])

    @work(thread=True, group="tool-errors")
    def _find_tool_errors(self, rows: list[ExchangeSummary]) -> None:
        """Older recordings have no ``tool_results`` in exchange.json: read the requests instead."""
        worker = get_current_worker()
        found: list[tuple[ExchangeSummary, list[str]]] = []
        for row in rows:
            if worker.is_cancelled:
                return
            if row.tool_results_known or not row.kind.startswith("messages"):
                continue
            # A throwaway record: the request is not kept in memory by the row's record.
            found.append((row, request_tool_errors(ExchangeRecord(row.exchange.path).readable_request())))
        if found and not worker.is_cancelled:
            self.app.call_from_thread(self._tool_errors_found, found)

    def _tool_errors_found(self, found: list[tuple[ExchangeSummary, list[str]]]) -> None:
        for row, names in found:
            row.mark_tool_errors(names)
        if any(names for _, names in found):
            self.summary.flags.add("tool-error")
            self._fill()

    # -- keys ----------------------------------------------------------------------------------------------
    def _row(self, key: str | None) -> ExchangeSummary | None:
        return next((r for r in self.summary.rows if str(r.seq) == key), None)

    def on_filter_table_highlighted(self, event: FilterTable.Highlighted) -> None:
        row = self._row(event.key)
        self.query_one(TimelineView).highlight = row.seq if row else None

    def action_open(self) -> None:
        self._open(self.query_one(FilterTable).current_key)

    def on_filter_table_opened(self, event: FilterTable.Opened) -> None:
        self._open(event.key)

    def _open(self, key: str | None) -> None:
        from .exchange import ExchangeScreen
        row = self._row(key)
        if row is not None:
            self.app.push_screen(ExchangeScreen(row.exchange))

    def action_timeline(self) -> None:
        self.query_one(TimelineView).toggle_class("hidden")

    def action_mark(self) -> None:
        row = self._row(self.query_one(FilterTable).current_key)
        if row is not None:
            self.app.marked = row.exchange

    def _show_mark(self, marked: ExchangeRecord | None) -> None:
        self.query_one("#marked", Static).update(
            f"marked: {marked.ref} — press d on another exchange to diff" if marked else
            "m marks an exchange, d diffs the highlighted one against it, t shows/hides the timeline")

    def action_diff(self) -> None:
        from .diff import DiffScreen
        marked = self.app.marked
        row = self._row(self.query_one(FilterTable).current_key)
        if marked is None or row is None:
            self.notify("mark an exchange first (m), then highlight another and press d", severity="warning")
            return
        self.app.push_screen(DiffScreen([(marked, row.exchange)]))

    def action_back(self) -> None:
        if not self.query_one(FilterTable).clear_filter():
            self.app.pop_screen()
