"""The real Claude Code CLI (2.1.328) and the real context window: refused at once when it cannot fit,
and told the window by the environment ``inspector run`` prints."""

import subprocess

import orjson
import pytest

from inspector.cli import main
from inspector.recording import list_sessions
from inspector.testing.backends import Reply, ScriptedBackend
from inspector.testing.claude import claude_env, run_claude
from inspector.testing.gateway import Gateway

pytestmark = [pytest.mark.e2e, pytest.mark.claude]


def test_an_8k_ollama_model_refuses_claude_codes_prompt_at_once(claude, tmp_path):
    """Issue 10 §1: /api/show says 8,192; the gateway runs with --set num_ctx=65536 (Ollama caps it at
    the trained length); Claude Code's ≈12.5k-token request gets "Prompt is too long" naming 8,192,
    and no /api/chat call is made."""
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir(), home.mkdir()
    with ScriptedBackend("ollama", [Reply(text="never")]) as b:
        b.context_length = 8192
        with Gateway(b.url, backend="ollama", model="qwen3:8b", num_ctx=65536) as gw:
            result = run_claude(claude, gw.url, work, home, "Write hi into hello.txt", auth="token")
            log = gw.log()
    assert result.returncode != 0 and "Prompt is too long" in result.stdout, result.stdout + result.stderr
    assert b.chat_requests == [], "refused before any /api/chat call"
    assert [p.path for p in b.probes] == ["/api/show", "/api/ps"], "asked once, at start"
    (session,) = list_sessions(gw.record_dir)
    refused = [e.meta for e in session.exchanges() if e.kind == "messages"]
    assert refused and all(m["status"]["client"] == 400 for m in refused)
    meta = refused[0]
    assert meta["context_window"]["tokens"] == 8192 and "capped by Ollama" in meta["context_window"]["source"]
    assert 11_000 < meta["token_counts"]["input_tokens"] < 14_000 and meta["token_counts"]["exact"] is False
    assert "the backend's context window is 8,192 tokens" in meta["error"]["message"]
    assert "context window is 8,192 tokens" in log


def _printed_env(capsys, *args: str) -> dict[str, str]:
    assert main(["run", "--dry-run", *args]) == 0
    lines = capsys.readouterr().err.splitlines()
    return dict(line.strip()[len("export "):].split("  #")[0].split("=", 1) for line in lines
                if line.strip().startswith("export "))


@pytest.mark.parametrize("num_ctx, shown", [(65536, "65.5k"), (131072, "131.1k")])
def test_the_printed_environment_gives_claude_code_the_backends_window(claude, tmp_path, capsys, num_ctx, shown):
    """Without it Claude Code assumes 1M tokens for a model it does not know (it says so on stderr)."""
    with ScriptedBackend("ollama", [Reply(text="hi")]) as b:
        b.context_length = 131072
        printed = _printed_env(capsys, "--backend-url", b.url, "--model", "qwen3:8b", "--num-ctx", str(num_ctx))
        assert printed["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == str(num_ctx)
        with Gateway(b.url, backend="ollama", model="qwen3:8b", num_ctx=num_ctx) as gw:
            told = {k: v for k, v in printed.items() if k.startswith("CLAUDE_CODE_")}
            env = claude_env(gw.url, tmp_path, auth="token", ANTHROPIC_MODEL="qwen3:8b",
                             ANTHROPIC_DEFAULT_HAIKU_MODEL="qwen3:8b", **told)
            before = subprocess.run([str(claude), "-p", "/context"], cwd=tmp_path, capture_output=True, text=True,
                                    timeout=120, env={**env, "CLAUDE_CODE_MAX_CONTEXT_TOKENS": "",
                                                      "CLAUDE_CODE_AUTO_COMPACT_WINDOW": ""})
            after = subprocess.run([str(claude), "-p", "/context"], cwd=tmp_path, capture_output=True, text=True,
                                   timeout=120, env=env)
    assert "assumes a context window of 1m tokens" in before.stderr and "/ 1m" in before.stdout
    assert after.returncode == 0, after.stderr
    assert f"/ {shown}" in after.stdout, after.stdout
    assert "doesn't recognize" not in after.stderr and "minimum" not in after.stderr, after.stderr


def test_count_tokens_through_the_gateway_says_estimate_for_ollama(claude, tmp_path):
    """Claude Code's /context asks count_tokens; with Ollama (no tokenizer endpoint) it is an estimate."""
    with ScriptedBackend("ollama", [Reply(text="hi")]) as b:
        with Gateway(b.url, backend="ollama", model="qwen3:8b", num_ctx=65536) as gw:
            env = claude_env(gw.url, tmp_path, auth="token", ANTHROPIC_MODEL="qwen3:8b",
                             CLAUDE_CODE_MAX_CONTEXT_TOKENS="40960")
            subprocess.run([str(claude), "-p", "/context"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                           env=env)
    counted = [orjson.loads((e.path / "exchange.json").read_bytes()) for s in list_sessions(gw.record_dir)
               for e in s.exchanges() if e.kind == "count_tokens"]
    assert counted, "Claude Code 2.1.328's /context counts each part of its prompt with count_tokens"
    for meta in counted:
        assert meta["token_counts"]["exact"] is False and meta["token_counts"]["source"].startswith("estimate")
        assert meta["context_window"]["tokens"] == 40960
