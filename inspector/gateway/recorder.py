"""The ``Recorder`` addon: every exchange the gateway handles, saved as a replayable fixture."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mitmproxy import addonmanager, ctx

from ..recording import utc_iso
from ..recording._private import record_dir_problem
from ..recording._schema import attempt_direction
from ..recording._sidecar import SidecarStore
from .exchange import Direction, Exchange
from .reask import Attempt

__all__ = ["Recorder"]


def _once(report: Callable[[str], None]) -> Callable[[str], None]:
    """Each kind of disk trouble reported once (the sidecar and this process may both see it)."""
    said: set[str] = set()

    def say(message: str) -> None:
        key = message.split(" in ", 1)[0]
        if key not in said:
            said.add(key)
            report(message)

    return say

log = logging.getLogger("inspector")


class Recorder:
    """Writes sessions under ``record_dir`` (format: inspector/recording/SCHEMA.md).

    Disk trouble is reported once and never touches the traffic itself.
    """

    def __init__(self) -> None:
        self.store: SidecarStore | None = None
        self._settings: tuple[Any, ...] | None = None

    def load(self, loader: addonmanager.Loader) -> None:
        loader.add_option("record", bool, True, "Record every exchange under record_dir.")
        loader.add_option("record_dir", str, "recordings",
                          "Where sessions are recorded (one folder per Claude Code session).")
        loader.add_option("redact_headers", str, "",
                          "Extra header names or globs to redact on disk, comma-separated (x-api-key, "
                          "authorization, proxy-authorization and cookies always are).")

    def configure(self, updated: set[str]) -> None:
        if updated & {"record", "record_dir", "redact_headers"}:
            o = ctx.options
            settings = (o.record, o.record_dir, o.redact_headers)
            if settings == self._settings:
                return
            self._settings = settings
            if self.store is not None:
                self.store.close()
                self.store = None
            if not o.record:
                return
            root = Path(o.record_dir).expanduser()
            # WARNING, not ERROR: mitmproxy exits on an error logged during startup, and a
            # recording problem must never stop the traffic.
            report = _once(log.warning)
            problem = record_dir_problem(root)
            if problem is None:
                try:
                    root.mkdir(parents=True, exist_ok=True, mode=0o700)
                except OSError as e:
                    problem = e.strerror or str(e)
            if problem is not None:  # a folder others control (or none at all): nothing is written there
                report(f"cannot write recordings in {root} ({problem}); traffic is unaffected, nothing is "
                       f"being recorded — fix the folder or --set record=false")
                return
            self.store = SidecarStore(root, redact_headers=o.redact_headers.split(","), report=report)

    def done(self) -> None:
        if self.store is not None:
            self.store.close()  # everything sent is written before the sidecar exits
            self.store = None

    def exchange_started(self, ex: Exchange) -> None:
        if self.store is None or ex.client_request is None:
            return
        ex.writer = self.store.exchange(
            session_id=ex.session_id, id_source=ex.id_source, client=ex.client, kind=ex.kind,
            meta={"started": utc_iso(ex.started_wall)})
        if ex.writer is not None:
            ex.writer.requests(ex.client_request, ex.backend_request)

    def exchange_response(self, ex: Exchange, direction: Direction, status: int,
                          headers: list[tuple[str, str]]) -> None:
        if ex.writer is not None:
            ex.writer.response_head(direction, status, headers)

    def exchange_chunk(self, ex: Exchange, direction: Direction, data: bytes) -> None:
        if ex.writer is not None:
            ex.writer.chunk(direction, data)

    def exchange_attempt(self, ex: Exchange, attempt: Attempt) -> None:
        """A re-ask (``reask.Attempt``): its request when it is sent, its answer when it came — written
        beside the first attempt's (``backend-request-N.json``, ``backend-response-N.jsonl``)."""
        if ex.writer is None:
            return
        direction = attempt_direction(attempt.n)
        if attempt.status is None and attempt.error is None:
            ex.writer.attempt_request(attempt.n, attempt.request)
            return
        if attempt.status is not None:
            ex.writer.response_head(direction, attempt.status, attempt.headers)
        if attempt.body:
            ex.writer.chunk(direction, attempt.body)

    def exchange_ended(self, ex: Exchange) -> None:
        if ex.writer is not None:
            ex.writer.finish({**(ex.final or ex.summary()), "complete": ex.incomplete is None})
