"""Snapshot tests of the screens on the sample recordings (pytest-textual-snapshot).

After an intended change to the screens or to the samples: ``pytest tests/viewer --snapshot-update``.
"""

from pathlib import Path

import pytest

from inspector.recording import list_sessions
from inspector.testing.samples import samples_dir
from inspector.testing.synth import Spec, retry_storm, write_session
from inspector.viewer import InspectorApp

SIZE = (150, 36)


@pytest.fixture(autouse=True)
def _at_root(monkeypatch):
    monkeypatch.chdir(samples_dir().parent)  # the app shows the folder as given: "recordings"


async def _loaded(pilot):
    await pilot.pause(0.1)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.2)


def _keys(*keys: str):
    async def run_before(pilot):
        await _loaded(pilot)
        for key in keys:
            await pilot.press(key)
            await _loaded(pilot)
    return run_before


def _stable(root: Path) -> Path:
    """Synthetic sessions are named after the time they were written: give them a fixed name."""
    (session,) = [p for p in root.iterdir() if p.is_dir()]
    return session.rename(root / "20261118T201320Z_claude-cli-2.1.328_5e55a0a0")


def test_sessions_screen(snap_compare):
    assert snap_compare(InspectorApp(Path("recordings")), terminal_size=SIZE, run_before=_loaded)


def test_exchanges_screen(snap_compare):
    assert snap_compare(InspectorApp(Path("recordings")), terminal_size=SIZE, run_before=_keys("j", "enter"))


def test_exchange_conversation(snap_compare):
    assert snap_compare(InspectorApp(Path("recordings")), terminal_size=SIZE,
                        run_before=_keys("j", "enter", "j", "enter"))


def test_exchange_system_prompt_open(snap_compare):
    assert snap_compare(InspectorApp(Path("recordings")), terminal_size=SIZE,
                        run_before=_keys("j", "enter", "j", "enter", "enter"))


def test_exchange_search_highlights(snap_compare):
    assert snap_compare(InspectorApp(Path("recordings")), terminal_size=SIZE,
                        run_before=_keys("j", "enter", "j", "enter", "2", "slash", *"Write", "enter", "n"))


def test_exchange_events_of_an_error(snap_compare):
    assert snap_compare(InspectorApp(Path("recordings")), terminal_size=SIZE,
                        run_before=_keys("G", "enter", "enter", "5"))


def test_diff_screen(snap_compare):
    session = list_sessions(samples_dir())[1]
    a, b = session.exchanges()
    assert snap_compare(InspectorApp(Path("recordings"), diff=[(a, b)]), terminal_size=SIZE, run_before=_loaded)


def test_a_retry_storm_on_its_timeline(snap_compare, tmp_path):
    retry_storm(tmp_path)
    _stable(tmp_path)
    assert snap_compare(InspectorApp(tmp_path), terminal_size=SIZE, run_before=_keys("enter", "G"))


def test_exchange_figures(snap_compare, tmp_path):
    write_session(tmp_path, [Spec(extra_meta={
        "usage": {"input_tokens": 400, "output_tokens": 7, "cache_read_input_tokens": 1600},
        "performance": {"prompt_tokens_per_s": 812.0, "decode_tokens_per_s": 35.2, "source": "ollama"},
        "prefix": {"kept": 0.97, "first_difference": "messages.3"},
        "token_counts": {"input_tokens": 2000, "exact": False, "source": "gateway"},
        "context_window": {"tokens": 65536, "source": "ollama"}})])
    _stable(tmp_path)
    assert snap_compare(InspectorApp(tmp_path), terminal_size=SIZE, run_before=_keys("enter", "enter", "6"))
