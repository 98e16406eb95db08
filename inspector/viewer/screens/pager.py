"""What the exchange and diff screens share: a pager shown, ``/`` search in it, a status line."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Input, Static

from ..widgets import DetailView


class PagerScreen(Screen[None]):
    HINT = "/ search · n N next/previous match · Enter open/close · u unfold · U unfold all"
    BINDINGS = [
        Binding("escape", "back", "Back", id="pager.back"),
        Binding("slash", "search", "Search", id="pager.search"),
    ]

    def view(self) -> DetailView:
        """The pager shown."""
        raise NotImplementedError

    def compose_search(self) -> ComposeResult:
        yield Input(placeholder="search (Enter; then n / N for next / previous; Esc closes)", id="search")
        yield Static(self.HINT, id="status", markup=False)

    def action_search(self) -> None:
        search = self.query_one("#search", Input)
        search.add_class("open")
        search.value = self.view().query_text
        search.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "search":
            return
        event.input.remove_class("open")
        view = self.view()
        view.focus()
        view.search(event.value)

    def on_detail_view_status(self, event: DetailView.Status) -> None:
        self.query_one("#status", Static).update(event.text or self.HINT)

    def close_search(self) -> bool:
        """Esc: close the search box, else clear the highlights; returns whether there was either."""
        search = self.query_one("#search", Input)
        if search.has_class("open"):
            search.remove_class("open")
            self.view().focus()
            return True
        if self.view().clear_search():
            self.query_one("#status", Static).update(self.HINT)
            return True
        return False

    def action_back(self) -> None:
        if not self.close_search():
            self.app.pop_screen()
