import shutil
from pathlib import Path

import orjson

from inspector.cli import main
from inspector.recording import list_sessions, toolcall_report
from inspector.testing.samples import samples_dir

SAMPLES = samples_dir()


def with_repairs(tmp_path: Path) -> Path:
    """The sample tool round trip, as if the model had printed its call as text and sent a string number."""
    source = list_sessions(SAMPLES)[1]
    shutil.copytree(source.path, tmp_path / source.name)
    first = sorted((tmp_path / source.name).glob("0001_*"))[0] / "exchange.json"
    meta = orjson.loads(first.read_bytes())
    meta["notes"] += [
        {"kind": "repaired", "message": "Write: the model printed the call as text (tool_call-tag) '<tool_call>…'; "
                                        "sent as a tool call", "count": 1, "rule": "text-call:tool_call-tag"},
        {"kind": "error", "message": "Write: (arguments): 'content' is a required property", "count": 1,
         "rule": "schema:missing-required"},
    ]
    first.write_bytes(orjson.dumps(meta))
    return tmp_path


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
