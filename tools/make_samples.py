"""Re-make the sample sessions in recordings/ with the real Claude Code binary.

    .venv/bin/python tools/make_samples.py [--out recordings]

Each sample is Claude Code 2.1.328 (``make claude-code``) running ``-p`` through the
gateway against a scripted loopback backend (inspector/testing/backends.py):

* plain text, Ollama form — a question and a text answer;
* tool round trip, OpenAI form — the model asks for Write, Claude Code writes the file
  and sends the tool_result, the model answers;
* an error, Ollama form — the backend does not have the model (HTTP 404).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from inspector.testing.backends import Reply, ScriptedBackend, write_file_brain
from inspector.testing.claude import claude_binary
from inspector.testing.gateway import Gateway

SAMPLE_LINES = re.compile(r"^!/recordings/\d{8}T\d{6}Z_[^/]+/\n", re.M)


def run(form: str, script, prompt: str, out: Path, model: str, work: Path) -> subprocess.CompletedProcess:
    exe = claude_binary()
    if exe is None:
        raise SystemExit("the pinned Claude Code binary is missing: make claude-code")
    home = Path(tempfile.mkdtemp(prefix="cc-home-"))
    with ScriptedBackend(form, script) as backend:
        with Gateway(backend.url, backend=form, model=model, record_dir=str(out), num_ctx=65536) as gw:
            env = {"PATH": os.environ["PATH"], "HOME": str(home), "ANTHROPIC_BASE_URL": gw.url,
                   "ANTHROPIC_AUTH_TOKEN": "inspector-local", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
            result = subprocess.run([str(exe), "-p", prompt, "--tools", "Write", "--allowedTools", "Write"],
                                    cwd=work, env=env, capture_output=True, text=True, timeout=240)
    shutil.rmtree(home, ignore_errors=True)
    print(f"{form}: exit {result.returncode}: {result.stdout.strip()[:100]}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "recordings")
    args = parser.parse_args()
    args.out.mkdir(exist_ok=True)
    listed = args.out / "samples.txt"
    old = listed.read_text().split() if listed.exists() else []
    before = {p.name for p in args.out.iterdir() if p.is_dir()}
    # Each sample runs in a fresh, empty folder: the Write round trip must succeed (no file is
    # there yet), and replay moves the recorded folder's paths to wherever it is replayed.
    work = Path(tempfile.mkdtemp(prefix="inspector-sample-"))
    run("ollama", [Reply(text="Hello! I'm a small local model answering through the inspector gateway.",
                         thinking="The user greets me; answer briefly.")],
        "Say hello in one sentence.", args.out, "qwen3:8b", work)
    write = run("openai", write_file_brain("openai", str(work / "hello.txt"), "hello from a local model\n",
                                           answer="I wrote hello.txt.", call_id="call_sample_write"),
                "Write 'hello from a local model' into hello.txt", args.out, "qwen2.5-coder:7b", work)
    if (work / "hello.txt").read_text() != "hello from a local model\n" or "I wrote hello.txt." not in write.stdout:
        raise SystemExit("the Write round trip did not complete: the sample would not show what it claims")
    run("ollama", [Reply(status=404, error="model 'llama9:70b' not found")],
        "Say hello.", args.out, "llama9:70b", work)
    shutil.rmtree(work, ignore_errors=True)
    made = sorted(p.name for p in args.out.iterdir() if p.is_dir() and p.name not in before)
    for name in old:  # the samples these replace
        shutil.rmtree(args.out / name, ignore_errors=True)
    # The tests read exactly these (a developer's own recordings in the same folder never count),
    # and git tracks exactly these (.gitignore ignores everything else under recordings/).
    listed.write_text("\n".join(made) + "\n")
    ignore = ROOT / ".gitignore"
    text = SAMPLE_LINES.sub("", ignore.read_text()).rstrip("\n") + "\n"
    ignore.write_text(text + "".join(f"!/recordings/{name}/\n" for name in made))
    print(f"samples.txt and .gitignore list {len(made)} sessions; update the viewer snapshots: "
          f"pytest tests/viewer --snapshot-update")
    return 0


if __name__ == "__main__":
    sys.exit(main())
