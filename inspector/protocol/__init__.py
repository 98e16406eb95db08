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
from ._forms import stream_translator
from ._grammar import stream_problems
from ._errors import GatewayError, backend_error, backend_unreachable, error_message_of, garbage_error
from ._notes import Note, Notes
from ._ollama import OllamaStreamTranslator, ollama_request, ollama_response
from ._openai import OpenAIStreamTranslator, openai_request, openai_response
from ._options import TranslateOptions
from ._passthrough import AnthropicStreamObserver
from ._request import AnthropicRequest, InvalidRequest, load_json_object, parse_request, validate_request
from ._routing import ModelRouter, parse_model_map
from ._side import SIDE_PATHS, STATUS_PATH, count_tokens, models_page, request_kind
from ._stream import StreamTranslator
from ._tools import ToolNames, parse_arguments, tool_use_id

__all__ = [
    "ERROR_TYPE_BY_STATUS",
    "SIDE_PATHS",
    "STATUS_PATH",
    "AnthropicRequest",
    "AnthropicStreamObserver",
    "GatewayError",
    "InvalidRequest",
    "LineDecoder",
    "MessageAccumulator",
    "MessageStreamEncoder",
    "ModelRouter",
    "Note",
    "Notes",
    "OllamaStreamTranslator",
    "OpenAIStreamTranslator",
    "SSEDecoder",
    "ServerSentEvent",
    "StreamTranslator",
    "ToolNames",
    "TranslateOptions",
    "backend_error",
    "backend_unreachable",
    "count_tokens",
    "error_body",
    "error_message_of",
    "error_type_for_status",
    "garbage_error",
    "load_json_object",
    "models_page",
    "new_message_id",
    "new_tool_use_id",
    "ollama_request",
    "ollama_response",
    "openai_request",
    "openai_response",
    "parse_arguments",
    "parse_model_map",
    "parse_request",
    "request_kind",
    "sse_event",
    "stream_problems",
    "stream_translator",
    "tool_use_id",
    "validate_request",
]
