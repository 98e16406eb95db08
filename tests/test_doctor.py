"""`inspector doctor` against each misconfiguration, with real gateways and scripted backends."""

import json

import pytest

from inspector.cli import main
from inspector.doctor import Doctor, mask
from inspector.protocol import get_form
from inspector.testing.backends import Reply, ScriptedBackend
from inspector.testing.forms import forms_where
from inspector.testing.gateway import Gateway, free_port

pytestmark = pytest.mark.e2e
GOOD = {"ANTHROPIC_AUTH_TOKEN": "inspector-local", "ANTHROPIC_MODEL": "claude-sonnet-4-5",
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": "claude-haiku-4-5"}


def doctor(env, tmp_path, settings: dict | None = None) -> Doctor:
    path = tmp_path / "settings.json"
    if settings is not None:
        path.write_text(json.dumps(settings))
    d = Doctor(env, settings=path, timeout=10.0, claude="/bin/false")  # a busy machine's first answers are slow
    d.run()
    return d


def find(d: Doctor, status: str, words: str):
    return [c for c in d.checks if c.status == status and words in (c.title + " " + c.detail + " " + c.fix)]


@pytest.fixture(scope="module")
def stack():
    with ScriptedBackend("ollama", [Reply(text="hi")]) as b:
        with Gateway(b.url, backend="ollama", model="qwen3:8b", num_ctx=65536) as gw:
            yield b, gw


def test_a_good_setup_passes(stack, tmp_path):
    b, gw = stack
    d = doctor({**GOOD, "ANTHROPIC_BASE_URL": gw.url}, tmp_path)
    assert not d.failed, [c for c in d.checks if c.status == "fail"]
    assert find(d, "pass", "the inspector gateway answers") and find(d, "pass", "backend at")
    assert find(d, "pass", "ANTHROPIC_MODEL=claude-sonnet-4-5") and find(d, "pass", "sends it to qwen3:8b")


def test_the_model_missing_on_the_backend(stack, tmp_path):
    b, gw = stack
    b.models = ["llama3.2:latest"]
    try:
        d = doctor({**GOOD, "ANTHROPIC_BASE_URL": gw.url}, tmp_path)
    finally:
        b.models = ["qwen3:8b"]
    assert find(d, "fail", "ollama pull qwen3:8b")


def test_a_small_context_and_no_num_ctx(tmp_path):
    with ScriptedBackend("ollama", [Reply(text="hi")]) as b:
        b.context_length = 8192
        with Gateway(b.url, backend="ollama", model="qwen3:8b") as gw:
            d = doctor({**GOOD, "ANTHROPIC_BASE_URL": gw.url}, tmp_path)
    assert find(d, "warn", "NUM_CTX=65536") and find(d, "warn", "8,192-token context")


def test_gateway_up_backend_down(tmp_path):
    with Gateway(f"http://127.0.0.1:{free_port()}", backend="ollama", model="q") as gw:
        d = doctor({**GOOD, "ANTHROPIC_BASE_URL": gw.url}, tmp_path)
    assert find(d, "fail", "backend at") and find(d, "fail", "ollama serve")


def test_base_url_unreachable_or_with_a_path(tmp_path):
    port = free_port()
    d = doctor({**GOOD, "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{port}/v1"}, tmp_path)
    assert find(d, "fail", f"Claude Code will call http://127.0.0.1:{port}/v1/v1/messages")
    assert find(d, "fail", f"export ANTHROPIC_BASE_URL=http://127.0.0.1:{port}")
    assert find(d, "fail", "nothing answers") and find(d, "fail", "make run")


@pytest.mark.parametrize("form", forms_where(needs_backend_model=True))
def test_pointing_at_the_backend_instead_of_the_gateway(tmp_path, form):
    with ScriptedBackend(form, [Reply(text="hi")]) as b:
        d = doctor({**GOOD, "ANTHROPIC_BASE_URL": b.url}, tmp_path)
    # A server that lists its models at /v1/models is known for an OpenAI-compatible one: a failure.
    status = "fail" if get_form(form).models_path == "/v1/models" else "warn"
    assert find(d, status, "not the gateway") and find(d, status, f"BACKEND_URL={b.url}")


def test_credentials_and_cloud_switches(tmp_path):
    d = doctor({"ANTHROPIC_API_KEY": "sk-ant-api03-secretsecret1234\n", "ANTHROPIC_AUTH_TOKEN": "tok-abcdef1234",
                "CLAUDE_CODE_USE_BEDROCK": "1"}, tmp_path)
    assert find(d, "fail", "CLAUDE_CODE_USE_BEDROCK") and find(d, "warn", "both set")
    assert find(d, "fail", "characters an HTTP header cannot carry")
    assert not any("secretsecret" in c.title + c.detail + c.fix for c in d.checks), "never print a secret"
    assert find(doctor({}, tmp_path), "fail", "no credential")


def test_settings_json_env_block_is_read(stack, tmp_path):
    b, gw = stack
    d = doctor({}, tmp_path, settings={"env": {**GOOD, "ANTHROPIC_BASE_URL": gw.url,
                                                "ANTHROPIC_MODEL": "claude-opus-5-5"}})
    assert find(d, "pass", "the inspector gateway answers")
    assert find(d, "pass", "ANTHROPIC_MODEL=claude-opus-5-5 (from")


def test_exit_status(stack, tmp_path, monkeypatch, capsys):
    b, gw = stack
    for k in list(GOOD) + ["ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY", "CLAUDE_CODE_USE_BEDROCK"]:
        monkeypatch.delenv(k, raising=False)
    for k, v in {**GOOD, "ANTHROPIC_BASE_URL": gw.url}.items():
        monkeypatch.setenv(k, v)
    settings = str(tmp_path / "none.json")
    assert main(["doctor", "--settings", settings, "--claude", "/bin/false"]) == 0
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{free_port()}")
    assert main(["doctor", "--settings", settings, "--claude", "/bin/false"]) == 1
    assert "✗ fail" in capsys.readouterr().out


def test_mask():
    assert mask("sk-ant-api03-abcdefghijklmnop") == "sk-ant-…mnop" and mask("short") == "…" and mask("") == ""


def test_doctor_learns_claude_codes_default_from_the_gateway_and_never_says_pull_a_claude_model(tmp_path):
    """Issue 9.8: no ANTHROPIC_MODEL, no gateway MODEL: Claude Code's own default name reaches the
    backend. Doctor knows that name from what the gateway saw, and the fix is to route it."""
    import httpx
    with ScriptedBackend("ollama", [Reply(status=404, error="model 'claude-opus-5-5' not found")]) as b:
        with Gateway(b.url, backend="ollama") as gw:
            env = {"ANTHROPIC_AUTH_TOKEN": "inspector-local", "ANTHROPIC_BASE_URL": gw.url}
            before = doctor(env, tmp_path)
            httpx.post(gw.url + "/v1/messages", json={"model": "claude-opus-5-5", "max_tokens": 5,
                                                      "messages": [{"role": "user", "content": "hi"}]})
            after = doctor(env, tmp_path)
    assert find(before, "warn", "has not asked the gateway for anything yet")
    (check,) = find(after, "fail", "claude-opus-5-5")
    assert "asked by Claude Code: claude-opus-5-5" in check.title
    assert "--set model=" in check.fix, "spelt for the gateway as it was started (mitmdump)"
    assert "ollama pull" not in check.fix and "qwen3:8b" in check.fix, "route it to what the backend has"


def test_claude_code_not_told_the_window_is_warned_with_the_fix(stack, tmp_path):
    b, gw = stack  # qwen3:8b trained for 40,960; the gateway asks num_ctx=65536, which Ollama caps
    env = {**GOOD, "ANTHROPIC_BASE_URL": gw.url, "ANTHROPIC_MODEL": "qwen3:8b"}
    d = doctor(env, tmp_path)
    (check,) = find(d, "warn", "does not know qwen3:8b's context window")
    assert "40,960 tokens" in check.title and "capped by Ollama" in check.title
    assert check.fix == "export CLAUDE_CODE_MAX_CONTEXT_TOKENS=40960"
    assert find(doctor({**env, "CLAUDE_CODE_MAX_CONTEXT_TOKENS": "40960"}, tmp_path), "pass",
                "CLAUDE_CODE_MAX_CONTEXT_TOKENS=40960")
    too_big = doctor({**env, "CLAUDE_CODE_MAX_CONTEXT_TOKENS": "200000"}, tmp_path)
    assert find(too_big, "fail", "larger than the backend's window of 40,960") and too_big.failed
    low = doctor({**env, "CLAUDE_CODE_MAX_CONTEXT_TOKENS": "40960", "CLAUDE_CODE_AUTO_COMPACT_WINDOW": "40960"},
                 tmp_path)
    assert find(low, "warn", "under Claude Code's minimum")


def test_a_claude_model_name_keeps_claude_codes_own_window(stack, tmp_path):
    b, gw = stack
    d = doctor({**GOOD, "ANTHROPIC_BASE_URL": gw.url}, tmp_path)  # ANTHROPIC_MODEL=claude-sonnet-4-5
    assert find(d, "warn", "export ANTHROPIC_MODEL=qwen3:8b")
    assert not d.failed


# -- issue 21: the room Claude Code keeps for its answer; a busy backend --------------------------------
@pytest.fixture(scope="module")
def small():
    """An Ollama model with an 8k window, behind a gateway that asks for it."""
    with ScriptedBackend("ollama", [Reply(text="hi")]) as b:
        b.context_length = 8192
        with Gateway(b.url, backend="ollama", model="qwen3:8b", num_ctx=8192) as gw:
            yield b, gw


def test_no_prompt_can_fit_when_claude_code_keeps_its_default_reservation(small, tmp_path):
    b, gw = small
    env = {**GOOD, "ANTHROPIC_BASE_URL": gw.url, "ANTHROPIC_MODEL": "qwen3:8b", "CLAUDE_CODE_MAX_CONTEXT_TOKENS": "8192"}
    d = doctor(env, tmp_path)
    (check,) = find(d, "fail", "no prompt can fit")
    assert "CLAUDE_CODE_MAX_OUTPUT_TOKENS is not set" in check.title and "keeps 20,000 of the 8,192" in check.title
    assert check.fix == "export CLAUDE_CODE_MAX_OUTPUT_TOKENS=1024"
    fixed = doctor({**env, "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "1024"}, tmp_path)
    assert find(fixed, "pass", "CLAUDE_CODE_MAX_OUTPUT_TOKENS=1024") and not fixed.failed
    trimmed_only = doctor({**env, "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "4096"}, tmp_path)
    assert find(trimmed_only, "warn", "default setup cannot start in a 8,192-token window")


def test_what_claude_code_sent_is_checked_against_the_window_less_the_answer(small, tmp_path):
    import httpx
    b, gw = small
    words = " ".join(["word"] * 6000)  # ≈7,500 tokens by the estimate: fits 8,192, not with 1,024 more
    httpx.post(gw.url + "/v1/messages", json={"model": "qwen3:8b", "max_tokens": 5,
                                              "messages": [{"role": "user", "content": words}]}, timeout=30)
    env = {**GOOD, "ANTHROPIC_BASE_URL": gw.url, "ANTHROPIC_MODEL": "qwen3:8b",
           "CLAUDE_CODE_MAX_CONTEXT_TOKENS": "8192", "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "1024"}
    (check,) = find(doctor(env, tmp_path), "warn", "Claude Code's largest request here is")
    assert "with 1,024 for the answer, more than the backend's window of 8,192" in check.title


def test_a_busy_backend_is_busy_not_down(tmp_path):
    """A one-request-at-a-time backend evaluating a prompt does not answer doctor's probe: the gateway
    has that request in flight, so doctor says busy (issue 21), where it said the backend was down."""
    import threading

    import httpx
    with ScriptedBackend("ollama", [Reply(text="hi", delay=20)]) as b:
        b.serial = True
        with Gateway(b.url, backend="ollama", model="qwen3:8b", num_ctx=65536) as gw:
            env = {**GOOD, "ANTHROPIC_BASE_URL": gw.url}
            doctor(env, tmp_path)  # the gateway's first answers are slow on a busy machine: warm it
            asking = threading.Thread(target=httpx.post, args=(gw.url + "/v1/messages",), daemon=True,
                                      kwargs={"json": {"model": "qwen3:8b", "max_tokens": 5, "messages": [
                                          {"role": "user", "content": "hi"}]}, "timeout": 30})
            asking.start()
            while not b.streaming:
                threading.Event().wait(0.05)
            d = Doctor(env, settings=tmp_path / "none.json", timeout=3.0, claude="/bin/false")
            d.run()
            asking.join()
    (check,) = find(d, "warn", "is busy")
    assert "1 request(s) in flight" in check.detail
    assert not find(d, "fail", "is not"), "not down"


def test_subagent_tiers_must_be_routed_and_the_subagent_variable_is_checked(tmp_path):
    with ScriptedBackend("ollama", [Reply(text="hi")]) as b:
        b.models = ["qwen3:8b", "qwen3:0.6b"]
        with Gateway(b.url, backend="ollama", model_map="sonnet=qwen3:8b", num_ctx=65536) as gw:
            env = {"ANTHROPIC_AUTH_TOKEN": "inspector-local", "ANTHROPIC_BASE_URL": gw.url,
                   "ANTHROPIC_MODEL": "claude-sonnet-4-5"}
            loose = doctor(env, tmp_path)
            told = doctor({**env, "ANTHROPIC_DEFAULT_HAIKU_MODEL": "qwen3:0.6b",
                           "ANTHROPIC_DEFAULT_OPUS_MODEL": "qwen3:8b", "ANTHROPIC_DEFAULT_FABLE_MODEL": "qwen3:8b",
                           "CLAUDE_CODE_SUBAGENT_MODEL": "qwen3:0.6b"}, tmp_path)
            missing = doctor({**env, "CLAUDE_CODE_SUBAGENT_MODEL": "qwen9:1b",
                              "ANTHROPIC_DEFAULT_HAIKU_MODEL": "qwen3:0.6b"}, tmp_path)
    (check,) = find(loose, "fail", "subagents asking for the haiku, opus, fable tier")
    assert "MODEL_MAP=haiku=<model>,opus=<model>,fable=<model>" in check.fix
    assert "ANTHROPIC_DEFAULT_HAIKU_MODEL=<model>" in check.fix and "CLAUDE_CODE_SUBAGENT_MODEL" in check.fix
    assert find(told, "pass", "subagents reach a model") and not told.failed
    assert find(told, "pass", "CLAUDE_CODE_SUBAGENT_MODEL=qwen3:0.6b")
    assert find(missing, "fail", "CLAUDE_CODE_SUBAGENT_MODEL=qwen9:1b → qwen9:1b, which the backend does not have")
    assert find(missing, "pass", "subagents reach a model"), "with it set, only haiku (background work) is asked"


def test_a_gateway_with_a_model_routes_every_tier(stack, tmp_path):
    b, gw = stack
    assert find(doctor({**GOOD, "ANTHROPIC_BASE_URL": gw.url}, tmp_path), "pass", "subagents reach a model")
