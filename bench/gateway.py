"""``make bench``: the gateway's per-request cost against bare mitmdump, measured in one run.

* p50/p90 per request on one keep-alive connection, interleaved round by round, for:
  the backend directly, bare ``mitmdump --mode reverse`` (streaming), and the gateway
  per backend form — each fed Claude Code's real 49 KB request (tests/data);
* time to the first text delta when the backend pauses after its first token;
* the pure core: stream events translated per second, time to translate a 1 MB request.

Backends are minimal asyncio servers on loopback answering a canned stream, so the
figures are the proxies' own cost. Ratios are against bare mitmdump from this run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import cast

ROOT = Path(__file__).resolve().parent.parent

from inspector.protocol import (
    OllamaStreamTranslator,
    OpenAIStreamTranslator,
    TranslateOptions,
    ollama_request,
    openai_request,
    parse_request,
)
from inspector.testing.backends import RENDER, Call, Reply
from inspector.testing.gateway import MITMDUMP, free_port, wait_port
from inspector.testing.otlp import OtlpReceiver

REQUEST = json.loads((ROOT / "tests" / "data" / "claude-code-request.json").read_text())
REPLY = Reply(text="I'll write the file for you now. " * 4,
              calls=[Call("Write", {"file_path": "/tmp/hello.txt", "content": "hi\n"}, id="call_1")])
FIRST_TOKEN = b"I'll"
STREAM_TYPE = {"ollama": b"application/x-ndjson", "openai": b"text/event-stream",
               "anthropic": b"text/event-stream"}


# -- a fast canned backend ----------------------------------------------------------------------------
class CannedBackend:
    """``tokenizer=True``: also llama.cpp server's /props, /apply-template and /tokenize, answered with a
    prompt and token ids the size of Claude Code's (the gateway counts every request with them)."""

    def __init__(self, form: str, pause: float = 0.0, *, tokenizer: bool = False) -> None:
        self.form = form
        self.pause = pause
        self.tokenizer = tokenizer
        self.answers = {
            b"/props": json.dumps({"default_generation_settings": {"n_ctx": 65536}}).encode(),
            b"/apply-template": json.dumps({"prompt": "x" * 48_000}).encode(),
            b"/tokenize": json.dumps({"tokens": list(range(12_500))}).encode(),
        }
        chunks = RENDER[form](REPLY, "bench-model", True)
        # Everything up to and including the first token, then (optionally) a pause.
        cut = next(i for i, c in enumerate(chunks) if FIRST_TOKEN in c) + 1
        self.first = b"".join(chunks[:cut])
        self.rest = b"".join(chunks[cut:])
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def main() -> None:
            await asyncio.start_server(self._serve, "127.0.0.1", self.port)
            ready.set()
            await asyncio.Event().wait()

        threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True).start()
        ready.wait()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                path = head.split(b" ", 2)[1]
                if path in self.answers or path.startswith((b"/v1/models", b"/api/show", b"/api/ps", b"/api/v0/")):
                    answer = self.answers.get(path) if self.tokenizer else None
                    status = b"200 OK" if answer else b"404 Not Found"
                    answer = answer or b"{}"
                    writer.write(b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\ncontent-length: "
                                 + str(len(answer)).encode() + b"\r\n\r\n" + answer)
                    await writer.drain()
                    continue
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: " + STREAM_TYPE[self.form]
                             + b"\r\ntransfer-encoding: chunked\r\n\r\n")
                writer.write(b"%x\r\n%s\r\n" % (len(self.first), self.first))
                if self.pause:
                    await writer.drain()
                    await asyncio.sleep(self.pause)
                writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(self.rest), self.rest))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


# -- a raw keep-alive client ------------------------------------------------------------------------------
class Client:
    def __init__(self, port: int, path: str, body: bytes) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.request = (f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
                        f"x-api-key: sk-bench\r\nanthropic-version: 2023-06-01\r\n"
                        f"content-length: {len(body)}\r\n\r\n").encode() + body
        self.buf = b""

    def once(self, marker: bytes = b"") -> tuple[float, float]:
        """Send one request; return (seconds to ``marker`` in the body, seconds to the end)."""
        t0 = time.perf_counter()
        self.sock.sendall(self.request)
        t_marker = None
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200"), head
        body = b""
        while True:  # chunked
            while b"\r\n" not in self.buf:
                self.buf += self.sock.recv(65536)
            size_line, rest = self.buf.split(b"\r\n", 1)
            size = int(size_line, 16)
            while len(rest) < size + 2:
                rest += self.sock.recv(65536)
            body += rest[:size]
            self.buf = rest[size + 2:]
            if t_marker is None and marker and marker in body:
                t_marker = time.perf_counter() - t0
            if size == 0:
                break
        return (t_marker or 0.0), time.perf_counter() - t0


def start_mitmdump(target: str, *args: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    # FORCE_COLOR: the colour log renders as it does in a terminal (rich skips the styling for a pipe).
    proc = subprocess.Popen([str(MITMDUMP), "-q", "--mode", f"reverse:{target}", "--listen-host", "127.0.0.1",
                             "-p", str(port), *args], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            cwd=ROOT, env={**os.environ, "FORCE_COLOR": "1"})
    wait_port(port, proc=proc)
    time.sleep(0.5)  # let the loopback rebind and the relay start
    return proc, port


def bench_requests(rounds: int, pause: float = 0.0, *, extras: bool = True) -> dict[str, dict[str, float]]:
    backends = {f: CannedBackend(f, pause) for f in ("ollama", "openai", "anthropic")}
    if extras:
        backends["llama.cpp"] = CannedBackend("openai", pause, tokenizer=True)
    for b in backends.values():
        b.start()
    anthropic_body = json.dumps({**REQUEST, "model": "claude-opus-5-5"}).encode()
    native = {"ollama": ("/api/chat", json.dumps(ollama_request(parse_request(anthropic_body), model="m")).encode()),
              "openai": ("/v1/chat/completions",
                         json.dumps(openai_request(parse_request(anthropic_body), model="m")).encode())}
    procs = []
    clients: dict[str, Client] = {
        "direct (ollama)": Client(backends["ollama"].port, *native["ollama"]),
        "direct (anthropic)": Client(backends["anthropic"].port, "/v1/messages", anthropic_body),
    }
    stream_all = str(ROOT / "bench" / "stream_all.py")
    p, port = start_mitmdump(backends["anthropic"].url, "-s", stream_all)
    procs.append(p)
    clients["bare mitmdump"] = Client(port, "/v1/messages?beta=true", anthropic_body)
    gateway = ["-s", str(ROOT / "addons" / "translate.py"), "--set", "model=bench-model"]
    quiet = ["--set", "record=false", "--set", "log_detail=off"]
    # The headline: the defaults a user gets — recording and the colour log on.
    defaults = ["--set", f"record_dir={tempfile.mkdtemp(prefix='bench-recordings-')}"]
    for form in ("ollama", "openai", "anthropic"):
        p, port = start_mitmdump(backends[form].url, *gateway, "--set", f"backend={form}", *defaults)
        procs.append(p)
        clients[f"gateway {form}"] = Client(port, "/v1/messages?beta=true", anthropic_body)
    receiver = None
    if extras:
        # A loopback OTLP/HTTP receiver: the export's cost is the gateway's, not a remote collector's.
        receiver = OtlpReceiver().__enter__()
        for name, args in (("recording and log off", quiet),
                           # The queue (one at a time for a local server) against none: its own cost.
                           ("no queue", [*defaults, "--set", "backend_concurrency=unlimited"]),
                           ("+ otlp export", [*defaults, "--set", f"otlp_endpoint={receiver.url}"]),
                           ("+ otlp with content", [*defaults, "--set", f"otlp_endpoint={receiver.url}",
                                                    "--set", "otlp_capture_content=true"])):
            p, port = start_mitmdump(backends["ollama"].url, *gateway, "--set", "backend=ollama", *args)
            procs.append(p)
            clients[f"gateway ollama {name}"] = Client(port, "/v1/messages?beta=true", anthropic_body)
        # A backend with a tokenizer (llama.cpp): a session's first request is counted by it, the rest by
        # the estimate its answers corrected — the cost per request must stay where it was.
        p, port = start_mitmdump(backends["llama.cpp"].url, *gateway, "--set", "backend=openai", *defaults)
        procs.append(p)
        clients["gateway openai + tokenizer"] = Client(port, "/v1/messages?beta=true", anthropic_body)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in clients}
    try:
        for c in clients.values():  # warm up
            for _ in range(5):
                c.once()
        for _ in range(rounds):
            for name, c in clients.items():
                samples[name].append(c.once(FIRST_TOKEN))
    finally:
        for c in clients.values():
            c.sock.close()
        for p in procs:
            p.terminate()
        for p in procs:  # the exporting gateway sends its last batch as it stops
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        received = len(receiver.spans()) if receiver is not None else 0
        if receiver is not None:
            receiver.__exit__()
    out = {}
    for name, s in samples.items():
        total = sorted(t for _, t in s)
        first = sorted(t for t, _ in s)
        out[name] = {"p50_ms": statistics.median(total) * 1000,
                     "p90_ms": total[int(len(total) * 0.9)] * 1000,
                     "first_delta_ms": statistics.median(first) * 1000}
    if receiver is not None:
        # Proof the export really ran: every measured exchange (and the warm-up) reached the receiver.
        out["gateway ollama + otlp export"]["spans_received"] = received
    return out


class SlowBackend(CannedBackend):
    """Streams its answer in 20 chunks 10 ms apart, as a model decodes: concurrent streams overlap."""

    def __init__(self, form: str) -> None:
        super().__init__(form)
        reply = Reply(text="token " * 60, pieces=20)
        self.chunks = RENDER[form](reply, "bench-model", True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: " + STREAM_TYPE[self.form]
                             + b"\r\ntransfer-encoding: chunked\r\n\r\n")
                for chunk in self.chunks:
                    writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    await writer.drain()
                    await asyncio.sleep(0.01)
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


def bench_parallel(n: int = 32, rounds: int = 5) -> dict[str, float]:
    backend = SlowBackend("ollama")
    backend.start()
    body = json.dumps({**REQUEST, "model": "claude-opus-5-5"}).encode()
    # The canned backend streams any number of answers at once, unlike a local model's one slot: the
    # gateway's queue (one at a time for a local server, by default) would measure waiting, not the proxy.
    p, port = start_mitmdump(backend.url, "-s", str(ROOT / "addons" / "translate.py"), "--set", "model=bench-model",
                             "--set", f"record_dir={tempfile.mkdtemp(prefix='bench-parallel-')}",
                             "--set", "backend_concurrency=unlimited")
    try:
        single = Client(port, "/v1/messages?beta=true", body)
        for _ in range(3):
            single.once()
        alone = [single.once()[1] for _ in range(20)]
        clients = [Client(port, "/v1/messages?beta=true", body) for _ in range(n)]
        together: list[float] = []
        for _ in range(rounds):
            barrier = threading.Barrier(n)
            results: list[float] = []

            def one(c: Client, barrier: threading.Barrier = barrier, results: list[float] = results) -> None:
                barrier.wait()
                results.append(c.once()[1])

            threads = [threading.Thread(target=one, args=(c,)) for c in clients]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            together += results
    finally:
        p.terminate()
        p.wait(15)
    together.sort()
    return {"single_p50_ms": statistics.median(alone) * 1000, "parallel_p50_ms": statistics.median(together) * 1000,
            "parallel_p90_ms": together[int(len(together) * 0.9)] * 1000}


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def bench_memory(total: int = 2000) -> dict[str, object]:
    backend = CannedBackend("ollama")
    backend.start()
    body = json.dumps({**REQUEST, "model": "claude-opus-5-5"}).encode()
    p, port = start_mitmdump(backend.url, "-s", str(ROOT / "addons" / "translate.py"), "--set", "model=bench-model",
                             "--set", f"record_dir={tempfile.mkdtemp(prefix='bench-memory-')}")
    rss: dict[int, float] = {}
    try:
        client = Client(port, "/v1/messages?beta=true", body)
        for i in range(1, total + 1):
            client.once()
            if i in (100, 500, 1000, 1500, total):
                rss[i] = _rss_mb(p.pid)
        children = Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()
        sidecar = sum(_rss_mb(int(c)) for c in children)
    finally:
        p.terminate()
        p.wait(15)
    return {"rss_mb": rss, "sidecar_mb": sidecar}


def bench_core() -> dict[str, float]:
    n = 20000
    lines = b"".join(json.dumps({"model": "m", "message": {"role": "assistant", "content": f"tok{i} "},
                                 "done": False}).encode() + b"\n" for i in range(n))
    lines += json.dumps({"model": "m", "message": {"role": "assistant", "content": ""}, "done": True,
                         "done_reason": "stop", "prompt_eval_count": 5, "eval_count": n}).encode() + b"\n"
    sse = b"".join(b"data: " + json.dumps({"id": "c", "choices": [{"index": 0, "delta": {"content": f"tok{i} "},
                                                                     "finish_reason": None}]}).encode() + b"\n\n"
                   for i in range(n)) + b"data: [DONE]\n\n"
    results = {}
    for name, cls, data in (("ollama", OllamaStreamTranslator, lines), ("openai", OpenAIStreamTranslator, sse)):
        best = float("inf")
        for _ in range(3):
            t = cls(model="m")
            t0 = time.perf_counter()
            for i in range(0, len(data), 16384):
                t.feed(data[i:i + 16384])
            t.flush()
            best = min(best, time.perf_counter() - t0)
        results[f"core {name} events/s"] = n / best
    # A ~1 MB request: Claude Code's request with a long conversation.
    turns = []
    while len(json.dumps(turns)) < 950_000:
        turns += [{"role": "user", "content": [{"type": "text", "text": "please look at this file " * 40}]},
                  {"role": "assistant", "content": [
                      {"type": "text", "text": "Reading it."},
                      {"type": "tool_use", "id": f"toolu_{len(turns)}", "name": "Read", "input": {"file_path": "/a"}}]},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"toolu_{len(turns)}",
                                                "content": "line of code\n" * 150}]},
                  {"role": "assistant", "content": "It looks fine."}]
    big = json.dumps({**REQUEST, "messages": REQUEST["messages"][:1] + turns}).encode()
    for name, fn in (("ollama", ollama_request), ("openai", openai_request)):
        best = float("inf")
        for _ in range(7):
            t0 = time.perf_counter()
            import orjson
            orjson.dumps(fn(parse_request(big), model="m", options=TranslateOptions()))
            best = min(best, time.perf_counter() - t0)
        results[f"1 MB request → {name} ms"] = best * 1000
    results["request size MB"] = len(big) / 1e6
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when a target (printed at the end) is missed")
    args = parser.parse_args()

    print(f"per-request cost: {args.rounds} interleaved rounds, Claude Code's real "
          f"{len(json.dumps(REQUEST)) // 1000} KB request, one keep-alive connection each")
    req = bench_requests(args.rounds)
    bare = req["bare mitmdump"]["p50_ms"]
    print(f"{'':36} {'p50 ms':>8} {'p90 ms':>8} {'× bare':>7}")
    for name, r in req.items():
        print(f"{name:36} {r['p50_ms']:8.2f} {r['p90_ms']:8.2f} {r['p50_ms'] / bare:7.2f}")
    plain = req["gateway ollama recording and log off"]["p50_ms"]
    print(f"the defaults (recording + colour log) cost {req['gateway ollama']['p50_ms'] / plain:.2f}× "
          f"the gateway without them")
    for name in ("gateway ollama + otlp export", "gateway ollama + otlp with content"):
        print(f"{name.removeprefix('gateway ollama ')} costs {req[name]['p50_ms'] / req['gateway ollama']['p50_ms']:.2f}× "
              f"the gateway (defaults) without it")
    print(f"(the OTLP receiver got {req['gateway ollama + otlp export']['spans_received']} spans "
          f"for {2 * (args.rounds + 5)} exchanges through the two exporting gateways)")
    counting = req["gateway openai + tokenizer"]["p50_ms"] / req["gateway openai"]["p50_ms"]
    print(f"+ a backend tokenizer (the session's first request counted by it) costs {counting:.2f}× the gateway "
          f"(defaults) without one")

    print("\ntime to the first text delta, backend pausing 100 ms after its first token:")
    ttft = bench_requests(max(50, args.rounds // 4), pause=0.1, extras=False)
    base = ttft["bare mitmdump"]["first_delta_ms"]
    for name, r in ttft.items():
        print(f"{name:30} {r['first_delta_ms']:8.2f} ms  ({r['first_delta_ms'] - base:+.2f} ms vs bare mitmdump); "
              f"whole stream {r['p50_ms']:.1f} ms")

    print("\n32 parallel streams through one gateway (defaults), backend streaming 20 chunks 10 ms apart:")
    par = bench_parallel()
    print(f"single stream p50 {par['single_p50_ms']:.1f} ms; 32 at once: p50 {par['parallel_p50_ms']:.1f} ms "
          f"({par['parallel_p50_ms'] / par['single_p50_ms']:.2f}×), p90 {par['parallel_p90_ms']:.1f} ms")

    print("\nmemory over 2,000 sequential requests (defaults), resident set size of the gateway:")
    mem = bench_memory()
    print("  " + ", ".join(f"after {n}: {mb:.1f} MB" for n, mb in mem["rss_mb"].items())
          + f"; sidecar {mem['sidecar_mb']:.1f} MB")

    print("\npure core:")
    core = bench_core()
    for name, value in core.items():
        print(f"{name:28} {value:12,.1f}")
    verdicts = targets(req, ttft, par, mem)
    print("\ntargets (issue 11), with the defaults a user gets:")
    for name, figure, goal, met in verdicts:
        print(f"  {'met   ' if met else 'MISSED'} {name:44} {figure:>10}  (target {goal})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"requests": req, "first_delta": ttft, "parallel": par, "memory": mem,
                                         "core": core, "targets": [list(v) for v in verdicts]}, indent=1))
    return 1 if args.check and not all(met for *_, met in verdicts) else 0


def targets(req: dict[str, dict[str, float]], ttft: dict[str, dict[str, float]], par: dict[str, float],
            mem: dict[str, object]) -> list[tuple[str, str, str, bool]]:
    """Each target as (what, the figure measured, the goal, met?)."""
    bare = req["bare mitmdump"]["p50_ms"]
    ratio = max(req[f"gateway {form}"]["p50_ms"] for form in ("ollama", "openai", "anthropic")) / bare
    later = max(ttft[f"gateway {form}"]["first_delta_ms"] for form in ("ollama", "openai", "anthropic")) \
        - ttft["bare mitmdump"]["first_delta_ms"]
    parallel = par["parallel_p50_ms"] / par["single_p50_ms"]
    rss = cast(dict[int, float], mem["rss_mb"])
    growth = rss[max(rss)] - rss[min(rss)]
    return [
        ("p50 per request, worst form, × bare mitmdump", f"{ratio:.2f}×", "≤ 1.30×", ratio <= 1.3),
        ("first text delta, worst form, later than bare", f"+{later:.2f} ms", "≤ +2 ms", later <= 2.0),
        ("32 parallel streams, p50 × one stream", f"{parallel:.2f}×", "≤ 1.50×", parallel <= 1.5),
        (f"RSS growth, requests {min(rss)}→{max(rss)}", f"{growth:+.1f} MB", "≤ +5 MB (flat)", growth <= 5.0),
    ]


if __name__ == "__main__":
    sys.exit(main())
