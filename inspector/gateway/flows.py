"""What the addons read off a mitmproxy flow, and the small responses they make."""

from __future__ import annotations

import zlib
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from mitmproxy import http
from mitmproxy.proxy.mode_specs import ReverseMode

from ..protocol import GatewayError, InvalidRequest, split_url
from ..recording import purpose_of, session_id_of
from ..recording._redact import SECRET_QUERY_KEYS
from ..telemetry import trace_context
from .exchange import Exchange, Mode, RequestSnapshot
from .pipeline import error_response

__all__ = [
    "REQUEST_SIZE_LIMIT", "TooLarge", "anthropic_error", "client_url", "decoded_body", "header_text", "headers_text",
    "identify", "json_response", "mode_of", "path_of", "point_at_loopback", "readable", "snapshot", "split_backend",
    "too_large", "wire_headers", "without_secret_params",
]

#: ``http://h:1/v1/`` → (``http://h:1``, ``/v1``).
split_backend = split_url


def point_at_loopback(r: http.Request, port: int, token: str, *, streamed: bool = False) -> None:
    """Point ``r`` at ``/<token>`` on one of our loopback servers (the relay, the replay server): the
    token alone says what the request gets, and nothing of the client's goes there — no header but
    Host, no body (``streamed``: the body streams there, see ``guard.stream_to``)."""
    r.scheme, r.host, r.port = "http", "127.0.0.1", port
    r.path = "/" + token
    if streamed:
        r.headers = http.Headers(host=f"127.0.0.1:{port}", transfer_encoding="chunked")
    else:
        r.headers = http.Headers(host=f"127.0.0.1:{port}")
        r.content = b""


def path_of(flow: http.HTTPFlow) -> str:
    return flow.request.path.split("?", 1)[0].rstrip("/") or "/"


def mode_of(flow: http.HTTPFlow) -> Mode:
    return "reverse" if isinstance(flow.client_conn.proxy_mode, ReverseMode) else "regular"


def json_response(data: Any, status: int = 200) -> http.Response:
    return http.Response.make(status, orjson.dumps(data), {"content-type": "application/json"})


def anthropic_error(err: GatewayError) -> http.Response:
    status, headers, body = error_response(err)
    return http.Response.make(status, body, dict(headers))


#: Anthropic's own limit for a Messages (and count_tokens) request: 32 MB (docs: API overview,
#: "Request size limits"; a larger one gets a 413 ``request_too_large``).
REQUEST_SIZE_LIMIT = "32m"


class TooLarge(Exception):
    """A request body over the size limit (``size``: its size in bytes, when known)."""

    def __init__(self, size: int | None = None, *, decoded: bool = False) -> None:
        super().__init__(f"{size} bytes" if size is not None else "too large")
        self.size = size
        self.decoded = decoded


def too_large(size: int | None, limit: int, *, decoded: bool = False) -> http.Response:
    """The 413 ``request_too_large`` Anthropic answers over its limit, naming ours."""
    what = (f"{size:,} bytes" if size is not None else "larger than that") + (" once decoded" if decoded else "")
    return anthropic_error(GatewayError(
        413, "request_too_large", f"the request is {what}: this gateway takes at most {limit:,} bytes "
                                  f"({_megabytes(limit)}; --set request_size_limit=SIZE to change it)"))


def _megabytes(n: int) -> str:
    return f"{n / (1 << 20):.3g} MB" if n >= 1 << 20 else f"{n / (1 << 10):.3g} KB"


def decoded_body(r: http.Request, limit: int) -> bytes:
    """The request's body, its ``content-encoding`` undone, at most ``limit`` bytes (``TooLarge``
    beyond: a few kilobytes of gzip can hold gigabytes). ``InvalidRequest`` if it cannot be decoded."""
    raw = r.raw_content or b""
    if len(raw) > limit:
        raise TooLarge(len(raw))
    encoding = header_text(r.headers, "content-encoding").strip().lower()
    if encoding in ("", "identity") or not raw:
        return raw
    try:
        if encoding in ("gzip", "x-gzip", "deflate"):
            return _inflate(raw, limit, raw_deflate=encoding == "deflate")
        body = r.get_content(strict=True) or b""
    except (ValueError, zlib.error) as e:
        raise InvalidRequest(f"the request body could not be decoded (content-encoding {encoding!r}: {e})") from None
    if len(body) > limit:
        raise TooLarge(len(body), decoded=True)
    return body


def _inflate(raw: bytes, limit: int, *, raw_deflate: bool) -> bytes:
    out = b""
    data = raw
    wbits = 47  # gzip or zlib, by its header
    while True:
        d = zlib.decompressobj(wbits)
        try:
            out += d.decompress(data, limit + 1 - len(out))
        except zlib.error:
            if not (raw_deflate and wbits == 47 and not out):
                raise
            wbits = -15  # "deflate" as some clients send it: no zlib header
            continue
        if len(out) > limit or d.unconsumed_tail:
            raise TooLarge(None, decoded=True)
        if not d.eof:
            raise ValueError("the compressed body ends early")
        data = d.unused_data  # gzip allows several members, one after another
        if not data:
            return out


def _text(value: bytes) -> str:
    return value.decode("utf-8", "backslashreplace")


def _clean(value: str) -> str:
    """One of mitmproxy's strings (bytes decoded with ``surrogateescape``) as recordable text."""
    return value if value.isascii() else _text(value.encode("utf-8", "surrogateescape"))


def header_text(headers: http.Headers, name: str) -> str:
    """A header's value as text that can be recorded and printed: UTF-8 as sent, any other byte as
    ``\\xNN`` (mitmproxy's own ``.get`` gives lone surrogates for such bytes, which no JSON encoder
    takes)."""
    raw = name.encode().lower()
    return next((_text(v) for k, v in headers.fields if k.lower() == raw), "")


def headers_text(headers: http.Headers) -> list[tuple[str, str]]:
    """Every header as text that can be recorded and printed (see ``header_text``)."""
    return [(_text(k), _text(v)) for k, v in headers.fields]


def readable(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``wire_headers`` (one character per byte) as text that can be recorded and printed."""
    return [(k, v if v.isascii() else _text(v.encode("latin-1"))) for k, v in headers]


def without_secret_params(path: str) -> str:
    """A path whose query string has no credential (``?key=``, ``token=`` … the recordings' own list):
    they are never sent on where they were not meant to go, nor printed."""
    base, sep, query = path.partition("?")
    if not sep:
        return path
    pairs = parse_qsl(query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if k.lower().replace("-", "_") not in SECRET_QUERY_KEYS]
    if len(kept) == len(pairs):
        return path
    return base + ("?" + urlencode(kept) if kept else "")


def wire_headers(headers: http.Headers) -> list[tuple[str, str]]:
    """Every header with its bytes as they came, one character per byte (latin-1: the transport's
    convention, as h11's), for sending on unchanged."""
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers.fields]


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
    return {"method": _clean(r.method), "path": _clean(r.path), "url": _clean(url or r.pretty_url),
            "headers": headers_text(r.headers), "body": r.raw_content or b"",
            "content_type": header_text(r.headers, "content-type")}


def identify(ex: Exchange, flow: http.HTTPFlow, body: dict[str, Any] | None) -> None:
    """Who sent it: the client, Claude Code's session, the subagent (its ``x-claude-code-agent-id``;
    the main conversation's requests carry none), what it is for, and its place in a trace."""
    headers = flow.request.headers
    ex.client = header_text(headers, "user-agent")
    ex.session_id, ex.id_source = session_id_of({"x-claude-code-session-id": header_text(
        headers, "x-claude-code-session-id")}, body)
    ex.agent_id = header_text(headers, "x-claude-code-agent-id")[:200] or None
    ex.parent_agent_id = header_text(headers, "x-claude-code-parent-agent-id")[:200] or None
    ex.purpose = purpose_of(ex.kind, body)
    if ex.purpose == "main" and ex.agent_id is not None:
        ex.purpose = "subagent"
    ex.trace = trace_context(header_text(headers, "traceparent"), ex.session_id)
