"""The ``SideTraffic`` addon: Claude Code's side requests answered without the backend.

count_tokens, model listing, hello probes and event logging are answered locally in translating
forms (an Anthropic-native backend answers them itself, so they pass through); the gateway's
own ``GET /_inspector/status`` and OTLP telemetry (``POST /v1/{metrics,logs,traces}``, which no
backend serves) are answered in every form. The answers are the ones replay gives
(``inspector.protocol.side_answer``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mitmproxy import http

from ..protocol import (
    GatewayError,
    InvalidRequest,
    TokenCount,
    ToolNames,
    anthropic_style,
    parse_request,
    request_kind,
    side_answer,
)
from ..protocol._side import json_body_or_none
from .exchange import Exchange
from .flows import (
    TooLarge,
    anthropic_error,
    client_url,
    decoded_body,
    identify,
    json_response,
    mode_of,
    path_of,
    snapshot,
    too_large,
)
from .gateway import with_facts
from .guard import fail_closed

if TYPE_CHECKING:
    from .gateway import Gateway

__all__ = ["SideTraffic"]


class SideTraffic:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    @fail_closed()
    async def request(self, flow: http.HTTPFlow) -> None:
        gw = self.gateway
        if not gw.handles(flow):
            return
        r = flow.request
        kind = request_kind(r.method, path_of(flow))
        if kind == "status":
            flow.response = json_response(gw.status(flow))
            return
        if kind == "messages" or (not gw.form.translates and (kind != "telemetry" or gw._backend(flow) is None)):
            return  # an Anthropic-native backend answers its own; observed traffic is left alone
        try:
            body = decoded_body(r, gw.size_limit)
        except TooLarge as e:
            flow.response = too_large(e.size, gw.size_limit, decoded=e.decoded)
            return
        except InvalidRequest as e:
            flow.response = anthropic_error(GatewayError(400, "invalid_request_error", str(e)))
            return
        ex = Exchange(form=gw.form, kind=kind, local=True, mode=mode_of(flow))
        identify(ex, flow, json_body_or_none(body) if kind == "count_tokens" else None)
        count = await self._count(flow, ex, body) if kind == "count_tokens" else None
        answer = side_answer(kind, r.method, r.path, body, models=self._models(),
                             served_by=f"the inspector gateway (it translates POST /v1/messages for a "
                                       f"{gw.form.label} backend)",
                             input_tokens=count.tokens if count is not None else None,
                             content_type=r.headers.get("content-type", ""))
        flow.response = http.Response.make(answer.status, answer.body, dict(answer.headers))
        ex.client_request = snapshot(r, client_url(flow))
        tell = gw.relay.listeners
        tell.started(ex)
        tell.response(ex, "client", answer.status, answer.headers)
        if answer.body:
            tell.chunk(ex, "client", answer.body)
        flow.metadata["inspector"] = tell.ended(ex)

    def _models(self) -> dict[str, str]:
        """The Anthropic-style ids this gateway knows it serves, each → the backend model it routes to:
        those named in model_map (``claude-sonnet-4-5=qwen3:8b``) and those Claude Code has asked for."""
        router = self.gateway.router
        names = [pattern for pattern, _ in router.pairs if anthropic_style(pattern)] + self.gateway.requested
        return {name: router.route(name) for name in names if anthropic_style(name)}

    async def _count(self, flow: http.HTTPFlow, ex: Exchange, body: bytes) -> TokenCount | None:
        """count_tokens: the backend's own tokenizer where it has one, else the estimate corrected by
        the real counts this session's answers carried."""
        gw = self.gateway
        backend = gw._backend(flow)
        try:
            req = parse_request(body, endpoint="count_tokens")
        except InvalidRequest:
            return None  # answered 400 by side_answer, naming the problem
        model = gw.router.route(req.model)
        ex.client_model, ex.backend_model = req.model, model
        count = gw.tokens.estimate(ex.session_id, model, req.estimated_input_tokens)
        if backend:
            facts = gw.discovery.cached(gw.form, backend, model, gw.translate) or \
                await gw.discovery.facts(gw.form, backend, model, gw.translate)
            if facts.window:
                ex.context = (facts.window, facts.window_source or "the backend")
            if facts.tokenizer:
                names = ToolNames() if gw.form.uses_tool_names() else None
                body_out = gw.form.build_request(req, model=model, options=with_facts(gw.translate, facts), names=names)
                count = await gw.discovery.count(gw.form, backend, facts, body_out) or count
        ex.token_count = count
        return count
