"""``inspector eval --html``: the page in a real headless browser (Debian's chromium, driven by playwright;
skipped, saying how to install it, where there is none) — styled (its CSP allows its own stylesheet),
no script, no network request, recorded and candidate answers side by side."""

import asyncio
import os
from pathlib import Path

import pytest

from inspector.eval import Candidate, EvalRun, eval_report, load_turns, run_eval, sessions_of
from inspector.testing.backends import Call, Received, Reply, ScriptedBackend
from inspector.testing.gateway import free_port
from inspector.testing.samples import samples_dir

CHROMIUM = Path(os.environ.get("INSPECTOR_CHROMIUM", "/usr/bin/chromium"))
if not CHROMIUM.exists():
    pytest.skip(f"no chromium at {CHROMIUM}: apt-get install -y chromium (or set INSPECTOR_CHROMIUM)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install -e '.[dev]'")
HOSTILE = "</pre><script>alert(1)</script><img src=x onerror=alert(2)>"


def test_the_page_shows_both_sides_styled_without_script_or_network(tmp_path):
    def brain(rec: Received) -> Reply:
        if "hello.txt" in str(rec.body):
            return Reply(text="Writing.", calls=[Call("Write", {"file_path": "hello.txt", "content": HOSTILE})])
        return Reply(text="Hello " + HOSTILE)

    with ScriptedBackend("openai", brain) as b:
        run = EvalRun(load_turns(sessions_of(samples_dir())), [Candidate("good", "openai", b.url),
                                                                 Candidate("down", "openai", f"http://127.0.0.1:{free_port()}")])
        asyncio.run(run_eval(run))
    page_file = tmp_path / "eval.html"
    page_file.write_text(eval_report(run))
    requests, problems, dialogs = [], [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"], headless=True)
        try:
            page = browser.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(page_file.resolve().as_uri())
            assert page.locator("#turn-1").get_by_text("Hello " + HOSTILE).first.is_visible(), "text, never HTML"
            turn2 = page.locator("#turn-2")
            assert turn2.get_by_text("tool call: Write").first.is_visible()
            assert turn2.locator(".side.recorded").get_by_text('"content": "hello from a local model').is_visible()
            assert turn2.get_by_text(HOSTILE, exact=False).first.is_visible(), "the arguments too"
            assert turn2.get_by_text("cannot reach", exact=False).first.is_visible(), "the down candidate's error"
            border = page.locator("details.exchange").first.evaluate("e => getComputedStyle(e).borderTopStyle")
            assert border == "solid", "the stylesheet applies: the CSP names its hash"
        finally:
            browser.close()
    assert requests == [page_file.resolve().as_uri()], "no request but the page itself"
    assert problems == [] and dialogs == []
