"""The ``ColourLog`` addon: one readable entry per exchange in the mitmdump terminal."""

from __future__ import annotations

import re
import sys
from typing import Any

from mitmproxy import ctx, exceptions
from rich.console import Console

from ..log import BodyView, EventLine, ExchangeLine
from ..protocol import LineDecoder, MessageAccumulator, SSEDecoder
from .exchange import Exchange

__all__ = ["ColourLog", "DETAILS"]

DETAILS = ("off", "summary", "bodies", "events")
_DIGITS = re.compile(r"\d+")


class ColourLog:
    """``log_detail``: off | summary (a line per exchange) | bodies (+ request, translated request
    and response, pretty, long strings folded) | events (+ every stream event as it passes)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(file=sys.stdout, highlight=False, soft_wrap=True)
        self.detail = "summary"
        self._said: set[str] = set()
        self._decoders: dict[int, dict[str, Any]] = {}

    def load(self, loader) -> None:
        loader.add_option("log_detail", str, "summary",
                          "Terminal log: off, summary (a line per exchange), bodies (and the bodies), "
                          "events (and every stream event as it passes).", choices=DETAILS)

    def configure(self, updated: set[str]) -> None:
        if "log_detail" in updated:
            if ctx.options.log_detail not in DETAILS:
                raise exceptions.OptionsError(f"log_detail must be one of {', '.join(DETAILS)}")
            self.detail = ctx.options.log_detail

    # -- listener -------------------------------------------------------------------------------
    def exchange_started(self, ex: Exchange) -> None:
        if self.detail in ("bodies", "events") and ex.form == "anthropic" and not ex.local:
            self._decoders[id(ex)] = {"acc": MessageAccumulator()}

    def exchange_response(self, ex: Exchange, direction: str, status: int, headers) -> None:
        pass

    def exchange_chunk(self, ex: Exchange, direction: str, data: bytes) -> None:
        state = self._decoders.get(id(ex))
        if state is not None and direction == "client" and "acc" in state:
            state["acc"].feed(data)
        if self.detail != "events" or ex.local:
            return
        state = self._decoders.setdefault(id(ex), {})
        key = f"dec_{direction}"
        if key not in state:
            ndjson = direction == "backend" and ex.form == "ollama"
            state[key] = LineDecoder() if ndjson else SSEDecoder(comments=True)
        decoder = state[key]
        for item in decoder.decode(data):
            if isinstance(item, bytes):
                self.console.print(EventLine(direction, "line", item.decode("utf-8", "replace")))
            elif item.comment is not None:
                self.console.print(EventLine(direction, "keep-alive", item.comment))
            else:
                self.console.print(EventLine(direction, item.event or "data", item.data))

    def exchange_ended(self, ex: Exchange) -> None:
        state = self._decoders.pop(id(ex), None)
        if self.detail == "off":
            return
        summary = ex.final or ex.summary()
        if self.detail == "summary":
            # Detail lines for a note print once per run; the counts show on every line.
            fresh = []
            for n in summary["notes"]:
                key = n["kind"] + _DIGITS.sub("N", n["message"])
                if n["kind"] == "error" or key not in self._said:
                    self._said.add(key)
                    fresh.append(n)
            summary = {**summary, "notes_shown": fresh}
        self.console.print(ExchangeLine(summary, when=ex.started_wall))
        if self.detail in ("bodies", "events"):
            self._bodies(ex, state or {})

    def _bodies(self, ex: Exchange, state: dict[str, Any]) -> None:
        if ex.client_request and ex.client_request.get("body"):
            self.console.print(BodyView(f"{ex.client_request['method']} {ex.client_request['path']}",
                                        ex.client_request["body"]))
        if ex.backend_request and ex.backend_request.get("body") and ex.form != "anthropic":
            self.console.print(BodyView(f"→ {ex.form} {ex.backend_request['url']}", ex.backend_request["body"]))
        enc = getattr(ex.translator, "encoder", None)
        if enc is not None and enc.finished and enc.stop_reason:
            self.console.print(BodyView("response (as Claude Code sees it)", enc.message()))
        elif "acc" in state and state["acc"].message:
            self.console.print(BodyView("response", state["acc"].message))
