"""One exchange: conversation, requests, response, raw events, notes."""

from __future__ import annotations

from typing import Any

import orjson
from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from ...log import fold
from ...recording import ExchangeRecord, readable_response, response_message
from ..widgets import Conversation

TABS = ("conversation", "request", "backend", "response", "events", "notes")


def _pretty(value: Any) -> Syntax | Text:
    if value is None:
        return Text("(none)", style="dim")
    text = orjson.dumps(fold(value, limit=600), option=orjson.OPT_INDENT_2).decode()
    return Syntax(text, "json", word_wrap=True, theme="ansi_dark")


class ExchangeScreen(Screen):
    CSS_PATH = "exchange.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back", id="exchange.back"),
        *[Binding(str(i + 1), f"tab('{name}')", name.title(), show=False, id=f"exchange.tab.{name}")
          for i, name in enumerate(TABS)],
    ]

    def __init__(self, exchange: ExchangeRecord) -> None:
        super().__init__()
        self.exchange = exchange

    def compose(self) -> ComposeResult:
        ex = self.exchange
        meta = ex.meta
        yield Header()
        model = meta.get("model") or {}
        request = ex.request_json() if ex.client_request else None
        response = response_message(ex)
        readable = readable_response(response, ex.problems)  # a recording of the wrong shape still opens
        conversation = ex.readable_request()
        yield Static(Text(f"{ex.ref} · {meta.get('kind')} · {model.get('requested')} → {model.get('backend')} · "
                     f"{meta.get('form')} · status {(meta.get('status') or {}).get('client')}"
                     + ("" if ex.complete else f" · INCOMPLETE: {meta.get('incomplete') or 'unknown'}")
                     + "".join(f"\nproblem: {p}" for p in ex.problems)),
                     id="where", classes="" if ex.complete else "incomplete")
        notes = meta.get("notes") or []
        with TabbedContent(initial="conversation"):
            with TabPane("Conversation", id="conversation"):
                yield Conversation(conversation, readable, notes)
            with TabPane("Request", id="request"):
                with VerticalScroll():
                    yield Static(_pretty(request))
            with TabPane("Backend request", id="backend"):
                with VerticalScroll():
                    yield Static(_pretty(ex.request_json("backend") if ex.backend_request else None))
            with TabPane("Response", id="response"):
                with VerticalScroll():
                    yield Static(_pretty(response))
            with TabPane("Events", id="events"):
                with VerticalScroll():
                    yield Static(self._events())
            with TabPane("Notes", id="notes"):
                with VerticalScroll():
                    yield Static(self._notes(notes))
        yield Footer()

    def _events(self) -> Text:
        text = Text()
        for direction, arrow in (("backend", "←"), ("client", "→")):
            status, headers, chunks = self.exchange.response(direction)
            if status is None and not chunks:
                continue
            text.append(f"{'from the backend' if direction == 'backend' else 'to the client'}: HTTP {status}\n",
                        style="bold")
            for chunk in chunks:
                t = f"{chunk.t:8.3f}s" if chunk.t is not None else "   end   "
                body = chunk.data.decode("utf-8", "replace")
                for line in body.splitlines() or [""]:
                    if line:
                        text.append(f"{t} {arrow} ", style="dim")
                        text.append(fold(line, limit=400) + "\n",
                                    style="red" if "error" in line[:40] else "")
            text.append("\n")
        for problem in self.exchange.problems:
            text.append(f"problem: {problem}\n", style="red")
        return text or Text("(no response recorded)", style="dim")

    def _notes(self, notes: list[dict[str, Any]]) -> Text:
        text = Text()
        styles = {"error": "red", "repaired": "yellow", "warning": "yellow", "dropped": "", "converted": "dim"}
        for n in notes:
            text.append(f"{n['kind']:<9} ", style="bold " + styles.get(n["kind"], ""))
            text.append(n["message"] + (f"  (×{n['count']})" if n.get("count", 1) > 1 else "") + "\n",
                        style=styles.get(n["kind"], ""))
        error = self.exchange.meta.get("error")
        if error:
            text.append(f"\nthe client got: {error.get('type')}: {error.get('message')}\n", style="red")
        return text or Text("nothing was dropped, repaired or warned about", style="dim")

    def action_tab(self, name: str) -> None:
        self.query_one(TabbedContent).active = name

    def action_back(self) -> None:
        self.app.pop_screen()
