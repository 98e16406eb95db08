"""14.13: the viewer opens recordings of the wrong shape and shows what is wrong instead of exiting."""

import pytest
from rich.text import Text
from textual.widgets import DataTable, Static

from inspector.testing.bad_recordings import SHAPES, bad_session
from inspector.viewer import InspectorApp
from inspector.viewer.screens import ExchangeScreen, ExchangesScreen, SessionsScreen

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def test_the_bad_session_is_flagged_and_lists_every_exchange(tmp_path):
    root = tmp_path / "recordings"
    bad_session(root)
    app = InspectorApp(root)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause(0.1)
        await app.workers.wait_for_complete()
        await pilot.pause(0.1)
        assert isinstance(app.screen, SessionsScreen)
        table = app.screen.query_one(DataTable)
        assert table.row_count == 1 and "corrupt" in Text.from_markup(str(table.get_row_at(0)[-2])).plain  # flags
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ExchangesScreen)
        assert app.screen.query_one(DataTable).row_count == len(SHAPES)
        await pilot.press("q")
    assert app.return_code == 0


@pytest.mark.parametrize("n, shape", list(enumerate(SHAPES)), ids=SHAPES)
async def test_every_bad_exchange_opens_with_its_problem_shown(tmp_path, n, shape):
    root = tmp_path / "recordings"
    bad_session(root)
    app = InspectorApp(root)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause(0.1)
        await app.workers.wait_for_complete()
        await pilot.pause(0.1)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ExchangesScreen)
        await pilot.press("g", *["j"] * n, "enter")
        await pilot.pause(0.3)
        assert isinstance(app.screen, ExchangeScreen), f"{shape}: the exchange did not open"
        where = str(app.screen.query_one("#where", Static).render())
        assert "problem:" in where, f"{shape}: no problem shown in {where!r}"
        for key in "123456":  # every tab renders
            await pilot.press(key)
            await pilot.pause(0.05)
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert isinstance(app.screen, ExchangesScreen)
        await pilot.press("q")
    assert app.return_code == 0
