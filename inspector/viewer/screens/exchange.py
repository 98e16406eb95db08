"""One exchange: conversation, requests, response, raw events, notes — each tab a pager.

Its files are read and its documents built in a worker; the screen shows at once and fills in.
Keys act on the tab shown: ``1``–``6`` switch and focus it, so ``j``/``k``/PageDown scroll it at once.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import getters, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from ...recording import ExchangeRecord
from ..app import InspectorApp
from ..data import Figures, fmt_ms
from ..documents import ExchangeDocuments, load_exchange
from ..widgets import DetailView
from .pager import PagerScreen

TABS = (("conversation", "Conversation"), ("request", "Request"), ("backend", "Backend request"),
        ("response", "Response"), ("events", "Events"), ("notes", "Notes"))
JUMPS = {"conversation": None, "request": frozenset({"fold", "headers"}), "backend": frozenset({"fold", "headers"}),
         "response": frozenset({"fold"}), "events": frozenset({"section"}), "notes": None}


HINT = "/ search · n N next/previous match · Enter open/close · u unfold · U unfold all · s system prompt · 1–6 tabs"


def header_line(ex: ExchangeRecord) -> Text:
    meta = ex.meta

    def part(key: str) -> dict[str, Any]:
        value = meta.get(key)
        return value if isinstance(value, dict) else {}
    model, timing, usage = part("model"), part("timing_ms"), part("usage")
    status = part("status").get("client")
    text = Text.assemble((ex.ref, "bold"), f" · {meta.get('kind')}")
    if meta.get("purpose") not in (None, "main", "side"):
        text.append(f"/{meta.get('purpose')}")
    requested, backend = model.get("requested") or "unknown model", model.get("backend")
    shown = f"{requested} → {backend}" if backend and backend != requested else requested
    text.append(f" · {shown} · {meta.get('form') or 'unknown form'} · ")
    text.append(f"status {status if status is not None else 'unknown'}",
                "red" if isinstance(status, int) and status >= 400 else "")
    if timing.get("first_token") is not None:
        text.append(f" · ttft {fmt_ms(timing['first_token'])}")
    if timing.get("total") is not None:
        text.append(f" · {fmt_ms(timing['total'])}")
    if usage:
        text.append(f" · {_count(usage.get('input_tokens'))} in / {_count(usage.get('output_tokens'))} out")
    if not ex.complete:
        text.append(f" · INCOMPLETE: {meta.get('incomplete') or 'unknown'}", "bold yellow")
    session = ex.session.schema_problem if ex.session is not None else None
    for problem in [session, *ex.problems] if session else ex.problems:  # it opens, and says what is wrong
        text.append(f"\nproblem: {problem}", "red")
    return text


def _count(value: Any) -> str:
    return str(value) if isinstance(value, int) else "?"


class ExchangeScreen(PagerScreen):
    CSS_PATH = ["pager.tcss", "exchange.tcss"]
    HINT = HINT
    BINDINGS = [
        Binding("s", "system_prompt", "System prompt", id="exchange.system"),
        *[Binding(str(i + 1), f"tab('{name}')", title, show=False, id=f"exchange.tab.{name}")
          for i, (name, title) in enumerate(TABS)],
    ]
    app = getters.app(InspectorApp)

    def __init__(self, exchange: ExchangeRecord) -> None:
        super().__init__()
        self.exchange = exchange
        self.documents: ExchangeDocuments | None = None

    def compose(self) -> ComposeResult:
        ex = self.exchange
        yield Header()
        yield Static(header_line(ex), id="where", classes="" if ex.complete else "incomplete")
        if ex.kind == "messages":
            yield Static(Text(Figures.of(ex.meta).text()), id="figures")
        with TabbedContent(initial="conversation"):
            for name, title in TABS:
                with TabPane(title, id=name):
                    yield DetailView(id=f"doc-{name}", jump_tags=JUMPS[name])
        yield from self.compose_search()
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.exchange.ref
        self.view("conversation").focus()
        self._load()

    @work(thread=True, exclusive=True, group="exchange")
    def _load(self) -> None:
        documents = load_exchange(self.exchange)
        self.app.call_from_thread(self._loaded, documents)

    def _loaded(self, documents: ExchangeDocuments) -> None:
        self.documents = documents
        for name, items in documents.tabs.items():
            self.view(name).set_items(items)
        # Reading the files may have found problems (a recording of the wrong shape): say them too.
        line = header_line(self.exchange)
        if documents.tool_errors:
            line = Text.assemble(line, (f" · failed tool result: {', '.join(documents.tool_errors)}", "bold red"))
        self.query_one("#where", Static).update(line)

    def view(self, name: str | None = None) -> DetailView:
        """The pager of tab ``name`` (default: the tab shown)."""
        name = name or self.query_one(TabbedContent).active or "conversation"
        return self.query_one(f"#doc-{name}", DetailView)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        # A click on a tab (or Tab-then-arrows) also hands the keys to what is shown.
        if event.pane.id:
            self.view(event.pane.id).focus()

    def action_tab(self, name: str) -> None:
        self.query_one(TabbedContent).active = name
        self.view(name).focus()

    def action_system_prompt(self) -> None:
        self.action_tab("conversation")
        if not self.view("conversation").open_first("system"):
            self.notify("this request has no system prompt", severity="warning")

