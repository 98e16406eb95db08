"""The pure, I/O-free protocol core: Anthropic Messages ⇄ Ollama / OpenAI, no mitmproxy import.

Decoders and translators have the httpx shape — ``decode(chunk)``/``feed(chunk)``
and ``flush()`` — and are correct for any split of their input bytes.
"""

from ._accumulate import MessageAccumulator
from ._anthropic import (
    ERROR_TYPE_BY_STATUS,
    MessageStreamEncoder,
    error_body,
    error_type_for_status,
    new_message_id,
    new_tool_use_id,
    sse_event,
)
from ._decoders import LineDecoder, ServerSentEvent, SSEDecoder
from ._errors import (
    GatewayError,
    backend_error,
    backend_unreachable,
    context_sizes,
    error_message_of,
    garbage_error,
    is_anthropic_error,
    prompt_too_long,
)
from ._facts import Answer, BackendUsage, ModelFacts, Probe, TokenCount, run_steps
from ._form import (
    BackendAccess,
    BackendCall,
    BackendForm,
    ClientCall,
    ClientRequest,
    EventDecoder,
    StreamProcessor,
    StreamResult,
    TranslateContext,
    WholeAnswer,
    sendable,
    split_url,
)
from ._forms import FORM_NAMES, FORMS, get_form
from ._grammar import stream_problems
from ._notes import Note, NoteDict, NoteKind, Notes
from ._ollama import OLLAMA, OllamaForm, OllamaStreamTranslator, ollama_facts, ollama_request, ollama_response, ollama_usage
from ._openai import OPENAI, OpenAIForm, OpenAIStreamTranslator, openai_facts, openai_request, openai_response, openai_usage
from ._options import TranslateOptions
from ._passthrough import ANTHROPIC, AnthropicForm, AnthropicStreamObserver, is_anthropic_host
from ._prefix import PrefixReport, PrefixSnapshot, compare_prefix
from ._reask import REASONS, Reask, ReaskReason, constraint, read_constrained, sum_usage
from ._request import AnthropicRequest, InvalidRequest, load_json_object, parse_request, validate_request
from ._routing import TIERS, ModelRouter, parse_model_map, tier_of, unrouted_fix, without_context_tag
from ._side import (
    STATUS_PATH,
    TELEMETRY_PATHS,
    RequestKind,
    SideAnswer,
    anthropic_style,
    count_tokens,
    models_page,
    request_kind,
    side_answer,
)
from ._stream import StreamTranslator
from ._tools import ToolNames, parse_arguments, tool_use_id

__all__ = [
    "REASONS",
    "Reask",
    "ReaskReason",
    "constraint",
    "read_constrained",
    "sum_usage",
    "ANTHROPIC",
    "ERROR_TYPE_BY_STATUS",
    "FORMS",
    "FORM_NAMES",
    "OLLAMA",
    "OPENAI",
    "STATUS_PATH",
    "TELEMETRY_PATHS",
    "Answer",
    "AnthropicForm",
    "AnthropicRequest",
    "AnthropicStreamObserver",
    "BackendAccess",
    "BackendCall",
    "BackendForm",
    "BackendUsage",
    "ClientCall",
    "ClientRequest",
    "EventDecoder",
    "GatewayError",
    "InvalidRequest",
    "LineDecoder",
    "MessageAccumulator",
    "MessageStreamEncoder",
    "ModelFacts",
    "ModelRouter",
    "TIERS",
    "Note",
    "NoteKind",
    "NoteDict",
    "Notes",
    "OllamaForm",
    "OllamaStreamTranslator",
    "OpenAIForm",
    "OpenAIStreamTranslator",
    "PrefixReport",
    "PrefixSnapshot",
    "Probe",
    "RequestKind",
    "SSEDecoder",
    "ServerSentEvent",
    "SideAnswer",
    "StreamProcessor",
    "StreamResult",
    "StreamTranslator",
    "TokenCount",
    "ToolNames",
    "TranslateContext",
    "TranslateOptions",
    "WholeAnswer",
    "anthropic_style",
    "backend_error",
    "backend_unreachable",
    "compare_prefix",
    "context_sizes",
    "count_tokens",
    "error_body",
    "error_message_of",
    "error_type_for_status",
    "garbage_error",
    "get_form",
    "is_anthropic_error",
    "is_anthropic_host",
    "load_json_object",
    "models_page",
    "new_message_id",
    "new_tool_use_id",
    "ollama_facts",
    "ollama_request",
    "ollama_response",
    "ollama_usage",
    "openai_facts",
    "openai_request",
    "openai_response",
    "openai_usage",
    "parse_arguments",
    "parse_model_map",
    "tier_of",
    "unrouted_fix",
    "without_context_tag",
    "parse_request",
    "prompt_too_long",
    "request_kind",
    "run_steps",
    "sendable",
    "side_answer",
    "split_url",
    "sse_event",
    "stream_problems",
    "tool_use_id",
    "validate_request",
]
