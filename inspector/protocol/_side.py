"""Claude Code's side traffic, answered without bothering the backend."""

from __future__ import annotations

from typing import Any

from ._request import parse_request

__all__ = ["count_tokens", "models_page", "request_kind", "SIDE_PATHS", "STATUS_PATH"]

#: The gateway's own status (what ``inspector doctor`` asks), answered in every mode.
STATUS_PATH = "/_inspector/status"
#: Paths answered by the gateway itself in translating modes (query strings ignored).
SIDE_PATHS = ("/v1/messages/count_tokens", "/v1/models", "/api/hello", "/api/event_logging")


def count_tokens(body: bytes) -> dict[str, int]:
    """``POST /v1/messages/count_tokens``: an estimate, documented in the README.

    ``(request bytes - base64 image bytes) / 4 + 1600 per image`` — the same
    rule of thumb Ollama's own Anthropic layer uses (≈4 bytes per token), plus
    Anthropic's published cost of a ~1.15 MP image. ``max_tokens`` is optional here.
    """
    return {"input_tokens": parse_request(body).estimated_input_tokens}


def models_page(model_ids: list[str], *, created_at: str = "2025-01-01T00:00:00Z") -> dict[str, Any]:
    """``GET /v1/models``: the models this gateway routes to, in Anthropic's list shape."""
    ids = list(dict.fromkeys(m for m in model_ids if m))
    data = [{"type": "model", "id": m, "display_name": f"{m} (via inspector gateway)",
             "created_at": created_at} for m in ids]
    return {"data": data, "has_more": False,
            "first_id": ids[0] if ids else None, "last_id": ids[-1] if ids else None}


def request_kind(method: str, path: str) -> str:
    """messages | count_tokens | models | hello | event_logging | other (query strings ignored)."""
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
