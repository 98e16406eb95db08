"""The ``Admission`` addon: what happens to a client's call before the backend call goes out — route,
discover, count, refuse — for every form alike.

``admit`` reads the call the way the backend form reads it (``BackendForm.read``: a Messages call
parsed into turns, or an Anthropic-native backend's request validated as it is), routes the model
(``model``, ``model_map``), asks the backend what it knows about that model (``Discovery``: its real
context window, capabilities, tokenizer), has the form prepare the whole backend call
(``BackendForm.prepare``), counts the request against the window — the backend's own tokenizer for
a session's first request and for any that may not fit — and refuses what cannot fit, in the API's
own words, before anything is sent. What comes out is a ``Job`` for the relay.

It holds the gateway's routing and translation options (``load``/``configure``), and is shared by
the ``Gateway`` (Messages calls), ``SideTraffic`` (count_tokens, the model list, the status page) and
``inspector eval`` (a recorded turn sent to a candidate exactly as the gateway would send it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import orjson
from mitmproxy import addonmanager, ctx, exceptions, http
from mitmproxy.proxy.mode_specs import ReverseMode
from mitmproxy.utils import human

from .. import __version__
from ..launcher import Launcher
from ..protocol import (
    FORM_NAMES,
    OLLAMA,
    BackendAccess,
    BackendForm,
    ClientCall,
    GatewayError,
    InvalidRequest,
    ModelFacts,
    ModelRouter,
    PrefixSnapshot,
    TokenCount,
    TranslateOptions,
    get_form,
    parse_model_map,
    parse_request,
    prompt_too_long,
)
from ..protocol._request import UserTurn
from ..recording import Redactor
from ..recording._meta import ToolResultMeta
from ..transport import BackendClient
from .discovery import Discovery
from .exchange import Exchange, RequestSnapshot
from .flows import REQUEST_SIZE_LIMIT, readable, without_secret_params
from .pipeline import Job
from .queue import Queues
from .reask import Ladder
from .tokens import PrefixBook, TokenBook

__all__ = ["Admission", "ContextTooLong", "SafeguardsRefused", "off_loop", "refused", "too_long", "with_facts"]

log = logging.getLogger("inspector")

#: A request body larger than this is parsed and translated in a worker thread: the event loop
#: keeps every other stream's bytes and pings flowing meanwhile.
OFF_LOOP = 1 << 20


async def off_loop[T](size: int, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` — in a worker thread when the body it works on is larger than
    ``OFF_LOOP``, so the event loop keeps every other exchange moving meanwhile."""
    if size > OFF_LOOP:
        return await asyncio.to_thread(fn, *args, **kwargs)
    return fn(*args, **kwargs)


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


def refused(ex: Exchange, e: InvalidRequest) -> GatewayError:
    """A call refused before it was sent: ``ex`` (answered by the gateway itself) says why, in its notes."""
    ex.local = True
    if isinstance(e, ContextTooLong):
        ex.token_count, ex.context = e.count, e.window
        ex.client_model, ex.backend_model = e.requested, e.model
        ex.notes.error(str(e), rule="context:too-long")
    elif isinstance(e, SafeguardsRefused):
        ex.notes.warning("auto mode asked for its server-side safety check (safeguards); refused so that "
                         "Claude Code retries without it and runs the check itself", rule="auto-mode:safeguards")
    else:
        ex.notes.error(f"invalid request: {e}", rule="request:invalid")
    return GatewayError(400, "invalid_request_error", str(e))


def _last_tool_results(req_turns: Iterable[object]) -> list[ToolResultMeta]:
    last = None
    for turn in req_turns:
        if isinstance(turn, UserTurn):
            last = turn
    if last is None:
        return []
    return [{"tool_use_id": r.tool_use_id, "name": r.name, "is_error": r.is_error} for r in last.tool_results]


#: What identifies an exchange once its body is read (``flows.identify``, or eval's own).
Identify = Callable[[Exchange, dict[str, Any] | None], None]


class Admission:
    """Loaded as an addon, its settings are the gateway's options; built without mitmproxy (``inspector
    eval``), they are given: ``Admission(client, form=OPENAI, model="qwen3", options=…, api_key=…)``."""

    def __init__(self, client: BackendClient, tokens: TokenBook | None = None, *, form: BackendForm = OLLAMA,
                 model: str = "", options: TranslateOptions | None = None, api_key: str = "",
                 queues: Queues | None = None) -> None:
        self.discovery = Discovery(client)
        self.tokens = tokens if tokens is not None else TokenBook()
        self.prefixes = PrefixBook()
        self.router = ModelRouter(model=model)
        self.translate = options if options is not None else TranslateOptions()
        self.form: BackendForm = form
        self.intercept: set[str] = {"api.anthropic.com"}
        self.max_context = 0
        self.size_limit = human.parse_size(REQUEST_SIZE_LIMIT) or 0
        self.api_key = api_key
        self.discovery.headers = form.auth_headers(api_key)
        self.token_in_use = False
        #: Claude Code's credentials go to Anthropic's hosts only: the recorder's list of secret
        #: header names says which headers are credentials (plus ``redact_headers``).
        self.secrets = Redactor()
        self.forward: set[str] = set()
        #: Model names Claude Code asked for (doctor shows what they route to).
        self.requested: list[str] = []
        #: The largest Messages request Claude Code sent, as counted (doctor checks it fits the window).
        self.largest: TokenCount | None = None
        #: When each request now in flight started (``time.monotonic()``): the ``Gateway`` says, for the
        #: status page (a backend that does not answer doctor's probe meanwhile is busy, not down).
        self.in_flight_since: Callable[[], Iterable[float]] = tuple
        #: The backends' queues (``queue.py``), for the status page.
        self.queues = queues
        #: The repair ladder's re-ask (an addon of its own, ``reask.Ladder``): None, no re-asks.
        self.ladder: Ladder | None = None

    # -- options ---------------------------------------------------------------------------------
    def load(self, loader: addonmanager.Loader) -> None:
        loader.add_option("backend", str, OLLAMA.name,
                          "Backend API form: " + ", ".join(f"{f.name} ({f.label}, {f.chat_path()})" for f in
                                                           map(get_form, FORM_NAMES)) +
                          ". An Anthropic-compatible backend gets Messages calls as they are, still inspected.",
                          choices=FORM_NAMES)
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
        self.max_context = o.max_context
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
        if "gateway_token" in o:
            self.token_in_use = bool(o.gateway_token)
        if updated & {"backend_api_key", "backend"}:  # a server that wants the key for chats wants it for its model list
            self.api_key = o.backend_api_key
            self.discovery.headers = self.form.auth_headers(self.api_key)
        self.translate = TranslateOptions(
            num_ctx=o.num_ctx, max_tokens_limit=o.max_tokens_limit, think=o.think,
            system_messages=o.system_messages, reasoning_effort=o.reasoning_effort, repair=o.repair)
        if "connection_strategy" in updated and o.connection_strategy == "eager":
            # Translated flows go to the relay, never to the reverse target itself:
            # an eager connect would only fail noisily when the backend is down.
            o.connection_strategy = "lazy"

    async def running(self) -> None:
        asyncio.ensure_future(self._say_if_backend_is_down())

    async def _say_if_backend_is_down(self) -> None:
        url = self._default_backend()
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
        if self.form.needs_backend_model and Launcher.current().kind == "mitmdump":  # what doctor would say, at start
            # (make run and inspector run said it already, before printing the block)
            from ..probe import backend_problems
            _, problems = await asyncio.to_thread(backend_problems, self.form, url.rstrip("/"),
                                                  [m for m in self.router.targets if m], Launcher.current())
            for problem in problems:
                log.warning(f"gateway: {problem}")
        if self.form.needs_backend_model:  # the routed models' windows, asked at start: the first request waits for nothing
            await asyncio.gather(*(self.discovery.facts(self.form, url, m, self.translate)
                                   for m in self.router.targets if m), return_exceptions=True)

    # -- which flows, and where they go ------------------------------------------------------------
    def _default_backend(self) -> str:
        o = ctx.options
        url = o.backend_url or next((ReverseMode.parse(m).data for m in o.mode if m.startswith("reverse:")), "")
        return str(url).rstrip("/")

    def handles(self, flow: http.HTTPFlow) -> bool:
        if isinstance(flow.client_conn.proxy_mode, ReverseMode):
            return True
        return flow.request.pretty_host.lower() in self.intercept

    def backend_of(self, flow: http.HTTPFlow) -> str | None:
        """Where ``flow`` goes: ``backend_url``, else the reverse target; None in regular mode without
        ``backend_url`` (observed, see ``observer.py``)."""
        if ctx.options.backend_url:
            return str(ctx.options.backend_url).rstrip("/")
        mode = flow.client_conn.proxy_mode
        if isinstance(mode, ReverseMode):
            # The mode's own target, not the request's host: a flow replayed from mitmweb carries the
            # client's request as it came, addressed to the gateway itself.
            scheme = "https" if mode.scheme in ("https", "tls") else "http"
            return f"{scheme}://{mode.address[0]}:{mode.address[1]}"
        return None

    def status(self, flow: http.HTTPFlow) -> dict[str, Any]:
        """What ``GET /_inspector/status`` says: enough for ``inspector doctor`` to check the setup."""
        o = ctx.options
        return {"gateway": "claude-code-inspector", "version": __version__, "backend": o.backend,
                "backend_url": self.backend_of(flow), "model": o.model, "model_map": o.model_map,
                "num_ctx": o.num_ctx, "max_tokens_limit": o.max_tokens_limit, "max_context": o.max_context,
                "repair": o.repair, "record": o.record, "record_dir": o.record_dir,
                "requested_models": self.requested,
                "models": [facts.as_dict() for facts in self.discovery.known()],
                # How it was started (fixes are spelt that way), what Claude Code sends, what is in flight.
                "launcher": Launcher.current().kind,
                "largest_request": self.largest.as_dict() if self.largest is not None else None,
                "in_flight": self.in_flight(),
                "queue": self.queues.status() if self.queues is not None else {}}

    def in_flight(self) -> dict[str, Any]:
        """Requests sent to the backend and not yet answered to the end: a backend that does not
        answer doctor's probe meanwhile is busy, not down."""
        now = time.monotonic()
        waited = [now - since for since in self.in_flight_since()]
        return {"count": len(waited), "longest_s": round(max(waited), 1) if waited else 0.0}

    def access(self, backend: str) -> BackendAccess:
        return BackendAccess(backend, self.api_key, self.token_in_use, self._credential, without_secret_params)

    def _credential(self, name: str) -> bool:
        """A header named like a credential (the recorder's list), not one the user said to forward."""
        low = name.lower()
        return low not in self.forward and self.secrets.secret_header(low)

    # -- one call --------------------------------------------------------------------------------
    async def admit(self, ex: Exchange, call: ClientCall, identify: Identify) -> Job:
        """The backend call for ``call`` (``ex`` says its kind, backend and mode), prepared whole; an
        ``InvalidRequest`` (an Anthropic 400) when it is refused."""
        form, size = self.form, len(call.body)
        if ex.kind != "messages" and not form.whole_api:  # side traffic is answered before this
            raise InvalidRequest(f"{call.method} {call.path.split('?', 1)[0]} is not a Messages call")
        request = await off_loop(size, form.read, call)
        identify(ex, request.data)
        if ex.client_request is not None:
            ex.client_request["json"] = request.data
        ex.client_model, ex.stream = request.model, request.stream
        ex.backend_model = model = self.router.route(ex.client_model) if request.data is not None else ""
        parsed, counting, waited, plan = request.parsed, None, 0.0, None
        if parsed is not None:
            if "safeguards" in parsed.raw and not form.whole_api:
                raise SafeguardsRefused(form)
            facts = self.discovery.cached(form, ex.backend, model, self.translate)
            if facts is None:  # asked of the backend once per model: its time is not the gateway's own
                asked = time.perf_counter()
                facts = await self.discovery.facts(form, ex.backend, model, self.translate)
                waited = time.perf_counter() - asked
            ex.notes, ex.input_estimate, ex.facts = parsed.notes, parsed.estimated_input_tokens, facts
            ex.options, ex.tools, ex.names = with_facts(self.translate, facts), parsed.tools, form.tool_names()
            ex.tool_results = _last_tool_results(parsed.turns)
        backend_call = await off_loop(size, form.prepare, request, ex.translation(), self.access(ex.backend))
        sent = backend_call.json
        if parsed is not None and sent is not None and self.ladder is not None:
            plan = self.ladder.plan(ex, parsed, sent)
            if plan is not None and plan.first is not None:  # --set reask=always: constrained from the start
                sent = plan.first
                backend_call = dataclasses.replace(backend_call, body=await off_loop(size, orjson.dumps, sent),
                                                   json=sent)
        if parsed is not None:
            assert sent is not None and ex.facts is not None
            counting = await self._count(ex, sent, wanted=plan is not None and plan.wants_count)
        if ex.kind == "messages" and sent is not None:
            sections = await off_loop(size, form.prefix_sections, sent)
            ex.prefix = self.prefixes.compare((ex.session_id, model, ex.purpose, ex.agent_id),
                                              PrefixSnapshot(*sections))
        if ex.stream:
            ex.processor = form.stream_processor(ex.translation())
        ex.backend_request = RequestSnapshot(method=backend_call.method, path=backend_call.path, url=backend_call.url,
                                             headers=readable(backend_call.headers), body=backend_call.body,
                                             json=sent, content_type="application/json")
        if ex.client_model and ex.client_model not in self.requested:
            self.requested.append(ex.client_model)
            del self.requested[:-20]
        return Job(ex, backend_call.method, backend_call.url, backend_call.headers, backend_call.body, count=counting,
                   waited=waited, reask=plan)

    async def _count(self, ex: Exchange, body: dict[str, Any], *,
                     wanted: bool = False) -> asyncio.Future[TokenCount | None] | None:
        """The request's tokens against the backend's window: refused (``ContextTooLong``) when it cannot
        fit. The backend's tokenizer counts the session's first request (the estimate alone can be off by
        half or more), and any request that may not fit; afterwards the estimate corrected by the counts
        its answers carried is within a few per cent (make bench), at no cost per request; ``wanted``:
        counted anyway (the re-ask's ladder asks once per model whether its template shows the model the
        tools). Returns the count still running, for ``message_start`` if it comes back in time."""
        facts, model = ex.facts, ex.backend_model
        assert facts is not None
        count = self.tokens.estimate(ex.session_id, model, ex.input_estimate)
        window = (self.max_context, "--set max_context") if self.max_context else \
            (facts.window, facts.window_source or "the backend") if facts.window else None
        over = window is not None and count.tokens > window[0]
        counting = asyncio.ensure_future(self.discovery.count(self.form, ex.backend, facts, body)) \
            if facts.tokenizer and (over or wanted or not self.tokens.calibrated(ex.session_id, model)) else None
        if window is not None and over:
            exact = await counting if counting is not None else None  # an estimate never refuses what fits
            count = exact or count
        if self.largest is None or count.tokens > self.largest.tokens:
            self.largest = count
        if window is not None and count.tokens > window[0]:
            raise too_long(model, count, window, requested=ex.client_model)
        ex.token_count, ex.context = count, window
        return counting

    async def count_tokens(self, ex: Exchange, body: bytes, backend: str | None) -> TokenCount | None:
        """count_tokens, answered by the gateway: the backend's own tokenizer where it has one, else the
        estimate corrected by the real counts this session's answers carried (None: not a count_tokens body)."""
        try:
            req = parse_request(body, endpoint="count_tokens")
        except InvalidRequest:
            return None  # answered 400 by side_answer, naming the problem
        form, model = self.form, self.router.route(req.model)
        ex.client_model, ex.backend_model = req.model, model
        count = self.tokens.estimate(ex.session_id, model, req.estimated_input_tokens)
        if backend:
            facts = self.discovery.cached(form, backend, model, self.translate) or \
                await self.discovery.facts(form, backend, model, self.translate)
            if facts.window:
                ex.context = (facts.window, facts.window_source or "the backend")
            if facts.tokenizer:
                body_out = form.build_request(req, model=model, options=with_facts(self.translate, facts),
                                              names=form.tool_names())
                count = await self.discovery.count(form, backend, facts, body_out) or count
        ex.token_count = count
        return count

    def learn(self, ex: Exchange) -> None:
        """After an exchange: what the backend said may change what is known about its model."""
        if ex.kind != "messages" or ex.options is None:
            return
        err = ex.error
        if err and (err.get("message") or "").lower().startswith("prompt is too long"):
            self.discovery.forget(ex.form, ex.backend, ex.backend_model, self.translate)  # ask again next time
        elif ex.client_status == 200:
            self.discovery.refresh_later(ex.form, ex.backend, ex.backend_model, self.translate)
