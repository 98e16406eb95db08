"""``make bench``: the latency the gateway adds over calling the backend directly — the field's axis.

Everything against a direct call to the same canned backend, in the same run, with the defaults a
user gets (recording and the colour log on), in interleaved rounds (each round asks every subject
once, in turn, so a busy moment of the machine falls on all of them):

* added p50 and p99 per request, one request at a time, for a 1 KB request and for Claude Code's
  real 50 KB one (tests/data), and the added time to the first text delta (the backend sends its
  first delta, then the rest 2 ms later);
* the added gap between stream chunks: the backend sends 64 text deltas 20 ms apart; p99 of the gaps
  the client sees, less the direct call's;
* 32, 128 and 256 streams at once (1 KB requests, 64 deltas 20 ms apart): how many gaps stalled (over
  10× the pace, 200 ms), and that none crossed (each stream got its own 64 deltas and no other's);
* RSS over 2,000 requests; the gateway's and the recording sidecar's CPU per exchange;
* the pure core (``bench/core.py``), this tree and e071ee3's, alternating.

``--peers``: LiteLLM's proxy and claude-code-router in the same rounds (OpenAI form, which both
speak), as multiples of ours — each installed into ``.cache/peers`` by ``make bench PEERS=1``; one that
is not there is skipped, saying why. ``--baseline REF``: the same figures for another commit (a git
worktree of REF in a temporary folder, run on this venv with its tree first on ``PYTHONPATH``).
``--check`` exits 1 when a target (printed at the end) is missed.

Every request carries a marker the backend writes into each delta it sends, so the client counts
deltas by their marker and sees at once a delta that belongs to another stream.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import orjson

from inspector.protocol import ollama_request, openai_request, parse_request
from inspector.testing.gateway import MITMDUMP, free_port, wait_port

REQUEST_50K = json.loads((ROOT / "tests" / "data" / "claude-code-request.json").read_text())
PEERS_DIR = ROOT / ".cache" / "peers"
#: The commit whose pure core the target compares with (issue 25: ≈380k / ≈215k events/s there).
CORE_REF = "e071ee3"
PLACEHOLDER = b"bxz00000000"
MARK = re.compile(rb"bx[a-z][0-9a-f]{8}")
PACE, DELTAS = 0.020, 64
STALL = 10 * PACE
FIRST_PAUSE = 0.002
MODEL = "bench-model"
#: The translated forms measured (the peers speak the OpenAI form; most local setups are Ollama's).
FORMS = ("ollama", "openai")


# -- the requests -------------------------------------------------------------------------------------
def _marked(body: dict[str, Any]) -> dict[str, Any]:
    """The request with the marker placeholder at the end of its first user message's text."""
    body = json.loads(json.dumps(body))
    for msg in body["messages"]:
        if msg["role"] == "user":
            content = msg["content"]
            if isinstance(content, str):
                msg["content"] = content + " [" + PLACEHOLDER.decode() + "]"
            else:
                last = [b for b in content if b.get("type") == "text"][-1]
                last["text"] += " [" + PLACEHOLDER.decode() + "]"
            return body
    raise ValueError("no user message")


def small_request() -> dict[str, Any]:
    """About 1 KB: a short system prompt, one tool, one question."""
    return _marked({
        "model": "claude-opus-5-5", "max_tokens": 1024, "stream": True,
        "system": [{"type": "text", "text": "You are a careful coding assistant. Answer briefly. " * 4}],
        "messages": [{"role": "user", "content": "Please write hello into hello.txt in the working folder. " * 3}],
        "tools": [{"name": "Write", "description": "Write a file to the local filesystem, replacing it.",
                   "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"},
                                                                     "content": {"type": "string"}},
                                    "required": ["file_path", "content"]}}]})


SIZES = {"1KB": small_request(), "50KB": _marked({**REQUEST_50K, "model": "claude-opus-5-5", "stream": True})}


def native(form: str, body: dict[str, Any]) -> tuple[str, bytes]:
    """What a client calling the backend directly sends: the same conversation in the backend's form."""
    raw = orjson.dumps(body)
    if form == "ollama":
        return "/api/chat", orjson.dumps(ollama_request(parse_request(raw), model=MODEL))
    if form == "openai":
        return "/v1/chat/completions", orjson.dumps(openai_request(parse_request(raw), model=MODEL))
    return "/v1/messages", raw


# -- the canned backend (a process of its own) -------------------------------------------------------
def _ollama(marker: bytes, n: int) -> list[bytes]:
    lines = [orjson.dumps({"model": MODEL, "created_at": "2026-12-07T00:00:00Z",
                           "message": {"role": "assistant", "content": marker.decode() + " "}, "done": False}) + b"\n"
             for _ in range(n)]
    lines.append(orjson.dumps({"model": MODEL, "message": {"role": "assistant", "content": ""}, "done": True,
                               "done_reason": "stop", "prompt_eval_count": 12, "eval_count": n}) + b"\n")
    return lines


def _openai(marker: bytes, n: int) -> list[bytes]:
    def event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        return b"data: " + orjson.dumps({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1,
                                         "model": MODEL, "choices": [{"index": 0, "delta": delta,
                                                                      "finish_reason": finish}], **extra}) + b"\n\n"
    out = [event({"role": "assistant", "content": marker.decode() + " "})]
    out += [event({"content": marker.decode() + " "}) for _ in range(n - 1)]
    out.append(event({}, "stop", usage={"prompt_tokens": 12, "completion_tokens": n, "total_tokens": 12 + n}))
    out.append(b"data: [DONE]\n\n")
    return out


def _anthropic(marker: bytes, n: int) -> list[bytes]:
    def event(name: str, data: dict[str, Any]) -> bytes:
        return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
    head = event("message_start", {"type": "message_start", "message": {
        "id": "msg_bench", "type": "message", "role": "assistant", "model": MODEL, "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 12, "output_tokens": 1}}})
    head += event("content_block_start", {"type": "content_block_start", "index": 0,
                                          "content_block": {"type": "text", "text": ""}})
    deltas = [event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                            "delta": {"type": "text_delta", "text": marker.decode() + " "}})
              for _ in range(n)]
    tail = event("content_block_stop", {"type": "content_block_stop", "index": 0})
    tail += event("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn",
                                                                       "stop_sequence": None},
                                    "usage": {"output_tokens": n}})
    tail += event("message_stop", {"type": "message_stop"})
    deltas[0] = head + deltas[0]
    deltas[-1] += tail
    return deltas


RENDER: dict[bytes, tuple[bytes, Callable[[bytes, int], list[bytes]]]] = {
    b"/api/chat": (b"application/x-ndjson", _ollama),
    b"/v1/chat/completions": (b"text/event-stream", _openai),
    b"/chat/completions": (b"text/event-stream", _openai),
    b"/v1/messages": (b"text/event-stream", _anthropic),
}


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            path = lines[0].split(b" ")[1].split(b"?")[0]
            length, chunked = 0, False
            for line in lines[1:]:
                low = line.lower()
                if low.startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
                elif low.startswith(b"transfer-encoding:") and b"chunked" in low:
                    chunked = True
            if chunked:
                body = b""
                while True:
                    size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    body += await reader.readexactly(size + 2)
                    if size == 0:
                        break
            else:
                body = await reader.readexactly(length)
            found = MARK.search(body)
            render = RENDER.get(path)
            if render is None or found is None:  # discovery, token counts, anything else: not here
                writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}")
                await writer.drain()
                continue
            marker = found.group(0)
            mode = marker[2:3]
            content_type, make = render
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: " + content_type + b"\r\ntransfer-encoding: chunked\r\n\r\n")
            n = DELTAS if mode == b"p" else 8
            chunks = make(marker, n)
            if mode == b"p":  # paced: a delta every PACE seconds, as a model decodes
                start = time.monotonic()
                for i, chunk in enumerate(chunks):
                    writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    await writer.drain()
                    if i < n - 1:
                        await asyncio.sleep(max(0.0, start + (i + 1) * PACE - time.monotonic()))
            else:  # the first delta, then the rest a moment later
                writer.write(b"%x\r\n%s\r\n" % (len(chunks[0]), chunks[0]))
                await writer.drain()
                await asyncio.sleep(FIRST_PAUSE)
                rest = b"".join(chunks[1:])
                writer.write(b"%x\r\n%s\r\n" % (len(rest), rest))
            writer.write(b"0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError, IndexError):
        writer.close()


def _backend_main(port: int) -> None:
    async def main() -> None:
        server = await asyncio.start_server(_serve, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()
    asyncio.run(main())


class Backend:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        ctx = multiprocessing.get_context("spawn")
        self.proc = ctx.Process(target=_backend_main, args=(self.port,), daemon=True)

    def __enter__(self) -> Backend:
        self.proc.start()
        wait_port(self.port)
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.kill()


# -- a raw HTTP/1.1 client ------------------------------------------------------------------------------
@dataclass(slots=True)
class Sample:
    status: int = 0
    first: float = 0.0  # seconds to the first delta carrying the marker
    total: float = 0.0  # seconds to the end of the answer
    arrivals: list[float] = field(default_factory=list)  # when each delta arrived
    foreign: int = 0  # deltas of another stream
    overhead: float | None = None  # x-inspector-overhead-ms

    @property
    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.arrivals, self.arrivals[1:], strict=False)]


class Conn:
    """One keep-alive connection; ``ask`` sends a request and reads its answer, timing each delta."""

    def __init__(self, port: int, path: str, template: bytes, headers: list[tuple[str, str]]) -> None:
        self.port = port
        self.path = path
        self.template = template
        self.headers = "".join(f"{k}: {v}\r\n" for k, v in headers)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 22)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None

    async def ask(self, marker: bytes) -> Sample:
        body = self.template.replace(PLACEHOLDER, marker, 1)
        head = (f"POST {self.path} HTTP/1.1\r\nhost: 127.0.0.1:{self.port}\r\ncontent-type: application/json\r\n"
                f"{self.headers}content-length: {len(body)}\r\n\r\n").encode()
        for again in (True, False):
            if self.writer is None:
                await self._open()
            assert self.reader is not None and self.writer is not None
            t0 = time.perf_counter()
            self.writer.write(head + body)
            try:
                raw = await self.reader.readuntil(b"\r\n\r\n")
                break
            except (asyncio.IncompleteReadError, ConnectionError):
                self.close()  # the server closed an idle keep-alive connection: ask again on a new one
                if not again:
                    raise
        s = Sample()
        assert self.reader is not None
        lines = raw.split(b"\r\n")
        s.status = int(lines[0].split(b" ")[1])
        length, chunked, close = None, False, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and value.lower() == b"close":
                close = True
            elif name == b"x-inspector-overhead-ms":
                s.overhead = float(value)
        seen = b""
        count = 0

        def got(data: bytes) -> None:
            nonlocal seen, count
            now = time.perf_counter() - t0
            window = seen[-(len(PLACEHOLDER) - 1):] + data
            for m in MARK.finditer(window):
                if m.group(0) == marker:
                    count += 1
                    s.arrivals.append(now)
                else:
                    s.foreign += 1
            seen = window

        if chunked:
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                data = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                got(data[:-2])
        elif length is not None:
            got(await self.reader.readexactly(length))
        else:
            got(await self.reader.read())
            close = True
        s.total = time.perf_counter() - t0
        s.first = s.arrivals[0] if s.arrivals else s.total
        if close:
            self.close()
        return s


_counter = iter(range(1, 1 << 30))


def marker(mode: str) -> bytes:
    return b"bx" + mode.encode() + b"%08x" % next(_counter)


# -- the subjects: what the client talks to ------------------------------------------------------------
@dataclass
class Subject:
    name: str
    port: int
    form: str  # the backend form it talks to
    proc: subprocess.Popen[bytes] | None = None
    paths: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # size → (path, template)
    headers: list[tuple[str, str]] = field(default_factory=list)
    kind: str = "ours"  # direct | ours | baseline | peer
    note: str = ""

    def conn(self, size: str) -> Conn:
        path, template = self.paths[size]
        return Conn(self.port, path, template, self.headers)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def pids(self) -> list[int]:
        """The subject's process and its children (the recording sidecar)."""
        if self.proc is None:
            return []
        try:
            kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            kids = []
        return [self.proc.pid, *map(int, kids)]


ANTHROPIC_HEADERS = [("x-api-key", "sk-bench"), ("anthropic-version", "2023-06-01"),
                     ("user-agent", "claude-cli/2.1.328 (external, cli)"),
                     ("x-claude-code-session-id", "be4c0000-0000-4000-8000-000000000000")]


def _anthropic_paths() -> dict[str, tuple[str, bytes]]:
    return {size: ("/v1/messages?beta=true", orjson.dumps(body)) for size, body in SIZES.items()}


def direct(backend: Backend, form: str) -> Subject:
    return Subject(f"direct {form}", backend.port, form, kind="direct", headers=[("authorization", "Bearer sk")],
                   paths={size: native(form, body) for size, body in SIZES.items()})


def gateway(backend: Backend, form: str, *, tree: Path = ROOT, name: str | None = None, kind: str = "ours",
            extra: tuple[str, ...] = (), lean: bool | None = None) -> Subject:
    """The gateway as `make run` starts it — ``python -m inspector.gateway.master -s addons/translate.py``
    (mitmdump for a tree that has no such master, or ``lean=False``) — recording and the colour log on."""
    port = free_port()
    if lean is None:
        lean = (tree / "inspector" / "gateway" / "master.py").exists()
    launcher = [sys.executable, "-m", "inspector.gateway.master"] if lean else [str(MITMDUMP)]
    record = tempfile.mkdtemp(prefix="bench-recordings-")
    env = {**os.environ, "FORCE_COLOR": "1", "COLUMNS": "160"}  # the colour log renders as in a terminal
    if tree != ROOT:
        env["PYTHONPATH"] = str(tree)
    cmd = [*launcher, "--mode", f"reverse:{backend.url}", "--listen-host", "127.0.0.1", "-p", str(port),
           "-s", str(tree / "addons" / "translate.py"), "--set", f"backend={form}", "--set", f"model={MODEL}",
           "--set", f"record_dir={record}", *extra]
    if (tree / "inspector" / "gateway" / "queue.py").exists():
        # The canned backend answers any number of requests at once, unlike a local model's one slot: the
        # gateway's queue (one at a time for a server on this machine, by default) would measure waiting,
        # not the proxy. What the queue costs when nobody waits is measured apart (README: the queue).
        cmd += ["--set", "backend_concurrency=unlimited"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=tree, env=env)
    wait_port(port, proc=proc)
    return Subject(name or f"ours {form}", port, form, proc=proc, kind=kind, headers=ANTHROPIC_HEADERS,
                   paths=_anthropic_paths(), note=record)


def litellm(backend: Backend) -> Subject | str:
    exe = PEERS_DIR / "litellm-venv" / "bin" / "litellm"
    if not exe.exists():
        return f"not installed ({exe} missing: make bench PEERS=1 installs it)"
    # hosted_vllm/: an OpenAI-form server reached on /v1/chat/completions (its openai/ provider turns an
    # Anthropic /v1/messages call into the Responses API, which local servers do not serve).
    folder = Path(tempfile.mkdtemp(prefix="bench-litellm-"))
    config = folder / "config.yaml"
    config.write_text(json.dumps({
        "model_list": [{"model_name": "claude-opus-5-5", "litellm_params": {
            "model": f"hosted_vllm/{MODEL}", "api_base": f"{backend.url}/v1", "api_key": "sk-bench"}}],
        "litellm_settings": {"drop_params": True},
        # It refuses to start without a key (as a deployment would have one); the client sends it.
        "general_settings": {"master_key": "sk-bench-master"}}))  # YAML is a superset of JSON
    port = free_port()
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR", "HOME": str(folder)}
    proc = subprocess.Popen([str(exe), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
                             "--num_workers", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            cwd=folder, env=env)
    try:
        wait_port(port, timeout=120, proc=proc)
    except Exception as e:  # noqa: BLE001 - a peer that does not start is skipped, saying why
        proc.kill()
        return f"did not start ({e})"
    headers = [(k, "sk-bench-master" if k == "x-api-key" else v) for k, v in ANTHROPIC_HEADERS]
    return Subject("litellm", port, "openai", proc=proc, kind="peer", paths=_anthropic_paths(),
                   headers=[*headers, ("authorization", "Bearer sk-bench-master")])


def claude_code_router(backend: Backend) -> Subject | str:
    cli = PEERS_DIR / "claude-code-router" / "node_modules" / "@musistudio" / "claude-code-router" / "dist" / "cli.js"
    node = shutil.which("node")
    if not cli.exists() or node is None:
        return f"not installed ({cli} missing: make bench PEERS=1 installs it)" if node else "node is not installed"
    home = Path(tempfile.mkdtemp(prefix="bench-ccr-"))
    port = free_port()
    (home / ".claude-code-router").mkdir()
    (home / ".claude-code-router" / "config.json").write_text(json.dumps({
        "LOG": False, "HOST": "127.0.0.1", "PORT": port, "APIKEY": "", "NON_INTERACTIVE_MODE": True,
        "Providers": [{"name": "bench", "api_base_url": f"{backend.url}/v1/chat/completions", "api_key": "sk-bench",
                       "models": [MODEL]}],
        "Router": {"default": f"bench,{MODEL}"}}))
    env = {**os.environ, "HOME": str(home)}
    proc = subprocess.Popen([node, str(cli), "start"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            cwd=home, env=env)
    try:
        wait_port(port, timeout=60)
    except Exception as e:  # noqa: BLE001
        proc.kill()
        return f"did not start ({e})"
    subject = Subject("claude-code-router", port, "openai", proc=proc, kind="peer", headers=ANTHROPIC_HEADERS,
                      paths=_anthropic_paths(), note=str(home))
    return subject


def _stop_ccr(subject: Subject) -> None:
    """``ccr start`` may leave its server in a process of its own: stop it by its own command, then by port."""
    cli = PEERS_DIR / "claude-code-router" / "node_modules" / "@musistudio" / "claude-code-router" / "dist" / "cli.js"
    node = shutil.which("node")
    if node and subject.note:
        subprocess.run([node, str(cli), "stop"], env={**os.environ, "HOME": subject.note}, cwd=subject.note,
                       stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, timeout=30, check=False)
    subject.stop()


# -- the measurements -----------------------------------------------------------------------------------
def _q(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


async def _warm(subjects: list[Subject], size: str, n: int) -> dict[str, Conn]:
    conns = {s.name: s.conn(size) for s in subjects}
    for _ in range(n):
        for s in subjects:
            sample = await conns[s.name].ask(marker("f"))
            if sample.status != 200:
                raise RuntimeError(f"{s.name} answered HTTP {sample.status}")
    return conns


def _cpu(pids: list[int]) -> list[float]:
    ticks = os.sysconf("SC_CLK_TCK")
    out = []
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out.append((int(fields[11]) + int(fields[12])) / ticks)
        except OSError:
            out.append(0.0)
    return out


async def per_request(subjects: list[Subject], size: str, rounds: int) -> dict[str, dict[str, float]]:
    """One request at a time, every subject once per round in a shuffled order."""
    conns = await _warm(subjects, size, 10)
    samples: dict[str, list[Sample]] = {s.name: [] for s in subjects}
    cpu0 = {s.name: _cpu(s.pids()) for s in subjects}
    order = list(subjects)
    for _ in range(rounds):
        random.shuffle(order)
        for s in order:
            samples[s.name].append(await conns[s.name].ask(marker("f")))
    cpu1 = {s.name: _cpu(s.pids()) for s in subjects}
    for c in conns.values():
        c.close()
    out = {}
    for s in subjects:
        got = samples[s.name]
        bad = [x for x in got if x.status != 200 or len(x.arrivals) != 8 or x.foreign]
        total = [x.total * 1000 for x in got]
        first = [x.first * 1000 for x in got]
        figures = {"p50": _q(total, 0.5), "p99": _q(total, 0.99), "first_p50": _q(first, 0.5),
                   "first_p99": _q(first, 0.99), "bad": float(len(bad))}
        said = [x.overhead for x in got if x.overhead is not None]
        if said:
            figures["said_p50"] = _q(said, 0.5)
        before, after = cpu0[s.name], cpu1[s.name]
        if before:
            figures["cpu_ms"] = (after[0] - before[0]) / rounds * 1000
            if len(after) > 1 and len(before) == len(after):
                figures["sidecar_cpu_ms"] = sum(a - b for a, b in zip(after[1:], before[1:], strict=False)) / rounds * 1000
        out[s.name] = figures
    return out


async def paced(subjects: list[Subject], rounds: int) -> dict[str, dict[str, float]]:
    """64 deltas 20 ms apart, one stream at a time: the gaps between the deltas the client sees."""
    conns = await _warm(subjects, "1KB", 3)
    gaps: dict[str, list[float]] = {s.name: [] for s in subjects}
    bad: dict[str, int] = {s.name: 0 for s in subjects}
    order = list(subjects)
    for _ in range(rounds):
        random.shuffle(order)
        for s in order:
            x = await conns[s.name].ask(marker("p"))
            if x.status != 200 or len(x.arrivals) != DELTAS or x.foreign:
                bad[s.name] += 1
            gaps[s.name] += [g * 1000 for g in x.gaps]
    for c in conns.values():
        c.close()
    return {name: {"p50": _q(g, 0.5), "p99": _q(g, 0.99), "max": max(g) if g else float("nan"),
                   "bad": float(bad[name])} for name, g in gaps.items()}


async def parallel(subject: Subject, n: int) -> dict[str, float]:
    """``n`` streams at once, each its own connection: stalls (a gap over 10× the pace), crossed, cut."""
    conns = [subject.conn("1KB") for _ in range(n)]
    await asyncio.gather(*(c._open() for c in conns))
    results = await asyncio.gather(*(c.ask(marker("p")) for c in conns), return_exceptions=True)
    for c in conns:
        c.close()
    samples = [r for r in results if isinstance(r, Sample)]
    failed = len(results) - len(samples)
    gaps = [g for x in samples for g in x.gaps]
    return {"streams": float(n), "stalls": float(sum(1 for g in gaps if g > STALL)),
            "stalled_streams": float(sum(1 for x in samples if any(g > STALL for g in x.gaps))),
            "crossed": float(sum(1 for x in samples if x.foreign)),
            "incomplete": float(failed + sum(1 for x in samples if x.status != 200 or len(x.arrivals) != DELTAS)),
            "gap_p99_ms": _q(gaps, 0.99) * 1000, "gap_max_ms": max(gaps, default=0.0) * 1000}


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


async def memory(subject: Subject, total: int) -> dict[str, Any]:
    conn = subject.conn("50KB")
    rss: dict[int, float] = {}
    marks = {100, total // 4, total // 2, 3 * total // 4, total}
    for i in range(1, total + 1):
        await conn.ask(marker("f"))
        if i in marks:
            rss[i] = _rss_mb(subject.pids()[0])
    conn.close()
    return {"rss_mb": rss, "sidecar_mb": sum(_rss_mb(p) for p in subject.pids()[1:])}


# -- the pure core: this tree and another, alternating -------------------------------------------------
def core(refs: dict[str, Path | None], alternations: int = 3) -> dict[str, dict[str, Any]]:
    """``bench/core.py`` run alternately for each tree (None: this one); per tree the best of its runs."""
    best: dict[str, dict[str, Any]] = {}
    for _ in range(alternations):
        for name, tree in refs.items():
            env = dict(os.environ)
            if tree is not None:
                env["PYTHONPATH"] = str(tree)
            done = subprocess.run([sys.executable, str(ROOT / "bench" / "core.py"), "--json", "-", "--repeat", "3"],
                                  capture_output=True, env=env, cwd="/", check=False)
            if done.returncode != 0:
                best[name] = {"error": done.stderr.decode(errors="replace").strip().splitlines()[-1:]}
                continue
            figures = json.loads(done.stdout)
            kept = best.setdefault(name, figures)
            for key, value in figures["events_per_s"].items():
                kept["events_per_s"][key] = max(kept["events_per_s"].get(key, 0), value)
            for key, value in figures["request"].items():
                kept["request"][key] = min(kept["request"].get(key, float("inf")), value)
    for name, tree in refs.items():
        if "events_per_s" in best.get(name, {}):
            counted = {form: instructions(tree, form) for form in FORMS}
            if all(v is not None for v in counted.values()):
                best[name]["instructions_per_event"] = counted
    return best


def instructions(tree: Path | None, form: str, events: int = 20_000) -> float | None:
    """Instructions per event translated (callgrind: ``events`` translated less none, the same data
    built either way), or None without valgrind. Deterministic where CPU time is not: the machine may be shared."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    counts = []
    for n in (events, -events):  # the same data built both times; translated the first
        done = subprocess.run([valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
                               str(ROOT / "bench" / "core.py"), "--workload", form, str(n)],
                              capture_output=True, env=env, cwd="/", check=False)
        found = re.search(rb"Collected : ([\d,]+)", done.stderr)
        if done.returncode != 0 or found is None:
            return None
        counts.append(int(found.group(1).replace(b",", b"")))
    return (counts[0] - counts[1]) / events


class Worktree:
    """A commit's tree in a temporary folder (``git worktree add --detach``), removed afterwards."""

    def __init__(self, ref: str) -> None:
        self.ref = ref
        self.path = Path(tempfile.mkdtemp(prefix=f"bench-{re.sub(r'[^A-Za-z0-9]+', '-', ref)}-"))
        self.ok = False

    def __enter__(self) -> Worktree:
        done = subprocess.run(["git", "worktree", "add", "--detach", str(self.path), self.ref], cwd=ROOT,
                              capture_output=True, check=False)
        self.ok = done.returncode == 0
        self.why = done.stderr.decode(errors="replace").strip()
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["git", "worktree", "remove", "--force", str(self.path)], cwd=ROOT, capture_output=True,
                       check=False)
        shutil.rmtree(self.path, ignore_errors=True)


# -- targets (pure: tests/test_bench.py pins them) -------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    what: str
    figure: str
    goal: str
    met: bool | None  # None: not measured in this run (say why in figure)


def _form(subject: str) -> str:
    """The backend form a subject talks to: ``ours ollama`` → ollama; a peer speaks OpenAI's."""
    return subject.split(" ")[1] if subject.startswith(("ours ", "baseline ", "direct ")) else "openai"


def added(figures: dict[str, Any], size: str, subject: str, key: str = "p50") -> float:
    """Milliseconds ``subject`` adds over the direct call to the same backend form."""
    req = figures["requests"][size]
    return req[subject][key] - req[f"direct {_form(subject)}"][key]


def targets(figures: dict[str, Any]) -> list[Verdict]:
    """Issue 25's targets, judged on the figures of one run, with the defaults a user gets."""
    ours = [name for name in figures["requests"]["50KB"] if name.startswith("ours ") and "+" not in name]
    out = []
    for size, goal in (("50KB", 5.0), ("1KB", 3.0)):
        worst = max(added(figures, size, name) for name in ours)
        out.append(Verdict(f"added p50 per request, {size}, worst form", f"+{worst:.2f} ms", f"≤ {goal:g} ms",
                           worst <= goal))
    worst = max(added(figures, "50KB", name, "first_p99") for name in ours)
    out.append(Verdict("added first-delta p99, 50KB, worst form", f"+{worst:.2f} ms", "≤ 5 ms", worst <= 5.0))
    gaps = figures["gaps"]
    worst = max(gaps[name]["p99"] - gaps[f"direct {_form(name)}"]["p99"] for name in gaps
                if name.startswith("ours ") and "+" not in name)
    out.append(Verdict("added inter-chunk p99 (64 deltas 20 ms apart)", f"+{worst:.2f} ms", "≤ 2 ms", worst <= 2.0))
    at128 = [p["128"] for name, p in figures["parallel"].items() if name.startswith("ours ") and "128" in p]
    stalls = sum(p["stalls"] for p in at128)
    wrong = sum(p["crossed"] + p["incomplete"] for p in at128)
    out.append(Verdict("128 parallel streams: stalls (gap > 200 ms), crossed or cut",
                       f"{stalls:.0f} stalls, {wrong:.0f} crossed/cut" if at128 else "not measured", "0",
                       (stalls == 0 and wrong == 0) if at128 else None))
    peers = [name for name in figures["requests"]["50KB"] if name in figures.get("peers", ())]
    if peers and "ours openai" in figures["requests"]["50KB"]:
        fastest = min(peers, key=lambda p: added(figures, "50KB", p))
        theirs, mine = added(figures, "50KB", fastest), added(figures, "50KB", "ours openai")
        ratio = theirs / mine if mine > 0.01 else float("inf")
        out.append(Verdict(f"less added latency than the fastest peer ({fastest}), 50KB p50", f"{ratio:.1f}×",
                           "≥ 3.5×", ratio >= 3.5))
    else:
        out.append(Verdict("less added latency than the fastest peer, 50KB p50", "no peer ran (PEERS=1)", "≥ 3.5×",
                           None))
    core_figures = figures.get("core") or {}
    head, ref = core_figures.get("this tree"), core_figures.get(CORE_REF)
    if head and ref and "events_per_s" in head and "events_per_s" in ref:
        # Speed as instructions per event where both were counted (callgrind: what a shared machine's
        # load cannot move), else as events per second of CPU time.
        counted = "instructions_per_event" in head and "instructions_per_event" in ref
        if counted:
            ratios = {form: ref["instructions_per_event"][form] / head["instructions_per_event"][form]
                      for form in FORMS}
        else:
            ratios = {form: head["events_per_s"][form] / ref["events_per_s"][form] for form in FORMS}
        missed = [s for s, ok in head["shapes"].items() if not ok]
        worst_form = min(ratios, key=lambda f: ratios[f])
        how = "instructions per event (callgrind)" if counted else "events/s"
        out.append(Verdict(f"pure core speed × {CORE_REF}'s, {how}, worst form ({worst_form}); text-call shapes",
                           f"{ratios[worst_form]:.2f}×, {len(head['shapes']) - len(missed)}/{len(head['shapes'])}",
                           "≥ 1.00×, all", ratios[worst_form] >= 1.0 and not missed))
    else:
        out.append(Verdict(f"pure core events/s × {CORE_REF}'s", "not measured", "≥ 1.00×, all shapes", None))
    return out


# -- the run -------------------------------------------------------------------------------------------------
def _table(title: str, rows: list[list[str]], header: list[str]) -> None:
    print(f"\n{title}")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=False))))


def _machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, load average " + \
        " ".join(f"{x:.2f}" for x in os.getloadavg())


async def run(args: argparse.Namespace, backend: Backend, baseline: Path | None) -> dict[str, Any]:
    subjects: list[Subject] = []
    skipped: dict[str, str] = {}
    figures: dict[str, Any] = {"requests": {}, "gaps": {}, "parallel": {}, "peers": [], "skipped": skipped}
    stack = contextlib.ExitStack()
    try:
        forms = list(FORMS)
        subjects += [direct(backend, f) for f in forms]
        subjects += [gateway(backend, f) for f in forms]
        if baseline is not None:
            for f in forms:
                try:
                    subjects.append(gateway(backend, f, tree=baseline, name=f"baseline {f}", kind="baseline"))
                except Exception as e:  # noqa: BLE001 - an old tree that does not start on this venv
                    skipped[f"baseline {f}"] = f"did not start ({e})"
        if args.otlp:  # OpenTelemetry export to a loopback OTLP/HTTP receiver: its cost is the gateway's
            from inspector.testing.otlp import OtlpReceiver
            receiver = stack.enter_context(OtlpReceiver())
            subjects.append(gateway(backend, "ollama", name="ours ollama + otlp", kind="extra",
                                    extra=("--set", f"otlp_endpoint={receiver.url}")))
        if args.peers:
            for make in (litellm, claude_code_router):
                got = make(backend)
                if isinstance(got, str):
                    skipped[make.__name__.replace("_", "-")] = got
                else:
                    subjects.append(got)
                    figures["peers"].append(got.name)
        for size in ("1KB", "50KB"):
            print(f"· {args.rounds} interleaved rounds, {size} request …", flush=True)
            figures["requests"][size] = await per_request(subjects, size, args.rounds)
        print(f"· {args.stream_rounds} paced streams each …", flush=True)
        figures["gaps"] = await paced(subjects, args.stream_rounds)
        for s in subjects:
            if (s.kind == "direct" and s.form != "ollama") or s.kind == "extra":
                continue
            figures["parallel"][s.name] = {}
            for n in args.parallel:
                print(f"· {n} parallel streams through {s.name} …", flush=True)
                figures["parallel"][s.name][str(n)] = await parallel(s, n)
        if args.memory:
            print(f"· {args.memory} requests through ours ollama for RSS …", flush=True)
            ours = next(s for s in subjects if s.name == "ours ollama")
            figures["memory"] = await memory(ours, args.memory)
    finally:
        for s in subjects:
            _stop_ccr(s) if s.name == "claude-code-router" else s.stop()
            if s.kind in ("ours", "baseline", "extra") and s.note:
                shutil.rmtree(s.note, ignore_errors=True)
        stack.close()
    return figures


def report(figures: dict[str, Any], args: argparse.Namespace) -> None:
    peers = figures["peers"]
    for size in ("1KB", "50KB"):
        req = figures["requests"][size]
        rows = []
        for name, r in req.items():
            row = [name, f"{r['p50']:.2f}", f"{r['p99']:.2f}"]
            if name.startswith("direct"):
                row += ["", "", "", "", "", ""]
            else:
                a50, a99 = added(figures, size, name), added(figures, size, name, "p99")
                f50, f99 = added(figures, size, name, "first_p50"), added(figures, size, name, "first_p99")
                mult = ""
                if name in peers and "ours openai" in req:
                    mine = added(figures, size, "ours openai")
                    mult = f"{a50 / mine:.1f}× ours" if mine > 0.01 else ""
                row += [f"+{a50:.2f}", f"+{a99:.2f}", f"+{f50:.2f}", f"+{f99:.2f}",
                        f"{r['said_p50']:.2f}" if "said_p50" in r else "", mult]
            row += [f"{r['cpu_ms']:.2f}" if "cpu_ms" in r else "",
                    f"{r['sidecar_cpu_ms']:.2f}" if "sidecar_cpu_ms" in r else ""]
            if r["bad"]:
                row[0] += f" ({r['bad']:.0f} bad answers)"
            rows.append(row)
        _table(f"per request, {size}, one at a time ({args.rounds} interleaved rounds; ms)", rows,
               ["", "p50", "p99", "added p50", "added p99", "added 1st-delta p50", "added 1st-delta p99", "says p50",
                "vs ours",
                "CPU/req", "sidecar CPU/req"])
    gaps = figures["gaps"]
    rows = [[name, f"{g['p50']:.2f}", f"{g['p99']:.2f}", f"{g['max']:.1f}",
             "" if name.startswith("direct") else f"+{g['p99'] - gaps['direct ' + _form(name)]['p99']:.2f}"]
            for name, g in gaps.items()]
    _table(f"gaps between deltas, backend pacing {DELTAS} deltas {PACE * 1000:.0f} ms apart "
           f"({args.stream_rounds} streams each; ms)", rows, ["", "p50", "p99", "max", "added p99"])
    rows = []
    for name, by_n in figures["parallel"].items():
        for n, p in by_n.items():
            rows.append([f"{name}, {n} streams", f"{p['stalls']:.0f}", f"{p['stalled_streams']:.0f}",
                         f"{p['crossed']:.0f}", f"{p['incomplete']:.0f}", f"{p['gap_p99_ms']:.1f}",
                         f"{p['gap_max_ms']:.1f}"])
    _table("streams at once (1KB requests, 64 deltas 20 ms apart)", rows,
           ["", "stalls", "stalled streams", "crossed", "cut", "gap p99 ms", "gap max ms"])
    if "memory" in figures:
        m = figures["memory"]
        print(f"\nRSS of the gateway (ours ollama) over {max(m['rss_mb'])} requests: "
              + ", ".join(f"{n}: {mb:.1f} MB" for n, mb in m["rss_mb"].items())
              + f"; recording sidecar {m['sidecar_mb']:.1f} MB")
    for name, why in figures["skipped"].items():
        print(f"\nskipped: {name}: {why}")
    if figures.get("core"):
        rows = []
        for tree, c in figures["core"].items():
            if "error" in c:
                rows.append([tree, "failed: " + " ".join(c["error"]), "", "", "", "", "", ""])
                continue
            e = c["events_per_s"]
            i = c.get("instructions_per_event") or {}
            missed = [s for s, ok in c["shapes"].items() if not ok]
            rows.append([tree, *(f"{e[k] / 1000:,.0f}k" for k in ("ollama", "openai", "ollama + tools",
                                                                     "openai + tools")),
                         *(f"{v:.1f}" for v in c["request"].values()),
                         *(f"{i[k] / 1000:.1f}k" if k in i else "-" for k in ("ollama", "openai")),
                         f"{len(c['shapes']) - len(missed)}/{len(c['shapes'])}"])
        _table("pure core (bench/core.py): events/s of CPU time (best of alternating runs); 1 MB request ms; "
               "instructions per event (callgrind)", rows,
               ["", "ollama", "openai", "ollama+tools", "openai+tools", "1MB→ollama", "1MB→openai",
                "instr ollama", "instr openai", "shapes"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=300, help="interleaved rounds per request size")
    parser.add_argument("--stream-rounds", type=int, default=12, help="paced streams per subject")
    parser.add_argument("--parallel", type=int, nargs="*", default=[32, 128, 256])
    parser.add_argument("--memory", type=int, default=2000, help="requests for the RSS figure (0: skip)")
    parser.add_argument("--peers", action="store_true", help="LiteLLM and claude-code-router in the same rounds")
    parser.add_argument("--baseline", metavar="REF", help="the same figures for another commit, beside ours")
    parser.add_argument("--otlp", action="store_true", help="also ours with OpenTelemetry export to a loopback receiver")
    parser.add_argument("--no-core", action="store_true", help="skip the pure core")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()

    print(f"make bench: {' '.join(sys.argv[1:]) or '(defaults)'}\nmachine: {_machine()}", flush=True)
    with contextlib.ExitStack() as stack:
        base = stack.enter_context(Worktree(args.baseline)) if args.baseline else None
        if base is not None and not base.ok:
            print(f"--baseline {args.baseline}: {base.why}")
            return 2
        with Backend() as backend:
            figures = asyncio.run(run(args, backend, base.path if base is not None else None))
        if not args.no_core:
            print("· the pure core …", flush=True)
            trees: dict[str, Path | None] = {"this tree": None}
            reference = stack.enter_context(Worktree(CORE_REF))
            if reference.ok:
                trees[CORE_REF] = reference.path
            else:
                figures["skipped"][f"core at {CORE_REF}"] = reference.why
            if base is not None and args.baseline != CORE_REF:
                trees[args.baseline] = base.path
            figures["core"] = core(trees)
    figures["machine"] = _machine()
    report(figures, args)
    verdicts = targets(figures)
    print("\ntargets (issue 25), with the defaults a user gets:")
    for v in verdicts:
        state = "met   " if v.met else "MISSED" if v.met is False else "  -   "
        print(f"  {state} {v.what:72} {v.figure:>22}  (target {v.goal})")
    print(f"\n{_machine()}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        figures["targets"] = [v.__dict__ for v in verdicts]
        args.json.write_text(json.dumps(figures, indent=1, default=str))
    return 1 if args.check and any(v.met is False for v in verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())
