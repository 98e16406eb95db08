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
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from inspector.testing.backends import Reply, ScriptedBackend, write_file_brain  # noqa: E402
from inspector.testing.gateway import Gateway  # noqa: E402

CLAUDE = ROOT / ".cache" / "claude-code-2.1.328" / "node_modules" / "@anthropic-ai" / "claude-code-linux-x64" / "claude"
WORK = Path(tempfile.gettempdir()) / "inspector-sample"


def run(form: str, script, prompt: str, out: Path, model: str) -> subprocess.CompletedProcess:
    home = Path(tempfile.mkdtemp(prefix="cc-home-"))
    WORK.mkdir(exist_ok=True)
    with ScriptedBackend(form, script) as backend:
        with Gateway(backend.url, backend=form, model=model, record_dir=str(out), num_ctx=65536) as gw:
            env = {"PATH": os.environ["PATH"], "HOME": str(home), "ANTHROPIC_BASE_URL": gw.url,
                   "ANTHROPIC_AUTH_TOKEN": "inspector-local", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
            result = subprocess.run([str(CLAUDE), "-p", prompt, "--tools", "Write", "--allowedTools", "Write"],
                                    cwd=WORK, env=env, capture_output=True, text=True, timeout=240)
    shutil.rmtree(home, ignore_errors=True)
    print(f"{form}: exit {result.returncode}: {result.stdout.strip()[:100]}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "recordings")
    args = parser.parse_args()
    args.out.mkdir(exist_ok=True)
    before = {p.name for p in args.out.iterdir() if p.is_dir()}
    run("ollama", [Reply(text="Hello! I'm a small local model answering through the inspector gateway.",
                         thinking="The user greets me; answer briefly.")],
        "Say hello in one sentence.", args.out, "qwen3:8b")
    run("openai", write_file_brain("openai", str(WORK / "hello.txt"), "hello from a local model\n",
                                   answer="I wrote hello.txt.", call_id="call_sample_write"),
        "Write 'hello from a local model' into hello.txt", args.out, "qwen2.5-coder:7b")
    run("ollama", [Reply(status=404, error="model 'llama9:70b' not found")],
        "Say hello.", args.out, "llama9:70b")
    made = sorted(p.name for p in args.out.iterdir() if p.is_dir() and p.name not in before)
    # The tests read exactly these (a developer's own recordings in the same folder never count).
    (args.out / "samples.txt").write_text("\n".join(made) + "\n")
    print(f"samples.txt lists {len(made)} sessions; update the viewer snapshots: "
          f"pytest tests/viewer --snapshot-update")
    return 0


if __name__ == "__main__":
    sys.exit(main())
