"""What the backend says about each routed model — its real context window, its capabilities,
whether it can count tokens — asked asynchronously, with short timeouts, and cached per model.

The questions and what the answers mean belong to the backend form (``BackendForm.discover`` and
``count_tokens``, pure generators of ``Probe`` objects); this module only runs them on the
gateway's pooled ``BackendClient``, never blocking the event loop. A model is asked once; it is
asked again when a request fails for context (``forget``), and when the first answer could only
give an upper bound (an Ollama model not loaded yet: ``provisional``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Generator
from typing import Any

import orjson

from ..protocol import Answer, BackendForm, ModelFacts, Probe, TokenCount, TranslateOptions
from ..transport import BackendClient, BackendFailure
from .flows import split_backend

__all__ = ["Discovery"]

log = logging.getLogger("inspector")

#: An answer larger than this is not a probe's answer (an /api/show is a few KB).
_LIMIT = 4 << 20


class Discovery:
    """``await discovery.facts(form, backend, model, options)`` → ``ModelFacts`` (cached)."""

    def __init__(self, client: BackendClient, *, timeout: float = 2.0) -> None:
        self.client = client
        self.timeout = timeout
        self._facts: dict[tuple[str, str, str, int], ModelFacts] = {}
        self._asking: dict[tuple[str, str, str, int], asyncio.Future[ModelFacts]] = {}
        #: Keys whose answer was an upper bound: asked again after the next exchange.
        self.provisional: set[tuple[str, str, str, int]] = set()
        self.headers: list[tuple[str, str]] = []

    @staticmethod
    def _key(form: BackendForm, backend: str, model: str, options: TranslateOptions) -> tuple[str, str, str, int]:
        return form.name, backend, model, options.num_ctx

    def cached(self, form: BackendForm, backend: str, model: str, options: TranslateOptions) -> ModelFacts | None:
        return self._facts.get(self._key(form, backend, model, options))

    def known(self) -> list[ModelFacts]:
        return list(self._facts.values())

    def forget(self, form: BackendForm, backend: str, model: str, options: TranslateOptions) -> None:
        """The backend refused a request for context: what it said before may be stale."""
        self._facts.pop(self._key(form, backend, model, options), None)

    async def facts(self, form: BackendForm, backend: str, model: str, options: TranslateOptions) -> ModelFacts:
        key = self._key(form, backend, model, options)
        known = self._facts.get(key)
        if known is not None:
            return known
        asking = self._asking.get(key)
        if asking is None:  # one question in flight per model, however many requests wait for it
            asking = self._asking[key] = asyncio.ensure_future(self._discover(form, backend, model, options))
        try:
            facts = await asyncio.shield(asking)
        finally:
            if asking.done():
                self._asking.pop(key, None)
        self._facts[key] = facts
        if facts.provisional:
            self.provisional.add(key)
        else:
            self.provisional.discard(key)
        return facts

    def refresh_later(self, form: BackendForm, backend: str, model: str, options: TranslateOptions) -> None:
        """After an exchange: a provisional answer (the model was not loaded) is asked again."""
        key = self._key(form, backend, model, options)
        if key in self.provisional and key not in self._asking:
            self.provisional.discard(key)
            self._facts.pop(key, None)
            asyncio.ensure_future(self.facts(form, backend, model, options))

    async def _discover(self, form: BackendForm, backend: str, model: str, options: TranslateOptions) -> ModelFacts:
        origin, base_path = split_backend(backend)
        started = time.monotonic()
        try:
            facts = await self._drive(form.discover(model, options=options, base_path=base_path), origin)
        except Exception:  # a probe must never break a request
            log.exception("gateway: asking the backend about its model failed (requests go on without it)")
            facts = None
        facts = facts if isinstance(facts, ModelFacts) else ModelFacts(model)
        log.debug(f"gateway: {model} on {backend}: {facts.as_dict()} ({(time.monotonic() - started) * 1000:.0f} ms)")
        return facts

    async def count(self, form: BackendForm, backend: str, facts: ModelFacts, body: dict[str, Any]) -> TokenCount | None:
        """The backend's own count of a translated request (None: it cannot, or did not answer)."""
        if facts.tokenizer is None:
            return None
        origin, base_path = split_backend(backend)
        try:
            result = await self._drive(form.count_tokens(facts, body, base_path=base_path), origin)
        except Exception:
            log.exception("gateway: counting tokens with the backend failed (the estimate is used)")
            return None
        return result if isinstance(result, TokenCount) else None

    async def _drive(self, steps: Generator[list[Probe], list[Answer], Any], origin: str) -> Any:
        try:
            probes = next(steps)
            while True:
                answers = await asyncio.gather(*(self._ask(origin, p) for p in probes))
                probes = steps.send(list(answers))
        except StopIteration as stop:
            return stop.value

    async def _ask(self, origin: str, probe: Probe) -> Answer:
        body = orjson.dumps(probe.body) if probe.body is not None else b""
        headers = [("accept", "application/json"), *self.headers]
        if probe.body is not None:
            headers.append(("content-type", "application/json"))
        response = None
        try:
            async with asyncio.timeout(self.timeout):
                response = await self.client.send(probe.method, origin + probe.path, headers, body)
                raw = await response.aread(_LIMIT)
        except (BackendFailure, TimeoutError, OSError):
            return Answer(0)
        finally:
            if response is not None:
                response.close()
        try:
            return Answer(response.status, orjson.loads(raw) if raw else None)
        except orjson.JSONDecodeError:
            return Answer(response.status)
