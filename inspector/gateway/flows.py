"""What the addons read off a mitmproxy flow, and the small responses they make."""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import urlsplit

import orjson
from mitmproxy import http
from mitmproxy.proxy.mode_specs import ReverseMode

from ..protocol import GatewayError
from ..recording import purpose_of, session_id_of
from .exchange import Exchange, Mode, RequestSnapshot
from .pipeline import error_response

__all__ = ["anthropic_error", "client_url", "identify", "json_response", "mode_of", "path_of", "snapshot", "split_backend"]


@functools.lru_cache(maxsize=64)
def split_backend(backend: str) -> tuple[str, str]:
    """``http://h:1/v1/`` → (``http://h:1``, ``/v1``)."""
    parts = urlsplit(backend)
    base_path = parts.path.rstrip("/")
    return f"{parts.scheme}://{parts.netloc}", base_path


def path_of(flow: http.HTTPFlow) -> str:
    return flow.request.path.split("?", 1)[0].rstrip("/") or "/"


def mode_of(flow: http.HTTPFlow) -> Mode:
    return "reverse" if isinstance(flow.client_conn.proxy_mode, ReverseMode) else "regular"


def json_response(data: Any, status: int = 200) -> http.Response:
    return http.Response.make(status, orjson.dumps(data), {"content-type": "application/json"})


def anthropic_error(err: GatewayError) -> http.Response:
    status, headers, body = error_response(err)
    return http.Response.make(status, body, dict(headers))


def client_url(flow: http.HTTPFlow) -> str:
    """The URL the client called. In reverse mode mitmproxy has already pointed the request at the
    reverse target (``pretty_url`` names the backend's host with the client's path): the client
    called the gateway, at the address it accepted the connection on."""
    r = flow.request
    sockname = flow.client_conn.sockname
    if not isinstance(flow.client_conn.proxy_mode, ReverseMode) or not sockname:
        return r.pretty_url
    host, port = str(sockname[0]), int(sockname[1])
    host = host.removeprefix("::ffff:")
    scheme = "https" if flow.client_conn.tls_established else "http"
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return f"{scheme}://{netloc}{r.path}"


def snapshot(r: http.Request, url: str | None = None) -> RequestSnapshot:
    """A request as it is at this moment, for the recorder (secrets are redacted on write)."""
    return {"method": r.method, "path": r.path, "url": url or r.pretty_url,
            "headers": list(r.headers.items(multi=True)), "body": r.raw_content or b"",
            "content_type": r.headers.get("content-type", "")}


def identify(ex: Exchange, flow: http.HTTPFlow, body: dict[str, Any] | None) -> None:
    ex.client = flow.request.headers.get("user-agent", "")
    ex.session_id, ex.id_source = session_id_of(flow.request.headers, body)
    ex.purpose = purpose_of(ex.kind, body)
