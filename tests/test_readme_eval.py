"""The README's ``inspector eval`` and ``--chaos`` recipes, run as written (in a sandbox like a fresh clone:
this venv, exactly the shipped samples). What is asserted is what eval and replay guarantee — the
files, the schema, the recording, what was injected — never what a model sampled."""

import subprocess
import sys
import time

import orjson
import pytest

from inspector.recording import list_sessions
from inspector.testing.backends import Call, Received, Reply, ScriptedBackend
from inspector.testing.readme import Running, block, exports, need_ports, sh
from tests.test_readme import sandbox  # noqa: F401 - the fixture

pytestmark = pytest.mark.e2e

SAMPLE = "20261202T180244Z_claude-cli-2.1.328_4997fd7d"  # the Write round trip


@pytest.mark.timeout(900)  # SmolLM2 evaluates a 2,400-token prompt one token at a time on a shared CPU
def test_the_eval_recipe_with_the_embedded_backend(sandbox):  # noqa: F811 - the fixture imported above
    from inspector import embedded
    if embedded.why_unavailable():
        pytest.skip(f"the embedded backend is not built here: {embedded.why_unavailable()}")
    out = sh(block(".venv/bin/inspector eval recordings/ --embedded"), cwd=sandbox, timeout=900)
    printed = out.stdout + out.stderr
    assert out.returncode in (0, 1), "the last line is diff's: 0 equal, 1 different — never 2, trouble\n" + printed
    data = orjson.loads((sandbox / "eval.json").read_bytes())
    assert data["schema"] == "inspector.eval/1" and data["complete"] is True, printed
    assert [(c["model"], c["backend"]) for c in data["candidates"]] == [("smollm2-135m-instruct", "openai")]
    assert data["candidates"][0]["options"]["max_tokens_limit"] == embedded.MAX_OUTPUT
    assert [(r["turn"], r["kind"], r["ref"].endswith(f"{SAMPLE}#{n}")) for n, r in enumerate(data["results"], 1)] == \
        [(2, "tool", True), (3, "text", True)]
    assert data["skipped"]["no recorded answer"] == 6 and data["skipped"]["outside --turns"] == 1
    for r in data["results"]:
        assert isinstance(r["answered"], bool) and (r["error"] is None) == r["answered"], r
        if r["answered"]:
            assert (r["tool"] is not None) == (r["kind"] == "tool") and (r["text"] is not None) == (r["kind"] == "text")
            assert r["tool"] is None or isinstance(r["tool"]["reasked"], bool)
            assert r["text"] is None or 0.0 <= r["text"]["similarity"] <= 1.0
            assert r["timings"]["source"] in ("llama.cpp", "gateway")
    assert "Content-Security-Policy" in (sandbox / "eval.html").read_text()
    # The candidate's exchanges: an ordinary recording that stats and diff read.
    (session,) = list_sessions(sandbox / "eval-recordings")
    assert "_inspector-eval-smollm2-135m-instruct_4997fd7d" in session.name, session.name
    assert [e.meta["eval_of"].rsplit("_", 1)[1] for e in session.exchanges()] == ["4997fd7d#1", "4997fd7d#2"]
    assert all(e.meta.get("complete") for e in session.exchanges())
    assert [r["recorded_as"] for r in data["results"]] == \
        [f"eval-recordings/{session.name}/{e.path.name}" for e in session.exchanges()]
    assert "where the seconds went in eval-recordings" in out.stdout and "smollm2-135m-instruct" in out.stdout
    assert f"--- {SAMPLE}#1" in out.stdout and f"+++ {session.name}#1" in out.stdout, printed


def brain(rec: Received) -> Reply:
    if "hello.txt" in str(rec.body) and "'role': 'tool'" not in str(rec.body):
        return Reply(calls=[Call("Write", {"file_path": "hello.txt", "content": "hello from a local model\n"})])
    return Reply(text="Done.")


def test_the_eval_recipe_against_ollama(sandbox):  # noqa: F811
    need_ports(11434)
    with ScriptedBackend("ollama", brain, port=11434) as backend:
        backend.models = ["qwen3:8b", "qwen2.5-coder:7b"]
        out = sh(block("--model qwen3:8b --model qwen2.5-coder:7b"), cwd=sandbox)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "qwen3:8b" in out.stdout and "qwen2.5-coder:7b" in out.stdout
    chats = backend.chat_requests
    assert [c.body["model"] for c in chats] == ["qwen3:8b"] * 3 + ["qwen2.5-coder:7b"] * 3, "one model after another"
    assert {c.body["options"]["num_ctx"] for c in chats} == {65536}
    assert (sandbox / "eval.html").exists()


def test_the_chaos_replay_recipe_with_the_real_claude_code(sandbox, claude_on_path):  # noqa: F811
    need_ports(4000)
    replay = Running(block("--chaos '429@#1,529@#3,seed=7'"), cwd=sandbox)
    try:
        replay.wait_for_port(4000)
        time.sleep(0.5)
        session = sh(block('cd "$(mktemp -d)"'), cwd=sandbox, env={**claude_on_path, "TMPDIR": str(sandbox)})
    finally:
        printed = replay.stop()
    assert session.returncode == 0, session.stdout + session.stderr + printed
    assert "I wrote hello.txt." in session.stdout, "Claude Code retried both faults and completed as recorded"
    assert session.stdout.rstrip().endswith("hello from a local model")
    assert "chaos: 429 on Messages request #1 (HTTP 429 rate_limit_error, retry-after 1 s)" in printed
    assert "chaos: 529 on Messages request #3 (HTTP 529 overloaded_error)" in printed
    assert printed.count("replay: POST /v1/messages ← ") == 2, printed
    for name, value in exports(block('cd "$(mktemp -d)"')).items():
        assert f"export {name}={value}" in printed


def test_the_chaos_pytest_snippet(sandbox):  # noqa: F811
    (sandbox / "test_chaos_snippet.py").write_text(block("def test_my_agent_survives_a_rate_limit"))
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_chaos_snippet.py"],
                         cwd=sandbox, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 passed" in out.stdout
