"""A recorded session as one self-contained HTML page: what ``inspector view`` shows, to attach to a bug report.

The page makes no network request: its CSS and script are inline and a Content-Security-Policy
allows exactly those two (by hash) and nothing else. Recorded text is untrusted: the parts
written here are HTML-escaped, the rest travels as JSON in a data block (``<`` escaped) and the
script only ever sets ``textContent``. Header secrets were redacted when recorded; the page
redacts again (more names, and URL query values) for recordings made before or by hand.

Big sessions stay fast: strings repeated from exchange to exchange (Claude Code resends the whole
conversation each time) are stored once, an exchange's conversation and raw events are built only
when it is opened, and its earlier messages (the ones the previous exchanges showed) only when asked.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from .. import __version__
from ..recording import REDACTED, ExchangeRecord, Redactor, SessionRecord, readable_response, response_message
from ..viewer.data import (
    EXCHANGE_COLUMNS,
    ExchangeSummary,
    Figures,
    SessionSummary,
    Timeline,
    fmt_ms,
    request_tool_errors,
    summarize_session,
)
from ..viewer.turns import Turn, conversation

__all__ = ["ReportOptions", "session_report"]

# Beyond the recording's own list: names that look secret, in case a recording predates a rule.
_EXTRA_SECRETS = ("*token*", "*secret*", "*api-key*", "*apikey*", "*password*", "*session-key*")
_POOL_MIN = 200  # strings at least this long are stored once and referenced
_CC_VERSION = re.compile(r"claude-cli/([0-9][0-9A-Za-z.+-]*)")


@dataclass(frozen=True, slots=True)
class ReportOptions:
    max_event_lines: int = 4000  # per direction and exchange; the rest is counted, not shown
    max_event_line: int = 4000  # characters of one raw line
    open_all_up_to: int = 12  # sessions with at most this many exchanges open every one at load
    generated: datetime | None = None  # the "made at" time (tests pin it)


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _json_block(value: Any) -> str:
    """JSON safe inside ``<script type="application/json">``: no ``</script>``, no ``<!--``, no U+2028."""
    text = orjson.dumps(value).decode()
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


class _Pool:
    """Long strings stored once, and turns stored once; an exchange refers to them by index."""

    def __init__(self) -> None:
        self.strings: list[str] = []
        self.index: dict[str, int] = {}
        self.turns: list[dict[str, Any]] = []
        self.turn_index: dict[bytes, int] = {}

    def turn(self, turn: dict[str, Any]) -> int:
        key = orjson.dumps(turn)
        n = self.turn_index.get(key)
        if n is None:
            n = self.turn_index[key] = len(self.turns)
            self.turns.append(turn)
        return n

    def ref(self, text: str) -> str | int:
        if len(text) < _POOL_MIN:
            return text
        n = self.index.get(text)
        if n is None:
            n = self.index[text] = len(self.strings)
            self.strings.append(text)
        return n


def _redact_url(url: str, redactor: Redactor) -> str:
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [(k, REDACTED if redactor.secret(k) or redactor.secret(k.replace("_", "-")) else v)
             for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="[]")))


@dataclass(slots=True)
class _Facts:
    claude_code: str
    client: str
    backends: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)


def _facts(session: SessionRecord, rows: list[ExchangeSummary], redactor: Redactor) -> _Facts:
    client = str(session.meta.get("client") or next((r.exchange.meta.get("client") for r in rows
                                                    if r.exchange.meta.get("client")), "") or "")
    version = _CC_VERSION.search(client) or _CC_VERSION.search(session.name.replace("claude-cli-", "claude-cli/"))
    facts = _Facts(claude_code=version.group(1) if version else "unknown", client=client)
    for r in rows:
        meta = r.exchange.meta
        backend = meta.get("backend")
        form = meta.get("form")
        if form:
            where = f"{form} at {_redact_url(str(backend), redactor)}" if backend else str(form)
            if where not in facts.backends:
                facts.backends.append(where)
        if r.kind.startswith("messages") and r.model and r.model not in facts.models:
            facts.models.append(r.model)
    return facts


def _turn(turn: Turn, pool: _Pool) -> dict[str, Any]:
    out: dict[str, Any] = {"k": turn.kind, "t": turn.title}
    if turn.value is not None:
        out["x"] = pool.ref(orjson.dumps(turn.value, option=orjson.OPT_INDENT_2).decode())
        out["json"] = 1
    else:
        out["x"] = pool.ref(turn.text)
    if turn.error:
        out["e"] = 1
    if turn.answer:
        out["a"] = 1
    if turn.notes:
        out["n"] = [[k, m] for k, m in turn.notes]
    if turn.message >= 0:
        out["m"] = turn.message
    return out


def _events(ex: ExchangeRecord, options: ReportOptions) -> list[dict[str, Any]]:
    out = []
    for direction in ("backend", "client"):
        status, _headers, chunks = ex.response(direction)
        if status is None and not chunks:
            continue
        lines: list[list[Any]] = []
        more = 0
        for chunk in chunks:
            for line in chunk.data.decode("utf-8", "replace").splitlines():
                if not line:
                    continue
                if len(lines) >= options.max_event_lines:
                    more += 1
                    continue
                if len(line) > options.max_event_line:
                    line = line[:options.max_event_line] + f"… (+{len(line) - options.max_event_line:,} chars)"
                lines.append([chunk.t, line])
        out.append({"d": direction, "status": status, "lines": lines, "more": more})
    return out


def _exchange_data(row: ExchangeSummary, pool: _Pool, redactor: Redactor, options: ReportOptions) -> dict[str, Any]:
    # A record of its own: what it reads is freed with it, not kept by the summary's record.
    ex = ExchangeRecord(row.exchange.path, row.exchange.session)
    meta = ex.meta
    # Walkable copies, as the viewer reads them: a recording of the wrong shape (made by hand, damaged)
    # still makes a page, with what is wrong in its problems.
    request = ex.readable_request() if ex.client_request else None
    notes = [n for n in meta.get("notes") or [] if isinstance(n, dict)]
    turns = conversation(request, readable_response(response_message(ex), ex.problems), notes)
    if not row.tool_results_known:
        row.mark_tool_errors(request_tool_errors(request))
    client = ex.client_request or {}
    headers = [[k, v] for k, v in redactor.headers((str(h[0]), str(h[1])) for h in client.get("headers") or []
                                                   if isinstance(h, list | tuple) and len(h) == 2)]
    error = meta.get("error") if isinstance(meta.get("error"), dict) else None
    return {
        "seq": row.seq,
        "head": f"{client.get('method', '')} {_redact_url(str(client.get('path') or client.get('url') or ''),
                                                          redactor)}".strip(),
        "headers": headers,
        "turns": [pool.turn(_turn(t, pool)) for t in turns],
        "notes": [[str(n.get("kind")), str(n.get("message")), n.get("count", 1)] for n in notes],
        "error": [str(error.get("type")), str(error.get("message"))] if error else None,
        "events": _events(ex, options),
        "problems": list(ex.problems),
    }


# -- the page -----------------------------------------------------------------------------------------
def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


_BAR_CLASS = {"ok": "ok", "side": "side", "error": "err", "incomplete": "inc"}


def _timeline_svg(tl: Timeline) -> str:
    if not tl.bars:
        return '<p class="muted">no timed exchanges</p>'
    span = tl.span if tl.span > 0 else 1e-3
    lanes = max(1, tl.lanes)
    row_h, width = 18, 1000
    height = lanes * row_h + 22
    parts = [f'<svg class="timeline" viewBox="0 0 {width} {height}" preserveAspectRatio="none" role="img" '
             f'aria-label="{_e(tl.summary())}">']
    for b in tl.bars:
        x = b.start / span * width
        w = max(2.0, (b.end - b.start) / span * width)
        y = b.lane * row_h + 2
        cls = _BAR_CLASS[b.state] + (" retry" if b.retry else "")
        parts.append(f'<a href="#ex-{b.seq}" data-seq="{b.seq}"><rect class="{cls}" x="{x:.2f}" y="{y}" '
                     f'width="{w:.2f}" height="{row_h - 4}"><title>{_e(b.label)}'
                     f'{" · retried after a failure" if b.retry else ""}</title></rect></a>')
    axis_y = lanes * row_h + 16
    for q in range(5):
        x = q * width / 4
        anchor = "start" if q == 0 else "end" if q == 4 else "middle"
        parts.append(f'<text x="{x:.0f}" y="{axis_y}" text-anchor="{anchor}">{_e(fmt_ms(span * q / 4 * 1000) or "0s")}'
                     f"</text>")
    parts.append("</svg>")
    return "".join(parts)


def _flags(flags: set[str]) -> str:
    return " ".join(f'<span class="flag f-{_e(f)}">{_e(f)}</span>' for f in sorted(flags))


_ROW_CLASS = {"error": "err", "warning": "warn", "side": "side", "": ""}


def _row_class(row: ExchangeSummary) -> str:
    return _ROW_CLASS[row.severity]


def _table(rows: list[ExchangeSummary]) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in EXCHANGE_COLUMNS)
    body = []
    for r in rows:
        cells = r.cells()
        tds = "".join(f"<td>{_e(c)}</td>" for c in cells[:-1]) + f"<td>{_flags(r.flags)}</td>"
        body.append(f'<tr id="row-{r.seq}" class="{_row_class(r)}" data-seq="{r.seq}">{tds}</tr>')
    return f'<table class="exchanges"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _figures(figures: Figures) -> str:
    if not figures.any:
        return ""
    items = "".join(f'<span><b>{_e(k)}</b> {_e(v)}</span>' for k, v in figures.parts())
    return f'<p class="figures">{items}</p>'


def _articles(rows: list[ExchangeSummary], open_all: bool) -> str:
    out = []
    for r in rows:
        summary = " · ".join(p for p in (f"#{r.seq}", r.start, r.kind, r.model, r.status and f"status {r.status}",
                                         r.ttft and f"ttft {r.ttft}", r.duration, r.tokens and f"tokens {r.tokens}",
                                         r.stop, r.tools and f"→ {r.tools}") if p)
        out.append(
            f'<details class="exchange {_row_class(r)}" id="ex-{r.seq}" data-seq="{r.seq}"'
            f'{" open" if open_all else ""}>'
            f"<summary>{_e(summary)} {_flags(r.flags)}</summary>"
            f'{_figures(r.figures)}<div class="body"><p class="muted">…</p></div></details>')
    return "".join(out)


def session_report(session: SessionRecord, *, options: ReportOptions | None = None,
                   summary: SessionSummary | None = None) -> str:
    """The page for ``session`` (reads every file of it)."""
    options = options or ReportOptions()
    redactor = Redactor(_EXTRA_SECRETS)
    summary = summary if summary is not None and summary.loaded else summarize_session(session)
    rows = summary.rows
    pool = _Pool()
    exchanges = [_exchange_data(r, pool, redactor, options) for r in rows]
    if any(r.tool_errors for r in rows):
        summary.flags.add("tool-error")
    facts = _facts(session, rows, redactor)
    tl = summary.timeline()
    made = (options.generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    css, js = _asset("report.css"), _asset("report.js")
    csp = (f"default-src 'none'; style-src {_csp_hash(css)}; script-src {_csp_hash(js)}; img-src 'none'; "
           "base-uri 'none'; form-action 'none'")
    open_all = len(rows) <= options.open_all_up_to
    data = {"strings": pool.strings, "turns": pool.turns, "exchanges": exchanges, "openAll": open_all}
    facts_html = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in (
        ("Claude Code", f"{facts.claude_code}" + (f" ({facts.client})" if facts.client else "")),
        ("backend", ", ".join(facts.backends) or "unknown"),
        ("models", ", ".join(facts.models) or "none"),
        ("started (UTC)", summary.started),
        ("wall clock", summary.duration or "unknown"),
        ("exchanges", str(summary.exchanges)),
        ("tokens in/out", summary.tokens),
    ))
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_e(csp)}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="claude-code-inspector {_e(__version__)}">
<title>{_e(session.name)} — Claude Code session report</title>
<style>{css}</style>
</head>
<body>
<header>
<h1>Claude Code session <code>{_e(session.name)}</code></h1>
<dl class="facts">{facts_html}<dt>flags</dt><dd>{_flags(summary.flags) or "none"}</dd></dl>
<p class="muted">Made by claude-code-inspector {_e(__version__)} on {_e(made)} from the recording
(<code>inspector export --html</code>). Header secrets were redacted when recorded and again here;
everything recorded is shown as text.</p>
</header>
<main>
<section id="timeline-section">
<h2>Timeline</h2>
<p class="summary">{_e(tl.summary())}</p>
{_timeline_svg(tl)}
<p class="legend"><span class="key ok"></span>ok <span class="key side"></span>side traffic
<span class="key err"></span>error <span class="key inc"></span>incomplete
<span class="key retry"></span>retried after a failure — click a bar to open its exchange</p>
</section>
<section id="list">
<h2>Exchanges</h2>
{_table(rows)}
</section>
<section id="details">
<h2>Each exchange</h2>
<p class="controls"><button type="button" id="open-all">open all</button>
<button type="button" id="close-all">close all</button></p>
{_articles(rows, open_all)}
</section>
</main>
<script type="application/json" id="data">{_json_block(data)}</script>
<script>{js}</script>
</body>
</html>
"""
