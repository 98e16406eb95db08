"""Claude Code's side traffic — count_tokens, model listing, hello probes, telemetry — and the one
set of answers the gateway and replay both give to it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from ._anthropic import error_body
from ._request import InvalidRequest, load_json_object, parse_request

__all__ = ["STATUS_PATH", "TELEMETRY_PATHS", "RequestKind", "SideAnswer", "anthropic_style", "count_tokens",
           "models_page", "request_kind", "side_answer"]

#: The gateway's own status (what ``inspector doctor`` asks), answered in every mode.
STATUS_PATH = "/_inspector/status"

RequestKind = Literal["messages", "count_tokens", "models", "hello", "event_logging", "telemetry", "status",
                      "other"]

#: The OTLP/HTTP paths Claude Code exports its telemetry to when pointed at a gateway.
TELEMETRY_PATHS = ("/v1/metrics", "/v1/logs", "/v1/traces")
#: The model ids Claude Code's model-family logic understands: claude-{family}-{major}[-{minor}][-{date}].
_ANTHROPIC_ID = re.compile(r"claude-[a-z]+-\d+(?:-\d+){0,2}")


def anthropic_style(model: str) -> bool:
    """Whether ``model`` is an id Claude Code can place in a model family (``claude-sonnet-4-5``)."""
    return _ANTHROPIC_ID.fullmatch(model) is not None


def count_tokens(body: bytes) -> dict[str, int]:
    """``POST /v1/messages/count_tokens``: an estimate, documented in the README.

    ``(request bytes - base64 image bytes) / 4 + 1600 per image`` — the same
    rule of thumb Ollama's own Anthropic layer uses (≈4 bytes per token), plus
    Anthropic's published cost of a ~1.15 MP image. ``max_tokens`` is optional here.
    """
    return {"input_tokens": parse_request(body, endpoint="count_tokens").estimated_input_tokens}


def models_page(models: Iterable[str] | Mapping[str, str], *,
                created_at: str = "2025-01-01T00:00:00Z") -> dict[str, Any]:
    """``GET /v1/models`` in Anthropic's list shape: the Anthropic-style ids among ``models`` (an id →
    the backend model it routes to, or ids alone). Claude Code keeps only ids naming claude or
    anthropic, and its model-family logic reads them as ``claude-{family}-{major}-{minor}``, so
    nothing else is listed (a backend's own names are no use to it)."""
    routes = dict(models) if isinstance(models, Mapping) else dict.fromkeys(models, "")
    ids = [m for m in routes if m and anthropic_style(m)]
    data = [{"type": "model", "id": m,
             "display_name": f"{m} → {routes[m]} (via inspector gateway)" if routes[m] and routes[m] != m
             else f"{m} (via inspector gateway)", "created_at": created_at} for m in ids]
    return {"data": data, "has_more": False,
            "first_id": ids[0] if ids else None, "last_id": ids[-1] if ids else None}


def request_kind(method: str, path: str) -> RequestKind:
    """messages | count_tokens | models | hello | event_logging | telemetry | status | other (query ignored)."""
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
    if path in TELEMETRY_PATHS and method == "POST":
        return "telemetry"
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


def side_answer(kind: RequestKind, method: str, path: str, body: bytes, *,
                models: Iterable[str] | Mapping[str, str], served_by: str, input_tokens: int | None = None,
                content_type: str = "") -> SideAnswer:
    """The answer to a side request of ``kind`` (anything but ``messages`` and ``status``).

    ``served_by`` completes "… is not served by …" for paths nobody answers; ``input_tokens`` is a
    count_tokens answer better than the estimate (the backend's tokenizer); ``content_type`` is the
    request's (an OTLP answer is in the form it was asked in)."""
    if kind == "count_tokens":
        if input_tokens is not None:
            return _json(200, {"input_tokens": input_tokens})
        try:
            return _json(200, count_tokens(body))
        except InvalidRequest as e:
            return _json(400, error_body("invalid_request_error", str(e)))
    if kind == "models":
        page = models_page(models)
        if page["data"]:
            return _json(200, page)
        # The contract's "not implemented": Claude Code falls back to its built-in list, no retries.
        return _json(404, error_body("not_found_error", f"{served_by} knows no Anthropic-style model ids to list "
                                                        f"(name them in model_map, e.g. claude-sonnet-4-5=MODEL)"))
    if kind == "hello":
        return SideAnswer(200, b"", "text/plain")
    if kind == "event_logging":
        return _json(200, {})
    if kind == "telemetry":
        # OTLP/HTTP's success: an empty Export*ServiceResponse, protobuf or JSON as asked (the
        # contract: 200 whether forwarded or discarded; a 404 makes the exporter log every flush).
        if "protobuf" in content_type:
            return SideAnswer(200, b"", "application/x-protobuf")
        return _json(200, {})
    return _json(404, error_body("not_found_error", f"{method} {path.split('?', 1)[0]} is not served by "
                                                    f"{served_by}"))


def json_body_or_none(body: bytes) -> dict[str, Any] | None:
    try:
        return load_json_object(body)
    except InvalidRequest:
        return None
