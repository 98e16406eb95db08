"""A conversation as the backends map it: neutral turns, parsed once from a Messages request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["AssistantTurn", "Image", "Reasoning", "SystemTurn", "ToolCall", "ToolResult", "Turn", "UserTurn"]


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
    #: Where each image stood among the texts: how many of them came before it.
    images_after: list[int] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n\n".join(self.texts)

    def parts(self) -> list[str | Image]:
        """Texts and images in the client's order."""
        after = self.images_after if len(self.images_after) == len(self.images) else [len(self.texts)] * len(self.images)
        out: list[str | Image] = []
        k = 0
        for i, text in enumerate(self.texts):
            while k < len(self.images) and after[k] <= i:
                out.append(self.images[k])
                k += 1
            out.append(text)
        out.extend(self.images[k:])
        return out

    def add_image(self, image: Image) -> None:
        self.images.append(image)
        self.images_after.append(len(self.texts))

    def insert_text(self, at: int, text: str, *, ahead_of_images: bool = False) -> None:
        """A text at ``texts[at]``: images after the old ``texts[at]`` stay after it; those just
        before it stay before the new text unless ``ahead_of_images``."""
        self.texts.insert(at, text)
        self.images_after = [a + 1 if a > at or (a == at and ahead_of_images) else a for a in self.images_after]


@dataclass(slots=True)
class Reasoning:
    """A thinking block as the client sent it back — its text and its ``signature`` — or a
    ``redacted_thinking`` block (its opaque ``data``, no text). The backend that wrote it may read
    its own signature again (``_responses``: the reasoning item it stands for)."""

    text: str = ""
    signature: str = ""
    data: str = ""


@dataclass(slots=True)
class AssistantTurn:
    texts: list[str] = field(default_factory=list)
    thinking: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    #: The thinking and redacted_thinking blocks, signatures and all.
    reasoning: list[Reasoning] = field(default_factory=list)
    #: The turn's blocks in the client's order: texts, reasoning, tool calls.
    parts: list[str | Reasoning | ToolCall] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n\n".join(self.texts)


Turn = SystemTurn | UserTurn | AssistantTurn
