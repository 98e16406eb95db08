"""``make bench`` (viewer part): how fast ``inspector view`` and ``inspector export --html`` are on big recordings.

1. A folder of SESSIONS × EXCHANGES exchanges (copies of a real sample exchange, ~100 KB each: Claude
   Code's request as sent and as translated, and both streams), measured headless: the time until the
   sessions screen shows every session, until every session's details (its exchanges' exchange.json)
   have been read in the background, the ``/Write`` filter over all of them (it looks inside sessions),
   and opening one exchange until its six tabs are built (in a worker) plus a search in its request.
2. One session of REPORT exchanges whose conversation grows as Claude Code's does (each request resends
   every earlier message): the time ``inspector export --html`` takes, the page's size, and — when
   Debian's chromium and playwright are there — the time headless chromium takes to load the page and
   to build every exchange ("open all").
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent

from textual.widgets import DataTable

from inspector.recording import list_sessions
from inspector.viewer import InspectorApp

CHROMIUM = Path(os.environ.get("INSPECTOR_CHROMIUM", "/usr/bin/chromium"))


def _sample():
    names = (ROOT / "recordings" / "samples.txt").read_text().split()
    return next(s for s in list_sessions(ROOT / "recordings") if s.name == names[1])


def _exchange_template(folder: Path) -> Path:
    """A sample exchange whose requests are Claude Code's real 49 KB request (as sent, as translated)."""
    template = folder / "template"
    shutil.copytree(_sample().exchanges()[0].path, template)
    body = orjson.loads((ROOT / "tests" / "data" / "claude-code-request.json").read_bytes())
    for name in ("client-request.json", "backend-request.json"):
        request = orjson.loads((template / name).read_bytes())
        request["body"] = {"encoding": "json", "json": body}
        (template / name).write_bytes(orjson.dumps(request, option=orjson.OPT_INDENT_2))
    return template


def generate(target: Path, sessions: int, exchanges: int) -> int:
    sample = _sample()
    exchange = _exchange_template(target.parent)
    for s in range(sessions):
        session = target / f"20261121T{s // 3600:02d}{s // 60 % 60:02d}{s % 60:02d}Z_claude-cli-2.1.328_{s:08x}"
        session.mkdir()
        shutil.copy(sample.path / "session.json", session / "session.json")
        for e in range(1, exchanges + 1):
            shutil.copytree(exchange, session / f"{e:04d}_messages")
    return sum(p.stat().st_size for p in target.rglob("*") if p.is_file())


async def measure_viewer(folder: Path, sessions: int) -> dict[str, float]:
    from inspector.viewer.screens import ExchangeScreen, SessionsScreen
    from inspector.viewer.widgets import FilterTable

    out: dict[str, float] = {}
    t0 = time.perf_counter()
    app = InspectorApp(folder)
    async with app.run_test(size=(160, 40)) as pilot:
        table = app.screen.query_one(DataTable)
        while table.row_count < sessions:
            await asyncio.sleep(0.005)
        out["shown"] = time.perf_counter() - t0
        await app.workers.wait_for_complete()
        out["loaded"] = time.perf_counter() - t0
        screen = app.screen
        assert isinstance(screen, SessionsScreen)
        filter_table = screen.query_one(FilterTable)
        t = time.perf_counter()
        filter_table.query_text = "Write"
        filter_table.set_rows(screen._rows())
        out["filter"] = time.perf_counter() - t
        out["filter_rows"] = table.row_count
        filter_table.query_text = ""
        filter_table.set_rows(screen._rows())
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause(0.05)
        t = time.perf_counter()
        await pilot.press("enter")
        while not (isinstance(app.screen, ExchangeScreen) and app.screen.documents is not None):
            await asyncio.sleep(0.002)
        out["exchange"] = time.perf_counter() - t
        await pilot.press("2")  # search the tab shown, as a person does
        await pilot.pause(0.1)
        request = app.screen.view("request")
        t = time.perf_counter()
        out["matches"] = request.search("Write")
        out["search"] = time.perf_counter() - t
        await pilot.press("q")
    return out


def grown_session(root: Path, exchanges: int) -> Path:
    """A session whose n-th request carries n tool round trips, as Claude Code resends its conversation."""
    from inspector.protocol import MessageStreamEncoder
    from inspector.recording import RecordingStore

    body = orjson.loads((ROOT / "tests" / "data" / "claude-code-request.json").read_bytes())
    store = RecordingStore(root)
    messages = list(body["messages"])
    for n in range(exchanges):
        w = store.exchange(session_id="b16b16b1-0000-4000-8000-000000000000", id_source="header",
                           client="claude-cli/2.1.328 (external, cli)", kind="messages",
                           meta={"started": f"2026-11-21T10:{n // 60 % 60:02d}:{n % 60:02d}.000000Z"})
        assert w is not None
        request = {**body, "messages": messages}
        w.requests({"method": "POST", "path": "/v1/messages?beta=true", "url": "http://127.0.0.1:4000/v1/messages",
                    "headers": [("content-type", "application/json")], "body": b"", "json": request}, None)
        enc = MessageStreamEncoder(model="qwen3:8b", input_tokens=12000 + n * 60)
        stream = enc.start() + enc.text(f"Step {n}: reading the next file.") + enc.tool_use(
            f"toolu_{n:06d}", "Read", {"file_path": f"/src/module_{n}.py"}) + enc.finish("tool_use", output_tokens=30)
        w.response_head("client", 200, [("content-type", "text/event-stream")])
        w.chunk("client", stream)
        w.finish({"form": "ollama", "purpose": "main", "model": {"requested": "claude-opus-5-5", "backend": "qwen3:8b"},
                  "backend": "http://127.0.0.1:11434", "status": {"client": 200, "backend": 200},
                  "timing_ms": {"first_token": 300.0, "total": 900.0}, "usage": {"input_tokens": 12000 + n * 60,
                                                                                 "output_tokens": 30},
                  "stop_reason": "tool_use", "tool_calls": [{"name": "Read"}], "notes": []})
        messages = messages + [
            {"role": "assistant", "content": [{"type": "text", "text": f"Step {n}: reading the next file."},
                                              {"type": "tool_use", "id": f"toolu_{n:06d}", "name": "Read",
                                               "input": {"file_path": f"/src/module_{n}.py"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"toolu_{n:06d}",
                                          "content": f"# module {n}\n" + "def f():\n    return 1\n" * 12}]},
        ]
    return list_sessions(root)[0].path


def measure_report(folder: Path, exchanges: int) -> dict[str, float]:
    from inspector.recording import SessionRecord
    from inspector.report import session_report

    out: dict[str, float] = {}
    t = time.perf_counter()
    path = grown_session(folder, exchanges)
    out["made"] = time.perf_counter() - t
    out["disk"] = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    t = time.perf_counter()
    page = session_report(SessionRecord(path))
    out["export"] = time.perf_counter() - t
    html = folder / "report.html"
    html.write_text(page)
    out["size"] = len(page.encode())
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return out
    if not CHROMIUM.exists():
        return out
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=args)
        tab = browser.new_page()
        tab.goto("about:blank")
        t = time.perf_counter()
        tab.goto(html.as_uri())
        tab.wait_for_selector("body[data-ready='1']")
        out["load"] = time.perf_counter() - t
        t = time.perf_counter()
        tab.locator("#open-all").click()
        tab.wait_for_function(f"document.querySelectorAll('details.exchange[data-rendered]').length == {exchanges}")
        tab.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        out["open_all"] = time.perf_counter() - t
        browser.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--exchanges", type=int, default=50, help="per session")
    parser.add_argument("--report", type=int, default=500, help="exchanges of the exported session (0: skip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-viewer-") as tmp:
        folder = Path(tmp) / "recordings"
        folder.mkdir()
        t = time.perf_counter()
        size = generate(folder, args.sessions, args.exchanges)
        made = time.perf_counter() - t
        n = args.sessions * args.exchanges
        print(f"\nviewer: {n:,} exchanges in {args.sessions} sessions, {size / 1e6:,.0f} MB (made in {made:.1f} s)")
        v = asyncio.run(measure_viewer(folder, args.sessions))
        print(f"  sessions screen shows all {args.sessions} sessions after {v['shown']:.2f} s (target ≤ 2 s); "
              f"every session's details read in the background after {v['loaded']:.2f} s")
        print(f"  /Write over every session (inside them): {v['filter'] * 1000:.0f} ms, "
              f"{v['filter_rows']:.0f} sessions match")
        print(f"  an exchange (Claude Code's 49 KB request) opens with its six tabs built in {v['exchange']:.2f} s; "
              f"searching its request: {v['matches']:.0f} matches in {v['search'] * 1000:.0f} ms")
    if args.report:
        with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
            r = measure_report(Path(tmp), args.report)
            print(f"\nexport --html: a {args.report}-exchange session with a growing conversation "
                  f"({r['disk'] / 1e6:,.0f} MB recorded, made in {r['made']:.1f} s)")
            print(f"  exported in {r['export']:.2f} s, page {r['size'] / 1e6:.1f} MB")
            if "load" in r:
                print(f"  headless chromium: loaded in {r['load']:.2f} s (target: a few seconds), "
                      f"every exchange built ('open all') in {r['open_all']:.2f} s")
            else:
                print(f"  (no browser timing: needs {CHROMIUM} — apt-get install -y chromium — and playwright)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
