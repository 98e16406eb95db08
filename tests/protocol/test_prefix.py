"""Prefix stability: what stayed identical turn over turn, and where and why it broke.

The audit of the gateway's own translation is here too: on Claude Code's real first and second
requests (tests/data/), every placement of late system messages and both translating forms keep
the whole previous prefix.
"""

import copy
from pathlib import Path

import orjson
import pytest

from inspector.protocol import (
    ANTHROPIC,
    FORM_NAMES,
    OLLAMA,
    PrefixSnapshot,
    TranslateOptions,
    compare_prefix,
    get_form,
    parse_request,
)

DATA = Path(__file__).resolve().parent.parent / "data"
TOOLS = [{"type": "function", "function": {"name": n, "parameters": {}}} for n in ("Read", "Write", "Bash")]


def body(messages, *, tools=TOOLS, system="You are Claude Code.\nToday's date: 2026-11-21.", num_ctx=65536):
    return {"model": "qwen3", "messages": [{"role": "system", "content": system}, *messages], "tools": tools,
            "options": {"num_ctx": num_ctx}}


def compare(a, b, form=OLLAMA):
    return compare_prefix(PrefixSnapshot(*form.prefix_sections(a)), PrefixSnapshot(*form.prefix_sections(b)))


TURN = [{"role": "user", "content": "Write hi into hello.txt"}]
NEXT = TURN + [{"role": "assistant", "content": "Done."}, {"role": "user", "content": "Thanks"}]


def test_a_conversation_that_only_grows_keeps_the_whole_prefix():
    report = compare(body(TURN), body(NEXT))
    assert report.as_dict() == {"kept": 1.0, "first_difference": None, "reason": None}


def test_a_changed_date_line_in_the_system_prompt():
    report = compare(body(TURN), body(NEXT, system="You are Claude Code.\nToday's date: 2026-11-22."))
    assert report.first_difference == "system" and report.kept < 0.2
    assert "a changed date line" in report.reason and "2026-11-22" in report.reason


def test_a_huge_changed_line_is_not_searched_whole(monkeypatch):
    """Explaining a change in a 5 MB one-line message searched all of it for a date, twice: a second
    of the gateway's event loop per such request (issue 19, item 6). Only its start is searched now."""
    import inspector.protocol._prefix as prefix

    searched = []
    real = prefix._DATE

    class Spy:
        def search(self, text, pos=0, endpos=None):
            searched.append(len(text) if endpos is None else min(endpos, len(text)))
            return real.search(text, pos, len(text) if endpos is None else endpos)

    monkeypatch.setattr(prefix, "_DATE", Spy())
    huge = [{"role": "user", "content": "x" * 5_000_000}]
    report = compare(body(huge), body([{"role": "user", "content": "y" * 5_000_000}]))
    assert report.first_difference == "messages.1" and "its text changed" in report.reason
    assert searched and max(searched) <= 500


def test_reordered_and_changed_tools():
    report = compare(body(TURN), body(NEXT, tools=[TOOLS[1], TOOLS[0], TOOLS[2]]))
    assert report.first_difference == "tools" and "reordered (Read moved)" in report.reason
    report = compare(body(TURN), body(NEXT, tools=TOOLS[:2]))
    assert "removed Bash" in report.reason


def test_text_appended_to_an_earlier_message():
    grown = [{"role": "user", "content": "Write hi into hello.txt\n\n<total_tokens>9000 left</total_tokens>"}]
    report = compare(body(NEXT), body(grown + NEXT[1:]))
    assert report.first_difference == "messages.1" and 0.5 < report.kept < 1
    assert "grew" in report.reason and "total_tokens" in report.reason


def test_a_message_inserted_or_removed():
    inserted = [{"role": "user", "content": "<environment>"}, *NEXT]
    report = compare(body(NEXT), body(inserted))
    assert report.first_difference == "messages.1" and "inserted at messages.1" in report.reason
    report = compare(body(NEXT), body(NEXT[1:]))
    assert "removed" in report.reason


def test_a_shorter_conversation_is_a_rewrite():
    report = compare(body(NEXT), body(TURN))
    assert report.first_difference == "messages.2" and "shorter" in report.reason


def test_a_num_ctx_change_throws_the_cache_away():
    report = compare(body(TURN), body(NEXT, num_ctx=32768))
    assert report.kept == 0.0 and report.first_difference == "settings" and "num_ctx 65536 → 32768" in report.reason


def test_anthropic_sections_read_strings_as_text_blocks_and_ignore_cache_control():
    a = {"model": "m", "system": "S", "messages": [{"role": "user", "content": "hi"}]}
    b = {"model": "m", "system": [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}],
         "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}, {"role": "assistant",
                                                                                     "content": "yo"}]}
    assert compare(a, b, ANTHROPIC).kept == 1.0
    billing = copy.deepcopy(b)
    billing["system"].insert(0, {"type": "text", "text": "x-anthropic-billing-header: cch=1;"})
    assert "billing-header" in compare(b, billing, ANTHROPIC).reason


@pytest.mark.parametrize("name", FORM_NAMES)
@pytest.mark.parametrize("placement", ["merge", "inline", "user", "auto"])
def test_the_gateways_translation_of_claude_codes_real_turns_keeps_the_prefix(name, placement):
    form = get_form(name)
    first = parse_request((DATA / "claude-code-request.json").read_bytes())
    second = parse_request((DATA / "claude-code-tool-result-request.json").read_bytes())
    options = TranslateOptions(system_messages=placement, num_ctx=65536)

    def translated(req):
        return form.build_request(req, model="qwen3", options=options, names=form.tool_names())

    report = compare(translated(first), translated(second), form)
    assert report.as_dict() == {"kept": 1.0, "first_difference": None, "reason": None}


def test_a_real_request_repeated_keeps_all_of_it():
    raw = orjson.loads((DATA / "claude-code-tool-result-request.json").read_bytes())
    sections = OLLAMA.prefix_sections(OLLAMA.build_request(parse_request(raw), model="q", options=TranslateOptions(),
                                                           names=None))
    snap = PrefixSnapshot(*sections)
    assert snap.size > 40_000 and compare_prefix(snap, snap).kept == 1.0
