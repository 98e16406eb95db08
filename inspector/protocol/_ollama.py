"""Anthropic Messages ⇄ Ollama native ``POST /api/chat`` (NDJSON when streaming)."""

from __future__ import annotations

from typing import Any

import orjson

from ._decoders import LineDecoder
from ._facts import Answer, BackendUsage, DiscoverySteps, ModelFacts, Probe, as_object
from ._form import NdjsonForm, StreamProcessor, TranslateContext, chat_sections
from ._notes import Notes
from ._options import DEFAULT_OPTIONS, TranslateOptions
from ._reask import constraint, read_reasked_message
from ._request import AnthropicRequest, AssistantTurn, Image, SystemTurn, UserTurn
from ._stream import Emitter, StreamTranslator
from ._system import merge_system_turns
from ._tools import ToolNames

__all__ = ["OLLAMA", "OllamaForm", "OllamaStreamTranslator", "ollama_facts", "ollama_request", "ollama_response",
           "ollama_usage"]

#: Ollama's smallest default context (GPUs under 24 GiB): prompts above it get truncated.
OLLAMA_SMALL_DEFAULT_CTX = 4096


def _images(images: list[Image], notes: Notes) -> list[str]:
    out = []
    for image in images:
        if image.data is not None:
            out.append(image.data)
        else:
            notes.dropped("image given by URL (Ollama takes base64 images only)")
    return out


def ollama_request(req: AnthropicRequest, *, model: str, options: TranslateOptions = DEFAULT_OPTIONS,
                   ) -> dict[str, Any]:
    """The ``/api/chat`` body for a parsed Anthropic request."""
    notes = req.notes
    inline_system = options.system_messages in ("auto", "inline")
    turns = merge_system_turns(req.turns, notes) if options.system_messages == "merge" else req.turns
    messages: list[dict[str, Any]] = []
    if req.system:
        messages.append({"role": "system", "content": req.system})
    for turn in turns:
        if isinstance(turn, SystemTurn):
            if inline_system:
                messages.append({"role": "system", "content": turn.text})
            else:
                notes.converted("mid-conversation system message sent as a user message")
                messages.append({"role": "user", "content": turn.text})
        elif isinstance(turn, UserTurn):
            for result in turn.tool_results:
                msg: dict[str, Any] = {
                    "role": "tool",
                    "content": ("Error: " + result.text) if result.is_error else result.text,
                    "tool_call_id": result.tool_use_id,
                }
                if result.name:
                    msg["tool_name"] = result.name
                if result.images:
                    msg["images"] = _images(result.images, notes)
                messages.append(msg)
            if turn.texts or turn.images:
                msg = {"role": "user", "content": turn.text}
                if turn.images:
                    msg["images"] = _images(turn.images, notes)
                messages.append(msg)
        elif isinstance(turn, AssistantTurn):
            msg = {"role": "assistant", "content": turn.text}
            if any(r.data for r in turn.reasoning):
                notes.dropped("redacted_thinking (only Anthropic can read it)")
            if turn.thinking:
                msg["thinking"] = "\n\n".join(turn.thinking)
            if turn.tool_calls:
                msg["tool_calls"] = [
                    {"id": c.id, "function": {"index": i, "name": c.name, "arguments": c.input}}
                    for i, c in enumerate(turn.tool_calls)
                ]
            messages.append(msg)  # even empty: the roles keep alternating

    body: dict[str, Any] = {"model": model, "messages": messages, "stream": req.stream}
    tools = req.offered(options.deferred_tools)
    choice = (req.tool_choice or {}).get("type")
    if tools and choice == "none":
        notes.converted("tool_choice none: tools not sent (Ollama has no tool_choice)")
        tools = []
    elif choice in ("any", "tool"):
        notes.dropped(f"tool_choice {choice} (Ollama cannot force a tool call; sent as auto)")
    if (req.tool_choice or {}).get("disable_parallel_tool_use"):
        notes.dropped("disable_parallel_tool_use (Ollama has no such switch)")
    if tools:
        body["tools"] = [
            {"type": "function", "function": {
                "name": t["name"], "description": t["description"], "parameters": t["input_schema"]}}
            for t in tools
        ]

    opts: dict[str, Any] = {}
    raw = req.raw
    if req.max_tokens is not None:
        opts["num_predict"] = _clamp(req.max_tokens, options, notes)
    for key in ("temperature", "top_p", "top_k"):
        if raw.get(key) is not None:
            opts[key] = raw[key]
    if raw.get("stop_sequences"):
        opts["stop"] = list(raw["stop_sequences"])
    estimate = req.estimated_input_tokens
    if options.num_ctx:
        opts["num_ctx"] = options.num_ctx
        if estimate > options.num_ctx:
            notes.warning(f"prompt is ≈{estimate} tokens but num_ctx={options.num_ctx}: Ollama will "
                          f"silently drop the oldest messages; raise --set num_ctx")
    elif estimate > OLLAMA_SMALL_DEFAULT_CTX:
        notes.warning(f"num_ctx not set: Ollama's default context (4k–32k by VRAM) may silently "
                      f"truncate this ≈{estimate}-token prompt; set --set num_ctx=65536")
    if opts:
        body["options"] = opts

    think = _think(req, options, model)
    if think is not None:
        body["think"] = think
    return body


def _clamp(max_tokens: int, options: TranslateOptions, notes: Notes) -> int:
    if options.max_tokens_limit and max_tokens > options.max_tokens_limit:
        notes.converted(f"max_tokens {max_tokens} clamped to {options.max_tokens_limit}")
        return options.max_tokens_limit
    return max_tokens


#: Ollama's thinking levels for models that take levels instead of on/off (gpt-oss).
_LEVELS = {"low": "low", "medium": "medium", "high": "high", "max": "high", "xhigh": "high", "minimal": "low"}


def _think(req: AnthropicRequest, options: TranslateOptions, model: str) -> bool | str | None:
    """Ollama's ``think``. A model whose /api/show capabilities lack "thinking" is never sent one:
    Ollama answers any truthy ``think`` with 400 "does not support thinking". gpt-oss takes levels
    only (booleans are ignored; docs/capabilities/thinking.mdx): Claude Code's effort or thinking
    budget becomes the level."""
    mode = options.think
    notes = req.notes
    caps = options.capabilities
    if caps is not None and "thinking" not in caps:
        if mode in ("on", "low", "medium", "high"):
            notes.dropped(f"think={mode}: {model!r} has no thinking capability (Ollama /api/show), and Ollama "
                          f"answers 400 to a model asked to think that cannot", rule="think:unsupported")
        return None
    if options.think_levels:
        if mode in ("low", "medium", "high"):
            return mode
        disabled = mode == "off" or bool(req.thinking and req.thinking.get("type") == "disabled")
        if disabled:
            notes.converted(f"thinking off: {model!r} cannot stop thinking (Ollama takes levels only for it); "
                            f"sent the lowest level", rule="think:level")
            return "low"
        level = _LEVELS.get(req.effort or "", "medium" if mode == "on" else None)
        if level is not None:
            notes.converted(f"Claude Code's effort {req.effort or 'on'!r} sent as Ollama think level {level!r}",
                            rule="think:level")
        return level
    if mode == "on":
        return True
    if mode == "off":
        return False
    if mode in ("low", "medium", "high"):
        return mode
    # auto: never send think:true (a non-thinking model answers 400); thinking
    # models think by default, so only a client that disabled thinking matters.
    if req.thinking and req.thinking.get("type") == "disabled":
        return False
    return None


def _stop_reason(done_reason: str | None, tool_calls: int) -> str:
    if tool_calls:
        return "tool_use"
    if done_reason == "length":
        return "max_tokens"
    return "end_turn"


def _emit_message(emit: Emitter, message: dict[str, Any]) -> bytes:
    out = b""
    thinking = message.get("thinking")
    if thinking:
        out += emit.thinking(thinking)
    content = message.get("content")
    if content:
        out += emit.text(content)
    for call in message.get("tool_calls") or ():
        if not isinstance(call, dict):
            continue
        fn = call.get("function") or {}
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            out += emit.flush() + emit.nameless(fn.get("arguments"))
            continue
        out += emit.flush() + emit.tool(call.get("id"), name, fn.get("arguments"))
    return out


def _usage_checks(data: dict[str, Any], notes: Notes, num_ctx: int, estimate: int) -> None:
    prompt = data.get("prompt_eval_count")
    if isinstance(prompt, int) and num_ctx and prompt >= num_ctx - 16:
        notes.warning(f"Ollama evaluated {prompt} prompt tokens with num_ctx={num_ctx}: the prompt "
                      f"was probably truncated; raise --set num_ctx")
    elif isinstance(prompt, int) and estimate > 2 * prompt + 512 and not data.get("prompt_eval_cached_count"):
        notes.warning(f"Ollama evaluated only {prompt} prompt tokens of an estimated {estimate}: the "
                      f"prompt was probably truncated by its context window; set --set num_ctx")


def ollama_response(data: dict[str, Any], *, model: str, input_tokens: int = 0,
                    notes: Notes | None = None, num_ctx: int = 0, tools: list[dict[str, Any]] | None = None,
                    repair: bool = True) -> dict[str, Any]:
    """A non-streaming ``/api/chat`` answer as an Anthropic ``Message``."""
    t = OllamaStreamTranslator(num_ctx=num_ctx, model=model, input_tokens=input_tokens, notes=notes, tools=tools,
                               repair=repair)
    t.take_whole(data)
    return t.encoder.message()


def ollama_usage(data: dict[str, Any]) -> BackendUsage:
    """The final chunk's metrics (docs/api/usage.mdx; durations in nanoseconds). Since Ollama's
    PR #17943 ``prompt_eval_count`` is the whole prompt and ``prompt_eval_cached_count`` the part
    read from the cache; ``prompt_eval_duration`` covers only what was evaluated."""
    total, cached = data.get("prompt_eval_count"), data.get("prompt_eval_cached_count")
    usage = BackendUsage.counts("ollama", prompt=total, cached=cached, output=data.get("eval_count"))
    evaluated = usage.prompt_tokens - (usage.cached_tokens or 0) if usage.prompt_tokens is not None else None
    return usage.timings(load_ns=data.get("load_duration"), prompt_n=evaluated,
                         prompt_ns=data.get("prompt_eval_duration"), decode_n=data.get("eval_count"),
                         decode_ns=data.get("eval_duration"))


def _context_length(info: Any) -> int | None:
    if not isinstance(info, dict):
        return None
    for key, value in info.items():
        if key.endswith(".context_length") and isinstance(value, int) and value > 0:
            return value
    return None


def _loaded_context(ps: Any, model: str) -> int | None:
    """``GET /api/ps``: the context a loaded model runs with (``context_length``, api/types.go
    ProcessModelResponse)."""
    if not isinstance(ps, dict) or not isinstance(ps.get("models"), list):
        return None
    names = {model, f"{model}:latest"}
    for m in ps["models"]:
        if isinstance(m, dict) and (m.get("name") in names or m.get("model") in names):
            n = m.get("context_length")
            return n if isinstance(n, int) and n > 0 else None
    return None


class OllamaForm(NdjsonForm):
    """Ollama's native API: ``POST /api/chat``, NDJSON when streaming."""

    name = "ollama"
    label = "Ollama"
    reasks = True
    parallel_env = "OLLAMA_NUM_PARALLEL"
    stream_type = "application/x-ndjson"
    stream_marker = "json"  # application/x-ndjson, application/ndjson
    expected = "Ollama JSON or NDJSON"
    models_path = "/api/tags"
    start_hint = "start it with `ollama serve`"
    default_url = "http://127.0.0.1:11434"
    sizes_context = True

    def chat_path(self, base_path: str = "", *, model: str = "", stream: bool = False) -> str:
        return "/api/chat"

    def build_request(self, req: AnthropicRequest, *, model: str, options: TranslateOptions,
                      names: ToolNames | None) -> dict[str, Any]:
        return ollama_request(req, model=model, options=options)

    def stream_processor(self, ctx: TranslateContext) -> StreamProcessor:
        return OllamaStreamTranslator(num_ctx=ctx.options.num_ctx, repair=ctx.options.repair, model=ctx.model,
                                      backend_model=ctx.backend_model, backend=ctx.backend,
                                      input_tokens=ctx.input_tokens, notes=ctx.notes, tools=ctx.tools)

    def whole_response(self, data: dict[str, Any], ctx: TranslateContext) -> dict[str, Any]:
        return ollama_response(data, model=ctx.model, input_tokens=ctx.input_tokens, notes=ctx.notes,
                               num_ctx=ctx.options.num_ctx, tools=ctx.tools, repair=ctx.options.repair)

    def missing_model_fix(self, model: str) -> str:
        return f"run `ollama pull {model}`"

    def constrained(self, body: dict[str, Any], *, tool: str | None, server: str | None = None,
                    text: bool = False) -> tuple[dict[str, Any], str] | None:
        """Ollama's ``format`` with a JSON schema (docs: "Structured outputs"): the output is held to it
        and comes back as the content — Ollama has no ``tool_choice``, the schema is the pin. The tools
        stay offered: the prompt (and its cache) is the first attempt's."""
        schema = constraint(body.get("tools") or [], tool, text=text)
        if schema is None:
            return None
        out = {**body, "format": schema}
        if not text:
            out["stream"] = False
        return out, "format json schema"

    def discover(self, model: str, *, options: TranslateOptions, base_path: str = "") -> DiscoverySteps:
        """``POST /api/show`` (``model_info.<arch>.context_length``, ``capabilities``, docs/api.md) and
        ``GET /api/ps`` (a loaded model's ``context_length``). Ollama caps ``num_ctx`` at the trained
        length (llm/server.go: "requested context size too large for model"), so with ``num_ctx``
        set the window is the smaller of the two; without it, the loaded model's context, or at
        most the trained length when it is not loaded yet."""
        show, ps = yield [Probe("show", "POST", base_path + "/api/show", {"model": model}),
                          Probe("ps", "GET", base_path + "/api/ps")]
        return ollama_facts(model, show, ps, num_ctx=options.num_ctx)

    def read_usage(self, data: dict[str, Any]) -> BackendUsage | None:
        return ollama_usage(data)

    def prefix_sections(self, body: dict[str, Any]) -> tuple[list[tuple[str, Any]], Any]:
        opts = body.get("options") or {}
        # A num_ctx change reloads the model (server/sched.go): the cache is gone whatever follows.
        return chat_sections(body, {"model": body.get("model"), "num_ctx": opts.get("num_ctx"),
                                    "think": body.get("think")})

    def model_names(self, listing: Any) -> list[str] | None:
        if isinstance(listing, dict) and isinstance(listing.get("models"), list):
            return [str(m.get("name") or m.get("model")) for m in listing["models"]
                    if isinstance(m, dict) and (m.get("name") or m.get("model"))]
        return None


OLLAMA = OllamaForm()


def ollama_facts(model: str, show: Answer, ps: Answer, *, num_ctx: int = 0) -> ModelFacts:
    data = show.data if show.ok and isinstance(show.data, dict) else {}
    trained = _context_length(data.get("model_info"))
    caps = data.get("capabilities")
    capabilities = tuple(str(c) for c in caps) if isinstance(caps, list) else None
    details = as_object(data.get("details"))
    arch = as_object(data.get("model_info")).get("general.architecture")
    levels = details.get("family") in ("gptoss", "gpt-oss") or arch in ("gptoss", "gpt-oss")
    facts = ModelFacts(model, trained=trained, capabilities=capabilities, think_levels=levels,
                       server="ollama" if show.status else None)
    if num_ctx:
        if trained and num_ctx > trained:
            return facts.with_window(trained, f"num_ctx {num_ctx:,} capped by Ollama at the trained "
                                              f"{trained:,} (ollama /api/show)")
        return facts.with_window(num_ctx, "num_ctx (--set num_ctx)")
    loaded = _loaded_context(ps.data if ps.ok else None, model)
    if loaded:
        return facts.with_window(loaded, "ollama /api/ps (the loaded model's context)")
    if trained:
        return facts.with_window(trained, "ollama /api/show (trained length; num_ctx not set, so Ollama's "
                                          "default context may be smaller)", provisional=True)
    return facts


class OllamaStreamTranslator(StreamTranslator):
    """Ollama NDJSON chunks → Anthropic SSE. Blank lines (keep-alives) → ``ping``."""

    form = OLLAMA

    def __init__(self, *, num_ctx: int = 0, **kw: Any) -> None:
        super().__init__(**kw)
        self._lines = LineDecoder()
        self._num_ctx = num_ctx
        self._estimate = self.encoder.input_tokens

    def feed(self, chunk: bytes) -> bytes:
        blanks = self._lines.blank_lines
        lines = self._lines.decode(chunk)
        out = b"".join([self._line(line) for line in lines]) if lines else b""
        if self._lines.blank_lines != blanks:
            out += self.encoder.ping()
        return out

    def flush(self) -> bytes:
        out = b"".join([self._line(line) for line in self._lines.flush()])
        return out + self._cut()

    def interrupt(self, reason: str) -> bytes:
        self._lines.flush()  # a half line is not garbage, just cut: it stays in the recording only
        return self._cut(reason)

    def take_whole(self, data: dict[str, Any]) -> None:
        emit = self.emit
        _emit_message(emit, data.get("message") or {})
        emit.flush(truncated=data.get("done_reason") == "length")
        _usage_checks(data, self.notes, self._num_ctx, self._estimate)
        self.usage = ollama_usage(data)
        emit.finish(_stop_reason(data.get("done_reason"), self.encoder.tool_calls), self.usage)

    def _reasked(self, data: dict[str, Any], pinned: str | None) -> tuple[str | None, Any, str, BackendUsage | None]:
        message = as_object(data.get("message"))
        usage = ollama_usage(data)
        if data.get("done_reason") == "length":
            return None, None, "done_reason length", usage
        return read_reasked_message(message, pinned, usage)

    def _line(self, line: bytes) -> bytes:
        if self.finished:
            return b""
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError:
            return self._garbage(line)
        if not isinstance(data, dict):
            return self._garbage(line)
        self.events_in += 1
        if "error" in data:
            return self._backend_error(int(data.get("status") or 500), data)
        out = _emit_message(self.emit, data.get("message") or {}) if self.encoder.started else \
            self.encoder.start() + _emit_message(self.emit, data.get("message") or {})
        if data.get("done"):
            out += self.emit.flush(truncated=data.get("done_reason") == "length")
            _usage_checks(data, self.notes, self._num_ctx, self._estimate)
            self.usage = ollama_usage(data)
            out += self.emit.finish(_stop_reason(data.get("done_reason"), self.encoder.tool_calls), self.usage)
        return out
