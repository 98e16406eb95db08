"""What every backend → Anthropic stream translator shares."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from ._anthropic import MessageStreamEncoder
from ._errors import GatewayError
from ._facts import BackendUsage
from ._form import StreamResult
from ._json import unclosed
from ._notes import Notes
from ._textcalls import Marker, Segment, TextCallDetector, Thinking
from ._tools import ToolNames, parse_arguments, tool_use_id
from ._validate import check_arguments

if TYPE_CHECKING:
    from ._form import BackendForm

__all__ = ["Emitter", "StreamTranslator", "encoder_usage"]


def encoder_usage(enc: MessageStreamEncoder) -> dict[str, int]:
    """The usage the client was told, the cache fields only when the backend reported them."""
    usage = {"input_tokens": enc.input_tokens, "output_tokens": enc.output_tokens or 0}
    if enc.cache_read is not None:
        usage["cache_read_input_tokens"] = enc.cache_read
    if enc.cache_creation is not None:
        usage["cache_creation_input_tokens"] = enc.cache_creation
    return usage


class Emitter:
    """Content into the encoder: text through the text-call detector, tool calls through
    argument parsing, repair and the schema check. One path for streaming and not.

    A call whose arguments the model never finished — the answer hit the token limit inside it,
    the stream ended inside it, a string or bracket is left open — is never sent as a call: it is
    kept in ``cut`` and ``finish`` ends the answer the way Anthropic ends one cut inside a tool
    call (its block left open, ``stop_reason: max_tokens``). Closing what the model did not close
    would be choosing a value for it."""

    def __init__(self, encoder: MessageStreamEncoder, notes: Notes, *, tools: list[dict[str, Any]] | None = None,
                 repair: bool = True, names: ToolNames | None = None) -> None:
        self.enc = encoder
        self.notes = notes
        self.repair = repair
        self.names = names
        self.schemas = {t["name"]: t.get("input_schema") for t in tools or []}
        # The model prints the names it was shown: the shortened ones for OpenAI-form servers.
        shown = set(self.schemas) | ({names.outgoing(n) for n in self.schemas} if names is not None else set())
        self.detector = TextCallDetector(shown) if repair else None
        #: Calls cut before their arguments were finished: ``(id, name, partial arguments)``.
        self.cut: list[tuple[str, str, str]] = []
        self._ids: set[str] = set()

    def text(self, text: str) -> bytes:
        if self.detector is None:
            return self.enc.text(text)
        return b"".join([self._segment(seg) for seg in self.detector.feed(text)])

    def flush(self, *, truncated: bool = False) -> bytes:
        """What the detector holds. ``truncated``: the answer hit the token limit, so a call still
        open is not a call the model finished."""
        if self.detector is None:
            return b""
        return b"".join([self._segment(seg) for seg in self.detector.flush(truncated=truncated)])

    def finish(self, stop_reason: str, usage: BackendUsage | None = None, *,
               stop_sequence: str | None = None) -> bytes:
        """The end of the answer: ``max_tokens`` with the first cut call left open when a call was
        cut (the others are in the notes), else ``stop_reason``."""
        enc = self.enc
        cut = self.cut[0] if self.cut else None
        if cut is not None:
            stop_reason, stop_sequence = "max_tokens", None
        if usage is None:
            return enc.finish(stop_reason, stop_sequence=stop_sequence, cut_call=cut)
        return enc.finish(stop_reason, stop_sequence=stop_sequence, input_tokens=usage.input_tokens,
                          output_tokens=usage.output_tokens, cache_read=usage.cached_tokens,
                          cache_creation=usage.cache_write_tokens, cut_call=cut)

    def _segment(self, seg: Segment) -> bytes:
        if isinstance(seg, str):
            return self.enc.text(seg)
        if isinstance(seg, Thinking):
            return self.enc.thinking(seg.text)
        if isinstance(seg, Marker):
            what = "a <think> block" if seg.what == "think-tag" else f"harmony channel markup {seg.raw!r}"
            self.notes.converted(f"the model printed {what} as text; sent as "
                                 f"{'thinking' if seg.what == 'think-tag' or 'analysis' in seg.raw else 'text'}",
                                 rule=f"text-markup:{seg.what}")
            return b""
        name = self.names.incoming(seg.name) if self.names is not None else seg.name
        if seg.cut:
            return self.cut_call(None, name, seg.raw, "the answer ended inside the call the model printed "
                                                      f"as text ({seg.shape})", rule="text-call:cut")
        excerpt = seg.raw if len(seg.raw) <= 80 else seg.raw[:80] + "…"
        self.notes.repaired(f"{name}: the model printed the call as text ({seg.shape}) {excerpt!r}; "
                            f"sent as a tool call", rule=f"text-call:{seg.shape}")
        if seg.unclosed:
            self.notes.warning(f"{name}: the printed call's wrapper was never closed ({seg.shape}); every value "
                               f"in it was, so it was taken as complete", rule="text-call:unclosed")
        return self.tool(None, name, seg.arguments, mapped=True)

    def cut_call(self, call_id: Any, name: str, partial: str, why: str, *, rule: str = "tool-call:cut") -> bytes:
        """A call the model never finished: noted, kept for ``finish``, never sent as a call."""
        excerpt = partial if len(partial) <= 120 else partial[:120] + "…"
        self.notes.warning(f"{name}: cut before its arguments were finished ({why}): {excerpt!r}; not sent "
                           f"as a call — Claude Code is told the answer was cut inside a tool call "
                           f"(stop_reason max_tokens) and runs nothing of it", rule=rule)
        self.cut.append((self._unique_id(call_id), name, partial if rule == "tool-call:cut" else ""))
        return b""

    def tool(self, call_id: Any, name: str, raw_args: Any, *, mapped: bool = False, cut: str | None = None) -> bytes:
        """A call as the backend sent it. ``cut``: why the caller knows it was never finished."""
        if self.names is not None and not mapped:
            name = self.names.incoming(name)
        if cut is None and isinstance(raw_args, str) and unclosed(raw_args):
            cut = "its arguments end inside a string, object or array the model never closed"
        elif cut is None and (raw_args is None or (isinstance(raw_args, str) and not raw_args.strip())):
            required = (self.schemas.get(name) or {}).get("required")
            if required:  # {} is a reading only for a tool that needs nothing
                cut = f"no arguments arrived, and the tool requires {', '.join(map(str, required))[:80]}"
        if cut is not None:
            text = raw_args if isinstance(raw_args, str) else "" if raw_args is None else \
                orjson.dumps(raw_args).decode()
            return self.cut_call(call_id, name, text, cut)
        args = parse_arguments(raw_args, name=name, notes=self.notes, repair=self.repair)
        if self.schemas:
            if name in self.schemas:
                args = check_arguments(name, args, self.schemas[name], self.notes, fix=self.repair)
            else:
                self.notes.error(f"{name}: the model called a tool that was not offered "
                                 f"(offered: {', '.join(sorted(self.schemas))[:200]})", rule="tool:unknown")
        return self.enc.tool_use(self._unique_id(call_id), name, args)

    def _unique_id(self, call_id: Any) -> str:
        """The backend's id (sanitised), or a new one when it is missing or already used in this
        answer: Claude Code pairs each result with its call by id."""
        tool_id = tool_use_id(call_id)
        if tool_id in self._ids:
            self.notes.converted(f"tool call id {tool_id!r} used twice in one answer: the second call got "
                                 f"its own", rule="tool-call:duplicate-id")
            tool_id = tool_use_id(None)
        self._ids.add(tool_id)
        return tool_id


class StreamTranslator:
    """``feed(bytes) -> bytes`` of Anthropic SSE, ``flush() -> bytes`` at end of input.

    Correct for any split of the input bytes. After an error the translator is
    finished: further input is recorded by the caller but produces no output.
    Implements ``StreamProcessor`` (see ``_form.py``).
    """

    #: The backend form this translator reads (set by each subclass).
    form: BackendForm

    def __init__(
        self,
        *,
        model: str,
        backend_model: str | None = None,
        backend: str = "the backend",
        input_tokens: int = 0,
        notes: Notes | None = None,
        tools: list[dict[str, Any]] | None = None,
        repair: bool = True,
        names: ToolNames | None = None,
    ) -> None:
        self.encoder = MessageStreamEncoder(model=model, input_tokens=input_tokens)
        self.model = model
        self.backend_model = backend_model or model
        self.backend = backend
        self.notes = notes if notes is not None else Notes()
        self.emit = Emitter(self.encoder, self.notes, tools=tools, repair=repair, names=names)
        self.error: GatewayError | None = None
        self.events_in = 0
        #: True when the input ended before the backend said it was done.
        self.cut = False
        #: What the backend said about tokens, cache and timings (its final chunk).
        self.usage: BackendUsage | None = None

    @property
    def finished(self) -> bool:
        return self.encoder.finished

    @property
    def answering(self) -> bool:
        return self.encoder.answering

    def feed(self, chunk: bytes) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    def flush(self) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    def keepalive(self) -> bytes:
        """``message_start`` (once) and a ``ping``: the client hears something during a silence."""
        return self.encoder.ping()

    def interrupt(self, reason: str) -> bytes:
        """The backend's body broke off: a partial line or event held is dropped (it is in the
        recording), the client gets what was decided and a clean ``error`` event."""
        return self._cut(reason)

    def fail(self, err: GatewayError) -> bytes:
        return self._fail(err)

    def use_input_count(self, tokens: int) -> None:
        if not self.encoder.started:
            self.encoder.input_tokens = tokens

    def result(self) -> StreamResult:
        enc = self.encoder
        usage = None
        if enc.finished and enc.stop_reason:
            usage = encoder_usage(enc)
        calls = [{"name": b["name"], "id": b["id"], "input": b["input"]}
                 for b in enc.content if b.get("type") == "tool_use"]
        return StreamResult(message_id=enc.id if enc.started else None, stop_reason=enc.stop_reason,
                            usage=usage, tool_calls=calls, backend=self.usage)

    def message(self) -> dict[str, Any] | None:
        enc = self.encoder
        return enc.message() if enc.finished and enc.stop_reason else None

    # -- shared endings ------------------------------------------------------------------------
    def _fail(self, err: GatewayError) -> bytes:
        if self.encoder.finished:
            return b""
        self.error = err
        self.notes.error(err.message)
        held = self.emit.flush(truncated=True)  # what the detector held still reaches the client, as text
        return held + self.encoder.error(err.type, err.message)

    def _garbage(self, sample: bytes | str) -> bytes:
        return self._fail(self.form.garbage(backend=self.backend, sample=sample))

    def _backend_error(self, status: int, body: object) -> bytes:
        return self._fail(self.form.error(status=status, body=body,  # type: ignore[arg-type]
                                          model=self.backend_model, backend=self.backend))

    def _cut(self, reason: str | None = None) -> bytes:
        if self.encoder.finished:
            return b""
        self.cut = True
        what = "before sending anything" if not self.events_in else \
            f"after {self.events_in} chunks, before it said it was done"
        why = f" ({reason})" if reason else ""
        return self._fail(GatewayError(
            502, "api_error",
            f"the stream from {self.backend} was cut {what}{why}: the backend probably crashed or "
            f"was stopped; what arrived is kept in the recording. Retry the request.", retry=False))
