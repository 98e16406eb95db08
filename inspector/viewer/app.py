"""``inspector view`` / ``inspector diff``: the Textual app."""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.binding import Binding

from ..recording import ExchangeRecord
from .screens import DiffScreen, HelpScreen, SessionsScreen


class InspectorApp(App[None]):
    TITLE = "Claude Code inspector"
    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark", "help", "Help", id="app.help"),
    ]

    def __init__(self, root: Path | str = "recordings", *,
                 diff: list[tuple[ExchangeRecord | None, ExchangeRecord | None]] | None = None) -> None:
        super().__init__()
        self.root = Path(root)
        self.diff_pairs = diff
        self.marked: ExchangeRecord | None = None

    def on_mount(self) -> None:
        if self.diff_pairs is not None:
            self.push_screen(DiffScreen(self.diff_pairs))
        else:
            self.push_screen(SessionsScreen(self.root))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())
