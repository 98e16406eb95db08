"""The ``Gateway`` addon: the mitmproxy side of a call the backend answers.

For each flow it handles, ``request`` hands the client's call to the ``Admission`` (route, discover,
count, refuse; the backend form prepares the whole backend call) and registers the ``Job`` it
makes with the relay; the flow is pointed at the relay, which streams the answer back already in
Anthropic form (``pipeline.py``); the flow's end lets go of the exchange. Regular (HTTPS_PROXY) mode
without a backend_url is ``observer.py``'s.
"""

from __future__ import annotations

import asyncio
import time

from mitmproxy import http
from mitmproxy.net.http.http1 import expected_http_body_size

from ..protocol import ClientCall, InvalidRequest, request_kind
from . import flows
from .admission import Admission, off_loop, refused
from .exchange import Exchange, Overhead
from .guard import PENDING, fail_closed, refuse, stream_to
from .pipeline import Job
from .relay import Relay
from .webflows import BACKEND_FLOW, show_client_request

__all__ = ["Gateway"]


class Gateway:
    def __init__(self, relay: Relay, admission: Admission) -> None:
        self.relay = relay
        self.admission = admission
        #: flow id → (relay token, job) for flows sent to the relay.
        self.live: dict[str, tuple[str, Job]] = {}
        admission.in_flight_since = lambda: [job.exchange.started for _, job in self.live.values()]

    @property
    def parking(self) -> Relay:
        """Where a refusal made before the body is read is answered from (``guard.refuse``)."""
        return self.relay

    def _ours(self, flow: http.HTTPFlow) -> str | None:
        """The backend ``flow`` goes to, when it is a flow of ours (None: not handled, or observed; and a
        backend flow replayed from mitmweb, which goes to the backend as it is)."""
        if flow.metadata.get(BACKEND_FLOW) or not self.admission.handles(flow):
            return None
        return self.admission.backend_of(flow)

    @fail_closed()
    async def requestheaders(self, flow: http.HTTPFlow) -> None:
        """Before the body is read: too large a body is refused unread; one of unknown length
        (chunked) streams to the relay, counted, and is back in the flow for the request hooks."""
        if self._ours(flow) is None:
            return
        limit = self.admission.size_limit
        try:
            size = expected_http_body_size(flow.request)
        except ValueError:
            size = None  # mitmproxy refuses a malformed length itself
        if size is not None and size > limit:
            await self.relay.ready()
            refuse(flow, flows.too_large(size, limit), self.relay)
        elif size is None or size == -1:  # chunked (or, unvalidated, until the connection ends)
            await self.relay.ready()
            token = self.relay.reserve(flow)
            stream_to(flow, token, self.relay.port, keep=limit)
            flow.metadata[PENDING] = token

    @fail_closed()
    async def request(self, flow: http.HTTPFlow) -> None:
        began, backend = time.perf_counter(), self._ours(flow)
        if backend is None:
            return
        r, limit = flow.request, self.admission.size_limit
        ex = Exchange(form=self.admission.form, kind=request_kind(r.method, flows.path_of(flow)), backend=backend,
                      mode=flows.mode_of(flow))
        ex.client_request = flows.snapshot(r, flows.client_url(flow))
        try:
            body = await off_loop(len(r.raw_content or b""), flows.decoded_body, r, limit)
            call = ClientCall(r.method, r.path, flows.wire_headers(r.headers), body, ex.kind)
            job = await self.admission.admit(ex, call, lambda e, data: flows.identify(e, flow, data))
        except flows.TooLarge as e:  # one that decodes too large
            flow.response = flows.too_large(e.size, limit, decoded=e.decoded)
            return
        except InvalidRequest as e:
            self._refuse(flow, ex, e)
            return
        ex.overhead = Overhead(request=time.perf_counter() - began - job.waited)  # its own time, waits excepted
        await self.relay.ready()
        ex.holds = 2  # the relay's pipeline and this flow; the pipeline tells the listeners it started
        token = flow.metadata.pop(PENDING, None)
        if token is not None:  # its body streamed to the relay already: the job is its answer
            self.relay.settle(token, job)
        else:
            token = self.relay.register(job)
            flows.point_at_loopback(r, self.relay.port, token)
        self.live[flow.id] = (token, job)

    def _refuse(self, flow: http.HTTPFlow, ex: Exchange, e: InvalidRequest) -> None:
        """Answered at once (Anthropic's 400, in its words), told to the listeners as a local exchange."""
        local = Exchange(form=ex.form, kind=ex.kind, backend=ex.backend, mode=ex.mode)
        flows.identify(local, flow, None)
        local.client_request = ex.client_request
        flow.response = response = flows.anthropic_error(refused(local, e))
        local.answer = response.json()
        tell = self.relay.listeners
        tell.started(local)
        tell.response(local, "client", response.status_code, list(response.headers.items(multi=True)))
        tell.chunk(local, "client", response.content or b"")
        flow.metadata["inspector"] = tell.ended(local)

    @fail_closed()
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if flow.id in self.live and flow.response is not None:
            flow.response.stream = True  # already Anthropic, from the relay: passed on as it comes

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
        if live is None:
            return
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

    def _let_go(self, flow: http.HTTPFlow, ex: Exchange) -> None:
        summary = self.relay.listeners.release(ex)
        flow.metadata["inspector"] = summary if summary is not None else ex.summary()
        self.admission.learn(ex)

