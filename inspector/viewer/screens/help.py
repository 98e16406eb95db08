"""``?``: the keys."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# Claude Code inspector — keys

| key | where | does |
|---|---|---|
| `Enter` | lists | open the session / exchange |
| `Escape` | anywhere | back (or close the filter) |
| `j` `k` / arrows | lists | down / up |
| `g` `G` | lists | first / last row |
| `/` | lists | filter rows: words that must all appear (models, kinds, `error`, `repaired`, tool names…) |
| `m` | exchanges | mark the highlighted exchange |
| `d` | exchanges | diff the highlighted exchange against the marked one |
| `1`…`6` | an exchange | Conversation, Request, Backend request, Response, Events, Notes |
| `v` | diff | show / hide volatile values (ids, timestamps, headers, metadata) |
| `r` | sessions | rescan now (it also rescans every 2 s) |
| `ctrl+p` | anywhere | command palette |
| `?` | anywhere | this help |
| `q` | anywhere | quit |

Flags: **error** (the client got an error), **incomplete** (aborted, cut, or still running),
**repaired** (a tool call was repaired: printed as text, broken JSON, coerced types), **call-error**
(a tool call that could not be repaired: schema violation, unknown tool), **corrupt** (a file could not be read).
`/repaired` or `/call-error` shows only those.
"""


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90; height: 80%; border: thick $primary; background: $surface; }
    """
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close", id="help.close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(HELP)

    def action_close(self) -> None:
        self.dismiss()
