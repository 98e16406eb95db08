"""A long read-only document, read like a pager: a cursor line, folds, search.

The document is a list of ``Item``s (a conversation turn, a JSON line, an event, a diff row). An item
may be *collapsed* (one title line, e.g. the system prompt) or *folded* (long strings cut short); Enter
toggles the item under the cursor, ``u`` unfolds it, ``U`` unfolds everything. ``/`` searches the whole
text, folded parts included (an item with a hit is unfolded), ``n``/``N`` go to the next/previous match.
Lines are rendered only for the width shown and cached per item (Textual's Line API), so a long
exchange scrolls as fast as a short one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.events import Click, Resize
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

__all__ = ["DetailView", "Item"]

Columns = tuple[Text, ...]
_SEPARATOR = " │ "
_GUTTER = 2


def _cols(value: Text | str | Columns) -> Columns:
    if isinstance(value, tuple):
        return value
    return (value if isinstance(value, Text) else Text(value),)


@dataclass(eq=False)
class Item:
    """One block of the document. ``full``/``folded``/``collapsed`` are one Text, or two (a diff row)."""

    full: Columns
    folded: Columns | None = None
    collapsed: Columns | None = None
    bar: str = ""  # style of the bar left of the item ("" for none)
    gap: int = 0  # blank lines after it
    tag: str = ""  # what it is: user, assistant, tool-call, system, json, fold, change…
    state: str = field(default="")

    def __post_init__(self) -> None:
        self.state = self.state or self.default_state

    @classmethod
    def of(cls, full: Text | str | Columns, *, folded: Text | str | Columns | None = None,
           collapsed: Text | str | Columns | None = None, bar: str = "", gap: int = 0, tag: str = "") -> Item:
        return cls(_cols(full), None if folded is None else _cols(folded),
                   None if collapsed is None else _cols(collapsed), bar, gap, tag)

    @property
    def default_state(self) -> str:
        return "collapsed" if self.collapsed is not None else "folded" if self.folded is not None else "full"

    def shown(self) -> Columns:
        if self.state == "collapsed" and self.collapsed is not None:
            return self.collapsed
        if self.state == "folded" and self.folded is not None:
            return self.folded
        return self.full

    @property
    def toggles(self) -> bool:
        return self.collapsed is not None or self.folded is not None

    def toggle(self) -> None:
        """Enter: collapsed → open; folded → full; full → back as it was."""
        if self.state == "collapsed":
            self.state = "folded" if self.folded is not None else "full"
        elif self.state == "folded":
            self.state = "full"
        else:
            self.state = self.default_state

    @property
    def plain(self) -> str:
        return "\n".join(t.plain for t in self.full)


class DetailView(ScrollView, can_focus=True):
    """The document of one tab; ``set_items`` replaces it (the screen builds items off the UI thread)."""

    DEFAULT_CSS = (Path(__file__).with_name("detail.tcss")).read_text()
    COMPONENT_CLASSES = {"detail--cursor", "detail--match", "detail--match-current", "detail--gutter",
                         "detail--placeholder"}
    BINDINGS = [
        Binding("j,down", "cursor(1)", "Down", show=False, id="detail.down"),
        Binding("k,up", "cursor(-1)", "Up", show=False, id="detail.up"),
        Binding("pagedown,space,ctrl+f", "page(1)", "Page down", show=False, id="detail.page_down"),
        Binding("pageup,b,ctrl+b", "page(-1)", "Page up", show=False, id="detail.page_up"),
        Binding("g,home", "edge(0)", "Top", show=False, id="detail.top"),
        Binding("G,end", "edge(1)", "Bottom", show=False, id="detail.bottom"),
        Binding("enter", "open_close", "Open/close", id="detail.open_close"),
        Binding("u", "unfold", "Unfold", id="detail.unfold"),
        Binding("U", "unfold_all", "Unfold all", id="detail.unfold_all"),
        Binding("right_square_bracket", "jump(1)", "Next item", show=False, id="detail.next_item"),
        Binding("left_square_bracket", "jump(-1)", "Previous item", show=False, id="detail.previous_item"),
        Binding("n", "match(1)", "Next match", show=False, id="detail.next_match"),
        Binding("N", "match(-1)", "Previous match", show=False, id="detail.previous_match"),
    ]

    class Status(Message):
        """Search results changed: the screen shows ``text``."""

        def __init__(self, view: DetailView, text: str) -> None:
            super().__init__()
            self.view = view
            self.text = text

    def __init__(self, items: list[Item] | None = None, *, placeholder: str = "loading…",
                 jump_tags: frozenset[str] | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self.items: list[Item] = items or []
        self.placeholder = placeholder
        self.jump_tags = jump_tags
        self.cursor = 0
        self.query_text = ""
        self._lines: list[tuple[int, Strip]] = []  # (item index or -1 for a gap, content strip)
        self._starts: list[int] = []  # first line of each item
        self._cache: dict[int, list[Strip]] = {}
        self._width = 0
        self._matches: list[tuple[int, int, int, int]] = []  # (item, column, start, end)
        self._match_lines: list[int] = []
        self._current = -1
        self._dirty = False
        #: A jump asked for before the items were laid out (a tab not shown yet): made once they are.
        self._pending_jump = 0

    # -- the document ------------------------------------------------------------------------------
    def set_items(self, items: list[Item], *, placeholder: str | None = None) -> None:
        self.items = items
        self._pending_jump = 0
        if placeholder is not None:
            self.placeholder = placeholder
        self.cursor = 0
        self.query_text = ""
        self._matches, self._match_lines, self._current = [], [], -1
        self._cache.clear()
        if self.size.width == 0:
            # A tab not shown yet: laid out when it is (six tabs of a big exchange would cost the UI thread).
            self._dirty = True
            return
        self._relayout(clear=True)
        self.scroll_to(y=0, animate=False)

    @property
    def cursor_item(self) -> Item | None:
        if not self._lines:
            return None
        index = self._lines[min(self.cursor, len(self._lines) - 1)][0]
        if index < 0:  # a gap belongs to the item above it
            index = next((i for i, _ in reversed(self._lines[:self.cursor]) if i >= 0), 0)
        return self.items[index] if 0 <= index < len(self.items) else None

    def text_lines(self) -> list[str]:
        """The document as laid out (for tests and the terminal test's assertions)."""
        return [strip.text.rstrip() for _, strip in self._lines]

    def _content_width(self) -> int:
        return max(10, self.scrollable_content_region.width - _GUTTER)

    def on_resize(self, event: Resize) -> None:
        if self._dirty or self._content_width() != self._width:
            self._dirty = False
            self._relayout(clear=True)
        if self._pending_jump:
            direction, self._pending_jump = self._pending_jump, 0
            self.action_jump(direction)

    def _relayout(self, *, clear: bool = False, changed: set[int] | None = None) -> None:
        if clear:
            self._cache.clear()
        for index in changed or ():
            self._cache.pop(index, None)
        self._width = self._content_width()
        lines: list[tuple[int, Strip]] = []
        starts: list[int] = []
        blank = Strip.blank(self._width)
        for index, item in enumerate(self.items):
            starts.append(len(lines))
            strips = self._cache.get(index)
            if strips is None:
                strips = self._cache[index] = self._render_item(index, item)
            lines.extend((index, s) for s in strips)
            lines.extend((-1, blank) for _ in range(item.gap))
        self._lines, self._starts = lines, starts
        self._match_lines = self._locate_matches()
        self.cursor = min(self.cursor, max(0, len(lines) - 1))
        self.virtual_size = Size(self._width + _GUTTER, max(1, len(lines)))
        self.refresh()

    def _highlighted(self, index: int, column: int, text: Text) -> Text:
        hits = [(k, m) for k, m in enumerate(self._matches) if m[0] == index and m[1] == column]
        if not hits:
            return text
        text = text.copy()
        for k, (_, _, start, end) in hits:
            name = "detail--match-current" if k == self._current else "detail--match"
            text.stylize(self.get_component_rich_style(name, partial=True) + Style(meta={"match": k}), start, end)
        return text

    def _render_item(self, index: int, item: Item) -> list[Strip]:
        console = self.app.console
        columns = item.shown()
        n = len(columns)
        width = (self._width - len(_SEPARATOR) * (n - 1)) // n if n > 1 else self._width
        options = console.options.update(width=width, height=None, overflow="fold", no_wrap=False,
                                         highlight=False, markup=False)
        rendered = []
        for c, text in enumerate(columns):
            text = self._highlighted(index, c, text)
            text.overflow = "fold"
            text.end = ""
            lines = console.render_lines(text, options, pad=True) or [[Segment(" " * width)]]
            rendered.append(lines)
        if n == 1:
            return [Strip(line, width) for line in rendered[0]]
        separator = Segment(_SEPARATOR, self.get_component_rich_style("detail--gutter"))
        out = []
        for row in zip_longest(*rendered, fillvalue=[Segment(" " * width)]):
            segments: list[Segment] = []
            for c, line in enumerate(row):
                if c:
                    segments.append(separator)
                segments.extend(line)
            out.append(Strip(segments).adjust_cell_length(self._width))
        return out

    # -- drawing -----------------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        number = scroll_y + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if not self._lines:
            if y == 0:
                return Strip([Segment(self.placeholder, self.get_component_rich_style("detail--placeholder"))]
                             ).adjust_cell_length(width, base)
            return Strip.blank(width, base)
        if number >= len(self._lines):
            return Strip.blank(width, base)
        index, content = self._lines[number]
        cursor_index = self._item_at(self.cursor)
        owner = index if index >= 0 else self._item_at(number)
        gutter = self.get_component_rich_style("detail--gutter")
        if number == self.cursor:
            mark = Segment("▶", gutter)
        elif owner == cursor_index and index >= 0 and self.has_focus:
            mark = Segment("┃", gutter)
        else:
            mark = Segment(" ")
        item = self.items[owner] if 0 <= owner < len(self.items) else None
        bar = Segment("▌", Style.parse(item.bar)) if item and item.bar and index >= 0 else Segment(" ")
        strip = Strip([mark, bar, *content]).discard_meta()
        if number == self.cursor:
            strip = strip.apply_style(self.get_component_rich_style("detail--cursor"))
        return strip.crop_extend(scroll_x, scroll_x + width, base).apply_style(base)

    def _item_at(self, line: int) -> int:
        for i in range(min(line, len(self._lines) - 1), -1, -1):
            if self._lines[i][0] >= 0:
                return self._lines[i][0]
        return 0

    # -- moving --------------------------------------------------------------------------------------
    @property
    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _move_to(self, line: int, *, center: bool = False) -> None:
        old = self.cursor
        self.cursor = max(0, min(line, len(self._lines) - 1))
        height = self.scrollable_content_region.height
        top = round(self.scroll_y)
        if center and not top <= self.cursor < top + height:
            self.scroll_to(y=max(0, self.cursor - height // 3), animate=False)
        elif self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False)
        if old != self.cursor:
            self.refresh()

    def _visible_cursor(self) -> int:
        """After a mouse scroll the cursor may be off screen: keys then start from what is shown."""
        top = round(self.scroll_y)
        height = self.scrollable_content_region.height
        return self.cursor if top <= self.cursor < top + height else top

    def action_cursor(self, step: int) -> None:
        self._move_to(self._visible_cursor() + step)

    def action_page(self, direction: int) -> None:
        cursor = self._visible_cursor()
        self.scroll_to(y=self.scroll_y + direction * self._page, animate=False)
        self._move_to(cursor + direction * self._page)

    def action_edge(self, end: int) -> None:
        self._move_to(len(self._lines) - 1 if end else 0)
        if not end:
            self.scroll_to(y=0, animate=False)

    def action_jump(self, direction: int) -> None:
        if self._dirty or len(self._starts) != len(self.items):  # not laid out yet: jump once it is
            self._pending_jump = direction
            return
        current = self._item_at(self._visible_cursor())
        order = range(current + 1, len(self.items)) if direction > 0 else range(current - 1, -1, -1)
        for i in order:
            if self.jump_tags is None or self.items[i].tag in self.jump_tags:
                self._move_to(self._starts[i], center=True)
                return

    def on_click(self, event: Click) -> None:
        line = round(self.scroll_y) + event.y
        if 0 <= line < len(self._lines):
            item = self._item_at(line)
            if line == self._starts[item] and self.items[item].state == "collapsed":
                self.cursor = line
                self.action_open_close()
            else:
                self._move_to(line)

    # -- folding -------------------------------------------------------------------------------------
    def _restate(self, changed: set[int], anchor: int) -> None:
        if not changed:
            return
        self._relayout(changed=changed)
        self._move_to(self._starts[anchor] if anchor < len(self._starts) else 0)

    def action_open_close(self) -> None:
        item = self.cursor_item
        if item is None or not item.toggles:
            return
        index = self.items.index(item)
        item.toggle()
        self._restate({index}, index)

    def action_unfold(self) -> None:
        item = self.cursor_item
        if item is None or item.state == "full":
            return
        index = self.items.index(item)
        item.state = "full"
        self._restate({index}, index)

    def action_unfold_all(self) -> None:
        """Everything open; pressed again, everything back as it was."""
        anchor = self._item_at(self._visible_cursor())
        everything_open = all(i.state == "full" for i in self.items)
        changed = set()
        for index, item in enumerate(self.items):
            state = item.default_state if everything_open else "full"
            if item.state != state:
                item.state = state
                changed.add(index)
        self._restate(changed, anchor)

    def open_first(self, tag: str) -> bool:
        """Open (or close again) the first item tagged ``tag`` and put the cursor on it."""
        index = next((i for i, item in enumerate(self.items) if item.tag == tag), None)
        if index is None:
            return False
        self.items[index].toggle()
        self._relayout(changed={index})
        self._move_to(self._starts[index], center=True)
        return True

    # -- search --------------------------------------------------------------------------------------
    def _find(self, query: str) -> set[int]:
        """Every match in the full text; returns the items to unfold so that each one is shown."""
        sensitive = query != query.lower()  # smart case, as in less -I / vim smartcase
        needle = query if sensitive else query.lower()
        matches: list[tuple[int, int, int, int]] = []
        unfold: set[int] = set()
        for index, item in enumerate(self.items):
            counts_full = 0
            for c, text in enumerate(item.full):
                hay = text.plain if sensitive else text.plain.lower()
                start = hay.find(needle)
                while start >= 0:
                    matches.append((index, c, start, start + len(needle)))
                    counts_full += 1
                    start = hay.find(needle, start + max(1, len(needle)))
            if counts_full and item.state != "full":
                unfold.add(index)
        self._matches = matches
        return unfold

    def _locate_matches(self) -> list[int]:
        """The line each match landed on after wrapping (only the lines of items with a match are read)."""
        if not self._matches:
            return []
        found: dict[int, int] = {}
        for index in sorted({m[0] for m in self._matches}):
            end = self._starts[index + 1] if index + 1 < len(self._starts) else len(self._lines)
            for line in range(self._starts[index], end):
                for segment in self._lines[line][1]:
                    style = segment.style
                    if style is not None and style.meta and "match" in style.meta:
                        found.setdefault(style.meta["match"], line)
        return [found.get(k, self._starts[m[0]]) for k, m in enumerate(self._matches)]

    def search(self, query: str) -> int:
        """Highlight every match of ``query`` and go to the first one at or after the cursor."""
        if self._dirty:
            self._dirty = False
            self._relayout(clear=True)
        self.query_text = query
        if not query:
            self.clear_search()
            return 0
        before = {m[0] for m in self._matches}
        unfold = self._find(query)
        for index in unfold:
            self.items[index].state = "full"
        touched = before | {m[0] for m in self._matches} | unfold
        self._current = -1
        if len(touched) > 200:
            self._relayout(clear=True)
        else:
            self._relayout(changed=touched)
        if self._matches:
            after = next((k for k, line in enumerate(self._match_lines) if line >= self.cursor), 0)
            self._go(after)
        else:
            self.post_message(self.Status(self, f"no match for {query!r}"))
        return len(self._matches)

    def _go(self, k: int) -> None:
        previous = self._matches[self._current][0] if 0 <= self._current < len(self._matches) else None
        self._current = k % len(self._matches)
        changed = {self._matches[self._current][0]}
        if previous is not None:
            changed.add(previous)
        self._relayout(changed=changed)
        self._move_to(self._match_lines[self._current], center=True)
        self.post_message(self.Status(self, f"match {self._current + 1}/{len(self._matches)} for "
                                            f"{self.query_text!r} (n next, N previous)"))

    def action_match(self, direction: int) -> None:
        if not self._matches:
            if self.query_text:
                self.post_message(self.Status(self, f"no match for {self.query_text!r}"))
            return
        self._go(self._current + direction)

    def clear_search(self) -> bool:
        """Remove the highlights; returns whether there were any."""
        had = bool(self.query_text)
        touched = {m[0] for m in self._matches}
        self.query_text, self._matches, self._match_lines, self._current = "", [], [], -1
        if had:
            self._relayout(changed=touched)
            self.post_message(self.Status(self, ""))
        return had

    @property
    def match_count(self) -> int:
        return len(self._matches)
