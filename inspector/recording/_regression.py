"""Recordings as regression fixtures: re-run today's translator over recorded backend traffic.

For a translated exchange, the recorded client request is translated again and compared
with the recorded backend request, and the recorded backend response (every chunk, in
the recorded splits, keep-alives included) is fed to a fresh translator and compared with
what Claude Code was sent. Volatile values (message ids, synthesised tool ids) are
normalised, so a difference is a change in the translation itself.

An exchange the gateway ended itself is checked as far as it went, and says what it skipped: a
client that went away (the recorded answer is a start of today's), a gateway that stopped (its
"shutting down" error is its own, not the translator's), a stream the backend cut (the error quotes
how the connection failed: its wording is not compared).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from ..protocol import (
    FORMS,
    SSEDecoder,
    StreamProcessor,
    StreamTranslator,
    TranslateContext,
    TranslateOptions,
    parse_request,
)
from ._reader import ExchangeRecord, body_bytes

__all__ = ["Regression", "retranslate"]

_IDS = re.compile(r'"(msg|toolu|req)_[A-Za-z0-9_]+"')


@dataclass(slots=True)
class Regression:
    exchange: ExchangeRecord
    checked: bool  # False when the exchange was not translated (passthrough, side traffic…)
    diff: str = ""  # empty when nothing changed
    skipped: str = ""  # what was not compared, and why (an exchange the gateway ended itself)

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


def _enveloped(meta: Mapping[str, Any]) -> bool:
    return any(isinstance(n, dict) and n.get("rule") == "reask:always" for n in meta.get("notes") or [])


def _arm(t: StreamProcessor, meta: Mapping[str, Any]) -> None:
    """A re-asked exchange's translator armed as the gateway's was (the re-ask's reason says whether an
    answer without a call needed one; ``reask:always`` that the first attempt was enveloped)."""
    reask = meta.get("reask")
    enveloped = _enveloped(meta)
    if not isinstance(reask, dict) and not enveloped:
        return
    reask = reask if isinstance(reask, dict) else {}
    expect = (reask["reason"], reask.get("tool")) if reask.get("reason") in ("required", "unseen-tools") else None
    t.arm_reask(expect, enveloped=enveloped)


def _reasked(t: StreamProcessor, exchange: ExchangeRecord) -> bytes:
    """The end of a re-asked answer, from the recorded re-asks (each attempt's answer in turn), as the
    gateway ended it."""
    if t.reask is None:
        return b""
    reask = exchange.meta.get("reask") or {}
    hows = [a.get("how") for a in reask.get("attempts") or [] if isinstance(a, dict)][1:]
    for i, n in enumerate(exchange.attempts):
        status, _, chunks = exchange.response(f"backend-{n}")
        try:
            data = orjson.loads(b"".join(c.data for c in chunks)) if status == 200 else None
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict) and "error" not in data:
            how = hows[i] if i < len(hows) else None
            out = t.resume(data, how=how if isinstance(how, str) else "re-ask")
            if out is not None:
                return out
    return t.give_up(str(reask.get("why") or ""))


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
    if _enveloped(meta):  # --set reask=always: sent constrained to a call or a text answer
        body = (form.constrained(body, tool=None, text=True) or (body, ""))[0]
    # message_start said the gateway's count (the backend's tokenizer, or a corrected estimate) when it had one.
    counted = (meta.get("token_counts") or {}).get("input_tokens")
    input_tokens = counted if isinstance(counted, int) else req.estimated_input_tokens
    diffs = [_diff("backend request", _json_lines(exchange.request_json("backend")), _json_lines(body))]

    left_out = ""
    status, _, chunks = exchange.response("backend")
    _, _, client_chunks = exchange.response("client")
    recorded_client = b"".join(c.data for c in client_chunks)
    backend = meta.get("backend") or "the backend"
    ctx = TranslateContext(options=options, model=req.model, backend_model=backend_model or req.model,
                           backend=backend, input_tokens=input_tokens, names=names, tools=req.tools)
    if status == 200 and meta.get("stream"):
        t = form.stream_processor(ctx)
        _arm(t, meta)
        out = b"".join(t.feed(c.data) for c in chunks)
        ended_by = meta.get("aborted_by")
        out += t.interrupt("cut") if ended_by == "backend" else t.flush()
        out += _reasked(t, exchange)
        events, now, left_out = _as_far_as_it_went(ended_by, _event_lines(recorded_client), _event_lines(out))
        diffs.append(_diff("client stream", events, now))
    elif status == 200:
        raw = b"".join(c.data for c in chunks)
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict) and "error" not in data and isinstance(meta.get("reask"), dict):
            w = form.stream_processor(ctx)
            assert isinstance(w, StreamTranslator)
            _arm(w, meta)
            w.take_whole(data)
            _reasked(w, exchange)
            message = w.message()
        elif isinstance(data, dict) and "error" not in data:
            message = form.whole_response(data, ctx)
        else:
            message = None
        if message is not None:
            try:
                recorded = orjson.loads(recorded_client)
            except orjson.JSONDecodeError:
                recorded = recorded_client.decode("utf-8", "replace")
            diffs.append(_diff("client response", _json_lines(recorded), _json_lines(message)))
    return Regression(exchange, checked=True, diff="\n".join(d for d in diffs if d), skipped=left_out)


def _errors_off(events: list[str]) -> list[str]:
    while events and events[-1].startswith("error: "):
        events = events[:-1]
    return events


def _as_far_as_it_went(ended_by: object, recorded: list[str], now: list[str]) -> tuple[list[str], list[str], str]:
    """The events to compare for a stream the gateway ended itself, and what is left out."""
    if ended_by == "client":
        return recorded, now[:len(recorded)], (f"the stream after its {len(recorded)} recorded events: the client "
                                               f"went away, so it never got the rest")
    if ended_by == "gateway":
        kept = _errors_off(recorded)
        return kept, now[:len(kept)], (f"the stream after its {len(kept)} recorded events: the gateway stopped "
                                       f"(its 'shutting down' error is its own)")
    if ended_by == "backend":
        return _errors_off(recorded), _errors_off(now), ("the cut's error message (it quotes how the backend's "
                                                         "connection failed)")
    return recorded, now, ""
