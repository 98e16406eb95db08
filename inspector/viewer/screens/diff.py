"""Two exchanges side by side, on their meaning, changes highlighted, scrolling together."""

from __future__ import annotations

import difflib

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from ...recording import ExchangeRecord, exchange_view, view_lines


def side_by_side(a: list[str], b: list[str]) -> tuple[Text, Text, int]:
    """Aligned left/right texts and how many lines differ."""
    left, right = Text(), Text()
    changed = 0
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            for line in a[i1:i2]:
                left.append(line + "\n", style="dim")
                right.append(line + "\n", style="dim")
            continue
        la, lb = a[i1:i2], b[j1:j2]
        changed += max(len(la), len(lb))
        for k in range(max(len(la), len(lb))):
            left.append((la[k] if k < len(la) else "") + "\n", style="on dark_red" if k < len(la) else "")
            right.append((lb[k] if k < len(lb) else "") + "\n", style="on dark_green" if k < len(lb) else "")
    return left, right, changed


class DiffScreen(Screen):
    CSS_PATH = "diff.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back", id="diff.back"),
        Binding("v", "volatile", "Volatile values", id="diff.volatile"),
        Binding("n", "next_pair", "Next pair", id="diff.next"),
    ]

    def __init__(self, pairs: list[tuple[ExchangeRecord | None, ExchangeRecord | None]]) -> None:
        super().__init__()
        self.pairs = pairs
        self.index = 0
        self.volatile = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="where")
        with Horizontal():
            with VerticalScroll(id="left"):
                yield Static(id="left-text")
            with VerticalScroll(id="right"):
                yield Static(id="right-text")
        yield Footer()

    def on_mount(self) -> None:
        self._show()
        self.query_one("#left").focus()
        self.set_interval(0.05, self._sync)

    def _show(self) -> None:
        a, b = self.pairs[self.index]
        la = view_lines(exchange_view(a, volatile=self.volatile)) if a else ["(nothing)"]
        lb = view_lines(exchange_view(b, volatile=self.volatile)) if b else ["(nothing)"]
        left, right, changed = side_by_side(la, lb)
        self.query_one("#left-text", Static).update(left)
        self.query_one("#right-text", Static).update(right)
        names = f"{a.ref if a else '(none)'}  ⟷  {b.ref if b else '(none)'}"
        self.query_one("#where", Static).update(
            f"pair {self.index + 1}/{len(self.pairs)} · {names} · "
            + (f"{changed} lines differ" if changed else "the same")
            + (" · volatile values shown" if self.volatile else " · volatile values hidden (v shows them)"))

    def _sync(self) -> None:
        """Synchronised scrolling: the pane with focus leads, the other follows."""
        left, right = self.query_one("#left", VerticalScroll), self.query_one("#right", VerticalScroll)
        if left.scroll_y != right.scroll_y:
            if left.has_focus or not right.has_focus:
                right.scroll_to(y=left.scroll_y, animate=False)
            else:
                left.scroll_to(y=right.scroll_y, animate=False)

    def action_volatile(self) -> None:
        self.volatile = not self.volatile
        self._show()

    def action_next_pair(self) -> None:
        self.index = (self.index + 1) % len(self.pairs)
        self._show()

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
        else:
            self.app.exit()
