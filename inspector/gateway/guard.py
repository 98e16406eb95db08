"""Fail closed: a hook of ours that raises ends its flow with an Anthropic error, never lets it go on.

mitmproxy logs an exception raised in an addon's hook ("Addon error: …", ``addonmanager.safecall``)
and carries on with the flow as if the hook had not run: a check that raised is a check that
passed, a rewrite that raised sends the client's request on, untranslated, with its credentials.
So every hook of ours that guards or rewrites a flow is wrapped in ``fail_closed``:

* before the request has gone anywhere (``requestheaders``, ``request``, ``http_connect``) the flow
  is answered with the hook's refusal — a 401 ``authentication_error`` for auth, else a 500
  ``api_error``, both with ``x-should-retry: false`` — so no server is contacted;
* once the answer's head is in but has not gone out (``responseheaders``, or ``response`` of an
  answer that was not streamed) the answer is replaced by the error;
* once the answer has started to go out, the flow is killed: the client sees a cut, never a clean end.

A request-phase hook never runs on a flow that is already answered (``answered``).

``refuse`` is how a hook answers a flow itself. An answer made before the body is read
(``requestheaders``) with a body still to come is served through a loopback server of ours (a
``Parking``: the relay, or the replay server), with the body streamed into nothing: mitmproxy
would otherwise read a refused body whole into memory before answering — whatever its size, and
before the caller has shown a token. The same server takes a body of unknown length (chunked) as it
streams (``stream_to``): counted, kept up to a limit (``Intake``), and back in the flow for the request
hooks, which run before that server sees the request's end.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

from mitmproxy import http
from mitmproxy.net.http.http1 import expected_http_body_size

from ..protocol import GatewayError
from .flows import anthropic_error, point_at_loopback, too_large

__all__ = ["PENDING", "REFUSED", "Intake", "Parking", "answered", "fail_closed", "internal_error", "park", "refuse",
           "stream_to"]

log = logging.getLogger("inspector")

_REQUEST_PHASE = frozenset({"requestheaders", "request", "http_connect"})
_RESPONSE_PHASE = frozenset({"responseheaders", "response", "error"})
#: flow.metadata key: the flow was answered by one of our loopback servers (``refuse`` parked it).
REFUSED = "inspector.refused"
#: flow.metadata key: the relay token a flow's body streams to (``stream_to``) while the hooks decide.
PENDING = "inspector.pending"
#: A refused body up to this size is read by mitmproxy as usual (cheaper than a loopback hop).
SMALL_BODY = 64 << 10

H = TypeVar("H", bound=Callable[..., Any])
Refusal = Callable[[http.HTTPFlow, Exception], http.Response]


class Parking(Protocol):
    """A loopback server that can answer a flow pointed at it with a response made in advance."""

    @property
    def port(self) -> int: ...

    async def ready(self) -> None: ...

    def hold(self, response: http.Response) -> str:
        """Keep ``response`` for the next request to ``/<token>``; return the token."""
        ...


def internal_error(flow: http.HTTPFlow, e: Exception) -> http.Response:
    """The answer to a flow whose hook failed: a 500 ``api_error`` (retrying the same request would
    fail the same way)."""
    return anthropic_error(GatewayError(
        500, "api_error", f"the inspector gateway failed on this request ({type(e).__name__}); it was "
                          f"not sent on. The gateway's log has the details."))


def answered(flow: http.HTTPFlow) -> bool:
    """The flow has its answer already (made by a hook, or parked)."""
    return flow.response is not None or REFUSED in flow.metadata


def fail_closed(refusal: Refusal = internal_error, *, hook: str | None = None) -> Callable[[H], H]:
    """Wrap a flow hook (sync or async): an exception ends the flow with ``refusal(flow, e)``.
    ``hook``: the hook it runs for, when the method has another name."""

    def wrap(method: H) -> H:
        name = hook or method.__name__
        if name not in _REQUEST_PHASE | _RESPONSE_PHASE:
            raise ValueError(f"fail_closed: {name} is not a flow hook")
        before = name in _REQUEST_PHASE

        if inspect.iscoroutinefunction(method):
            @functools.wraps(method)
            async def run_async(self: Any, flow: http.HTTPFlow) -> None:
                if before and answered(flow):
                    return
                try:
                    await method(self, flow)
                except Exception as e:  # noqa: BLE001 - every failure ends the flow
                    _failed(self, name, flow, e, refusal)
            return run_async  # type: ignore[return-value]

        @functools.wraps(method)
        def run(self: Any, flow: http.HTTPFlow) -> None:
            if before and answered(flow):
                return
            try:
                method(self, flow)
            except Exception as e:  # noqa: BLE001 - every failure ends the flow
                _failed(self, name, flow, e, refusal)
        return run  # type: ignore[return-value]

    return wrap


def _failed(addon: object, hook: str, flow: http.HTTPFlow, e: Exception, refusal: Refusal) -> None:
    # WARNING, not ERROR: mitmdump exits when an error is logged during its startup, and no request
    # may stop the gateway.
    log.warning(f"gateway: {type(addon).__name__}.{hook} failed ({type(e).__name__}: {str(e)[:200]}); "
                f"the request ends with an error", exc_info=e)
    try:
        response = refusal(flow, e)
    except Exception:  # noqa: BLE001
        response = internal_error(flow, e)
    if hook in _REQUEST_PHASE:
        refuse(flow, response, getattr(addon, "parking", None))
    elif hook == "responseheaders":
        _replace_head(flow, response)
    elif hook == "response":
        if flow.response is not None and flow.response.stream:
            _kill(flow)  # its bytes are out: a cut, not a clean end
        else:
            flow.response = response
    # "error": the flow has already failed; nothing is left to send.


def refuse(flow: http.HTTPFlow, response: http.Response, parking: Parking | None) -> None:
    """Answer ``flow`` with ``response`` instead of sending it on. With ``parking``, a body still to
    come (``requestheaders``) is not read into memory: see the module's docstring."""
    flow.request.stream = False
    if parking is not None and parking.port and _body_to_come(flow.request):
        park(flow, parking.hold(response), parking.port)
        return
    flow.response = response


def park(flow: http.HTTPFlow, token: str, port: int) -> None:
    """Point ``flow`` at ``/<token>`` on our loopback server, its body streamed into nothing."""
    stream_to(flow, token, port, keep=0)
    flow.metadata[REFUSED] = True


def stream_to(flow: http.HTTPFlow, token: str, port: int, *, keep: int) -> Intake:
    """Send ``flow``'s body, as it comes, to ``/<token>`` on our loopback server — as nothing: the
    first ``keep`` bytes are kept, and at the body's end the client's request is back in the flow,
    with them as its body, for the request hooks (which run before the loopback server sees the
    request's end). In ``requestheaders`` only."""
    original = flow.request
    head = original.copy()
    point_at_loopback(head, port, token, streamed=True)
    if keep and "expect" in original.headers:  # mitmproxy answers 100-continue for the head it sends
        head.headers["expect"] = original.headers["expect"]
    intake = head.stream = Intake(flow, original, keep)
    flow.request = head
    return intake


class Intake:
    """A request ``stream`` callable (see ``stream_to``): nothing goes on; the first ``keep`` bytes
    are kept, and ``over`` says whether there were more."""

    __slots__ = ("flow", "original", "keep", "pieces", "size", "over")

    def __init__(self, flow: http.HTTPFlow, original: http.Request, keep: int) -> None:
        self.flow = flow
        self.original = original
        self.keep = keep
        self.pieces: list[bytes] = []
        self.size = 0
        self.over = False

    def __call__(self, chunk: bytes) -> Iterable[bytes]:
        if chunk:
            self.size += len(chunk)
            if self.size > self.keep:
                self.over = bool(self.keep)
                self.pieces.clear()
            else:
                self.pieces.append(chunk)
            return ()
        original = self.original
        original.stream = False
        if self.keep:
            original.raw_content = b"" if self.over else b"".join(self.pieces)
        self.pieces = []
        self.flow.request = original
        if self.over:  # answered before any request hook looks at it
            self.flow.response = too_large(self.size, self.keep)
        return ()


def _body_to_come(r: http.Request) -> bool:
    """A body larger than ``SMALL_BODY``, or of unknown size, not read yet."""
    if r.raw_content is not None:  # already read (the request hook)
        return False
    try:
        size = expected_http_body_size(r)
    except ValueError:
        return True
    return size is None or size == -1 or size > SMALL_BODY


def _replace_head(flow: http.HTTPFlow, response: http.Response) -> None:
    """In ``responseheaders``: the answer becomes ``response``; the server's body is dropped."""
    resp = flow.response
    if resp is None:
        flow.response = response
        return
    try:
        empty = expected_http_body_size(flow.request, resp) == 0
    except ValueError:
        empty = False
    if empty:  # no body will come through a stream callable to carry ours
        _kill(flow)
        return
    body = response.content or b""
    resp.status_code = response.status_code
    resp.reason = response.reason
    resp.headers = response.headers.copy()
    resp.headers["content-length"] = str(len(body))
    resp.stream = _Instead(body)


class _Instead:
    """A response ``stream`` callable: the server's bytes dropped, ``body`` sent at the end."""

    __slots__ = ("body",)

    def __init__(self, body: bytes) -> None:
        self.body = body

    def __call__(self, chunk: bytes) -> Iterable[bytes]:
        if chunk:
            return ()
        body, self.body = self.body, b""
        return (body,) if body else ()


def _kill(flow: http.HTTPFlow) -> None:
    if flow.killable:
        flow.kill()

