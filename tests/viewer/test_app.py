"""The viewer driven like a person would, with Textual's Pilot."""

import io
import shutil
import threading

import pytest
from rich.console import Console
from textual.widgets import DataTable, Input, TabbedContent

from inspector.recording import ExchangeRecord, list_sessions
from inspector.testing.samples import samples_dir
from inspector.testing.synth import Spec, retry_storm, with_repairs, write_session
from inspector.viewer import InspectorApp
from inspector.viewer.data import EXCHANGE_COLUMNS
from inspector.viewer.screens import DiffScreen, ExchangeScreen, ExchangesScreen, HelpScreen, SessionsScreen
from inspector.viewer.screens.help import HELP
from inspector.viewer.screens.sessions import COLUMNS as SESSION_COLUMNS
from inspector.viewer.widgets import TimelineView

SAMPLES = samples_dir()
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def settle(app, pilot):
    await pilot.pause(0.1)
    await app.workers.wait_for_complete()
    await pilot.pause(0.1)


def rows(app) -> list[dict[str, str]]:
    table = app.screen.query_one(DataTable)
    columns = SESSION_COLUMNS if isinstance(app.screen, SessionsScreen) else EXCHANGE_COLUMNS
    return [dict(zip(columns, (getattr(c, "plain", str(c)) for c in table.get_row_at(i)), strict=True))
            for i in range(table.row_count)]


def shown(app, tab: str | None = None) -> str:
    screen = app.screen
    view = screen.view(tab) if isinstance(screen, ExchangeScreen) else screen.view()
    return "\n".join(view.text_lines())


def chart_text(timeline: TimelineView) -> str:
    console = Console(width=timeline.content_region.width, file=io.StringIO())
    console.print(timeline.render())
    return console.file.getvalue()


async def open_exchange(app, pilot, *keys: str) -> None:
    await settle(app, pilot)
    await pilot.press(*keys)
    await settle(app, pilot)
    assert isinstance(app.screen, ExchangeScreen)


async def test_drill_down_tabs_back_and_quit():
    app = InspectorApp(SAMPLES)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, SessionsScreen) and len(rows(app)) == 3
        assert rows(app)[1]["backend"] == "openai" and rows(app)[1]["exchanges"] == "2"
        await pilot.press("j", "enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ExchangesScreen)
        assert [r["stop"] for r in rows(app)] == ["tool_use", "end_turn"] and rows(app)[0]["tool calls"] == "Write"
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ExchangeScreen)
        tabs = app.screen.query_one(TabbedContent)
        for key, tab in zip("23456", ("request", "backend", "response", "events", "notes"), strict=True):
            await pilot.press(key)
            assert tabs.active == tab and app.focused is app.screen.view(tab)
        await pilot.press("escape", "escape")
        assert isinstance(app.screen, SessionsScreen)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape", "q")
    assert app.return_code == 0


async def test_keys_act_on_the_tab_shown_without_pressing_tab():
    app = InspectorApp(SAMPLES)
    async with app.run_test(size=(160, 30)) as pilot:
        await open_exchange(app, pilot, "j", "enter", "enter")
        await pilot.press("2")  # the request: Claude Code's 49 KB body, far longer than the screen
        request = app.screen.view("request")
        assert app.focused is request and request.max_scroll_y > 20
        await pilot.press("j", "j", "down")
        assert request.cursor == 3
        await pilot.press("pagedown")
        assert request.scroll_y > 0 and request.cursor > 3
        await pilot.press("G")
        assert request.cursor == len(request.text_lines()) - 1 and request.scroll_y == request.max_scroll_y
        await pilot.press("5", "j")  # another tab: the keys follow
        assert app.screen.view("events").cursor == 1 and request.cursor == len(request.text_lines()) - 1


async def test_the_system_prompt_opens_at_once_and_help_says_how():
    app = InspectorApp(SAMPLES)
    async with app.run_test(size=(160, 40)) as pilot:
        await open_exchange(app, pilot, "enter", "enter")
        conversation = app.screen.view("conversation")
        assert conversation.cursor_item.tag == "system" and conversation.cursor_item.state == "collapsed"
        assert "You are a Claude agent" not in shown(app, "conversation")
        await pilot.press("enter")  # the cursor starts on it: no Tab, Tab, Enter
        assert "You are a Claude agent" in shown(app, "conversation")
        await pilot.press("enter")
        assert "You are a Claude agent" not in shown(app, "conversation")
        await pilot.press("4", "s")  # from another tab too
        assert app.screen.query_one(TabbedContent).active == "conversation"
        assert "You are a Claude agent" in shown(app, "conversation")
    assert "system prompt" in HELP and "`s`" in HELP and "`Enter`" in HELP


async def test_unfold_one_string_then_everything():
    app = InspectorApp(SAMPLES)
    async with app.run_test(size=(160, 40)) as pilot:
        await open_exchange(app, pilot, "enter", "enter")
        await pilot.press("2")
        view = app.screen.view("request")
        deep = "Do build original games"  # far past the first 600 characters of the system prompt
        folded_before = sum(i.state == "folded" for i in view.items)
        assert deep not in shown(app, "request") and folded_before >= 2
        for _ in range(10):  # ] goes to the next folded string: the system prompt's is a few down
            await pilot.press("right_square_bracket")
            assert view.cursor_item.tag == "fold"
            if deep in view.cursor_item.plain:
                break
        await pilot.press("u")
        assert view.cursor_item.state == "full" and deep in shown(app, "request")
        assert sum(i.state == "folded" for i in view.items) == folded_before - 1
        await pilot.press("U")
        assert all(i.state == "full" for i in view.items) and "u unfolds" not in shown(app, "request")
        await pilot.press("U")  # again: back as it was
        assert sum(i.state == "folded" for i in view.items) == folded_before


async def test_search_in_the_detail_with_next_and_previous():
    app = InspectorApp(SAMPLES)
    async with app.run_test(size=(160, 40)) as pilot:
        await open_exchange(app, pilot, "j", "enter", "j", "enter")
        await pilot.press("2", "slash")
        assert app.focused is app.screen.query_one("#search", Input)
        await pilot.press(*"planted", "enter")  # only inside the folded system-reminder text
        view = app.screen.view("request")
        status = lambda: str(app.screen.query_one("#status").render())  # noqa: E731
        total = view.match_count
        assert total >= 1 and status().startswith(f"match 1/{total} for 'planted'")
        assert app.focused is view and "planted `json.py`" in view.text_lines()[view.cursor]
        first = view.cursor
        await pilot.press("g", "slash", *"Write", "enter")  # smart case: only "Write", not "write"
        n = view.match_count
        assert n >= 3 and all("Write" in view.items[m[0]].plain for m in view._matches)
        assert status().startswith(f"match 1/{n}")  # the first at or after the cursor (the top)
        await pilot.press("n")
        assert status().startswith(f"match 2/{n}") and "Write" in view.text_lines()[view.cursor]
        await pilot.press("N", "N")
        assert status().startswith(f"match {n}/{n}")  # wraps around
        await pilot.press("escape")  # clears the highlights, stays
        assert view.match_count == 0 and isinstance(app.screen, ExchangeScreen) and first >= 0
        await pilot.press("slash", *"no such words", "enter")
        assert status() == "no match for 'no such words'"


async def test_conversation_shows_tool_calls_and_their_results():
    app = InspectorApp(SAMPLES)
    async with app.run_test(size=(160, 60)) as pilot:
        await open_exchange(app, pilot, "j", "enter", "j", "enter")
        text = shown(app, "conversation")
        assert "tool call → Write" in text and "hello from a local model" in text
        assert "tool result ← Write call_sample_write" in text and "I wrote hello.txt." in text
        assert "File created successfully at:" in text
        assert "user\nWrite 'hello from a local model' into hello.txt" in text.replace("▶", "").replace("┃", "")
        tags = {i.tag: i for i in app.screen.view("conversation").items}
        assert tags["tool-result"].bar != "red", "the shipped round trip succeeded"
        where = str(app.screen.query_one("#where").render())
        assert "failed tool result" not in where


async def test_a_failed_tool_result_is_flagged_in_the_exchange_list(tmp_path):
    shutil.copytree(list_sessions(SAMPLES)[1].path, tmp_path / list_sessions(SAMPLES)[1].name)
    write_session(tmp_path, [Spec(tool_result=("toolu_9", "boom", True),
                                  extra_meta={"tool_results": [{"tool_use_id": "toolu_9", "name": "Bash",
                                                                "is_error": True}]})])
    app = InspectorApp(tmp_path)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")  # the shipped sample: read from its requests in a worker; no failure
        await settle(app, pilot)
        assert ["tool-error" in r["flags"] for r in rows(app)] == [False, False]
        await pilot.press("escape")
        await pilot.press("slash", *"tool-error")
        assert len(rows(app)) == 1  # only the synthetic one (from exchange.json)
        await pilot.press("escape", "G", "enter")
        await settle(app, pilot)
        assert "tool-error" in rows(app)[0]["flags"] and "bash" in app.screen.summary.rows[0].text()


async def test_sessions_filter_finds_what_is_inside_them():
    app = InspectorApp(SAMPLES)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *"Write")  # a tool name: in no column of the sessions screen
        assert [r["backend"] for r in rows(app)] == ["openai"]
        await pilot.press(*[("backspace")] * 5, *"ollama pull")  # error text the client got
        assert len(rows(app)) == 1 and "llama9" in rows(app)[0]["models"]
        await pilot.press(*[("backspace")] * 11, *"qwen3:8b")  # a backend model
        assert len(rows(app)) == 1 and rows(app)[0]["backend"] == "ollama"


async def test_a_retry_storm_shows_its_wall_clock_and_its_timeline(tmp_path):
    retry_storm(tmp_path)
    app = InspectorApp(tmp_path)
    async with app.run_test(size=(150, 40)) as pilot:
        await settle(app, pilot)
        assert rows(app)[0]["duration"] == "2m12s"
        await pilot.press("enter")
        await settle(app, pilot)
        timeline = app.screen.query_one(TimelineView)
        chart = chart_text(timeline)
        assert "wall clock 2m12s · busy 955ms · 11 failed · 11 retried after a failure" in chart
        assert chart.count("↻") == 12 and "2m12s" in chart.splitlines()[2]  # 11 retries + the legend
        assert [r["start"] for r in rows(app)][-2:] == ["+2m00s", "+2m12s"]
        await pilot.press("G")
        assert timeline.highlight == 12
        await pilot.press("t")
        assert timeline.has_class("hidden") and not timeline.display


async def test_new_figures_shown_when_recorded(tmp_path):
    write_session(tmp_path, [Spec(extra_meta={
        "usage": {"input_tokens": 400, "output_tokens": 7, "cache_read_input_tokens": 1600},
        "performance": {"prompt_tokens_per_s": 812.0, "decode_tokens_per_s": 35.2, "source": "ollama"},
        "prefix": {"kept": 0.97, "first_difference": "messages.3"},
        "token_counts": {"input_tokens": 2000, "exact": True, "source": "ollama"}})])
    app = InspectorApp(tmp_path)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        assert rows(app)[0]["tok/s"] == "35" and rows(app)[0]["tokens"] == "400/7"
        await pilot.press("enter")
        await settle(app, pilot)
        figures = str(app.screen.query_one("#figures").render())
        assert "prompt cache 80% (1,600 tokens read)" in figures and "prefix kept 97% (first difference: messages.3)" \
            in figures and "decode 35.2 tok/s (ollama)" in figures and "input tokens 2,000 exact (ollama)" in figures
        assert "context window unknown" in figures
        await pilot.press("6")
        assert "decode         35.2 tok/s (ollama)" in shown(app, "notes")


async def test_recorded_text_is_never_markup(tmp_path):
    write_session(tmp_path, [Spec(model="[bold]claude[/bold]", backend_model="[red]x", prompt="[link=x]hi[/link]")])
    app = InspectorApp(tmp_path)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        assert rows(app)[0]["models"] == "[bold]claude[/bold] → [red]x"
        await pilot.press("enter")
        await settle(app, pilot)
        assert rows(app)[0]["model"] == "[bold]claude[/bold] → [red]x"
        await pilot.press("enter")
        await settle(app, pilot)
        assert "[link=x]hi[/link]" in shown(app, "conversation")


async def test_exchange_files_are_read_off_the_ui_thread(tmp_path, monkeypatch):
    reads: list[str] = []
    for name in ("_lines", "_request"):
        original = getattr(ExchangeRecord, name)

        def spy(self, *args, _original=original, **kwargs):
            reads.append(threading.current_thread().name)
            return _original(self, *args, **kwargs)
        monkeypatch.setattr(ExchangeRecord, name, spy)
    shutil.copytree(list_sessions(SAMPLES)[1].path, tmp_path / list_sessions(SAMPLES)[1].name)
    app = InspectorApp(tmp_path)
    async with app.run_test(size=(160, 40)) as pilot:
        await open_exchange(app, pilot, "enter", "enter")
        assert "tool call → Write" in shown(app, "conversation")
        await pilot.press("escape")
        # The session grows: the exchange list re-reads it in a worker too.
        source = next((tmp_path / list_sessions(SAMPLES)[1].name).glob("0002_*"))
        shutil.copytree(source, source.with_name("0003_messages"))
        await pilot.pause(2.3)
        await settle(app, pilot)
        assert len(rows(app)) == 3
    main = threading.main_thread().name
    assert len(reads) >= 4 and main not in reads


async def test_a_session_opened_before_it_was_read_fills_in():
    from inspector.viewer.data import summarize_session
    app = InspectorApp(SAMPLES)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        app.push_screen(ExchangesScreen(summarize_session(list_sessions(SAMPLES)[1], loaded=False)))
        await settle(app, pilot)
        assert [r["#"] for r in rows(app)] == ["1", "2"]
        assert "2 exchanges" in str(app.screen.query_one("#where").render())


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
        assert len(rows(app)) == 2 and rows(app)[1]["exchanges"] == "2"


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
        assert "corrupt" in rows(app)[0]["flags"]
        await pilot.press("enter")
        await settle(app, pilot)
        assert "corrupt" in rows(app)[0]["flags"] and rows(app)[1]["stop"] == "end_turn"
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ExchangeScreen)
        await pilot.press("5")
        events = shown(app, "events")
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
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press(*keys)
        assert isinstance(app.screen, DiffScreen) == (keys == ("m", "d"))


async def test_mark_then_diff_rows_align_and_jump_to_changes():
    app = InspectorApp(SAMPLES)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("G", "k", "enter")  # the tool round trip
        await settle(app, pilot)
        await pilot.press("m", "j", "d")
        await settle(app, pilot)
        assert isinstance(app.screen, DiffScreen) and app.app.marked is not None
        where = str(app.screen.query_one("#where").render())
        assert "#1  ⟷" in where and "#2" in where and "lines differ" in where
        view = app.screen.view()
        assert view.cursor_item.tag == "change"  # it opens on the first change
        first = view.cursor
        await pilot.press("right_square_bracket")
        assert view.cursor > first and view.cursor_item.tag == "change"
        assert all(len(i.full) == 2 for i in view.items)  # one row holds both sides: they stay aligned
        folded = [i for i in view.items if i.state == "collapsed"]
        assert folded and "equal lines" in folded[0].collapsed[0].plain
        await pilot.press("v")
        await settle(app, pilot)
        assert "volatile values shown" in str(app.screen.query_one("#where").render())


async def test_diff_of_a_one_word_change_in_a_long_prompt(tmp_path):
    long = " ".join(f"sentence {i} of a long system prompt." for i in range(200))
    write_session(tmp_path, [Spec(system=long), Spec(system=long.replace("sentence 120 ", "sentence CHANGED "))])
    a, b = list_sessions(tmp_path)[0].exchanges()
    app = InspectorApp(tmp_path, diff=[(a, b)])
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        view = app.screen.view()
        changes = [i for i in view.items if i.tag == "change"]
        assert len(changes) == 1 and len(long) > 7000
        left, right = (t.plain for t in changes[0].shown())
        assert "120" in left and "CHANGED" in right and len(left) < 400 and "chars)…" in left
        await pilot.press("u")
        assert len(view.cursor_item.shown()[1].plain) > 7000


async def test_repairs_are_flagged_filterable_and_shown_under_the_call(tmp_path):
    root = with_repairs(tmp_path)
    app = InspectorApp(root)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        assert "repaired" in rows(app)[0]["flags"] and "call-error" in rows(app)[0]["flags"]
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press("slash", *"repaired")
        assert len(rows(app)) == 1 and rows(app)[0]["#"] == "1"
        await pilot.press("escape", "enter")
        await settle(app, pilot)
        text = shown(app, "conversation")
        assert "repaired: Write: the model printed the call as text" in text
        assert "error: Write: (arguments): 'content' is a required property" in text
        call = next(i for i in app.screen.view("conversation").items if i.tag == "tool-call")
        assert call.bar == "red"


async def test_a_running_exchange_shows_what_arrived(tmp_path):
    session = write_session(tmp_path, [Spec()])
    (next(session.glob("0001_*")) / "exchange.json").unlink()  # as a killed gateway leaves it
    app = InspectorApp(tmp_path)
    async with app.run_test(size=(160, 40)) as pilot:
        await open_exchange(app, pilot, "enter", "enter")
        assert "INCOMPLETE" in str(app.screen.query_one("#where").render())
        assert "Done." in shown(app, "conversation")
        await pilot.press("5")
        assert "message_start" in shown(app, "events")



MARKUP = "claude-[/]"  # a closing tag with nothing to close: rich/Textual markup raises on it


async def back_to(screen: type, app, pilot) -> None:
    for _ in range(5):
        if isinstance(app.screen, screen):
            return
        await pilot.press("escape")
        await settle(app, pilot)
    raise AssertionError(f"still on {app.screen}")


async def test_hostile_markup_in_any_recorded_text_never_breaks_a_screen(tmp_path):
    """Issue 19 #9: every place the viewer shows recorded text (or a name: folders, search) shows it as text."""
    root = tmp_path / "rec[bold]ordings"  # a "/" cannot be in a name: an opening tag would be eaten
    session = write_session(root, [
        Spec(model=MARKUP, backend_model="[/]", prompt="[/] [bold]", answer="[/link]", tool=("[/]", {"[/]": "[/]"}),
             notes=[{"kind": "warning", "message": "[/] note", "count": 1}]),
        Spec(at=1.0, model=MARKUP, backend_model="[/]", status=500, error=("[/]", "[/] [red]failed")),
    ])
    session.rename(session.with_name(session.name + "[red]"))
    app = InspectorApp(root)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        assert "rec[bold]ordings" in str(app.screen.query_one("#where").render())
        assert rows(app)[0]["models"] == f"{MARKUP} → [/]"
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ExchangesScreen)
        assert f"[red] · 2 exchanges · {MARKUP} → [/]" in str(app.screen.query_one("#where").render())
        await pilot.press("m")
        await settle(app, pilot)
        assert "[red]#1" in str(app.screen.query_one("#marked").render())
        await pilot.press("j", "d")
        await settle(app, pilot)
        assert isinstance(app.screen, DiffScreen) and "[red]#1  ⟷" in str(app.screen.query_one("#where").render())
        await pilot.press("slash", *"[/]zz", "enter")
        await settle(app, pilot)
        assert "no match for '[/]zz'" in str(app.screen.query_one("#status").render())
        await back_to(ExchangesScreen, app, pilot)
        for row in ("k", "j"):
            await pilot.press(row, "enter")
            await settle(app, pilot)
            assert isinstance(app.screen, ExchangeScreen)
            assert MARKUP in str(app.screen.query_one("#where").render())
            for tab in "123456":
                await pilot.press(tab)
                await settle(app, pilot)
            await pilot.press("slash", *"[/]zz", "enter")
            await settle(app, pilot)
            assert "no match for '[/]zz'" in str(app.screen.query_one("#status").render())
            await back_to(ExchangesScreen, app, pilot)


async def test_a_recording_of_an_unknown_schema_version_is_flagged_and_says_which(tmp_path):
    """Issue 19 #13: shown as far as it fits, never silently: the flag, and the version in the exchange's problems."""
    import orjson
    source = list_sessions(SAMPLES)[1]
    shutil.copytree(source.path, tmp_path / source.name)
    meta = tmp_path / source.name / "session.json"
    meta.write_bytes(orjson.dumps({**orjson.loads(meta.read_bytes()), "schema": "inspector.recording/99"}))
    app = InspectorApp(tmp_path)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        assert "unknown-schema" in rows(app)[0]["flags"]
        await open_exchange(app, pilot, "enter", "enter")
        where = str(app.screen.query_one("#where").render())
        assert "problem:" in where and "'inspector.recording/99'" in where and "reads inspector.recording/1" in where
# -- what a newcomer sees (issue 21) ----------------------------------------------------------------------
async def test_an_empty_folder_says_it_is_empty(tmp_path):
    from textual.widgets import Static
    app = InspectorApp(tmp_path)
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(app, pilot)
        where = str(app.screen.query_one("#where", Static).render())
    assert f"{tmp_path} is empty: nothing has been recorded here yet" in " ".join(where.split())


async def test_each_session_shows_its_first_prompt():
    app = InspectorApp(SAMPLES)
    async with app.run_test(size=(220, 30)) as pilot:
        await settle(app, pilot)
        prompts = [r["first prompt"] for r in rows(app)]
    assert "Write 'hello from a local model' into hello.txt" in prompts
    assert all(p and "<system-reminder>" not in p for p in prompts), prompts


def _screen_text(app) -> str:
    import html
    import re
    return html.unescape(re.sub(r"<[^>]+>", "", app.export_screenshot())).replace("\xa0", " ")


async def test_no_none_on_any_screen_of_recordings_with_nulls(tmp_path):
    """Every screen and tab of a session whose fields are null or of the wrong type: 'unknown', never 'None'."""
    from inspector.testing.bad_recordings import bad_session
    root = tmp_path / "recordings"
    bad_session(root)
    app = InspectorApp(root)
    seen = []
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(app, pilot)
        seen.append(_screen_text(app))
        await pilot.press("enter")
        await settle(app, pilot)
        seen.append(_screen_text(app))
        for n in range(app.screen.query_one(DataTable).row_count):
            await pilot.press("g", *["j"] * n, "enter")
            await settle(app, pilot)
            for key in "123456":
                await pilot.press(key)
                await pilot.pause(0.05)
                seen.append(_screen_text(app))
            await pilot.press("escape")
            await settle(app, pilot)
    for text in seen:
        assert "None" not in text, [line.strip() for line in text.splitlines() if "None" in line]
