"""Incremental byte-stream decoders (httpx shape: ``decode(chunk)`` / ``flush()``).

Both decoders accept arbitrary byte splits: a multi-byte UTF-8 character, a
``\\r\\n`` pair or an event may be cut anywhere between two ``decode`` calls.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["LineDecoder", "SSEDecoder", "ServerSentEvent"]


class ServerSentEvent(NamedTuple):
    """One dispatched server-sent event; ``comment`` is set for ``:`` lines instead. (A named
    tuple: one is made per event of every stream, and a frozen dataclass costs five setattrs.)"""

    event: str | None = None
    data: str = ""
    id: str | None = None
    retry: int | None = None
    comment: str | None = None

    @property
    def name(self) -> str:
        return self.event or "message"


class _Lines:
    """Split bytes into complete lines on ``\\n``, ``\\r\\n`` or ``\\r``."""

    __slots__ = ("_buf", "_cr")

    def __init__(self) -> None:
        self._buf = b""
        self._cr = False  # the last chunk ended in \r: a leading \n is its pair

    def split(self, chunk: bytes) -> list[bytes]:
        if self._cr and chunk:
            self._cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        buf = self._buf + chunk if self._buf else chunk
        if b"\r" in buf:
            if buf[-1:] == b"\r":
                self._cr = True
                buf = _normalize(buf[:-1]) + b"\n"
            else:
                buf = _normalize(buf)
        lines = buf.split(b"\n")
        self._buf = lines.pop()
        return lines

    def flush(self) -> list[bytes]:
        rest, self._buf, self._cr = self._buf, b"", False
        return [rest] if rest else []


def _normalize(buf: bytes) -> bytes:
    return buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


class LineDecoder:
    """NDJSON framing: ``decode(bytes) -> list[bytes]`` of complete, non-blank lines."""

    __slots__ = ("_lines", "blank_lines")

    def __init__(self) -> None:
        self._lines = _Lines()
        #: Blank lines seen so far (the relay's keep-alive marker for NDJSON).
        self.blank_lines = 0

    def decode(self, chunk: bytes) -> list[bytes]:
        return self._keep(self._lines.split(chunk))

    def flush(self) -> list[bytes]:
        return self._keep(self._lines.flush())

    def _keep(self, lines: list[bytes]) -> list[bytes]:
        out = []
        for line in lines:
            if line.strip():
                out.append(line)
            else:
                self.blank_lines += 1
        return out


class SSEDecoder:
    """``text/event-stream`` per the WHATWG grammar: ``decode(bytes) -> list[ServerSentEvent]``.

    Comment lines (``: ...``) are returned as events with ``comment`` set when
    ``comments=True``; they carry keep-alives from backends and from our relay.
    """

    __slots__ = ("_lines", "_event", "_data", "_id", "_retry", "_comments")

    def __init__(self, *, comments: bool = False) -> None:
        self._lines = _Lines()
        self._comments = comments
        self._reset()

    def _reset(self) -> None:
        self._event: str | None = None
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: int | None = None

    def decode(self, chunk: bytes) -> list[ServerSentEvent]:
        return self._process(self._lines.split(chunk))

    def flush(self) -> list[ServerSentEvent]:
        events = self._process(self._lines.flush())
        if self._data:
            # The stream ended without the blank line that dispatches the last
            # event: hand over what arrived, the caller decides if it is whole.
            events.append(self._dispatch())
        self._reset()
        return events

    def _dispatch(self) -> ServerSentEvent:
        data = self._data
        sse = ServerSentEvent(self._event, data[0] if len(data) == 1 else "\n".join(data), self._id, self._retry)
        self._event = self._id = self._retry = None
        self._data = []
        return sse

    def _process(self, lines: list[bytes]) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        for raw in lines:
            if not raw:
                if self._data:
                    events.append(self._dispatch())
                else:
                    self._reset()
                continue
            if raw[:6] == b"data: ":  # the common case, fast
                self._data.append(raw[6:].decode("utf-8", "replace"))
                continue
            line = raw.decode("utf-8", "replace")
            if line[0] == ":":
                if self._comments:
                    events.append(ServerSentEvent(comment=line[1:].lstrip(" ")))
                continue
            field, sep, value = line.partition(":")
            if sep and value[:1] == " ":
                value = value[1:]
            if field == "data":
                self._data.append(value)
            elif field == "event":
                self._event = value
            elif field == "id" and "\0" not in value:
                self._id = value
            elif field == "retry" and value.isdigit():
                self._retry = int(value)
        return events
