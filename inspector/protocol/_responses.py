"""Anthropic Messages ⇄ OpenAI Responses, ``POST /v1/responses`` (typed server-sent events when streaming).

Served by OpenAI, vLLM, LM Studio, Ollama and llama.cpp's ``llama-server``; the way reasoning models such
as gpt-oss are best driven, because reasoning is an item of the conversation (``type: reasoning``) that
goes back to the model on the next turn.

The request: the system prompt is ``instructions``; each turn becomes input items — user messages
(``input_text``, ``input_image``), the assistant's text (a ``message``), its calls (``function_call``
with ``call_id``), their results (``function_call_output``), and its reasoning (``reasoning`` items).
Tools are flat functions, sent ``strict: false`` (Claude Code's schemas are not strict-mode schemas);
``store: false``: the gateway is stateless and keeps nothing at the backend either.

Reasoning between turns. The gateway keeps no state, so what a reasoning item needs to go back —
its ``id``, its ``encrypted_content``, whether its text was the model's reasoning (``content``) or a
summary of it (``summary``) — travels in the Anthropic thinking block's ``signature``, which Claude
Code keeps and sends back verbatim with the block (``SIGNATURE``: a prefix, then base64url JSON). The
block's text is the reasoning's text. A reasoning item with nothing readable but ``encrypted_content``
becomes a ``redacted_thinking`` block, its ``data`` the same envelope. A thinking block without our
signature (written by another backend, or by Anthropic) cannot be handed to this one: it is left out,
noted.

The answer's event grammar (the ``openai`` SDK's ``ResponseStreamState`` enforces it)::

    response.created response.in_progress?
    ( response.output_item.added
        ( reasoning:     (response.reasoning_summary_part.added response.reasoning_summary_text.delta* …done
                          response.reasoning_summary_part.done)* | response.reasoning_text.delta* …done
        | message:       response.content_part.added (response.output_text.delta* | response.refusal.delta*)
                         response.output_text.done response.content_part.done
        | function_call: response.function_call_arguments.delta* response.function_call_arguments.done )
      response.output_item.done )*
    ( response.completed | response.incomplete | response.failed | error )

llama.cpp's server leaves out ``output_index``/``sequence_number`` and sends every ``output_item.done``
only at the end: items are known here by ``item_id`` first, and a reasoning block is signed when the
next item begins, with what is known by then.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from ._anthropic import MessageStreamEncoder
from ._decoders import ServerSentEvent, SSEDecoder
from ._facts import BackendUsage, CountSteps, DiscoverySteps, ModelFacts, Probe, TokenCount, as_object, count_of
from ._form import BackendForm, StreamProcessor, TranslateContext
from ._notes import Notes
from ._openai import INTERRUPTED, OPENAI, openai_usage
from ._openai import _effort as reasoning_effort
from ._options import DEFAULT_OPTIONS, TranslateOptions
from ._request import AnthropicRequest, AssistantTurn, Image, SystemTurn, ToolCall, UserTurn
from ._stream import Emitter, StreamTranslator
from ._system import merge_system_turns
from ._tools import ToolNames
from ._turns import Reasoning

__all__ = ["RESPONSES", "SIGNATURE", "ResponsesForm", "ResponsesStreamTranslator", "responses_request",
           "responses_response", "responses_usage"]

#: What starts a thinking block's signature written by this form.
SIGNATURE = "inspector-responses-1."
_CUT_AT_LIMIT = "the answer hit max_output_tokens while this call was being written"


# -- reasoning carried in a signature ---------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Carried:
    """A reasoning item, as much of it as must go back to the backend."""

    id: str
    encrypted: str | None = None
    #: Where its text came from: "content" (the model's reasoning) or "summary" (a summary of it).
    via: str = "content"

    def signature(self) -> str:
        data = {"id": self.id, "via": self.via, **({"enc": self.encrypted} if self.encrypted else {})}
        return SIGNATURE + base64.urlsafe_b64encode(orjson.dumps(data)).decode().rstrip("=")

    @classmethod
    def read(cls, signature: str) -> _Carried | None:
        if not signature.startswith(SIGNATURE):
            return None
        raw = signature[len(SIGNATURE):]
        try:
            data = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        except (ValueError, orjson.JSONDecodeError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
            return None
        enc = data.get("enc")
        return cls(data["id"], enc if isinstance(enc, str) and enc else None,
                   "summary" if data.get("via") == "summary" else "content")


def _reasoning_item(block: Reasoning, notes: Notes) -> dict[str, Any] | None:
    carried = _Carried.read(block.signature or block.data)
    if carried is None:
        notes.dropped("a thinking block this backend did not write (another backend's, or Anthropic's): its "
                      "reasoning cannot be handed back as a reasoning item", rule="reasoning:foreign")
        return None
    item: dict[str, Any] = {"type": "reasoning", "id": carried.id, "summary": []}
    if block.text and carried.via == "summary":
        item["summary"] = [{"type": "summary_text", "text": block.text}]
    elif block.text:
        item["content"] = [{"type": "reasoning_text", "text": block.text}]
    if carried.encrypted:
        item["encrypted_content"] = carried.encrypted
    return item


# -- the request ------------------------------------------------------------------------------------
def _image(image: Image) -> dict[str, Any]:
    url = image.url if image.data is None else f"data:{image.media_type};base64,{image.data}"
    return {"type": "input_image", "image_url": url, "detail": "auto"}


def _user(parts: Sequence[str | Image]) -> dict[str, Any]:
    if all(isinstance(p, str) for p in parts):
        return {"role": "user", "content": "\n\n".join(p for p in parts if isinstance(p, str))}
    return {"role": "user", "content": [{"type": "input_text", "text": p} if isinstance(p, str) else _image(p)
                                        for p in parts]}


def responses_request(req: AnthropicRequest, *, model: str, options: TranslateOptions = DEFAULT_OPTIONS,
                      names: ToolNames | None = None) -> dict[str, Any]:
    """The ``/v1/responses`` body for a parsed Anthropic request."""
    notes = req.notes
    names = names if names is not None else ToolNames()
    turns = merge_system_turns(req.turns, notes) if options.system_messages == "merge" else req.turns
    items: list[dict[str, Any]] = []
    pending: list[str] = []  # call ids of the last assistant turn still owed a result

    def settle() -> None:
        for call_id in pending:
            notes.converted("interrupted tool call answered with a placeholder function_call_output")
            items.append({"type": "function_call_output", "call_id": call_id, "output": INTERRUPTED})
        pending.clear()

    for turn in turns:
        if isinstance(turn, SystemTurn):
            settle()
            if options.system_messages in ("inline", "auto"):
                items.append({"role": "system", "content": turn.text})
            else:
                notes.converted("mid-conversation system message sent as a user message")
                items.append({"role": "user", "content": turn.text})
        elif isinstance(turn, UserTurn):
            orphans: list[str] = []
            for result in turn.tool_results:
                text = ("Error: " + result.text) if result.is_error else result.text
                if result.tool_use_id not in pending:
                    notes.converted("tool_result without a matching tool call sent as user text")
                    orphans.append(f"[result of tool call {result.tool_use_id}]\n{text}")
                    continue
                pending.remove(result.tool_use_id)
                output: str | list[dict[str, Any]] = text
                if result.images:
                    output = [{"type": "input_text", "text": text}, *(_image(i) for i in result.images)]
                items.append({"type": "function_call_output", "call_id": result.tool_use_id, "output": output})
            settle()
            parts = [*orphans, *turn.parts()]
            if parts:
                items.append(_user(parts))
        elif isinstance(turn, AssistantTurn):
            settle()
            for part in turn.parts or [*turn.texts, *turn.tool_calls]:
                if isinstance(part, str):
                    items.append({"type": "message", "role": "assistant", "content": part})
                elif isinstance(part, ToolCall):
                    items.append({"type": "function_call", "call_id": part.id, "name": names.outgoing(part.name),
                                  "arguments": orjson.dumps(part.input).decode()})
                    pending.append(part.id)
                elif (item := _reasoning_item(part, notes)) is not None:
                    items.append(item)
    settle()

    body: dict[str, Any] = {"model": model, "input": items, "stream": req.stream, "store": False}
    if req.system:
        body["instructions"] = req.system
    raw = req.raw
    if req.max_tokens is not None:
        limit = options.max_tokens_limit
        if limit and req.max_tokens > limit:
            notes.converted(f"max_tokens {req.max_tokens} clamped to {limit}")
        body["max_output_tokens"] = min(req.max_tokens, limit) if limit else req.max_tokens
    for key in ("temperature", "top_p"):
        if raw.get(key) is not None:
            body[key] = raw[key]
    if raw.get("top_k") is not None:
        notes.dropped("top_k (the Responses API has none)")
    if raw.get("stop_sequences"):
        notes.dropped("stop_sequences (the Responses API has none)")
    offered = req.offered(options.deferred_tools)
    if offered:
        body["tools"] = [{"type": "function", "name": names.outgoing(t["name"]), "description": t["description"],
                          "parameters": t["input_schema"], "strict": False} for t in offered]
        for long, short in names.renamed.items():
            notes.converted(f"tool name {long!r} sent as {short!r} (OpenAI names are ≤64 [A-Za-z0-9_-])")
        choice = req.tool_choice or {}
        kind = choice.get("type")
        if kind == "any":
            body["tool_choice"] = "required"
        elif kind == "tool" and choice.get("name"):
            body["tool_choice"] = {"type": "function", "name": names.outgoing(choice["name"])}
        elif kind == "none":
            body["tool_choice"] = "none"
        if choice.get("disable_parallel_tool_use"):
            body["parallel_tool_calls"] = False
    thinking = req.thinking is not None and req.thinking.get("type") not in (None, "disabled")
    effort = reasoning_effort(req, options)
    if effort:
        body["reasoning"] = {"effort": effort, **({"summary": "auto"} if thinking else {})}
    elif thinking:
        notes.dropped("thinking config (the server decides reasoning itself; --set reasoning_effort=auto maps it)")
    if thinking:  # what comes back of the reasoning, so that it can go back again
        body["include"] = ["reasoning.encrypted_content"]
    return body


# -- usage and stop reasons -----------------------------------------------------------------------
def responses_usage(response: dict[str, Any], timings: Any = None) -> BackendUsage | None:
    """A Response's ``usage`` (``input_tokens`` includes ``input_tokens_details.cached_tokens``), and
    llama.cpp's ``timings`` beside it; None when neither says anything."""
    usage = response.get("usage")
    out = None
    if isinstance(usage, dict):
        details = usage.get("input_tokens_details")
        details = details if isinstance(details, dict) else {}
        out = BackendUsage.counts("responses", prompt=usage.get("input_tokens"), cached=details.get("cached_tokens"),
                                  output=usage.get("output_tokens"))
    if isinstance(timings, dict):
        said = openai_usage({"timings": timings})
        if said is not None and out is not None and said.cached_tokens is not None and out.cached_tokens is not None:
            said.cached_tokens = None  # the usage's own figure stands
        out = said if out is None else out.merge(said)
    return out


def _stop(response: dict[str, Any], *, calls: int, refused: bool) -> tuple[str, bool]:
    """(stop_reason, truncated) of a finished Response."""
    details = response.get("incomplete_details")
    reason = details.get("reason") if isinstance(details, dict) else None
    if response.get("status") == "incomplete" or reason:
        if reason == "content_filter":
            return "refusal", False
        return "max_tokens", True
    if calls:
        return "tool_use", False
    return ("refusal" if refused else "end_turn"), False


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _error_status(error: dict[str, Any]) -> int:
    code = error.get("code")
    if isinstance(code, int) and 400 <= code < 600:
        return code
    if isinstance(code, str):
        if "rate_limit" in code:
            return 429
        if "context" in code or "invalid" in code:
            return 400
    return 500


# -- the answer -----------------------------------------------------------------------------------
@dataclass(slots=True)
class _Item:
    """One output item as it arrives."""

    type: str
    id: str = ""
    call_id: str | None = None
    name: str = ""
    args: list[str] = field(default_factory=list)
    #: Reasoning: where its text came from so far, and its encrypted content once known.
    via: str | None = None
    encrypted: str | None = None
    texts: int = 0  # deltas of text seen (a message's or a reasoning's)
    done: bool = False
    sent: bool = False  # a call sent to the client; a reasoning block signed


class _Answer:
    """The output items of one Response into the Anthropic encoder — streamed or whole, one path."""

    def __init__(self, emit: Emitter, notes: Notes) -> None:
        self.emit = emit
        self.enc: MessageStreamEncoder = emit.enc
        self.notes = notes
        self.items: dict[str, _Item] = {}
        self.order: list[_Item] = []
        self.by_index: dict[int, _Item] = {}
        #: The reasoning whose thinking block is open (signed when something else begins).
        self.open: _Item | None = None
        self.refused = False

    # -- items ------------------------------------------------------------------------------------
    def item(self, data: dict[str, Any]) -> _Item | None:
        """The item an event is about: by ``item_id``, else by ``output_index``."""
        key = data.get("item_id")
        if isinstance(key, str) and key in self.items:
            return self.items[key]
        index = data.get("output_index")
        return self.by_index.get(index) if isinstance(index, int) else None

    def added(self, raw: Any, index: Any = None) -> tuple[bytes, _Item | None]:
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            return b"", None
        kind = raw["type"]
        item_id = raw.get("id") if isinstance(raw.get("id"), str) else ""
        known = self.items.get(item_id) if item_id else None
        if known is not None:
            return b"", known
        out = self.seal()  # a new item: the reasoning before it is whole
        item = _Item(kind, item_id or f"item_{len(self.order)}")
        if kind == "function_call":
            item.call_id = _str(raw.get("call_id")) or None
            item.name = _str(raw.get("name"))
            if isinstance(raw.get("arguments"), str) and raw["arguments"]:
                item.args.append(raw["arguments"])
        elif kind == "reasoning":
            item.encrypted = raw.get("encrypted_content") or None
        elif kind != "message":
            self.notes.dropped(f"an output item of type {kind!r} (the gateway reads messages, reasoning and "
                               f"function calls)", rule="responses:item")
        self.items[item.id] = item
        self.order.append(item)
        if isinstance(index, int):
            self.by_index[index] = item
        return out, item

    def reasoning(self, item: _Item | None, text: str, via: str, *, new_part: bool = False) -> bytes:
        if item is None or not text:
            return b""
        out = b""
        if self.open is not item:
            out += self.seal() + self.emit.flush()  # text held before it goes first
            self.open = item
        if new_part and item.texts:
            text = "\n\n" + text
        item.texts += 1
        item.via = item.via if item.via == "content" else via
        return out + self.enc.thinking(text)

    def text(self, text: str, item: _Item | None = None) -> bytes:
        if not text:
            return b""
        if item is not None:
            item.texts += 1
        return self.seal() + self.emit.text(text)

    def arguments(self, item: _Item | None, delta: str, *, whole: bool = False) -> None:
        if item is None or item.type != "function_call" or item.sent:
            return
        if whole:
            item.args = [delta]
        elif delta:
            item.args.append(delta)

    def done(self, raw: Any, index: Any = None) -> bytes:
        if not isinstance(raw, dict):
            return b""
        item = self.items.get(_str(raw.get("id")))
        if item is None:
            item = self.by_index.get(index) if isinstance(index, int) else None
        out = b""
        if item is None:
            out, item = self.added(raw, index)
            if item is None:
                return out
        item.done = True
        if item.type == "reasoning":
            item.encrypted = raw.get("encrypted_content") or item.encrypted
            if not item.texts:  # nothing streamed: the text is in the finished item (a whole answer)
                # The model's own reasoning when the server gives it (gpt-oss), else its summary (OpenAI's).
                for via in ("content", "summary"):
                    texts = [p["text"] for p in raw.get(via) or [] if isinstance(p, dict) and isinstance(p.get("text"), str)]
                    for k, text in enumerate(texts):
                        out += self.reasoning(item, text, via, new_part=k > 0)
                    if item.texts:
                        break
            if self.open is item:
                out += self.seal()
            elif not item.texts and item.encrypted and not item.sent:
                out += self.seal() + self.enc.redacted_thinking(self._carried(item).signature())
                item.sent = True
        elif item.type == "function_call":
            if isinstance(raw.get("arguments"), str):
                item.args = [raw["arguments"]]
            item.call_id = item.call_id or _str(raw.get("call_id")) or None
            item.name = item.name or _str(raw.get("name"))
            out += self.send(item)
        elif item.type == "message" and not item.texts:  # nothing streamed: the text is in the finished item
            for part in raw.get("content") or []:
                if isinstance(part, dict):
                    if part.get("type") == "refusal" and isinstance(part.get("refusal"), str):
                        self.refused = True
                        out += self.text(part["refusal"])
                    elif isinstance(part.get("text"), str):
                        out += self.text(part["text"])
            item.texts += 1
        return out

    # -- sending ----------------------------------------------------------------------------------
    def _carried(self, item: _Item) -> _Carried:
        return _Carried(item.id, item.encrypted, item.via or "content")

    def seal(self) -> bytes:
        """Sign the open reasoning block (something else begins, or the answer ends): its signature
        carries what the next turn needs to hand the reasoning back."""
        item, self.open = self.open, None
        if item is None or item.sent:
            return b""
        item.sent = True
        return self.enc.signature(self._carried(item).signature())

    def send(self, item: _Item, cut: str | None = None) -> bytes:
        if item.sent:
            return b""
        item.sent = True
        out = self.seal()
        if not item.name:
            self.notes.error(f"a function call without a name (arguments {''.join(item.args)[:80]!r}) was dropped: "
                             f"no tool can be run from it", rule="tool-call:nameless")
            return out
        return out + self.emit.flush() + self.emit.tool(item.call_id, item.name, "".join(item.args), cut=cut)

    def finish(self, response: dict[str, Any], usage: BackendUsage | None) -> bytes:
        """The answer's end: calls not yet sent go now (the last one cut if the answer hit its limit), and
        what the text-call detector held; the stop reason counts every call that went out."""
        truncated = _stop(response, calls=0, refused=False)[1]
        out = self.seal()
        unsent = [i for i in self.order if i.type == "function_call" and not i.sent]
        for item in unsent:
            out += self.send(item, cut=_CUT_AT_LIMIT if truncated and item is unsent[-1] else None)
        out += self.emit.flush(truncated=truncated)
        stop, _ = _stop(response, calls=self.enc.tool_calls, refused=self.refused)
        return out + self.emit.finish(stop, usage)

    def cut(self) -> bytes:
        """The stream ended before the response did: calls never finished are noted, never sent."""
        out = self.seal()
        for item in self.order:
            if item.type == "function_call" and not item.sent and item.name:
                item.sent = True
                self.emit.cut_call(item.call_id, item.name, "".join(item.args),
                                   "the stream was cut while this call was being written")
        return out


class ResponsesStreamTranslator(StreamTranslator):
    """OpenAI Responses events (SSE) → Anthropic SSE.

    Text goes out as it comes; a function call goes out whole once its item is done (its arguments
    parsed, repaired if need be, checked against the tool's schema); reasoning goes out as thinking,
    signed with what the next turn needs to hand it back. Events are read by their ``type`` (the
    ``event:`` line is optional), items by ``item_id`` (or ``output_index``).
    """

    def __init__(self, *, names: ToolNames | None = None, **kw: Any) -> None:
        names = names if names is not None else ToolNames()
        super().__init__(names=names, **kw)
        self._sse = SSEDecoder(comments=True)
        self._answer = _Answer(self.emit, self.notes)
        self._timings: Any = None

    def feed(self, chunk: bytes) -> bytes:
        events = self._sse.decode(chunk)
        return b"".join([self._event(e) for e in events]) if events else b""

    def flush(self) -> bytes:
        out = b"".join([self._event(e) for e in self._sse.flush()])
        return out + (self._answer.cut() + self._cut() if not self.encoder.finished else b"")

    def interrupt(self, reason: str) -> bytes:
        self._sse = SSEDecoder(comments=True)  # drop a half event: it stays in the recording only
        if self.encoder.finished:
            return b""
        return self._answer.cut() + self._cut(reason)

    def _event(self, sse: ServerSentEvent) -> bytes:
        if self.encoder.finished:
            return b""
        if sse.comment is not None:
            return self.encoder.ping()
        if sse.data == "[DONE]":
            return b""
        try:
            data = orjson.loads(sse.data)
        except orjson.JSONDecodeError:
            return self._garbage(sse.data)
        if not isinstance(data, dict):
            return self._garbage(sse.data)
        self.events_in += 1
        kind = data.get("type") if isinstance(data.get("type"), str) else sse.event
        if "timings" in data:
            self._timings = data["timings"]
        a = self._answer
        out = self.encoder.start() if not self.encoder.started else b""
        if kind == "error" or (kind is None and isinstance(data.get("error"), dict)):
            error = as_object(data["error"]) if isinstance(data.get("error"), dict) else data
            return out + self._backend_error(_error_status(error), {"error": error})
        if kind == "response.output_text.delta":
            return out + a.text(data.get("delta") or "", a.item(data))
        if kind == "response.refusal.delta":
            a.refused = True
            return out + a.text(data.get("delta") or "", a.item(data))
        if kind == "response.function_call_arguments.delta":
            a.arguments(a.item(data), data.get("delta") or "")
            return out
        if kind == "response.function_call_arguments.done":
            if isinstance(data.get("arguments"), str):
                a.arguments(a.item(data), data["arguments"], whole=True)
            return out
        if kind == "response.reasoning_text.delta":
            return out + a.reasoning(a.item(data), data.get("delta") or "", "content")
        if kind == "response.reasoning_summary_text.delta":
            return out + a.reasoning(a.item(data), data.get("delta") or "", "summary")
        if kind == "response.reasoning_summary_part.added":
            item = a.item(data)
            if item is not None and item.texts:
                return out + a.reasoning(item, "\n\n", "summary")
            return out
        if kind == "response.output_item.added":
            sealed, _ = a.added(data.get("item"), data.get("output_index"))
            return out + sealed
        if kind == "response.output_item.done":
            return out + a.done(data.get("item"), data.get("output_index"))
        if kind in ("response.completed", "response.incomplete"):
            response = as_object(data.get("response"))
            for k, raw in enumerate(response.get("output") or []):  # items whose done never came
                if isinstance(raw, dict) and not (isinstance(raw.get("id"), str) and raw["id"] in a.items
                                                  and a.items[raw["id"]].done):
                    out += a.done(raw, k)
            self.usage = responses_usage(response, self._timings)
            return out + a.finish(response, self.usage)
        if kind == "response.failed":
            error = as_object(as_object(data.get("response")).get("error")) or {"message": "the response failed"}
            return out + self._backend_error(_error_status(error), {"error": error})
        return out  # lifecycle, part boundaries, *.done echoes: nothing new for the client


def responses_response(data: dict[str, Any], *, model: str, input_tokens: int = 0, notes: Notes | None = None,
                       names: ToolNames | None = None, tools: list[dict[str, Any]] | None = None,
                       repair: bool = True) -> dict[str, Any]:
    """A whole Response as an Anthropic ``Message``."""
    notes = notes if notes is not None else Notes()
    enc = MessageStreamEncoder(model=model, input_tokens=input_tokens)
    answer = _Answer(Emitter(enc, notes, tools=tools, repair=repair, names=names or ToolNames()), notes)
    for k, item in enumerate(data.get("output") or []):
        answer.done(item, k)
    answer.finish(data, responses_usage(data, data.get("timings")))
    return enc.message()


# -- the form -------------------------------------------------------------------------------------
class ResponsesForm(BackendForm):
    """The OpenAI Responses API (OpenAI, vLLM, LM Studio, Ollama, llama.cpp): ``POST /v1/responses``, SSE."""

    name = "responses"
    label = "OpenAI Responses"
    stream_type = "text/event-stream"
    stream_marker = "event-stream"
    expected = "an OpenAI Response (JSON, or its events as SSE)"
    models_path = "/v1/models"

    def chat_path(self, base_path: str = "", *, model: str = "", stream: bool = False) -> str:
        # A backend URL ending in /v1 (as OpenAI's and vLLM's docs write it) already has it.
        return "/responses" if base_path.endswith("/v1") else "/v1/responses"

    def tool_names(self) -> ToolNames | None:
        return ToolNames()

    def build_request(self, req: AnthropicRequest, *, model: str, options: TranslateOptions,
                      names: ToolNames | None) -> dict[str, Any]:
        return responses_request(req, model=model, options=options, names=names)

    def stream_processor(self, ctx: TranslateContext) -> StreamProcessor:
        return ResponsesStreamTranslator(names=ctx.names, repair=ctx.options.repair, model=ctx.model,
                                         backend_model=ctx.backend_model, backend=ctx.backend,
                                         input_tokens=ctx.input_tokens, notes=ctx.notes, tools=ctx.tools)

    def whole_response(self, data: dict[str, Any], ctx: TranslateContext) -> dict[str, Any]:
        return responses_response(data, model=ctx.model, input_tokens=ctx.input_tokens, notes=ctx.notes,
                                  names=ctx.names, tools=ctx.tools, repair=ctx.options.repair)

    def discover(self, model: str, *, options: TranslateOptions, base_path: str = "") -> DiscoverySteps:
        """The servers that serve Responses say their window as they do for chat completions (llama.cpp
        ``/props``, vLLM ``/v1/models``, LM Studio ``/api/v0/models``): the OpenAI form's probes."""
        return (yield from OPENAI.discover(model, options=options, base_path=base_path))

    def count_tokens(self, facts: ModelFacts, body: dict[str, Any], *, base_path: str = "") -> CountSteps:
        """``POST /v1/responses/input_tokens`` counts a Responses request as the server will read it
        (llama.cpp renders it with its chat template, as its ``/v1/responses`` does; OpenAI's own API)."""
        if facts.tokenizer != "llama.cpp":
            return None
        path = base_path + ("/responses/input_tokens" if base_path.endswith("/v1") else "/v1/responses/input_tokens")
        (counted,) = yield [Probe("input_tokens", "POST", path, {k: v for k, v in body.items() if k != "stream"})]
        n = count_of(counted.data.get("input_tokens")) if counted.ok and isinstance(counted.data, dict) else None
        return TokenCount(n, True, "/v1/responses/input_tokens") if n is not None else None

    def read_usage(self, data: dict[str, Any]) -> BackendUsage | None:
        return responses_usage(data, data.get("timings"))

    def prefix_sections(self, body: dict[str, Any]) -> tuple[list[tuple[str, Any]], Any]:
        sections: list[tuple[str, Any]] = [("instructions", body.get("instructions")), ("tools", body.get("tools") or [])]
        sections.extend((f"input.{i}", item) for i, item in enumerate(body.get("input") or []))
        return sections, {"model": body.get("model"), "reasoning": body.get("reasoning")}


RESPONSES = ResponsesForm()
ResponsesStreamTranslator.form = RESPONSES
