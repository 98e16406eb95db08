"""Claude Code's side traffic — count_tokens, model listing, hello probes, telemetry — and the one
set of answers the gateway and replay both give to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from ._anthropic import error_body
from ._request import InvalidRequest, load_json_object, parse_request

__all__ = ["STATUS_PATH", "RequestKind", "SideAnswer", "count_tokens", "models_page", "request_kind",
           "side_answer"]

#: The gateway's own status (what ``inspector doctor`` asks), answered in every mode.
STATUS_PATH = "/_inspector/status"

RequestKind = Literal["messages", "count_tokens", "models", "hello", "event_logging", "status", "other"]


def count_tokens(body: bytes) -> dict[str, int]:
    """``POST /v1/messages/count_tokens``: an estimate, documented in the README.

    ``(request bytes - base64 image bytes) / 4 + 1600 per image`` — the same
    rule of thumb Ollama's own Anthropic layer uses (≈4 bytes per token), plus
    Anthropic's published cost of a ~1.15 MP image. ``max_tokens`` is optional here.
    """
    return {"input_tokens": parse_request(body, endpoint="count_tokens").estimated_input_tokens}


def models_page(model_ids: list[str], *, created_at: str = "2025-01-01T00:00:00Z") -> dict[str, Any]:
    """``GET /v1/models``: the models this gateway routes to, in Anthropic's list shape."""
    ids = list(dict.fromkeys(m for m in model_ids if m))
    data = [{"type": "model", "id": m, "display_name": f"{m} (via inspector gateway)",
             "created_at": created_at} for m in ids]
    return {"data": data, "has_more": False,
            "first_id": ids[0] if ids else None, "last_id": ids[-1] if ids else None}


def request_kind(method: str, path: str) -> RequestKind:
    """messages | count_tokens | models | hello | event_logging | status | other (query ignored)."""
    path = path.split("?", 1)[0].rstrip("/") or "/"
    if path == "/v1/messages" and method == "POST":
        return "messages"
    if path == "/v1/messages/count_tokens":
        return "count_tokens"
    if path == "/v1/models" or path.startswith("/v1/models/"):
        return "models"
    if path == "/api/hello":
        return "hello"
    if path.startswith("/api/event_logging"):
        return "event_logging"
    if path == STATUS_PATH:
        return "status"
    return "other"


@dataclass(frozen=True, slots=True)
class SideAnswer:
    status: int
    body: bytes
    content_type: str = "application/json"

    @property
    def headers(self) -> list[tuple[str, str]]:
        return [("content-type", self.content_type)]


def _json(status: int, data: Any) -> SideAnswer:
    return SideAnswer(status, orjson.dumps(data))


def side_answer(kind: RequestKind, method: str, path: str, body: bytes, *, models: list[str],
                served_by: str, input_tokens: int | None = None) -> SideAnswer:
    """The answer to a side request of ``kind`` (anything but ``messages`` and ``status``).

    ``served_by`` completes "… is not served by …" for paths nobody answers; ``input_tokens`` is a
    count_tokens answer better than the estimate (the backend's tokenizer)."""
    if kind == "count_tokens":
        if input_tokens is not None:
            return _json(200, {"input_tokens": input_tokens})
        try:
            return _json(200, count_tokens(body))
        except InvalidRequest as e:
            return _json(400, error_body("invalid_request_error", str(e)))
    if kind == "models":
        return _json(200, models_page(models))
    if kind == "hello":
        return SideAnswer(200, b"", "text/plain")
    if kind == "event_logging":
        return _json(200, {})
    return _json(404, error_body("not_found_error", f"{method} {path.split('?', 1)[0]} is not served by "
                                                    f"{served_by}"))


def json_body_or_none(body: bytes) -> dict[str, Any] | None:
    try:
        return load_json_object(body)
    except InvalidRequest:
        return None
