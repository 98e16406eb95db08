"""What every backend → Anthropic stream translator shares."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from ._anthropic import MessageStreamEncoder
from ._errors import GatewayError
from ._facts import BackendUsage
from ._form import StreamResult
from ._json import unclosed
from ._notes import Notes
from ._reask import REASONS, Reask, ReaskReason, sum_usage
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
    would be choosing a value for it.

    With the re-ask rung open (``reask``, see ``_reask.py``), the first call that neither parses nor
    can be repaired — or that the token limit cut — is not sent: it is *held*, with everything the
    answer says after it, and ``finish`` is held too (``parked``). The gateway then asks again;
    ``resume`` sends the re-asked call in its place and ends the answer, ``give_up`` sends what
    was held exactly as it would have gone without the rung. Text before the call has gone out as
    it came."""

    def __init__(self, encoder: MessageStreamEncoder, notes: Notes, *, tools: list[dict[str, Any]] | None = None,
                 repair: bool = True, names: ToolNames | None = None, reask: bool = False) -> None:
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
        #: The re-ask rung is open: a call that fails parse and repair is held for a second attempt.
        self.reask_on = reask
        #: What the held answer needs asked again (None: nothing held).
        self.reask: Reask | None = None
        #: The answer's end, held while the re-ask runs: ``(stop_reason, usage, stop_sequence)``.
        self.parked: tuple[str, BackendUsage | None, str | None] | None = None
        #: The held call's notes (what broke), and the call as it is sent without a re-ask.
        self.held_notes = Notes()
        self._fallback: Callable[[], bytes] | None = None
        #: What the answer said after the held call, in order: sent after the call, whichever it is.
        self._after: list[Callable[[], bytes]] = []
        self._replaying = False
        #: Why the re-ask's answer was no better (``resume`` returned None).
        self.reask_failed = ""
        #: A call the answer must make though it made none: ``(reason, tool)`` (``expect``).
        self._expected: tuple[ReaskReason, str | None] | None = None
        #: The answer's text, gathered whole: the first attempt was constrained to a call or a text
        #: answer (``{"name", "arguments"}`` or ``{"text"}``, ``--set reask=always``), read at the end.
        self._envelope: list[str] | None = None

    # -- the re-ask rung -------------------------------------------------------------------------
    def expect(self, reason: ReaskReason, tool: str | None) -> None:
        """An answer without a tool call needs a re-ask: the request required one (``required``), or
        the backend's template shows the model no tool (``unseen-tools``)."""
        self._expected = (reason, tool)

    def enveloped(self) -> None:
        """The answer is one JSON object, a call or a text answer (``_reask.any_tool_schema(text=True)``):
        its text is gathered and read at the end."""
        self._envelope = []

    def _open_envelope(self, stop_reason: str) -> tuple[bytes, str]:
        """What the enveloped answer said: its text, or its call (then the stop reason is tool_use); what
        is not such an object (a server that did not keep to the constraint) goes on as the model wrote it."""
        text, self._envelope = "".join(self._envelope or ()), None
        try:
            value: Any = orjson.loads(text)
        except orjson.JSONDecodeError:
            value = None
        if isinstance(value, dict) and isinstance(value.get("text"), str) and set(value) == {"text"}:
            self.notes.converted("the answer was constrained to a call or a text answer (--set reask=always): it "
                                 "answered in text", rule="reask:enveloped")
            return self.enc.text(value["text"]), stop_reason
        if isinstance(value, dict) and isinstance(value.get("name"), str) and value["name"] and "arguments" in value:
            self.notes.converted("the answer was constrained to a call or a text answer (--set reask=always): it "
                                 "called a tool", rule="reask:enveloped")
            out = self.tool(None, value["name"], value["arguments"])
            return out, "tool_use" if stop_reason in ("end_turn", "stop_sequence") else stop_reason
        return self.text(text) + self.flush(truncated=stop_reason == "max_tokens"), stop_reason

    @property
    def holding(self) -> bool:
        return self.reask is not None and not self._replaying

    def _hold(self, reask: Reask, fallback: Callable[[], bytes]) -> bytes:
        self.reask = reask
        self._fallback = fallback
        return b""

    def _later(self, send: Callable[[], bytes]) -> bytes:
        self._after.append(send)
        return b""

    def resume(self, name: str | None, raw_args: Any, usage: BackendUsage | None, *, how: str,
               mapped: bool = False) -> bytes | None:
        """The re-ask's answer: its call (``name`` as the backend wrote it; None: it made none) in
        place of the held one, then what came after it, then the end — usage the sum of both
        attempts. None, nothing sent, when the re-asked call is no better (why in ``reask_failed``):
        then ``give_up``."""
        reask, parked = self.reask, self.parked
        assert reask is not None and parked is not None
        if name is None:
            self.reask_failed = "the re-ask's answer holds no call"
            return None
        if self.names is not None and not mapped:
            name = self.names.incoming(name)
        scratch = Notes()
        args, cut = self._judge(name, raw_args, scratch, cut=None)
        if args is None or scratch.errors:
            self.reask_failed = f"the re-ask's call was cut too ({cut})" if args is None else \
                "the re-ask's call is no better: " + "; ".join(n.message for n in scratch if n.kind == "error")[:300]
            return None
        if self.schemas and name not in self.schemas:
            self.reask_failed = f"the re-ask called {name!r}, which was not offered"
            return None
        self.notes.extend(scratch)
        first = ", ".join(sorted({n.rule for n in self.held_notes if n.rule and n.kind == "error"}))
        self.notes.repaired(f"{name}: re-asked ({how}) — {REASONS[reask.reason]}"
                            f"{f' ({first})' if first else ''}; the re-ask's call is valid and was sent in its "
                            f"place", rule=f"reask:{reask.reason}")
        self.notes.converted("usage is the sum of both attempts (the first answer and the re-ask): what the "
                             "backend spent on this answer", rule="reask:usage-summed")
        out = self.enc.tool_use(self._unique_id(None), name, args)
        return out + self._replay() + self._finish_now("tool_use", usage, None)

    def give_up(self, why: str, usage: BackendUsage | None = None) -> bytes:
        """No re-ask, or it failed (``why``): the held call as it goes without the rung (with the
        notes it made), what came after it, and the end. ``usage``: both attempts' when a re-ask ran."""
        parked = self.parked
        assert parked is not None
        self.notes.extend(self.held_notes)
        if why:
            self.notes.warning(why, rule="reask:failed")
        fallback, self._fallback = self._fallback, None
        self._replaying = True
        out = fallback() if fallback is not None else b""
        out += self._replay()
        stop, first_usage, sequence = parked
        if self.enc.tool_calls and stop in ("end_turn", "stop_sequence"):
            stop, sequence = "tool_use", None
        return out + self._finish_now(stop, usage if usage is not None else first_usage, sequence)

    def _replay(self) -> bytes:
        self._replaying = True
        after, self._after = self._after, []
        return b"".join([send() for send in after])

    # -- content ---------------------------------------------------------------------------------
    def text(self, text: str) -> bytes:
        if self._envelope is not None:
            self._envelope.append(text)
            return b""
        detector = self.detector
        if detector is None or detector.passes(text):
            return self._later(lambda: self.enc.text(text)) if self.holding else self.enc.text(text)
        segments = detector.feed(text)
        if len(segments) == 1 and type(segments[0]) is str and not self.holding:  # text, as it came
            return self.enc.text(segments[0])
        return b"".join([self._segment(seg) for seg in segments])

    def thinking(self, text: str) -> bytes:
        return self._later(lambda: self.enc.thinking(text)) if self.holding else self.enc.thinking(text)

    def flush(self, *, truncated: bool = False) -> bytes:
        """What the detector holds. ``truncated``: the answer hit the token limit, so a call still
        open is not a call the model finished."""
        if self.detector is None:
            return b""
        return b"".join([self._segment(seg) for seg in self.detector.flush(truncated=truncated)])

    def finish(self, stop_reason: str, usage: BackendUsage | None = None, *,
               stop_sequence: str | None = None) -> bytes:
        """The end of the answer: ``max_tokens`` with the first cut call left open when a call was
        cut (the others are in the notes), else ``stop_reason``. Held (``parked``) while a call
        waits for its re-ask — or while an answer that had to call made no call."""
        if self.enc.finished or self.parked is not None:
            return b""
        out = b""
        if self._envelope is not None:
            out, stop_reason = self._open_envelope(stop_reason)
        if (self.reask is None and self._expected is not None and self.reask_on and not self.enc.tool_calls
                and not self.cut and not self.enc.cut_call and stop_reason != "refusal"):
            reason, tool = self._expected
            self.reask = Reask(reason, tool, "the answer has no tool call")
        if self.reask is not None:
            self.parked = (stop_reason, usage, stop_sequence)
            return out
        return out + self._finish_now(stop_reason, usage, stop_sequence)

    def _finish_now(self, stop_reason: str, usage: BackendUsage | None, stop_sequence: str | None) -> bytes:
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
        if self.holding and not isinstance(seg, Marker):
            return self._later(lambda: self._segment(seg))
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
            why = f"the answer ended inside the call the model printed as text ({seg.shape})"
            if self._may_reask():  # its note is made when it is sent: none when the re-ask works
                return self._hold(Reask("cut", name, why),
                                  lambda: self.cut_call(None, name, seg.raw, why, rule="text-call:cut"))
            return self.cut_call(None, name, seg.raw, why, rule="text-call:cut")
        excerpt = seg.raw if len(seg.raw) <= 80 else seg.raw[:80] + "…"
        notes = Notes()
        notes.repaired(f"{name}: the model printed the call as text ({seg.shape}) {excerpt!r}; "
                       f"sent as a tool call", rule=f"text-call:{seg.shape}")
        if seg.unclosed:
            notes.warning(f"{name}: the printed call's wrapper was never closed ({seg.shape}); every value "
                          f"in it was, so it was taken as complete", rule="text-call:unclosed")
        return self.tool(None, name, seg.arguments, mapped=True, notes=notes)

    def cut_call(self, call_id: Any, name: str, partial: str, why: str, *, rule: str = "tool-call:cut") -> bytes:
        """A call the model never finished: noted, kept for ``finish``, never sent as a call."""
        excerpt = partial if len(partial) <= 120 else partial[:120] + "…"
        self.notes.warning(f"{name}: cut before its arguments were finished ({why}): {excerpt!r}; not sent "
                           f"as a call — Claude Code is told the answer was cut inside a tool call "
                           f"(stop_reason max_tokens) and runs nothing of it", rule=rule)
        self.cut.append((self._unique_id(call_id), name, partial if rule == "tool-call:cut" else ""))
        return b""

    def nameless(self, args: Any) -> bytes:
        """A call without a name: no tool can be run from it — the re-ask asks for one of the tools."""
        if self.holding:
            return self._later(lambda: self.nameless(args))
        message = (f"a tool call without a name (arguments {str(args)[:80]!r}) was dropped: no tool can be run "
                   f"from it")
        if self._may_reask():
            self.held_notes.error(message, rule="tool-call:nameless")
            return self._hold(Reask("nameless", None, "the call names no tool"), lambda: b"")
        self.notes.error(message, rule="tool-call:nameless")
        return b""

    def _may_reask(self) -> bool:
        return self.reask_on and self.reask is None and not self._replaying

    def tool(self, call_id: Any, name: str, raw_args: Any, *, mapped: bool = False, cut: str | None = None,
             notes: Notes | None = None) -> bytes:
        """A call as the backend sent it. ``cut``: why the caller knows it was never finished.
        ``notes``: what was already said about it (a call printed as text)."""
        if self.holding:
            return self._later(lambda: self.tool(call_id, name, raw_args, mapped=mapped, cut=cut, notes=notes))
        if self.names is not None and not mapped:
            name = self.names.incoming(name)
        scratch = notes if notes is not None else Notes()
        args, cut = self._judge(name, raw_args, scratch, cut=cut)
        held = self._may_reask()
        if args is None:
            assert cut is not None
            partial = raw_args if isinstance(raw_args, str) else "" if raw_args is None else \
                orjson.dumps(raw_args).decode()
            if held:  # its note is made when it is sent: none when the re-ask works
                self.held_notes.extend(scratch)
                return self._hold(Reask("cut", name, cut),
                                  lambda: self.cut_call(call_id, name, partial, cut))
            self.notes.extend(scratch)
            return self.cut_call(call_id, name, partial, cut)
        if held and scratch.errors:
            unknown = bool(self.schemas) and name not in self.schemas
            rules = {n.rule for n in scratch if n.kind == "error"}
            reason: ReaskReason = "unknown-tool" if unknown else "unparsable" if "args:unparsable" in rules else "schema"
            detail = next((n.message for n in scratch if n.kind == "error"), "")
            self.held_notes.extend(scratch)
            return self._hold(Reask(reason, None if unknown else name, detail),
                              lambda: self.enc.tool_use(self._unique_id(call_id), name, args))
        self.notes.extend(scratch)
        return self.enc.tool_use(self._unique_id(call_id), name, args)

    def _judge(self, name: str, raw_args: Any, notes: Notes, *, cut: str | None) -> tuple[Any, str | None]:
        """``(arguments after parse and repair, None)`` — each problem left an error in ``notes`` —
        or ``(None, why)`` for a call that was never finished."""
        if cut is None and isinstance(raw_args, str) and unclosed(raw_args):
            cut = "its arguments end inside a string, object or array the model never closed"
        elif cut is None and (raw_args is None or (isinstance(raw_args, str) and not raw_args.strip())):
            required = (self.schemas.get(name) or {}).get("required")
            if required:  # {} is a reading only for a tool that needs nothing
                cut = f"no arguments arrived, and the tool requires {', '.join(map(str, required))[:80]}"
        if cut is not None:
            return None, cut
        args = parse_arguments(raw_args, name=name, notes=notes, repair=self.repair)
        if self.schemas:
            if name in self.schemas:
                args = check_arguments(name, args, self.schemas[name], notes, fix=self.repair)
            else:
                notes.error(f"{name}: the model called a tool that was not offered "
                            f"(offered: {', '.join(sorted(self.schemas))[:200]})", rule="tool:unknown")
        return args, None

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
        """Nothing more is read: the answer ended, or its end is held for a re-ask."""
        return self.encoder.finished or self.emit.parked is not None

    @property
    def answering(self) -> bool:
        return self.encoder.answering

    def feed(self, chunk: bytes) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    def flush(self) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    def take_whole(self, data: dict[str, Any]) -> None:  # pragma: no cover - abstract
        """A whole (non-streamed) answer, read as the stream is: ``message()`` afterwards."""
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

    # -- the re-ask rung (``_reask.py``) ------------------------------------------------------------
    def arm_reask(self, expect: tuple[ReaskReason, str | None] | None = None, *, enveloped: bool = False) -> None:
        """Open the re-ask rung (before the first byte is fed): a call that fails parse and repair is
        held, and the answer's end with it, until ``resume`` or ``give_up``. ``expect``: an answer
        without a call needs a re-ask too (``Emitter.expect``). ``enveloped``: the request was
        constrained to a call or a text answer (``Emitter.enveloped``)."""
        self.emit.reask_on = True
        if expect is not None:
            self.emit.expect(*expect)
        if enveloped:
            self.emit.enveloped()

    @property
    def reask(self) -> Reask | None:
        """What the held answer needs asked again, once its end has come (None: nothing held)."""
        emit = self.emit
        return emit.reask if emit.parked is not None and not self.encoder.finished else None

    def resume(self, data: dict[str, Any], *, how: str) -> bytes | None:
        """The re-ask's whole answer, as the backend sent it: its call in place of the held one and the
        end of the answer, usage the sum of the attempts. None — nothing sent, the answer still held —
        when it is no better (why in ``reask_failed``): another re-ask, or ``give_up``."""
        reask = self.reask
        assert reask is not None
        names = self.emit.names
        pinned = None if reask.tool is None else names.outgoing(reask.tool) if names is not None else reask.tool
        name, args, cut, usage = self._reasked(data, pinned)
        self.usage = sum_usage(self.usage, usage)
        if cut:
            self.emit.reask_failed = f"the re-ask's answer was cut too ({cut})"
            return None
        return self.emit.resume(name, args, self.usage, how=how)

    @property
    def reask_failed(self) -> str:
        """Why the last re-ask's answer was no better."""
        return self.emit.reask_failed

    def give_up(self, why: str, usage: BackendUsage | None = None) -> bytes:
        """No re-ask, or no better one (``why``, for the notes): the held answer as it goes without the
        rung. ``usage``: both attempts' when a re-ask ran."""
        if self.reask is None:
            return b""
        if usage is not None:
            self.usage = usage
        return self.emit.give_up(why, self.usage)

    def _reasked(self, data: dict[str, Any], pinned: str | None) -> tuple[str | None, Any, str, BackendUsage | None]:
        """A re-ask's whole answer as ``(call name, arguments, why it was cut or "", usage)``: the
        constrained content (the pinned tool's arguments, or ``{"name", "arguments"}``) or, from a
        server that enforced the constraint on its tool calls (vLLM), the first tool call."""
        raise NotImplementedError  # pragma: no cover - abstract

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
        if self.finished:
            return b""
        self.cut = True
        what = "before sending anything" if not self.events_in else \
            f"after {self.events_in} chunks, before it said it was done"
        why = f" ({reason})" if reason else ""
        return self._fail(GatewayError(
            502, "api_error",
            f"the stream from {self.backend} was cut {what}{why}: the backend probably crashed or "
            f"was stopped; what arrived is kept in the recording. Retry the request.", retry=False))
