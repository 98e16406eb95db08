"""What the lists show, computed from exchange.json alone: durations, timelines, figures, filters."""

import orjson
import pytest
from rich.console import Console

from inspector.recording import list_sessions
from inspector.testing.samples import samples_dir
from inspector.testing.synth import Spec, retry_storm, write_session
from inspector.viewer.data import Figures, fmt_ms, request_tool_errors, summarize_session

SAMPLES = samples_dir()


@pytest.mark.parametrize(("ms", "shown"), [(None, ""), (13.7, "14ms"), (2310, "2.31s"), (123_400, "2m03s"),
                                           (3_725_000, "1h02m")])
def test_durations_read_as_a_person_says_them(ms, shown):
    assert fmt_ms(ms) == shown


def test_a_retry_storm_lasts_its_wall_clock_not_the_sum_of_its_exchanges(tmp_path):
    retry_storm(tmp_path)
    s = summarize_session(list_sessions(tmp_path)[0])
    assert s.duration == "2m12s"  # 11 × 12 s of retries, then a 0.9 s answer
    assert sum(r.total_ms for r in s.rows) < 1000
    tl = s.timeline()
    assert (tl.errors, tl.retries, round(tl.busy, 3)) == (11, 11, 0.955)
    assert tl.summary().startswith("wall clock 2m12s · busy 955ms · 11 failed · 11 retried after a failure")
    assert [r.start for r in s.rows[:3]] == ["+0ms", "+12.00s", "+24.00s"]
    assert "retry" in s.rows[1].flags and "retry" not in s.rows[0].flags


def test_parallel_requests_get_lanes_and_gaps_are_named(tmp_path):
    write_session(tmp_path, [Spec(at=0, ms=3000), Spec(at=1, ms=500, purpose="title"), Spec(at=1.2, ms=100,
                                                                                          kind="count_tokens"),
                             Spec(at=10, ms=1000)])
    s = summarize_session(list_sessions(tmp_path)[0])
    tl = s.timeline()
    assert tl.lanes == 3 and [b.lane for b in tl.bars] == [0, 1, 2, 0]
    assert [b.state for b in tl.bars] == ["ok", "side", "side", "ok"]
    assert tl.gaps == [(1, 4, 7.0)] and "longest gap 7.00s (#1 → #4)" in tl.summary()
    assert s.duration == "11.00s" and round(tl.busy, 1) == 4.0


def test_session_filter_text_holds_what_is_inside(tmp_path):
    tool, plain, error = list_sessions(SAMPLES)[1], list_sessions(SAMPLES)[0], list_sessions(SAMPLES)[2]
    assert "write" in summarize_session(tool).text()  # issue 9: `/Write` found nothing
    assert "write" not in summarize_session(plain).text()
    assert "qwen2.5-coder:7b" in summarize_session(tool).text() and "claude-opus-5-5" in summarize_session(plain).text()
    assert "ollama pull" in summarize_session(error).text()  # the error text the client got


def test_figures_when_recorded_and_unknown_when_not():
    absent = Figures.of({})
    assert not absent.any and [v for _, v in absent.parts()] == ["unknown"] * 6
    meta = {"usage": {"input_tokens": 2000, "output_tokens": 7, "cache_read_input_tokens": 6000,
                      "cache_creation_input_tokens": 2000},
            "performance": {"prompt_tokens_per_s": 812.4, "decode_tokens_per_s": 35.24, "source": "ollama",
                            "load_ms": None},
            "prefix": {"kept": 0.97, "first_difference": "messages.3", "reason": None},
            "token_counts": {"input_tokens": 12380, "exact": False, "source": "gateway"},
            "context_window": {"tokens": 65536, "source": "ollama"}}
    text = Figures.of(meta).text()
    assert "prompt cache 60% (6,000 tokens read)" in text
    assert "prefix kept 97% (first difference: messages.3)" in text
    assert "prompt 812 tok/s" in text and "decode 35.2 tok/s (ollama)" in text
    assert "input tokens 12,380 estimated (gateway)" in text and "context window 65,536 (ollama)" in text
    # Nulls are unknown, not zero.
    partial = Figures.of({"performance": {"decode_tokens_per_s": None}, "prefix": {"kept": None},
                          "usage": {"input_tokens": 5}})
    assert partial.parts()[:4] == [("prompt cache", "unknown"), ("prefix kept", "unknown"), ("prompt", "unknown"),
                                   ("decode", "unknown")]


def test_exchange_rows_show_estimates_and_decode_speed(tmp_path):
    write_session(tmp_path, [Spec(extra_meta={"token_counts": {"input_tokens": 42, "exact": False,
                                                               "source": "gateway"},
                                              "performance": {"decode_tokens_per_s": 35.4}})])
    (row,) = summarize_session(list_sessions(tmp_path)[0]).rows
    assert row.tokens == "≈42/7" and row.decode == "35"


def test_tool_results_from_exchange_json_or_the_request(tmp_path):
    write_session(tmp_path, [Spec(extra_meta={"tool_results": [{"tool_use_id": "toolu_1", "name": "Write",
                                                                "is_error": True}]}), Spec()])
    first, second = summarize_session(list_sessions(tmp_path)[0]).rows
    assert "tool-error" in first.flags and first.tool_results_known and first.tool_errors == ["Write"]
    assert "tool-error" not in second.flags and not second.tool_results_known  # read later, off the UI thread
    failed = {"messages": [
        {"role": "user", "content": "write it"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_w", "name": "Write", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_w", "is_error": True,
                                      "content": "File has not been read yet"}]}]}
    assert request_tool_errors(failed) == ["Write"]
    sample = list_sessions(SAMPLES)[1].exchanges()[1]  # the shipped sample's Write succeeded (issue 9)
    assert request_tool_errors(sample.request_json()) == []


def test_only_the_last_message_counts_for_tool_errors():
    request = {"messages": [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "Bash"}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "a", "is_error": True}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "b", "name": "Read"}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "b", "content": "ok"}]},
    ]}
    assert request_tool_errors(request) == []  # the Bash failure was flagged on the earlier request
    request["messages"][-1]["content"][0]["is_error"] = True
    assert request_tool_errors(request) == ["Read"]
    assert request_tool_errors(None) == [] and request_tool_errors({"messages": "x"}) == []


def test_odd_exchange_json_values_do_not_break_a_row(tmp_path):
    session = write_session(tmp_path, [Spec()])
    meta_path = next(session.glob("0001_*")) / "exchange.json"
    meta = orjson.loads(meta_path.read_bytes())
    meta.update({"timing_ms": {"total": "fast"}, "usage": None, "performance": "n/a", "started": 12,
                 "tool_results": [None, "x"]})
    meta_path.write_bytes(orjson.dumps(meta))
    s = summarize_session(list_sessions(tmp_path)[0])
    assert s.rows[0].duration == "" and s.rows[0].start == "" and s.duration == ""


def test_queue_wait_is_its_own_figure_and_a_light_stretch_on_the_timeline(tmp_path):
    queue = {"wait_ms": 2000.0, "ahead": 2, "class": "subagent", "slot": 1, "warm": False, "held": False,
             "limit": 1, "limit_source": "llama.cpp /props total_slots", "arrival": 3, "grant": 6}
    waited = Spec(at=0, ms=3000, purpose="subagent", extra_meta={
        "queue": queue, "timing_ms": {"queued": 10.0, "sent": 2010.0, "first_token": 2500.0, "total": 3000.0}})
    write_session(tmp_path, [Spec(at=0, ms=2000), waited])
    s = summarize_session(list_sessions(tmp_path)[0])
    first, second = s.rows
    assert first.figures.queue_ms is None and "queue wait" not in first.figures.text(), "no queue: not said"
    assert ("queue wait", "2.00s (2 ahead, subagent, slot 1)") in second.figures.parts()
    tl = s.timeline()
    assert tl.bars[0].waiting is None and tl.bars[1].waiting == (0.01, 2.01)
    assert "2.00s queued in the gateway" in tl.summary()
    from inspector.viewer.widgets.timeline import TimelineChart
    console = Console(width=100, record=True, color_system=None)
    console.print(TimelineChart(tl))
    drawn = console.export_text()
    lane = drawn.splitlines()[2]
    assert lane.count("░") >= 30 and "█" in lane, drawn
    assert "waiting in the gateway's queue" in " ".join(drawn.split())
