
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

    meta = list_sessions(SAMPLES)[2].exchanges()[0].meta
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


def test_the_line_says_what_the_backend_said_and_nothing_it_did_not():
    meta = {**list_sessions(SAMPLES)[0].exchanges()[0].meta,
            "usage": {"input_tokens": 200, "output_tokens": 57, "cache_read_input_tokens": 11_800},
            "prefix": {"kept": 0.97, "first_difference": "messages.3",
                       "reason": "the user message at messages.3 grew: text was appended to it"},
            "performance": {"load_ms": 1200.0, "prompt_tokens_per_s": 850.4, "decode_tokens_per_s": 21.27}}
    line = render(ExchangeLine(meta))
    assert "prefix kept 97% · cache 11,800 tok" in line
    assert "prompt 850 tok/s · decode 21.3 tok/s · load 1.20s" in line
    assert "prefix: messages.3 differs from the previous request: the user message at messages.3 grew" in line
    bare = render(ExchangeLine({**meta, "notes": [], "usage": {"input_tokens": 1, "output_tokens": 1}, "prefix": None,
                                "performance": {"prompt_tokens_per_s": None, "decode_tokens_per_s": 4.0,
                                                "load_ms": 20}}))
    assert "prefix" not in bare and "cache" not in bare and "prompt" not in bare and "load" not in bare
    assert "decode 4.0 tok/s" in bare


def test_a_count_tokens_line_says_exact_or_estimate():
    side = {"kind": "count_tokens", "local": True, "status": {"client": 200}, "form": "openai",
            "token_counts": {"input_tokens": 4180, "exact": True, "source": "llama.cpp /apply-template + /tokenize"}}
    assert "count 4,180 exact" in render(ExchangeLine(side))
    side["token_counts"] = {"input_tokens": 13219, "exact": False, "source": "estimate"}
    assert "count ≈13,219 est" in render(ExchangeLine(side))


def test_control_characters_from_traffic_are_shown_never_sent_to_the_terminal():
    import io

    from inspector.log import print_lines

    meta = {**list_sessions(SAMPLES)[0].exchanges()[0].meta,
            "model": {"requested": "evil\x1b]0;retitled\x07\x1b[2J", "backend": "m"},
            "incomplete": "cut\r\nhere"}
    out = io.StringIO()
    print_lines(Console(file=out, force_terminal=True, color_system="truecolor", highlight=False),
                ExchangeLine(meta, notes_shown=[]))
    text = out.getvalue()
    assert "evil\\x1b]0;retitled\\x07\\x1b[2J" in text and "cut\\x0d⏎here" in text
    # Every escape left is one of our own style codes (ESC [ … m), and no bell, no carriage return.
    import re
    assert not re.search(r"\x1b(?!\[[0-9;]*m)", text) and "\x07" not in text and "\r" not in text
    assert EventLine("backend", "data", "a\x1bb").rows()[0][2][0] == " a\\x1bb"


def test_the_line_says_what_the_gateway_itself_spent():
    meta = {**list_sessions(SAMPLES)[1].exchanges()[0].meta,
            "overhead_ms": {"request": 0.4, "response": 0.3, "total": 0.7, "chunks": 9, "worst_chunk": 0.1}}
    assert "gw +0.7ms" in render(ExchangeLine(meta))
    assert "gw +" not in render(ExchangeLine(list_sessions(SAMPLES)[1].exchanges()[0].meta))


def test_queue_wait_and_the_subagent_are_on_the_line():
    meta = dict(list_sessions(SAMPLES)[1].exchanges()[0].meta)
    meta |= {"purpose": "subagent", "agent": {"id": "a9bf4f6c83d921be3", "parent": None},
             "queue": {"wait_ms": 1234.0, "ahead": 2, "class": "subagent"}}
    line = render(ExchangeLine(meta))
    assert "messages/subagent a9bf4f6c" in line and "queued 1.23s (2 ahead)" in line
    meta["queue"] = {"wait_ms": 0.2, "ahead": 0, "class": "main"}
    assert "queued" not in render(ExchangeLine(meta)), "let through at once: nothing to say"
