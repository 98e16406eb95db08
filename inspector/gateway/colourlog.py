"""The ``ColourLog`` addon: one readable entry per exchange in the mitmdump terminal.

The colour log *is* the gateway's log: mitmproxy's own per-flow lines (``client connect``,
``server connect``, ``<< 200 OK``) are turned off unless asked for — ``log_detail=events``, or
mitmproxy's ``--set flow_detail=2`` (or more).

While a request waits for the backend's first token, the log shows that it is alive
(``inspector.log.waiting``): after ``status_after`` seconds a live status line on a terminal —
rewritten in place every second, cleared when the token arrives — or, when the log is not a
terminal (a file, a pipe), a plain line every ``status_every`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from collections.abc import Callable
from typing import Any

from mitmproxy import addonmanager, ctx, exceptions
from rich.console import Console

from ..log import BodyView, EventLine, ExchangeLine, print_lines
from ..log.waiting import Waiting
from ..protocol import EventDecoder, NoteDict, SSEDecoder
from ..recording import Redactor
from .exchange import Direction, Exchange

__all__ = ["ColourLog", "DETAILS", "quiet_mitmproxy", "said_nothing"]

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
    and response, pretty, long strings folded) | events (+ every stream event as it passes, and
    mitmproxy's own flow lines; not the whole bodies)."""

    def __init__(self, console: Console | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.console = console or Console(file=sys.stdout, highlight=False, soft_wrap=True)
        self.detail = "summary"
        #: Secrets never reach the terminal either (the recording's redaction, same rules).
        self.redactor = Redactor()
        self._said: set[str] = set()
        self._decoders: dict[int, dict[str, EventDecoder]] = {}
        #: Requests waiting for their first token, and the clock they are timed by (tests set both).
        self.clock = clock
        self.waiting = Waiting(after=3.0)
        self.status_every = 15.0
        self._status = ""  # the live status line shown now (a terminal only)
        self._ticker: asyncio.Task[None] | None = None

    def load(self, loader: addonmanager.Loader) -> None:
        loader.add_option("log_detail", str, "summary",
                          "Terminal log: off, summary (a line per exchange), bodies (and the request, the "
                          "translated request and the answer, whole), events (and every stream event as it "
                          "passes, with mitmproxy's own flow lines, instead of whole bodies).",
                          choices=DETAILS)

    def configure(self, updated: set[str]) -> None:
        if "log_detail" in updated:
            if ctx.options.log_detail not in DETAILS:
                raise exceptions.OptionsError(f"log_detail must be one of {', '.join(DETAILS)}")
            self.detail = ctx.options.log_detail
            quiet_mitmproxy(verbose=self.detail == "events")
        if "redact_headers" in updated and "redact_headers" in ctx.options:
            self.redactor = Redactor(ctx.options.redact_headers.split(","))

    def running(self) -> None:
        self._ticker = asyncio.ensure_future(self._tick_every_second())

    def done(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        self._clear()

    async def _tick_every_second(self) -> None:
        while True:
            await asyncio.sleep(1)
            try:
                self.tick()
            except Exception:
                logging.getLogger("inspector").exception("colour log: the waiting status failed")

    # -- the waiting status ----------------------------------------------------------------------
    def tick(self) -> None:
        """Say what waits for its first token: a live line on a terminal, plain lines otherwise."""
        if self.detail == "off":
            return
        now = self.clock()
        due = self.waiting.due(now)
        if self.console.is_terminal:
            if not due:
                self._clear()
                return
            text = "… " + self.waiting.text(due[0], now) + (f" (+{len(due) - 1} more waiting)" if len(due) > 1 else "")
            self._show(text)
            return
        for w in due:
            if w.said is None or now - w.said >= self.status_every:
                w.said = now
                self._write(f"    … {self.waiting.text(w, now)}\n")

    def _write(self, text: str) -> None:
        with self.console._lock:
            self.console.file.write(text)
            self.console.file.flush()

    def _show(self, text: str) -> None:
        """The live status line, rewritten in place (never wider than the terminal: it must not wrap)."""
        width = max(20, self.console.width - 1)
        text = text if len(text) <= width else text[: width - 1] + "…"
        self._status = text
        self._write(f"\r\x1b[2K\x1b[2m{text}\x1b[0m")

    def _clear(self) -> None:
        if self._status:
            self._status = ""
            self._write("\r\x1b[2K")

    def _print(self, renderable: Any) -> None:
        self._clear()  # the status line is redrawn on the next tick, below what is printed now
        print_lines(self.console, renderable)

    # -- listener -------------------------------------------------------------------------------
    def exchange_started(self, ex: Exchange) -> None:
        if ex.kind != "messages" or ex.local:
            return
        count = ex.token_count
        self.waiting.start(id(ex), session=(ex.session_id or "--------")[:8],
                           model=ex.backend_model or ex.client_model, backend=ex.backend,
                           since=ex.sent if ex.sent is not None else ex.started,
                           prompt_tokens=count.tokens if count is not None else ex.input_estimate or None,
                           exact=count is not None and count.exact,
                           sse=isinstance(ex.form.event_decoder(), SSEDecoder))

    def exchange_response(self, ex: Exchange, direction: Direction, status: int,
                          headers: list[tuple[str, str]]) -> None:
        pass

    def exchange_chunk(self, ex: Exchange, direction: Direction, data: bytes) -> None:
        if self.waiting and id(ex) in self.waiting.requests:
            if ex.first_token is not None:
                self.waiting.stop(id(ex))
                if not self.waiting.due(self.clock()):
                    self._clear()
            elif direction == "backend":
                self.waiting.backend_chunk(id(ex), data)
        if self.detail != "events" or ex.local:
            return
        state = self._decoders.setdefault(id(ex), {})
        decoder = state.get(direction)
        if decoder is None:  # the client hears Anthropic's events; the backend speaks its form's
            decoder = state[direction] = ex.form.event_decoder() if direction == "backend" else SSEDecoder(comments=True)
        text = self.redactor.text
        for item in decoder.decode(data):
            if isinstance(item, bytes):
                self._print(EventLine(direction, "line", text(item.decode("utf-8", "replace"))))
            elif item.comment is not None:
                self._print(EventLine(direction, "keep-alive", item.comment))
            else:
                self._print(EventLine(direction, item.event or "data", text(item.data)))

    def exchange_ended(self, ex: Exchange) -> None:
        self._decoders.pop(id(ex), None)
        self.waiting.stop(id(ex))
        final = ex.final or ex.summary()
        self.waiting.learn(ex.backend, ex.backend_model or ex.client_model, final.get("performance"))
        if self.detail == "off":
            return
        summary = self.redactor.json(final)
        fresh: list[NoteDict] | None = None
        if self.detail == "summary":
            # Detail lines for a note print once per run; the counts show on every line.
            fresh = []
            for n in summary.get("notes", []):
                key = n["kind"] + _DIGITS.sub("N", n["message"])
                if n["kind"] == "error" or key not in self._said:
                    self._said.add(key)
                    fresh.append(n)
        self._print(ExchangeLine(summary, when=ex.started_wall, notes_shown=fresh, nothing=said_nothing(ex)))
        if self.detail == "bodies":  # events shows the stream as it passed, not the whole bodies again
            self._clear()
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


def said_nothing(ex: Exchange) -> str | None:
    """What to say, plainly, when a Messages exchange reached Claude Code with no output at all
    (None when it said something, or failed — an error says itself)."""
    if ex.kind != "messages" or ex.local or ex.error is not None:
        return None
    if ex.incomplete:
        if ex.first_token is not None:
            return None
        waited = (ex.ended or time.monotonic()) - (ex.sent if ex.sent is not None else ex.started)
        return f"no output: nothing reached Claude Code before the exchange ended ({waited:.0f}s after it was sent)"
    message = ex.processor.message() if ex.processor is not None else ex.answer
    if not isinstance(message, dict) or message.get("type") != "message":
        return None
    blocks = [b for b in message.get("content") or [] if isinstance(b, dict)]
    if any(b.get("type") == "tool_use" or (b.get("type") == "text" and str(b.get("text", "")).strip())
           for b in blocks):
        return None
    thought = any(b.get("type") == "thinking" and b.get("thinking") for b in blocks)
    usage = message.get("usage") if isinstance(message.get("usage"), dict) else {}
    out = usage.get("output_tokens") if isinstance(usage, dict) else None
    what = "only thinking: no text, no tool call" if thought else "nothing: no text, no tool call"
    return (f"no output: the backend answered {what} (stop_reason {message.get('stop_reason')}, "
            f"{out if isinstance(out, int) else '?'} tokens out); Claude Code shows an empty answer")
