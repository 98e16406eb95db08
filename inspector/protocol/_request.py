"""Parse a client's Messages API request once, into neutral turns the backends map from.

Everything a backend cannot take is dropped *here*, knowingly, with a note:
``cache_control``, ``output_config``, server tools, Claude Code's billing-header system block,
documents it cannot read. What Anthropic does to a request before its model sees it is done
here too, so a translated backend sees what Claude would: deferred tools stay hidden until a
``tool_reference`` loads them, and ``context_management`` edits are applied (``_context.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from ._context import apply_context_management
from ._notes import Notes
from ._turns import AssistantTurn, Image, Reasoning, SystemTurn, ToolCall, ToolResult, Turn, UserTurn

__all__ = [
    "AnthropicRequest",
    "Endpoint",
    "AssistantTurn",
    "Image",
    "InvalidRequest",
    "SystemTurn",
    "ToolCall",
    "ToolResult",
    "Turn",
    "UserTurn",
    "parse_request",
    "validate_request",
]

#: Top-level fields that only Anthropic understands.
ANTHROPIC_ONLY_FIELDS = (
    "cache_control", "context_management", "output_config", "container", "service_tier",
    "inference_geo", "mcp_servers", "betas",
)
#: Estimated tokens for one image (Anthropic's figure for a ~1.15 MP image).
IMAGE_TOKENS = 1600
BILLING_HEADER_PREFIX = "x-anthropic-billing-header:"


#: Which endpoint a body was sent to: count_tokens takes no ``max_tokens``.
Endpoint = Literal["messages", "count_tokens"]


class InvalidRequest(ValueError):
    """The client's body is not a Messages request: answered with an Anthropic 400."""


@dataclass(slots=True)
class AnthropicRequest:
    raw: dict[str, Any]
    model: str
    stream: bool
    max_tokens: int | None
    system: str
    turns: list[Turn]
    tools: list[dict[str, Any]]
    tool_choice: dict[str, Any] | None
    thinking: dict[str, Any] | None
    estimated_input_tokens: int
    notes: Notes
    #: Tools the request deferred (``defer_loading``) that no ``tool_reference`` has loaded: kept
    #: from the model, as Anthropic keeps them — and the tokens of definitions that saves.
    deferred: list[str] = field(default_factory=list)
    deferred_tokens: int = 0
    #: Every tool, the deferred ones too, in the client's order (``TranslateOptions.deferred_tools``).
    all_tools: list[dict[str, Any]] = field(default_factory=list)

    def offered(self, deferred_tools: str = "hide") -> list[dict[str, Any]]:
        """The tools the backend is shown."""
        return self.all_tools if deferred_tools == "show" and self.deferred else self.tools

    @property
    def tool_names(self) -> set[str]:
        return {t["name"] for t in self.tools}

    @property
    def effort(self) -> str | None:
        """How hard Claude Code asks the model to think: ``output_config.effort`` (low, medium,
        high, max…), else the thinking budget (≤ 1,024 low, ≤ 8,192 medium, more high); None
        when it says neither, or disabled thinking."""
        if self.thinking and self.thinking.get("type") == "disabled":
            return None
        config = self.raw.get("output_config")
        effort = config.get("effort") if isinstance(config, dict) else None
        if isinstance(effort, str) and effort:
            return effort
        if self.thinking and self.thinking.get("type") == "enabled":
            budget = self.thinking.get("budget_tokens") or 0
            return "low" if budget <= 1024 else "medium" if budget <= 8192 else "high"
        return None


def _fail(msg: str) -> InvalidRequest:
    return InvalidRequest(msg)


def load_json_object(body: bytes) -> dict[str, Any]:
    if not body:
        raise _fail("request body is empty: expected a JSON object")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise _fail(f"request body is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise _fail(f"request body must be a JSON object, not {_shown(data)}")
    return data


def _shown(value: Any) -> str:
    """A wrong value as an error message shows it: its JSON type, and the value when short."""
    kind = _JSON_TYPE.get(type(value), type(value).__name__)
    text = orjson.dumps(value, default=str).decode() if not isinstance(value, (dict, list)) else ""
    return f"{kind} {text}" if text and len(text) <= 40 else kind


_JSON_TYPE = {str: "a string", int: "an integer", float: "a number", bool: "a boolean", type(None): "null",
              dict: "an object", list: "a list"}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _need(ok: bool, where: str, what: str, value: Any) -> None:
    if not ok:
        raise _fail(f"{where}: must be {what}, not {_shown(value)}")


def _optional(data: dict[str, Any], key: str, check: Any, what: str, where: str = "") -> None:
    """``data[key]``, when present and not null, passes ``check`` (a type or a predicate)."""
    value = data.get(key)
    if value is None:
        return
    ok = isinstance(value, check) and not (check is not bool and isinstance(value, bool)) \
        if isinstance(check, type) else check(value)
    _need(ok, where + key, what, value)


def _string_list(value: Any, where: str) -> None:
    _need(isinstance(value, list), where, "a list of strings", value)
    for k, item in enumerate(value):
        _need(isinstance(item, str), f"{where}.{k}", "a string", item)


#: ``tool_choice.type`` and ``thinking.type`` the Messages API defines.
TOOL_CHOICES = ("auto", "any", "tool", "none")
THINKING_TYPES = ("enabled", "disabled", "adaptive")


def _check_top(data: dict[str, Any]) -> None:
    """The request's own fields, checked once here (blocks are checked as they are walked).

    The rules are the Messages API's request shape (MessageCreateParams), with two kinds of
    leniency, both deliberate: an optional field may be ``null`` (as if absent), and a field
    or block type the API adds later passes (and is dropped with a note) as long as it is
    well-formed — Claude Code moves faster than this gateway.
    """
    model = data.get("model")
    if not isinstance(model, str) or not model:
        wrong = "" if model is None else f", not {_shown(model)}"
        raise _fail(f"model: field required (a non-empty string){wrong}")
    messages = data.get("messages")
    if not isinstance(messages, list):
        wrong = "" if messages is None else f", not {_shown(messages)}"
        raise _fail(f"messages: field required (a list of messages){wrong}")
    max_tokens = data.get("max_tokens")
    if max_tokens is not None and (not _is_int(max_tokens) or max_tokens < 1):
        raise _fail(f"max_tokens: must be a positive integer, not {_shown(max_tokens)}")
    _optional(data, "stream", bool, "true or false")
    for key in ("temperature", "top_p"):
        _optional(data, key, _is_number, "a number")
    _optional(data, "top_k", lambda v: _is_int(v) and v >= 0, "a non-negative integer")
    if data.get("stop_sequences") is not None:
        _string_list(data["stop_sequences"], "stop_sequences")
    metadata = data.get("metadata")
    if metadata is not None:
        _need(isinstance(metadata, dict), "metadata", "an object", metadata)
        _optional(metadata, "user_id", str, "a string", "metadata.")
    tool_choice = data.get("tool_choice")
    if tool_choice is not None:
        _need(isinstance(tool_choice, dict), "tool_choice", "an object", tool_choice)
        kind = tool_choice.get("type")
        _need(kind in TOOL_CHOICES, "tool_choice.type", "one of " + ", ".join(map(repr, TOOL_CHOICES)), kind)
        if kind == "tool":
            _need(isinstance(tool_choice.get("name"), str) and bool(tool_choice.get("name")), "tool_choice.name",
                  "the name of a tool (a string)", tool_choice.get("name"))
        _optional(tool_choice, "disable_parallel_tool_use", bool, "true or false", "tool_choice.")
    thinking = data.get("thinking")
    if thinking is not None:
        _need(isinstance(thinking, dict), "thinking", "an object", thinking)
        kind = thinking.get("type")
        _need(kind in THINKING_TYPES, "thinking.type", "one of " + ", ".join(map(repr, THINKING_TYPES)), kind)
        if kind == "enabled":
            _need(_is_int(thinking.get("budget_tokens")) and thinking["budget_tokens"] >= 0,
                  "thinking.budget_tokens", "a non-negative integer", thinking.get("budget_tokens"))
    for key in ("output_config", "context_management"):
        _optional(data, key, dict, "an object")


def validate_request(body: bytes | dict[str, Any], *, endpoint: Endpoint = "messages") -> dict[str, Any]:
    """The body as a dict when it is a well-formed Messages (or count_tokens) request.

    Raises ``InvalidRequest`` naming the field, exactly as ``parse_request`` does (it is
    ``parse_request`` with the result thrown away): for a passthrough that forwards the
    body as it is but must refuse the same requests a translating gateway refuses."""
    data = body if isinstance(body, dict) else load_json_object(body)
    parse_request(data, endpoint=endpoint)
    return data


def parse_request(body: bytes | dict[str, Any], *, notes: Notes | None = None,
                  endpoint: Endpoint = "messages") -> AnthropicRequest:
    """Validate and normalise a ``POST /v1/messages`` (or ``/v1/messages/count_tokens``) body.
    Raises ``InvalidRequest``."""
    notes = notes if notes is not None else Notes()
    data = body if isinstance(body, dict) else load_json_object(body)
    size = len(body) if isinstance(body, bytes) else len(orjson.dumps(body))

    _check_top(data)
    model = data["model"]
    messages = data["messages"]
    max_tokens = data.get("max_tokens")
    stream = bool(data.get("stream"))

    for key in ANTHROPIC_ONLY_FIELDS:
        if key in data and key != "context_management":
            notes.dropped(f"{key} (Anthropic-only)")
    if "metadata" in data:
        notes.dropped("metadata")

    ctx = _Walker(notes)
    system = ctx.system_text(data.get("system"), where="system")
    turns: list[Turn] = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise _fail(f"messages.{i}: must be a message (an object with role and content), not {_shown(msg)}")
        role = msg.get("role")
        content = msg.get("content")
        if role not in ("user", "assistant", "system"):
            raise _fail(f"messages.{i}.role: must be 'user', 'assistant' or 'system', not {_shown(role)}")
        if len(msg) > 2:
            for key in msg.keys() - {"role", "content"}:
                notes.dropped(f"message field {key}")
        if isinstance(content, str):
            blocks: list[Any] = [{"type": "text", "text": content}]
        elif isinstance(content, list):
            blocks = content
        else:
            raise _fail(f"messages.{i}.content: field required (a string or a list of content blocks)"
                        + ("" if content is None else f", not {_shown(content)}"))
        if role == "user":
            turns.append(ctx.user_turn(blocks, i))
        elif role == "assistant":
            turns.append(ctx.assistant_turn(blocks, i))
        else:
            text = ctx.system_text(blocks, where=f"messages.{i}.content")
            if text:
                turns.append(SystemTurn(text))

    tool_choice = data.get("tool_choice")
    chosen = tool_choice.get("name") if isinstance(tool_choice, dict) else None
    tools, all_tools, deferred, deferred_bytes = ctx.tools(data.get("tools"), chosen=chosen)
    if endpoint == "messages" and max_tokens is None:
        # Anthropic answers 400 "max_tokens: Field required"; count_tokens takes none.
        raise _fail("max_tokens: field required (a positive integer: how many tokens the answer may use)")
    thinking = data.get("thinking")
    estimate = max(1, (size - ctx.image_bytes) // 4 + IMAGE_TOKENS * ctx.images)
    if "context_management" in data:
        turns = apply_context_management(turns, data.get("context_management"), estimate, notes)
    return AnthropicRequest(
        raw=data, model=model, stream=stream, max_tokens=max_tokens, system=system, turns=turns,
        tools=tools, tool_choice=tool_choice, thinking=thinking if isinstance(thinking, dict) else None,
        estimated_input_tokens=estimate, notes=notes, deferred=deferred, deferred_tokens=deferred_bytes // 4,
        all_tools=all_tools,
    )


class _Where:
    """``messages.I.content.J``, formatted only when an error needs it (the common case never does)."""

    __slots__ = ("i", "j")

    def __init__(self, i: int, j: int) -> None:
        self.i, self.j = i, j

    def __str__(self) -> str:
        return f"messages.{self.i}.content.{self.j}"

    def __format__(self, spec: str) -> str:
        return str(self)


def _block_type(block: Any, where: object) -> str:
    if not isinstance(block, dict):
        raise _fail(f"{where}: must be a content block (an object with a type), not {_shown(block)}")
    kind = block.get("type")
    if not isinstance(kind, str) or not kind:
        raise _fail(f"{where}.type: field required (a string naming the block type)"
                    + ("" if kind is None else f", not {_shown(kind)}"))
    return kind


def _text_field(block: dict[str, Any], key: str, where: object) -> str:
    text = block.get(key)
    if not isinstance(text, str):
        raise _fail(f"{where}.{key}: field required (a string){'' if text is None else ', not ' + _shown(text)}")
    return text


def _source(block: dict[str, Any], where: object) -> dict[str, Any]:
    source = block.get("source")
    if not isinstance(source, dict):
        raise _fail(f"{where}.source: field required (an object with a type)"
                    + ("" if source is None else f", not {_shown(source)}"))
    kind = source.get("type")
    if not isinstance(kind, str):
        raise _fail(f"{where}.source.type: field required (a string)"
                    + ("" if kind is None else f", not {_shown(kind)}"))
    if kind in ("base64", "text"):
        _text_field(source, "data", f"{where}.source")
        _optional(source, "media_type", str, "a string", f"{where}.source.")
    elif kind == "url":
        _text_field(source, "url", f"{where}.source")
    return source


def _check_block(block: dict[str, Any], kind: str, where: object) -> None:
    """The shape of a known block type met where it is dropped (an image in an assistant turn…):
    malformed is malformed wherever it is."""
    if kind == "text":
        _text_field(block, "text", where)
    elif kind in ("image", "document"):
        _source(block, where)
        if kind == "document":
            _optional(block, "title", str, "a string", f"{where}.")
    elif kind == "tool_use":
        _text_field(block, "id", where)
        _text_field(block, "name", where)
        _optional(block, "input", dict, "an object", f"{where}.")
    elif kind == "tool_result":
        _Walker(Notes()).tool_result(block, where)
    elif kind == "thinking":
        _text_field(block, "thinking", where)
        _optional(block, "signature", str, "a string", f"{where}.")
    elif kind == "redacted_thinking":
        _text_field(block, "data", where)


class _Walker:
    """Walks content blocks once: checks their shape, collects notes and image statistics."""

    def __init__(self, notes: Notes) -> None:
        self.notes = notes
        self.tool_names_by_id: dict[str, str] = {}
        self.images = 0
        self.image_bytes = 0
        #: Tools a ``tool_reference`` block loaded (what Claude Code's ToolSearch answers with).
        self.loaded: set[str] = set()

    def system_text(self, system: Any, *, where: str) -> str:
        if system is None:
            return ""
        if isinstance(system, str):
            return system
        if not isinstance(system, list):
            raise _fail(f"{where}: must be a string or a list of text blocks, not {_shown(system)}")
        texts = []
        for k, block in enumerate(system):
            kind = _block_type(block, f"{where}.{k}")
            if "cache_control" in block:
                self.notes.dropped("cache_control")
            if kind == "text":
                text = _text_field(block, "text", f"{where}.{k}")
                if text.startswith(BILLING_HEADER_PREFIX):
                    self.notes.dropped("Claude Code's billing-header system block (it changes per "
                                       "request and would defeat the backend's prompt cache)")
                    continue
                texts.append(text)
            else:
                _check_block(block, kind, f"{where}.{k}")
                self.notes.dropped(f"{kind} block in system")
        return "\n\n".join(texts)

    def image(self, block: dict[str, Any], where: object) -> Image | None:
        source = _source(block, where)
        kind = source["type"]
        if kind == "base64":
            data = source["data"]
            if data.startswith("data:"):
                data = data.partition(",")[2]
            self.images += 1
            self.image_bytes += len(data)
            return Image(media_type=source.get("media_type") or "image/png", data=data)
        if kind == "url":
            self.images += 1
            return Image(media_type="", url=source["url"])
        self.notes.dropped(f"image with source type {kind!r}")
        return None

    def _text_of(self, block: dict[str, Any], kind: str, where: object) -> str | None:
        if kind == "text":
            return _text_field(block, "text", where)
        if kind == "document":
            source = _source(block, where)
            _optional(block, "title", str, "a string", f"{where}.")
            if source["type"] == "text":
                title = block.get("title")
                body = source["data"]
                return f"[document: {title}]\n{body}" if title else body
            self.notes.dropped(f"document with {source['type']} source (backend cannot read it)")
            media = source.get("media_type") or "binary"
            return f"[a {media} document was attached but could not be sent]"
        return None

    def user_turn(self, blocks: list[Any], i: int) -> UserTurn:
        turn = UserTurn()
        for j, block in enumerate(blocks):
            if type(block) is dict and block.get("type") == "text" and type(block.get("text")) is str:
                text = block["text"]  # the common case first, checked without building a path
                if "cache_control" in block:
                    self.notes.dropped("cache_control")
                if text:
                    turn.texts.append(text)
                continue
            where = _Where(i, j)
            kind = _block_type(block, where)
            if "cache_control" in block:
                self.notes.dropped("cache_control")
            if kind == "tool_result":
                turn.tool_results.append(self.tool_result(block, where))
            elif kind == "image":
                image = self.image(block, where)
                if image:
                    turn.add_image(image)
            else:
                text = self._text_of(block, kind, where)
                if text is not None:
                    if text:
                        turn.texts.append(text)
                else:
                    _check_block(block, kind, where)
                    self.notes.dropped(f"{kind} block in a user message")
        return turn

    def tool_result(self, block: dict[str, Any], where: object) -> ToolResult:
        tool_use_id = block.get("tool_use_id")
        if not isinstance(tool_use_id, str):
            raise _fail(f"{where}.tool_use_id: field required (a string)"
                        + ("" if tool_use_id is None else f", not {_shown(tool_use_id)}"))
        _optional(block, "is_error", bool, "true or false", f"{where}.")
        content = block.get("content")
        texts: list[str] = []
        images: list[Image] = []
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            for k, part in enumerate(content):
                at = f"{where}.content.{k}"
                kind = _block_type(part, at)
                if "cache_control" in part:
                    self.notes.dropped("cache_control")
                if kind == "image":
                    image = self.image(part, at)
                    if image:
                        images.append(image)
                elif kind == "tool_reference":
                    texts.append(self.tool_reference(part, at))
                else:
                    text = self._text_of(part, kind, at)
                    if text is not None:
                        texts.append(text)
                    else:
                        _check_block(part, kind, at)
                        self.notes.dropped(f"{kind} block in a tool_result")
        elif content is not None:
            raise _fail(f"{where}.content: must be a string or a list of content blocks, not {_shown(content)}")
        return ToolResult(
            tool_use_id=tool_use_id, name=self.tool_names_by_id.get(tool_use_id),
            text="\n".join(texts), images=images, is_error=bool(block.get("is_error")),
        )

    def tool_reference(self, block: dict[str, Any], where: object) -> str:
        """``{"type": "tool_reference", "tool_name": …}``: Anthropic shows the model the tool's
        definition from here on; the backend gets the definition in its tools and this line."""
        name = _text_field(block, "tool_name", where)
        self.loaded.add(name)
        return f"[tool {name} loaded: it can be called now]"

    def assistant_turn(self, blocks: list[Any], i: int) -> AssistantTurn:
        turn = AssistantTurn()
        for j, block in enumerate(blocks):
            where = _Where(i, j)
            kind = _block_type(block, where)
            if "cache_control" in block:
                self.notes.dropped("cache_control")
            if kind == "text":
                text = _text_field(block, "text", where)
                if text:
                    turn.texts.append(text)
                    turn.parts.append(text)
            elif kind == "tool_use":
                tool_id, name = _text_field(block, "id", where), _text_field(block, "name", where)
                tool_input = block.get("input")
                if tool_input is None:
                    tool_input = {}
                elif not isinstance(tool_input, dict):
                    raise _fail(f"{where}.input: must be an object, not {_shown(tool_input)}")
                self.tool_names_by_id[tool_id] = name
                turn.tool_calls.append(ToolCall(tool_id, name, tool_input))
                turn.parts.append(turn.tool_calls[-1])
            elif kind == "thinking":
                thinking = _text_field(block, "thinking", where)
                _optional(block, "signature", str, "a string", f"{where}.")
                if thinking:
                    turn.thinking.append(thinking)
                if thinking or block.get("signature"):
                    turn.reasoning.append(Reasoning(thinking, block.get("signature") or ""))
                    turn.parts.append(turn.reasoning[-1])
            elif kind == "redacted_thinking":
                turn.reasoning.append(Reasoning(data=_text_field(block, "data", where)))
                turn.parts.append(turn.reasoning[-1])
            else:
                _check_block(block, kind, where)
                self.notes.dropped(f"{kind} block in an assistant message")
        return turn

    def tools(self, tools: Any, *, chosen: Any = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                                                  list[str], int]:
        """The tools the model is shown, all of them, the deferred ones it is not shown (``defer_loading``
        and no ``tool_reference`` loaded them, nor ``tool_choice`` names them), and their definitions' size."""
        if tools is None:
            return [], [], [], 0
        if not isinstance(tools, list):
            raise _fail(f"tools: must be a list of tool definitions, not {_shown(tools)}")
        out = []
        every: list[dict[str, Any]] = []
        hidden: list[str] = []
        hidden_bytes = 0
        for k, tool in enumerate(tools):
            if not isinstance(tool, dict):
                raise _fail(f"tools.{k}: must be a tool definition (an object with a name), not {_shown(tool)}")
            name = tool.get("name")
            if not isinstance(name, str) or not name:
                raise _fail(f"tools.{k}.name: field required (a non-empty string)"
                            + ("" if name is None else f", not {_shown(name)}"))
            kind = tool.get("type")
            if kind is not None and not isinstance(kind, str):
                raise _fail(f"tools.{k}.type: must be a string, not {_shown(kind)}")
            if kind not in (None, "custom"):
                self.notes.dropped(f"server tool {name} ({kind}): only Anthropic runs it")
                continue
            schema = tool.get("input_schema")
            if not isinstance(schema, dict):
                raise _fail(f"tools.{k}.input_schema: field required (a JSON Schema object)"
                            + ("" if schema is None else f", not {_shown(schema)}"))
            _optional(tool, "description", str, "a string", f"tools.{k}.")
            if "cache_control" in tool:
                self.notes.dropped("cache_control")
            for key in ("strict", "eager_input_streaming", "input_examples"):
                if key in tool:
                    self.notes.dropped(f"tool field {key}")
            _optional(tool, "defer_loading", bool, "true or false", f"tools.{k}.")
            every.append({"name": name, "description": tool.get("description") or "", "input_schema": schema})
            if tool.get("defer_loading") and name not in self.loaded and name != chosen:
                hidden.append(name)
                hidden_bytes += len(orjson.dumps(tool))
                continue
            if tool.get("defer_loading"):
                self.notes.converted(f"deferred tool {name} shown to the model: a tool_reference loaded it",
                                     rule="tools:loaded")
            out.append(every[-1])
        if hidden:
            self.notes.converted(f"{len(hidden)} deferred tool{'s' if len(hidden) > 1 else ''} kept from the model "
                                 f"until a tool_reference loads {'them' if len(hidden) > 1 else 'it'}, as Anthropic "
                                 f"does (≈{hidden_bytes // 4:,} tokens of tool definitions saved): "
                                 f"{', '.join(hidden)[:200]}", rule="tools:deferred")
        return out, every, hidden, hidden_bytes
