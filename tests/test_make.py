"""The Makefile a newcomer meets: ``make help`` and what a change to pyproject.toml does to .venv."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time

import pytest

from inspector.testing.gateway import ROOT

MAKEFILE = ROOT / "Makefile"


def targets() -> list[str]:
    """The Makefile's own targets (not files: no $(…), no dot-files)."""
    return sorted({m.group(1) for m in re.finditer(r"^([a-z][\w-]*):(?!=)", MAKEFILE.read_text(), re.M)})


def test_make_help_lists_every_target_and_what_make_test_installs():
    out = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    listed = {m.group(1) for m in re.finditer(r"^make ([\w-]+)", out.stdout, re.M)}
    assert set(targets()) - {"help"} <= listed, f"make help does not list {set(targets()) - listed - {'help'}}"
    for what in ("llama-cpp-python", "Phoenix", "chromium", "zsh", "Claude Code"):
        assert what in out.stdout, f"make help does not say make test installs {what}"


@pytest.mark.e2e
def test_a_pyproject_change_reinstalls_into_the_venv_and_keeps_the_embedded_build(tmp_path):
    """The $(VENV) rule used to rm -rf .venv on any pyproject.toml change, throwing away
    llama-cpp-python's minutes-long build. A small project stands in for ours."""
    shutil.copy(MAKEFILE, tmp_path / "Makefile")
    shutil.copytree(ROOT / "tools", tmp_path / "tools")
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "__init__.py").write_text("")
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "tiny"\nversion = "0"\n[project.optional-dependencies]\ndev = []\n'
                         '[tool.setuptools]\npackages = ["tiny"]\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    first = subprocess.run(["make", ".venv"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout + first.stderr
    site = next((tmp_path / ".venv" / "lib").glob("python*/site-packages"))
    built = site / "llama_cpp_stand_in.py"  # what `make embedded` compiled
    built.write_text("")
    (tmp_path / ".venv" / ".embedded").touch()
    time.sleep(1.1)  # make compares modification times in whole seconds on some filesystems
    pyproject.write_text(pyproject.read_text().replace('version = "0"', 'version = "1"'))
    again = subprocess.run(["make", ".venv"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "reinstalling the project into .venv" in again.stdout
    assert built.exists(), "the venv was thrown away"
    assert list(site.glob("tiny-1*.dist-info")), "the changed project was installed"
    stale = subprocess.run(["make", "-q", ".venv/.embedded"], cwd=tmp_path, env=env, capture_output=True, timeout=60)
    assert stale.returncode == 0, "the embedded backend would be built again"
