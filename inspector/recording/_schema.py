"""The recording format, version 2 (documented in SCHEMA.md beside this file; version 1 is read too)."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = [
    "EXCHANGE_FILE", "SCHEMA", "SESSION_FILE", "attempt_direction", "exchange_dirname", "purpose_of",
    "request_file", "response_file", "session_dirname", "epoch_of", "session_id_of", "utc_iso",
]

SCHEMA = "inspector.recording/2"
#: The versions this inspector reads: 1 stores each request whole, 2 as references to pieces.
READABLE = ("inspector.recording/1", SCHEMA)
SESSION_FILE = "session.json"
EXCHANGE_FILE = "exchange.json"
CLIENT_REQUEST = "client-request.json"
BACKEND_REQUEST = "backend-request.json"
BACKEND_RESPONSE = "backend-response.jsonl"
CLIENT_RESPONSE = "client-response.jsonl"
#: A second (third…) backend request of one exchange — the repair ladder's re-ask — and its answer:
#: ``backend-request-2.json``, ``backend-response-2.jsonl`` (the ``backend-2`` direction).
_ATTEMPT = re.compile(r"backend-([2-9]|[1-9][0-9])")


def attempt_direction(n: int) -> str:
    """The direction name of backend attempt ``n`` (1: the first, ``backend``)."""
    return "backend" if n == 1 else f"backend-{n}"


def request_file(which: str) -> str:
    """The file of a request: ``client``, ``backend``, or a later backend attempt ``backend-N``."""
    if which == "client":
        return CLIENT_REQUEST
    m = _ATTEMPT.fullmatch(which)
    return f"backend-request-{m.group(1)}.json" if m else BACKEND_REQUEST


def response_file(direction: str) -> str:
    """The chunk log of a response: ``client``, ``backend``, or a later backend attempt ``backend-N``."""
    if direction == "client":
        return CLIENT_RESPONSE
    m = _ATTEMPT.fullmatch(direction)
    return f"backend-response-{m.group(1)}.jsonl" if m else BACKEND_RESPONSE

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_LEGACY_SESSION = re.compile(r"_session_([0-9a-fA-F-]{8,})")


def utc_iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def epoch_of(iso: Any) -> float | None:
    """A recorded UTC ISO-8601 time (``started``) in epoch seconds; None when absent or unreadable."""
    if not isinstance(iso, str):
        return None
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None


def session_id_of(headers: Mapping[str, str], body: dict[str, Any] | None) -> tuple[str | None, str]:
    """Claude Code's session id and where it came from (``header`` | ``metadata``), or (None, "none")."""
    sid = headers.get("x-claude-code-session-id")
    if sid:
        return sid, "header"
    metadata = body.get("metadata") if isinstance(body, dict) else None
    user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
    if isinstance(user_id, str) and user_id:
        if user_id.startswith("{"):
            try:
                sid = orjson.loads(user_id).get("session_id")
            except (orjson.JSONDecodeError, AttributeError):
                sid = None
            if isinstance(sid, (str, int)) and sid:
                return str(sid), "metadata"
        m = _LEGACY_SESSION.search(user_id)
        if m:
            return m.group(1), "metadata"
    return None, "none"


def client_label(user_agent: str) -> str:
    """``claude-cli/2.1.328 (external, sdk-cli)`` → ``claude-cli-2.1.328``."""
    first = user_agent.split(" ", 1)[0] if user_agent else "unknown-client"
    return _SAFE.sub("-", first.replace("/", "-")).strip("-")[:40] or "unknown-client"


def session_label(session_id: str) -> str:
    """The session id as the end of a folder name: the whole id when it is short and of safe
    characters (Claude Code's UUIDs), else its first 24 safe characters and a hash of all of it —
    two ids never share a label (``abcdefgh-1`` and ``abcdefgh-2`` once both became ``abcdefgh``)."""
    safe = _SAFE.sub("-", session_id)
    if safe == session_id and len(safe) <= 40 and safe not in (".", ".."):
        return safe
    return f"{safe[:24]}-{hashlib.sha256(session_id.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"


def session_dirname(started: float, client: str, session_id: str) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started))
    return f"{stamp}_{client_label(client)}_{session_label(session_id)}"


def exchange_dirname(seq: int, kind: str) -> str:
    return f"{seq:04d}_{_SAFE.sub('-', kind)}"


def _system_text(system: Any) -> str:
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return " ".join(b.get("text", "") for b in system if isinstance(b, dict) and isinstance(b.get("text"), str))
    return ""


def purpose_of(kind: str, body: dict[str, Any] | None) -> str:
    """What a request is for, heuristically: main | background | title | quota | side."""
    if kind != "messages" or not isinstance(body, dict):
        return "side"
    messages = body.get("messages")
    if (body.get("max_tokens") == 1 and isinstance(messages, list) and len(messages) == 1
            and isinstance(messages[0], dict) and messages[0].get("content") == "quota"):
        return "quota"
    if not body.get("tools") and "title" in _system_text(body.get("system")).lower():
        return "title"
    if not body.get("tools") and "haiku" in str(body.get("model", "")).lower():
        return "background"
    return "main"
