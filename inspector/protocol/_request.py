"""Parse a client's Messages API request once, into neutral turns the backends map from.

Everything a backend cannot take is dropped *here*, knowingly, with a note:
``cache_control``, ``context_management``, ``output_config``, server tools,
Claude Code's billing-header system block, documents it cannot read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from ._notes import Notes

__all__ = [
    "AnthropicRequest",
    "AssistantTurn",
    "Image",
    "InvalidRequest",
    "SystemTurn",
    "ToolCall",
    "ToolResult",
    "Turn",
    "UserTurn",
    "parse_request",
]

#: Top-level fields that only Anthropic understands.
ANTHROPIC_ONLY_FIELDS = (
    "cache_control", "context_management", "output_config", "container", "service_tier",
    "inference_geo", "mcp_servers", "betas",
)
#: Estimated tokens for one image (Anthropic's figure for a ~1.15 MP image).
IMAGE_TOKENS = 1600
BILLING_HEADER_PREFIX = "x-anthropic-billing-header:"


class InvalidRequest(ValueError):
    """The client's body is not a Messages request: answered with an Anthropic 400."""


@dataclass(slots=True)
class Image:
    media_type: str
    data: str | None = None  # base64, no data: prefix
    url: str | None = None


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    input: dict[str, Any]


@dataclass(slots=True)
class ToolResult:
    tool_use_id: str
    name: str | None
    text: str
    images: list[Image] = field(default_factory=list)
    is_error: bool = False


@dataclass(slots=True)
class SystemTurn:
    text: str


@dataclass(slots=True)
class UserTurn:
    texts: list[str] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    tool_results: list[ToolResult] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n\n".join(self.texts)


@dataclass(slots=True)
class AssistantTurn:
    texts: list[str] = field(default_factory=list)
    thinking: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n\n".join(self.texts)


Turn = SystemTurn | UserTurn | AssistantTurn


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

    @property
    def tool_names(self) -> set[str]:
        return {t["name"] for t in self.tools}


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
        raise _fail(f"request body must be a JSON object, not {type(data).__name__}")
    return data


def parse_request(body: bytes | dict[str, Any], *, notes: Notes | None = None) -> AnthropicRequest:
    """Validate and normalise a ``POST /v1/messages`` body. Raises ``InvalidRequest``."""
    notes = notes if notes is not None else Notes()
    data = body if isinstance(body, dict) else load_json_object(body)
    size = len(body) if isinstance(body, bytes) else len(orjson.dumps(body))

    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise _fail("model: field required (a string)")
    messages = data.get("messages")
    if not isinstance(messages, list):
        raise _fail("messages: field required (a list of messages)")
    max_tokens = data.get("max_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool)
                                   or max_tokens < 1):
        raise _fail("max_tokens: must be a positive integer")
    stream = bool(data.get("stream", False))

    for key in ANTHROPIC_ONLY_FIELDS:
        if key in data:
            notes.dropped(f"{key} (Anthropic-only)")
    if "metadata" in data:
        notes.dropped("metadata")

    ctx = _Walker(notes)
    system = ctx.system_text(data.get("system"), where="system")
    turns: list[Turn] = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise _fail(f"messages.{i}: must be an object with role and content")
        role = msg.get("role")
        content = msg.get("content")
        if len(msg) > 2:
            for key in msg.keys() - {"role", "content"}:
                notes.dropped(f"message field {key}")
        if isinstance(content, str):
            blocks: list[Any] = [{"type": "text", "text": content}]
        elif isinstance(content, list):
            blocks = content
        else:
            raise _fail(f"messages.{i}.content: must be a string or a list of content blocks")
        if role == "user":
            turns.append(ctx.user_turn(blocks, i))
        elif role == "assistant":
            turns.append(ctx.assistant_turn(blocks, i))
        elif role == "system":
            text = ctx.system_text(blocks, where=f"messages.{i}")
            if text:
                turns.append(SystemTurn(text))
        else:
            raise _fail(f"messages.{i}.role: must be 'user', 'assistant' or 'system', not {role!r}")

    tools = ctx.tools(data.get("tools"))
    tool_choice = data.get("tool_choice")
    if tool_choice is not None and not isinstance(tool_choice, dict):
        raise _fail("tool_choice: must be an object")
    thinking = data.get("thinking")
    estimate = max(1, (size - ctx.image_bytes) // 4 + IMAGE_TOKENS * ctx.images)
    return AnthropicRequest(
        raw=data, model=model, stream=stream, max_tokens=max_tokens, system=system, turns=turns,
        tools=tools, tool_choice=tool_choice, thinking=thinking if isinstance(thinking, dict) else None,
        estimated_input_tokens=estimate, notes=notes,
    )


class _Where:
    """``messages.I.content.J``, formatted only when an error needs it."""

    __slots__ = ("i", "j")

    def __init__(self, i: int, j: int) -> None:
        self.i, self.j = i, j

    def __str__(self) -> str:
        return f"messages.{self.i}.content.{self.j}"

    def __format__(self, spec: str) -> str:
        return str(self)


class _Walker:
    """Walks content blocks, collecting notes and image statistics."""

    def __init__(self, notes: Notes) -> None:
        self.notes = notes
        self.tool_names_by_id: dict[str, str] = {}
        self.images = 0
        self.image_bytes = 0

    def system_text(self, system: Any, *, where: str) -> str:
        if system is None:
            return ""
        if isinstance(system, str):
            return system
        if not isinstance(system, list):
            raise _fail(f"{where}: must be a string or a list of text blocks")
        texts = []
        for block in system:
            if not isinstance(block, dict):
                raise _fail(f"{where}: blocks must be objects")
            if "cache_control" in block:
                self.notes.dropped("cache_control")
            if block.get("type") == "text":
                text = block.get("text", "")
                if not isinstance(text, str):
                    raise _fail(f"{where}: text must be a string")
                if text.startswith(BILLING_HEADER_PREFIX):
                    self.notes.dropped("Claude Code's billing-header system block (it changes per "
                                       "request and would defeat the backend's prompt cache)")
                    continue
                texts.append(text)
            else:
                self.notes.dropped(f"{block.get('type')} block in system")
        return "\n\n".join(texts)

    def image(self, block: dict[str, Any]) -> Image | None:
        source = block.get("source") or {}
        kind = source.get("type")
        if kind == "base64":
            data = source.get("data") or ""
            if data.startswith("data:"):
                data = data.partition(",")[2]
            self.images += 1
            self.image_bytes += len(data)
            return Image(media_type=source.get("media_type") or "image/png", data=data)
        if kind == "url":
            self.images += 1
            return Image(media_type="", url=source.get("url"))
        self.notes.dropped(f"image with source type {kind!r}")
        return None

    def _text_of(self, block: dict[str, Any], where: object) -> str | None:
        kind = block.get("type")
        if kind == "text":
            text = block.get("text", "")
            if not isinstance(text, str):
                raise _fail(f"{where}: text must be a string")
            return text
        if kind == "document":
            source = block.get("source") or {}
            if source.get("type") == "text":
                title = block.get("title")
                body = source.get("data", "")
                return f"[document: {title}]\n{body}" if title else body
            self.notes.dropped(f"document with {source.get('type')} source (backend cannot read it)")
            return f"[a {source.get('media_type', 'binary')} document was attached but could not be sent]"
        return None

    def user_turn(self, blocks: list[Any], i: int) -> UserTurn:
        turn = UserTurn()
        for j, block in enumerate(blocks):
            if not isinstance(block, dict):
                raise _fail(f"{_Where(i, j)}: must be an object")
            if "cache_control" in block:
                self.notes.dropped("cache_control")
            kind = block.get("type")
            if kind == "text":  # the common case first
                text = block.get("text", "")
                if not isinstance(text, str):
                    raise _fail(f"{_Where(i, j)}: text must be a string")
                if text:
                    turn.texts.append(text)
                continue
            where = _Where(i, j)
            if kind == "tool_result":
                turn.tool_results.append(self.tool_result(block, where))
            elif kind == "image":
                image = self.image(block)
                if image:
                    turn.images.append(image)
            else:
                text = self._text_of(block, where)
                if text is not None:
                    if text:
                        turn.texts.append(text)
                else:
                    self.notes.dropped(f"{kind} block in a user message")
        return turn

    def tool_result(self, block: dict[str, Any], where: object) -> ToolResult:
        tool_use_id = block.get("tool_use_id")
        if not isinstance(tool_use_id, str):
            raise _fail(f"{where}.tool_use_id: field required")
        content = block.get("content")
        texts: list[str] = []
        images: list[Image] = []
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            for part in content:
                if not isinstance(part, dict):
                    continue
                if "cache_control" in part:
                    self.notes.dropped("cache_control")
                if part.get("type") == "image":
                    image = self.image(part)
                    if image:
                        images.append(image)
                else:
                    text = self._text_of(part, where)
                    if text is not None:
                        texts.append(text)
                    else:
                        self.notes.dropped(f"{part.get('type')} block in a tool_result")
        return ToolResult(
            tool_use_id=tool_use_id, name=self.tool_names_by_id.get(tool_use_id),
            text="\n".join(texts), images=images, is_error=bool(block.get("is_error")),
        )

    def assistant_turn(self, blocks: list[Any], i: int) -> AssistantTurn:
        turn = AssistantTurn()
        for j, block in enumerate(blocks):
            if not isinstance(block, dict):
                raise _fail(f"{_Where(i, j)}: must be an object")
            if "cache_control" in block:
                self.notes.dropped("cache_control")
            kind = block.get("type")
            where = _Where(i, j)
            if kind == "text":
                text = block.get("text", "")
                if not isinstance(text, str):
                    raise _fail(f"{where}: text must be a string")
                if text:
                    turn.texts.append(text)
            elif kind == "tool_use":
                tool_id, name, tool_input = block.get("id"), block.get("name"), block.get("input")
                if not isinstance(tool_id, str) or not isinstance(name, str):
                    raise _fail(f"{where}: tool_use needs a string id and name")
                if not isinstance(tool_input, dict):
                    tool_input = {} if tool_input is None else {"input": tool_input}
                self.tool_names_by_id[tool_id] = name
                turn.tool_calls.append(ToolCall(tool_id, name, tool_input))
            elif kind == "thinking":
                if block.get("thinking"):
                    turn.thinking.append(block["thinking"])
            elif kind == "redacted_thinking":
                self.notes.dropped("redacted_thinking (only Anthropic can read it)")
            else:
                self.notes.dropped(f"{kind} block in an assistant message")
        return turn

    def tools(self, tools: Any) -> list[dict[str, Any]]:
        if tools is None:
            return []
        if not isinstance(tools, list):
            raise _fail("tools: must be a list")
        out = []
        for k, tool in enumerate(tools):
            if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
                raise _fail(f"tools.{k}: must be an object with a name")
            kind = tool.get("type")
            if kind not in (None, "custom") or "input_schema" not in tool:
                self.notes.dropped(f"server tool {tool['name']} ({kind}): only Anthropic runs it")
                continue
            if "cache_control" in tool:
                self.notes.dropped("cache_control")
            for key in ("strict", "defer_loading", "eager_input_streaming", "input_examples"):
                if key in tool:
                    self.notes.dropped(f"tool field {key}")
            out.append({
                "name": tool["name"],
                "description": tool.get("description") or "",
                "input_schema": tool.get("input_schema") or {"type": "object", "properties": {}},
            })
        return out
