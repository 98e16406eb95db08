"""A DataTable with a ``/`` filter box and vim keys."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable, Input


class FilterTable(Vertical):
    """Rows are ``(key, cells, search_text, style)``; Enter posts ``FilterTable.Opened(key)``."""

    DEFAULT_CSS = (Path(__file__).with_name("table.tcss")).read_text()
    BINDINGS = [
        Binding("j", "down", "Down", show=False, id="table.down"),
        Binding("k", "up", "Up", show=False, id="table.up"),
        Binding("g", "top", "Top", show=False, id="table.top"),
        Binding("G", "bottom", "Bottom", show=False, id="table.bottom"),
        Binding("slash", "filter", "Filter", id="table.filter"),
    ]

    class Opened(Message):
        def __init__(self, table: FilterTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

    class Highlighted(Message):
        def __init__(self, table: FilterTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

    def __init__(self, columns: Iterable[str], *, placeholder: str = "filter: words that must all appear (Esc clears)",
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.placeholder = placeholder
        self.columns = list(columns)
        self.rows: list[tuple[str, tuple[str, ...], str, str]] = []
        self.query_text = ""

    def compose(self) -> ComposeResult:
        yield Input(placeholder=self.placeholder, id="filter")
        table: DataTable[Any] = DataTable(cursor_type="row", zebra_stripes=True)
        yield table

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one(DataTable)

    def on_mount(self) -> None:
        self.table.add_columns(*self.columns)
        self.table.focus()

    def set_rows(self, rows: list[tuple[str, tuple[str, ...], str, str]]) -> None:
        self.rows = rows
        self._render_rows()

    def _render_rows(self) -> None:
        table = self.table
        keep = table.cursor_row
        table.clear()
        words = self.query_text.lower().split()
        for key, cells, text, style in self.rows:
            if all(w in text for w in words):
                # Text, not markup: recorded values may contain "[" (a model named "[x]", a tool's output).
                table.add_row(*[Text(c, style=style) for c in cells], key=key)
        if table.row_count:
            table.move_cursor(row=min(keep, table.row_count - 1))

    @property
    def current_key(self) -> str | None:
        table = self.table
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value

    # -- actions --------------------------------------------------------------------------------
    def action_down(self) -> None:
        self.table.action_cursor_down()

    def action_up(self) -> None:
        self.table.action_cursor_up()

    def action_top(self) -> None:
        self.table.move_cursor(row=0)

    def action_bottom(self) -> None:
        self.table.move_cursor(row=max(0, self.table.row_count - 1))

    def action_filter(self) -> None:
        self.add_class("filtering")
        self.query_one(Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_text = event.value
        self._render_rows()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.table.focus()

    def clear_filter(self) -> bool:
        """Esc: close the filter if it is open (returns whether it was)."""
        if not self.has_class("filtering"):
            return False
        self.remove_class("filtering")
        self.query_one(Input).value = ""
        self.query_text = ""
        self._render_rows()
        self.table.focus()
        return True

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.post_message(self.Opened(self, str(event.row_key.value)))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.Highlighted(self, str(event.row_key.value)))


