"""The package as a user installs it: a wheel in a clean virtualenv, no repository beside it (issue 9.10).

The wheel is built from this checkout and installed with ``--no-deps`` into a fresh venv whose own
site-packages come first; the dependencies are borrowed from the project's venv through a path
entry, so the test needs no network beyond the build backend and cannot see the editable install."""

import os
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import httpx
import pytest

from inspector.testing.gateway import ROOT, free_port, wait_port
from inspector.testing.samples import samples_dir

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(work), str(ROOT)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = work.glob("claude_code_inspector-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3.*/site-packages"))
    # Dependencies from the project's venv, after the new venv's own packages; the editable
    # install's .pth there is not processed (only site directories' .pth files are).
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                              "--no-deps", "--quiet", str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stdout + install.stderr
    (venv / "bin" / "mitmdump").write_text(f"#!{venv / 'bin' / 'python'}\nfrom mitmproxy.tools.main import mitmdump\n"
                                           "mitmdump()\n")
    (venv / "bin" / "mitmdump").chmod(0o755)
    return venv


def run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(venv / "bin" / "inspector"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_installed_package_is_the_wheel_not_the_checkout(installed, tmp_path):
    where = subprocess.run([str(installed / "bin" / "python"), "-c", "import inspector; print(inspector.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert str(installed) in where and str(ROOT) not in where


def test_every_console_command_answers_help_from_the_wheel(installed, tmp_path):
    for command in ("run", "replay", "export", "view", "diff", "toolcalls", "doctor", "scan", "eval"):
        out = run(installed, command, "--help", cwd=tmp_path)
        assert out.returncode == 0, (command, out.stderr)


def test_replay_from_the_wheel_uses_the_packaged_script_and_answers(installed, tmp_path):
    dry = run(installed, "replay", str(samples_dir()), "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "inspector/gateway/replay_script.py" in dry.stdout and str(installed) in dry.stdout
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.Popen([str(installed / "bin" / "inspector"), "replay", str(samples_dir()), "--port", str(port),
                             "--speed", "0"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        wait_port(port, proc=proc)
        time.sleep(0.3)
        r = httpx.post(f"http://127.0.0.1:{port}/v1/messages", json={
            "model": "any", "max_tokens": 10, "messages": [{"role": "user", "content": "not recorded"}]})
        assert r.status_code == 400 and "closest is" in r.json()["error"]["message"]
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_viewer_and_the_report_find_their_files_in_the_wheel(installed):
    site = next((installed / "lib").glob("python3.*/site-packages"))
    shipped = {p.relative_to(site / "inspector").as_posix() for p in (site / "inspector").rglob("*")
               if p.suffix in (".tcss", ".css", ".js")}
    assert "viewer/screens/sessions.tcss" in shipped and "report/report.css" in shipped and "report/report.js" in shipped
