"""Scripted loopback backends that speak the published wire formats (docs: protocols.md in the
team's reference; Ollama docs/api.md, OpenAI chat completions, Anthropic Messages streaming).

A backend answers each request with a ``Reply``: what the model "says" (text,
thinking, tool calls) rendered in the backend's own format — Ollama NDJSON,
OpenAI SSE chunks, Anthropic SSE — or raw bytes for broken-backend tests.
Like Ollama, the streaming forms send no HTTP headers until the first chunk.

``server=`` picks which OpenAI-compatible server it is, and so which of their own endpoints it
answers, each as that server documents it:

* ``ollama`` (the Ollama form): ``POST /api/show`` → ``model_info.<arch>.context_length``,
  ``capabilities``, ``details.family`` (docs/api.md "Show Model Information"); ``GET /api/ps`` →
  ``models[].context_length`` (api/types.go ProcessModelResponse); the final chunk's
  ``load_duration``, ``prompt_eval_count``, ``prompt_eval_cached_count``, ``prompt_eval_duration``,
  ``eval_count``, ``eval_duration`` in nanoseconds (docs/api/usage.mdx; PR #17943).
* ``llama.cpp``: ``GET /props`` → ``default_generation_settings.n_ctx`` (tools/server/README.md),
  ``POST /apply-template`` → ``{"prompt"}``, ``POST /tokenize`` → ``{"tokens"}``, ``POST
  /v1/responses/input_tokens`` → ``{"input_tokens"}``, ``GET /v1/models``
  with ``meta.n_ctx_train``; answers carry ``timings`` {cache_n, prompt_n, prompt_ms, predicted_n,
  predicted_ms, …} (server-task.cpp result_timings) and ``usage.prompt_tokens_details.cached_tokens``.
* ``vllm``: ``GET /v1/models`` → ``max_model_len``; ``POST /tokenize`` (messages) → ``{"count",
  "max_model_len", "tokens"}`` (vllm entrypoints TokenizeChatRequest / TokenizeResponse).
* ``llama-cpp-python``: ``POST /extras/tokenize/count`` → ``{"count"}`` (llama_cpp/server/app.py).

``slots=N`` makes it a server with N slots, as llama-server runs them: at most N chat requests at
once (the others wait inside it, in order), each on a slot — the one a request names (llama.cpp's
``id_slot``), else the idle slot whose cached prompt shares most with the request's (at least a
tenth of it, llama-server's ``--slot-prompt-similarity``), else the idle slot used longest ago.
A slot keeps the last prompt it evaluated: the tokens a request shares with it from the start are
its cached tokens (``timings.cache_n``, ``cached_tokens``, ``prompt_eval_cached_count``). It
records ``peak`` (the most chat requests at once) and ``slot_log`` (slot, cached, prompt tokens,
whose conversation: its ``x-claude-code-agent-id``, else its system prompt's first line) per request.
* ``lmstudio``: ``GET /api/v0/models/{model}`` → ``max_context_length``, ``loaded_context_length``.

Their tokenizer is a scripted one (a word or punctuation mark is a token): what is checked is
that the gateway asks the right endpoint and uses the answer, not a real vocabulary (the
embedded backend is the real one).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..protocol import ANTHROPIC, OLLAMA, OPENAI, BackendForm, error_type_for_status
from ..protocol._responses import RESPONSES
from ..transport import Reply as HttpReply
from ..transport import Request, ThreadedServer


@dataclass
class Call:
    name: str
    arguments: dict[str, Any] | str  # a str is sent verbatim (OpenAI arguments string)
    id: str | None = None


@dataclass
class Reply:
    text: str = ""
    thinking: str = ""
    calls: list[Call] = field(default_factory=list)
    done_reason: str = "stop"  # ollama done_reason / openai finish_reason (mapped)
    prompt_tokens: int = 42
    output_tokens: int = 7
    status: int = 200
    error: str | None = None  # an error body instead of a message (with status)
    #: Extra response headers (``retry-after``, ``anthropic-ratelimit-*``…), sent with any answer.
    headers: list[tuple[str, str]] = field(default_factory=list)
    #: Raw chunks instead of a rendering (or the error body): floats are sleeps, an Event is waited
    #: for (a test that sets it once the client has seen what came before proves nothing is buffered).
    raw: list[bytes | float | threading.Event] | None = None
    delay: float = 0.0  # silence before the first byte (prompt evaluation)
    gap: float = 0.0  # silence between chunks
    cut_after: int | None = None  # drop the connection after N chunks
    content_type: str | None = None
    pieces: int = 3  # the text is streamed in this many deltas
    cached_tokens: int | None = None  # of prompt_tokens, read from the prompt cache (None: not said)
    #: Backend timings: Ollama's durations, llama.cpp's ``timings`` (ms). None: the server says none.
    load_ms: float | None = 12.0
    prompt_ms: float | None = 250.0
    decode_ms: float | None = 350.0
    #: llama.cpp server asked with ``return_progress``: a ``prompt_progress`` chunk per value (tokens
    #: processed so far, of ``prompt_tokens``; ``cached_tokens`` come from the cache) before the answer.
    progress: list[int] = field(default_factory=list)
    #: Hold the answer (after any progress chunks) until this is set: a prompt being read, for as
    #: long as a test needs, without sleeping.
    hold: threading.Event | None = None


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    #: With ``slots``: (slot, cached tokens, prompt tokens) it was answered with.
    slot: tuple[int, int, int] | None = None


def _who(rec: Received, body: dict[str, Any]) -> str:
    """Whose conversation a request continues: Claude Code's agent id when it reached the backend
    (passthrough), else the first line of its system prompt (translated forms)."""
    agent = rec.headers.get("x-claude-code-agent-id")
    if agent:
        return agent
    system = body.get("system")
    if system is None:
        system = next((m.get("content") for m in body.get("messages") or [] if m.get("role") == "system"), "")
    text = system if isinstance(system, str) else json.dumps(system)
    return text.split("\n", 1)[0][:80]


def _shared(a: list[str], b: list[str]) -> int:
    """How many tokens two prompts share from the start."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


_ids = itertools.count(1)


def _pieces(text: str, n: int = 3) -> list[str]:
    if not text:
        return []
    size = max(1, len(text) // n)
    return [text[i:i + size] for i in range(0, len(text), size)]


def ollama_chunks(reply: Reply, model: str, stream: bool) -> list[bytes]:
    base = {"model": model, "created_at": "2026-11-21T10:00:00.000Z"}
    calls = [{"id": c.id, "function": {"index": i, "name": c.name, "arguments": c.arguments}}
             if c.id else {"function": {"index": i, "name": c.name, "arguments": c.arguments}}
             for i, c in enumerate(reply.calls)]
    final: dict[str, Any] = {**base, "done": True, "done_reason": reply.done_reason,
                             "prompt_eval_count": reply.prompt_tokens, "eval_count": reply.output_tokens}
    if reply.cached_tokens is not None:
        final["prompt_eval_cached_count"] = reply.cached_tokens
    ns = {"load_duration": reply.load_ms, "prompt_eval_duration": reply.prompt_ms, "eval_duration": reply.decode_ms}
    final.update({k: int(v * 1_000_000) for k, v in ns.items() if v is not None})
    final["total_duration"] = sum(int(v * 1_000_000) for v in ns.values() if v is not None) or 1000
    if not stream:
        msg: dict[str, Any] = {"role": "assistant", "content": reply.text}
        if reply.thinking:
            msg["thinking"] = reply.thinking
        if calls:
            msg["tool_calls"] = calls
        return [json.dumps({**final, "message": msg}).encode()]
    lines = [{**base, "message": {"role": "assistant", "content": "", "thinking": t}, "done": False}
             for t in _pieces(reply.thinking)]
    lines += [{**base, "message": {"role": "assistant", "content": t}, "done": False}
              for t in _pieces(reply.text, reply.pieces)]
    if calls:
        lines.append({**base, "message": {"role": "assistant", "content": "", "tool_calls": calls},
                      "done": False})
    lines.append({**final, "message": {"role": "assistant", "content": ""}})
    return [json.dumps(line).encode() + b"\n" for line in lines]


def openai_chunks(reply: Reply, model: str, stream: bool, server: str | None = None) -> list[bytes]:
    cid = f"chatcmpl-{next(_ids)}"
    finish = "tool_calls" if reply.calls and reply.done_reason == "stop" else reply.done_reason
    usage: dict[str, Any] = {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.output_tokens,
                             "total_tokens": reply.prompt_tokens + reply.output_tokens}
    if reply.cached_tokens is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": reply.cached_tokens}
    timings: dict[str, Any] | None = None
    if server == "llama.cpp":
        cached = reply.cached_tokens or 0
        timings = {"cache_n": cached, "prompt_n": reply.prompt_tokens - cached, "prompt_ms": reply.prompt_ms,
                   "predicted_n": reply.output_tokens, "predicted_ms": reply.decode_ms}
        for n, ms, key in (("prompt_n", "prompt_ms", "prompt"), ("predicted_n", "predicted_ms", "predicted")):
            if timings[ms]:
                timings[f"{key}_per_token_ms"] = timings[ms] / max(1, timings[n])
                timings[f"{key}_per_second"] = 1000 * timings[n] / timings[ms]
    args = [c.arguments if isinstance(c.arguments, str) else json.dumps(c.arguments) for c in reply.calls]
    if not stream:
        msg: dict[str, Any] = {"role": "assistant", "content": reply.text or None, "refusal": None}
        if reply.thinking:
            msg["reasoning_content"] = reply.thinking
        if reply.calls:
            msg["tool_calls"] = [{"id": c.id or f"call_{i}", "type": "function",
                                  "function": {"name": c.name, "arguments": a}}
                                 for i, (c, a) in enumerate(zip(reply.calls, args, strict=True))]
        whole = {"id": cid, "object": "chat.completion", "created": 1, "model": model,
                 "choices": [{"index": 0, "message": msg, "finish_reason": finish}], "usage": usage}
        if timings is not None:
            whole["timings"] = timings
        return [json.dumps(whole).encode()]
    base = {"id": cid, "object": "chat.completion.chunk", "created": 1, "model": model}

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                     "finish_reason": finish_reason}]}

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"reasoning_content": t}) for t in _pieces(reply.thinking)]
    events += [chunk({"content": t}) for t in _pieces(reply.text, reply.pieces)]
    for i, (c, a) in enumerate(zip(reply.calls, args, strict=True)):
        events.append(chunk({"tool_calls": [{"index": i, "id": c.id or f"call_{i}", "type": "function",
                                             "function": {"name": c.name, "arguments": ""}}]}))
        events += [chunk({"tool_calls": [{"index": i, "function": {"arguments": p}}]}) for p in _pieces(a, 4)]
    last = chunk({}, finish)
    if timings is not None:  # llama.cpp puts its timings on the chunk that finishes
        last["timings"] = timings
    events.append(last)
    events.append({**base, "choices": [], "usage": usage})
    return [b"data: " + json.dumps(e).encode() + b"\n\n" for e in events] + [b"data: [DONE]\n\n"]


def progress_chunks(reply: Reply, model: str) -> list[bytes]:
    """llama.cpp server's prompt-processing progress (``return_progress``, server-task.cpp): an empty
    assistant delta with ``prompt_progress`` {total, cache, processed, time_ms}."""
    cache = reply.cached_tokens or 0
    out = []
    for i, processed in enumerate(reply.progress):
        chunk = {"choices": [{"finish_reason": None, "index": 0, "delta": {"role": "assistant", "content": None}}],
                 "created": 1, "id": "chatcmpl-progress", "model": model, "object": "chat.completion.chunk",
                 "prompt_progress": {"total": reply.prompt_tokens, "cache": cache, "processed": processed,
                                     "time_ms": 100.0 * (i + 1)}}
        out.append(b"data: " + json.dumps(chunk).encode() + b"\n\n")
    return out


def responses_chunks(reply: Reply, model: str, stream: bool, server: str | None = None) -> list[bytes]:
    """An OpenAI Responses answer: the Response object, or its typed events as the API sends them —
    every event with its ``sequence_number``, items with their ``output_index`` (the ``openai`` SDK's
    ``ResponseStreamState`` accepts them: tests/protocol/test_responses.py). The reasoning is a summary
    with ``encrypted_content``, as OpenAI's reasoning models give it.

    ``server="llama.cpp"``: as llama.cpp's ``llama-server`` sends them (tools/server/server-task.cpp,
    to_json_oaicompat_resp*): no ``output_index`` nor ``sequence_number``, the reasoning as
    ``reasoning_text`` (the model's own), every ``output_item.done`` only at the end, ``timings``."""
    n = next(_ids)
    llama = server == "llama.cpp"
    usage = {"input_tokens": reply.prompt_tokens, "input_tokens_details": {"cached_tokens": reply.cached_tokens or 0},
             "output_tokens": reply.output_tokens, "output_tokens_details": {"reasoning_tokens": 0},
             "total_tokens": reply.prompt_tokens + reply.output_tokens}
    items: list[dict[str, Any]] = []
    if reply.thinking:
        reasoning: dict[str, Any] = {"id": f"rs_{n:04d}", "type": "reasoning", "summary": []}
        if llama:
            reasoning.update(content=[{"type": "reasoning_text", "text": reply.thinking}], encrypted_content="")
        else:
            reasoning.update(summary=[{"type": "summary_text", "text": reply.thinking}],
                             encrypted_content=f"gAAAA-encrypted-{n:04d}")
        items.append(reasoning)
    if reply.text:
        items.append({"id": f"msg_{n:04d}", "type": "message", "status": "completed", "role": "assistant",
                      "content": [{"type": "output_text", "text": reply.text, "annotations": [], "logprobs": []}]})
    args = [c.arguments if isinstance(c.arguments, str) else json.dumps(c.arguments) for c in reply.calls]
    for i, (c, a) in enumerate(zip(reply.calls, args, strict=True)):
        items.append({"id": f"fc_{n:04d}_{i}", "type": "function_call", "status": "completed", "arguments": a,
                      "call_id": c.id or f"call_{n:04d}_{i}", "name": c.name})
    cut = reply.done_reason == "length"
    response: dict[str, Any] = {
        "id": f"resp_{n:04d}", "object": "response", "created_at": 1, "model": model, "output": items,
        "status": "incomplete" if cut else "completed",
        "incomplete_details": {"reason": "max_output_tokens"} if cut else None, "error": None,
        "parallel_tool_calls": True, "tool_choice": "auto", "tools": [], "usage": usage}
    if llama:
        cached = reply.cached_tokens or 0
        timings = {"cache_n": cached, "prompt_n": reply.prompt_tokens - cached, "prompt_ms": reply.prompt_ms,
                   "predicted_n": reply.output_tokens, "predicted_ms": reply.decode_ms}
    if not stream:
        return [json.dumps({**response, **({"timings": timings} if llama else {})}).encode()]
    seq = itertools.count()
    events: list[dict[str, Any]] = []

    def ev(kind: str, **data: Any) -> None:
        if llama:
            data.pop("output_index", None)
            data.pop("content_index", None)
            data.pop("summary_index", None)
        else:
            data["sequence_number"] = next(seq)
        events.append({"type": kind, **data})

    start = {**response, "status": "in_progress", "output": [], "usage": None, "incomplete_details": None}
    ev("response.created", response=start)
    ev("response.in_progress", response=start)
    ended: list[tuple[int, dict[str, Any]]] = []
    for index, item in enumerate(items):
        kind, item_id = item["type"], item["id"]
        if kind == "reasoning":
            ev("response.output_item.added", output_index=index,
               item={"id": item_id, "type": "reasoning", "summary": [], **({"content": [], "encrypted_content": ""}
                                                                          if llama else {})})
            if llama:
                for t in _pieces(reply.thinking):
                    ev("response.reasoning_text.delta", item_id=item_id, output_index=index, content_index=0, delta=t)
            else:
                summary = {"type": "summary_text", "text": ""}
                ev("response.reasoning_summary_part.added", item_id=item_id, output_index=index, summary_index=0,
                   part=summary)
                for t in _pieces(reply.thinking):
                    ev("response.reasoning_summary_text.delta", item_id=item_id, output_index=index, summary_index=0,
                       delta=t)
                ev("response.reasoning_summary_text.done", item_id=item_id, output_index=index, summary_index=0,
                   text=reply.thinking)
                ev("response.reasoning_summary_part.done", item_id=item_id, output_index=index, summary_index=0,
                   part={**summary, "text": reply.thinking})
        elif kind == "message":
            ev("response.output_item.added", output_index=index,
               item={**item, "status": "in_progress", "content": []})
            part: dict[str, Any] = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            ev("response.content_part.added", item_id=item_id, output_index=index, content_index=0, part=part)
            for t in _pieces(reply.text, reply.pieces):
                ev("response.output_text.delta", item_id=item_id, output_index=index, content_index=0, delta=t,
                   logprobs=[])
            ev("response.output_text.done", item_id=item_id, output_index=index, content_index=0, text=reply.text,
               logprobs=[])
            ev("response.content_part.done", item_id=item_id, output_index=index, content_index=0,
               part=item["content"][0])
        else:
            ev("response.output_item.added", output_index=index, item={**item, "status": "in_progress", "arguments": ""})
            for t in _pieces(item["arguments"], 4):
                ev("response.function_call_arguments.delta", item_id=item_id, output_index=index, delta=t)
            if not llama:
                ev("response.function_call_arguments.done", item_id=item_id, output_index=index,
                   arguments=item["arguments"], name=item["name"])
        if llama:
            ended.append((index, item))
        else:
            ev("response.output_item.done", output_index=index, item=item)
    for index, item in ended:  # llama-server says every item is done only once the answer is
        ev("response.output_item.done", output_index=index, item=item)
    ev("response.incomplete" if cut else "response.completed", response=response)
    if llama:
        events[-1]["timings"] = timings
    return [f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events]


def anthropic_chunks(reply: Reply, model: str, stream: bool) -> list[bytes]:
    content: list[dict[str, Any]] = []
    if reply.thinking:
        content.append({"type": "thinking", "thinking": reply.thinking, "signature": "sig"})
    if reply.text:
        content.append({"type": "text", "text": reply.text})
    for i, c in enumerate(reply.calls):
        content.append({"type": "tool_use", "id": c.id or f"toolu_{i:02d}", "name": c.name,
                        "input": c.arguments})
    stop = "tool_use" if reply.calls else {"stop": "end_turn", "length": "max_tokens"}.get(
        reply.done_reason, "end_turn")
    msg = {"id": f"msg_{next(_ids):04d}", "type": "message", "role": "assistant", "model": model,
           "content": content, "stop_reason": stop, "stop_sequence": None,
           "usage": {"input_tokens": reply.prompt_tokens, "output_tokens": reply.output_tokens}}
    if not stream:
        return [json.dumps(msg).encode()]

    def ev(name: str, data: dict[str, Any]) -> bytes:
        return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()

    out = [ev("message_start", {"message": {**msg, "content": [], "stop_reason": None,
                                             "usage": {"input_tokens": reply.prompt_tokens, "output_tokens": 1}}})]
    for i, block in enumerate(content):
        kind = block["type"]
        start = {"type": kind, kind: ""} if kind in ("text", "thinking") else {**block, "input": {}}
        out.append(ev("content_block_start", {"index": i, "content_block": start}))
        if kind == "text":
            out += [ev("content_block_delta", {"index": i, "delta": {"type": "text_delta", "text": t}})
                    for t in _pieces(block["text"], reply.pieces)]
        elif kind == "thinking":
            out += [ev("content_block_delta", {"index": i, "delta": {"type": "thinking_delta", "thinking": t}})
                    for t in _pieces(block["thinking"])]
        else:
            out += [ev("content_block_delta", {"index": i, "delta": {"type": "input_json_delta", "partial_json": p}})
                    for p in _pieces(json.dumps(block["input"]), 3)]
        out.append(ev("content_block_stop", {"index": i}))
    out.append(ev("message_delta", {"delta": {"stop_reason": stop, "stop_sequence": None},
                                    "usage": {"output_tokens": reply.output_tokens}}))
    out.append(ev("message_stop", {}))
    return out


_WORDS = re.compile(r"\w+|[^\w\s]")


def scripted_tokens(text: str) -> list[int]:
    """The scripted servers' tokenizer: each word or punctuation mark is one token."""
    return [len(w) for w in _WORDS.findall(text)]


def scripted_template(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> str:
    """A ChatML-like rendering, tools in the system block, as a server's chat template would."""
    out = []
    if tools:
        out.append("<|im_start|>system\n# Tools\n" + json.dumps(tools) + "<|im_end|>\n")
    for m in messages:
        content = m.get("content")
        text = content if isinstance(content, str) else json.dumps(content)
        out.append(f"<|im_start|>{m.get('role')}\n{text}<|im_end|>\n")
    return "".join(out) + "<|im_start|>assistant\n"
class FormScript:
    """How a scripted backend of one form speaks (``SCRIPTS[form]``): its answers rendered from a
    ``Reply``, its errors, its model listing, and where its requests keep tools and tool results."""

    form: BackendForm
    #: A request that does not say ``stream`` streams (Ollama's /api/chat).
    streams_by_default = False
    #: The server whose own endpoints it answers when the test names none.
    server: str | None = None
    #: The servers of this form a scripted backend can imitate (``ScriptedBackend(server=…)``).
    servers: tuple[str | None, ...] = ()
    #: Its tool calls carry ids (older Ollama's do not: the gateway gives them one).
    ids_calls = True
    #: A call the token limit cut reaches the gateway as a call (Ollama's own parser drops an unclosed
    #: one: what reaches the gateway is the text the model printed).
    keeps_cut_calls = True
    #: What a real server of this form answers when the prompt is too long for its context (llama.cpp's
    #: server: ``exceed_context_size_error`` with both sizes, tools/server/server-common.cpp).
    context_error = (b'{"error": {"code": 400, "message": "the request exceeds the available context size, try '
                     b'increasing it", "type": "exceed_context_size_error", "n_prompt_tokens": 9000, "n_ctx": 8192}}')

    @property
    def stream_type(self) -> str:
        return self.form.stream_type

    def chunks(self, reply: Reply, model: str, stream: bool, server: str | None = None) -> list[bytes]:
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> bytes:
        return json.dumps({"error": {"message": message, "type": "invalid_request_error", "param": None,
                                     "code": status}}).encode()

    def listing(self, path: str, models: list[str], card: Callable[[str], dict[str, Any]]) -> Any:
        """What a GET of ``path`` lists (None: not a listing of this form)."""
        if path == "/v1/models":
            return {"object": "list", "data": [card(m) for m in models]}
        return None

    def tool_names(self, body: dict[str, Any]) -> list[str]:
        """The names of the tools a request offers."""
        return [t["function"]["name"] for t in body.get("tools") or []]

    def tool_results(self, body: dict[str, Any]) -> list[str]:
        """The text of the tool results a request carries back."""
        return [m.get("content", "") for m in body.get("messages") or [] if m.get("role") == "tool"]

    def conversation(self, body: dict[str, Any]) -> list[tuple[str, Any]]:
        """A request's messages as ``(role, content)`` in order, the system prompt first when there is one;
        tool results (and, where they are items of their own, tool calls) left out."""
        return [(m["role"], m.get("content")) for m in body.get("messages") or [] if m.get("role") != "tool"]

    def call_ids(self, body: dict[str, Any]) -> tuple[list[str], list[str]]:
        """The ids of the tool calls a request carries back, and of the results that answer them."""
        calls = [c.get("id") for m in body.get("messages") or [] for c in m.get("tool_calls") or []]
        results = [m.get("tool_call_id") for m in body.get("messages") or [] if m.get("role") == "tool"]
        return calls, results

    def constraint(self, body: dict[str, Any]) -> tuple[str, Any] | None:
        """What a request holds its answer to, as this form's servers read it (``constraint_of``)."""
        return None

    def output_limit(self, body: dict[str, Any]) -> Any:
        """The most tokens a request lets the answer take, where this form's requests say it."""
        return body.get("max_tokens")


class OllamaScript(FormScript):
    form = OLLAMA
    streams_by_default = True
    server = OLLAMA.name
    servers = (OLLAMA.name,)
    ids_calls = False
    context_error = b'{"error": "the input length exceeds the context length"}'

    def chunks(self, reply: Reply, model: str, stream: bool, server: str | None = None) -> list[bytes]:
        return ollama_chunks(reply, model, stream)

    def error_body(self, status: int, message: str) -> bytes:
        return json.dumps({"error": message}).encode()

    keeps_cut_calls = False

    def constraint(self, body: dict[str, Any]) -> tuple[str, Any] | None:
        return ("format", body["format"]) if isinstance(body.get("format"), dict) else None

    def output_limit(self, body: dict[str, Any]) -> Any:
        return (body.get("options") or {}).get("num_predict")

    def listing(self, path: str, models: list[str], card: Callable[[str], dict[str, Any]]) -> Any:
        if path == "/api/version":
            return {"version": "0.14.2"}
        if path == "/api/tags":
            return {"models": [{"name": m, "model": m} for m in models]}
        return None


class OpenAIScript(FormScript):
    form = OPENAI

    #: The servers of this form a scripted backend can imitate (``ScriptedBackend(server=…)``).
    servers = (None, "llama.cpp", "vllm", "lmstudio")

    def chunks(self, reply: Reply, model: str, stream: bool, server: str | None = None) -> list[bytes]:
        return openai_chunks(reply, model, stream, server)

    def constraint(self, body: dict[str, Any]) -> tuple[str, Any] | None:
        rf = body.get("response_format")
        if isinstance(rf, dict) and rf.get("type") == "json_schema":
            return "response_format", (rf.get("json_schema") or {}).get("schema")
        choice = body.get("tool_choice")
        if isinstance(choice, dict):
            return "tool_choice", (choice.get("function") or {}).get("name")
        if choice == "required":
            return "tool_choice", "required"
        return None


class AnthropicScript(FormScript):
    form = ANTHROPIC
    context_error = (b'{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: '
                     b'250000 tokens > 200000 maximum"},"request_id":"req_011"}')

    def chunks(self, reply: Reply, model: str, stream: bool, server: str | None = None) -> list[bytes]:
        return anthropic_chunks(reply, model, stream)

    def error_body(self, status: int, message: str) -> bytes:
        return json.dumps({"type": "error", "error": {"type": error_type_for_status(status),
                                                      "message": message}}).encode()

    def tool_names(self, body: dict[str, Any]) -> list[str]:
        return [t["name"] for t in body.get("tools") or []]

    def conversation(self, body: dict[str, Any]) -> list[tuple[str, Any]]:
        system = [("system", body["system"])] if body.get("system") else []
        return system + [(m["role"], m.get("content")) for m in body.get("messages") or []]

    def call_ids(self, body: dict[str, Any]) -> tuple[list[str], list[str]]:
        blocks = [b for m in body.get("messages") or [] if isinstance(m.get("content"), list)
                  for b in m["content"] if isinstance(b, dict)]
        return ([b["id"] for b in blocks if b.get("type") == "tool_use"],
                [b["tool_use_id"] for b in blocks if b.get("type") == "tool_result"])

    def tool_results(self, body: dict[str, Any]) -> list[str]:
        return [b["content"] if isinstance(b.get("content"), str) else json.dumps(b.get("content"))
                for m in body.get("messages") or [] if isinstance(m.get("content"), list)
                for b in m["content"] if isinstance(b, dict) and b.get("type") == "tool_result"]


class ResponsesScript(FormScript):
    form = RESPONSES

    def chunks(self, reply: Reply, model: str, stream: bool, server: str | None = None) -> list[bytes]:
        return responses_chunks(reply, model, stream, server)

    def output_limit(self, body: dict[str, Any]) -> Any:
        return body.get("max_output_tokens")

    def tool_names(self, body: dict[str, Any]) -> list[str]:
        return [t["name"] for t in body.get("tools") or []]

    def tool_results(self, body: dict[str, Any]) -> list[str]:
        return [i["output"] if isinstance(i["output"], str) else " ".join(p.get("text", "") for p in i["output"])
                for i in body.get("input") or [] if i.get("type") == "function_call_output"]

    def conversation(self, body: dict[str, Any]) -> list[tuple[str, Any]]:
        system = [("system", body["instructions"])] if body.get("instructions") else []
        return system + [(i["role"], i.get("content")) for i in body.get("input") or [] if i.get("role")]

    def call_ids(self, body: dict[str, Any]) -> tuple[list[str], list[str]]:
        items = body.get("input") or []
        return ([i["call_id"] for i in items if i.get("type") == "function_call"],
                [i["call_id"] for i in items if i.get("type") == "function_call_output"])


#: Each form's scripted server, by form name (every form in the registry has one).
SCRIPTS: dict[str, FormScript] = {script.form.name: script for script in (OllamaScript(), OpenAIScript(),
                                                                         AnthropicScript(), ResponsesScript())}
#: Each form's renderer: ``RENDER[form](reply, model, stream)`` → the answer's chunks.
RENDER: dict[str, Callable[..., list[bytes]]] = {name: script.chunks for name, script in SCRIPTS.items()}


class ScriptedBackend:
    """``with ScriptedBackend("ollama", script) as b: ... b.url ... b.received``.

    ``script`` is a list of ``Reply`` (one per POST, the last repeats) or a
    callable ``(Received) -> Reply``. Runs on the project's loopback server helper
    (``inspector.transport.ThreadedServer``). ``aborted`` records, per streamed answer the
    client walked away from, how many chunks had been sent when its connection went.
    """

    def __init__(self, form: str, script: list[Reply] | Callable[[Received], Reply], *,
                 server: str | None = None, port: int = 0, slots: int | None = None) -> None:
        self.form = form
        self.speaks = SCRIPTS[form]
        self.script = script
        #: Which server's own endpoints it answers (see the module docstring).
        self.server = server if server is not None else self.speaks.server
        self.received: list[Received] = []
        #: The probes the gateway sent (window, capabilities, tokenizer), kept apart from the chats.
        self.probes: list[Received] = []
        #: What the listing endpoints report (/api/tags, /v1/models) and /api/show's context length.
        self.models: list[str] = ["qwen3:8b"]
        self.context_length = 40960
        #: Ollama: /api/show capabilities and details.family; /api/ps: loaded model → context.
        self.capabilities: list[str] | None = ["completion", "tools", "thinking"]
        self.family = "qwen3"
        self.loaded: dict[str, int] = {}
        #: llama.cpp /props n_ctx; vLLM max_model_len; LM Studio's lengths.
        self.n_ctx = 16384
        self.max_model_len = 32768
        self.lmstudio_context = {"max_context_length": 32768, "loaded_context_length": 8192}
        #: llama.cpp's template renders tools (llama-server --jinja); False: it drops them.
        self.template_tools = True
        #: Chunks sent before the client went away, one entry per abandoned answer.
        self.aborted: list[int] = []
        #: Streams still being sent right now, and answers sent in full so far.
        self.streaming = 0
        self.answered = 0
        #: The tokenizer's answers (a count probe: /tokenize, /apply-template…) wait until an answer has been
        #: sent in full: a count that comes after the answer it was for.
        self.counts_late = False
        #: One request at a time, as llama-cpp-python's server and a single-slot llama-server are: a
        #: listing or probe waits while an answer is being made.
        self.serial = False
        #: Chat requests being answered right now, and the most there ever were at once.
        self.active = 0
        self.peak = 0
        #: With ``slots``: each slot's cached prompt (tokens), when it was last used, whether busy.
        self.slots = slots
        self.slot_prompts: list[list[str]] = [[] for _ in range(slots or 0)]
        self.slot_used: list[int] = [-1] * (slots or 0)
        self.slot_busy: list[bool] = [False] * (slots or 0)
        #: Per answered chat request: (slot, cached tokens, prompt tokens, whose: ``_who``).
        self.slot_log: list[tuple[int, int, int, str | None]] = []
        self._slot_turns = itertools.count()
        self._slot_free: asyncio.Condition | None = None
        self._server = ThreadedServer(self._serve, port=port)
        self._server.start()
        self.port = self._server.port
        self.url = self._server.url

    def __enter__(self) -> ScriptedBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    def next_reply(self, rec: Received) -> Reply:
        if callable(self.script):
            return self.script(rec)
        # One reply per POST: GETs (model lists, versions — the gateway's own start-up checks) take none.
        index = min(len(self.chat_requests) - 1, len(self.script) - 1)
        return self.script[index]

    @property
    def chat_requests(self) -> list[Received]:
        return [r for r in self.received if r.method == "POST"]

    def _model_card(self, model: str) -> dict[str, Any]:
        card: dict[str, Any] = {"id": model, "object": "model", "owned_by": self.server or "scripted"}
        if self.server == "vllm":
            card["max_model_len"] = self.max_model_len
        elif self.server == "llama.cpp":
            card["meta"] = {"n_ctx_train": self.context_length, "n_vocab": 32000}
        return card

    def _record(self, request: Request) -> Received:
        try:
            body: Any = json.loads(request.body) if request.body else None
        except ValueError:
            body = request.body
        rec = Received(request.method, request.target, dict(request.headers), body)
        self.received.append(rec)
        return rec

    def _probe(self, request: Request) -> tuple[int, Any] | None:
        """A server's own endpoint (see the module docstring), or None when it is not one."""
        path, method, server = request.path, request.method, self.server
        try:
            body = json.loads(request.body) if request.body else {}
        except ValueError:
            body = {}
        if server == OLLAMA.name and path == "/api/show" and method == "POST":
            model = body.get("model", "")
            if model not in self.models and f"{model}:latest" not in self.models:
                return 404, {"error": f"model '{model}' not found"}
            data: dict[str, Any] = {"details": {"family": self.family, "format": "gguf"},
                                    "model_info": {"general.architecture": self.family,
                                                   f"{self.family}.context_length": self.context_length}}
            if self.capabilities is not None:
                data["capabilities"] = self.capabilities
            return 200, data
        if server == OLLAMA.name and path == "/api/ps" and method == "GET":
            return 200, {"models": [{"name": m, "model": m, "size": 1, "context_length": n}
                                    for m, n in self.loaded.items()]}
        if server == "llama.cpp" and path == "/props" and method == "GET":
            return 200, {"default_generation_settings": {"n_ctx": self.n_ctx, "params": {}}, "total_slots": self.slots or 1,
                         "model_path": f"/models/{self.models[0]}.gguf", "chat_template": "…"}
        if server == "llama.cpp" and path == "/apply-template" and method == "POST":
            tools = body.get("tools") if self.template_tools else None
            return 200, {"prompt": scripted_template(body.get("messages") or [], tools)}
        if server == "llama.cpp" and path == "/v1/responses/input_tokens" and method == "POST":
            text = json.dumps([body.get("instructions"), body.get("input"), body.get("tools")])
            return 200, {"object": "response.input_tokens", "input_tokens": len(scripted_tokens(text))}
        if server == "llama.cpp" and path == "/tokenize" and method == "POST":
            return 200, {"tokens": scripted_tokens(body.get("content", ""))}
        if server == "vllm" and path == "/tokenize" and method == "POST":
            tokens = scripted_tokens(scripted_template(body.get("messages") or [], body.get("tools"))
                                     if "messages" in body else body.get("prompt", ""))
            return 200, {"count": len(tokens), "max_model_len": self.max_model_len, "tokens": tokens}
        if server == "llama-cpp-python" and path == "/extras/tokenize/count" and method == "POST":
            return 200, {"count": len(scripted_tokens(body.get("input", "")))}
        if server == "lmstudio" and path.startswith("/api/v0/models/") and method == "GET":
            return 200, {"id": path.rsplit("/", 1)[1], "object": "model", "type": "llm", "state": "loaded",
                         **self.lmstudio_context}
        return None

    async def _serve(self, request: Request, reply: HttpReply) -> None:
        path = request.path
        while self.serial and self.streaming and request.method in ("GET", "HEAD"):
            await asyncio.sleep(0.02)
        probe = self._probe(request)
        if probe is not None:
            if self.counts_late and request.method == "POST":
                for _ in range(1000):
                    if self.answered:
                        break
                    await asyncio.sleep(0.01)
            try:
                body: Any = json.loads(request.body) if request.body else None
            except ValueError:
                body = request.body
            self.probes.append(Received(request.method, request.target, dict(request.headers), body))
            reply.whole(probe[0], json.dumps(probe[1]).encode(), [("content-type", "application/json")])
            return
        if request.method in ("GET", "HEAD"):
            self._record(request)
            data: Any = self.speaks.listing(path, self.models, self._model_card)
            if data is None:
                reply.whole(404 if request.method == "GET" else 200, b"")
            else:
                reply.whole(200, json.dumps(data).encode(), [("content-type", "application/json")])
            return
        rec = self._record(request)
        body = rec.body if isinstance(rec.body, dict) else {}
        self.active += 1
        self.peak = max(self.peak, self.active)
        slot = None
        try:
            if self.slots:
                slot = await self._take_slot(body, rec)
            await self._answer(rec, body, reply)
        finally:
            self.active -= 1
            if slot is not None:
                await self._free_slot(slot)

    def _prompt(self, body: dict[str, Any]) -> list[str]:
        """The request as the scripted tokenizer reads its rendered prompt (one word, one token)."""
        messages = body.get("messages") or []
        system = body.get("system")
        if system is not None:  # Anthropic and Ollama forms: the system prompt first
            messages = [{"role": "system", "content": system}, *messages]
        return _WORDS.findall(scripted_template(messages, body.get("tools")))

    async def _take_slot(self, body: dict[str, Any], rec: Received) -> int:
        if self._slot_free is None:
            self._slot_free = asyncio.Condition()
        prompt = self._prompt(body)
        asked = body.get("id_slot")
        async with self._slot_free:
            while True:
                idle = [i for i, busy in enumerate(self.slot_busy) if not busy]
                if isinstance(asked, int) and 0 <= asked < len(self.slot_busy):
                    idle = [asked] if asked in idle else []
                if idle:
                    break
                await self._slot_free.wait()
            shared = {i: _shared(self.slot_prompts[i], prompt) for i in idle}
            best = max(idle, key=lambda i: (shared[i], -self.slot_used[i]))
            if not prompt or shared[best] < 0.1 * len(prompt):
                best = min(idle, key=lambda i: self.slot_used[i])
            self.slot_busy[best] = True
            self.slot_used[best] = next(self._slot_turns)
            cached = _shared(self.slot_prompts[best], prompt)
            self.slot_prompts[best] = prompt
            self.slot_log.append((best, cached, len(prompt), _who(rec, body)))
            rec.slot = (best, cached, len(prompt))
            return best

    async def _free_slot(self, slot: int) -> None:
        assert self._slot_free is not None
        async with self._slot_free:
            self.slot_busy[slot] = False
            self._slot_free.notify_all()

    async def _answer(self, rec: Received, body: dict[str, Any], reply: HttpReply) -> None:
        reply_ = self.next_reply(rec)
        if rec.slot is not None and reply_.cached_tokens is None:  # what the slot really had cached
            _, cached, prompt = rec.slot
            reply_ = dataclasses.replace(reply_, prompt_tokens=prompt, cached_tokens=cached)
        stream = bool(body.get("stream", self.speaks.streams_by_default))
        model = body.get("model", "m")
        chunks: list[bytes | float | threading.Event]
        if reply_.raw is not None:
            chunks = reply_.raw
        else:
            chunks = list(self.speaks.chunks(reply_, model, stream, self.server))
        ctype = reply_.content_type or (self.speaks.stream_type if stream else "application/json")
        sent = 0
        self.streaming += 1
        try:
            if reply_.delay:
                await asyncio.sleep(reply_.delay)
            if (stream and self.server == "llama.cpp" and body.get("return_progress") and reply_.progress
                    and reply_.raw is None):
                reply.head(200, [("content-type", ctype)])
                for frame in progress_chunks(reply_, model):
                    reply.write(frame)
                    await reply.drain()
                    if reply_.gap:
                        await asyncio.sleep(reply_.gap)
            if reply_.hold is not None:
                await asyncio.get_running_loop().run_in_executor(None, reply_.hold.wait)
            if reply_.error is not None or reply_.status != 200:
                data = b"".join(c for c in chunks if isinstance(c, bytes)) if reply_.raw is not None else \
                    self.speaks.error_body(reply_.status, reply_.error or "failed")
                reply.whole(reply_.status, data, [("content-type", "application/json"), *reply_.headers])
                return
            for item in chunks:
                if isinstance(item, float):
                    await asyncio.sleep(item)
                    continue
                if isinstance(item, threading.Event):
                    await asyncio.to_thread(item.wait, 120)
                    continue
                if not reply.started:  # like Ollama: no head until there is something to say
                    reply.head(200, [("content-type", ctype), *reply_.headers])
                if reply_.cut_after is not None and sent >= reply_.cut_after:
                    reply.abort()
                    return
                reply.write(item)
                await reply.drain()
                sent += 1
                if reply_.gap:
                    await asyncio.sleep(reply_.gap)
            if not reply.started:
                reply.head(200, [("content-type", ctype), *reply_.headers])
            reply.end()
        except (asyncio.CancelledError, ConnectionError):
            self.aborted.append(sent)
            raise
        finally:
            self.streaming -= 1
            self.answered += 1


def tool_names(form: str, body: dict[str, Any]) -> list[str]:
    return SCRIPTS[form].tool_names(body)


def has_tool_result(form: str, body: dict[str, Any]) -> bool:
    return bool(SCRIPTS[form].tool_results(body))


def write_file_brain(form: str, path: str, content: str, answer: str = "Done: the file is written.",
                     call_id: str | None = None) -> Callable[[Received], Reply]:
    """A model that, offered the Write tool, writes ``content`` to ``path`` and then answers."""

    def brain(rec: Received) -> Reply:
        body = rec.body if isinstance(rec.body, dict) else {}
        if "Write" in tool_names(form, body):
            if has_tool_result(form, body):
                return Reply(text=answer)
            return Reply(text="I'll write the file.",
                         calls=[Call("Write", {"file_path": path, "content": content}, id=call_id)])
        return Reply(text="Greeting")  # titles, quota probes and other side requests

    return brain


def scripted_brain(form: str, first: Reply, answer: str = "Done.") -> Callable[[Received], Reply]:
    """Offered Write: answer ``first`` (however broken), then ``answer`` once a tool result came back."""

    def brain(rec: Received) -> Reply:
        body = rec.body if isinstance(rec.body, dict) else {}
        if "Write" in tool_names(form, body):
            return Reply(text=answer) if has_tool_result(form, body) else first
        return Reply(text="Greeting")

    return brain


def tool_results(form: str, body: dict[str, Any]) -> list[str]:
    """The tool results' text in a request of ``form``."""
    return SCRIPTS[form].tool_results(body)


# -- the repair ladder's re-ask: servers that constrain an answer ---------------------------------------
def constraint_of(form: str, body: dict[str, Any]) -> tuple[str, Any] | None:
    """What a request holds its answer to, read as each server reads it: ``("format", schema)`` (Ollama's
    structured outputs), ``("response_format", schema)`` (llama.cpp, LM Studio, SGLang, OpenAI), ``("tool_choice",
    name)`` — a named function or ``"required"`` (vLLM's structured outputs); None when it holds it to nothing."""
    return SCRIPTS[form].constraint(body)


def constrained_reply(form: str, rec: Received, arguments: Any, name: str | None = None, *,
                      check: bool = True) -> Reply:
    """What a server that keeps to the request's constraint answers: the call's ``arguments`` (and
    ``name``, when the schema lets the model choose the tool) as the content — or, under vLLM's
    ``tool_choice``, as a tool call. ``check``: the answer is validated against the schema the request
    sent (a constraint the gateway wrote wrong fails the test here, as a real server would refuse it)."""
    body = rec.body if isinstance(rec.body, dict) else {}
    kind, schema = constraint_of(form, body) or (None, None)
    if kind == "tool_choice":
        return Reply(calls=[Call(str(name if schema == "required" else schema), arguments)])
    value = arguments if name is None else {"name": name, "arguments": arguments}
    if check:
        import jsonschema

        jsonschema.validate(value, schema)
    return Reply(text=json.dumps(value))


def reask_brain(form: str, first: Reply, reasked: Reply | Callable[[Received], Reply],
                answer: str = "Done.") -> Callable[[Received], Reply]:
    """Offered Write: answer ``first`` (however broken); a request held to a constraint (``constraint_of``,
    the gateway's re-ask) gets ``reasked``; one that carries a tool result gets ``answer``."""

    def brain(rec: Received) -> Reply:
        body = rec.body if isinstance(rec.body, dict) else {}
        if "Write" not in tool_names(form, body):
            return Reply(text="Greeting")
        if has_tool_result(form, body):
            return Reply(text=answer)
        if constraint_of(form, body) is not None:
            return reasked(rec) if callable(reasked) else reasked
        return first

    return brain


def is_reask(form: str, body: dict[str, Any]) -> bool:
    """A request the gateway's repair ladder sent (a re-ask: its output held to a schema), not Claude Code."""
    return body.get("stream") is False and constraint_of(form, body) is not None
