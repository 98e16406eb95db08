
from rich.console import Console

from inspector.log import BodyView, EventLine, ExchangeLine, fold
from inspector.recording import list_sessions
from inspector.testing.samples import samples_dir

SAMPLES = samples_dir()


def render(renderable, width=200) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_exchange_line_says_what_happened():
    meta = list_sessions(SAMPLES)[1].exchanges()[0].meta
    line = render(ExchangeLine(meta))
    for part in ("messages", "claude-opus-5-5 → qwen2.5-coder:7b", "[openai]", "200", "tool_use",
                 "Write(file_path=", "dropped"):
        assert part in line, (part, line)


def test_errors_are_red_and_detailed():
    meta = list_sessions(SAMPLES)[2].exchanges()[0].meta
    console = Console(width=200, record=True, force_terminal=True)
    console.print(ExchangeLine(meta))
    assert "ollama pull llama9:70b" in console.export_text(clear=False)
    assert "\x1b[1;31m  400" in console.export_text(styles=True)


def test_fold_and_body_view():
    assert fold("x" * 1000, limit=100) == "x" * 60 + "… (+940 chars)"
    assert fold({"a": ["y" * 300]}, limit=100)["a"][0].startswith("y" * 60)
    text = render(BodyView("POST /v1/messages", b'{"system": "' + b"s" * 2000 + b'"}'))
    assert "POST /v1/messages" in text and "(+1800 chars)" in text and len(text) < 2000


def test_event_line():
    assert "→ content_block_delta" in render(EventLine("client", "content_block_delta", '{"delta": 1}'))


def test_print_lines_writes_what_console_print_writes():
    import io

    from inspector.log import print_lines

    meta = {**list_sessions(SAMPLES)[2].exchanges()[0].meta, "notes_shown": None}
    meta.pop("notes_shown")
    for renderable in (ExchangeLine(meta, when=1e9), EventLine("client", "content_block_delta", '{"text": "hi"}')):
        for colours in ("truecolor", "256", None):
            fast, slow = io.StringIO(), io.StringIO()
            def make(f, colours=colours):
                return Console(file=f, width=80, force_terminal=colours is not None, color_system=colours,
                               highlight=False, soft_wrap=True)

            print_lines(make(fast), renderable)
            make(slow).print(renderable)
            assert fast.getvalue() == slow.getvalue() and fast.getvalue().endswith("\n")
            lines = sum(1 for _ in renderable.lines())
            assert fast.getvalue().count("\n") == lines  # lines longer than the width are never wrapped
