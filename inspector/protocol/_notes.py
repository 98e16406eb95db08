"""What a translation did that a person should know about: dropped, converted, repaired, warned."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, NotRequired, TypedDict

__all__ = ["Note", "NoteDict", "Notes", "NoteKind"]

NoteKind = Literal["dropped", "converted", "repaired", "warning", "error"]


class NoteDict(TypedDict):
    """A note as recordings keep it (``exchange.json``'s ``notes``)."""

    kind: str
    message: str
    count: int
    rule: NotRequired[str | None]


@dataclass(slots=True)
class Note:
    kind: NoteKind
    message: str
    count: int = 1
    rule: str | None = None  # machine-readable: "text-call:tool_call-tag", "args:invalid-json", …

    def __str__(self) -> str:
        return self.message if self.count == 1 else f"{self.message} (×{self.count})"

    def as_dict(self) -> NoteDict:
        d: NoteDict = {"kind": self.kind, "message": self.message, "count": self.count}
        if self.rule:
            d["rule"] = self.rule
        return d


@dataclass(slots=True)
class Notes:
    """An ordered, de-duplicated list of notes: the same note twice is counted, not repeated."""

    items: list[Note] = field(default_factory=list)
    _index: dict[tuple[str, str], Note] = field(default_factory=dict, repr=False)

    def add(self, kind: NoteKind, message: str, rule: str | None = None) -> None:
        key = (kind, message)
        note = self._index.get(key)
        if note is None:
            note = self._index[key] = Note(kind, message, rule=rule)
            self.items.append(note)
        else:
            note.count += 1

    def dropped(self, message: str, rule: str | None = None) -> None:
        self.add("dropped", message, rule)

    def converted(self, message: str, rule: str | None = None) -> None:
        self.add("converted", message, rule)

    def repaired(self, message: str, rule: str | None = None) -> None:
        self.add("repaired", message, rule)

    def warning(self, message: str, rule: str | None = None) -> None:
        self.add("warning", message, rule)

    def error(self, message: str, rule: str | None = None) -> None:
        self.add("error", message, rule)

    def extend(self, other: Notes) -> None:
        """``other``'s notes added here, in order, their counts kept."""
        for n in other.items:
            key = (n.kind, n.message)
            mine = self._index.get(key)
            if mine is None:
                self._index[key] = mine = Note(n.kind, n.message, 0, n.rule)
                self.items.append(mine)
            mine.count += n.count

    @property
    def errors(self) -> int:
        """How many error notes were made (each repeat counted)."""
        return sum(n.count for n in self.items if n.kind == "error")

    def of(self, kind: NoteKind) -> list[Note]:
        return [n for n in self.items if n.kind == kind]

    def __iter__(self) -> Iterator[Note]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def as_list(self) -> list[NoteDict]:
        return [n.as_dict() for n in self.items]
