"""Anthropic Messages ⇄ OpenAI ``POST /v1/chat/completions`` (SSE when streaming)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import orjson

from ._anthropic import MessageStreamEncoder
from ._decoders import ServerSentEvent, SSEDecoder
from ._facts import Answer, BackendUsage, CountSteps, DiscoverySteps, ModelFacts, Probe, TokenCount, as_object
from ._form import BackendForm, StreamProcessor, chat_sections
from ._notes import Notes
from ._options import DEFAULT_OPTIONS, TranslateOptions
from ._request import AnthropicRequest, AssistantTurn, Image, SystemTurn, UserTurn
from ._stream import Emitter, StreamTranslator
from ._system import merge_system_turns
from ._tools import ToolNames

__all__ = ["OPENAI", "OpenAIForm", "OpenAIStreamTranslator", "openai_facts", "openai_request", "openai_response",
           "openai_usage"]

FINISH_TO_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                  "function_call": "tool_use", "content_filter": "end_turn"}
INTERRUPTED = "(no result: the tool call was interrupted before it finished)"


def _image_part(image: Image) -> dict[str, Any]:
    url = image.url if image.data is None else f"data:{image.media_type};base64,{image.data}"
    return {"type": "image_url", "image_url": {"url": url}}


_EFFORTS = {"low": "low", "medium": "medium", "high": "high", "max": "high", "xhigh": "high", "minimal": "low"}


def _effort(req: AnthropicRequest, options: TranslateOptions) -> str | None:
    if options.reasoning_effort in ("low", "medium", "high"):
        return options.reasoning_effort
    if options.reasoning_effort == "auto" and req.thinking and req.thinking.get("type") in ("enabled", "adaptive"):
        return _EFFORTS.get(req.effort or "")
    return None


def openai_request(req: AnthropicRequest, *, model: str, options: TranslateOptions = DEFAULT_OPTIONS,
                   names: ToolNames | None = None) -> dict[str, Any]:
    """The ``/v1/chat/completions`` body for a parsed Anthropic request."""
    notes = req.notes
    names = names if names is not None else ToolNames()
    inline_system = options.system_messages == "inline"
    turns = merge_system_turns(req.turns, notes) if options.system_messages == "merge" else req.turns
    messages: list[dict[str, Any]] = []
    if req.system:
        messages.append({"role": "system", "content": req.system})
    pending: list[str] = []  # tool_call ids of the last assistant turn still owed a result
    deferred: list[dict[str, Any]] = []  # system notes that arrived between a call and its result

    def settle() -> None:
        for call_id in pending:
            notes.converted("interrupted tool call answered with a placeholder tool message")
            messages.append({"role": "tool", "tool_call_id": call_id, "content": INTERRUPTED})
        pending.clear()
        messages.extend(deferred)
        deferred.clear()

    for turn in turns:
        if isinstance(turn, SystemTurn):
            if inline_system:
                msg = {"role": "system", "content": turn.text}
            else:
                notes.converted("mid-conversation system message sent as a user message "
                                "(many OpenAI-form chat templates reject a late system message)")
                msg = {"role": "user", "content": turn.text}
            (deferred if pending else messages).append(msg)
        elif isinstance(turn, UserTurn):
            extra_images: list[Image] = []
            orphans: list[str] = []
            for result in turn.tool_results:
                text = ("Error: " + result.text) if result.is_error else result.text
                if result.tool_use_id in pending:
                    pending.remove(result.tool_use_id)
                    messages.append({"role": "tool", "tool_call_id": result.tool_use_id,
                                     "content": text})
                    if result.images:
                        notes.converted("images in a tool result moved to a user message "
                                        "(OpenAI tool messages carry text only)")
                        extra_images.extend(result.images)
                else:
                    notes.converted("tool_result without a matching tool call sent as user text")
                    orphans.append(f"[result of tool call {result.tool_use_id}]\n{text}")
            settle()
            texts = orphans + turn.texts
            images = extra_images + turn.images
            if images:
                parts: list[dict[str, Any]] = [{"type": "text", "text": t} for t in texts]
                parts.extend(_image_part(i) for i in images)
                messages.append({"role": "user", "content": parts})
            elif texts:
                messages.append({"role": "user", "content": "\n\n".join(texts)})
        elif isinstance(turn, AssistantTurn):
            settle()
            # "" not null: chat templates concatenate and test content (Qwen 3, QwQ, SmolLM2 raise on null)
            reply: dict[str, Any] = {"role": "assistant", "content": turn.text}
            if turn.tool_calls:
                reply["tool_calls"] = [
                    {"id": c.id, "type": "function", "function": {
                        "name": names.outgoing(c.name), "arguments": orjson.dumps(c.input).decode()}}
                    for c in turn.tool_calls
                ]
                pending.extend(c.id for c in turn.tool_calls)
                if turn.thinking:  # DeepSeek-style servers need it back on tool-call turns
                    reply["reasoning_content"] = "\n\n".join(turn.thinking)
            if turn.texts or turn.tool_calls:
                messages.append(reply)
            elif turn.thinking:
                notes.dropped("thinking-only assistant turn")
    if pending:
        # The conversation ends on unanswered calls (a prefill): keep them answered.
        settle()
    messages.extend(deferred)

    body: dict[str, Any] = {"model": model, "messages": messages, "stream": req.stream}
    if req.stream:
        body["stream_options"] = {"include_usage": True}
        if options.prompt_progress:
            body["return_progress"] = True
    raw = req.raw
    if req.max_tokens is not None:
        limit = options.max_tokens_limit
        if limit and req.max_tokens > limit:
            notes.converted(f"max_tokens {req.max_tokens} clamped to {limit}")
        body["max_tokens"] = min(req.max_tokens, limit) if limit else req.max_tokens
    for key in ("temperature", "top_p", "top_k"):
        if raw.get(key) is not None:
            body[key] = raw[key]
    stops = raw.get("stop_sequences")
    if stops:
        if len(stops) > 4:
            notes.dropped(f"stop_sequences beyond the first 4 ({len(stops) - 4})")
        body["stop"] = list(stops[:4])
    if req.tools:
        body["tools"] = [
            {"type": "function", "function": {
                "name": names.outgoing(t["name"]), "description": t["description"],
                "parameters": t["input_schema"]}}
            for t in req.tools
        ]
        for long, short in names.renamed.items():
            notes.converted(f"tool name {long!r} sent as {short!r} (OpenAI names are ≤64 [A-Za-z0-9_-])")
        choice = req.tool_choice or {}
        kind = choice.get("type")
        if kind == "any":
            body["tool_choice"] = "required"
        elif kind == "tool" and choice.get("name"):
            body["tool_choice"] = {"type": "function", "function": {"name": names.outgoing(choice["name"])}}
        elif kind == "none":
            body["tool_choice"] = "none"
        if choice.get("disable_parallel_tool_use"):
            body["parallel_tool_calls"] = False
    effort = _effort(req, options)
    if effort:
        body["reasoning_effort"] = effort
    elif req.thinking and req.thinking.get("type") not in (None, "disabled"):
        notes.dropped("thinking config (OpenAI-form servers decide reasoning themselves; "
                      "--set reasoning_effort=auto maps it)")
    return body


def _reasoning(obj: dict[str, Any]) -> str | None:
    value = obj.get("reasoning_content")
    if value is None:
        value = obj.get("reasoning")
    return value if isinstance(value, str) else None


def openai_usage(chunk: dict[str, Any]) -> BackendUsage | None:
    """``usage`` (OpenAI: ``prompt_tokens`` includes ``prompt_tokens_details.cached_tokens``) and
    llama.cpp's ``timings`` (tools/server/server-task.cpp result_timings: ``cache_n`` tokens reused,
    ``prompt_n`` evaluated in ``prompt_ms``, ``predicted_n`` in ``predicted_ms``) of one chunk or
    whole answer; None when it has neither."""
    usage, timings = chunk.get("usage"), chunk.get("timings")
    out = None
    if isinstance(usage, dict):
        details = usage.get("prompt_tokens_details")
        details = details if isinstance(details, dict) else {}
        out = BackendUsage.counts("openai", prompt=usage.get("prompt_tokens"), cached=details.get("cached_tokens"),
                                  cache_write=details.get("cache_write_tokens"),
                                  output=usage.get("completion_tokens"))
    if isinstance(timings, dict):
        t = BackendUsage("llama.cpp").timings(prompt_n=timings.get("prompt_n"), prompt_ns=timings.get("prompt_ms"),
                                              decode_n=timings.get("predicted_n"),
                                              decode_ns=timings.get("predicted_ms"), scale=1.0)
        cache_n = timings.get("cache_n")
        if isinstance(cache_n, int) and cache_n >= 0 and (out is None or out.cached_tokens is None):
            t.cached_tokens = cache_n
        if (out is None or out.prompt_tokens is None) and t.prompt_eval_tokens is not None:
            t.prompt_tokens = t.prompt_eval_tokens + (t.cached_tokens or 0)
        out = t if out is None else out.merge(t)
    return out


def _finish_usage(enc: MessageStreamEncoder, stop: str, usage: BackendUsage | None) -> bytes:
    if usage is None:
        return enc.finish(stop)
    return enc.finish(stop, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                      cache_read=usage.cached_tokens, cache_creation=usage.cache_write_tokens)


def openai_response(data: dict[str, Any], *, model: str, input_tokens: int = 0,
                    notes: Notes | None = None, names: ToolNames | None = None,
                    tools: list[dict[str, Any]] | None = None, repair: bool = True) -> dict[str, Any]:
    """A non-streaming ``chat.completion`` as an Anthropic ``Message``."""
    notes = notes if notes is not None else Notes()
    names = names if names is not None else ToolNames()
    enc = MessageStreamEncoder(model=model, input_tokens=input_tokens)
    emit = Emitter(enc, notes, tools=tools, repair=repair, names=names)
    choices = data.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    reasoning = _reasoning(message)
    if reasoning:
        enc.thinking(reasoning)
    if message.get("content"):
        emit.text(message["content"])
    if message.get("refusal"):
        emit.text(message["refusal"])
    emit.flush(truncated=choice.get("finish_reason") == "length")
    for call in message.get("tool_calls") or ():
        fn = call.get("function") or {}
        emit.tool(call.get("id"), fn.get("name") or "unknown", fn.get("arguments"))
    finish = choice.get("finish_reason")
    stop = "tool_use" if enc.tool_calls else FINISH_TO_STOP.get(finish or "stop", "end_turn")
    _finish_usage(enc, stop, openai_usage(data))
    return enc.message()


class _Call:
    __slots__ = ("index", "id", "name", "args")

    def __init__(self, index: int, call_id: str | None, name: str) -> None:
        self.index = index
        self.id = call_id
        self.name = name
        self.args: list[str] = []


class OpenAIForm(BackendForm):
    """OpenAI-compatible servers (vLLM, llama.cpp, LM Studio…): ``POST /v1/chat/completions``, SSE."""

    name = "openai"
    label = "OpenAI-compatible"
    stream_type = "text/event-stream"
    stream_marker = "event-stream"
    expected = "an OpenAI chat completion (JSON, or chunks as SSE)"
    models_path = "/v1/models"

    def chat_path(self, base_path: str, client_path: str) -> str:
        # A backend URL ending in /v1 (LM Studio's and vLLM's docs write it so) already has it.
        return "/chat/completions" if base_path.endswith("/v1") else "/v1/chat/completions"

    def uses_tool_names(self) -> bool:
        return True

    def build_request(self, req: AnthropicRequest, *, model: str, options: TranslateOptions,
                      names: ToolNames | None) -> dict[str, Any]:
        return openai_request(req, model=model, options=options, names=names)

    def stream_processor(self, *, options: TranslateOptions, names: ToolNames | None, model: str,
                         backend_model: str, backend: str, input_tokens: int, notes: Notes,
                         tools: list[dict[str, Any]] | None) -> StreamProcessor:
        return OpenAIStreamTranslator(names=names, repair=options.repair, model=model,
                                      backend_model=backend_model, backend=backend,
                                      input_tokens=input_tokens, notes=notes, tools=tools)

    def whole_response(self, data: dict[str, Any], *, options: TranslateOptions, names: ToolNames | None,
                       model: str, input_tokens: int, notes: Notes,
                       tools: list[dict[str, Any]] | None) -> dict[str, Any]:
        return openai_response(data, model=model, input_tokens=input_tokens, notes=notes, names=names,
                               tools=tools, repair=options.repair)

    def discover(self, model: str, *, options: TranslateOptions, base_path: str = "") -> DiscoverySteps:
        """OpenAI-compatible servers say their window each in their own way: llama.cpp server
        ``GET /props`` → ``default_generation_settings.n_ctx`` (tools/server/README.md; the per-slot
        context, what one request gets), vLLM ``GET /v1/models`` → ``max_model_len``, LM Studio
        ``GET /api/v0/models/{model}`` → ``loaded_context_length`` / ``max_context_length`` (REST API
        v0). llama.cpp's ``/v1/models`` adds ``meta.n_ctx_train``."""
        root = _root(base_path)
        props, models, lmstudio = yield [
            Probe("props", "GET", root + "/props"),
            Probe("models", "GET", base_path + "/models" if base_path.endswith("/v1") else base_path + "/v1/models"),
            Probe("lmstudio", "GET", f"{root}/api/v0/models/{quote(model, safe='')}"),
        ]
        return openai_facts(model, props, models, lmstudio)

    def count_tokens(self, facts: ModelFacts, body: dict[str, Any], *, base_path: str = "") -> CountSteps:
        """llama.cpp: ``POST /apply-template`` renders the messages (and tools) with the server's own
        chat template, ``POST /tokenize`` counts that prompt (``add_special`` as its chat endpoint
        tokenizes). vLLM: ``POST /tokenize`` takes the messages themselves (TokenizeChatRequest)."""
        root = _root(base_path)
        chat = {"messages": body.get("messages") or []}
        if body.get("tools"):
            chat["tools"] = body["tools"]
        if facts.tokenizer == "llama.cpp":
            (rendered,) = yield [Probe("apply-template", "POST", root + "/apply-template", chat)]
            prompt = rendered.data.get("prompt") if rendered.ok and isinstance(rendered.data, dict) else None
            if not isinstance(prompt, str):
                return None
            (tokens,) = yield [Probe("tokenize", "POST", root + "/tokenize",
                                      {"content": prompt, "add_special": True})]
            ids = tokens.data.get("tokens") if tokens.ok and isinstance(tokens.data, dict) else None
            if not isinstance(ids, list):
                return None
            marks = _tool_marks(chat.get("tools") or [])
            dropped = bool(marks) and not any(m in prompt for m in marks)
            return TokenCount(len(ids), True, "llama.cpp /apply-template + /tokenize", tools_dropped=dropped)
        if facts.tokenizer == "vllm":
            (counted,) = yield [Probe("tokenize", "POST", root + "/tokenize",
                                      {"model": body.get("model"), **chat, "add_generation_prompt": True})]
            n = counted.data.get("count") if counted.ok and isinstance(counted.data, dict) else None
            return TokenCount(n, True, "vllm /tokenize") if isinstance(n, int) else None
        return None

    def read_usage(self, data: dict[str, Any]) -> BackendUsage | None:
        return openai_usage(data)

    def prefix_sections(self, body: dict[str, Any]) -> tuple[list[tuple[str, Any]], Any]:
        return chat_sections(body, {"model": body.get("model"), "reasoning_effort": body.get("reasoning_effort")})


OPENAI = OpenAIForm()


_PLAIN = re.compile(r"[A-Za-z0-9 ,.]{24,}")


def _tool_marks(tools: list[Any]) -> list[str]:
    """Stretches of the tools' descriptions that any rendering shows as they are (no quotes or
    newlines to escape): a prompt without one of them shows the model no tool. Tool names alone
    prove nothing — Claude Code's system prompt names its tools."""
    marks = []
    for t in tools:
        fn = as_object(as_object(t).get("function"))
        m = _PLAIN.search(str(fn.get("description") or ""))
        if m:
            marks.append(m.group(0)[:40])
    return marks


def _root(base_path: str) -> str:
    """Where a server's own (non-OpenAI) endpoints live: /props, /tokenize… sit beside /v1."""
    return base_path[:-3] if base_path.endswith("/v1") else base_path


def _model_entry(models: Answer, model: str) -> dict[str, Any] | None:
    data = models.data.get("data") if models.ok and isinstance(models.data, dict) else None
    if not isinstance(data, list):
        return None
    entries = [m for m in data if isinstance(m, dict)]
    exact = next((m for m in entries if m.get("id") == model), None)
    return exact or (entries[0] if len(entries) == 1 else None)  # llama.cpp lists its one model by path


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def openai_facts(model: str, props: Answer, models: Answer, lmstudio: Answer) -> ModelFacts:
    entry = _model_entry(models, model) or {}
    meta = as_object(entry.get("meta"))
    trained = _positive(meta.get("n_ctx_train"))
    p = props.data if props.ok and isinstance(props.data, dict) else None
    if p is not None and isinstance(p.get("default_generation_settings"), dict):
        n_ctx = _positive(p["default_generation_settings"].get("n_ctx")) or _positive(p.get("n_ctx"))
        facts = ModelFacts(model, trained=trained, tokenizer="llama.cpp", server="llama.cpp")
        return facts.with_window(n_ctx, "llama.cpp /props (n_ctx per slot)") if n_ctx else facts
    vllm = _positive(entry.get("max_model_len"))
    if vllm:
        return ModelFacts(model, vllm, "vllm /v1/models max_model_len", tokenizer="vllm", server="vllm")
    lm = lmstudio.data if lmstudio.ok and isinstance(lmstudio.data, dict) else {}
    loaded, most = _positive(lm.get("loaded_context_length")), _positive(lm.get("max_context_length"))
    if loaded or most:
        source = "lmstudio /api/v0/models loaded_context_length" if loaded else \
            "lmstudio /api/v0/models max_context_length (the model is not loaded)"
        return ModelFacts(model, loaded or most, source, trained=most, server="lmstudio")
    return ModelFacts(model, trained=trained, server="openai" if models.status else None)


class OpenAIStreamTranslator(StreamTranslator):
    """OpenAI ``chat.completion.chunk`` SSE → Anthropic SSE.

    Tool-call argument fragments are buffered per call and sent as one complete
    ``input_json_delta`` (parsed, repaired if needed) when the call is complete:
    the SDK parses every delta, and weak models' fragments are not always JSON.
    The final ``message_delta`` waits for the usage chunk or ``[DONE]``.
    """

    form = OPENAI

    def __init__(self, *, names: ToolNames | None = None, **kw: Any) -> None:
        names = names if names is not None else ToolNames()
        super().__init__(names=names, **kw)
        self._sse = SSEDecoder(comments=True)
        self._names = names
        self._call: _Call | None = None
        self._finish: str | None = None

    def feed(self, chunk: bytes) -> bytes:
        events = self._sse.decode(chunk)
        return b"".join([self._event(e) for e in events]) if events else b""

    def flush(self) -> bytes:
        out = b"".join([self._event(e) for e in self._sse.flush()])
        if self._finish is not None:
            return out + self._done()  # finished but no [DONE]: lenient
        return out + self._cut()

    def interrupt(self, reason: str) -> bytes:
        self._sse = SSEDecoder(comments=True)  # drop a half event: it stays in the recording only
        if self._finish is not None:
            return self._done()  # the model had finished; only the usage chunk or [DONE] was lost
        return self._cut(reason)

    def _event(self, sse: ServerSentEvent) -> bytes:
        if self.encoder.finished:
            return b""
        if sse.comment is not None:
            return self.encoder.ping()
        data = sse.data
        if data == "[DONE]":
            return self._done()
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return self._garbage(data)
        if not isinstance(chunk, dict):
            return self._garbage(data)
        self.events_in += 1
        if chunk.get("error"):
            status = chunk.get("status") or (chunk["error"].get("code") if isinstance(chunk["error"], dict)
                                             else None)
            return self._backend_error(status if isinstance(status, int) else 500, chunk)
        out = self.encoder.start() if not self.encoder.started else b""
        if chunk.get("usage") or "timings" in chunk:
            usage = openai_usage(chunk)
            self.usage = usage if self.usage is None else self.usage.merge(usage)
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if "reasoning_content" in delta or "reasoning" in delta:
                reasoning = _reasoning(delta)
                if reasoning:
                    out += self._emit_call() + self.encoder.thinking(reasoning)
            content = delta.get("content")
            if content:
                if self._call is not None:
                    out += self._emit_call()
                out += self.emit.text(content)
            if "tool_calls" in delta or "refusal" in delta:
                if delta.get("refusal"):
                    out += self._emit_call() + self.emit.text(delta["refusal"])
                for frag in delta.get("tool_calls") or ():
                    out += self._fragment(frag)
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
        return out

    def _fragment(self, frag: dict[str, Any]) -> bytes:
        out = b""
        index = frag.get("index", 0)
        call_id = frag.get("id")
        fn = frag.get("function") or {}
        call = self._call
        # A new index, or a new id at the same index (Ollama's /v1 puts every call at 0).
        if call is None or index != call.index or (call_id and call.id and call_id != call.id):
            out += self._emit_call()
            call = self._call = _Call(index, call_id, fn.get("name") or "")
        else:
            if call_id and not call.id:
                call.id = call_id
            if fn.get("name") and not call.name:
                call.name = fn["name"]
        args = fn.get("arguments")
        if args:
            call.args.append(args if isinstance(args, str) else orjson.dumps(args).decode())
        return out

    def _emit_call(self) -> bytes:
        call, self._call = self._call, None
        if call is None:
            return b""
        return self.emit.flush() + self.emit.tool(call.id, call.name or "unknown", "".join(call.args))

    def _done(self) -> bytes:
        out = self.emit.flush(truncated=self._finish == "length") + self._emit_call()
        stop = "tool_use" if self.encoder.tool_calls else FINISH_TO_STOP.get(self._finish or "stop", "end_turn")
        if (self.usage is None or self.usage.prompt_tokens is None) and self._finish is not None:
            self.notes.warning("the backend reported no usage (stream_options.include_usage "
                               "ignored?): token counts are estimates")
        return out + _finish_usage(self.encoder, stop, self.usage)
