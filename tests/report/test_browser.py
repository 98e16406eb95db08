"""The exported page in a real headless browser (Debian's chromium, driven by playwright).

Never ``playwright install``: the test launches the system's chromium. Without it the test skips and
says how to install it (``apt-get install -y chromium``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from inspector.recording import list_sessions
from inspector.report import session_report
from inspector.testing.samples import samples_dir
from inspector.testing.synth import SECRET, Spec, write_session

CHROMIUM = Path(os.environ.get("INSPECTOR_CHROMIUM", "/usr/bin/chromium"))
if not CHROMIUM.exists():
    pytest.skip(f"no chromium at {CHROMIUM}: apt-get install -y chromium (or set INSPECTOR_CHROMIUM)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install -e '.[dev]'")

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
HOSTILE = "</script><script>alert(1)</script><img src=x onerror=alert(2)>"


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield browser
        browser.close()


class Visit:
    """A page opened from a file, with everything it did recorded."""

    def __init__(self, browser, path: Path) -> None:
        self.url = path.resolve().as_uri()
        self.page = browser.new_page()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.goto(self.url)
        self.page.wait_for_selector("body[data-ready='1']")

    def visible(self, text: str) -> bool:
        return self.page.get_by_text(text, exact=False).first.is_visible()


def export(session, tmp_path: Path) -> Path:
    out = tmp_path / "report.html"
    out.write_text(session_report(session))
    return out


def test_the_page_renders_the_session_without_errors_or_network(browser, tmp_path):
    visit = Visit(browser, export(list_sessions(samples_dir())[1], tmp_path))
    try:
        page = visit.page
        assert visit.visible("Write 'hello from a local model' into hello.txt")  # the prompt
        assert visit.visible("tool call → Write call_sample_write")
        assert visit.visible('"content": "hello from a local model')
        assert visit.visible("I wrote hello.txt.")  # the answer
        assert visit.visible("tool result ← Write call_sample_write")
        backend = list_sessions(samples_dir())[1].exchanges()[0].meta["backend"]
        assert visit.visible("2.1.328 (claude-cli/2.1.328") and visit.visible(f"openai at {backend}")
        # The system prompt is collapsed until asked for; the raw events are there on demand.
        system = page.locator("#ex-1 details.turn.system")
        assert not page.get_by_text("You are a Claude agent, built on").first.is_visible()
        system.locator("summary").click()  # details' toggle event comes after the click: wait for it
        system.get_by_text("You are a Claude agent, built on").first.wait_for(state="visible")
        page.locator("#ex-2 details.raw > summary").click()
        page.locator("#ex-2 pre.events").nth(1).wait_for(state="visible")
        backend, client = page.locator("#ex-2 pre.events").all()
        assert "chat.completion.chunk" in backend.inner_text() and "event: message_start" in client.inner_text()
        assert page.locator("svg.timeline rect").count() == 2
        assert page.locator("#ex-1 .note.dropped").count() >= 5
        assert visit.errors == [] and visit.dialogs == []
        assert visit.requests == [visit.url]  # the file itself, nothing else
    finally:
        visit.page.close()


def test_hostile_recorded_text_stays_text(browser, tmp_path):
    write_session(tmp_path, [Spec(prompt=HOSTILE, model=f"m{HOSTILE}", answer=HOSTILE,
                                  notes=[{"kind": "repaired", "message": f"Write: {HOSTILE}", "count": 1}])])
    visit = Visit(browser, export(list_sessions(tmp_path)[0], tmp_path))
    try:
        page = visit.page
        assert page.locator("#ex-1 .turn.user pre").inner_text() == HOSTILE
        assert page.locator("#ex-1 .turn.answer pre").inner_text() == HOSTILE
        assert page.locator("#ex-1 .note.repaired").first.inner_text() == f"repaired: Write: {HOSTILE}"
        assert page.locator("img").count() == 0 and page.locator("script").count() == 2
        assert SECRET not in page.content()
        assert visit.dialogs == [] and visit.errors == [] and visit.requests == [visit.url]
    finally:
        visit.page.close()


def test_a_long_session_opens_an_exchange_when_asked(browser, tmp_path):
    write_session(tmp_path, [Spec(at=i, prompt=f"prompt number {i}", answer=f"answer number {i}")
                             for i in range(30)])
    visit = Visit(browser, export(list_sessions(tmp_path)[0], tmp_path))
    try:
        page = visit.page
        assert page.locator("details.exchange[open]").count() == 0  # built when opened, not at load
        assert page.locator("details.exchange[data-rendered]").count() == 0
        page.locator("#row-17").click()  # a row of the list
        page.get_by_text("answer number 16").first.wait_for(state="visible")
        assert page.locator("details.exchange[data-rendered]").count() == 1
        page.locator("svg.timeline a[data-seq='25']").click(force=True)  # a bar of the timeline
        page.get_by_text("answer number 24").first.wait_for(state="visible")
        page.locator("#open-all").click()
        assert page.locator("details.exchange[data-rendered]").count() == 30
        assert visit.errors == [] and visit.requests == [visit.url]
    finally:
        visit.page.close()


def test_repairs_and_schema_errors_are_highlighted_under_the_call(browser, tmp_path):
    from inspector.testing.synth import with_repairs
    visit = Visit(browser, export(list_sessions(with_repairs(tmp_path))[0], tmp_path))
    try:
        call = visit.page.locator("#ex-1 .turn.tool-call")
        assert "error" in (call.get_attribute("class") or "").split()  # the schema error makes the call red
        repaired = call.locator(".note.repaired")
        assert repaired.inner_text().startswith("repaired: Write: the model printed the call as text")
        assert call.locator(".note.error").inner_text() == "error: Write: (arguments): 'content' is a required property"
        colour = repaired.evaluate("e => getComputedStyle(e).color")
        assert colour != call.locator("pre").evaluate("e => getComputedStyle(e).color")  # highlighted
        assert visit.visible("repaired") and visit.errors == []
    finally:
        visit.page.close()


def test_earlier_messages_wait_behind_one_click(browser, tmp_path):
    write_session(tmp_path, [Spec(rounds=3, prompt="the latest request", answer="the latest answer")])
    visit = Visit(browser, export(list_sessions(tmp_path)[0], tmp_path))
    try:
        page = visit.page
        assert visit.visible("the latest request") and visit.visible("the latest answer")
        earlier = page.locator("#ex-1 details.earlier")
        assert earlier.locator("summary").inner_text().startswith("11 earlier messages")
        assert not page.get_by_text("earlier answer 1").first.is_visible()
        earlier.locator("summary").click()
        page.get_by_text("earlier answer 1").first.wait_for(state="visible")
        assert visit.visible("tool result ← Read toolu_r2") and visit.errors == []
    finally:
        visit.page.close()
