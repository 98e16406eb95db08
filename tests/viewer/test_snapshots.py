"""Snapshot tests of the main screens on the sample recordings (pytest-textual-snapshot).

After an intended change to the screens or to the samples: ``pytest tests/viewer --snapshot-update``.
"""

from pathlib import Path

import pytest

from inspector.recording import list_sessions
from inspector.viewer import InspectorApp
from inspector.testing.samples import samples_dir

ROOT = Path(__file__).resolve().parent.parent.parent
SIZE = (150, 36)


@pytest.fixture(autouse=True)
def _at_root(monkeypatch):
    monkeypatch.chdir(samples_dir().parent)  # the app shows the folder as given: "recordings"


async def _loaded(pilot):
    await pilot.pause(0.1)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.2)


def test_sessions_screen(snap_compare):
    assert snap_compare(InspectorApp(Path("recordings")), terminal_size=SIZE, run_before=_loaded)


def test_exchanges_screen(snap_compare):
    async def run_before(pilot):
        await _loaded(pilot)
        await pilot.press("j", "enter")
    assert snap_compare(InspectorApp(Path("recordings")), terminal_size=SIZE, run_before=run_before)


def test_exchange_conversation(snap_compare):
    async def run_before(pilot):
        await _loaded(pilot)
        await pilot.press("j", "enter", "j", "enter")
        await pilot.pause(0.3)
    assert snap_compare(InspectorApp(Path("recordings")), terminal_size=SIZE, run_before=run_before)


def test_exchange_events_of_an_error(snap_compare):
    async def run_before(pilot):
        await _loaded(pilot)
        await pilot.press("G", "enter", "enter")
        await pilot.pause(0.3)
        await pilot.press("5")
    assert snap_compare(InspectorApp(Path("recordings")), terminal_size=SIZE, run_before=run_before)


def test_diff_screen(snap_compare):
    session = list_sessions(samples_dir())[1]
    a, b = session.exchanges()
    assert snap_compare(InspectorApp(Path("recordings"), diff=[(a, b)]), terminal_size=SIZE,
                        run_before=_loaded)
