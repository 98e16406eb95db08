"""Anthropic Messages ⇄ OpenAI ``POST /v1/chat/completions`` (SSE when streaming)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import orjson

from ._decoders import ServerSentEvent, SSEDecoder
from ._facts import Answer, BackendUsage, CountSteps, DiscoverySteps, ModelFacts, Probe, TokenCount, as_object, count_of
from ._form import BackendForm, StreamProcessor, TranslateContext, chat_sections
from ._json import OpenScan
from ._notes import Notes
from ._options import DEFAULT_OPTIONS, TranslateOptions
from ._reask import constraint, read_reasked_message
from ._request import AnthropicRequest, AssistantTurn, Image, SystemTurn, UserTurn
from ._stream import Emitter, StreamTranslator
from ._system import merge_system_turns
from ._tools import ToolNames

__all__ = ["OPENAI", "OpenAIForm", "OpenAIStreamTranslator", "openai_facts", "openai_request", "openai_response",
           "openai_usage"]

FINISH_TO_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                  "function_call": "tool_use", "content_filter": "refusal"}
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
            if extra_images or turn.images:  # the client's order: a text about an image stays beside it
                ordered: list[str | Image] = [*orphans, *extra_images, *turn.parts()]
                messages.append({"role": "user", "content": [
                    {"type": "text", "text": p} if isinstance(p, str) else _image_part(p) for p in ordered]})
            elif orphans or turn.texts:
                messages.append({"role": "user", "content": "\n\n".join(orphans + turn.texts)})
        elif isinstance(turn, AssistantTurn):
            settle()
            if any(r.data for r in turn.reasoning):
                notes.dropped("redacted_thinking (only Anthropic can read it)")
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
            if not turn.texts and not turn.tool_calls:  # thinking only, or nothing Anthropic-only left
                notes.converted("an assistant turn with no text or tool call (thinking only) sent as an empty "
                                "assistant message: the roles keep alternating", rule="turn:empty-assistant")
            messages.append(reply)
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
    offered = req.offered(options.deferred_tools)
    if offered:
        body["tools"] = [
            {"type": "function", "function": {
                "name": names.outgoing(t["name"]), "description": t["description"],
                "parameters": t["input_schema"]}}
            for t in offered
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


#: Where OpenAI-form servers put the prompt-cache figures. Reads: OpenAI's (and vLLM's, llama.cpp's)
#: ``prompt_tokens_details.cached_tokens``, DeepSeek's ``prompt_cache_hit_tokens``, Moonshot's
#: top-level ``cached_tokens``, the Anthropic name proxies pass on. Writes: OpenRouter's
#: ``cache_write_tokens``, vLLM's ``created_cache_tokens``, LiteLLM's ``cache_creation_tokens``,
#: the Anthropic name — in the details or at the top of ``usage``.
_CACHE_READ = (("details", "cached_tokens"), ("usage", "cache_read_input_tokens"),
               ("usage", "prompt_cache_hit_tokens"), ("usage", "cached_tokens"))
_CACHE_WRITE = (("details", "cache_write_tokens"), ("details", "created_cache_tokens"),
                ("details", "cache_creation_tokens"), ("details", "cache_creation_input_tokens"),
                ("usage", "cache_creation_input_tokens"), ("usage", "cache_write_tokens"))


def _first(places: tuple[tuple[str, str], ...], usage: dict[str, Any], details: dict[str, Any]) -> Any:
    for where, key in places:
        value = (usage if where == "usage" else details).get(key)
        if value is not None:
            return value
    return None


def openai_usage(chunk: dict[str, Any]) -> BackendUsage | None:
    """``usage`` (OpenAI: ``prompt_tokens`` includes the cache reads and writes; see ``_CACHE_READ``
    and ``_CACHE_WRITE`` for the names servers use) and llama.cpp's ``timings``
    (tools/server/server-task.cpp result_timings: ``cache_n`` tokens reused, ``prompt_n``
    evaluated in ``prompt_ms``, ``predicted_n`` in ``predicted_ms``) of one chunk or whole answer;
    None when it has neither."""
    usage, timings = chunk.get("usage"), chunk.get("timings")
    out = None
    if isinstance(usage, dict):
        details = usage.get("prompt_tokens_details")
        details = details if isinstance(details, dict) else {}
        out = BackendUsage.counts("openai", prompt=usage.get("prompt_tokens"),
                                  cached=_first(_CACHE_READ, usage, details),
                                  cache_write=_first(_CACHE_WRITE, usage, details),
                                  output=usage.get("completion_tokens"))
    if isinstance(timings, dict):
        t = BackendUsage("llama.cpp").timings(prompt_n=timings.get("prompt_n"), prompt_ns=timings.get("prompt_ms"),
                                              decode_n=timings.get("predicted_n"),
                                              decode_ns=timings.get("predicted_ms"), scale=1.0)
        cache_n = count_of(timings.get("cache_n"))
        if cache_n is not None and (out is None or out.cached_tokens is None):
            t.cached_tokens = cache_n
        if (out is None or out.prompt_tokens is None) and t.prompt_eval_tokens is not None:
            t.prompt_tokens = t.prompt_eval_tokens + (t.cached_tokens or 0)
        out = t if out is None else out.merge(t)
    return out


def _matched_stop(choice: dict[str, Any], chunk: dict[str, Any]) -> str | None:
    """The stop string the server says it stopped at: vLLM's ``choices[].stop_reason`` (a string;
    an int is a stop *token*), llama.cpp's ``stopping_word`` with ``stop_type: "word"`` (on the
    choice or the chunk). None when it says none."""
    reason = choice.get("stop_reason")
    if isinstance(reason, str) and reason:
        return reason
    for where in (choice, chunk):
        word = where.get("stopping_word")
        if isinstance(word, str) and word and where.get("stop_type", "word") == "word":
            return word
    return None


def _stop_reason(finish: str | None, *, calls: int, matched: str | None,
                 refused: bool = False) -> tuple[str, str | None]:
    """``(stop_reason, stop_sequence)`` for a finished answer. A model that answered in OpenAI's
    ``refusal`` field refused (Anthropic: ``refusal``), as does a ``content_filter`` finish."""
    if calls:
        return "tool_use", None
    if matched is not None and finish in (None, "stop"):
        return "stop_sequence", matched
    if refused and finish in (None, "stop"):
        return "refusal", None
    return FINISH_TO_STOP.get(finish or "stop", "end_turn"), None


def openai_response(data: dict[str, Any], *, model: str, input_tokens: int = 0,
                    notes: Notes | None = None, names: ToolNames | None = None,
                    tools: list[dict[str, Any]] | None = None, repair: bool = True) -> dict[str, Any]:
    """A non-streaming ``chat.completion`` as an Anthropic ``Message``."""
    t = OpenAIStreamTranslator(model=model, input_tokens=input_tokens, notes=notes, names=names, tools=tools,
                               repair=repair)
    t.take_whole(data)
    return t.encoder.message()


def _whole_answer(emit: Emitter, data: dict[str, Any]) -> BackendUsage | None:
    """A whole ``chat.completion`` through ``emit``, to its end; what its usage said."""
    choices = data.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    finish = choice.get("finish_reason")
    reasoning = _reasoning(message)
    if reasoning:
        emit.thinking(reasoning)
    if message.get("content"):
        emit.text(message["content"])
    if message.get("refusal"):
        emit.text(message["refusal"])
    emit.flush(truncated=finish == "length")
    calls = [c for c in message.get("tool_calls") or () if isinstance(c, dict)]
    for n, call in enumerate(calls):
        fn = call.get("function") or {}
        cut = _LENGTH_CUT if finish == "length" and n == len(calls) - 1 else None
        _emit_whole_call(emit, call.get("id"), fn.get("name"), fn.get("arguments"), cut=cut)
    stop, sequence = _stop_reason(finish, calls=emit.enc.tool_calls, matched=_matched_stop(choice, data),
                                  refused=bool(message.get("refusal")))
    usage = openai_usage(data)
    emit.finish(stop, usage, stop_sequence=sequence)
    return usage


_LENGTH_CUT = "finish_reason length: the answer hit the token limit while this call was being written"


def _emit_whole_call(emit: Emitter, call_id: Any, name: Any, args: Any, *, cut: str | None = None) -> bytes:
    if not isinstance(name, str) or not name:
        return emit.flush() + emit.nameless(args)
    return emit.flush() + emit.tool(call_id, name, args, cut=cut)


class _Call:
    """One tool call as its fragments arrive: keyed by ``index``, its arguments a list of pieces."""

    __slots__ = ("index", "id", "name", "args", "_scan", "_scanned", "_blank", "repeat", "sent")

    def __init__(self, index: int, call_id: str | None, name: str, *, repeat: bool = False) -> None:
        self.index = index
        self.id = call_id
        self.name = name
        self.args: list[str] = []
        self._scan = OpenScan()
        self._scanned = 0  # pieces of args the scan has seen: each character is looked at once
        self._blank = True
        #: Opened by a fragment repeating the previous call's name and id at its index.
        self.repeat = repeat
        self.sent = False

    def add(self, piece: str) -> None:
        self.args.append(piece)

    @property
    def state(self) -> str:
        """"empty", "open" (a string, object or array still unclosed) or "closed"."""
        for piece in self.args[self._scanned:]:
            self._scan.feed(piece)
            self._blank = self._blank and not piece.strip()
        self._scanned = len(self.args)
        return "empty" if self._blank else "open" if self._scan.unclosed else "closed"


class OpenAIForm(BackendForm):
    """OpenAI-compatible servers (vLLM, llama.cpp, LM Studio…): ``POST /v1/chat/completions``, SSE."""

    name = "openai"
    label = "OpenAI-compatible"
    reasks = True
    names_slots = True
    stream_type = "text/event-stream"
    stream_marker = "event-stream"
    expected = "an OpenAI chat completion (JSON, or chunks as SSE)"
    models_path = "/v1/models"

    def chat_path(self, base_path: str = "", *, model: str = "", stream: bool = False) -> str:
        # A backend URL ending in /v1 (LM Studio's and vLLM's docs write it so) already has it.
        return "/chat/completions" if base_path.endswith("/v1") else "/v1/chat/completions"

    def tool_names(self) -> ToolNames | None:
        return ToolNames()

    def build_request(self, req: AnthropicRequest, *, model: str, options: TranslateOptions,
                      names: ToolNames | None) -> dict[str, Any]:
        return openai_request(req, model=model, options=options, names=names)

    def stream_processor(self, ctx: TranslateContext) -> StreamProcessor:
        return OpenAIStreamTranslator(names=ctx.names, repair=ctx.options.repair, model=ctx.model,
                                      backend_model=ctx.backend_model, backend=ctx.backend,
                                      input_tokens=ctx.input_tokens, notes=ctx.notes, tools=ctx.tools)

    def whole_response(self, data: dict[str, Any], ctx: TranslateContext) -> dict[str, Any]:
        return openai_response(data, model=ctx.model, input_tokens=ctx.input_tokens, notes=ctx.notes,
                               names=ctx.names, tools=ctx.tools, repair=ctx.options.repair)

    def constrained(self, body: dict[str, Any], *, tool: str | None, server: str | None = None,
                    text: bool = False) -> tuple[dict[str, Any], str] | None:
        """vLLM enforces a tool call's schema itself — a named ``tool_choice`` (the function's parameters)
        or ``"required"`` (one of the tools), its structured outputs (docs: "Tool Calling"): the call
        comes back as a tool call. Every other server (llama.cpp, LM Studio, SGLang, OpenAI) takes
        ``response_format`` ``json_schema`` (llama.cpp's server-common.cpp reads its ``schema`` into a
        grammar): the call comes back as the content, the tools still offered (the prompt, and so
        the prompt cache, as before) with ``tool_choice`` none, so no server reads that JSON as a call."""
        tools = body.get("tools") or []
        schema = constraint(tools, tool, text=text)
        if schema is None:
            return None
        out = {k: v for k, v in body.items() if k not in ("tool_choice", "response_format", "parallel_tool_calls")}
        if not text:
            out["stream"] = False
            out.pop("stream_options", None)
        if server == "vllm" and not text:
            out["tool_choice"] = {"type": "function", "function": {"name": tool}} if tool else "required"
            return out, f"tool_choice {'named' if tool else 'required'}, vLLM structured outputs"
        if tools:
            out["tool_choice"] = "none"
        out["response_format"] = {"type": "json_schema", "json_schema": {
            "name": "answer" if text else tool or "tool_call", "schema": schema}}
        return out, "response_format json_schema"

    def pinned(self, body: dict[str, Any], *, tool: str | None) -> tuple[dict[str, Any], str] | None:
        if not body.get("tools"):
            return None
        out = {k: v for k, v in body.items() if k not in ("response_format", "stream_options")}
        out["stream"] = False
        out["tool_choice"] = {"type": "function", "function": {"name": tool}} if tool else "required"
        return out, f"tool_choice {'named' if tool else 'required'}"

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
        """llama.cpp: ``POST /apply-template`` renders the request with the server's own chat template,
        ``POST /tokenize`` counts that prompt (``add_special`` as its chat endpoint tokenizes). It gets
        the whole request: the server renders it with the very parser its chat endpoint uses, and more
        than the messages and tools reaches the template (``reasoning_effort`` — gpt-oss's template
        writes it into the prompt —, ``chat_template_kwargs``, a trailing assistant message continued).
        vLLM: ``POST /tokenize`` takes the messages themselves (TokenizeChatRequest)."""
        root = _root(base_path)
        chat = {"messages": body.get("messages") or []}
        if body.get("tools"):
            chat["tools"] = body["tools"]
        if facts.tokenizer == "llama.cpp":
            (rendered,) = yield [Probe("apply-template", "POST", root + "/apply-template", {**body, **chat})]
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
        facts = ModelFacts(model, trained=trained, tokenizer="llama.cpp", server="llama.cpp",
                           slots=_positive(p.get("total_slots")))
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

    Tool-call argument fragments are gathered per call and sent as one complete
    ``input_json_delta`` (parsed, repaired if needed) once the call is complete: the SDK parses
    every delta, and weak models' fragments are not always JSON. The final ``message_delta``
    waits for the usage chunk or ``[DONE]``.

    Any legal arrangement of the deltas gives the same calls: a chunk may carry content and
    fragments in either order, several calls, the last fragment of one call with the text after
    it (vLLM with speculative decoding); a new id at an index, or the previous call's name and id
    again once its arguments are closed, starts a new call; arguments may come as an object.
    Content that arrives while a call's arguments are still open waits behind it, in order, so a
    late fragment always finds its call — no call is cut short, none invented.
    """

    form = OPENAI

    def __init__(self, *, names: ToolNames | None = None, **kw: Any) -> None:
        names = names if names is not None else ToolNames()
        super().__init__(names=names, **kw)
        self._sse = SSEDecoder(comments=True)
        self._names = names
        #: Not yet sent, in arrival order: calls, and the text or thinking that came after them.
        self._queue: list[_Call | tuple[str, str]] = []
        #: The newest call at each index (the one a fragment without an id continues).
        self._calls: dict[int, _Call] = {}
        self._last: _Call | None = None
        self._finish: str | None = None
        self._stop_word: str | None = None
        self._refused = False

    def feed(self, chunk: bytes) -> bytes:
        events = self._sse.decode(chunk)
        return b"".join([self._event(e) for e in events]) if events else b""

    def flush(self) -> bytes:
        out = b"".join([self._event(e) for e in self._sse.flush()])
        if self._finish is not None:
            return out + self._done()  # finished but no [DONE]: lenient
        return out + self._cut_stream()

    def interrupt(self, reason: str) -> bytes:
        self._sse = SSEDecoder(comments=True)  # drop a half event: it stays in the recording only
        if self._finish is not None:
            return self._done()  # the model had finished; only the usage chunk or [DONE] was lost
        return self._cut_stream(reason)

    def take_whole(self, data: dict[str, Any]) -> None:
        self.usage = _whole_answer(self.emit, data)

    def _reasked(self, data: dict[str, Any], pinned: str | None) -> tuple[str | None, Any, str, BackendUsage | None]:
        choices = data.get("choices") or [{}]
        choice = choices[0] if isinstance(choices[0], dict) else {}
        message = choice.get("message") or {}
        usage = openai_usage(data)
        if choice.get("finish_reason") == "length":
            return None, None, "finish_reason length", usage
        return read_reasked_message(message, pinned, usage)

    def _event(self, sse: ServerSentEvent) -> bytes:
        if self.finished:
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
                    out += self._content("thinking", reasoning)
            content = delta.get("content")
            if content:  # the hot path: text with no call waiting before it goes straight out
                out += self._content("text", content) if self._queue else self.emit.text(content)
            if delta.get("refusal"):
                self._refused = True
                out += self._content("text", delta["refusal"])
            fragments = delta.get("tool_calls")
            if fragments:
                for frag in fragments:
                    if isinstance(frag, dict):
                        self._fragment(frag)
                if len(self._queue) > 1:  # a call alone waits: nothing is held up behind it
                    out += self._release()
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
                self._stop_word = _matched_stop(choice, chunk) or self._stop_word
        return out

    def _content(self, kind: str, text: str) -> bytes:
        if self._queue:  # behind a call whose arguments may still be arriving
            self._queue.append((kind, text))
            return self._release()
        return self.emit.text(text) if kind == "text" else self.emit.thinking(text)

    def _fragment(self, frag: dict[str, Any]) -> None:
        raw_id, fn = frag.get("id"), frag.get("function")
        last = self._last
        if last is not None and not raw_id and not last.sent and type(fn) is dict and not fn.get("name") \
                and frag.get("index", last.index) == last.index:
            args = fn.get("arguments")
            if type(args) is str:  # the hot path: the next piece of the arguments of the call being written
                if args:
                    last.args.append(args)
                return
        call_id = raw_id if isinstance(raw_id, str) and raw_id else None
        if not isinstance(fn, dict):
            fn = {}
        raw_name = fn.get("name")
        name = raw_name if isinstance(raw_name, str) else ""
        args = fn.get("arguments")
        index = frag.get("index")
        last = self._last
        if not isinstance(index, int):  # some servers leave it out: a new id is a new call
            index = last.index if last is not None and (call_id is None or call_id == last.id) else \
                (max(self._calls) + 1 if self._calls else 0)
        prev = self._calls.get(index)
        if prev is None:
            new = True
        elif prev.sent:  # sent once its arguments closed: only a call with a name or id of its own starts here
            if not call_id and not name:
                if args not in (None, "") and (not isinstance(args, str) or args.strip()):
                    self.notes.error(f"{prev.name}: an argument fragment {str(args)[:80]!r} arrived after the "
                                     f"call's arguments had closed; dropped", rule="tool-call:late-fragment")
                return
            new = True
        else:  # a new id, or a name again once the arguments have closed, is the next call
            new = bool((call_id and prev.id and call_id != prev.id) or (name and prev.name and prev.state == "closed"))
        if new:
            repeat = prev is not None and name == prev.name and prev.state == "closed" and call_id in (None, prev.id)
            call = _Call(index, call_id, name, repeat=repeat)
            self._calls[index] = call
            self._queue.append(call)
        else:
            assert prev is not None
            call = prev
            if call_id and not call.id:
                call.id = call_id
            if name and not call.name:
                call.name = name
        self._last = call
        if isinstance(args, str):
            if args:
                call.add(args)
        elif args is not None:  # an object: some servers send the arguments parsed
            call.add(orjson.dumps(args).decode())

    def _release(self) -> bytes:
        """Send what leads the queue while it is text, or a call whose arguments are closed.

        A call alone in the queue waits (nothing behind it is held up): its fragments are not
        scanned until something arrives after it."""
        queue = self._queue
        if len(queue) == 1 and isinstance(queue[0], _Call):
            return b""
        out = []
        while queue:
            item = queue[0]
            if isinstance(item, _Call):
                if item.state != "closed":
                    break
                out.append(self._send(item))
            else:
                out.append(self.emit.text(item[1]) if item[0] == "text" else self.emit.thinking(item[1]))
            queue.pop(0)
        return b"".join(out)

    def _send(self, call: _Call, cut: str | None = None) -> bytes:
        call.sent = True
        if call.repeat and call.state == "empty":
            self.notes.converted(f"{call.name}: the server repeated the call's name and id with no arguments; "
                                 f"not a second call", rule="tool-call:repeated")
            return b""
        args = "".join(call.args)
        return _emit_whole_call(self.emit, call.id, call.name, args, cut=cut)

    def _done(self) -> bytes:
        if self.finished:
            return b""
        finish = self._finish
        out = []
        calls = [c for c in self._queue if isinstance(c, _Call)]
        for item in self._queue:
            if isinstance(item, tuple):
                out.append(self.emit.text(item[1]) if item[0] == "text" else self.emit.thinking(item[1]))
                continue
            cut = None
            if finish == "length" and item is calls[-1]:
                cut = _LENGTH_CUT
            elif finish is None and item.state != "closed":
                cut = "no finish_reason: the stream ended while this call was being written"
            out.append(self._send(item, cut))
        self._queue.clear()
        out.append(self.emit.flush(truncated=finish == "length"))
        stop, sequence = _stop_reason(finish, calls=self.encoder.tool_calls, matched=self._stop_word,
                                      refused=self._refused)
        if (self.usage is None or self.usage.prompt_tokens is None) and finish is not None:
            self.notes.warning("the backend reported no usage (stream_options.include_usage "
                               "ignored?): token counts are estimates")
        return b"".join(out) + self.emit.finish(stop, self.usage, stop_sequence=sequence)

    def _cut_stream(self, reason: str | None = None) -> bytes:
        """The body ended before the server said it was done: text that waited is sent, calls that
        were never finished are noted (the client gets an ``error``: nothing of them runs)."""
        out = []
        for item in self._queue:
            if isinstance(item, tuple):
                out.append(self.emit.text(item[1]) if item[0] == "text" else self.emit.thinking(item[1]))
            elif item.name:
                self.emit.cut_call(item.id, item.name, "".join(item.args), "the stream was cut while this call "
                                                                             "was being written")
        self._queue.clear()
        return b"".join(out) + self._cut(reason)
