"""``inspector stats``: p50/p90 per model from exchange.json, unknown where nothing was recorded."""

from pathlib import Path

import orjson
import pytest

from inspector.cli import main
from inspector.recording import quantile, stats_report
from inspector.testing.samples import samples_dir


def exchange(folder: Path, seq: int, model: str, *, prompt=None, decode=None, ttft=None, read=None, inp=100,
             kept=None, status=200, source="ollama", kind="messages", overhead=None) -> None:
    meta = {"schema": "inspector.recording/1", "seq": seq, "kind": kind, "complete": True, "local": False,
            "model": {"requested": "claude-x", "backend": model}, "status": {"client": status},
            "timing_ms": {"first_token": ttft, "total": 1000}, "usage": {"input_tokens": inp, "output_tokens": 5}}
    if read is not None:
        meta["usage"]["cache_read_input_tokens"] = read
    if prompt is not None or decode is not None:
        meta["performance"] = {"prompt_tokens_per_s": prompt, "decode_tokens_per_s": decode, "source": source}
    if kept is not None:
        meta["prefix"] = {"kept": kept, "first_difference": None, "reason": None}
    if overhead is not None:
        meta["overhead_ms"] = {"request": overhead / 2, "response": overhead / 2, "total": overhead}
    path = folder / f"{seq:04d}_{kind}"
    path.mkdir(parents=True)
    (path / "exchange.json").write_bytes(orjson.dumps(meta))


@pytest.fixture
def recordings(tmp_path):
    s1 = tmp_path / "20261121T100000Z_claude-cli-2.1.328_aaaaaaaa"
    s2 = tmp_path / "20261121T110000Z_claude-cli-2.1.328_bbbbbbbb"
    for i, (p, d, t) in enumerate([(100, 10, 500), (200, 20, 1500), (300, 30, 2500)], 1):
        exchange(s1, i, "qwen3:8b", prompt=p, decode=d, ttft=t, read=900, inp=100, kept=1.0 - i / 10, overhead=i)
    exchange(s2, 1, "qwen3:8b", prompt=400, decode=40, ttft=3500, inp=1000)  # no cache figures said
    exchange(s2, 2, "qwen3:8b", status=400, prompt=9999)  # an error is not an answer
    exchange(s2, 3, "small", ttft=50)  # a backend that reported no timings
    exchange(s2, 4, "small", kind="count_tokens")
    return tmp_path


def test_quantiles_interpolate():
    assert quantile([], 0.5) is None and quantile([7.0], 0.9) == 7.0
    assert quantile([100, 200, 300, 400], 0.5) == 250 and quantile([100, 200, 300, 400], 0.9) == 370


def test_per_model_figures(recordings):
    qwen, small = stats_report(recordings)
    assert (qwen.model, qwen.exchanges, len(qwen.sessions)) == ("qwen3:8b", 4, 2)
    d = qwen.as_dict()
    assert d["prompt_tokens_per_s"] == {"p50": 250.0, "p90": 370.0, "n": 4}
    assert d["decode_tokens_per_s"]["p90"] == 37.0 and d["ttft_ms"]["p50"] == 2000.0
    assert d["cache_hit_share"] == 2700 / 3000, "only over the exchanges that reported their cache"
    assert d["prefix_kept"]["p50"] == 0.8 and d["sources"] == {"ollama": 4}
    assert d["overhead_ms"] == {"p50": 2.0, "p90": 2.8, "n": 3}  # what the gateway itself spent
    assert small.as_dict()["prompt_tokens_per_s"] == {"p50": None, "p90": None, "n": 0}
    assert small.cache_share is None and small.exchanges == 1


def test_one_session_on_its_own(recordings):
    (qwen,) = stats_report(recordings / "20261121T100000Z_claude-cli-2.1.328_aaaaaaaa")
    assert qwen.exchanges == 3


def test_the_command_says_unknown_where_nothing_was_recorded(recordings, capsys):
    assert main(["stats", str(recordings)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "qwen3:8b" in line)
    assert "250" in row and "370" in row and "90%" in row and "2.00s" in row and "ollama 4" in row
    assert "2.00ms" in row and "2.80ms" in row  # the gateway's own overhead, p50 and p90
    small = next(line for line in out.splitlines() if line.lstrip("│ ").startswith("small"))
    assert small.count("unknown") >= 6
    assert main(["stats", str(recordings), "--json"]) == 0
    assert orjson.loads(capsys.readouterr().out)[0]["model"] == "qwen3:8b"


def test_old_recordings_say_unknown_not_zero(capsys):
    """The shipped samples predate the figures: nothing is invented for them."""
    assert main(["stats", str(samples_dir())]) == 0
    out = capsys.readouterr().out
    assert "unknown" in out and " 0%" not in out
    assert main(["stats", "/nonexistent"]) == 2


def test_the_readme_stats_recipe_runs_as_written(tmp_path):
    import re
    import shutil
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent.parent
    (block,) = [b for b in re.findall(r"```sh\n(.*?)```", (root / "README.md").read_text(), re.S)
                if "inspector stats recordings/" in b]
    shutil.copytree(samples_dir(), tmp_path / "recordings")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    shim = tmp_path / ".venv" / "bin" / "inspector"  # the project's venv, pointing at this checkout
    shim.write_text(f'#!/bin/sh\nPYTHONPATH={root} exec {sys.executable} -m inspector.cli "$@"\n')
    shim.chmod(0o755)
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "where the seconds went in recordings" in done.stdout and "unknown" in done.stdout


def test_queue_wait_is_a_figure_of_its_own(tmp_path):
    folder = tmp_path / "20261121T100000Z_claude-cli-2.1.328_cccccccc"
    for seq, waited in enumerate([0.0, 1000.0, 3000.0], 1):
        exchange(folder, seq, "qwen3:8b", ttft=4000)
        meta = orjson.loads((folder / f"{seq:04d}_messages" / "exchange.json").read_bytes())
        meta["queue"] = {"wait_ms": waited, "ahead": seq - 1, "class": "subagent"}
        (folder / f"{seq:04d}_messages" / "exchange.json").write_bytes(orjson.dumps(meta))
    exchange(folder, 4, "qwen3:8b", ttft=10)  # no queue (a remote backend): not a zero wait
    (qwen,) = stats_report(tmp_path)
    assert qwen.as_dict()["queue_ms"] == {"p50": 1000.0, "p90": 2600.0, "n": 3}
    assert main(["stats", str(tmp_path)]) == 0
