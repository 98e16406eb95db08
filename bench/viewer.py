"""``make bench`` (viewer part): how fast ``inspector view`` opens a large recording folder.

Generates SESSIONS × EXCHANGES exchanges (copies of a real sample exchange, ~100 KB each:
Claude Code's request as sent and as translated, and both streams) and measures, headless,
the time until the sessions screen shows every session, then until every session's
details have been read in the background.
"""

from __future__ import annotations

import argparse
import asyncio

import orjson
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual.widgets import DataTable  # noqa: E402

from inspector.recording import list_sessions  # noqa: E402
from inspector.viewer import InspectorApp  # noqa: E402


def _exchange_template(folder: Path) -> Path:
    """A sample exchange whose requests are Claude Code's real 49 KB request (as sent, as translated)."""
    names = (ROOT / "recordings" / "samples.txt").read_text().split()
    sample = next(s for s in list_sessions(ROOT / "recordings") if s.name == names[1])
    template = folder / "template"
    shutil.copytree(sample.exchanges()[0].path, template)
    body = orjson.loads((ROOT / "tests" / "data" / "claude-code-request.json").read_bytes())
    for name in ("client-request.json", "backend-request.json"):
        request = orjson.loads((template / name).read_bytes())
        request["body"] = {"encoding": "json", "json": body}
        (template / name).write_bytes(orjson.dumps(request, option=orjson.OPT_INDENT_2))
    return template


def generate(target: Path, sessions: int, exchanges: int) -> int:
    names = (ROOT / "recordings" / "samples.txt").read_text().split()
    sample = next(s for s in list_sessions(ROOT / "recordings") if s.name == names[1])
    exchange = _exchange_template(target.parent)
    total = 0
    for s in range(sessions):
        session = target / f"20261121T{s // 3600:02d}{s // 60 % 60:02d}{s % 60:02d}Z_claude-cli-2.1.328_{s:08x}"
        session.mkdir()
        shutil.copy(sample.path / "session.json", session / "session.json")
        for e in range(1, exchanges + 1):
            shutil.copytree(exchange, session / f"{e:04d}_messages")
    for path in target.rglob("*"):
        if path.is_file():
            total += path.stat().st_size
    return total


async def measure(folder: Path, sessions: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    app = InspectorApp(folder)
    async with app.run_test(size=(160, 40)) as pilot:
        table = app.screen.query_one(DataTable)
        while table.row_count < sessions:
            await asyncio.sleep(0.005)
        shown = time.perf_counter() - t0
        await app.workers.wait_for_complete()
        loaded = time.perf_counter() - t0
        await pilot.press("q")
    return shown, loaded


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--exchanges", type=int, default=50, help="per session")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-viewer-") as tmp:
        folder = Path(tmp) / "recordings"
        folder.mkdir()
        t = time.perf_counter()
        size = generate(folder, args.sessions, args.exchanges)
        made = time.perf_counter() - t
        n = args.sessions * args.exchanges
        print(f"\nviewer: {n:,} exchanges in {args.sessions} sessions, {size / 1e6:,.0f} MB (made in {made:.1f} s)")
        shown, loaded = asyncio.run(measure(folder, args.sessions))
        print(f"sessions screen shows all {args.sessions} sessions after {shown:.2f} s (target ≤ 2 s); "
              f"every session's details read in the background after {loaded:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
