"""``inspector export --html``: the page's content, its escaping and its redaction (no browser here)."""

import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from inspector.cli import main
from inspector.recording import list_sessions
from inspector.report import ReportOptions, session_report
from inspector.testing.samples import samples_dir
from inspector.testing.synth import SECRET, Spec, retry_storm, write_session

SAMPLES = samples_dir()
ROOT = Path(__file__).resolve().parent.parent.parent
HOSTILE = "</script><script>alert(1)</script><img src=x onerror=alert(2)><!--"


def data_of(page: str) -> dict:
    """The page's data, each exchange's turns resolved (the page stores each distinct turn once)."""
    block = re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S)
    assert block
    data = orjson.loads(block.group(1))
    for ex in data["exchanges"]:
        ex["turn_refs"], ex["turns"] = ex["turns"], [data["turns"][n] for n in ex["turns"]]
    return data


def test_the_sample_round_trip_as_a_page():
    options = ReportOptions(generated=datetime(2026, 11, 22, tzinfo=UTC))
    page = session_report(list_sessions(SAMPLES)[1], options=options)
    assert "<dt>Claude Code</dt><dd>2.1.328 (claude-cli/2.1.328 (external, sdk-cli))</dd>" in page
    backend = list_sessions(SAMPLES)[1].exchanges()[0].meta["backend"]
    assert f"<dt>backend</dt><dd>openai at {backend}</dd>" in page
    assert "claude-code-inspector 0.1.0 on 2026-11-22 00:00 UTC" in page
    assert page.count('<tr id="row-') == 2 and page.count("<rect ") == 2
    assert 'class="flag f-tool-error"' not in page, "the shipped round trip succeeded"
    data = data_of(page)
    first, second = data["exchanges"]
    kinds = [t["k"] for t in second["turns"]]
    assert kinds[0] == "system" and "tool-call" in kinds and "tool-result" in kinds and kinds[-1] == "stop"
    result = next(t for t in second["turns"] if t["k"] == "tool-result")
    assert "e" not in result and result["x"].startswith("File created successfully at: /")
    assert any(n[0] == "dropped" for n in first["notes"]) and first["events"][0]["d"] == "backend"
    assert data["openAll"] is True
    # Claude Code resends the conversation: the system prompt, and every turn both carry, is stored once.
    system = [t["x"] for ex in data["exchanges"] for t in ex["turns"] if t["k"] == "system"]
    assert system == [0, 0] and data["strings"][0].startswith("x-anthropic-billing-header")
    assert first["turn_refs"][:3] == second["turn_refs"][:3]
    assert [t.get("m") for t in second["turns"]][:3] == [None, 0, 1]  # the request message each turn is from


def test_secrets_do_not_reach_the_page(tmp_path):
    session = write_session(tmp_path, [Spec(), Spec()])
    # An older or hand-made recording with a secret on disk: the page redacts it anyway.
    request_file = next(session.glob("0002_*")) / "client-request.json"
    request = orjson.loads(request_file.read_bytes())
    request["headers"] += [["authorization", f"Bearer {SECRET}"], ["x-my-session-token", SECRET]]
    request["path"] = f"/v1/messages?beta=true&api_key={SECRET}"
    request_file.write_bytes(orjson.dumps(request))
    meta_file = next(session.glob("0002_*")) / "exchange.json"
    meta = orjson.loads(meta_file.read_bytes())
    meta["backend"] = f"http://127.0.0.1:11434/?token={SECRET}"
    meta_file.write_bytes(orjson.dumps(meta))
    page = session_report(list_sessions(tmp_path)[0])
    assert SECRET not in page and "DO-NOT-LEAK" not in page
    headers = data_of(page)["exchanges"][1]["headers"]
    assert ["x-api-key", "[redacted]"] in headers and ["authorization", "[redacted]"] in headers
    assert ["x-my-session-token", "[redacted]"] in headers and ["content-type", "application/json"] in headers
    assert "&api_key=[redacted]" in data_of(page)["exchanges"][1]["head"]


def test_recorded_text_is_escaped_everywhere(tmp_path):
    write_session(tmp_path, [Spec(prompt=HOSTILE, model=f"m{HOSTILE}", answer=HOSTILE,
                                  error=None, notes=[{"kind": "repaired", "message": HOSTILE, "count": 1}])])
    page = session_report(list_sessions(tmp_path)[0])
    assert page.count("</script>") == 2  # the data block's and the script's own, nothing recorded
    assert "<script>alert" not in page and "<img" not in page and "<!--" not in page
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in page  # the model, in the table
    assert data_of(page)["exchanges"][0]["turns"][1]["x"] == HOSTILE  # and intact in the data


def test_a_page_says_only_what_it_knows(tmp_path):
    session = write_session(tmp_path, [Spec()], client="")
    (session / "session.json").unlink()
    page = session_report(list_sessions(tmp_path)[0])
    assert "<dt>Claude Code</dt><dd>unknown</dd>" in page


def test_big_sessions_store_repeated_text_once(tmp_path):
    long = "Rules of the house. " * 1500  # 30 kB, sent with each of 40 requests
    write_session(tmp_path, [Spec(at=i, system=long, prompt=f"prompt {i}") for i in range(40)])
    page = session_report(list_sessions(tmp_path)[0])
    assert page.count("Rules of the house.") == 1500 and len(page) < 200_000
    assert data_of(page)["openAll"] is False  # too many to open at load; each is built when opened


def test_the_timeline_of_a_retry_storm(tmp_path):
    retry_storm(tmp_path)
    page = session_report(list_sessions(tmp_path)[0])
    assert "wall clock 2m12s · busy 955ms · 11 failed · 11 retried after a failure" in page
    assert page.count('class="err retry"') == 10 and page.count('class="ok retry"') == 1
    assert ">2m12s</text>" in page and "<dt>wall clock</dt><dd>2m12s</dd>" in page


def test_the_export_command(tmp_path, capsys, monkeypatch):
    session = list_sessions(SAMPLES)[1]
    out = tmp_path / "report.html"
    assert main(["export", "--html", session.name[-8:], "--root", str(SAMPLES), "-o", str(out)]) == 0
    assert out.read_text().startswith("<!doctype html>") and "wrote" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    assert main(["export", "--html", str(session.path)]) == 0
    assert (tmp_path / f"{session.name}.html").exists()  # a page goes to a file by default, not the terminal
    assert main(["export", "--html", session.name[-8:], "--root", str(SAMPLES), "-o", "-"]) == 0
    assert capsys.readouterr().out.startswith("<!doctype html>")
    assert main(["export", "--html", "no-such-session", "--root", str(SAMPLES)]) == 2
    with pytest.raises(SystemExit):
        main(["export", "--html", "x", "--har", "y"])


def readme_block(marker: str) -> str:
    """The README's shell block that contains ``marker``, exactly as a user would paste it."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    (block,) = [b for b in blocks if marker in b]
    return block


def test_the_readme_export_recipe_runs_as_written(tmp_path):
    block = readme_block("export --html")
    shutil.copytree(SAMPLES, tmp_path / "recordings")
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)  # the recipe says .venv/bin/inspector
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "session.html").read_text().startswith("<!doctype html>")
    assert orjson.loads((tmp_path / "session.har").read_bytes())["log"]["version"] == "1.2"
    assert "wrote session.html" in done.stderr


def test_the_page_allows_nothing_but_its_own_inline_css_and_script():
    """Self-contained by construction: the CSP says default-src 'none' and names the inline style and
    script by hash, so a browser runs exactly those and fetches nothing (the browser test sees it)."""
    import base64
    import hashlib

    page = session_report(list_sessions(SAMPLES)[1])
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    assert csp, "no Content-Security-Policy"
    rules = dict(part.strip().split(" ", 1) for part in csp.group(1).replace("&#x27;", "'").split(";"))
    assert rules["default-src"] == "'none'" and rules["img-src"] == "'none'"

    def digest(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    styles = re.findall(r"<style>(.*?)</style>", page, re.S)
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)  # the data block has a type: never run
    assert len(styles) == 1 and len(scripts) == 1
    assert rules["style-src"] == digest(styles[0]) and rules["script-src"] == digest(scripts[0])
    assert not re.search(r"<(link|iframe|object|embed)\b|\s(src|href)=\"(https?:)?//", page, re.I)
