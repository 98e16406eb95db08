"""The repair ladder's re-ask against the real thing: llama.cpp's own llama-server (``make llama-server``)
with the SmolLM2-135M GGUF, whose chat template renders no tools — the model cannot produce a tool
call on its own — and the real Claude Code.

What is asserted is what the ladder guarantees, never what the model chose to write: the re-ask is
sent in llama.cpp's dialect and accepted, the prompt cache is kept, the call Claude Code receives
satisfies the tool's schema and Claude Code accepts it (no InputValidationError). Sampling is pinned
server-wide (temperature 0, top-k 1, a seed) with a repeat penalty: without one, a 135M model repeats
itself until the token limit inside the content string, and a cut call is never sent as a call.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import anthropic
import jsonschema
import pytest

from inspector.recording import ExchangeRecord, list_sessions
from inspector.testing import llama_server as ls
from inspector.testing.claude import run_claude
from inspector.testing.gateway import Gateway

pytestmark = pytest.mark.e2e

MODEL = ls.MODEL
#: Descriptions long enough that the gateway's count can tell whether the template showed them.
WRITE = {"name": "Write", "description": "Writes a file to the local filesystem, replacing what is there.",
         "input_schema": {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
                          "properties": {"file_path": {"type": "string"}, "content": {"type": "string"}},
                          "required": ["file_path", "content"], "additionalProperties": False}}
#: A tool whose schema llama.cpp cannot turn into a grammar (it answers HTTP 400 to a constraint on it).
ODD = {"name": "Odd", "description": "A tool whose schema has a type no JSON Schema draft knows of.",
       "input_schema": {"type": "object", "properties": {"a": {"type": "strin"}}, "required": ["a"]}}


@pytest.fixture(scope="module")
def smollm2():
    reason = ls.why_unavailable()
    if reason:
        pytest.skip(f"llama-server is not available: {reason}")
    with ls.LlamaServer(ctx_size=8192, extra=("--repeat-penalty", "1.3")) as server:
        yield server


def exchanges(root: Path) -> list[ExchangeRecord]:
    return [e for s in list_sessions(root) for e in s.exchanges() if e.kind == "messages"]


def ask(gw: Gateway, stream: bool, **request: Any) -> anthropic.types.Message:
    client = anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0, timeout=600)
    request = {"model": "claude-haiku-4-5", "max_tokens": 200, **request}
    if stream:
        with client.messages.stream(**request) as s:
            for _ in s:
                pass
            return s.get_final_message()
    return client.messages.create(**request)


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_a_model_that_cannot_call_gets_a_call_that_satisfies_the_schema(smollm2, tmp_path, stream):
    """SmolLM2's template drops the tools (the gateway's exact count says so): its answer is prose. The
    ladder re-asks with llama.cpp's response_format json_schema; the server keeps to it, and the prompt
    it evaluated for the first attempt is read from its cache."""
    with Gateway(smollm2.url, backend="openai", model=MODEL, record_dir=str(tmp_path / "rec")) as gw:
        message = ask(gw, stream, tools=[WRITE], messages=[{"role": "user", "content": "Write hi into hello.txt"}])
    (ex,) = exchanges(tmp_path / "rec")
    reask = ex.meta["reask"]
    assert (reask["reason"], reask["constrained"], reask["outcome"]) == ("unseen-tools", True, "valid"), reask
    assert reask["how"] == "response_format json_schema"
    sent = ex.request_json("backend-2")
    assert sent["response_format"]["json_schema"]["schema"]["properties"]["name"] == {"const": "Write"}
    assert sent["messages"] == ex.request_json("backend")["messages"], "the same request again"
    (call,) = [b for b in message.content if b.type == "tool_use"]
    assert call.name == "Write" and message.stop_reason == "tool_use"
    jsonschema.validate(call.input, WRITE["input_schema"])
    first, second = reask["attempts"]
    assert second["usage"]["cache_read_input_tokens"] >= first["usage"]["input_tokens"] - 1, \
        "the re-ask's prompt came from the server's cache: the tools stayed, only the output was held"
    assert message.usage.output_tokens == first["usage"]["output_tokens"] + second["usage"]["output_tokens"]


def test_a_schema_llama_cpp_cannot_constrain_gets_the_plain_reask_and_the_log_says_so(smollm2, tmp_path):
    """llama-server answers 400 to a schema it cannot compile: the gateway says so, tries the plain
    re-ask (the call pinned with tool_choice, which llama.cpp ignores), and the answer goes as it was."""
    with Gateway(smollm2.url, backend="openai", model=MODEL, record_dir=str(tmp_path / "rec")) as gw:
        message = ask(gw, True, max_tokens=48, tools=[ODD], tool_choice={"type": "tool", "name": "Odd"},
                      messages=[{"role": "user", "content": "Call Odd."}])
        log = gw.log()
    (ex,) = exchanges(tmp_path / "rec")
    reask = ex.meta["reask"]
    assert [a["status"] for a in reask["attempts"]] == [200, 400, 200]
    assert (reask["reason"], reask["constrained"]) == ("required", False) and reask["outcome"] in ("no better", "valid")
    status, _, chunks = ex.response("backend-2")
    assert status == 400 and b"strin" in b"".join(c.data for c in chunks), "the server's own refusal, recorded"
    assert "reask:refused" in [n.get("rule") for n in ex.meta["notes"]]
    assert "re-asked (plain)" in log
    if reask["outcome"] == "no better":
        assert not [b for b in message.content if b.type == "tool_use"]


@pytest.mark.claude
@pytest.mark.timeout(900)  # as long as Claude Code is given: SmolLM2 reads a 2,000-token prompt per turn on a shared CPU
def test_claude_code_accepts_the_call_the_ladder_got_from_a_model_that_cannot_call(smollm2, tmp_path, claude):
    """The real Claude Code asks SmolLM2 to write a file. Without the ladder it would get prose; with it,
    it receives a Write call that satisfies the tool's schema, runs it (no InputValidationError), and
    sends the result back — after which the model's words end the turn.

    What the model writes inside the constraint is its own (Claude Code's prompt carries the date and
    this run's paths, so it differs from run to run): when its call does not close within the client's
    512 tokens, the ladder's guarantee is that nothing invented goes — the answer as it was, said so."""
    work = tmp_path / "work"
    work.mkdir()
    with Gateway(smollm2.url, backend="openai", model=MODEL, record_dir=str(tmp_path / "rec"),
                 max_tokens_limit=512) as gw:
        result = run_claude(claude, gw.url, work, tmp_path, "Write hi into hello.txt",
                            args=("--tools", "Write", "--allowedTools", "Write"), timeout=900,
                            CLAUDE_CODE_MAX_OUTPUT_TOKENS="512")
        log = gw.log()
    recorded = exchanges(tmp_path / "rec")
    calls = [(e, c) for e in recorded for c in e.meta.get("tool_calls") or []]
    try:
        assert result.returncode == 0, result.stdout + result.stderr + log
        reasked = [e.meta["reask"] for e in recorded if e.meta.get("reask")]
        assert reasked and reasked[0]["constrained"] is True, log  # its template shows no tools: re-asked
        if not calls:  # the re-ask's call was cut by the token limit too: never completed, never sent
            assert reasked[0]["outcome"] == "no better" and "cut" in reasked[0]["why"], reasked[0]
            assert "re-asked (schema) → no better" in log
            return
        (first, call), *_ = calls
        assert first.meta["reask"]["outcome"] == "valid" and call["name"] == "Write"
        jsonschema.validate(call["input"], _schema_sent(first, "Write"))
        answered = [e for e in recorded if any(r.get("tool_use_id") == call["id"] for r in e.meta.get("tool_results", []))]
        assert answered, "Claude Code ran the call and sent its result back"
        result_text = _tool_result(answered[0], call["id"])
        assert "InputValidationError" not in result_text, result_text
        assert not answered[0].meta["tool_results"][0]["is_error"], result_text
        assert "re-asked (schema) → valid" in log
    finally:  # the model chose the path: whatever it wrote outside this test's folder goes
        for _, c in calls:
            _remove(Path(str(c["input"].get("file_path", ""))), tmp_path)


def _remove(path: Path, mine: Path) -> None:
    """A file Claude Code wrote outside ``mine`` removed — and, under the temporary folder, the folders
    made empty by it."""
    if not path.is_absolute() or not path.is_file() or mine in path.parents:
        return
    path.unlink()
    temp = Path(tempfile.gettempdir())
    for parent in path.parents:
        if parent == temp or temp not in parent.parents or any(parent.iterdir()):
            break
        parent.rmdir()


def _schema_sent(ex: ExchangeRecord, name: str) -> dict[str, Any]:
    """The tool's input schema as Claude Code sent it."""
    tools = ex.request_json("client").get("tools") or []
    return next(t["input_schema"] for t in tools if t["name"] == name)


def _tool_result(ex: ExchangeRecord, use_id: str) -> str:
    for m in ex.request_json("client")["messages"]:
        for b in m["content"] if isinstance(m.get("content"), list) else []:
            if b.get("type") == "tool_result" and b.get("tool_use_id") == use_id:
                content = b.get("content")
                return content if isinstance(content, str) else json.dumps(content)
    return ""

