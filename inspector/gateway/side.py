"""The ``SideTraffic`` addon: Claude Code's side requests answered without the backend.

count_tokens, model listing, hello probes and telemetry are answered locally in translating
forms (an Anthropic-native backend answers them itself, so they pass through); the gateway's
own ``GET /_inspector/status`` is answered in every form. The answers are the ones replay gives
(``inspector.protocol.side_answer``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mitmproxy import http

from ..protocol import InvalidRequest, TokenCount, ToolNames, parse_request, request_kind, side_answer
from ..protocol._side import json_body_or_none
from .exchange import Exchange
from .flows import client_url, identify, json_response, mode_of, path_of, snapshot
from .gateway import with_facts

if TYPE_CHECKING:
    from .gateway import Gateway

__all__ = ["SideTraffic"]


class SideTraffic:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def request(self, flow: http.HTTPFlow) -> None:
        gw = self.gateway
        if flow.response or not gw.handles(flow):
            return
        r = flow.request
        kind = request_kind(r.method, path_of(flow))
        if kind == "status":
            flow.response = json_response(gw.status(flow))
            return
        if kind == "messages" or not gw.form.translates:
            return
        body = r.get_content() or b""
        ex = Exchange(form=gw.form, kind=kind, local=True, mode=mode_of(flow))
        identify(ex, flow, json_body_or_none(body) if kind == "count_tokens" else None)
        count = await self._count(flow, ex, body) if kind == "count_tokens" else None
        answer = side_answer(kind, r.method, r.path, body, models=gw.router.targets,
                             served_by=f"the inspector gateway (it translates POST /v1/messages for a "
                                       f"{gw.form.label} backend)",
                             input_tokens=count.tokens if count is not None else None)
        flow.response = http.Response.make(answer.status, answer.body, dict(answer.headers))
        ex.client_request = snapshot(r, client_url(flow))
        tell = gw.relay.listeners
        tell.started(ex)
        tell.response(ex, "client", answer.status, answer.headers)
        if answer.body:
            tell.chunk(ex, "client", answer.body)
        flow.metadata["inspector"] = tell.ended(ex)

    async def _count(self, flow: http.HTTPFlow, ex: Exchange, body: bytes) -> TokenCount | None:
        """count_tokens: the backend's own tokenizer where it has one, else the estimate corrected by
        the real counts this session's answers carried."""
        gw = self.gateway
        backend = gw._backend(flow)
        try:
            req = parse_request(body)
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
