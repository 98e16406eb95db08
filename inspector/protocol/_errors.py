"""Backend failures, explained in Anthropic's error shape with what to do about them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from ._anthropic import error_body, error_type_for_status

__all__ = ["GatewayError", "backend_error", "backend_unreachable", "context_sizes", "error_message_of",
           "garbage_error", "is_anthropic_error", "prompt_too_long"]

@dataclass(frozen=True, slots=True)
class GatewayError:
    """An error for the client: HTTP status before the stream starts, an error event after.

    ``retry`` says whether retrying can help. Claude Code (like Anthropic's SDKs) retries 429,
    5xx and 529 about 10 times over ~3 minutes unless the response says ``x-should-retry:
    false``; a backend that is not running or a model that is missing will not appear by
    retrying, so those answers say so and the user sees the advice at once."""

    status: int
    type: str
    message: str
    retry: bool = False
    #: The backend's own ``Retry-After`` (seconds or a date), relayed as it was on a 429 or 529.
    retry_after: str | None = None

    def headers(self) -> list[tuple[str, str]]:
        headers = [("x-should-retry", "true" if self.retry else "false")]
        if self.retry_after:
            headers.append(("retry-after", self.retry_after))
        return headers

    def body(self) -> dict[str, Any]:
        return error_body(self.type, self.message)

    def json(self) -> bytes:
        return orjson.dumps(self.body())


def error_message_of(body: bytes | str | dict[str, Any] | None) -> str:
    """The human message inside any of the three APIs' error bodies (or the raw text)."""
    data: Any = body
    if isinstance(body, (bytes, str)):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            return text.strip()[:500]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, str):
            return str(err)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("error")
            if isinstance(msg, str):
                return msg
        for key in ("message", "detail"):
            if isinstance(value := data.get(key), str):
                return value
    return orjson.dumps(data).decode()[:500] if data is not None else ""


def is_anthropic_error(body: bytes) -> bool:
    """Whether ``body`` is an error in Anthropic's own envelope (``{"type": "error", "error": {"type",
    "message"}}``): passed on as it is, since Claude Code's recoveries key on its exact wording."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    err = data.get("error") if isinstance(data, dict) and data.get("type") == "error" else None
    return isinstance(err, dict) and isinstance(err.get("type"), str) and isinstance(err.get("message"), str)


_CONTEXT_PHRASES = (
    "context length", "context window", "maximum context", "exceeds the available context",
    "too many tokens", "prompt is too long", "context size", "exceed_context",
)


def prompt_too_long(tokens: int, window: int) -> str:
    """The Anthropic API's own words for a prompt over the context window: Claude Code's auto-compact
    keys on them, and reads both numbers to know how much to drop."""
    return f"prompt is too long: {tokens} tokens > {window} maximum"


_VLLM_WINDOW = re.compile(r"maximum context length is (\d+) tokens")
_VLLM_ASKED = re.compile(r"(?:request has|resulted in|requested) (\d+) (?:input )?tokens")


def context_sizes(body: bytes | str | dict[str, Any] | None, detail: str) -> tuple[int, int] | None:
    """(prompt tokens, window) from a server's context error, when it says both: llama.cpp's
    ``n_prompt_tokens``/``n_ctx`` fields, the OpenAI/vLLM sentence "maximum context length is M
    tokens. However, your request has N input tokens"."""
    data: Any = body
    if isinstance(body, (bytes, str)):
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        asked, window = err.get("n_prompt_tokens"), err.get("n_ctx")
        if isinstance(asked, int) and isinstance(window, int) and asked > window > 0:
            return asked, window
    found_window, found_asked = _VLLM_WINDOW.search(detail), _VLLM_ASKED.search(detail)
    if found_window and found_asked and int(found_asked.group(1)) > int(found_window.group(1)):
        return int(found_asked.group(1)), int(found_window.group(1))
    return None


def backend_error(
    *, label: str, status: int, body: bytes | str | dict[str, Any] | None, model: str, backend: str,
    missing_model_fix: str = "check the model name your server serves (GET /v1/models)",
) -> GatewayError:
    """Turn a backend's error answer into an Anthropic error that says what to do."""
    detail = error_message_of(body)
    low = detail.lower()
    where = f"the {label} backend at {backend}"
    if ("in the completion" in low or "max_tokens" in low or "max_completion_tokens" in low
            or "num_predict" in low) and status < 500:
        # vLLM: "...you requested 160000 tokens (32000 in the messages, 128000 in the completion)".
        return GatewayError(400, "invalid_request_error",
                            f"the {label} backend at {backend} refused Claude Code's max_tokens for model "
                            f"{model!r} ({detail}): restart the gateway with --set max_tokens_limit=8192 "
                            f"(or what the model allows)")
    if any(p in low for p in _CONTEXT_PHRASES):
        # Claude Code's auto-compaction keys on "prompt is too long", and reads the two sizes out of
        # Anthropic's own wording ("prompt is too long: N tokens > M maximum") when they are there.
        sizes = context_sizes(body, detail)
        if sizes is not None:
            return GatewayError(400, "invalid_request_error",
                                f"{prompt_too_long(*sizes)} (model {model!r} on {where}: {detail})")
        return GatewayError(400, "invalid_request_error",
                            f"prompt is too long for model {model!r} on {where}: {detail}")
    if status == 404 or ("not found" in low and "model" in low):
        fix = missing_model_fix
        # 400, not 404: Claude Code (2.1.328) replaces a 404's message with its own "There's an
        # issue with the selected model" text, and this message is the one that helps.
        return GatewayError(400, "invalid_request_error",
                            f"model {model!r} is not available on {where} ({detail or 'HTTP 404'}): "
                            f"{fix}, or choose another with --set model=NAME")
    if "does not support thinking" in low:
        return GatewayError(400, "invalid_request_error",
                            f"model {model!r} cannot think ({detail}): restart the gateway with "
                            f"--set think=off, or pick a thinking model")
    if "does not support tools" in low or "auto-tool-choice" in low or "tool-call-parser" in low:
        return GatewayError(400, "invalid_request_error",
                            f"model {model!r} on {where} does not accept tool definitions ({detail}); "
                            f"Claude Code needs tool calling: pick a tools-capable model, or start vLLM "
                            f"with --enable-auto-tool-choice --tool-call-parser NAME")
    if status in (503, 529) or "queue" in low or "overloaded" in low:
        return GatewayError(529, "overloaded_error",
                            f"{where} is busy ({detail or status}); Claude Code will retry", retry=True)
    if status == 429:
        return GatewayError(429, "rate_limit_error", f"{where} is rate limiting: {detail}", retry=True)
    if status in (401, 403):
        return GatewayError(status, error_type_for_status(status),
                            f"{where} refused the credentials ({detail}): give the gateway the key the "
                            f"backend expects with --set backend_api_key=KEY")
    if 400 <= status < 500:
        return GatewayError(400 if status != 413 else 413, error_type_for_status(status),
                            f"{where} rejected the translated request (HTTP {status}): {detail}")
    return GatewayError(500, "api_error", f"{where} failed (HTTP {status}): {detail or 'no details'}")


def backend_unreachable(*, label: str, backend: str, reason: str, hint: str = "start the server") -> GatewayError:
    return GatewayError(502, "api_error",
                        f"cannot reach the {label} backend at {backend} ({reason}): is it running? "
                        f"{hint}, or point the gateway at it (make run BACKEND_URL=…, or --mode reverse:URL)")


def garbage_error(*, label: str, form: str, backend: str, sample: bytes | str, expected: str) -> GatewayError:
    text = sample.decode("utf-8", "replace") if isinstance(sample, bytes) else sample
    text = text.strip().replace("\n", " ")
    text = text[:120] + ("…" if len(text) > 120 else "")
    return GatewayError(502, "api_error",
                        f"the {label} backend at {backend} sent something that is not {expected}: "
                        f"{text!r}. Is --set backend={form} right for this server?")
