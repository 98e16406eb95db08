"""The repair ladder, visible everywhere: recordings the gateway made of re-asked answers, read back by
every reader — the ladder rung by rung, ``inspector toolcalls`` and ``inspector stats`` per model, the
viewer's tabs, the OpenTelemetry events, the translation regression re-run — and recordings made
before the re-ask existed, which still read as they did."""

import asyncio
import json

import pytest

from inspector.recording import (
    RUNGS,
    ladder,
    list_sessions,
    retranslate,
    stats_report,
    toolcall_report,
    top_rung,
)
from inspector.telemetry import exchange_telemetry
from inspector.testing.backends import Call, Reply, ScriptedBackend, constrained_reply
from inspector.testing.inprocess import InProcessGateway
from inspector.testing.samples import samples_dir
from inspector.viewer.documents import load_exchange

WRITE = {"name": "Write", "description": "Writes a file to the local filesystem", "input_schema": {
    "type": "object", "properties": {"file_path": {"type": "string"}, "content": {"type": "string"}},
    "required": ["file_path", "content"], "additionalProperties": False}}
GOOD = {"file_path": "/tmp/a.txt", "content": "hi\n"}
BROKEN = Reply(text="I will write it.", calls=[Call("Write", {"file_path": "/tmp/a.txt"}, id="call_1")])
REPAIRED = Reply(text="Writing.", calls=[Call("Write", "{'file_path': '/tmp/a.txt', 'content': 'hi',}")])


def ask(**kw):
    return {"model": "claude-x", "max_tokens": 300, "tools": [WRITE],
            "messages": [{"role": "user", "content": "write"}], **kw}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """One session, four answers: valid as sent, repaired, re-asked (valid, streamed and whole), and a
    re-ask no better (the error rung)."""
    root = tmp_path_factory.mktemp("rec")
    replies = iter([Reply(calls=[Call("Write", GOOD)]), REPAIRED, BROKEN, BROKEN, BROKEN])
    reasks = iter([lambda rec: constrained_reply("openai", rec, GOOD), lambda rec: constrained_reply("openai", rec, GOOD),
                   lambda rec: Reply(text=json.dumps({"file_path": 3}))])

    def brain(rec):
        if rec.body.get("response_format"):
            return next(reasks)(rec)
        return next(replies)

    async def run():
        with ScriptedBackend("openai", brain) as b:
            async with InProcessGateway(b.url, backend="openai", model="q", record=True, record_dir=str(root)) as gw:
                for stream in (True, True, True, False, True):
                    await gw.send("POST", "/v1/messages", json=ask(stream=stream),
                                  headers={"x-claude-code-session-id": "ladder-1"})
    asyncio.run(run())
    (session,) = list_sessions(root)
    return root, session.exchanges()


def test_the_ladder_rung_by_rung(recorded):
    _, exchanges = recorded
    steps = [[(s.rung, s.outcome) for s in ladder(ex.meta)] for ex in exchanges]
    assert steps == [
        [("parse", "ok")],
        [("parse", "failed"), ("repair", "ok")],
        [("parse", "failed"), ("repair", "failed"), ("re-ask", "valid")],
        [("parse", "failed"), ("repair", "failed"), ("re-ask", "valid")],
        [("parse", "failed"), ("repair", "failed"), ("re-ask", "no better"), ("error", "failed")],
    ]
    assert [top_rung(ex.meta) for ex in exchanges] == ["parsed", "repaired", "re-asked", "re-asked", "failed"]
    assert "response_format json_schema" in ladder(exchanges[2].meta)[2].detail
    assert "schema:missing-required" in ladder(exchanges[4].meta)[3].detail


def test_toolcalls_and_stats_count_rungs_per_model(recorded):
    root, _ = recorded
    (tools,) = toolcall_report(root)
    assert dict(tools.rungs) == {"parsed": 1, "repaired": 1, "re-asked": 2, "failed": 1}
    assert tools.as_dict()["rungs"] == {rung: tools.rungs[rung] for rung in RUNGS}
    assert len(tools.by_rule["reask:schema"]) == 2
    (stats,) = stats_report(root)
    assert dict(stats.rungs) == dict(tools.rungs) and len(stats.reask_s) == 3
    assert stats.as_dict()["reask_s"]["n"] == 3


def test_the_cli_says_the_rungs(recorded, capsys):
    from inspector.cli import main

    root, _ = recorded
    assert main(["toolcalls", str(root)]) == 0
    assert "the repair ladder: parsed 1, repaired 1, re-asked 2, failed 1" in capsys.readouterr().out
    assert main(["stats", str(root)]) == 0
    assert "re-asked 2" in capsys.readouterr().out


def test_the_viewer_shows_both_attempts_and_the_ladder(recorded):
    _, exchanges = recorded
    docs = load_exchange(exchanges[2])
    notes = "\n".join(i.plain for i in docs.tabs["notes"])
    assert "the repair ladder" in notes and "re-ask" in notes and "valid" in notes
    backend = "\n".join(i.plain for i in docs.tabs["backend"])
    assert "re-ask (attempt 2)" in backend and "response_format" in backend
    events = "\n".join(i.plain for i in docs.tabs["events"])
    assert "from the backend, re-ask (attempt 2)" in events


def test_opentelemetry_gets_an_event_per_rung(recorded):
    _, exchanges = recorded
    t = exchange_telemetry(exchanges[4].meta, 1_800_000_000.0)
    rungs = [e.attributes for e in t.span.events if e.name == "inspector.ladder"]
    assert [(a["inspector.ladder.rung"], a["inspector.ladder.outcome"]) for a in rungs] == \
        [("parse", "failed"), ("repair", "failed"), ("re-ask", "no better"), ("error", "failed")]
    assert rungs[2]["inspector.reask.reason"] == "schema" and rungs[2]["inspector.reask.constrained"] is True
    assert t.span.attributes["inspector.ladder.top"] == "failed"


def test_a_reasked_recording_retranslates_as_it_was(recorded):
    _, exchanges = recorded
    for ex in exchanges:
        r = retranslate(ex)
        assert r.checked and r.same, r.diff


def test_recordings_from_before_the_reask_read_as_they_did():
    for session in list_sessions(samples_dir()):
        for ex in session.exchanges():
            assert ex.attempts == [] and "reask" not in ex.meta
            assert all(step.rung != "re-ask" for step in ladder(ex.meta))
