"""pytest plugin (registered as ``inspector`` through the ``pytest11`` entry point).

Fixtures for projects that test against recorded Claude Code / Anthropic traffic:

``anthropic_replay(path, speed=0)``
    Serves a recording directory (or one session folder) as an Anthropic-compatible base
    URL for the test — point ``ANTHROPIC_BASE_URL`` or ``anthropic.Anthropic(base_url=…)``
    at the returned URL. Same matching rule as ``inspector replay``; no mitmproxy needed.

``translation_regression(path)``
    Re-runs today's translator over every recorded translated exchange under ``path`` and
    fails with a readable diff if the backend request or what the client was sent changed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from .recording import ReplayIndex, list_sessions, retranslate

__all__ = ["ReplayServer", "anthropic_replay", "translation_regression"]


def _sessions(path: Path):
    path = Path(path)
    if (path / "session.json").exists():
        return [s for s in list_sessions(path.parent) if s.path == path]
    return list_sessions(path)


class ReplayServer:
    """A loopback HTTP server answering from recordings (``with ReplayServer(path) as url:``)."""

    def __init__(self, path: Path | str, *, speed: float = 0.0) -> None:
        self.index = ReplayIndex(_sessions(Path(path)))
        self.speed = speed
        self.misses: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> str:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                answer = server.index.answer(self.command, self.path, body)
                if answer.miss:
                    server.misses.append(answer.miss)
                self.send_response(answer.status)
                for k, v in answer.headers:
                    self.send_header(k, v)
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                last = 0.0
                for chunk in answer.chunks:
                    if server.speed and chunk.t is not None:
                        time.sleep(max(0.0, chunk.t - last) / server.speed)
                        last = chunk.t
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk.data), chunk.data))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

            do_GET = do_POST = do_HEAD = _answer

        return Handler


@pytest.fixture
def anthropic_replay() -> Iterator[Callable[..., str]]:
    """``url = anthropic_replay("recordings/SESSION", speed=0)``: an Anthropic base URL."""
    servers: list[ReplayServer] = []

    def start(path: Path | str, *, speed: float = 0.0) -> str:
        server = ReplayServer(path, speed=speed)
        servers.append(server)
        return server.__enter__()

    yield start
    for server in servers:
        server.__exit__(None, None, None)


@pytest.fixture
def translation_regression() -> Callable[[Path | str], int]:
    """``translation_regression("recordings")``: fails with a diff if a recorded translation changed;
    returns how many exchanges it checked."""

    def check(path: Path | str) -> int:
        checked, failures = 0, []
        for session in _sessions(Path(path)):
            for exchange in session.exchanges():
                result = retranslate(exchange)
                checked += result.checked
                if result.checked and not result.same:
                    failures.append(f"{exchange.ref}:\n{result.diff}")
        if failures:
            pytest.fail("the translation of recorded traffic changed:\n\n" + "\n\n".join(failures), pytrace=False)
        return checked

    return check
