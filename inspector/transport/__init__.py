"""Transport: HTTP/1.1 to backends and on loopback (h11 framing), with no knowledge of formats."""

from ._client import BackendClient, BackendFailure, BackendResponse
from ._server import Handler, LoopbackServer, Reply, Request, ThreadedServer

__all__ = [
    "BackendClient",
    "BackendFailure",
    "BackendResponse",
    "Handler",
    "LoopbackServer",
    "Reply",
    "Request",
    "ThreadedServer",
]
