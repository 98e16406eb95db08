"""The ``SideTraffic`` addon: Claude Code's side requests answered without the backend.

count_tokens, model listing, hello probes and event logging are answered locally when the backend
does not serve Anthropic's whole API (a translating form; an Anthropic-native backend answers its
own, so they pass through); the gateway's own ``GET /_inspector/status`` and OTLP telemetry
(``POST /v1/{metrics,logs,traces}``, which no backend serves) are answered in every form. The
answers are the ones replay gives (``inspector.protocol.side_answer``).
"""

from __future__ import annotations

from mitmproxy import http

from ..protocol import GatewayError, InvalidRequest, anthropic_style, request_kind, side_answer
from ..protocol._side import json_body_or_none
from .admission import Admission
from .exchange import Exchange, Listeners
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
from .guard import fail_closed

__all__ = ["SideTraffic"]


class SideTraffic:
    def __init__(self, admission: Admission, listeners: Listeners) -> None:
        self.admission = admission
        self.listeners = listeners

    @fail_closed()
    async def request(self, flow: http.HTTPFlow) -> None:
        a = self.admission
        if not a.handles(flow):
            return
        r = flow.request
        kind = request_kind(r.method, path_of(flow))
        if kind == "status":
            flow.response = json_response(a.status(flow))
            return
        backend = a.backend_of(flow)
        if kind == "messages" or (a.form.whole_api and (kind != "telemetry" or backend is None)):
            return  # an Anthropic-native backend answers its own; observed traffic is left alone
        try:
            body = decoded_body(r, a.size_limit)
        except TooLarge as e:
            flow.response = too_large(e.size, a.size_limit, decoded=e.decoded)
            return
        except InvalidRequest as e:
            flow.response = anthropic_error(GatewayError(400, "invalid_request_error", str(e)))
            return
        ex = Exchange(form=a.form, kind=kind, local=True, mode=mode_of(flow))
        identify(ex, flow, json_body_or_none(body) if kind == "count_tokens" else None)
        count = await a.count_tokens(ex, body, backend) if kind == "count_tokens" else None
        answer = side_answer(kind, r.method, r.path, body, models=self._models(),
                             served_by=f"the inspector gateway (it translates POST /v1/messages for a "
                                       f"{a.form.label} backend)",
                             input_tokens=count.tokens if count is not None else None,
                             content_type=r.headers.get("content-type", ""))
        flow.response = http.Response.make(answer.status, answer.body, dict(answer.headers))
        ex.client_request = snapshot(r, client_url(flow))
        tell = self.listeners
        tell.started(ex)
        tell.response(ex, "client", answer.status, answer.headers)
        if answer.body:
            tell.chunk(ex, "client", answer.body)
        flow.metadata["inspector"] = tell.ended(ex)

    def _models(self) -> dict[str, str]:
        """The Anthropic-style ids this gateway knows it serves, each → the backend model it routes to:
        those named in model_map (``claude-sonnet-4-5=qwen3:8b``) and those Claude Code has asked for."""
        router = self.admission.router
        names = [pattern for pattern, _ in router.pairs if anthropic_style(pattern)] + self.admission.requested
        return {name: router.route(name) for name in names if anthropic_style(name)}
