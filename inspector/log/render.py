"""Rich renderables for the gateway's terminal log. Colour carries meaning:

red — errors and failed exchanges; yellow — repairs and warnings; magenta — tool calls;
cyan — models; dim — side traffic (count_tokens, hello probes, telemetry, quota probes).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from rich.console import Console, ConsoleOptions, RenderResult
from rich.json import JSON
from rich.panel import Panel
from rich.text import Text

if TYPE_CHECKING:
    from ..protocol import NoteDict
    from ..recording import ExchangeMeta
    from ..recording._meta import ToolCallMeta

__all__ = ["BodyView", "EventLine", "ExchangeLine", "fold", "print_lines", "reask_label"]


def fold(value: Any, *, limit: int = 240) -> Any:
    """``value`` with every string longer than ``limit`` folded to its start and a count."""
    if isinstance(value, str):
        if len(value) > limit:
            return value[: limit - 40] + f"… (+{len(value) - limit + 40} chars)"
        return value
    if isinstance(value, dict):
        return {k: fold(v, limit=limit) for k, v in value.items()}
    if isinstance(value, list):
        return [fold(v, limit=limit) for v in value]
    return value


#: A row of a one-line renderable: its pieces, each ``(text, style)`` (``""``: unstyled).
Row = list[tuple[str, str]]
#: What never reaches the terminal from a log line: C0 controls (escape sequences from a model's
#: or a client's text could move the cursor or retitle the window), DEL and C1 controls.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_VISIBLE = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7f, 0xa0))} | {0x09: " ", 0x0a: "⏎"}
#: ``(style, colour system)`` → the escape codes before and after a piece in that style.
_ANSI: dict[tuple[str, int], tuple[str, str]] = {}


def _safe(row: Row) -> Row:
    """``row`` with control characters shown, never sent: ``\\x1b``, ``⏎``."""
    if not any(_CONTROL.search(text) for text, _ in row):
        return row
    return [(text.translate(_VISIBLE), style) for text, style in row]


def _text(row: Row) -> Text:
    t = Text(no_wrap=False)
    for text, style in row:
        t.append(text, style or None)
    return t


def _codes(console: Console, style: str, system: Any) -> tuple[str, str]:
    key = (style, system.value)
    codes = _ANSI.get(key)
    if codes is None:
        rendered = console.get_style(style).render("\0", color_system=system)
        before, _, after = rendered.partition("\0")
        codes = _ANSI[key] = (before, after)
    return codes


def print_lines(console: Console, renderable: ExchangeLine | EventLine) -> None:
    """Print a renderable made of whole lines (``ExchangeLine``, ``EventLine``).

    What ``console.print`` writes for them, without its layout pass (wrapping, cropping,
    measuring) or rich's ``Text`` at all: each piece gets its style's escape codes, cached per
    style. On the gateway's hot path this is a tenth of ``console.print``'s cost. A console that
    records or captures gets ``console.print`` itself.
    """
    if console.record or console._buffer_index or console.is_dumb_terminal:
        console.print(renderable)
        return
    system = console._color_system if console.color_system else None
    out: list[str] = []
    for row in renderable.rows():
        if system is None:
            out.extend(text for text, _ in row)
        else:
            for text, style in row:
                if not text:
                    continue
                if style:
                    before, after = _codes(console, style, system)
                    out.append(before + text + after)
                else:
                    out.append(text)
        out.append("\n")
    with console._lock:
        console.file.write("".join(out))
        console.file.flush()


def _excerpt(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    text = text.replace("\n", "⏎")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _tool(call: ToolCallMeta) -> str:
    args, name = call.get("input"), call.get("name")
    if isinstance(args, dict) and args:
        inner = ", ".join(f"{k}={_excerpt(v, 40)}" for k, v in list(args.items())[:3])
        return f"{name}({_excerpt(inner, 80)})"
    return f"{name}()"


class ExchangeLine:
    """One line per exchange, from an exchange summary (``Exchange.summary()`` / exchange.json).

    ``notes_shown``: the notes to print a detail line for (default: every repair, warning and
    error); the counts on the line are always of all of them."""

    def __init__(self, summary: ExchangeMeta, *, when: float | None = None,
                 notes_shown: Sequence[NoteDict] | None = None, nothing: str | None = None) -> None:
        self.s = summary
        self.when = when or time.time()
        self.notes_shown = notes_shown
        #: Said plainly on a line of its own: the exchange reached Claude Code with no output at all.
        self.nothing = nothing

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.lines()

    def lines(self) -> Iterator[Text]:
        """The line, then a line per repair, warning and error note."""
        for row in self.rows():
            yield _text(row)

    def rows(self) -> list[Row]:
        """``lines()`` as rows of ``(text, style)`` pieces (what ``print_lines`` writes)."""
        s = self.s
        side = s.get("local") or s.get("purpose") in ("side", "quota")
        status = (s.get("status") or {}).get("client")
        failed = bool(s.get("error")) or (status is not None and status >= 400) or bool(s.get("incomplete"))
        t: Row = []
        t.append((time.strftime("%H:%M:%S ", time.localtime(self.when)), "dim"))
        sid = (s.get("session_id") or "--------")[:8]
        t.append((f"{sid} ", "dim"))
        client = (s.get("client") or "").split(" ", 1)[0].replace("claude-cli/", "cc ")
        if client:
            t.append((f"{client} ", "dim"))
        t.append((f"{s.get('kind')}", "bold" if not side else ""))
        if s.get("purpose") not in (None, "main", "side"):
            t.append((f"/{s['purpose']}", ""))
        found = s.get("agent")
        agent = found.get("id") if isinstance(found, dict) else None
        if isinstance(agent, str) and agent:
            t.append((f" {agent[:8]}", "dim"))
        model = s.get("model") or {}
        requested, backend = model.get("requested"), model.get("backend")
        if requested:
            t.append(("  ", ""))
            t.append((requested, "cyan"))
            if backend and backend != requested:
                t.append((" → ", ""))
                t.append((backend, "bold cyan"))
        t.append((f" [{s.get('form')}{' local' if s.get('local') else ''}]", "dim"))
        if status is not None:
            t.append((f"  {status}", "bold red" if status >= 400 else "green"))
        timing = s.get("timing_ms") or {}
        queue: Mapping[str, Any] = s.get("queue") or {}
        waited = queue.get("wait_ms")
        if isinstance(waited, (int, float)) and waited >= 1:
            # Its own figure: prefill (ttft) and decode start when the gateway's queue let it through.
            ahead = queue.get("ahead")
            t.append((f"  queued {_seconds(waited)}" + (f" ({ahead} ahead)" if isinstance(ahead, int) and ahead else ""),
                      "yellow"))
        if timing.get("first_token") is not None:
            t.append((f"  ttft {timing['first_token']:.0f}ms", "dim"))
        total = timing.get("total")
        if total is not None:
            t.append((f"  {total / 1000:.2f}s" if total >= 1000 else f"  {total:.0f}ms", ""))
        overhead = s.get("overhead_ms")
        if isinstance(overhead, Mapping) and isinstance(overhead.get("total"), (int, float)):
            t.append((f"  gw +{overhead['total']:.1f}ms", "dim"))  # what the gateway itself spent on it
        usage = s.get("usage") or {}
        if usage:
            t.append((f"  in {usage.get('input_tokens', '?')} out {usage.get('output_tokens', '?')}", "dim"))
        counted = s.get("token_counts") or {}
        if s.get("kind") == "count_tokens" and isinstance(counted.get("input_tokens"), int):
            exact = counted.get("exact") is True
            t.append((f"  count {'' if exact else '≈'}{counted['input_tokens']:,} {'exact' if exact else 'est'}",
                      "dim"))
        truth = _cache_text(s)
        if truth:
            t.append(("  " + truth, _prefix_style(s.get("prefix"))))
        speed = _speed_text(s.get("performance"))
        if speed:
            t.append(("  " + speed, "dim"))
        if s.get("stop_reason"):
            t.append((f"  {s['stop_reason']}", "magenta" if s["stop_reason"] == "tool_use" else ""))
        for call in s.get("tool_calls") or []:
            t.append(("  ", ""))
            t.append((_tool(call), "bold magenta"))
        reask = s.get("reask")
        if isinstance(reask, dict):
            t.append(("  " + reask_label(reask), "yellow" if reask.get("outcome") == "valid" else "red"))
        notes = s.get("notes") or []
        counts: dict[str, int] = {}
        for n in notes:
            counts[n["kind"]] = counts.get(n["kind"], 0) + n.get("count", 1)
        for kind, style in (("dropped", "dim"), ("converted", "dim"), ("repaired", "yellow"),
                            ("warning", "yellow"), ("error", "red")):
            if counts.get(kind):
                t.append((f"  {kind} {counts[kind]}", style))
        if side and not failed:
            t = [(text, f"{style} dim" if style else "dim") for text, style in t]
        rows = [t]
        for n in notes if self.notes_shown is None else self.notes_shown:
            if n["kind"] in ("repaired", "warning", "error"):
                style = "red" if n["kind"] == "error" else "yellow"
                rows.append([(f"    {n['kind']}: {n['message']}" + (f" (×{n['count']})" if n.get("count", 1) > 1
                                                                           else ""), style)])
        prefix = s.get("prefix") or {}
        if prefix.get("first_difference") and prefix.get("reason"):
            rows.append([(f"    prefix: {prefix['first_difference']} differs from the previous request: "
                          f"{prefix['reason']}", "yellow")])
        if s.get("incomplete"):
            rows.append([(f"    incomplete: {s['incomplete']}", "red")])
        if self.nothing:
            rows.append([(f"    {self.nothing}", "bold yellow")])
        return [_safe(row) for row in rows]


def reask_label(reask: Mapping[str, Any]) -> str:
    """``re-asked (schema) → valid``, ``re-asked (plain) → no better``, ``no re-ask (not possible)``: the
    repair ladder's re-ask rung (exchange.json ``reask``) in a few words."""
    constrained = reask.get("constrained")
    outcome = reask.get("outcome") or "unknown"
    if constrained is None:
        return f"no re-ask ({outcome})"
    return f"re-asked ({'schema' if constrained else 'plain'}) → {outcome}"


def _seconds(ms: float) -> str:
    return f"{ms / 1000:.2f}s" if ms >= 1000 else f"{ms:.0f}ms"


def _share(value: Any) -> str:
    return f"{value:.0%}" if isinstance(value, (int, float)) else "unknown"


def _cache_text(s: ExchangeMeta) -> str:
    """``prefix kept 97% · cache 11,800 tok`` — each part only when known."""
    parts = []
    prefix = s.get("prefix")
    if isinstance(prefix, dict) and isinstance(prefix.get("kept"), (int, float)):
        parts.append(f"prefix kept {_share(prefix['kept'])}")
    read = (s.get("usage") or {}).get("cache_read_input_tokens")
    if isinstance(read, int):
        parts.append(f"cache {read:,} tok")
    return " · ".join(parts)


def _prefix_style(prefix: Any) -> str:
    kept = prefix.get("kept") if isinstance(prefix, dict) else None
    return "yellow" if isinstance(kept, (int, float)) and kept < 0.9 else "dim"


def _rate(value: Any) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _speed_text(perf: Any) -> str:
    """``prompt 850 tok/s · decode 21.3 tok/s · load 1.20s`` — only what the backend or gateway measured."""
    if not isinstance(perf, dict):
        return ""
    parts = []
    for key, label in (("prompt_tokens_per_s", "prompt"), ("decode_tokens_per_s", "decode")):
        if isinstance(perf.get(key), (int, float)):
            parts.append(f"{label} {_rate(perf[key])} tok/s")
    load = perf.get("load_ms")
    if isinstance(load, (int, float)) and load >= 100:
        parts.append(f"load {load / 1000:.2f}s")
    return " · ".join(parts)


class BodyView:
    """A titled, pretty JSON body with long strings folded."""

    def __init__(self, title: str, body: Any, *, limit: int = 240) -> None:
        self.title = title
        self.body = body
        self.limit = limit

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        body = self.body
        if isinstance(body, (bytes, bytearray)):
            try:
                body = orjson.loads(body)
            except orjson.JSONDecodeError:
                body = body.decode("utf-8", "replace")
        if isinstance(body, (dict, list)):
            renderable: Any = JSON.from_data(fold(body, limit=self.limit))
            renderable.text.no_wrap = False
            renderable.text.overflow = "fold"  # wrap long lines rather than crop them
        else:
            renderable = Text(fold(str(body), limit=self.limit * 4))
        yield Panel(renderable, title=self.title, title_align="left", border_style="dim", expand=False)


class EventLine:
    """One stream event as it passes: ``→`` to the client, ``←`` from the backend."""

    def __init__(self, direction: str, name: str, data: str, *, limit: int = 160) -> None:
        self.direction = direction
        self.name = name
        self.data = data
        self.limit = limit

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.lines()

    def lines(self) -> Iterator[Text]:
        for row in self.rows():
            yield _text(row)

    def rows(self) -> list[Row]:
        arrow = "→" if self.direction == "client" else "←"
        style = "red" if self.name == "error" else "dim" if self.name in ("ping", "keep-alive") else ""
        name = style or ("magenta" if "tool" in self.data else "cyan")
        return [_safe([(f"    {arrow} ", "dim"), (self.name, f"dim {name}"),
                       (" " + _excerpt(self.data, self.limit), "dim")])]
