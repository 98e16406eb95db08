"""``inspector eval`` as a user runs it: the reports it prints and writes, its schema as documented,
its errors, and a Ctrl-C that keeps what was scored."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson

from inspector.testing.backends import Call, Received, Reply, ScriptedBackend
from inspector.testing.gateway import ROOT, free_port
from inspector.testing.samples import samples_dir

INSPECTOR = [sys.executable, "-m", "inspector.cli"]
SCHEMA_DOC = ROOT / "inspector" / "eval" / "SCHEMA.md"


def inspector(*args: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*INSPECTOR, *args], capture_output=True, text=True, timeout=120, **kw)


def brain(rec: Received) -> Reply:
    """Writes the file when offered Write and no result came back yet; answers in words otherwise."""
    text = str(rec.body)
    if "'role': 'tool'" in text:
        return Reply(text="I wrote hello.txt.")
    if "hello.txt" in text:
        return Reply(text="Writing <it>.", calls=[Call("Write", {"file_path": "hello.txt",
                                                                 "content": "hello from a local model\n"})])
    return Reply(text="Hello! I'm a <b>local</b> model.")


def documented() -> list[set[str]]:
    """The field names of each table in SCHEMA.md (document, turns, results, tool, summary)."""
    tables: list[set[str]] = []
    current: set[str] | None = None
    for line in SCHEMA_DOC.read_text().splitlines():
        if line.startswith("| field |"):
            current = set()
            tables.append(current)
        elif line.startswith("|") and current is not None and not line.startswith("|---"):
            current.update(re.findall(r"`([a-z0-9_]+)`", line.split("|")[1]))
        elif not line.startswith("|"):
            current = None
    return tables


def test_scripted_candidate_end_to_end_json_html_and_the_printed_summary(tmp_path):
    out, page = tmp_path / "eval.json", tmp_path / "eval.html"
    with ScriptedBackend("openai", brain) as b:
        r = inspector("eval", str(samples_dir()), "--backend", "openai", "--backend-url", b.url, "--model", "qwen",
                      "--model", "qwen-2", "--json", str(out), "--html", str(page))
    assert r.returncode == 0, r.stderr
    assert "inspector eval: 3 turns from 3 sessions" in r.stdout and "skipped: no recorded answer 6" in r.stdout
    assert re.search(r"qwen\s+│\s+3\s+│\s+100% \(3/3\)", r.stdout), r.stdout
    assert "[2/3] qwen turn 2 " in r.stderr and "same tool ✓" in r.stderr, "a line per turn where there is no terminal"
    data = orjson.loads(out.read_bytes())
    assert data["schema"] == "inspector.eval/1" and data["complete"] is True
    assert [c["model"] for c in data["candidates"]] == ["qwen", "qwen-2"]
    assert [(x["model"], x["turn"]) for x in data["results"]] == [("qwen", 1), ("qwen", 2), ("qwen", 3),
                                                                  ("qwen-2", 1), ("qwen-2", 2), ("qwen-2", 3)]
    write = data["results"][1]
    assert write["tool"]["same_tool"] and write["tool"]["equivalent_arguments"] and write["tool"]["reasked"] is False
    assert data["summary"][0]["well_formed_share"] == 1.0 and data["skipped"]["no recorded answer"] == 6
    # Every field written is documented, and every documented field is written.
    doc, turns, results, tool, summary = documented()
    assert set(data) == doc
    assert set(data["turns"][0]) == turns and set(data["results"][0]) == results
    assert set(write["tool"]) == tool and set(data["summary"][0]) == summary
    html = page.read_text()
    assert "Content-Security-Policy" in html and "<script" not in html
    assert "Hello! I&#x27;m a &lt;b&gt;local&lt;/b&gt; model." in html, "answers are text, never HTML"
    assert html.count('class="side recorded"') == 3 and "recorded Write" in html


def test_trouble_before_anything_runs_is_exit_2(tmp_path):
    assert inspector("eval", str(tmp_path / "nope"), "--model", "m").returncode == 2
    r = inspector("eval", str(samples_dir()), "--model", "m", "--turns", "0-3")
    assert r.returncode == 2 and "--turns" in r.stderr
    r = inspector("eval", str(samples_dir() / "20261202T180246Z_claude-cli-2.1.328_38362ef8"), "--model", "m")
    assert r.returncode == 2 and "no model turns to evaluate" in r.stderr and "no recorded answer 6" in r.stderr
    r = inspector("eval", str(samples_dir()), "--backend", "openai", "--model", "m")
    assert r.returncode == 2 and "--backend-url is needed" in r.stderr
    r = inspector("eval", str(samples_dir()))
    assert r.returncode == 2 and "--model NAME is needed" in r.stderr


def test_ctrl_c_prints_and_writes_what_was_scored_so_far(tmp_path):
    out = tmp_path / "eval.json"
    slow = [Reply(text="Hello!"), Reply(text="slow", delay=60.0)]
    with ScriptedBackend("ollama", slow) as b:
        proc = subprocess.Popen([*INSPECTOR, "eval", str(samples_dir()), "--backend-url", b.url, "--model", "m",
                                 "--json", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + 60
        while len(b.chat_requests) < 2 and time.monotonic() < deadline:  # turn 1 scored, turn 2 waiting
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted: 1 of 3 turns scored" in stderr and "interrupted: what was scored so far" in stdout
    data = orjson.loads(out.read_bytes())
    assert data["complete"] is False and [r["turn"] for r in data["results"]] == [1]
    assert "Traceback" not in stderr


def test_a_candidate_that_is_down_is_reported_per_turn_and_json_can_go_to_stdout():
    r = inspector("eval", str(samples_dir()), "--backend-url", f"http://127.0.0.1:{free_port()}", "--model", "m",
                  "--json", "-")
    assert r.returncode == 0, r.stderr
    assert "errors: api_error 3" in r.stderr and r.stderr.count("cannot reach") == 3, "the summary goes to stderr"
    data = orjson.loads(r.stdout)
    assert [x["status"] for x in data["results"]] == [502, 502, 502] and data["complete"]


def test_the_help_names_the_schema():
    r = inspector("eval", "--help")
    assert "inspector/eval/SCHEMA.md" in r.stdout and Path(ROOT / "inspector/eval/SCHEMA.md").exists()
