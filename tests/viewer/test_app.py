"""The viewer driven like a person would, with Textual's Pilot."""

import shutil
from pathlib import Path

import pytest
from textual.widgets import DataTable, TabbedContent

from inspector.viewer import InspectorApp
from inspector.viewer.screens import DiffScreen, ExchangeScreen, ExchangesScreen, HelpScreen, SessionsScreen
from inspector.testing.samples import samples_dir

SAMPLES = samples_dir()
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def settle(app, pilot):
    await pilot.pause(0.1)
    await app.workers.wait_for_complete()
    await pilot.pause(0.1)


def rows(app) -> list[list[str]]:
    from rich.text import Text
    table = app.screen.query_one(DataTable)
    return [[Text.from_markup(str(c)).plain for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_drill_down_tabs_back_and_quit():
    app = InspectorApp(SAMPLES)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, SessionsScreen) and len(rows(app)) == 3
        assert "openai" in rows(app)[1][4] and rows(app)[1][5] == "2"
        await pilot.press("j", "enter")
        assert isinstance(app.screen, ExchangesScreen)
        assert [r[7] for r in rows(app)] == ["tool_use", "end_turn"] and rows(app)[0][8] == "Write"
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ExchangeScreen)
        tabs = app.screen.query_one(TabbedContent)
        for key, tab in zip("23456", ("request", "backend", "response", "events", "notes")):
            await pilot.press(key)
            assert tabs.active == tab
        await pilot.press("escape", "escape")
        assert isinstance(app.screen, SessionsScreen)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape", "q")
    assert app.return_code == 0


async def test_conversation_shows_tool_calls_and_results():
    app = InspectorApp(SAMPLES)
    async with app.run_test(size=(160, 60)) as pilot:
        await settle(app, pilot)
        await pilot.press("j", "enter", "j", "enter")
        await pilot.pause(0.3)
        text = "\n".join(str(w.render()) for w in app.screen.query(".turn"))
        assert "tool call → Write" in text and "hello from a local model" in text
        assert "tool result" in text and "I wrote hello.txt." in text
        assert "user\nWrite 'hello from a local model' into hello.txt" in text


async def test_filter_vim_keys_and_mark_then_diff():
    app = InspectorApp(SAMPLES)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *"error")
        assert len(rows(app)) == 1 and "llama9" in rows(app)[0][3]
        await pilot.press("escape")
        assert len(rows(app)) == 3
        await pilot.press("G", "k", "enter")  # the tool round trip
        await pilot.press("m", "j", "d")
        assert isinstance(app.screen, DiffScreen)
        where = str(app.screen.query_one("#where").render())
        assert "#1  ⟷" in where and "#2" in where and "lines differ" in where
        await pilot.press("v")
        assert "volatile values shown" in str(app.screen.query_one("#where").render())


async def test_new_sessions_appear_while_open(tmp_path):
    first = sorted(SAMPLES.iterdir())[0]
    shutil.copytree(first, tmp_path / first.name)
    app = InspectorApp(tmp_path)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        assert len(rows(app)) == 1
        later = sorted(SAMPLES.iterdir())[1]
        shutil.copytree(later, tmp_path / later.name)
        await pilot.press("r")
        await settle(app, pilot)
        assert len(rows(app)) == 2


async def test_a_corrupt_recording_is_flagged_and_still_opens(tmp_path):
    source = sorted(SAMPLES.iterdir())[1]
    shutil.copytree(source, tmp_path / source.name)
    broken = sorted((tmp_path / source.name).glob("0001_*"))[0]
    (broken / "exchange.json").write_text("{ truncated")
    log = broken / "client-response.jsonl"
    log.write_bytes(log.read_bytes()[:-25])
    app = InspectorApp(tmp_path)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        assert "corrupt" in rows(app)[0][7]
        await pilot.press("enter")
        assert "corrupt" in rows(app)[0][9] and rows(app)[1][7] == "end_turn"
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert isinstance(app.screen, ExchangeScreen)
        await pilot.press("5")
        events = str(app.screen.query_one("#events").query_one("Static").render())
        assert "problem:" in events and "truncated" in events


async def test_an_empty_folder_is_fine(tmp_path):
    app = InspectorApp(tmp_path)
    async with app.run_test() as pilot:
        await settle(app, pilot)
        assert rows(app) == []
        await pilot.press("enter", "j", "slash", "x")


@pytest.mark.parametrize("keys", [("d",), ("m", "d")])
async def test_diff_needs_a_mark(keys):
    app = InspectorApp(SAMPLES)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("enter", *keys)
        assert isinstance(app.screen, DiffScreen) == (keys == ("m", "d"))


async def test_diff_panes_scroll_together():
    from textual.containers import VerticalScroll
    from inspector.recording import list_sessions
    a, b = list_sessions(SAMPLES)[1].exchanges()
    app = InspectorApp(SAMPLES, diff=[(a, b)])
    async with app.run_test(size=(120, 20)) as pilot:
        await pilot.pause(0.2)
        left, right = app.screen.query_one("#left", VerticalScroll), app.screen.query_one("#right", VerticalScroll)
        assert left.max_scroll_y > 10
        await pilot.press("pagedown", "pagedown")
        await pilot.pause(0.3)
        assert left.scroll_y > 0 and right.scroll_y == left.scroll_y
        right.focus()
        await pilot.press("home")
        await pilot.pause(0.3)
        assert right.scroll_y == left.scroll_y == 0


async def test_repairs_are_flagged_filterable_and_shown_under_the_call(tmp_path):
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from recording.test_toolcalls import with_repairs
    root = with_repairs(tmp_path)
    app = InspectorApp(root)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        assert "repaired" in rows(app)[0][7] and "call-error" in rows(app)[0][7]
        await pilot.press("enter", "slash", *"repaired")
        assert len(rows(app)) == 1 and rows(app)[0][0] == "1"
        await pilot.press("escape", "enter")
        await pilot.pause(0.3)
        text = "\n".join(str(w.render()) for w in app.screen.query(".turn"))
        assert "repaired: Write: the model printed the call as text" in text
        assert "error: Write: (arguments): 'content' is a required property" in text
