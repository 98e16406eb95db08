"""A backend form — Ollama native, OpenAI chat completions, Anthropic passthrough — as one object.

Everything that differs between backend APIs is a method or attribute here: where the chat
endpoint is, how a request is written, how an answer (whole or streamed) is read back, what
its errors mean and what to do about them, how to list its models. The gateway, the relay, the
regression re-runs, doctor and the CLI ask the form; nobody branches on its name. Adding a form
is one module with a subclass, plus its entry in the registry (``_forms.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from ._errors import GatewayError, backend_error, backend_unreachable, garbage_error
from ._facts import BackendUsage, CountSteps, DiscoverySteps, ModelFacts, no_count
from ._notes import Notes
from ._options import TranslateOptions
from ._routing import unrouted_fix

if TYPE_CHECKING:
    from ._reask import Reask, ReaskReason
    from ._request import AnthropicRequest
    from ._tools import ToolNames

__all__ = ["BackendForm", "FormName", "StreamProcessor", "StreamResult", "chat_sections"]

FormName = Literal["ollama", "openai", "anthropic"]


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
    """Base of the backend forms (see the module docstring). Pure: no I/O anywhere."""

    name: ClassVar[FormName]
    #: For people: "Ollama", "OpenAI-compatible", …
    label: ClassVar[str]
    #: False for a form that passes Anthropic requests through as they are.
    translates: ClassVar[bool] = True
    #: Content type of a streamed answer, and a substring that recognises it.
    stream_type: ClassVar[str]
    stream_marker: ClassVar[str]
    #: How a streamed answer is framed: NDJSON lines or server-sent events.
    framing: ClassVar[Literal["ndjson", "sse"]] = "sse"
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

    # -- requests ------------------------------------------------------------------------------
    def chat_path(self, base_path: str, client_path: str) -> str:
        """The backend path for a Messages call (``base_path`` from the backend URL)."""
        raise NotImplementedError

    def accept(self, stream: bool) -> str:
        return self.stream_type if stream else "application/json"

    def build_request(self, req: AnthropicRequest, *, model: str, options: TranslateOptions,
                      names: ToolNames | None) -> dict[str, Any]:
        raise NotImplementedError

    def uses_tool_names(self) -> bool:
        """Whether tool names must be mapped (OpenAI names are limited to 64 [A-Za-z0-9_-])."""
        return False

    # -- answers -------------------------------------------------------------------------------
    def is_stream(self, content_type: str) -> bool:
        return self.stream_marker in content_type

    def stream_processor(self, *, options: TranslateOptions, names: ToolNames | None, model: str,
                         backend_model: str, backend: str, input_tokens: int, notes: Notes,
                         tools: list[dict[str, Any]] | None) -> StreamProcessor:
        raise NotImplementedError

    def whole_response(self, data: dict[str, Any], *, options: TranslateOptions, names: ToolNames | None,
                       model: str, input_tokens: int, notes: Notes,
                       tools: list[dict[str, Any]] | None) -> dict[str, Any]:
        """A non-streaming answer as an Anthropic ``Message``."""
        raise NotImplementedError

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
