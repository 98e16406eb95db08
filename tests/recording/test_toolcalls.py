import shutil
from pathlib import Path

import orjson

from inspector.cli import main
from inspector.recording import list_sessions, toolcall_report
from inspector.testing.samples import samples_dir
from inspector.testing.synth import with_repairs

SAMPLES = samples_dir()




def test_report_counts_by_model_and_kind_with_references(tmp_path):
    root = with_repairs(tmp_path)
    (stats,) = toolcall_report(root)
    assert (stats.model, stats.turns, stats.turns_with_calls, stats.calls) == ("qwen2.5-coder:7b", 2, 1, 1)
    assert stats.share("text-call:") == 1.0
    assert [ref.endswith("#1") for ref in stats.by_rule["text-call:tool_call-tag"]] == [True]
    assert list(stats.by_rule) == ["text-call:tool_call-tag", "schema:missing-required"]


def test_toolcalls_command(tmp_path, capsys):
    root = with_repairs(tmp_path)
    assert main(["toolcalls", str(root)]) == 0
    out = capsys.readouterr().out
    assert "qwen2.5-coder:7b" in out and "1 (100%)" in out and "text-call:tool_call-tag" in out
    assert main(["toolcalls", str(root), "--json"]) == 0
    data = orjson.loads(capsys.readouterr().out)
    assert data[0]["by_rule"]["schema:missing-required"][0].endswith("#1")
    assert main(["toolcalls", str(tmp_path / "nope")]) == 2
