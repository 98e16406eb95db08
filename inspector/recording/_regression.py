"""Recordings as regression fixtures: re-run today's translator over recorded backend traffic.

For a translated exchange, the recorded client request is translated again and compared
with the recorded backend request, and the recorded backend response (every chunk, in
the recorded splits, keep-alives included) is fed to a fresh translator and compared with
what Claude Code was sent. Volatile values (message ids, synthesised tool ids) are
normalised, so a difference is a change in the translation itself.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

import orjson

from ..protocol import FORMS, SSEDecoder, TranslateContext, TranslateOptions, parse_request
from ._reader import ExchangeRecord, body_bytes

__all__ = ["Regression", "retranslate"]

_IDS = re.compile(r'"(msg|toolu|req)_[A-Za-z0-9_]+"')


@dataclass(slots=True)
class Regression:
    exchange: ExchangeRecord
    checked: bool  # False when the exchange was not translated (passthrough, side traffic…)
    diff: str = ""  # empty when nothing changed

    @property
    def same(self) -> bool:
        return not self.diff


def _normalise_ids(text: str) -> str:
    seen: dict[str, str] = {}

    def repl(m: re.Match[str]) -> str:
        return seen.setdefault(m.group(0), f'"{m.group(1)}_<{len(seen) + 1}>"')

    return _IDS.sub(repl, text)


def _event_lines(raw: bytes) -> list[str]:
    """The events, keep-alive pings left out: when they came is timing, not translation."""
    dec = SSEDecoder()
    return [f"{e.event}: {_normalise_ids(e.data)}" for e in dec.decode(raw) + dec.flush() if e.event != "ping"]


def _json_lines(data: Any) -> list[str]:
    return _normalise_ids(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()).splitlines()


def _diff(name: str, recorded: list[str], now: list[str]) -> str:
    if recorded == now:
        return ""
    return "\n".join(difflib.unified_diff(recorded, now, f"{name} (recorded)", f"{name} (translated now)", lineterm=""))


def retranslate(exchange: ExchangeRecord) -> Regression:
    meta = exchange.meta
    form = FORMS.get(str(meta.get("form")))
    backend_req = exchange.backend_request
    if (meta.get("local") or form is None or not form.writes_answers or meta.get("kind") != "messages"
            or not backend_req):
        return Regression(exchange, checked=False)
    settings = dict(meta.get("translate_options") or {})
    if isinstance(settings.get("capabilities"), list):
        settings["capabilities"] = tuple(settings["capabilities"])
    options = TranslateOptions.recorded(settings)
    model = (meta.get("model") or {})
    backend_model = model.get("backend") or None
    client_body = body_bytes((exchange.client_request or {}).get("body"))
    req = parse_request(client_body)
    names = form.tool_names()
    body = form.build_request(req, model=backend_model or req.model, options=options, names=names)
    # message_start said the gateway's count (the backend's tokenizer, or a corrected estimate) when it had one.
    counted = (meta.get("token_counts") or {}).get("input_tokens")
    input_tokens = counted if isinstance(counted, int) else req.estimated_input_tokens
    diffs = [_diff("backend request", _json_lines(exchange.request_json("backend")), _json_lines(body))]

    status, _, chunks = exchange.response("backend")
    _, _, client_chunks = exchange.response("client")
    recorded_client = b"".join(c.data for c in client_chunks)
    backend = meta.get("backend") or "the backend"
    ctx = TranslateContext(options=options, model=req.model, backend_model=backend_model or req.model,
                           backend=backend, input_tokens=input_tokens, names=names, tools=req.tools)
    if status == 200 and meta.get("stream"):
        t = form.stream_processor(ctx)
        out = b"".join(t.feed(c.data) for c in chunks)
        out += t.interrupt("cut") if meta.get("aborted_by") == "backend" else t.flush()
        diffs.append(_diff("client stream", _event_lines(recorded_client), _event_lines(out)))
    elif status == 200:
        raw = b"".join(c.data for c in chunks)
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict) and "error" not in data:
            message = form.whole_response(data, ctx)
            try:
                recorded = orjson.loads(recorded_client)
            except orjson.JSONDecodeError:
                recorded = recorded_client.decode("utf-8", "replace")
            diffs.append(_diff("client response", _json_lines(recorded), _json_lines(message)))
    return Regression(exchange, checked=True, diff="\n".join(d for d in diffs if d))
