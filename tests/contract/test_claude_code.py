"""The contract's clauses that the real client acts on, shown with the pinned Claude Code (2.1.328):
auto mode retrying without ``safeguards``, auto-compact after "prompt is too long", retries after
429 and 529, no retry after a 401 or a 501, model discovery.

The backends are scripted: nothing depends on what a model samples. Nor on the machine's speed:
what is counted is requests, and the one time measured (a Retry-After honoured) is a lower bound.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from inspector.recording import list_sessions
from inspector.testing.backends import RENDER, Received, Reply, ScriptedBackend
from inspector.testing.claude import claude_env, run_claude
from inspector.testing.gateway import Gateway
from inspector.transport import Reply as HttpReply
from inspector.transport import Request, ThreadedServer

from .test_gateway import RESULTS, with_safeguard_results

pytestmark = [pytest.mark.e2e, pytest.mark.claude]
TOKEN = "contract-token-" + "y" * 16


def exchanges(record_dir: Path | None, kind: str = "messages") -> list[Any]:
    """Every recorded exchange of ``kind``, in the order they started (over all sessions)."""
    assert record_dir is not None
    found = [e for s in list_sessions(record_dir) for e in s.exchanges() if e.kind == kind]
    return sorted(found, key=lambda e: e.meta["started"])


def last_user_text(body: dict[str, Any]) -> str:
    return json.dumps((body.get("messages") or [{}])[-1])


def folders(tmp_path: Path) -> tuple[Path, Path]:
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir(), home.mkdir()
    return work, home


# -- auto mode's safeguards ---------------------------------------------------------------------------
def test_auto_mode_retries_without_safeguards_and_goes_on(claude, tmp_path):
    """In auto mode (``--permission-mode auto``) Claude Code asks for the server-side safety check; the
    Ollama form refuses it by name, and the client sends the request again without it and goes on."""
    work, home = folders(tmp_path)
    with ScriptedBackend("ollama", [Reply(text="Checked locally, and answered.")]) as b:
        with Gateway(b.url, backend="ollama", model="qwen3") as gw:
            result = run_claude(claude, gw.url, work, home, "Say hi.", auth="token",
                                args=("--permission-mode", "auto"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Checked locally, and answered." in result.stdout
    refused, answered = exchanges(gw.record_dir)
    headers = {k.lower(): v for k, v in refused.client_request["headers"]}
    assert "safeguards" in refused.request_json() and "dangerous-tool-use-" in headers["anthropic-beta"]
    assert refused.meta["status"]["client"] == 400 and "safeguards" in refused.meta["error"]["message"]
    assert "safeguards" not in answered.request_json(), "sent again without it"
    assert answered.meta["status"]["client"] == 200
    assert len(b.chat_requests) == 1, "the refused request never reached the backend"


def test_auto_mode_safeguards_pass_through_to_an_anthropic_backend(claude, tmp_path):
    """Passthrough: the field, its beta value and the reply's safeguard_results go through unchanged; the
    client is satisfied and does not send the request again without them."""
    work, home = folders(tmp_path)
    stream = with_safeguard_results(RENDER["anthropic"](Reply(text="Checked upstream."), "claude-opus-5-5", True))
    with ScriptedBackend("anthropic", [Reply(raw=list(stream))]) as b:
        with Gateway(b.url, backend="anthropic") as gw:
            result = run_claude(claude, gw.url, work, home, "Say hi.", auth="token",
                                args=("--permission-mode", "auto"))
    assert result.returncode == 0 and "Checked upstream." in result.stdout, result.stdout + result.stderr
    (sent,) = b.chat_requests
    assert sent.body["safeguards"][0]["type"] == "dangerous_tool_use"
    assert "dangerous-tool-use-" in sent.headers["anthropic-beta"]
    (answered,) = exchanges(gw.record_dir)
    assert json.dumps(RESULTS).replace(" ", "").encode() in answered.body("client").replace(b" ", b"")


# -- auto-compact ------------------------------------------------------------------------------------------
LONG = " ".join(f"word{i}" for i in range(1200))  # ≈2,500 tokens by the gateway's estimate


def compacting_brain(form: str, said: list[str]) -> Any:
    """Answers each turn with "ack N" and a compaction request (Claude Code asks for a ``<summary>``
    block) with a summary; reports no prompt count (the gateway's estimate stays the byte count's)."""
    def brain(rec: Received) -> Reply:
        body = rec.body if isinstance(rec.body, dict) else {}
        if "<summary>" in last_user_text(body):
            said.append("summary")
            return Reply(text="<analysis>short</analysis><summary>The user sent long word lists; each was "
                              "acknowledged.</summary>", prompt_tokens=0)
        said.append("turn")
        return Reply(text=f"ack {len(body.get('messages') or [])}", prompt_tokens=0)
    return brain


def turn(claude, url: str, work: Path, home: Path, n: int, *, resume: bool) -> subprocess.CompletedProcess[str]:
    args = ("--tools", "", *(("--continue",) if resume else ()))
    return run_claude(claude, url, work, home, f"Text {n}: {LONG} Reply with ack.", auth="token", args=args)


def test_a_session_that_outgrows_the_window_compacts_and_goes_on(claude, tmp_path):
    """The gateway's own refusal ("prompt is too long: N tokens > M maximum") makes Claude Code compact
    the conversation (its reactive auto-compact) and carry on, instead of ending the session.

    Two turns run through a gateway with no window, to measure how much a turn adds; the third goes to
    one whose window is half a turn above the second's size, so it cannot fit but a summary can."""
    work, home = folders(tmp_path)
    said: list[str] = []
    with ScriptedBackend("ollama", compacting_brain("ollama", said)) as b:
        with Gateway(b.url, backend="ollama", model="qwen3") as gw:
            for n in (1, 2):
                done = turn(claude, gw.url, work, home, n, resume=n > 1)
                assert done.returncode == 0, done.stdout + done.stderr
        sizes = [e.meta["token_counts"]["input_tokens"] for e in exchanges(gw.record_dir)]
        assert len(sizes) == 2 and sizes[1] > sizes[0]
        window = sizes[1] + (sizes[1] - sizes[0]) // 2
        with Gateway(b.url, backend="ollama", model="qwen3", max_context=window) as small:
            third = turn(claude, small.url, work, home, 3, resume=True)
            fourth = turn(claude, small.url, work, home, 4, resume=True)
    assert third.returncode == 0, third.stdout + third.stderr
    assert re.fullmatch(r"ack \d+\n", third.stdout), third.stdout
    assert fourth.returncode == 0 and re.fullmatch(r"ack \d+\n", fourth.stdout), fourth.stdout + fourth.stderr
    seen = exchanges(small.record_dir)
    refused = [e for e in seen if e.meta["status"]["client"] == 400]
    assert refused and refused[0].meta["error"]["message"].startswith("prompt is too long: ")
    assert f"> {window} maximum" in refused[0].meta["error"]["message"]
    assert "summary" in said[2:], "Claude Code asked the backend to summarize the conversation"
    last = seen[-1]
    assert last.meta["status"]["client"] == 200 and last.meta["token_counts"]["input_tokens"] <= window, \
        "the session went on in the compacted conversation"


def test_a_backends_own_prompt_is_too_long_makes_claude_code_compact(claude, tmp_path):
    """A llama.cpp server's context error (``exceed_context_size_error`` with ``n_prompt_tokens`` and
    ``n_ctx``) reaches Claude Code in Anthropic's words, and it compacts and goes on. The backend's window
    is set, as a real server's is, from what it has seen: half a turn above the second turn."""
    work, home = folders(tmp_path)
    sizes: list[int] = []
    said: list[str] = []
    answer = compacting_brain("openai", said)

    def brain(rec: Received) -> Reply:
        body = rec.body if isinstance(rec.body, dict) else {}
        size = len(json.dumps(body)) // 4
        if len(sizes) >= 2 and size > sizes[1] + (sizes[1] - sizes[0]) // 2:
            limit = sizes[1] + (sizes[1] - sizes[0]) // 2
            return Reply(status=400, raw=[json.dumps({"error": {
                "code": 400, "message": "the request exceeds the available context size, try increasing it",
                "type": "exceed_context_size_error", "n_prompt_tokens": size, "n_ctx": limit}}).encode()])
        if "<summary>" not in last_user_text(body):
            sizes.append(size)
        return answer(rec)

    with ScriptedBackend("openai", brain, server="llama.cpp") as b:
        with Gateway(b.url, backend="openai", model="qwen3") as gw:
            outputs = [turn(claude, gw.url, work, home, n, resume=n > 1) for n in (1, 2, 3, 4)]
    for done in outputs:
        assert done.returncode == 0 and re.fullmatch(r"ack \d+\n", done.stdout), done.stdout + done.stderr
    seen = exchanges(gw.record_dir)
    refused = [e for e in seen if e.meta["status"]["client"] == 400]
    assert refused, "the third turn did not fit"
    assert re.match(r"prompt is too long: \d+ tokens > \d+ maximum", refused[0].meta["error"]["message"])
    assert "summary" in said


# -- retries -------------------------------------------------------------------------------------------------
def test_a_rate_limited_backend_is_retried_after_its_retry_after(claude, tmp_path):
    """The backend's 429 reaches Claude Code as a 429 ``rate_limit_error`` with the backend's Retry-After,
    and Claude Code waits that long before it asks again (its own backoff is a fraction of a second)."""
    work, home = folders(tmp_path)
    arrived: list[float] = []

    def brain(rec: Received) -> Reply:
        arrived.append(time.monotonic())
        if len(arrived) == 1:
            return Reply(status=429, error="too many requests", headers=[("retry-after", "3")])
        return Reply(text="Answered after the wait.")

    with ScriptedBackend("ollama", brain) as b, Gateway(b.url, backend="ollama", model="qwen3") as gw:
        result = run_claude(claude, gw.url, work, home, "Say hi.", auth="token", args=("--tools", ""))
    assert result.returncode == 0 and "Answered after the wait." in result.stdout, result.stdout + result.stderr
    assert len(arrived) == 2 and arrived[1] - arrived[0] >= 2.9, "Retry-After: 3 was honoured"
    first = exchanges(gw.record_dir)[0]
    assert first.meta["status"]["client"] == 429 and first.meta["error"]["type"] == "rate_limit_error"


def test_an_overloaded_backend_is_retried(claude, tmp_path):
    """Ollama's "server busy" (a 503) is a 529 ``overloaded_error``: Claude Code backs off and retries."""
    work, home = folders(tmp_path)
    busy = Reply(status=503, error="server busy, please try again. maximum pending requests exceeded")
    with ScriptedBackend("ollama", [busy, Reply(text="Answered once there was room.")]) as b:
        with Gateway(b.url, backend="ollama", model="qwen3") as gw:
            result = run_claude(claude, gw.url, work, home, "Say hi.", auth="token", args=("--tools", ""))
    assert result.returncode == 0 and "Answered once there was room." in result.stdout, result.stdout + result.stderr
    assert len(b.chat_requests) == 2
    first = exchanges(gw.record_dir)[0]
    assert first.meta["status"]["client"] == 529 and first.meta["error"]["type"] == "overloaded_error"


class Tap:
    """A loopback hop in front of the gateway that counts the requests Claude Code sends it (answers are
    passed on whole: enough for error answers)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.seen: list[tuple[str, str, int]] = []
        self._server = ThreadedServer(self._serve)
        self._server.start()
        self.url = self._server.url

    async def _serve(self, request: Request, reply: HttpReply) -> None:
        async with httpx.AsyncClient(timeout=60) as client:
            r = await client.request(request.method, self.target + request.target, content=request.body,
                                     headers=[(k, v) for k, v in request.headers if k.lower() != "host"])
        self.seen.append((request.method, request.path, r.status_code))
        reply.whole(r.status_code, r.content, [(k, v) for k, v in r.headers.items() if k.lower() not in
                                               ("content-length", "transfer-encoding", "connection")])

    def close(self) -> None:
        self._server.stop()


def test_a_wrong_gateway_token_is_not_retried(claude, tmp_path):
    """A 401 with ``x-should-retry: false``: Claude Code stops after one request (without the header it
    retries with backoff for about three minutes)."""
    work, home = folders(tmp_path)
    with ScriptedBackend("ollama", [Reply(text="never")]) as b:
        with Gateway(b.url, backend="ollama", model="qwen3", gateway_token=TOKEN) as gw:
            tap = Tap(gw.url)
            try:
                result = run_claude(claude, tap.url, work, home, "Say hi.", auth="token", args=("--tools", ""))
            finally:
                tap.close()
    assert result.returncode != 0 and b.chat_requests == []
    assert [s for s in tap.seen if s[1] == "/v1/messages"] == [("POST", "/v1/messages", 401)], tap.seen


def test_count_tokens_not_supported_is_asked_once(claude, tmp_path):
    """A passthrough backend that does not count tokens: each count_tokens Claude Code's ``/context`` asks
    is a 501 ``not_supported`` with ``x-should-retry: false``, and none is asked twice."""
    work, home = folders(tmp_path)

    def brain(rec: Received) -> Reply:
        if "count_tokens" in rec.path:
            return Reply(status=404, raw=[b"404 page not found"], content_type="text/plain")
        return Reply(text="hi")

    with ScriptedBackend("anthropic", brain) as b, Gateway(b.url, backend="anthropic") as gw:
        env = claude_env(gw.url, home, auth="token", CLAUDE_CODE_MAX_CONTEXT_TOKENS="40960")
        result = subprocess.run([str(claude), "-p", "/context"], cwd=work, env=env, capture_output=True,
                                text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    counts = [json.dumps(r.body, sort_keys=True) for r in b.received if "count_tokens" in r.path]
    # Without the header every count is asked twice (measured: 52 requests for 24 distinct counts); with
    # it, 26: /context itself asks two of them twice.
    assert counts and len(counts) < 1.5 * len(set(counts)), "no retry after the 501"
    answered = exchanges(gw.record_dir, "count_tokens")
    assert answered and all(e.meta["status"]["client"] == 501 for e in answered)


# -- model discovery ---------------------------------------------------------------------------------------
def test_model_discovery_caches_the_gateways_anthropic_style_ids(claude, tmp_path):
    """With CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY=1 Claude Code lists the gateway's models and keeps
    the ones it can use; a gateway with none to list answers 404 and the session goes on as before."""
    work = tmp_path / "work"
    work.mkdir()
    runs = {}
    with ScriptedBackend("ollama", [Reply(text="hi")]) as b:
        for name, model_map in (("listed", "claude-sonnet-4-5=qwen3:8b"), ("none", "")):
            home = tmp_path / name
            home.mkdir()
            with Gateway(b.url, backend="ollama", model="qwen3", model_map=model_map) as gw:
                env = claude_env(gw.url, home, auth="token", CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY="1")
                done = subprocess.run([str(claude), "-p", "Say hi.", "--tools", ""], cwd=work, env=env,
                                      capture_output=True, text=True, timeout=180)
            runs[name] = (done, home / ".claude" / "cache" / "gateway-models.json", gw.record_dir)
    done, cache, record_dir = runs["listed"]
    assert done.returncode == 0, done.stdout + done.stderr
    assert [m["id"] for m in json.loads(cache.read_text())["models"]] == ["claude-sonnet-4-5"]
    assert [e.meta["status"]["client"] for e in exchanges(record_dir, "models")] == [200]
    done, cache, record_dir = runs["none"]
    assert done.returncode == 0 and not cache.exists()
    assert [e.meta["status"]["client"] for e in exchanges(record_dir, "models")] == [404], "asked once, no retry"

