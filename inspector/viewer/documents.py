"""The documents an exchange's tabs show, built off the UI thread from what the recording holds.

Every long string is folded to its start (``u`` unfolds it, ``U`` all of them) and searchable in full.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from rich.text import Text

from ..recording import ExchangeMeta, ExchangeRecord, condense, ladder, readable_response, response_message, word_diff
from .data import Figures, request_tool_errors
from .turns import Turn, conversation
from .widgets.detail import Item

__all__ = ["ExchangeDocuments", "conversation_items", "diff_items", "events_items", "json_items", "json_lines",
           "ladder_items", "load_exchange", "notes_items", "request_items"]

FOLD = 600  # JSON strings longer than this are folded
CALL_FOLD = 400  # strings inside a tool call's input
TURN_FOLD = 3000  # a turn's text
EVENT_FOLD = 400  # one line of a stream

KEY, STRING, NUMBER, LITERAL = "bold bright_blue", "green", "cyan", "magenta"
BARS = {"system": "yellow", "system-turn": "yellow", "user": "bright_blue", "assistant": "green",
        "thinking": "green", "tool-call": "magenta", "tool-result": "grey58", "image": "bright_blue",
        "block": "grey58", "answer": "bright_green", "other": "grey58"}
NOTE_STYLES = {"error": "red", "repaired": "yellow", "warning": "yellow", "dropped": "", "converted": "dim"}


def _folded_string(value: str, limit: int) -> Text:
    head = orjson.dumps(value[: limit - 40]).decode()[:-1]
    return Text.assemble((head + '…"', STRING), (f" (+{len(value) - limit + 40:,} chars, u unfolds)", "dim"))


def _string(value: str, limit: int, indent: int) -> tuple[Text, Text | None]:
    """A JSON string: full, and folded when it is long. Unfolded, a multi-line string reads as lines."""
    if len(value) <= limit:
        return Text(orjson.dumps(value).decode(), STRING), None
    if "\n" in value:
        pad = " " * (indent + 4)
        body = "\n".join(pad + line for line in value.split("\n"))
        full = Text.assemble(("⤵ (as text)\n", "dim"), (body, STRING))
    else:
        full = Text(orjson.dumps(value).decode(), STRING)
    return full, _folded_string(value, limit)


def _scalar(value: Any) -> Text:
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    return Text(text, NUMBER if isinstance(value, int | float) and not isinstance(value, bool) else LITERAL)


def json_lines(value: Any, *, limit: int = FOLD) -> list[tuple[Text, Text | None]]:
    """Pretty JSON as (full, folded or None) lines, coloured, two-space indent."""
    out: list[tuple[Text, Text | None]] = []

    def emit(indent: int, head: Text, v: Any, comma: bool) -> None:
        pad, tail = " " * indent, "," if comma else ""
        if isinstance(v, dict | list) and v:
            opening, closing = ("{", "}") if isinstance(v, dict) else ("[", "]")
            out.append((Text.assemble(pad, head, opening), None))
            entries = list(v.items()) if isinstance(v, dict) else list(enumerate(v))
            for i, (k, child) in enumerate(entries):
                key = Text.assemble((orjson.dumps(str(k)).decode(), KEY), ": ") if isinstance(v, dict) else Text()
                emit(indent + 2, key, child, i < len(entries) - 1)
            out.append((Text(pad + closing + tail), None))
        elif isinstance(v, dict | list):
            out.append((Text.assemble(pad, head, "{}" if isinstance(v, dict) else "[]", tail), None))
        elif isinstance(v, str):
            full, folded = _string(v, limit, indent)
            out.append((Text.assemble(pad, head, full, tail),
                        None if folded is None else Text.assemble(pad, head, folded, tail)))
        else:
            out.append((Text.assemble(pad, head, _scalar(v), tail), None))

    emit(0, Text(), value, False)
    return out


def json_items(value: Any, *, limit: int = FOLD) -> list[Item]:
    if value is None:
        return [Item.of(Text("(none)", "dim"))]
    return [Item.of(full, folded=folded, tag="fold" if folded is not None else "json")
            for full, folded in json_lines(value, limit=limit)]


def _joined(lines: list[Text]) -> Text:
    return Text("\n").join(lines)


def request_items(request: dict[str, Any] | None, body: Any) -> list[Item]:
    if request is None:
        return [Item.of(Text("(none: nothing was sent)", "dim"))]
    head = f"{request.get('method', '?')} {request.get('path') or request.get('url') or ''}"
    headers = [h for h in request.get("headers") or [] if isinstance(h, list | tuple) and len(h) == 2]
    lines = [Text(head, "bold")] + [Text.assemble((f"{k}: ", KEY), str(v)) for k, v in headers]
    collapsed = Text.assemble(("▸ ", "dim"), (head, "bold"), (f" · {len(headers)} headers (Enter shows them)", "dim"))
    items = [Item.of(_joined(lines), collapsed=collapsed, tag="headers", gap=1)]
    return items + json_items(body)


def _turn_item(turn: Turn) -> Item:
    if turn.kind == "stop":
        return Item.of(Text(turn.text, "dim"), gap=1, tag="stop")
    title = Text(turn.title + "\n", "bold red" if turn.error else "bold")
    folded: Text | None = None
    if turn.kind == "tool-call" and turn.value is not None:
        lines = json_lines(turn.value, limit=CALL_FOLD)
        body = _joined([full for full, _ in lines])
        if any(f is not None for _, f in lines):
            folded = _joined([f if f is not None else full for full, f in lines])
    else:
        style = "italic" if turn.kind == "thinking" else "red" if turn.error and turn.kind == "answer" else ""
        body = Text(turn.text, style)
        if len(turn.text) > TURN_FOLD and turn.kind != "system":
            folded = Text.assemble((turn.text[:TURN_FOLD], style),
                                   (f"… (+{len(turn.text) - TURN_FOLD:,} chars, u unfolds)", "dim"))
    notes = [Text(f"\n{kind}: {message}", NOTE_STYLES.get(kind, "yellow")) for kind, message in turn.notes]
    full = Text.assemble(title, body, *notes)
    if folded is not None:
        folded = Text.assemble(title, folded, *notes)
    bar = "red" if turn.error else BARS.get(turn.kind, "grey58")
    if turn.kind == "system":
        collapsed = Text.assemble(("▸ ", "dim"), (turn.title, "bold"),
                                  (" — Enter opens it (s from anywhere)", "dim"))
        return Item.of(full, collapsed=collapsed, bar=bar, gap=1, tag="system")
    return Item.of(full, folded=folded, bar=bar, gap=1, tag=turn.kind)


def conversation_items(request: Any, response: Any, notes: Sequence[Mapping[str, Any]]) -> list[Item]:
    items = [_turn_item(t) for t in conversation(request, response, notes)]
    return items or [Item.of(Text("(no conversation: not a Messages request)", "dim"))]


def events_items(ex: ExchangeRecord) -> list[Item]:
    items: list[Item] = []
    reasks = [(f"backend-{n}", "←") for n in ex.attempts]
    for direction, arrow in (("backend", "←"), *reasks, ("client", "→")):
        status, _headers, chunks = ex.response(direction)
        if status is None and not chunks:
            continue
        where = "from the backend" if direction == "backend" else "to the client" if direction == "client" else \
            f"from the backend, re-ask (attempt {direction.rsplit('-', 1)[1]})"
        items.append(Item.of(Text(f"{where}: HTTP {status}", "bold"), tag="section"))
        for chunk in chunks:
            t = f"{chunk.t:8.3f}s" if chunk.t is not None else "   end   "
            for line in chunk.data.decode("utf-8", "replace").splitlines():
                if not line:
                    continue
                style = "red" if "error" in line[:40] else ""
                full = Text.assemble((f"{t} {arrow} ", "dim"), (line, style))
                folded = None
                if len(line) > EVENT_FOLD:
                    folded = Text.assemble((f"{t} {arrow} ", "dim"), (line[:EVENT_FOLD], style),
                                           (f"… (+{len(line) - EVENT_FOLD:,} chars)", "dim"))
                items.append(Item.of(full, folded=folded, tag="event"))
        if items:
            items[-1].gap = 1
    for problem in ex.problems:
        items.append(Item.of(Text(f"problem: {problem}", "red"), tag="problem"))
    return items or [Item.of(Text("(no response recorded)", "dim"))]


def notes_items(meta: ExchangeMeta, tool_errors: list[str] | None = None) -> list[Item]:
    items: list[Item] = []
    for n in meta.get("notes") or []:
        if not isinstance(n, dict):
            continue
        kind = str(n.get("kind"))
        style = NOTE_STYLES.get(kind, "")
        count = n.get("count", 1)
        items.append(Item.of(Text.assemble((f"{kind:<9} ", "bold " + style),
                                           (str(n.get("message")) + (f"  (×{count})" if isinstance(count, int)
                                                                     and count > 1 else ""), style)), tag=kind))
    if not items:
        items.append(Item.of(Text("nothing was dropped, repaired or warned about", "dim")))
    rungs = ladder_items(meta)
    if rungs:
        items[-1].gap = 1
        items += rungs
    error = meta.get("error")
    if isinstance(error, dict):
        items[-1].gap = 1
        items.append(Item.of(Text(f"the client got: {error.get('type')}: {error.get('message')}", "red"),
                             tag="error"))
    if tool_errors:
        items[-1].gap = 1
        items.append(Item.of(Text(f"failed tool results this request carries: {', '.join(tool_errors)}", "red"),
                             tag="tool-error"))
    items[-1].gap = 1
    items.append(Item.of(Text("figures", "bold"), tag="section"))
    for label, value in Figures.of(meta).parts():
        items.append(Item.of(Text.assemble((f"{label:<15}", "dim"), (value, "dim" if value == "unknown" else "")),
                             tag="figure"))
    return items


LADDER_STYLES = {"ok": "green", "valid": "green", "skipped": "dim", "failed": "red"}


def ladder_items(meta: Mapping[str, Any]) -> list[Item]:
    """The repair ladder rung by rung — parse, repair, re-ask, error — as the answer's calls climbed it."""
    steps = ladder(meta)
    if not steps:
        return []
    items = [Item.of(Text("the repair ladder", "bold"), tag="section")]
    for n, step in enumerate(steps, 1):
        style = LADDER_STYLES.get(step.outcome, "yellow")
        items.append(Item.of(Text.assemble((f"{n}. {step.rung:<7} ", "bold"), (f"{step.outcome:<12}", style),
                                           (step.detail, "dim")), tag="rung"))
    return items


@dataclass(slots=True)
class ExchangeDocuments:
    tabs: dict[str, list[Item]] = field(default_factory=dict)
    tool_errors: list[str] = field(default_factory=list)


def load_exchange(ex: ExchangeRecord) -> ExchangeDocuments:
    """Read every file of ``ex`` and build its tabs (slow for a big exchange: call it in a worker)."""
    meta = ex.meta
    # Walkable copies: a recording of the wrong shape (even one the gateway wrote for a bad
    # request) opens, with what is wrong in ``ex.problems``.
    request = ex.readable_request() if ex.client_request else None
    response = readable_response(response_message(ex), ex.problems)
    notes = [n for n in meta.get("notes") or [] if isinstance(n, dict)]
    results = meta.get("tool_results")
    if isinstance(results, list):
        tool_errors = [str(r.get("name") or r.get("tool_use_id")) for r in results
                       if isinstance(r, dict) and r.get("is_error")]
    else:
        tool_errors = request_tool_errors(request)
    backend = ex.backend_request
    backend_items = request_items(backend, ex.request_json("backend") if backend else None)
    for n in ex.attempts:  # the repair ladder's re-asks, after the first attempt
        which = f"backend-{n}"
        backend_items[-1].gap = 1
        backend_items.append(Item.of(Text(f"re-ask (attempt {n})", "bold yellow"), tag="section"))
        backend_items += request_items(ex.readable_attempt(n), ex.request_json(which))
    return ExchangeDocuments(tabs={
        "conversation": conversation_items(request, response, notes),
        "request": request_items(ex.client_request, ex.request_json()),
        "backend": backend_items,
        "response": json_items(response),
        "events": events_items(ex),
        "notes": notes_items(meta, tool_errors),
    }, tool_errors=tool_errors)


DIFF_CONTEXT = 3  # equal lines kept around a change; longer equal stretches fold
LONG_DIFF_LINE = 300  # a changed line longer than this is shown condensed to its changed words


def _diff_row(a: str | None, b: str | None) -> Item:
    """One changed row; a pair of lines is highlighted word by word, a long one condensed."""
    removed, added = "on #4b1818", "on #183d1f"
    if a is None or b is None:
        left = Text(a, removed) if a is not None else Text("")
        right = Text(b, added) if b is not None else Text("")
        return Item.of((left, right), tag="change")
    runs = word_diff(a, b)

    def side(runs: list[tuple[str, str]], keep: str, style: str) -> Text:
        text = Text(style=style)
        for op, part in runs:
            if op == "equal":
                text.append(part)
            elif op == "elided":
                text.append(part, "dim")
            elif op == keep:
                text.append(part, "bold reverse")
        return text

    full = (side(runs, "delete", removed), side(runs, "insert", added))
    folded = None
    if max(len(a), len(b)) > LONG_DIFF_LINE:
        short = condense(runs)
        folded = (side(short, "delete", removed), side(short, "insert", added))
    return Item.of(full, folded=folded, tag="change")


def diff_items(a: list[str], b: list[str], names: tuple[str, str]) -> tuple[list[Item], int]:
    """Two views side by side, changes highlighted, long equal stretches folded. Returns (items, lines changed)."""
    items = [Item.of((Text(names[0], "bold"), Text(names[1], "bold")), tag="names", gap=1)]
    changed = 0
    opcodes = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    for n, (op, i1, i2, j1, j2) in enumerate(opcodes):
        if op == "equal":
            lines = a[i1:i2]
            head = lines[:DIFF_CONTEXT] if n > 0 else []
            tail = lines[-DIFF_CONTEXT:] if n < len(opcodes) - 1 else []
            if len(lines) <= len(head) + len(tail) + 1:
                head, tail = lines, []
            middle = lines[len(head):len(lines) - len(tail)]
            for line in head:
                items.append(Item.of((Text(line, "dim"), Text(line, "dim")), tag="same"))
            if middle:
                block = Text("\n".join(middle), "dim")
                note = Text(f"⋯ {len(middle):,} equal lines (Enter shows them)", "dim italic")
                items.append(Item.of((block, block.copy()), collapsed=(note, note.copy()), tag="same"))
            for line in tail:
                items.append(Item.of((Text(line, "dim"), Text(line, "dim")), tag="same"))
            continue
        left, right = a[i1:i2], b[j1:j2]
        changed += max(len(left), len(right))
        for k in range(max(len(left), len(right))):
            items.append(_diff_row(left[k] if k < len(left) else None, right[k] if k < len(right) else None))
    return items, changed
