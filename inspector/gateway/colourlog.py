"""The ``ColourLog`` addon: one readable entry per exchange in the mitmdump terminal.

The colour log *is* the gateway's log: mitmproxy's own per-flow lines (``client connect``,
``server connect``, ``<< 200 OK``) are turned off unless asked for — ``log_detail=events``, or
mitmproxy's ``--set flow_detail=2`` (or more).
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

from mitmproxy import addonmanager, ctx, exceptions
from rich.console import Console

from ..log import BodyView, EventLine, ExchangeLine, print_lines
from ..protocol import EventDecoder, NoteDict, SSEDecoder
from ..recording import Redactor
from .exchange import Direction, Exchange

__all__ = ["ColourLog", "DETAILS", "quiet_mitmproxy"]

DETAILS = ("off", "summary", "bodies", "events")
_DIGITS = re.compile(r"\d+")
#: mitmproxy's loggers whose INFO lines are per-connection noise next to the colour log.
_CHATTY = ("mitmproxy.proxy.server",)


def quiet_mitmproxy(*, verbose: bool = False) -> None:
    """mitmproxy's per-flow lines off (``flow_detail`` 1, mitmdump's default, becomes 0; connection
    INFO lines are dropped), unless ``verbose``."""
    o = ctx.options
    if not verbose and "flow_detail" in o and o.flow_detail == 1:
        o.flow_detail = 0
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.WARNING)


class ColourLog:
    """``log_detail``: off | summary (a line per exchange) | bodies (+ request, translated request
    and response, pretty, long strings folded) | events (+ every stream event as it passes)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(file=sys.stdout, highlight=False, soft_wrap=True)
        self.detail = "summary"
        #: Secrets never reach the terminal either (the recording's redaction, same rules).
        self.redactor = Redactor()
        self._said: set[str] = set()
        self._decoders: dict[int, dict[str, EventDecoder]] = {}

    def load(self, loader: addonmanager.Loader) -> None:
        loader.add_option("log_detail", str, "summary",
                          "Terminal log: off, summary (a line per exchange), bodies (and the bodies), "
                          "events (and every stream event as it passes, with mitmproxy's own flow lines).",
                          choices=DETAILS)

    def configure(self, updated: set[str]) -> None:
        if "log_detail" in updated:
            if ctx.options.log_detail not in DETAILS:
                raise exceptions.OptionsError(f"log_detail must be one of {', '.join(DETAILS)}")
            self.detail = ctx.options.log_detail
            quiet_mitmproxy(verbose=self.detail == "events")
        if "redact_headers" in updated and "redact_headers" in ctx.options:
            self.redactor = Redactor(ctx.options.redact_headers.split(","))

    # -- listener -------------------------------------------------------------------------------
    def exchange_started(self, ex: Exchange) -> None:
        pass

    def exchange_response(self, ex: Exchange, direction: Direction, status: int,
                          headers: list[tuple[str, str]]) -> None:
        pass

    def exchange_chunk(self, ex: Exchange, direction: Direction, data: bytes) -> None:
        if self.detail != "events" or ex.local:
            return
        state = self._decoders.setdefault(id(ex), {})
        decoder = state.get(direction)
        if decoder is None:  # the client hears Anthropic's events; the backend speaks its form's
            decoder = state[direction] = ex.form.event_decoder() if direction == "backend" else SSEDecoder(comments=True)
        text = self.redactor.text
        for item in decoder.decode(data):
            if isinstance(item, bytes):
                print_lines(self.console, EventLine(direction, "line", text(item.decode("utf-8", "replace"))))
            elif item.comment is not None:
                print_lines(self.console, EventLine(direction, "keep-alive", item.comment))
            else:
                print_lines(self.console, EventLine(direction, item.event or "data", text(item.data)))

    def exchange_ended(self, ex: Exchange) -> None:
        self._decoders.pop(id(ex), None)
        if self.detail == "off":
            return
        summary = self.redactor.json(ex.final or ex.summary())
        fresh: list[NoteDict] | None = None
        if self.detail == "summary":
            # Detail lines for a note print once per run; the counts show on every line.
            fresh = []
            for n in summary.get("notes", []):
                key = n["kind"] + _DIGITS.sub("N", n["message"])
                if n["kind"] == "error" or key not in self._said:
                    self._said.add(key)
                    fresh.append(n)
        print_lines(self.console, ExchangeLine(summary, when=ex.started_wall, notes_shown=fresh))
        if self.detail in ("bodies", "events"):
            self._bodies(ex)

    def _bodies(self, ex: Exchange) -> None:
        r = self.redactor
        if ex.client_request and ex.client_request.get("body"):
            self.console.print(BodyView(f"{ex.client_request['method']} {r.url(ex.client_request['path'])}",
                                        self._body(ex.client_request.get("json"), ex.client_request["body"])))
        backend = ex.backend_request
        if backend and backend.get("body") and backend.get("body") != (ex.client_request or {}).get("body"):
            self.console.print(BodyView(f"→ {ex.form.name} {r.url(backend['url'])}",
                                        self._body(backend.get("json"), backend["body"])))
        message = ex.processor.message() if ex.processor is not None else ex.answer
        if message:
            self.console.print(BodyView("response (as Claude Code sees it)", r.json(message)))

    def _body(self, parsed: Any, raw: bytes) -> Any:
        if parsed is not None:
            return self.redactor.json(parsed)
        return self.redactor.text(raw.decode("utf-8", "replace"))
