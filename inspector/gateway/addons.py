"""mitmproxy addons: thin glue between mitmproxy's hooks and the protocol core.

``Relay`` owns the loopback relay, ``SideTraffic`` answers Claude Code's side
requests locally, ``Gateway`` rewrites Messages calls for the configured
backend form and translates the answers back, streaming included.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import orjson
from mitmproxy import ctx, exceptions, http
from mitmproxy.proxy.mode_specs import ProxyMode, ReverseMode

from ..protocol import (
    AnthropicStreamObserver,
    GatewayError,
    InvalidRequest,
    ModelRouter,
    ToolNames,
    TranslateOptions,
    backend_error,
    backend_unreachable,
    count_tokens,
    garbage_error,
    load_json_object,
    models_page,
    ollama_request,
    ollama_response,
    openai_request,
    openai_response,
    parse_model_map,
    parse_request,
    request_kind,
    sse_event,
    stream_translator,
)
from ..recording import purpose_of, session_id_of
from .exchange import Exchange, ExchangeListener
from .relay import BackendRelay

__all__ = ["Gateway", "Relay", "SideTraffic", "all_addons"]

log = logging.getLogger("inspector")

FORMS = ("ollama", "openai", "anthropic")
STREAM_TYPES = {"ollama": "json", "openai": "event-stream"}  # ndjson and x-ndjson contain "json"
STATE = "inspector"  # flow.metadata key holding the exchange summary (serialisable)


@functools.lru_cache(maxsize=64)
def _split(backend: str) -> tuple[str, str]:
    """``http://h:1/v1/`` → (``http://h:1``, ``/v1``)."""
    base_path = urlsplit(backend).path.rstrip("/")
    return (backend[: len(backend) - len(urlsplit(backend).path)] if base_path else backend.rstrip("/")), base_path


def _path(flow: http.HTTPFlow) -> str:
    return flow.request.path.split("?", 1)[0].rstrip("/") or "/"


def _anthropic_error(err: GatewayError, *, request_id: str | None = None) -> http.Response:
    rid = request_id or "req_inspector_" + secrets.token_hex(8)
    return http.Response.make(err.status, orjson.dumps(err.body() | {"request_id": rid}),
                              {"content-type": "application/json", "request-id": rid})


def _snapshot(r: http.Request, url: str | None = None) -> dict[str, Any]:
    """A request as it is at this moment, for the recorder (secrets are redacted on write)."""
    return {"method": r.method, "path": r.path, "url": url or r.pretty_url,
            "headers": list(r.headers.items(multi=True)), "body": r.raw_content or b"",
            "content_type": r.headers.get("content-type", "")}


def _identify(ex: Exchange, flow: http.HTTPFlow, body: dict[str, Any] | None) -> None:
    ex.client = flow.request.headers.get("user-agent", "")
    ex.session_id, ex.id_source = session_id_of(flow.request.headers, body)
    ex.purpose = purpose_of(ex.kind, body)


def _json(data: Any, status: int = 200) -> http.Response:
    return http.Response.make(status, orjson.dumps(data), {"content-type": "application/json"})


def _seconds(name: str) -> float:
    raw = getattr(ctx.options, name)
    try:
        value = float(raw)
    except ValueError:
        raise exceptions.OptionsError(f"{name} must be a number of seconds, not {raw!r}") from None
    if value <= 0:
        raise exceptions.OptionsError(f"{name} must be > 0 seconds")
    return value


class Relay:
    """Starts the loopback relay translated flows go through (see ``inspector.gateway.relay``)."""

    def __init__(self) -> None:
        self.relay: BackendRelay | None = None
        self.ping_interval = 5.0
        self.idle_timeout = 600.0

    def load(self, loader) -> None:
        loader.add_option("ping_interval", str, "5",
                          "Seconds of backend silence before the gateway sends a keep-alive ping "
                          "(and, before the first byte, commits to HTTP 200).")
        loader.add_option("idle_timeout", str, "600",
                          "Seconds of backend silence after which the request fails with an error.")

    def configure(self, updated: set[str]) -> None:
        self.ping_interval = _seconds("ping_interval")
        self.idle_timeout = _seconds("idle_timeout")
        if self.relay:
            self.relay.ping_interval = self.ping_interval
            self.relay.idle_timeout = self.idle_timeout

    async def running(self) -> None:
        if self.relay is None:
            self.relay = BackendRelay(ping_interval=self.ping_interval, idle_timeout=self.idle_timeout)
            await self.relay.start()

    async def done(self) -> None:
        if self.relay:
            await self.relay.stop()
            self.relay = None


class SideTraffic:
    """Answers count_tokens, model listing, hello probes and telemetry without the backend.

    Only in translating modes: an Anthropic-native backend answers these itself.
    """

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or not self.gateway.handles(flow):
            return
        kind = request_kind(flow.request.method, _path(flow))
        if kind == "status":
            flow.response = _json(self.gateway.status(flow))
            return
        if kind == "messages" or ctx.options.backend == "anthropic":
            return
        if kind == "count_tokens":
            try:
                flow.response = _json(count_tokens(flow.request.get_content() or b""))
            except InvalidRequest as e:
                flow.response = _anthropic_error(GatewayError(400, "invalid_request_error", str(e)))
        elif kind == "models":
            flow.response = _json(models_page(self.gateway.router.targets))
        elif kind == "hello":
            flow.response = http.Response.make(200, b"", {"content-type": "text/plain"})
        elif kind == "event_logging":
            flow.response = _json({})
        else:
            flow.response = _anthropic_error(GatewayError(
                404, "not_found_error",
                f"{flow.request.method} {_path(flow)} is not served by the inspector gateway "
                f"(it translates POST /v1/messages for a {ctx.options.backend} backend)"))
        ex = Exchange(form=ctx.options.backend, kind=kind, local=True,
                      mode="reverse" if isinstance(flow.client_conn.proxy_mode, ReverseMode) else "regular")
        body = None
        if kind == "count_tokens":
            try:
                body = load_json_object(flow.request.get_content() or b"")
            except InvalidRequest:
                body = None
        _identify(ex, flow, body)
        ex.client_request = _snapshot(flow.request)
        self.gateway.started(ex)
        self.gateway.answered(ex, flow.response)
        self.gateway.ended(ex, flow)


class Gateway:
    """Rewrites Messages API calls for the backend form and translates the answers back."""

    def __init__(self, relay: Relay | None = None, listeners: list[ExchangeListener] | None = None) -> None:
        self.router = ModelRouter()
        self.translate = TranslateOptions()
        self.relay = relay
        self.listeners: list[ExchangeListener] = listeners or []
        self.live: dict[str, Exchange] = {}

    # -- options ---------------------------------------------------------------------------------
    def load(self, loader) -> None:
        loader.add_option("backend", str, "ollama",
                          "Backend API form: ollama (/api/chat), openai (/v1/chat/completions) or "
                          "anthropic (pass Messages calls through, still inspected).", choices=FORMS)
        loader.add_option("model", str, "",
                          "Backend model every request goes to (empty: the model Claude Code asked for).")
        loader.add_option("model_map", str, "",
                          "Per-tier routing, first match wins: 'haiku=qwen2.5:0.5b,sonnet=qwen3:8b'. "
                          "Plain words match anywhere in the requested name, globs (*) the whole name.")
        loader.add_option("backend_url", str, "",
                          "Backend base URL. Required in regular (HTTPS_PROXY) mode to re-target "
                          "api.anthropic.com; in reverse mode it overrides the reverse target.")
        loader.add_option("backend_api_key", str, "",
                          "Key sent to translated backends as 'Authorization: Bearer'. Claude Code's "
                          "own credentials are never forwarded to a translated backend.")
        loader.add_option("intercept_hosts", str, "api.anthropic.com",
                          "In regular mode, comma-separated hosts whose traffic the gateway handles.")
        loader.add_option("num_ctx", int, 0,
                          "Ollama options.num_ctx (0: Ollama's default, which silently truncates "
                          "Claude Code's prompt — 65536 is a good value).")
        loader.add_option("max_context", int, 0,
                          "The backend's context window in tokens, when known (0: unknown). A request "
                          "estimated larger is answered at once with 'Prompt is too long', naming both sizes.")
        loader.add_option("max_tokens_limit", int, 0,
                          "Clamp max_tokens to the backend's limit (0: no clamp).")
        loader.add_option("think", str, "auto",
                          "Ollama thinking: auto (model default; off when the client disables it), "
                          "on, off, low, medium, high.", choices=("auto", "on", "off", "low", "medium", "high"))
        loader.add_option("system_messages", str, "auto",
                          "role:system messages inside messages[]: inline (kept as system), user "
                          "(sent as user text), auto (inline for ollama, user for openai).",
                          choices=("auto", "inline", "user"))
        loader.add_option("reasoning_effort", str, "",
                          "OpenAI reasoning_effort: empty (not sent), auto (from thinking budget), "
                          "low, medium, high.", choices=("", "auto", "low", "medium", "high"))
        loader.add_option("repair", bool, True,
                          "Repair local models' tool calls: calls printed as text converted, broken "
                          "argument JSON repaired, argument types coerced to the tool's schema.")
        loader.add_option("gateway_public", bool, False,
                          "Allow the gateway to listen on all interfaces (default: loopback only).")

    def configure(self, updated: set[str]) -> None:
        o = ctx.options
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
        for name in ("num_ctx", "max_tokens_limit", "max_context"):
            if name in updated and getattr(o, name) < 0:
                raise exceptions.OptionsError(f"{name} must be >= 0")
        self.translate = TranslateOptions(
            num_ctx=o.num_ctx, max_tokens_limit=o.max_tokens_limit, think=o.think,
            system_messages=o.system_messages, reasoning_effort=o.reasoning_effort, repair=o.repair)
        if "connection_strategy" in updated and o.connection_strategy == "eager":
            # Translated flows go to the relay, never to the reverse target itself:
            # an eager connect would only fail noisily when the backend is down.
            o.connection_strategy = "lazy"

    def running(self) -> None:
        # mitmproxy listens on every interface by default; a gateway should not. Its
        # listeners start while scripts load, so re-issue the modes with an explicit
        # loopback address, which makes mitmproxy rebind them.
        o = ctx.options
        if o.listen_host or o.gateway_public:
            return
        specs, changed = [], False
        for spec in o.mode:
            mode = ProxyMode.parse(spec)
            port = mode.listen_port(o.listen_port)
            if mode.custom_listen_host is None and port is not None:
                spec = f"{mode.type_name}{':' + mode.data if mode.data else ''}@127.0.0.1:{port}"
                changed = True
            specs.append(spec)
        if changed:
            log.info("gateway: listening on loopback only (--set gateway_public=true to change)")
            o.mode = specs

    def status(self, flow: http.HTTPFlow) -> dict[str, Any]:
        """What ``GET /_inspector/status`` says: enough for ``inspector doctor`` to check the setup."""
        from .. import __version__
        o = ctx.options
        return {"gateway": "claude-code-inspector", "version": __version__, "backend": o.backend,
                "backend_url": self._backend(flow), "model": o.model, "model_map": o.model_map,
                "num_ctx": o.num_ctx, "max_tokens_limit": o.max_tokens_limit, "max_context": o.max_context,
                "repair": o.repair,
                "record": o.record, "record_dir": o.record_dir}

    # -- telling the listeners (recorder, colour log) ---------------------------------------------
    def started(self, ex: Exchange) -> None:
        _tell(self.listeners, "exchange_started", ex)

    def answered(self, ex: Exchange, resp: http.Response | None, *, direction: str = "client") -> None:
        """A whole (non-streamed) response, head and body."""
        if resp is None:
            return
        if direction == "client":
            ex.client_status = resp.status_code
        else:
            ex.backend_status = resp.status_code
        headers = [(k, v) for k, v in resp.headers.items(multi=True) if not k.startswith("x-inspector")]
        _tell(self.listeners, "exchange_response", ex, direction, resp.status_code, headers)
        if resp.raw_content:
            _tell(self.listeners, "exchange_chunk", ex, direction, resp.raw_content)

    def ended(self, ex: Exchange, flow: http.HTTPFlow) -> dict[str, Any]:
        if ex.ended is None:
            ex.ended = time.monotonic()
        flow.metadata[STATE] = ex.final = summary = ex.summary()
        _tell(self.listeners, "exchange_ended", ex)
        return summary

    # -- which flows -----------------------------------------------------------------------------
    def handles(self, flow: http.HTTPFlow) -> bool:
        if isinstance(flow.client_conn.proxy_mode, ReverseMode):
            return True
        hosts = {h.strip().lower() for h in ctx.options.intercept_hosts.split(",") if h.strip()}
        return flow.request.pretty_host.lower() in hosts

    @staticmethod
    def _mode(flow: http.HTTPFlow) -> str:
        return "reverse" if isinstance(flow.client_conn.proxy_mode, ReverseMode) else "regular"

    def _backend(self, flow: http.HTTPFlow) -> str | None:
        if ctx.options.backend_url:
            return ctx.options.backend_url.rstrip("/")
        if isinstance(flow.client_conn.proxy_mode, ReverseMode):
            r = flow.request
            return f"{r.scheme}://{r.host}:{r.port}"
        return None

    # -- hooks -----------------------------------------------------------------------------------
    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or not self.handles(flow):
            return
        try:
            self._request(flow)
        except Exception as e:  # noqa: BLE001 - a bug of ours must not reach the backend half-done
            log.exception("gateway: failed to translate a request")
            self.live.pop(flow.id, None)
            flow.response = _anthropic_error(GatewayError(
                500, "api_error", f"the inspector gateway failed on this request ({type(e).__name__}: {e}); "
                                  f"the gateway's log has the details"))

    def _request(self, flow: http.HTTPFlow) -> None:
        form = ctx.options.backend
        backend = self._backend(flow)
        kind = request_kind(flow.request.method, _path(flow))
        client_request = _snapshot(flow.request)
        if backend is None:
            if form == "anthropic":  # regular mode, no re-target: inspect the real API as it is
                ex = self._observe_only(flow, kind)
                ex.client_request = client_request
                self.started(ex)
                return
            flow.response = _anthropic_error(GatewayError(
                500, "api_error", f"the gateway is in regular (proxy) mode with backend={form} but no "
                                  f"backend_url: restart it with --set backend_url=http://HOST:PORT"))
            return
        try:
            if form == "anthropic":
                ex = self._passthrough(flow, kind, backend)
            else:
                ex = self._translate(flow, form, backend)
        except InvalidRequest as e:
            flow.response = _anthropic_error(GatewayError(400, "invalid_request_error", str(e)))
            ex = Exchange(form=form, kind=kind, backend=backend, local=True)
            _identify(ex, flow, None)
            ex.client_request = client_request
            ex.notes.error(f"invalid request: {e}")
            self.started(ex)
            self.answered(ex, flow.response)
            self.ended(ex, flow)
            return
        client_request["json"] = ex.client_json
        ex.client_request = client_request
        ex.backend_request = _snapshot(flow.request, url=_split(backend)[0] + flow.request.path
                                       if form != "anthropic" else None)
        ex.backend_request["json"] = ex.backend_json
        if self._to_relay(flow, ex):
            self.live[flow.id] = ex
            self.started(ex)

    def _observe_only(self, flow: http.HTTPFlow, kind: str) -> Exchange:
        ex = Exchange(form="anthropic", kind=kind, backend=f"https://{flow.request.pretty_host}",
                      mode="regular")
        data = None
        if kind in ("messages", "count_tokens"):
            try:
                data = load_json_object(flow.request.get_content() or b"")
                ex.client_model = ex.backend_model = str(data.get("model", ""))
                ex.stream = bool(data.get("stream"))
            except InvalidRequest:
                pass
        _identify(ex, flow, data)
        self.live[flow.id] = ex
        return ex

    def _passthrough(self, flow: http.HTTPFlow, kind: str, backend: str) -> Exchange:
        ex = Exchange(form="anthropic", kind=kind, backend=backend, mode=self._mode(flow))
        data = None
        if kind in ("messages", "count_tokens"):
            data = load_json_object(flow.request.get_content() or b"")
            ex.client_model = str(data.get("model", ""))
            ex.stream = bool(data.get("stream"))
            ex.backend_model = self.router.route(ex.client_model)
            ex.client_json = ex.backend_json = data
            if ex.backend_model != ex.client_model:
                ex.backend_json = data | {"model": ex.backend_model}
                flow.request.content = orjson.dumps(ex.backend_json)
        _identify(ex, flow, data)
        return ex

    def _translate(self, flow: http.HTTPFlow, form: str, backend: str) -> Exchange:
        req = parse_request(flow.request.get_content() or b"")
        limit = ctx.options.max_context
        if limit and req.estimated_input_tokens > limit:
            raise InvalidRequest(
                f"Prompt is too long for model {self.router.route(req.model)!r}: the request is "
                f"≈{req.estimated_input_tokens:,} tokens (estimated) but the backend's context window is "
                f"{limit:,} tokens. Use a model with a larger context, or a shorter prompt.")
        ex = Exchange(form=form, kind="messages", client_model=req.model, backend=backend,
                      backend_model=self.router.route(req.model), stream=req.stream, notes=req.notes,
                      input_estimate=req.estimated_input_tokens, mode=self._mode(flow))
        _identify(ex, flow, req.raw)
        ex.options = dataclasses.asdict(self.translate)
        ex.tools = req.tools
        if form == "ollama":
            body = ollama_request(req, model=ex.backend_model, options=self.translate)
            path = "/api/chat"
            accept = "application/x-ndjson" if req.stream else "application/json"
        else:
            ex.names = ToolNames()
            body = openai_request(req, model=ex.backend_model, options=self.translate, names=ex.names)
            path = "/chat/completions" if _split(backend)[1].endswith("/v1") else "/v1/chat/completions"
            accept = "text/event-stream" if req.stream else "application/json"
        r = flow.request
        headers = http.Headers(content_type="application/json", accept=accept)
        if ua := r.headers.get("user-agent"):
            headers["user-agent"] = ua
        if ctx.options.backend_api_key:
            headers["authorization"] = f"Bearer {ctx.options.backend_api_key}"
        r.headers = headers
        r.method = "POST"
        r.path = path
        r.content = orjson.dumps(body)
        ex.client_json, ex.backend_json = req.raw, body
        return ex

    def _to_relay(self, flow: http.HTTPFlow, ex: Exchange) -> bool:
        relay = self.relay.relay if self.relay else None
        if relay is None or not relay.port:
            flow.response = _anthropic_error(GatewayError(500, "api_error", "the gateway relay is not running"))
            return False
        r = flow.request
        origin, base_path = _split(ex.backend)
        if ex.form == "anthropic" and base_path and r.path.startswith(base_path + "/"):
            base_path = ""  # the client already speaks to the full path
        r.headers["x-inspector-upstream"] = origin + base_path
        r.headers["x-inspector-form"] = ex.form
        r.headers["x-inspector-model"] = ex.backend_model
        r.headers["x-inspector-stream"] = "1" if ex.stream else "0"
        r.scheme, r.host, r.port = "http", "127.0.0.1", relay.port
        return True

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        ex = self.live.get(flow.id)
        resp = flow.response
        if ex is None or resp is None:
            return
        ex.first_byte = time.monotonic()
        ctype = resp.headers.get("content-type", "")
        if resp.status_code != 200 or resp.headers.get("x-inspector-relay"):
            return  # small error bodies: translated whole in `response`
        if ex.form == "anthropic":
            if "text/event-stream" in ctype:
                ex.translator = AnthropicStreamObserver(model=ex.backend_model, backend=ex.backend,
                                                        notes=ex.notes)
                self._head(ex, "backend", resp)
                self._head(ex, "client", resp)
                resp.stream = _stream_through(ex.translator, ex, self.listeners)
            return
        if ex.kind != "messages" or not ex.stream:
            return
        if STREAM_TYPES[ex.form] not in ctype:
            return  # not a stream (an HTML error page, a JSON error): judged whole in `response`
        ex.translator = stream_translator(
            ex.form, options=self.translate, names=ex.names, model=ex.client_model,
            backend_model=ex.backend_model, backend=ex.backend, input_tokens=ex.input_estimate,
            notes=ex.notes, tools=ex.tools)
        rid = "req_inspector_" + secrets.token_hex(8)
        self._head(ex, "backend", resp)
        resp.headers = http.Headers(
            content_type="text/event-stream; charset=utf-8", cache_control="no-cache",
            transfer_encoding="chunked", request_id=rid, x_inspector_backend=ex.form)
        self._head(ex, "client", resp)
        resp.stream = _stream_through(ex.translator, ex, self.listeners)

    def _head(self, ex: Exchange, direction: str, resp: http.Response) -> None:
        if direction == "client":
            ex.client_status = resp.status_code
        else:
            ex.backend_status = resp.status_code
        if self.listeners:
            headers = [(k, v) for k, v in resp.headers.items(multi=True) if not k.startswith("x-inspector")]
            _tell(self.listeners, "exchange_response", ex, direction, resp.status_code, headers)

    def response(self, flow: http.HTTPFlow) -> None:
        ex = self.live.pop(flow.id, None)
        if ex is None or flow.response is None:
            return
        ex.ended = time.monotonic()
        streamed = ex.translator is not None
        if not streamed:
            self.answered(ex, flow.response, direction="backend")
        try:
            self._finish(flow, ex)
        finally:
            if not streamed:
                self.answered(ex, flow.response)
            if getattr(ex.translator, "cut", False):
                ex.incomplete = "the backend's stream was cut before it finished"
            self.ended(ex, flow)

    def _finish(self, flow: http.HTTPFlow, ex: Exchange) -> None:
        resp = flow.response
        assert resp is not None
        if resp.headers.get("x-inspector-relay") == "unreachable":
            reason = orjson.loads(resp.content or b"{}").get("error", "unreachable")
            flow.response = _anthropic_error(backend_unreachable(form=ex.form, backend=ex.backend,
                                                                 reason=reason))
            ex.notes.error(flow.response.text or "")
            return
        if ex.translator is not None or ex.form == "anthropic":
            return  # streamed (already translated), or passed through untouched
        if resp.status_code != 200:
            err = backend_error(form=ex.form, status=resp.status_code, body=resp.content or b"",
                                model=ex.backend_model, backend=ex.backend)
            ex.notes.error(err.message)
            flow.response = _anthropic_error(err)
            return
        if ex.stream:
            # Streaming was asked but the backend answered with something that is not a stream.
            return self._garbage(flow, ex, resp.content or b"")
        try:
            data = orjson.loads(resp.content or b"")
            if not isinstance(data, dict):
                raise ValueError("not an object")
        except ValueError:
            return self._garbage(flow, ex, resp.content or b"")
        if "error" in data:
            err = backend_error(form=ex.form, status=int(data.get("status") or 500), body=data,
                                model=ex.backend_model, backend=ex.backend)
            ex.notes.error(err.message)
            flow.response = _anthropic_error(err)
            return
        if ex.form == "ollama":
            message = ollama_response(data, model=ex.client_model, input_tokens=ex.input_estimate,
                                      notes=ex.notes, num_ctx=ctx.options.num_ctx, tools=ex.tools,
                                      repair=self.translate.repair)
        else:
            message = openai_response(data, model=ex.client_model, input_tokens=ex.input_estimate,
                                      notes=ex.notes, names=ex.names, tools=ex.tools,
                                      repair=self.translate.repair)
        flow.response = _json(message)

    def _garbage(self, flow: http.HTTPFlow, ex: Exchange, body: bytes) -> None:
        expected = {"ollama": "Ollama JSON", "openai": "an OpenAI chat.completion"}[ex.form]
        err = garbage_error(form=ex.form, backend=ex.backend, sample=body, expected=expected)
        ex.notes.error(err.message)
        flow.response = _anthropic_error(err)

    def error(self, flow: http.HTTPFlow) -> None:
        ex = self.live.pop(flow.id, None)
        if ex is not None:
            ex.ended = time.monotonic()
            reason = str(flow.error) if flow.error else "the connection failed"
            ex.incomplete = reason
            ex.notes.error(f"exchange aborted: {reason}")
            self.ended(ex, flow)


_failed_listeners: set[str] = set()


def _tell(listeners: list[ExchangeListener], hook: str, *args: Any) -> None:
    """Call ``hook`` on every listener; a listener's bug is logged once and never reaches the traffic."""
    for listener in listeners:
        try:
            getattr(listener, hook)(*args)
        except Exception:  # noqa: BLE001
            key = f"{type(listener).__name__}.{hook}"
            if key not in _failed_listeners:
                _failed_listeners.add(key)
                log.exception(f"gateway: {key} failed (traffic unaffected; said once)")


def _stream_through(translator: Any, ex: Exchange | None = None,
                    listeners: list[ExchangeListener] | None = None):
    """The ``flow.response.stream`` callable: translates chunk by chunk, tells the listeners
    what passed each way, never returns ``b""`` for a data chunk (mitmproxy would frame it as
    the terminating chunk), and never raises into mitmproxy."""
    failed = False
    listeners = listeners or []

    def stream(chunk: bytes) -> list[bytes] | bytes:
        nonlocal failed
        if failed:
            return []
        if chunk and listeners:
            _tell(listeners, "exchange_chunk", ex, "backend", chunk)
        try:
            out = translator.feed(chunk) if chunk else translator.flush()
        except Exception as e:  # noqa: BLE001 - end the client's stream cleanly instead
            failed = True
            log.exception("gateway: stream translation failed")
            err = GatewayError(500, "api_error", f"the inspector gateway failed while translating this "
                                                 f"stream ({type(e).__name__}: {e}); see its log")
            translator.notes.error(err.message)
            out = sse_event("error", err.body())
        if not out:
            return []
        if ex is not None:
            if ex.first_token is None and b"_delta" in out:
                ex.first_token = time.monotonic()
            if listeners:
                _tell(listeners, "exchange_chunk", ex, "client", out)
        return [out]

    return stream


def all_addons() -> list[Any]:
    from .colourlog import ColourLog
    from .otlp import OtlpExport
    from .recorder import Recorder

    relay = Relay()
    recorder = Recorder()
    colourlog = ColourLog()
    gateway = Gateway(relay, listeners=[recorder, colourlog, otlp := OtlpExport()])
    return [relay, recorder, colourlog, otlp, SideTraffic(gateway), gateway]
