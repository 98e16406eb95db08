"""What the addons read off a mitmproxy flow (``flows.py``), on ``tflow`` flows: the backend's origin
and base path, the exchange's identity, the request as the recorder keeps it, Anthropic errors."""

import orjson
from mitmproxy import http
from mitmproxy.proxy.mode_specs import ProxyMode
from mitmproxy.test import tflow

from inspector.gateway.exchange import Exchange
from inspector.gateway.flows import anthropic_error, identify, mode_of, path_of, snapshot, split_backend
from inspector.protocol import GatewayError, get_form


def flow(url: str, body: dict | None = None, headers: dict[str, str] | None = None, mode: str = "reverse"):
    f = tflow.tflow()
    f.client_conn.proxy_mode = ProxyMode.parse("reverse:http://127.0.0.1:11434" if mode == "reverse" else "regular")
    f.request = http.Request.make("POST", url, orjson.dumps(body) if body is not None else b"",
                                  {"content-type": "application/json", **(headers or {})})
    return f


def test_a_backend_url_splits_into_origin_and_base_path():
    assert split_backend("http://127.0.0.1:1234/v1/") == ("http://127.0.0.1:1234", "/v1")
    assert split_backend("https://gpu.example:8443") == ("https://gpu.example:8443", "")


def test_path_and_mode():
    assert path_of(flow("http://h/v1/messages/?beta=true")) == "/v1/messages"
    assert path_of(flow("http://h/")) == "/"
    assert mode_of(flow("http://h/v1/messages")) == "reverse"
    assert mode_of(flow("https://api.anthropic.com/v1/messages", mode="regular")) == "regular"


def test_the_session_comes_from_the_header_else_from_metadata_and_the_purpose_from_the_body():
    ask = {"model": "claude-haiku-x", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    ex = Exchange(form=get_form("ollama"), kind="messages")
    identify(ex, flow("http://h/v1/messages", ask, {"x-claude-code-session-id": "5e55104d-1", "user-agent": "claude-cli/2"}), ask)
    assert (ex.session_id, ex.id_source, ex.client, ex.purpose) == ("5e55104d-1", "header", "claude-cli/2", "background")
    meta = {**ask, "model": "claude-opus-x", "tools": [{"name": "Bash"}],
            "metadata": {"user_id": orjson.dumps({"session_id": "abc-123"}).decode()}}
    identify(ex, flow("http://h/v1/messages", meta), meta)
    assert (ex.session_id, ex.id_source, ex.purpose) == ("abc-123", "metadata", "main")
    identify(ex, flow("http://h/v1/messages", {}), None)
    assert (ex.session_id, ex.id_source, ex.purpose) == (None, "none", "side")


def test_a_snapshot_keeps_the_request_as_it_was_then():
    f = flow("http://h/v1/messages?beta=true", {"model": "m"}, {"x-api-key": "sk-kept-until-the-writer-redacts"})
    snap = snapshot(f.request)
    f.request.content = b"changed later"
    f.request.headers["x-api-key"] = "changed"
    assert snap["body"] == b'{"model":"m"}' and snap["path"] == "/v1/messages?beta=true"
    assert ("x-api-key", "sk-kept-until-the-writer-redacts") in snap["headers"]
    assert snap["content_type"] == "application/json" and snap["url"] == "http://h/v1/messages?beta=true"


def test_an_anthropic_error_has_the_status_the_body_and_the_retry_advice():
    resp = anthropic_error(GatewayError(502, "api_error", "the backend is down: start it"))
    body = orjson.loads(resp.content)
    assert resp.status_code == 502 and resp.headers["content-type"] == "application/json"
    assert body["type"] == "error" and body["error"] == {"type": "api_error", "message": "the backend is down: start it"}
    assert body["request_id"] == resp.headers["request-id"] and body["request_id"].startswith("req_inspector_")
