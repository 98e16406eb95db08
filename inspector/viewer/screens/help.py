"""``?``: the keys."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# Claude Code inspector — keys

## Lists (sessions, exchanges)

| key | does |
|---|---|
| `Enter` | open the session / exchange |
| `Escape` | back (or close the filter) |
| `j` `k` / arrows, `g` `G` | down / up, first / last row |
| `/` | filter rows: words that must all appear; on sessions also *inside* them (`/Write`, models, error text) |
| `r` | sessions: rescan now (it also rescans every 2 s) |
| `t` | exchanges: show / hide the timeline (parallel requests in lanes, failures red, ↻ a retry, gaps) |
| `m`, `d` | exchanges: mark the highlighted exchange; diff the highlighted one against it |

## An exchange (each tab is a pager; keys act on the tab shown)

| key | does |
|---|---|
| `1`…`6` | Conversation, Request, Backend request, Response, Events, Notes |
| `j` `k` / arrows, `PageDown` `PageUp` / `space` `b`, `g` `G` | move the cursor line, a page, to the top / bottom |
| `]` `[` | next / previous item (a turn; a folded string; a change in a diff) |
| `Enter` | open / close the item under the cursor: the system prompt, a folded string, request headers |
| `s` | open the system prompt (from anywhere in the exchange) |
| `u` / `U` | unfold the item under the cursor / unfold everything (again: fold back) |
| `/`, `n` `N` | search the tab (folded text included; smart case), next / previous match |
| `Escape` | close the search, clear its highlights, then back |

## Diff

| key | does |
|---|---|
| `]` `[` | next / previous change |
| `Enter` | show a folded stretch of equal lines |
| `u` | a long changed line whole (it is shown as its changed words) |
| `v` | show / hide volatile values (ids, timestamps, headers, metadata) |
| `p` `P` | next / previous pair (sessions are compared exchange by exchange) |

## Anywhere

`ctrl+p` command palette · `?` this help · `q` quit

Flags: **error** (the client got an error), **incomplete** (aborted, cut, or still running),
**repaired** (a tool call was repaired: printed as text, broken JSON, coerced types), **call-error**
(a tool call that could not be repaired: schema violation, unknown tool), **tool-error** (the request
carries a tool result marked `is_error`), **retry** (sent again after a failure), **corrupt** (a file
could not be read), **unknown-schema** (written in a recording format this version does not read: shown
as far as it fits, its problem says which). `/repaired` or `/tool-error` shows only those. Figures (prompt cache, prefix kept,
tokens/s, exact or estimated counts) show under the exchange's title when the recording has them.
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
