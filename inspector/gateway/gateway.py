"""The ``Gateway`` addon: Messages calls rewritten for the backend form, sent through the relay.

For each flow it handles, ``request`` parses and translates the client's request (or, for an
Anthropic-native backend, maps only the model), builds the backend request and registers it with
the relay as a ``Job``; mitmproxy then fetches the answer from the relay, which streams it back
already in Anthropic form (``pipeline.py``). In regular (HTTPS_PROXY) mode with no backend_url,
traffic to Anthropic's API is only observed: it goes on unchanged and is told to the listeners.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import orjson
from mitmproxy import addonmanager, ctx, exceptions, http
from mitmproxy.net.http.http1 import expected_http_body_size
from mitmproxy.proxy.mode_specs import ReverseMode
from mitmproxy.utils import human

from .. import __version__
from ..launcher import Launcher
from ..protocol import (
    FORM_NAMES,
    AnthropicStreamObserver,
    BackendForm,
    GatewayError,
    InvalidRequest,
    ModelFacts,
    ModelRouter,
    PrefixSnapshot,
    TokenCount,
    ToolNames,
    TranslateOptions,
    get_form,
    load_json_object,
    parse_model_map,
    parse_request,
    prompt_too_long,
    request_kind,
    validate_request,
)
from ..protocol._request import UserTurn
from ..recording import Redactor
from .discovery import Discovery
from .exchange import Exchange, Overhead
from .flows import (
    REQUEST_SIZE_LIMIT,
    TooLarge,
    anthropic_error,
    client_url,
    decoded_body,
    headers_text,
    identify,
    mode_of,
    path_of,
    readable,
    snapshot,
    split_backend,
    too_large,
    wire_headers,
    without_secret_params,
)
from .guard import PENDING, fail_closed, refuse, stream_to
from .pipeline import Job
from .reask import Ladder
from .relay import Relay
from .tokens import PrefixBook, TokenBook
from .webflows import BACKEND_FLOW, show_client_request

__all__ = ["Gateway", "is_anthropic_host"]

log = logging.getLogger("inspector")

#: Client headers never sent on: hop-by-hop ones, and framing (the relay sets its own).
_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
        "content-length", "host", "accept-encoding", "content-encoding"}
#: A request body larger than this is parsed and translated in a worker thread: the event loop
#: keeps every other stream's bytes and pings flowing meanwhile.
OFF_LOOP = 1 << 20
#: What no header value may hold (RFC 9110 field-value: no CTL but HTAB), and a header name's syntax.
_UNSENDABLE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: The anthropic-beta value that goes with the request's ``tags`` (request-tags-2026-08-21).
_TAGS_BETA = "request-tags-"


def is_anthropic_host(host: str | None) -> bool:
    host = (host or "").lower().rstrip(".")
    return host == "anthropic.com" or host.endswith(".anthropic.com")


class ContextTooLong(InvalidRequest):
    """A request that cannot fit the backend's context window: refused before it is sent."""

    def __init__(self, message: str, count: TokenCount, window: tuple[int, str], *, requested: str = "",
                 model: str = "") -> None:
        super().__init__(message)
        self.count = count
        self.window = window
        self.requested = requested
        self.model = model


def too_long(model: str, count: TokenCount, window: tuple[int, str], requested: str = "") -> ContextTooLong:
    """In the Anthropic API's own words first ("prompt is too long: N tokens > M maximum"): Claude
    Code's auto-compact keys on them and reads both numbers to know how much to drop."""
    size = f"{count.tokens:,} tokens (counted by {count.source})" if count.exact else \
        f"≈{count.tokens:,} tokens (estimated)"
    return ContextTooLong(
        f"{prompt_too_long(count.tokens, window[0])} — for model {model!r} the request is {size} but the "
        f"backend's context window is {window[0]:,} tokens ({window[1]}). Claude Code compacts the "
        f"conversation and goes on; otherwise use a model with a larger context, or a shorter prompt.",
        count, window, requested=requested, model=model)


class SafeguardsRefused(InvalidRequest):
    """Auto mode asked for the server-side safety check (``safeguards``), which a translated backend
    cannot run: Claude Code then retries without it and runs the check itself (the gateway contract,
    "Messages")."""

    def __init__(self, form: BackendForm) -> None:
        super().__init__(
            f"safeguards: this gateway translates for an {form.label} backend, which cannot run auto mode's "
            f"server-side safety check; send the request without the `safeguards` field and its "
            f"anthropic-beta value, and run the check yourself")


def with_facts(options: TranslateOptions, facts: ModelFacts | None) -> TranslateOptions:
    """The translation settings for one model: what the backend said it can do (llama.cpp's server
    also streams its prompt-processing progress, which the colour log shows while the prompt is read)."""
    progress = facts is not None and facts.server == "llama.cpp"
    if facts is None or (facts.capabilities is None and not facts.think_levels and not progress):
        return options
    return dataclasses.replace(options, capabilities=facts.capabilities, think_levels=facts.think_levels,
                               prompt_progress=progress)


def _last_tool_results(req_turns: Iterable[object]) -> list[dict[str, Any]]:
    last = None
    for turn in req_turns:
        if isinstance(turn, UserTurn):
            last = turn
    if last is None:
        return []
    return [{"tool_use_id": r.tool_use_id, "name": r.name, "is_error": r.is_error} for r in last.tool_results]


class Gateway:
    def __init__(self, relay: Relay, tokens: TokenBook | None = None) -> None:
        self.relay = relay
        self.discovery = Discovery(relay.client)
        self.tokens = tokens if tokens is not None else TokenBook()
        self.prefixes = PrefixBook()
        self.router = ModelRouter()
        self.translate = TranslateOptions()
        self.form: BackendForm = get_form("ollama")
        self.intercept: set[str] = {"api.anthropic.com"}
        #: flow id → (relay token, job) for flows sent to the relay.
        self.live: dict[str, tuple[str, Job]] = {}
        #: flow id → exchange, for traffic that is only observed (regular mode, no backend_url).
        self.observed: dict[str, Exchange] = {}
        #: Model names Claude Code asked for (doctor shows what they route to).
        self.requested: list[str] = []
        self.size_limit = human.parse_size(REQUEST_SIZE_LIMIT) or 0
        #: Claude Code's credentials go to Anthropic's hosts only: the recorder's list of secret
        #: header names says which headers are credentials (plus ``redact_headers``).
        self.secrets = Redactor()
        self.forward: set[str] = set()
        #: The largest Messages request Claude Code sent, as counted (doctor checks it fits the window).
        self.largest: TokenCount | None = None
        #: The repair ladder's re-ask (an addon of its own, ``reask.Ladder``): None, no re-asks.
        self.ladder: Ladder | None = None

    @property
    def parking(self) -> Relay:
        """Where a refusal made before the body is read is answered from (``guard.refuse``)."""
        return self.relay

    # -- options ---------------------------------------------------------------------------------
    def load(self, loader: addonmanager.Loader) -> None:
        loader.add_option("backend", str, "ollama",
                          "Backend API form: ollama (/api/chat), openai (/v1/chat/completions) or "
                          "anthropic (pass Messages calls through, still inspected).", choices=FORM_NAMES)
        loader.add_option("model", str, "",
                          "Backend model every request goes to (empty: the model Claude Code asked for).")
        loader.add_option("model_map", str, "",
                          "Per-tier routing, first match wins: 'haiku=qwen2.5:0.5b,sonnet=qwen3:8b'. "
                          "Plain words match anywhere in the requested name, globs (*) the whole name.")
        loader.add_option("backend_url", str, "",
                          "Backend base URL. Required in regular (HTTPS_PROXY) mode to re-target "
                          "api.anthropic.com; in reverse mode it overrides the reverse target.")
        loader.add_option("backend_api_key", str, "",
                          "Key for the backend (translated forms: 'Authorization: Bearer'; passthrough: "
                          "x-api-key and Bearer). Claude Code's own credentials go only to Anthropic's hosts.")
        loader.add_option("intercept_hosts", str, "api.anthropic.com",
                          "In regular mode, comma-separated hosts whose traffic the gateway handles.")
        loader.add_option("num_ctx", int, 0,
                          "Ollama options.num_ctx (0: Ollama's default, which silently truncates "
                          "Claude Code's prompt — 65536 is a good value).")
        loader.add_option("max_context", int, 0,
                          "The backend's context window in tokens (0: ask the backend — Ollama /api/show and "
                          "/api/ps, llama.cpp /props, vLLM /v1/models). A larger request is answered at once "
                          "with 'prompt is too long: N tokens > M maximum'.")
        loader.add_option("max_tokens_limit", int, 0,
                          "Clamp max_tokens to the backend's limit (0: no clamp).")
        loader.add_option("think", str, "auto",
                          "Ollama thinking: auto (model default; off when the client disables it), "
                          "on, off, low, medium, high.", choices=("auto", "on", "off", "low", "medium", "high"))
        loader.add_option("system_messages", str, "merge",
                          "role:system messages inside messages[]: merge (into the adjacent user turn, so "
                          "every chat template accepts them), inline (kept as system), user (user messages "
                          "of their own), auto (the old default: inline for ollama, user for openai).",
                          choices=("merge", "inline", "user", "auto"))
        loader.add_option("reasoning_effort", str, "",
                          "OpenAI reasoning_effort: empty (not sent), auto (from thinking budget), "
                          "low, medium, high.", choices=("", "auto", "low", "medium", "high"))
        loader.add_option("request_size_limit", str, REQUEST_SIZE_LIMIT,
                          "The largest request body the gateway takes (k, m, g: 1024s); a larger one is "
                          "answered 413 request_too_large before it is read. Default: Anthropic's own "
                          "Messages limit, 32 MB.")
        loader.add_option("forward_headers", str, "",
                          "Header names (comma-separated) Claude Code sends that a non-Anthropic "
                          "passthrough backend may receive although they are named like credentials "
                          "(e.g. ANTHROPIC_CUSTOM_HEADERS for a gateway: x-portkey-api-key).")
        loader.add_option("repair", bool, True,
                          "Repair local models' tool calls: calls printed as text converted, broken "
                          "argument JSON repaired, argument types coerced to the tool's schema.")

    def configure(self, updated: set[str]) -> None:
        o = ctx.options
        if "backend" in updated:
            self.form = get_form(o.backend)
        if "model_map" in updated or "model" in updated:
            try:
                self.router = ModelRouter(model=o.model, model_map=parse_model_map(o.model_map))
            except ValueError as e:
                raise exceptions.OptionsError(str(e)) from None
        if "backend_url" in updated and o.backend_url:
            parts = urlsplit(o.backend_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise exceptions.OptionsError(
                    f"backend_url {o.backend_url!r} must look like http://127.0.0.1:11434")
        if "intercept_hosts" in updated:
            self.intercept = {h.strip().lower() for h in o.intercept_hosts.split(",") if h.strip()}
        for name in ("num_ctx", "max_tokens_limit", "max_context"):
            if name in updated and getattr(o, name) < 0:
                raise exceptions.OptionsError(f"{name} must be >= 0")
        if "request_size_limit" in updated:
            try:
                limit = human.parse_size(o.request_size_limit)
            except ValueError:
                limit = None
            if not limit or limit <= 0:
                raise exceptions.OptionsError(f"request_size_limit {o.request_size_limit!r} must be a size "
                                              f"like 32m, 500k or 1g")
            self.size_limit = limit
        if "redact_headers" in updated and "redact_headers" in o:
            self.secrets = Redactor(o.redact_headers.split(","))
        if "forward_headers" in updated:
            self.forward = {h.strip().lower() for h in o.forward_headers.split(",") if h.strip()}
        if "backend_api_key" in updated:  # a server that wants the key for chats wants it for its model list
            self.discovery.headers = [("authorization", f"Bearer {o.backend_api_key}")] if o.backend_api_key else []
        self.translate = TranslateOptions(
            num_ctx=o.num_ctx, max_tokens_limit=o.max_tokens_limit, think=o.think,
            system_messages=o.system_messages, reasoning_effort=o.reasoning_effort, repair=o.repair)
        if "connection_strategy" in updated and o.connection_strategy == "eager":
            # Translated flows go to the relay, never to the reverse target itself:
            # an eager connect would only fail noisily when the backend is down.
            o.connection_strategy = "lazy"

    async def running(self) -> None:
        asyncio.ensure_future(self._say_if_backend_is_down())

    def _default_backend(self) -> str:
        o = ctx.options
        url = o.backend_url or next((ReverseMode.parse(m).data for m in o.mode if m.startswith("reverse:")), "")
        return url.rstrip("/")

    async def _ask_about_models(self) -> None:
        """The routed models' windows and capabilities, asked at start so the first request waits for nothing."""
        backend = self._default_backend()
        if not backend or not self.form.translates:
            return
        await asyncio.gather(*(self.discovery.facts(self.form, backend, m, self.translate)
                               for m in self.router.targets if m), return_exceptions=True)

    async def _say_if_backend_is_down(self) -> None:
        o = ctx.options
        url = o.backend_url or next((ReverseMode.parse(m).data for m in o.mode if m.startswith("reverse:")), "")
        parts = urlsplit(url)
        if not parts.hostname:
            return
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, port), 2)
            writer.close()
        except (OSError, TimeoutError) as e:
            reason = "connection refused" if isinstance(e, ConnectionRefusedError) else (
                "no answer" if isinstance(e, TimeoutError) else (e.strerror or type(e).__name__))
            fix = Launcher.current().option("backend_url", "<where it runs>")
            log.warning(f"gateway: nothing answers at {url} ({reason}): {self.form.start_hint}, or point the "
                        f"gateway at your {self.form.label} server ({fix}). Claude Code will be told the same.")
            return
        if self.form.translates and Launcher.current().kind == "mitmdump":  # what doctor would say, at start
            # (make run and inspector run said it already, before printing the block)
            from ..probe import backend_problems
            _, problems = await asyncio.to_thread(backend_problems, self.form, url.rstrip("/"),
                                                  [m for m in self.router.targets if m], Launcher.current())
            for problem in problems:
                log.warning(f"gateway: {problem}")
        await self._ask_about_models()

    def status(self, flow: http.HTTPFlow) -> dict[str, Any]:
        """What ``GET /_inspector/status`` says: enough for ``inspector doctor`` to check the setup."""
        o = ctx.options
        return {"gateway": "claude-code-inspector", "version": __version__, "backend": o.backend,
                "backend_url": self._backend(flow), "model": o.model, "model_map": o.model_map,
                "num_ctx": o.num_ctx, "max_tokens_limit": o.max_tokens_limit, "max_context": o.max_context,
                "repair": o.repair, "record": o.record, "record_dir": o.record_dir,
                "requested_models": self.requested,
                "models": [facts.as_dict() for facts in self.discovery.known()],
                # How it was started (fixes are spelt that way), what Claude Code sends, what is in flight.
                "launcher": Launcher.current().kind,
                "largest_request": self.largest.as_dict() if self.largest is not None else None,
                "in_flight": self.in_flight(),
                "queue": self.relay.pipeline.queues.status()}

    def in_flight(self) -> dict[str, Any]:
        """Requests sent to the backend and not yet answered to the end: a backend that does not
        answer doctor's probe meanwhile is busy, not down."""
        now = time.monotonic()
        waited = [now - job.exchange.started for _, job in self.live.values()]
        return {"count": len(waited), "longest_s": round(max(waited), 1) if waited else 0.0}

    # -- which flows -----------------------------------------------------------------------------
    def handles(self, flow: http.HTTPFlow) -> bool:
        if isinstance(flow.client_conn.proxy_mode, ReverseMode):
            return True
        return flow.request.pretty_host.lower() in self.intercept

    def _backend(self, flow: http.HTTPFlow) -> str | None:
        if ctx.options.backend_url:
            return str(ctx.options.backend_url).rstrip("/")
        mode = flow.client_conn.proxy_mode
        if isinstance(mode, ReverseMode):
            # The mode's own target, not the request's host: a flow replayed from mitmweb carries the
            # client's request as it came, addressed to the gateway itself.
            scheme = "https" if mode.scheme in ("https", "tls") else "http"
            return f"{scheme}://{mode.address[0]}:{mode.address[1]}"
        return None

    # -- hooks -----------------------------------------------------------------------------------
    @fail_closed()
    async def requestheaders(self, flow: http.HTTPFlow) -> None:
        """Before the body is read: too large a body is refused unread; one of unknown length
        (chunked) streams to the relay, counted, and is back in the flow for the request hooks."""
        if not self.handles(flow) or self._backend(flow) is None or flow.metadata.get(BACKEND_FLOW):
            return  # observed traffic goes on as it came (and a backend flow replayed from mitmweb)
        try:
            size = expected_http_body_size(flow.request)
        except ValueError:
            size = None  # mitmproxy refuses a malformed length itself
        if size is not None and size > self.size_limit:
            await self.relay.ready()
            refuse(flow, too_large(size, self.size_limit), self.relay)
        elif size is None or size == -1:  # chunked (or, unvalidated, until the connection ends)
            await self.relay.ready()
            token = self.relay.reserve(flow)
            stream_to(flow, token, self.relay.port, keep=self.size_limit)
            flow.metadata[PENDING] = token

    @fail_closed()
    async def request(self, flow: http.HTTPFlow) -> None:
        # (A backend flow replayed from mitmweb goes to the backend as it is.)
        if self.handles(flow) and not flow.metadata.get(BACKEND_FLOW):
            await self._request(flow)

    async def _request(self, flow: http.HTTPFlow) -> None:
        began = time.perf_counter()
        form = self.form
        backend = self._backend(flow)
        kind = request_kind(flow.request.method, path_of(flow))
        client_request = snapshot(flow.request, client_url(flow))
        if backend is None:
            if not form.translates:  # regular mode, no re-target: inspect the real API as it is
                await self._observe(flow, kind, client_request)
                return
            flow.response = anthropic_error(GatewayError(
                500, "api_error", f"the gateway is in regular (proxy) mode with backend={form.name} but no "
                                  f"backend_url: restart it with --set backend_url=http://HOST:PORT"))
            return
        size = len(flow.request.raw_content or b"")
        try:
            body = await _off_loop(size, decoded_body, flow.request, self.size_limit)
            job, client_json, backend_json = await self._translate(flow, kind, backend, body) if form.translates \
                else await self._passthrough(flow, kind, backend, body)
        except TooLarge as e:  # one that decodes too large
            flow.response = too_large(e.size, self.size_limit, decoded=e.decoded)
            return
        except InvalidRequest as e:
            self._refuse(flow, kind, backend, client_request, e)
            return
        ex = job.exchange
        # Its own time, for the overhead it reports (waits for the backend's facts and counts excepted).
        ex.overhead = Overhead(request=time.perf_counter() - began - job.waited)
        client_request["json"] = client_json
        ex.client_request = client_request
        ex.backend_request = {"method": job.method, "path": urlsplit(job.url).path, "url": job.url,
                              "headers": readable(job.headers), "body": job.body, "json": backend_json,
                              "content_type": "application/json"}
        if ex.client_model and ex.client_model not in self.requested:
            self.requested.append(ex.client_model)
            del self.requested[:-20]
        await self.relay.ready()
        ex.holds = 2  # the relay's pipeline and this flow; the pipeline tells the listeners it started
        token = flow.metadata.pop(PENDING, None)
        if token is not None:  # its body streamed to the relay already: the job is its answer
            self.relay.settle(token, job)
            self.live[flow.id] = (token, job)
            return
        token = self.relay.register(job)
        self.live[flow.id] = (token, job)
        r = flow.request
        r.scheme, r.host, r.port = "http", "127.0.0.1", self.relay.port
        r.path = "/" + token
        r.headers = http.Headers(host=f"127.0.0.1:{self.relay.port}")
        r.content = b""

    def _refuse(self, flow: http.HTTPFlow, kind: Any, backend: str, client_request: Any,
                e: InvalidRequest) -> None:
        err = GatewayError(400, "invalid_request_error", str(e))
        flow.response = anthropic_error(err)
        ex = Exchange(form=self.form, kind=kind, backend=backend, local=True, mode=mode_of(flow))
        identify(ex, flow, None)
        ex.client_request = client_request
        if isinstance(e, ContextTooLong):
            ex.token_count, ex.context = e.count, e.window
            ex.client_model, ex.backend_model = e.requested, e.model
            ex.notes.error(str(e), rule="context:too-long")
        elif isinstance(e, SafeguardsRefused):
            ex.notes.warning("auto mode asked for its server-side safety check (safeguards); refused so that "
                             "Claude Code retries without it and runs the check itself", rule="auto-mode:safeguards")
        else:
            ex.notes.error(f"invalid request: {e}", rule="request:invalid")
        ex.answer = orjson.loads(flow.response.content or b"{}")
        tell = self.relay.listeners
        tell.started(ex)
        tell.response(ex, "client", flow.response.status_code, list(flow.response.headers.items(multi=True)))
        tell.chunk(ex, "client", flow.response.content or b"")
        flow.metadata["inspector"] = tell.ended(ex)

    async def _translate(self, flow: http.HTTPFlow, kind: Any, backend: str, body: bytes) -> tuple[Job, Any, Any]:
        form = self.form
        if kind != "messages":  # side traffic is answered before this; anything else is not ours
            raise InvalidRequest(f"{flow.request.method} {path_of(flow)} is not a Messages call")
        req = await _off_loop(len(body), parse_request, body)
        if "safeguards" in req.raw:
            raise SafeguardsRefused(form)
        model = self.router.route(req.model)
        facts = self.discovery.cached(form, backend, model, self.translate)
        waited = time.perf_counter()
        if facts is None:  # asked of the backend once per model: its time is not the gateway's own
            facts = await self.discovery.facts(form, backend, model, self.translate)
        waited = time.perf_counter() - waited
        options = with_facts(self.translate, facts)
        ex = Exchange(form=form, kind="messages", client_model=req.model, backend=backend,
                      backend_model=model, stream=req.stream, notes=req.notes,
                      input_estimate=req.estimated_input_tokens, mode=mode_of(flow))
        identify(ex, flow, req.raw)
        ex.options = options
        ex.facts = facts
        ex.tools = req.tools
        ex.tool_results = _last_tool_results(req.turns)
        ex.names = ToolNames() if form.uses_tool_names() else None
        backend_body = await _off_loop(len(body), form.build_request, req, model=model, options=options,
                                       names=ex.names)
        plan = self.ladder.plan(ex, req, backend_body) if self.ladder is not None else None
        if plan is not None and plan.first is not None:  # --set reask=always: constrained from the start
            backend_body = plan.first
        sent = await _off_loop(len(body), orjson.dumps, backend_body)
        sections = await _off_loop(len(body), form.prefix_sections, backend_body)
        count = self.tokens.estimate(ex.session_id, model, req.estimated_input_tokens)
        limit = ctx.options.max_context
        window = (limit, "--set max_context") if limit else \
            (facts.window, facts.window_source or "the backend") if facts.window else None
        # The backend's tokenizer counts the session's first request (the estimate alone can be off by
        # half or more), and any request that may not fit; afterwards the estimate corrected by the
        # counts its answers carried is within a few per cent (make bench), at no cost per request.
        over = window is not None and count.tokens > window[0]
        # The re-ask's ladder also asks once per model whether its template shows the model the tools.
        counting = asyncio.ensure_future(self.discovery.count(form, backend, facts, backend_body)) \
            if facts.tokenizer and (over or not self.tokens.calibrated(ex.session_id, model)
                                    or (plan is not None and plan.wants_count)) else None
        if window is not None and over:
            exact = await counting if counting is not None else None  # an estimate never refuses what fits
            count = exact or count
        if self.largest is None or count.tokens > self.largest.tokens:
            self.largest = count
        if window is not None and count.tokens > window[0]:
            raise too_long(model, count, window, requested=req.model)
        ex.token_count, ex.context = count, window
        ex.prefix = self.prefixes.compare((ex.session_id, model, ex.purpose, ex.agent_id), PrefixSnapshot(*sections))
        if req.stream:
            ex.processor = form.stream_processor(
                options=options, names=ex.names, model=ex.client_model, backend_model=ex.backend_model,
                backend=backend, input_tokens=count.tokens, notes=ex.notes, tools=ex.tools)
        headers = [("content-type", "application/json"), ("accept", form.accept(req.stream))]
        headers += sendable([(k, v) for k, v in wire_headers(flow.request.headers) if k.lower() == "user-agent"][:1])
        if key := ctx.options.backend_api_key:
            headers.append(("authorization", f"Bearer {key}"))
        origin, base_path = split_backend(backend)
        job = Job(ex, "POST", origin + base_path + form.chat_path(base_path, flow.request.path), headers,
                  sent, count=counting, waited=waited, reask=plan)
        return job, req.raw, backend_body

    async def _passthrough(self, flow: http.HTTPFlow, kind: Any, backend: str, body: bytes) -> tuple[Job, Any, Any]:
        form = self.form
        r = flow.request
        ex = Exchange(form=form, kind=kind, backend=backend, mode=mode_of(flow))
        client_json: dict[str, Any] | None = None
        data: dict[str, Any] | None = None
        if kind in ("messages", "count_tokens"):
            # refused as a translating gateway would
            client_json = data = await _off_loop(len(body), validate_request, body, endpoint=kind)
            ex.client_model = str(data.get("model", ""))
            ex.stream = kind == "messages" and bool(data.get("stream"))
            ex.backend_model = self.router.route(ex.client_model)
            if ex.backend_model != ex.client_model:
                data = {**data, "model": ex.backend_model}
                body = await _off_loop(len(body), orjson.dumps, data)
        identify(ex, flow, client_json)
        origin, base_path = split_backend(backend)
        host = urlsplit(origin).hostname
        anthropic = is_anthropic_host(host) and not self._token_in_use()
        path = r.path if anthropic else without_secret_params(r.path)
        headers = sendable([(k, v) for k, v in wire_headers(r.headers)
                            if k.lower() not in _HOP and (anthropic or not self._credential(k))])
        headers.append(("accept-encoding", "identity"))
        if not is_anthropic_host(host):
            # Request tags label usage on Anthropic's API; other servers may refuse them (the contract:
            # leave the field and its beta value out before upstreams that do not take them).
            headers = _without_tag_beta(headers)
            if data is not None and "tags" in data:
                data = {k: v for k, v in data.items() if k != "tags"}
                body = orjson.dumps(data)
        if key := ctx.options.backend_api_key:
            headers = [(k, v) for k, v in headers if k.lower() not in ("x-api-key", "authorization")]
            headers += [("x-api-key", key), ("authorization", f"Bearer {key}")]
        if ex.stream:
            ex.processor = AnthropicStreamObserver(model=ex.backend_model, backend=backend, notes=ex.notes)
        if kind == "messages" and data is not None:
            sections = await _off_loop(len(body), form.prefix_sections, data)
            ex.prefix = self.prefixes.compare((ex.session_id, ex.backend_model, ex.purpose, ex.agent_id),
                                              PrefixSnapshot(*sections))
        job = Job(ex, r.method, origin + form.chat_path(base_path, path), headers, body)
        return job, client_json, data

    def _credential(self, name: str) -> bool:
        """A header named like a credential (the recorder's list), not one the user said to forward."""
        low = name.lower()
        return low not in self.forward and self.secrets.secret_header(low)

    @staticmethod
    def _token_in_use() -> bool:
        return bool(getattr(ctx.options, "gateway_token", ""))

    @fail_closed()
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if flow.id in self.live:
            if flow.response is not None:
                flow.response.stream = True  # already Anthropic, from the relay: passed on as it comes
            return
        ex = self.observed.get(flow.id)
        resp = flow.response
        if ex is None or resp is None:
            return
        ex.first_byte = time.monotonic()
        tell = self.relay.listeners
        headers = headers_text(resp.headers)
        tell.response(ex, "backend", resp.status_code, headers)
        tell.response(ex, "client", resp.status_code, headers)
        if "text/event-stream" in resp.headers.get("content-type", ""):
            ex.processor = AnthropicStreamObserver(model=ex.backend_model, backend=ex.backend, notes=ex.notes)
            resp.stream = _observe_stream(ex, tell)

    @fail_closed()
    def response(self, flow: http.HTTPFlow) -> None:
        self._finish(flow)

    @fail_closed()
    def error(self, flow: http.HTTPFlow) -> None:
        self._finish(flow)

    def _finish(self, flow: http.HTTPFlow) -> None:
        pending = flow.metadata.pop(PENDING, None)
        if pending is not None:  # the flow failed while its body was streaming to the relay
            self.relay.forget(pending)
        live = self.live.pop(flow.id, None)
        if live is not None:
            token, job = live
            ex = job.exchange
            if self.relay.forget(token) is not None:  # the relay never saw it: mitmproxy failed first
                ex.incomplete = str(flow.error) if flow.error else "the relay was not reached"
                ex.notes.error(f"exchange aborted: {ex.incomplete}")
                self.relay.listeners.release(ex)  # for the pipeline that never ran
            show_client_request(flow, ex, f"translated by the inspector gateway for the {ex.form.label} backend "
                                          f"at {ex.backend}: its request and answer are the flow beside this one")
            # mitmproxy sends the client the answer's last bytes once this hook returns: the recorder's
            # and colour log's end-of-exchange work waits until then.
            asyncio.get_running_loop().call_soon(self._let_go, flow, ex)
            return
        seen = self.observed.pop(flow.id, None)
        if seen is None:
            return
        ex = seen
        tell = self.relay.listeners
        resp = flow.response
        if resp is not None and ex.processor is None:
            if ex.first_byte is None:
                ex.first_byte = time.monotonic()
                headers = headers_text(resp.headers)
                tell.response(ex, "backend", resp.status_code, headers)
                tell.response(ex, "client", resp.status_code, headers)
            if resp.raw_content:
                tell.chunk(ex, "backend", resp.raw_content)
                tell.chunk(ex, "client", resp.raw_content)
        if flow.error:
            ex.incomplete = str(flow.error)
            ex.notes.error(f"exchange aborted: {flow.error}")
        flow.metadata["inspector"] = tell.ended(ex)

    def _let_go(self, flow: http.HTTPFlow, ex: Exchange) -> None:
        summary = self.relay.listeners.release(ex)
        flow.metadata["inspector"] = summary if summary is not None else ex.summary()
        self._learn(ex)

    def _learn(self, ex: Exchange) -> None:
        """After an exchange: what the backend said may change what is known about its model."""
        if not ex.form.translates or ex.kind != "messages" or ex.options is None:
            return
        options = self.translate
        err = ex.error
        if err and err.get("message", "").lower().startswith("prompt is too long"):
            self.discovery.forget(ex.form, ex.backend, ex.backend_model, options)  # ask again next time
        elif ex.client_status == 200:
            self.discovery.refresh_later(ex.form, ex.backend, ex.backend_model, options)

    async def _observe(self, flow: http.HTTPFlow, kind: Any, client_request: Any) -> None:
        ex = Exchange(form=self.form, kind=kind, backend=f"https://{flow.request.pretty_host}", mode="regular")
        data = None
        if kind in ("messages", "count_tokens"):
            try:
                body = flow.request.get_content() or b""
                data = await _off_loop(len(body), load_json_object, body)
                ex.client_model = ex.backend_model = str(data.get("model", ""))
                ex.stream = bool(data.get("stream"))
            except (InvalidRequest, ValueError):
                pass
        identify(ex, flow, data)
        ex.client_request = client_request
        self.observed[flow.id] = ex
        self.relay.listeners.started(ex)


async def _off_loop[T](size: int, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` — in a worker thread when the body it works on is larger than
    ``OFF_LOOP``, so the event loop keeps every other exchange moving meanwhile."""
    if size > OFF_LOOP:
        return await asyncio.to_thread(fn, *args, **kwargs)
    return fn(*args, **kwargs)


def sendable(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Headers as they came, after checking HTTP allows their bytes (a NUL, CR or LF cannot be sent
    on: the request is refused, naming the header). Whitespace around a value is not part of it
    (RFC 9110 §5.5) and is not sent on."""
    for k, v in headers:
        if _UNSENDABLE.search(v) or not _TOKEN.fullmatch(k):
            raise InvalidRequest(f"the request's {k!r} header holds bytes HTTP does not allow in a header "
                                 f"(a control character): it cannot be sent on")
    return [(k, v.strip(" \t")) for k, v in headers]


def _without_tag_beta(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``anthropic-beta`` without its request-tags value (and without the header if nothing is left)."""
    out = []
    for k, v in headers:
        if k.lower() == "anthropic-beta":
            v = ",".join(b for b in (b.strip() for b in v.split(",")) if b and not b.startswith(_TAGS_BETA))
            if not v:
                continue
        out.append((k, v))
    return out


def _observe_stream(ex: Exchange, tell: Any) -> Callable[[bytes], Iterable[bytes]]:
    """The ``flow.response.stream`` callable of observed traffic: bytes go on as they came."""
    processor = ex.processor
    assert processor is not None

    def stream(chunk: bytes) -> list[bytes]:
        if chunk:
            tell.chunk(ex, "backend", chunk)
            out = processor.feed(chunk)
        else:
            out = processor.flush()
            if processor.cut:
                ex.incomplete = "the stream ended without message_stop"
        if out:
            if ex.first_token is None and b"_delta" in out:
                ex.first_token = time.monotonic()
            tell.chunk(ex, "client", out)
            return [out]
        return []

    return stream
