"""The pager widget on its own: cursor, folds, search across wrapped lines, resize."""

import pytest
from rich.text import Text
from textual.app import App, ComposeResult

from inspector.viewer.widgets import DetailView, Item

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


class One(App[None]):
    def __init__(self, items: list[Item]) -> None:
        super().__init__()
        self.items = items
        self.statuses: list[str] = []

    def compose(self) -> ComposeResult:
        yield DetailView(self.items, id="view")

    def on_mount(self) -> None:
        self.query_one(DetailView).focus()

    def on_detail_view_status(self, event: DetailView.Status) -> None:
        self.statuses.append(event.text)


def doc() -> list[Item]:
    long = "alpha " * 200 + "needle " + "omega " * 200
    return [
        Item.of(Text("title\nfull body"), collapsed=Text("▸ title"), tag="system", gap=1),
        Item.of(Text(long), folded=Text(long[:100] + "…"), tag="fold"),
        *[Item.of(f"line {i}") for i in range(100)],
    ]


async def test_a_match_in_folded_text_unfolds_it_and_is_found_on_its_wrapped_line():
    app = One(doc())
    async with app.run_test(size=(40, 12)) as pilot:
        await pilot.pause()
        view = app.query_one(DetailView)
        assert view.text_lines()[0].endswith("▸ title") and "needle" not in "\n".join(view.text_lines())
        assert view.search("needle") == 1
        assert view.items[1].state == "full" and "needle" in view.text_lines()[view.cursor]
        await pilot.pause()
        assert app.statuses[-1] == "match 1/1 for 'needle' (n next, N previous)"
        assert view.search("NEEDLE") == 0  # smart case
        await pilot.pause()
        assert app.statuses[-1] == "no match for 'NEEDLE'"
        assert view.search("line 9") == 11  # line 9, line 90…99
        await pilot.press("N")
        assert view.text_lines()[view.cursor].strip() == "line 99"


async def test_enter_toggles_the_item_under_the_cursor_and_the_cursor_stays_on_it():
    app = One(doc())
    async with app.run_test(size=(40, 12)) as pilot:
        await pilot.pause()
        view = app.query_one(DetailView)
        await pilot.press("enter")
        assert view.items[0].state == "full" and view.text_lines()[1].endswith("full body")
        await pilot.press("j", "j", "j", "enter")  # on the folded item now
        assert view.items[1].state == "full" and view.cursor_item is view.items[1]
        await pilot.press("enter")
        assert view.items[1].state == "folded"


async def test_a_narrower_window_rewraps():
    app = One(doc())
    async with app.run_test(size=(80, 12)) as pilot:
        await pilot.pause()
        view = app.query_one(DetailView)
        view.items[1].state = "full"
        view.set_items(view.items)
        wide = len(view.text_lines())
        await pilot.resize_terminal(40, 12)
        await pilot.pause()
        assert len(view.text_lines()) > wide and all(len(line) <= 40 for line in view.text_lines())


async def test_an_empty_view_shows_its_placeholder_and_ignores_keys():
    app = One([])
    async with app.run_test(size=(40, 6)) as pilot:
        await pilot.pause()
        view = app.query_one(DetailView)
        await pilot.press("j", "enter", "u", "U", "n", "G", "right_square_bracket")
        assert view.cursor == 0 and view.cursor_item is None and view.search("x") == 0


async def test_a_jump_asked_before_the_items_are_laid_out_is_made_once_they_are():
    """The diff screen jumps to the first change as soon as it has its rows; a view not laid out yet
    (no width: its tab is not shown) has no line positions, and the jump used to raise IndexError."""
    items = [Item.of(f"same {i}") for i in range(30)] + [Item.of("changed", tag="change")]
    app = One([])
    async with app.run_test(size=(40, 12)) as pilot:
        await pilot.pause()
        view = app.query_one(DetailView)
        view.jump_tags = {"change"}
        view.display = False
        await pilot.pause()
        view.set_items(items)
        view.action_jump(1)  # nothing to move to yet: remembered
        view.display = True
        await pilot.pause()
        await pilot.pause()
        assert view.text_lines()[view.cursor].strip() == "changed"
