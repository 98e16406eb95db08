"""``inspector view`` / ``inspector diff``: the Textual app."""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive

from ..recording import ExchangeRecord

__all__ = ["InspectorApp"]


class InspectorApp(App[None]):
    """The screens reach the app's state through ``getters.app(InspectorApp)``, typed."""

    TITLE = "Claude Code inspector"
    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark", "help", "Help", id="app.help"),
    ]
    marked: reactive[ExchangeRecord | None] = reactive(None)  # the exchange `m` marked for a diff

    def __init__(self, root: Path | str = "recordings", *,
                 diff: list[tuple[ExchangeRecord | None, ExchangeRecord | None]] | None = None) -> None:
        super().__init__()
        self.root = Path(root)
        self.diff_pairs = diff

    def on_mount(self) -> None:
        # Imported here: the screens import this module for their typed ``app``.
        from .screens import DiffScreen, SessionsScreen
        if self.diff_pairs is not None:
            self.push_screen(DiffScreen(self.diff_pairs))
        else:
            self.push_screen(SessionsScreen(self.root))

    def action_help(self) -> None:
        from .screens import HelpScreen
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())
