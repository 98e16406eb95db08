"""A backend form — Ollama native, OpenAI chat completions, OpenAI Responses, Anthropic passthrough — as one object.

A form prepares the whole backend call and reads the whole answer: how a client's call is read
(``read``), the backend call made from it — URL from the base, the model and the stream flag, auth
and headers, body (``prepare``) —, how the answer comes back (its stream decoder, its translator or
observer, a whole answer, its errors with what to do about them), and what the backend says about
itself (discovery probes, token counts, the model list). The gateway, the relay, the regression
re-runs, eval, doctor and the CLI ask the form; nobody branches on its name. Adding a form is one
module with a subclass, plus its line in the registry (``_forms.py``).

What differs between forms beyond that is said by a few capabilities (``needs_backend_model``,
``whole_api``, ``writes_answers``), each read where it decides something.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol
from urllib.parse import urlsplit

import orjson

from ._decoders import LineDecoder, ServerSentEvent, SSEDecoder
from ._errors import GatewayError, backend_error, backend_unreachable, garbage_error
from ._facts import BackendUsage, CountSteps, DiscoverySteps, ModelFacts, no_count
from ._notes import Notes
from ._options import DEFAULT_OPTIONS, TranslateOptions
from ._request import InvalidRequest, parse_request
from ._routing import unrouted_fix

if TYPE_CHECKING:
    from ._reask import Reask, ReaskReason
    from ._request import AnthropicRequest
    from ._tools import ToolNames

__all__ = ["BackendAccess", "BackendCall", "BackendForm", "ClientCall", "ClientRequest", "EventDecoder",
           "StreamProcessor", "StreamResult", "TranslateContext", "WholeAnswer", "chat_sections", "sendable",
           "split_url"]

_JSON = "application/json"
#: What no header value may hold (RFC 9110 field-value: no CTL but HTAB), and a header name's syntax.
_UNSENDABLE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@functools.lru_cache(maxsize=64)
def split_url(backend: str) -> tuple[str, str]:
    """``http://h:1/v1/`` → (``http://h:1``, ``/v1``)."""
    parts = urlsplit(backend)
    return f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/")


def sendable(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Headers as they came, after checking HTTP allows their bytes (a NUL, CR or LF cannot be sent
    on: the request is refused, naming the header). Whitespace around a value is not part of it
    (RFC 9110 §5.5): it goes on without."""
    for k, v in headers:
        if _UNSENDABLE.search(v) or not _TOKEN.fullmatch(k):
            raise InvalidRequest(f"the request's {k!r} header holds bytes HTTP does not allow in a header "
                                 f"(a control character): it cannot be sent on")
    return [(k, v.strip(" \t")) for k, v in headers]


@dataclass(slots=True)
class StreamResult:
    """What a finished (or broken-off) answer said, as the client saw it."""

    message_id: str | None = None
    stop_reason: str | None = None
    #: As reported to the client: input_tokens, output_tokens, and the cache fields when known.
    usage: dict[str, int] | None = None
    #: ``[{"name", "id", "input"}]``
    tool_calls: list[dict[str, Any]] | None = None
    #: What the backend itself said about tokens, its prompt cache and its timings (None: nothing).
    backend: BackendUsage | None = None


@dataclass(slots=True)
class TranslateContext:
    """One exchange as its form translates it: the settings, the names, the tools, where the notes go."""

    options: TranslateOptions = DEFAULT_OPTIONS
    #: The model the client asked for: the answer names it.
    model: str = ""
    #: The model the backend was asked for: errors name it.
    backend_model: str = ""
    #: The backend's base URL, for people (errors say where it is).
    backend: str = "the backend"
    #: The request's input tokens as the gateway counted them (``message_start`` reports them).
    input_tokens: int = 0
    notes: Notes = field(default_factory=Notes)
    #: Tool names as the backend knows them (OpenAI-form servers take ≤ 64 [A-Za-z0-9_-]).
    names: ToolNames | None = None
    #: The tools offered (names and input schemas): calls are checked and repaired against them.
    tools: list[dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        self.backend_model = self.backend_model or self.model


@dataclass(frozen=True, slots=True)
class ClientCall:
    """A client's request as the gateway received it: headers as their bytes came (one character per
    byte), the body with its content-encoding undone."""

    method: str
    path: str
    headers: Sequence[tuple[str, str]]
    body: bytes
    #: What it is (``_side.request_kind``): messages, count_tokens, models…
    kind: str = "messages"


@dataclass(slots=True)
class ClientRequest:
    """A client's call as a form read it (``BackendForm.read``)."""

    call: ClientCall
    #: The body as JSON (a Messages or count_tokens call), None for anything else.
    data: dict[str, Any] | None = None
    #: The body parsed into turns: a form that writes the backend's request from them.
    parsed: AnthropicRequest | None = None

    @property
    def model(self) -> str:
        return str(self.data.get("model") or "") if self.data is not None else ""

    @property
    def stream(self) -> bool:
        return self.call.kind == "messages" and self.data is not None and bool(self.data.get("stream"))


@dataclass(frozen=True, slots=True)
class BackendAccess:
    """Where the backend is and what may go to it: its base URL, the gateway's key for it, and the
    policy for the client's own headers (the gateway's options: ``backend_api_key``,
    ``redact_headers``, ``forward_headers``, ``gateway_token``)."""

    #: Origin and base path (``http://127.0.0.1:8080/v1``), no trailing slash.
    url: str
    api_key: str = ""
    #: The client authenticates to the gateway with the gateway's own token: its credentials are
    #: never sent on, not even to Anthropic's own hosts.
    token_in_use: bool = False
    #: Whether a client header is a credential (named like one, and not one the user said to forward).
    is_credential: Callable[[str], bool] = lambda name: False
    #: A path with the credentials taken out of its query string.
    without_secrets: Callable[[str], str] = lambda path: path


@dataclass(slots=True)
class BackendCall:
    """The backend request, prepared whole."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes
    #: The body as JSON (for the recording and the colour log), when it is JSON.
    json: dict[str, Any] | None = None

    @property
    def path(self) -> str:
        return urlsplit(self.url).path


@dataclass(slots=True)
class WholeAnswer:
    """A whole (non-streamed) answer as the client gets it — or the error that replaces it."""

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    #: The answer as JSON (a Message, or an error body), when it is one.
    message: dict[str, Any] | None = None
    #: What it said about tokens, cache and timings.
    usage: BackendUsage | None = None
    #: Instead of all the above: the exchange ends with this error.
    error: GatewayError | None = None


class EventDecoder(Protocol):
    """A backend stream's framing (``_decoders``): NDJSON lines or server-sent events."""

    def decode(self, chunk: bytes) -> Sequence[bytes | ServerSentEvent]: ...

    def flush(self) -> Sequence[bytes | ServerSentEvent]: ...


class StreamProcessor(Protocol):
    """Backend stream bytes in, Anthropic SSE bytes out: a translator, or the passthrough observer.

    ``feed`` any split of the backend's body; then exactly one ending — ``flush`` (the body
    ended), ``interrupt`` (it broke off: what is held is dropped, the client gets a clean
    ``error`` event) or ``fail`` (end with this error). ``keepalive`` is what to send during a
    silence (``b""`` when the output is not at an event boundary)."""

    notes: Notes
    error: GatewayError | None
    cut: bool

    @property
    def events_in(self) -> int:
        """Backend events (lines, chunks) read so far."""
        ...

    @property
    def finished(self) -> bool: ...

    @property
    def answering(self) -> bool:
        """A content delta (text, thinking, a tool call's input) is in what was returned so far: the
        first token has gone out to the client."""
        ...

    def feed(self, chunk: bytes) -> bytes: ...

    def flush(self) -> bytes: ...

    def interrupt(self, reason: str) -> bytes: ...

    def fail(self, err: GatewayError) -> bytes: ...

    def keepalive(self) -> bytes: ...

    def use_input_count(self, tokens: int) -> None:
        """A better count of the request's input tokens (the backend's tokenizer) for
        ``message_start``, when it arrives before the stream has started; ignored after."""
        ...

    def result(self) -> StreamResult: ...

    def message(self) -> dict[str, Any] | None:
        """The answer so far as a Message (the non-streaming shape), when there is one."""
        ...

    # The re-ask rung (``_reask.py``): a processor that never holds an answer says ``reask`` None.
    def arm_reask(self, expect: tuple[ReaskReason, str | None] | None = None, *, enveloped: bool = False) -> None:
        """Open the rung before the first byte is fed (see ``StreamTranslator.arm_reask``)."""
        ...

    @property
    def reask(self) -> Reask | None:
        """What the held answer needs asked again, once its end has come (None: nothing held)."""
        ...

    def resume(self, data: dict[str, Any], *, how: str) -> bytes | None:
        """The re-ask's whole answer: its call in place of the held one, and the end (None: no better)."""
        ...

    @property
    def reask_failed(self) -> str:
        """Why the last re-ask's answer was no better."""
        ...

    def give_up(self, why: str, usage: BackendUsage | None = None) -> bytes:
        """No (better) re-ask: the held answer as it goes without the rung, and the end."""
        ...


class BackendForm:
    """Base of the backend forms (see the module docstring): a translating form. Pure: no I/O anywhere."""

    name: ClassVar[str]
    #: For people: "Ollama", "OpenAI-compatible", …
    label: ClassVar[str]
    #: Content type of a streamed answer, and a substring that recognises it.
    stream_type: ClassVar[str]
    stream_marker: ClassVar[str]
    #: What a whole answer is, for "sent something that is not …" errors.
    expected: ClassVar[str]
    #: GET path listing the backend's models (doctor, ``inspector run``), and how to start it.
    models_path: ClassVar[str]
    start_hint: ClassVar[str] = "start the server"
    #: Where a server of this form listens when nobody says otherwise (None: no usual place).
    default_url: ClassVar[str | None] = None
    #: The gateway sizes the context per request (Ollama's ``options.num_ctx``); unset, the
    #: server's own default applies — and silently truncates Claude Code's prompt.
    sizes_context: ClassVar[bool] = False

    # -- capabilities --------------------------------------------------------------------------------
    #: Claude Code's own model names mean nothing to the backend: a backend model is chosen (``--model``,
    #: the first the backend lists), asked about at start, and its context window told to Claude Code.
    needs_backend_model: ClassVar[bool] = True
    #: The backend serves the rest of Anthropic's API too — count_tokens, model listings, any other
    #: path — and runs auto mode's server-side checks itself: those requests go to it as they are.
    #: Otherwise the gateway answers Claude Code's side requests itself and refuses what it cannot.
    whole_api: ClassVar[bool] = False
    #: The client's answer is written by the gateway (``MessageStreamEncoder``): it can be written
    #: again from a recording (regression re-runs), and its usage says only what the backend said
    #: (cache fields are zeros unless it reported them; ``usage_source`` says whose figures they are).
    writes_answers: ClassVar[bool] = True
    #: A broken tool call can be asked for again (the repair ladder's re-ask): the form says how to
    #: constrain or pin a call (``constrained``, ``pinned``) and its translator reads a whole answer as it
    #: reads a stream (``StreamTranslator.take_whole``) and a re-ask's answer (``resume``).
    reasks: ClassVar[bool] = False
    #: Its request body can name the server's slot (llama.cpp's ``id_slot``, with ``cache_prompt``):
    #: the gateway's queue keeps each conversation on the slot that holds its prefix.
    names_slots: ClassVar[bool] = False
    #: The environment variable that says how many requests a server of this form runs at once when
    #: its API does not (Ollama's ``OLLAMA_NUM_PARALLEL``); None: none.
    parallel_env: ClassVar[str | None] = None

    # -- the client's call ------------------------------------------------------------------------------
    def read(self, call: ClientCall) -> ClientRequest:
        """The client's call as this form takes it: a Messages call parsed into turns (an
        ``InvalidRequest`` — an Anthropic 400 — when it is not one)."""
        if call.kind != "messages":
            raise InvalidRequest(f"{call.method} {call.path.split('?', 1)[0]} is not a Messages call")
        parsed = parse_request(call.body)
        return ClientRequest(call, parsed.raw, parsed)

    def tool_names(self) -> ToolNames | None:
        """A fresh tool-name mapping when the backend limits names (OpenAI: ≤ 64 [A-Za-z0-9_-])."""
        return None

    # -- the backend call ---------------------------------------------------------------------------
    def chat_path(self, base_path: str = "", *, model: str = "", stream: bool = False) -> str:
        """The path below the backend URL's base a Messages call goes to (``base_path`` from that URL)."""
        raise NotImplementedError

    def accept(self, stream: bool) -> str:
        return self.stream_type if stream else _JSON

    def auth_headers(self, api_key: str) -> list[tuple[str, str]]:
        """How the gateway's key for the backend is sent (the backend call and discovery's probes)."""
        return [("authorization", f"Bearer {api_key}")] if api_key else []

    def build_request(self, req: AnthropicRequest, *, model: str, options: TranslateOptions,
                      names: ToolNames | None) -> dict[str, Any]:
        """The backend's request body for a parsed Messages request."""
        raise NotImplementedError

    def prepare(self, request: ClientRequest, ctx: TranslateContext, access: BackendAccess) -> BackendCall:
        """The whole backend call: its URL from the base, the model and the stream flag, the
        gateway's key, the client's user-agent (nothing else of the client's), and the body."""
        parsed = request.parsed
        assert parsed is not None, "a translating form prepares from a parsed request"
        body = self.build_request(parsed, model=ctx.backend_model, options=ctx.options, names=ctx.names)
        origin, base_path = split_url(access.url)
        headers = [("content-type", _JSON), ("accept", self.accept(parsed.stream))]
        headers += sendable([(k, v) for k, v in request.call.headers if k.lower() == "user-agent"][:1])
        headers += self.auth_headers(access.api_key)
        path = base_path + self.chat_path(base_path, model=ctx.backend_model, stream=parsed.stream)
        return BackendCall("POST", origin + path, headers, orjson.dumps(body), body)

    # -- answers -------------------------------------------------------------------------------
    def is_stream(self, content_type: str) -> bool:
        return self.stream_marker in content_type

    def event_decoder(self) -> EventDecoder:
        """A decoder of this form's streamed answer, event by event (the colour log shows them)."""
        return SSEDecoder(comments=True)

    def stream_processor(self, ctx: TranslateContext) -> StreamProcessor:
        raise NotImplementedError

    def whole_response(self, data: dict[str, Any], ctx: TranslateContext) -> dict[str, Any]:
        """A non-streaming answer as an Anthropic ``Message``."""
        raise NotImplementedError

    def whole_answer(self, status: int, headers: Sequence[tuple[str, str]], body: bytes, ctx: TranslateContext, *,
                     stream: bool, kind: str = "messages", request_id: str = "") -> WholeAnswer:
        """A whole answer (not a stream), translated: a Message, or the error it means. ``stream``:
        a stream was asked for (and this is not one)."""
        if status != 200:
            return WholeAnswer(error=self.error(status=status, body=body, model=ctx.backend_model,
                                                backend=ctx.backend))
        if stream:
            return WholeAnswer(error=self.garbage(backend=ctx.backend, sample=body))
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            return WholeAnswer(error=self.garbage(backend=ctx.backend, sample=body))
        if data.get("error"):  # (a Response says "error": null when there is none)
            code = data.get("status")
            return WholeAnswer(error=self.error(status=code if isinstance(code, int) else 500, body=data,
                                                model=ctx.backend_model, backend=ctx.backend))
        usage = self.read_usage(data)
        message = self.whole_response(data, ctx)
        out = [("content-type", _JSON)] + ([("request-id", request_id)] if request_id else [])
        return WholeAnswer(200, out, orjson.dumps(message), message, usage)

    # -- the re-ask (``_reask.py``) -----------------------------------------------------------------
    def constrained(self, body: dict[str, Any], *, tool: str | None, server: str | None = None,
                    text: bool = False) -> tuple[dict[str, Any], str] | None:
        """``body`` — the first attempt's backend request — asked again whole (not streamed), the call
        pinned to ``tool`` (the backend's name of the tool the model was calling; None: any offered
        tool) and the output constrained to its schema in ``server``'s own dialect (``ModelFacts.server``:
        "llama.cpp", "vllm", "lmstudio"…); and how, in a few words for the log. ``text``: a first
        attempt held to a call *or a text answer*, streamed as it was asked (``--set reask=always``).
        None: this form cannot constrain an answer."""
        return None

    def pinned(self, body: dict[str, Any], *, tool: str | None) -> tuple[dict[str, Any], str] | None:
        """The plain re-ask, for a server that refused the constrained one (HTTP 400): the same request,
        whole, only the call pinned — where the form can say so. None: it cannot, and asking the same
        again under the same pinned sampling would only bring the same answer."""
        return None

    # -- failures, in Anthropic's words with what to do ----------------------------------------------
    def missing_model_fix(self, model: str) -> str:
        return "check the model name your server serves (GET /v1/models)"

    def context_advice(self, *, num_ctx: int) -> str | None:
        """What to do about the context size the gateway sends (None: nothing to do)."""
        if self.sizes_context and not num_ctx:
            return (f"{self.label}'s default context silently truncates Claude Code's ~15k-token prompt: "
                    f"set num_ctx (NUM_CTX=65536 for make, --num-ctx 65536 for inspector run)")
        return None

    def error(self, *, status: int, body: bytes | str | dict[str, Any] | None, model: str,
              backend: str) -> GatewayError:
        # A Claude id reached the backend unrouted: pulling it is no fix, routing it is.
        fix = unrouted_fix(model) if model.lower().startswith("claude") else self.missing_model_fix(model)
        return backend_error(label=self.label, missing_model_fix=fix, status=status, body=body, model=model,
                             backend=backend)

    def unreachable(self, *, backend: str, reason: str) -> GatewayError:
        return backend_unreachable(label=self.label, backend=backend, reason=reason, hint=self.start_hint)

    def garbage(self, *, backend: str, sample: bytes | str) -> GatewayError:
        return garbage_error(label=self.label, form=self.name, backend=backend, sample=sample,
                             expected=self.expected)

    # -- what the backend says about itself (run by the gateway, doctor and ``inspector run``) ------
    def discover(self, model: str, *, options: TranslateOptions, base_path: str = "") -> DiscoverySteps:
        """The probes that find ``model``'s real context window, capabilities and tokenizer, and
        what their answers mean (see ``_facts.py`` for how the steps are driven)."""
        return _nothing_known(model)

    def count_tokens(self, facts: ModelFacts, body: dict[str, Any], *, base_path: str = "") -> CountSteps:
        """Have the backend's own tokenizer count a translated request ``body`` (the steps return
        None when it cannot)."""
        return no_count()

    def read_usage(self, data: dict[str, Any]) -> BackendUsage | None:
        """Tokens, prompt cache and timings in one answer — a whole answer, or the stream's chunk
        that carries them. None when it says nothing."""
        return None

    def prefix_sections(self, body: dict[str, Any]) -> tuple[list[tuple[str, Any]], Any]:
        """A translated request as a prompt cache sees it — (name, value) sections in the order a
        template renders them — and the settings whose change empties the cache (``_prefix.py``)."""
        raise NotImplementedError

    # -- models ----------------------------------------------------------------------------------
    def model_names(self, listing: Any) -> list[str] | None:
        """The model names in the answer to ``GET models_path`` (None: not such an answer)."""
        if isinstance(listing, dict) and isinstance(listing.get("data"), list):
            return [str(m.get("id")) for m in listing["data"] if isinstance(m, dict) and m.get("id")]
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class NdjsonForm(BackendForm):
    """A form whose streamed answer is newline-delimited JSON."""

    def event_decoder(self) -> EventDecoder:
        return LineDecoder()


def _nothing_known(model: str) -> DiscoverySteps:
    return ModelFacts(model)
    yield []  # pragma: no cover - makes this a generator


def chat_sections(body: dict[str, Any], settings: dict[str, Any]) -> tuple[list[tuple[str, Any]], Any]:
    """``prefix_sections`` of a chat-completions-shaped body (Ollama, OpenAI): the system message,
    the tools (templates render them with the system prompt), then each message."""
    messages = body.get("messages") or []
    sections: list[tuple[str, Any]] = []
    start = 0
    if messages and isinstance(messages[0], dict) and messages[0].get("role") == "system":
        sections.append(("system", messages[0].get("content")))
        start = 1
    sections.append(("tools", body.get("tools") or []))
    sections.extend((f"messages.{i}", m) for i, m in enumerate(messages) if i >= start)
    return sections, settings
