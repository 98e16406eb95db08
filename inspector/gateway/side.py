"""The ``SideTraffic`` addon: Claude Code's side requests answered without the backend.

count_tokens, model listing, hello probes and telemetry are answered locally in translating
forms (an Anthropic-native backend answers them itself, so they pass through); the gateway's
own ``GET /_inspector/status`` is answered in every form. The answers are the ones replay gives
(``inspector.protocol.side_answer``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mitmproxy import http

from ..protocol import request_kind, side_answer
from ..protocol._side import json_body_or_none
from .exchange import Exchange
from .flows import identify, json_response, mode_of, path_of, snapshot

if TYPE_CHECKING:
    from .gateway import Gateway

__all__ = ["SideTraffic"]


class SideTraffic:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def request(self, flow: http.HTTPFlow) -> None:
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
        answer = side_answer(kind, r.method, r.path, body, models=gw.router.targets,
                             served_by=f"the inspector gateway (it translates POST /v1/messages for a "
                                       f"{gw.form.label} backend)")
        flow.response = http.Response.make(answer.status, answer.body, dict(answer.headers))
        ex = Exchange(form=gw.form, kind=kind, local=True, mode=mode_of(flow))
        identify(ex, flow, json_body_or_none(body) if kind == "count_tokens" else None)
        ex.client_request = snapshot(r)
        tell = gw.relay.listeners
        tell.started(ex)
        tell.response(ex, "client", answer.status, answer.headers)
        if answer.body:
            tell.chunk(ex, "client", answer.body)
        flow.metadata["inspector"] = tell.ended(ex)
