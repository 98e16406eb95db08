"""Export a recorded session as HAR 1.2 (opens in mitmproxy, browsers' devtools, HAR viewers).

Each exchange is two entries, as it went: Claude Code's request to the gateway and the answer it
got, then the gateway's request to the backend (translated) and the backend's answer as it came —
each at its own URL. A local answer (count_tokens, a refusal) has no backend entry.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .. import __version__
from ._reader import ExchangeRecord, SessionRecord
from ._redact import Redactor
from ._redact import redactor as default_redactor

__all__ = ["session_to_har"]


def _headers(headers: list[list[str]] | None, r: Redactor) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in r.headers(headers or [])]


def _started(meta: Any, after_ms: Any = 0) -> datetime:
    try:
        at = datetime.strptime(meta.get("started") or "", "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return datetime.fromtimestamp(0, UTC)  # HAR requires a time; unknown is shown as the epoch
    return at + timedelta(milliseconds=after_ms if isinstance(after_ms, (int, float)) else 0)


def _entry(ex: ExchangeRecord, r: Redactor, side: str) -> dict[str, Any] | None:
    """The exchange as one side saw it: ``client`` (Claude Code's request to the gateway and what the
    gateway answered) or ``backend`` (the request the gateway sent on, as translated, and what the
    backend answered), each with its own URL."""
    req = ex.client_request if side == "client" else ex.backend_request
    if req is None:
        return None
    meta = ex.meta
    # Redacted again on the way out: recordings made before a pattern existed may hold one.
    url = r.url(req.get("url") or f"http://gateway{req.get('path') or '/'}") or ""
    body = r.text(ex.request_body(side).decode("utf-8", "replace"))
    status, headers, chunks = ex.response(side)
    content = r.text(b"".join(c.data for c in chunks).decode("utf-8", "replace"))
    ctype = next((v for k, v in headers if k.lower() == "content-type"), "")
    timing = meta.get("timing_ms") or {}
    total = timing.get("total") or 0
    wait = timing.get("backend_first_byte") or 0
    comment = f"{ex.ref} {meta.get('kind')} form={meta.get('form')} complete={meta.get('complete')}"
    comment += "; the client's request to the gateway" if side == "client" else \
        f"; the gateway's request to the backend ({meta.get('form')} form), for the entry before this one"
    if ex.problems:
        comment += "; problems reading the recording: " + "; ".join(ex.problems)
    return {
        "startedDateTime": _started(meta).isoformat(),
        "time": total,
        "request": {
            "method": req.get("method", "GET"), "url": url, "httpVersion": "HTTP/1.1", "cookies": [],
            "headers": _headers(req.get("headers"), r),
            "queryString": [{"name": k, "value": v} for k, v in parse_qsl(urlsplit(url).query)],
            "headersSize": -1, "bodySize": len(body.encode()),
            **({"postData": {"mimeType": "application/json", "text": body}} if body else {}),
        },
        "response": {
            "status": status or 0, "statusText": "", "httpVersion": "HTTP/1.1", "cookies": [],
            "headers": _headers(headers, r), "redirectURL": "", "headersSize": -1,
            "bodySize": len(content.encode()),
            "content": {"size": len(content.encode()), "mimeType": ctype or "application/octet-stream",
                        "text": content},
        },
        "cache": {},
        "timings": {"send": 0, "wait": wait, "receive": max(0, total - wait)},
        "comment": comment,
    }


def session_to_har(session: SessionRecord, *, redactor: Redactor | None = None) -> dict[str, Any]:
    """HAR 1.2 of a session, with secrets redacted (``redactor``: the default one)."""
    r = redactor or default_redactor()
    entries = [e for ex in session.exchanges() for side in ("client", "backend") if (e := _entry(ex, r, side))]
    return {"log": {"version": "1.2", "creator": {"name": "claude-code-inspector", "version": __version__},
                    "pages": [], "entries": entries, "comment": session.name}}


