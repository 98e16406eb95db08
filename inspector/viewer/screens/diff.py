"""Two exchanges side by side, on their meaning: one row per line, changed words highlighted.

Rows align because each row holds both sides; long equal stretches fold (Enter shows them),
a long changed line shows its changed words with the rest elided (``u`` shows it whole).
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, Static

from ...recording import ExchangeRecord, exchange_view, view_lines
from ..documents import diff_items
from ..widgets import DetailView, Item
from .pager import PagerScreen


def _lines(ex: ExchangeRecord | None, volatile: bool) -> list[str]:
    return view_lines(exchange_view(ex, volatile=volatile)) if ex else ["(nothing)"]


class DiffScreen(PagerScreen):
    CSS_PATH = ["pager.tcss", "diff.tcss"]
    HINT = ("] [ next/previous change · Enter shows equal lines · u whole line · / search · "
            "v volatile values · p next pair")
    BINDINGS = [
        Binding("v", "volatile", "Volatile values", id="diff.volatile"),
        Binding("p", "next_pair", "Next pair", id="diff.next"),
        Binding("P", "next_pair(-1)", "Previous pair", show=False, id="diff.previous"),
    ]

    def __init__(self, pairs: list[tuple[ExchangeRecord | None, ExchangeRecord | None]]) -> None:
        super().__init__()
        self.pairs = pairs
        self.index = 0
        self.volatile = False
        self.changed: int | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="where", markup=False)
        yield DetailView(id="diff", jump_tags=frozenset({"change"}))
        yield from self.compose_search()
        yield Footer()

    def view(self) -> DetailView:
        return self.query_one("#diff", DetailView)

    def on_mount(self) -> None:
        self.view().focus()
        self._show()

    def _names(self) -> tuple[str, str]:
        a, b = self.pairs[self.index]
        return (a.ref if a else "(none)", b.ref if b else "(none)")

    def _show(self) -> None:
        self.changed = None
        self._where()
        a, b = self.pairs[self.index]
        self._build(a, b, self.volatile, self.index)

    @work(thread=True, exclusive=True, group="diff")
    def _build(self, a: ExchangeRecord | None, b: ExchangeRecord | None, volatile: bool, index: int) -> None:
        items, changed = diff_items(_lines(a, volatile), _lines(b, volatile), self._names())
        self.app.call_from_thread(self._built, items, changed, index)

    def _built(self, items: list[Item], changed: int, index: int) -> None:
        if index != self.index:
            return
        self.changed = changed
        view = self.view()
        view.set_items(items)
        if changed:
            view.action_jump(1)  # straight to the first change
        self._where()

    def _where(self) -> None:
        left, right = self._names()
        state = ("comparing…" if self.changed is None else
                 f"{self.changed} lines differ" if self.changed else "the same")
        self.query_one("#where", Static).update(
            f"pair {self.index + 1}/{len(self.pairs)} · {left}  ⟷  {right} · {state}"
            + (" · volatile values shown" if self.volatile else " · volatile values hidden (v shows them)"))

    def action_volatile(self) -> None:
        self.volatile = not self.volatile
        self._show()

    def action_next_pair(self, step: int = 1) -> None:
        self.index = (self.index + step) % len(self.pairs)
        self._show()

    def action_back(self) -> None:
        if self.close_search():
            return
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
        else:
            self.app.exit()
