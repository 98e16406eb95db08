import shutil
from pathlib import Path

import orjson

from inspector.cli import main
from inspector.recording import list_sessions, toolcall_report
from inspector.testing.samples import samples_dir
from inspector.testing.synth import with_repairs

SAMPLES = samples_dir()




def _edit(path: Path, **fields) -> None:
    meta = orjson.loads(path.read_bytes())
    meta.update(fields)
    path.write_bytes(orjson.dumps(meta))


def test_report_counts_by_model_and_kind_with_references(tmp_path):
    root = with_repairs(tmp_path)
    (stats,) = toolcall_report(root)
    assert (stats.model, stats.turns, stats.turns_with_calls, stats.calls) == ("qwen2.5-coder:7b", 2, 1, 1)
    assert stats.share("text-call:") == 1.0
    assert [ref.endswith("#1") for ref in stats.by_rule["text-call:tool_call-tag"]] == [True]
    assert list(stats.by_rule)[:2] == ["text-call:tool_call-tag", "schema:missing-required"]
    assert stats.by_shape == {"tool_call-tag": 1}


def test_shapes_are_counted_by_model(tmp_path):
    root = with_repairs(tmp_path)
    second = sorted(next(root.iterdir()).glob("0002_*"))[0] / "exchange.json"
    meta = orjson.loads(second.read_bytes())
    _edit(second, tool_calls=[{"name": "Write", "id": "t9", "input": {}}], notes=meta["notes"] + [
        {"kind": "repaired", "message": "…", "count": 1, "rule": "text-call:function-tag"},
        {"kind": "warning", "message": "…", "count": 1, "rule": "text-call:unclosed"}])
    (stats,) = toolcall_report(root)
    assert stats.by_shape == {"function-tag": 1, "tool_call-tag": 1}, "unclosed is a note, not a shape"
    assert stats.by_rule["text-call:unclosed"][0].endswith("#2")


def test_a_failed_request_is_not_a_turn(tmp_path):
    root = with_repairs(tmp_path)
    for n, path in enumerate(sorted(next(root.iterdir()).glob("0*/exchange.json"))):
        if n == 1:
            _edit(path, status={"client": 502, "backend": None}, error={"type": "api_error", "message": "down"})
    (stats,) = toolcall_report(root)
    assert (stats.turns, stats.failed) == (1, 1)
    errors = [s for s in toolcall_report(SAMPLES) if s.model == "llama9:70b"]
    assert errors and errors[0].turns == 0 and errors[0].failed >= 1, "the sample's 404s: no turns at all"


def test_tool_results_with_is_error_are_charged_to_the_call_and_counted_once(tmp_path):
    root = with_repairs(tmp_path)
    first, second = sorted(next(root.iterdir()).glob("0*/exchange.json"))[:2]
    call_id = orjson.loads(first.read_bytes())["tool_calls"][0]["id"]
    _edit(second, tool_results=[{"tool_use_id": call_id, "name": "Write", "is_error": True}])
    retry = second.parent.parent / "0003_messages"
    shutil.copytree(second.parent, retry)  # Claude Code retried: the same result carried again
    (stats,) = toolcall_report(root)
    assert (stats.results, stats.failed_results, dict(stats.failed_tools)) == (1, 1, {"Write": 1})
    assert stats.by_rule["result:is_error"] == [f"{first.parent.parent.name}#1"], "the exchange that made the call"
    _edit(second, tool_results=[{"tool_use_id": call_id, "name": "Write", "is_error": False}])
    shutil.rmtree(retry)
    (stats,) = toolcall_report(root)
    assert (stats.results, stats.failed_results) == (1, 0)


def test_results_of_recordings_made_before_tool_results_come_from_the_request():
    """The shipped Write sample (recorded before ``tool_results``) carries a failed Write."""
    (stats,) = [s for s in toolcall_report(SAMPLES) if s.model == "qwen2.5-coder:7b"]
    session = list_sessions(SAMPLES)[1]
    body = session.exchanges()[1].request_json()
    carried = [b for m in body["messages"] if m["role"] == "user" and isinstance(m["content"], list)
               for b in m["content"] if b.get("type") == "tool_result"]
    assert stats.results == len(carried) and stats.failed_results == sum(bool(b.get("is_error")) for b in carried)


def test_toolcalls_command(tmp_path, capsys):
    root = with_repairs(tmp_path)
    assert main(["toolcalls", str(root)]) == 0
    out = capsys.readouterr().out
    assert "qwen2.5-coder:7b" in out and "1 (100%)" in out and "text-call:tool_call-tag" in out
    assert "printed as text, by shape: tool_call-tag 1" in out and "requests" in out
    assert main(["toolcalls", str(root), "--json"]) == 0
    data = orjson.loads(capsys.readouterr().out)
    assert data[0]["by_rule"]["schema:missing-required"][0].endswith("#1")
    assert data[0]["by_shape"] == {"tool_call-tag": 1} and {"failed", "results", "failed_results"} <= set(data[0])
    assert main(["toolcalls", str(tmp_path / "nope")]) == 2
