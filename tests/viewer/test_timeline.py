"""The timeline renders what the data says: lanes, failures, retries, the axis."""

import io

from rich.console import Console

from inspector.recording import list_sessions
from inspector.testing.synth import Spec, retry_storm, write_session
from inspector.viewer.data import summarize_session
from inspector.viewer.widgets.timeline import TimelineChart


def lanes(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and set(line) <= set("█↻▓ ")]


def render(chart, width=80) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(chart)
    return console.file.getvalue()


def test_parallel_requests_are_drawn_in_lanes(tmp_path):
    write_session(tmp_path, [Spec(at=0, ms=4000), Spec(at=1, ms=1000, purpose="title"), Spec(at=8, ms=2000)])
    text = render(TimelineChart(summarize_session(list_sessions(tmp_path)[0]).timeline()), width=61)
    assert " ".join(text.split()).startswith("wall clock 10.00s · busy 6.00s · up to 2 in parallel · "
                                             "longest gap 4.00s (#1 → #3)")
    lane0, lane1 = lanes(text)
    axis = next(line for line in text.splitlines() if line.startswith("0s"))
    assert lane0[:25].strip("█") == "" and lane0[25:47].strip() == "" and lane0.rstrip().endswith("█")
    assert lane1.strip("█ ") == "" and lane1.index("█") == 6
    assert axis.startswith("0s") and axis.rstrip().endswith("10.00s")


def test_a_retry_storm_is_visible_at_a_glance(tmp_path):
    retry_storm(tmp_path)
    tl = summarize_session(list_sessions(tmp_path)[0]).timeline()
    text = render(TimelineChart(tl, highlight=5), width=100)
    (lane,) = lanes(text)
    assert lane.count("↻") == 11 and lane.count(" ") > 80  # eleven blips spread over two minutes
    assert "▲ #5" in text


def test_no_exchanges_no_chart():
    from inspector.viewer.data import timeline
    assert render(TimelineChart(timeline([]))).strip() == "no timed exchanges"
