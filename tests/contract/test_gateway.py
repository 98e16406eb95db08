"""Our gateway held to Claude Code's own gateway contract, per form (Ollama, OpenAI, Anthropic
passthrough), in-process: the addons as mitmproxy runs them.

The Errors table is read from the contract itself: each row is a case, its HTTP status, its
``error.type`` and what it asks of the headers (``x-should-retry: false``, ``Retry-After``) are the
expectations. Each test is gated by our ruling on its clause (``tests/data/claude-code-gateway/
clauses.toml``): a clause that does not apply is skipped with the reason, one met by another
change that has not landed is an expected failure.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Awaitable, Callable

import httpx
import orjson
import pytest

from inspector.protocol import FORM_NAMES, SSEDecoder, get_form, stream_problems
from inspector.testing.backends import RENDER, SCRIPTS, Received, Reply, ScriptedBackend
from inspector.testing.contract import Classification, Contract, Table
from inspector.testing.forms import SIDE_ANSWERED, WRITTEN
from inspector.testing.gateway import Gateway
from inspector.testing.inprocess import InProcessGateway, Result
from inspector.testing.sdk import accumulate

from .conftest import CLAUSES, PROTOCOL

pytestmark = pytest.mark.anyio
FORMS = FORM_NAMES
CONTRACT = Contract.parse(PROTOCOL.read_text())
RULINGS = Classification.load(CLAUSES)
ERRORS: Table = CONTRACT.table("Errors", "HTTP")
ASK = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
STREAM = {**ASK, "stream": True}
TOKEN = "contract-token-" + "x" * 16
#: Claude Code 2.1.328's own reading of a context refusal (its bundled JS): the sizes it compacts by.
CLIENT_READS_SIZES = re.compile(r"prompt is too long[^0-9]*(\d+)\s*tokens?\s*>\s*(\d+)", re.I)
PROXYING = "proxying-to-bedrock-vertex-or-foundry"


@pytest.fixture
def anyio_backend():
    return "asyncio"


def gate(request: pytest.FixtureRequest, key: str) -> None:
    """Skip a clause we do not apply."""
    ruling = RULINGS[key]
    if ruling.status == "not-applicable":
        pytest.skip(f"{key} does not apply: {ruling.why}")


def clause(key: str) -> str:
    return CONTRACT.text_of(key)


async def through(form: str, script: list[Reply] | Callable[[Received], Reply], method: str, path: str, *,
                  body: object = ASK, content: bytes | None = None, headers: dict[str, str] | None = None,
                  **options: object) -> tuple[Result, ScriptedBackend, InProcessGateway]:
    options.setdefault("model", "qwen3" if get_form(form).needs_backend_model else "")
    with ScriptedBackend(form, script) as b:
        async with InProcessGateway(b.url, backend=form, **options) as gw:
            r = await gw.send(method, path, json=None if content is not None else body, content=content,
                              headers=headers)
    return r, b, gw


# -- the Errors table, row by row --------------------------------------------------------------------
LLAMA_CPP_BUSY = b'{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}'


def backend_error(form: str, status: int, message: str, **reply: object) -> Reply:
    """A backend's error in its own words; for passthrough, not in Anthropic's envelope (llama.cpp's)."""
    if not get_form(form).writes_answers and status != 429:
        body = {"error": {"code": status, "message": message, "type": "server_error"}}
        return Reply(status=status, raw=[json.dumps(body).encode()], **reply)  # type: ignore[arg-type]
    return Reply(status=status, error=message, **reply)  # type: ignore[arg-type]


async def row_400(form: str) -> Result | None:
    return (await through(form, [Reply(text="never")], "POST", "/v1/messages", body={"model": "m"}))[0]


async def row_401(form: str) -> Result | None:
    return (await through(form, [Reply(text="never")], "POST", "/v1/messages", gateway_token=TOKEN,
                          headers={"x-api-key": "not-the-token"}))[0]


async def row_413(form: str) -> Result | None:
    # Over Anthropic's own request cap (32 MB for the Messages API), the default the cap is to take.
    big = {**ASK, "messages": [{"role": "user", "content": "x" * (33 << 20)}]}
    return (await through(form, [Reply(text="never")], "POST", "/v1/messages", content=orjson.dumps(big)))[0]


async def row_429(form: str) -> Result | None:
    reply = backend_error(form, 429, "rate limited, slow down", headers=[("retry-after", "7")])
    return (await through(form, [reply], "POST", "/v1/messages"))[0]


async def row_501(form: str) -> Result | None:
    if not get_form(form).whole_api:
        return None  # translated forms answer every count_tokens (an estimate at worst)
    def brain(rec: Received) -> Reply:
        return Reply(status=404, raw=[b"404 page not found"]) if "count_tokens" in rec.path else Reply(text="x")
    return (await through(form, brain, "POST", "/v1/messages/count_tokens?beta=true"))[0]


async def row_529(form: str) -> Result | None:
    if not get_form(form).writes_answers:
        return (await through(form, [Reply(status=503, raw=[LLAMA_CPP_BUSY])], "POST", "/v1/messages"))[0]
    reply = backend_error(form, 503, "server busy, please try again. maximum pending requests exceeded")
    return (await through(form, [reply], "POST", "/v1/messages"))[0]


async def row_5xx(form: str) -> Result | None:
    return (await through(form, [backend_error(form, 500, "boom")], "POST", "/v1/messages"))[0]


ROW_CASES: dict[str, Callable[[str], Awaitable[Result | None]]] = {
    "errors#400": row_400, "errors#401": row_401, "errors#413": row_413, "errors#429-rate_limit_error": row_429,
    "errors#501": row_501, "errors#529": row_529, "errors#5xx": row_5xx}


#: The rows' clause keys, in the table's order.
ROW_KEYS = [c.key for c in CONTRACT.section("Errors") if c.kind == "row"]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("key, row", list(zip(ROW_KEYS, ERRORS.rows, strict=True)), ids=ROW_KEYS)
async def test_each_row_of_the_errors_table(request, key, row, form):
    gate(request, key)
    case = ROW_CASES.get(key)
    assert case is not None, f"{key} is ruled {RULINGS[key].status} but nothing here checks it"
    r = await case(form)
    if r is None:
        pytest.skip(f"{key}: never needed in the {form} form")
    status, kind, use = row[0], row[1].strip("`"), row[2]
    assert (str(r.status) == status) if status.isdigit() else (500 <= r.status < 600), (r.status, r.body)
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == kind, r.body
    assert r.headers["content-type"] == "application/json"
    if "x-should-retry: false" in use:
        assert r.headers.get("x-should-retry") == "false"
    if "Retry-After" in use:
        assert r.headers.get("retry-after") == "7", "the backend's own Retry-After, relayed"


def test_the_errors_table_is_what_the_cases_are_read_from():
    """The table parsed from the contract text: nine rows, and the case registry covers the rows we meet."""
    assert ERRORS.header == ["HTTP", "error.type", "Use for"]
    assert len(ERRORS.rows) == 9
    assert {k for k in ROW_KEYS if RULINGS[k].status != "not-applicable"} == set(ROW_CASES)


# -- auto mode's safeguards ---------------------------------------------------------------------------
SAFEGUARDS = [{"type": "dangerous_tool_use", "classifier_context": {"v": 1, "permission_mode": "auto"}}]
AUTO_BETA = "claude-code-20250219,dangerous-tool-use-2026-09-03"
RESULTS = [{"type": "dangerous_tool_use", "status": {"type": "available", "tool_uses": {}}}]


def with_safeguard_results(chunks: list[bytes]) -> list[bytes]:
    """An Anthropic stream whose message_delta carries ``safeguard_results`` (where Claude Code reads them)."""
    out = []
    for chunk in chunks:
        if chunk.startswith(b"event: message_delta"):
            data = json.loads(chunk.split(b"data: ", 1)[1])
            data["delta"]["safeguard_results"] = RESULTS
            chunk = b"event: message_delta\ndata: " + json.dumps(data).encode() + b"\n\n"
        out.append(chunk)
    return out


@pytest.mark.parametrize("form", FORMS)
async def test_auto_mode_safeguards_are_refused_by_name_or_passed_through(request, form):
    key = "messages#in-auto-mode-the-client-adds"
    gate(request, key)
    assert "`safeguards`" in clause(key) and "400 invalid_request_error" in clause(key)
    stream = with_safeguard_results(RENDER["anthropic"](Reply(text="checked"), "claude-sonnet-4-5", True))
    whole_api = get_form(form).whole_api
    r, b, gw = await through(form, [Reply(raw=stream)] if whole_api else [Reply(text="never")],
                             "POST", "/v1/messages?beta=true", body={**STREAM, "safeguards": SAFEGUARDS},
                             headers={"anthropic-beta": AUTO_BETA})
    if not whole_api:
        assert r.status == 400 and r.json()["error"]["type"] == "invalid_request_error"
        assert re.search(r"\bsafeguards\b", r.json()["error"]["message"]), "the client retries on this word"
        assert b.chat_requests == [], "refused before the backend"
        assert [n["rule"] for n in gw.ended[-1]["notes"]] == ["auto-mode:safeguards"]
        return
    (sent,) = b.chat_requests
    assert sent.body["safeguards"] == SAFEGUARDS and sent.headers["anthropic-beta"] == AUTO_BETA
    assert r.status == 200 and r.body == b"".join(stream), "safeguard_results reach the client unchanged"


# -- never reject what you do not recognise -----------------------------------------------------------
UNKNOWN = {**ASK, "a_field_from_2030": {"anything": [1, 2]},
           "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"},
                                                     {"type": "hologram_2030", "data": "…"}]}],
           "tools": [{"type": "teleport_20300101", "name": "teleport"},
                     {"name": "Write", "description": "write a file",
                      "input_schema": {"type": "object", "properties": {}, "x-future": True}}]}


@pytest.mark.parametrize("form", FORMS)
async def test_unknown_fields_blocks_tools_and_headers_pass(request, form):
    key = "flow#dont-reject-what-you-dont-recognize"
    gate(request, key)
    r, b, _ = await through(form, [Reply(text="fine")], "POST", "/v1/messages", body=UNKNOWN,
                            headers={"x-claude-code-future": "1", "anthropic-beta": "future-2030-01-01"})
    assert r.status == 200 and r.json()["content"][0]["text"] == "fine", r.body
    (sent,) = b.chat_requests
    if get_form(form).whole_api:  # passed to the upstream unchanged
        assert sent.body == UNKNOWN and sent.headers["anthropic-beta"] == "future-2030-01-01"
        assert sent.headers["x-claude-code-future"] == "1"


# -- request tags ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("form", FORMS)
async def test_request_tags_are_left_out_before_upstreams_that_do_not_take_them(request, form):
    key = f"{PROXYING}#request-tags"
    gate(request, key)
    assert "`tags`" in clause(key) and "`request-tags-2026-08-21`" in clause(key)
    r, b, _ = await through(form, [Reply(text="ok")], "POST", "/v1/messages",
                            body={**ASK, "tags": {"team": "inspector"}},
                            headers={"anthropic-beta": "claude-code-20250219,request-tags-2026-08-21"})
    (sent,) = b.chat_requests
    assert r.status == 200 and "tags" not in sent.body
    if get_form(form).whole_api:  # a loopback Anthropic-compatible server, not Anthropic's API
        assert sent.headers["anthropic-beta"] == "claude-code-20250219", "the tags' beta value goes with them"


# -- streaming: pings in silent gaps ------------------------------------------------------------------
def events(raw: bytes) -> list[str]:
    dec = SSEDecoder()
    return [e.event or "" for e in dec.decode(raw) + dec.flush()]


@pytest.mark.e2e
@pytest.mark.parametrize("form", FORMS)
def test_silent_gaps_get_the_contracts_ping(request, form):
    """The backend is silent before its first byte and again mid-answer, each time until the client has
    heard a ping (the real mitmdump; nothing here depends on how fast the machine is)."""
    key = f"{PROXYING}#streaming"
    gate(request, key)
    found = re.search(r"`(event: ping)`", clause(key))
    assert found, "the contract names the event"
    ping = found.group(1).encode() + b"\n"
    chunks: list[bytes | float | threading.Event] = list(RENDER[form](
        Reply(text="before-the-gap after-the-gap", pieces=2), "qwen3", True))
    before, during = threading.Event(), threading.Event()
    first = next(i for i, c in enumerate(chunks) if isinstance(c, bytes) and b"before-the-gap" in c)
    chunks.insert(first + 1, during)
    chunks.insert(0, before)
    with ScriptedBackend(form, [Reply(raw=chunks)]) as b, \
            Gateway(b.url, backend=form, model="qwen3", ping_interval="0.2") as gw:
        with httpx.stream("POST", gw.url + "/v1/messages", json=STREAM, timeout=60) as r:
            body = b""
            for piece in r.iter_raw():
                body += piece
                if ping in body and not before.is_set():
                    before.set()  # a ping while the backend had said nothing
                if b"before-the-gap" in body and ping in body.split(b"before-the-gap", 1)[1]:
                    during.set()  # and one in the silence after its first words
    assert before.is_set() and during.is_set()
    assert stream_problems(body) == [] and events(body)[-1] == "message_stop"
    assert accumulate(body).content[0].text == "before-the-gap after-the-gap"


# -- passthrough headers ------------------------------------------------------------------------------
def backticked(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


async def test_passthrough_forwards_the_contracts_request_headers(request):
    key = f"{PROXYING}#headers"
    gate(request, key)
    text = clause(key)
    forward = backticked(text.split("Forward", 1)[1].split(";", 1)[0])
    assert forward == ["content-type", "accept", "accept-encoding", "anthropic-version", "anthropic-beta",
                       "user-agent", "x-stainless-*"]
    sent_headers = {name.replace("*", "os"): f"value-of-{name.replace('*', 'os')}" for name in forward}
    sent_headers["content-type"] = "application/json"
    r, b, _ = await through("anthropic", [Reply(text="ok")], "POST", "/v1/messages", headers=sent_headers)
    (sent,) = b.chat_requests
    assert r.status == 200
    for name, value in sent_headers.items():
        if name == "accept-encoding":  # knowingly different (clauses.toml): the gateway reads the stream
            assert sent.headers[name] == "identity"
        else:
            assert sent.headers[name] == value, name


async def test_passthrough_strips_hop_by_hop_response_headers(request):
    key = f"{PROXYING}#headers"
    gate(request, key)
    hop = backticked(clause(key).split("strip hop-by-hop headers", 1)[1])
    assert hop == ["content-encoding", "content-length", "transfer-encoding", "connection"]
    reply = Reply(text="ok", headers=[("content-encoding", "identity"), ("x-backend-own", "kept")])
    r, _, _ = await through("anthropic", [reply], "POST", "/v1/messages")
    assert r.status == 200 and r.headers["x-backend-own"] == "kept"
    assert "content-encoding" not in r.headers, "the backend's framing is not passed on"
    assert r.headers.get("content-length") in (None, str(len(r.body))), "the gateway's own framing"


QUOTA = [("anthropic-ratelimit-unified-status", "allowed_warning"),
         ("anthropic-ratelimit-unified-overage-surpassed-threshold", "0.95"),
         ("anthropic-ratelimit-tokens-remaining", "5")]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_the_upstreams_quota_headers_never_reach_the_client(request, stream):
    key = "usage-limit-headers#if-you-enforce-a-per-user-spend"
    gate(request, key)
    assert "strip the upstream's own `anthropic-ratelimit-*` response headers" in clause(key)
    r, _, _ = await through("anthropic", [Reply(text="ok", headers=QUOTA)], "POST", "/v1/messages",
                            body=STREAM if stream else ASK)
    assert r.status == 200 and not [h for h in r.headers if h.startswith("anthropic-ratelimit-")], r.headers
    refused, _, _ = await through("anthropic", [Reply(status=429, error="slow", headers=[*QUOTA, ("retry-after", "3")])],
                                  "POST", "/v1/messages")
    assert refused.status == 429 and refused.headers["retry-after"] == "3"
    assert not [h for h in refused.headers if h.startswith("anthropic-ratelimit-")]


# -- models and telemetry -------------------------------------------------------------------------------
@pytest.mark.parametrize("form", SIDE_ANSWERED)
async def test_models_are_listed_in_anthropics_shape_with_anthropic_style_ids_or_404(request, form):
    key = "models#anthropic-models-list-shape-data-id-display_name"
    gate(request, key)
    assert "`claude-{family}-{major}-{minor}`" in clause(key) and "Return `404`" in clause(key)
    listed, b, _ = await through(form, [Reply(text="never")], "GET", "/v1/models?limit=1000",
                                 model_map="claude-sonnet-4-5=qwen3:8b,haiku=small")
    none, _, _ = await through(form, [Reply(text="never")], "GET", "/v1/models?limit=1000")
    assert listed.status == 200
    assert [(m["type"], m["id"]) for m in listed.json()["data"]] == [("model", "claude-sonnet-4-5")]
    assert listed.json()["data"][0]["display_name"] == "claude-sonnet-4-5 → qwen3:8b (via inspector gateway)"
    assert none.status == 404 and none.json()["error"]["type"] == "not_found_error"
    assert b.received == [], "answered by the gateway"


@pytest.mark.parametrize("form", FORMS)
async def test_telemetry_is_answered_200(request, form):
    key = "telemetry#otlp/http-protobuf-or-json-when-connected"
    gate(request, key)
    assert "Return `200` whether you forward or discard" in clause(key)
    with ScriptedBackend(form, [Reply(text="never")]) as b:
        async with InProcessGateway(b.url, backend=form, model="m") as gw:
            metrics = await gw.send("POST", "/v1/metrics", content=b"\x0a\x00",
                                    headers={"content-type": "application/x-protobuf"})
            logs = await gw.send("POST", "/v1/logs", json={"resourceLogs": []})
            traces = await gw.send("POST", "/v1/traces", json={"resourceSpans": []})
    assert (metrics.status, metrics.body, metrics.headers["content-type"]) == (200, b"", "application/x-protobuf")
    assert logs.status == traces.status == 200 and logs.json() == traces.json() == {}
    assert b.received == [], "no backend serves them"
    assert [(e["kind"], e["local"]) for e in gw.ended] == [("telemetry", True)] * 3, "recorded as side traffic"


# -- "prompt is too long": ours, and the backend's, as the client's recovery expects --------------------
LLAMA_CPP_CONTEXT = {"error": {"code": 400, "message": "the request exceeds the available context size, try "
                                                      "increasing it", "type": "exceed_context_size_error",
                               "n_prompt_tokens": 9000, "n_ctx": 8192}}


@pytest.mark.parametrize("form", FORMS)
async def test_a_backends_prompt_is_too_long_reaches_the_client_as_its_recovery_expects(request, form):
    key = f"{PROXYING}#errors"
    gate(request, key)
    assert "`prompt is too long: …`" in clause(key)
    raw = SCRIPTS[form].context_error  # what a real server of this form answers
    r, _, _ = await through(form, [Reply(status=400, raw=[raw])], "POST", "/v1/messages")
    assert r.status == 400 and r.json()["error"]["type"] == "invalid_request_error"
    message = r.json()["error"]["message"]
    if not get_form(form).writes_answers:
        assert r.body == raw, "Anthropic's envelope relayed as it is"
    elif b"n_prompt_tokens" in raw:  # the server said both sizes (llama.cpp): the client reads them
        assert CLIENT_READS_SIZES.match(message).groups() == ("9000", "8192"), message
    else:
        assert message.lower().startswith("prompt is too long"), message


async def test_a_passthrough_context_error_not_in_anthropics_envelope_is_put_in_it(request):
    """llama.cpp's Anthropic endpoint answers errors in its own shape: Claude Code gets Anthropic's."""
    gate(request, f"{PROXYING}#errors")
    r, _, _ = await through("anthropic", [Reply(status=400, raw=[json.dumps(LLAMA_CPP_CONTEXT).encode()])],
                            "POST", "/v1/messages")
    assert r.status == 400 and CLIENT_READS_SIZES.match(r.json()["error"]["message"]).groups() == ("9000", "8192")


@pytest.mark.parametrize("form", WRITTEN)
async def test_our_own_context_refusal_takes_anthropics_shape(request, form):
    gate(request, f"{PROXYING}#errors")
    r, b, _ = await through(form, [Reply(text="never")], "POST", "/v1/messages", max_context=50,
                            body={**ASK, "messages": [{"role": "user", "content": "word " * 400}]})
    message = r.json()["error"]["message"]
    assert r.status == 400 and r.json()["error"]["type"] == "invalid_request_error"
    tokens, window = CLIENT_READS_SIZES.match(message).groups()
    assert int(tokens) > int(window) == 50 and message.startswith(f"prompt is too long: {tokens} tokens > 50 maximum")
    assert b.chat_requests == []


# -- never buffer a stream (the real mitmdump) --------------------------------------------------------------
@pytest.mark.e2e
@pytest.mark.parametrize("form", FORMS)
def test_a_stream_is_never_buffered(request, form):
    """The backend holds its answer after the first words until the client has seen them: a gateway
    that buffered would never show them (and the test would time out, whatever the machine's speed)."""
    key = "messages#the-anthropic-messages-api-unchanged-proxy"
    gate(request, key)
    assert "Don't buffer SSE on the `stream: true` path" in clause(key)
    chunks: list[bytes | float | threading.Event] = list(RENDER[form](
        Reply(text="first-words then-the-rest", pieces=2), "qwen3", True))
    seen = threading.Event()
    first = next(i for i, c in enumerate(chunks) if isinstance(c, bytes) and b"first-words" in c)
    chunks.insert(first + 1, seen)
    with ScriptedBackend(form, [Reply(raw=chunks)]) as b, Gateway(b.url, backend=form, model="qwen3") as gw:
        with httpx.stream("POST", gw.url + "/v1/messages", json=STREAM, timeout=60) as r:
            body = b""
            for piece in r.iter_raw():
                body += piece
                if b"first-words" in body and not seen.is_set():
                    seen.set()  # only now does the backend send the rest
    assert seen.is_set() and stream_problems(body) == []
    assert accumulate(body).content[0].text == "first-words then-the-rest"
