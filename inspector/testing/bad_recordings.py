"""Recordings of the wrong shape, one per exchange folder, for the readers' robustness tests.

``bad_session(root)`` makes one session whose exchanges are, in order (``SHAPES``):

1. ``gateway-400`` — what the gateway itself records for ``"messages": "hi"`` (a local 400):
   the faithful client request, the error answer, the summary — written by the same writer;
2. ``jsonl-5`` — a chunk log with a line that is the JSON number ``5``;
3. ``bad-base64`` — a chunk whose ``b64`` is not base64, and a request body that is not either;
4. ``text-5`` — a chunk whose ``text`` is a number;
5. ``wrong-types`` — exchange.json with a wrong type in every field that has one;
6. ``request-list`` — client-request.json that is a list, exchange.json that is a string;
7. ``bad-blocks`` — a request whose messages and blocks are of every wrong type.

``hostile_session(root)`` makes a session of answers that cannot be sent as they are
(``ANSWER_SHAPES``), each to a request of its own (its user message is the shape's name), for
replay and export: no answer recorded, a head without a body, statuses no response can have,
headers no HTTP message can carry (CR LF, a NUL, non-Latin-1, a name with a space), mitmproxy's
HTML 502, a stream that is no SSE, binary bytes as JSON, times of 1e300 s and below zero.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import orjson

from inspector.recording import ExchangeMeta, RecordingStore

SHAPES = ("gateway-400", "jsonl-5", "bad-base64", "text-5", "wrong-types", "request-list", "bad-blocks")
#: Shape → whether replay can still answer with what was recorded (the rest must be an Anthropic error).
ANSWER_SHAPES = {
    "no-answer": False, "head-only": False, "status-99": False, "status-1000": False, "status-204": False,
    "html-502": False, "not-sse": False, "binary": False, "json-list": False, "empty-text": False,
    "bad-headers": True, "huge-times": True,
}
SSE_OK = (b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message",'
          b'"role":"assistant","model":"m","content":[],"stop_reason":null,"usage":{"input_tokens":1,'
          b'"output_tokens":0}}}\n\n')


def _exchange(store: RecordingStore, body: object, *, status: int = 200, chunks: tuple[bytes, ...] = (SSE_OK,),
              meta: dict | None = None):
    w = store.exchange(session_id="badshape-0000", id_source="header", client="claude-cli/2.1.328", kind="messages",
                       meta={"started": "2026-11-21T16:56:00.000000Z"})
    assert w is not None
    raw = orjson.dumps(body)
    w.requests({"method": "POST", "path": "/v1/messages", "url": "http://127.0.0.1:4000/v1/messages",
                "headers": [("content-type", "application/json")], "body": raw}, None)
    content_type = "text/event-stream" if chunks and chunks[0].startswith(b"event:") else "application/json"
    w.response_head("client", status, [("content-type", content_type)])
    for chunk in chunks:
        w.chunk("client", chunk)
    w.finish(cast(ExchangeMeta, meta or {"form": "ollama", "status": {"client": status, "backend": None}}))
    return w.path


def bad_session(root: Path) -> dict[str, Path]:
    """Write the session under ``root``; returns each shape's exchange folder."""
    store = RecordingStore(root)
    paths: dict[str, Path] = {}
    error = orjson.dumps({"type": "error", "error": {"type": "invalid_request_error",
                                                     "message": "messages: field required (a list of messages), "
                                                                "not a string \"hi\""}})
    paths["gateway-400"] = _exchange(
        store, {"model": "m", "max_tokens": 5, "messages": "hi"}, status=400, chunks=(error,),
        meta={"form": "ollama", "kind": "messages", "purpose": "main", "local": True, "stream": False,
              "model": {"requested": "", "backend": ""}, "status": {"client": 400, "backend": None},
              "timing_ms": {"backend_first_byte": None, "first_token": None, "total": 1.2}, "usage": {},
              "stop_reason": None, "tool_calls": [], "error": {"type": "error", "message": "invalid request"},
              "incomplete": None, "notes": [{"kind": "error", "message": "invalid request: messages…", "count": 1}]})
    good = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hello"}]}
    paths["jsonl-5"] = _exchange(store, good)
    with open(paths["jsonl-5"] / "client-response.jsonl", "ab") as f:
        f.write(b"5\n")
    paths["bad-base64"] = _exchange(store, good)
    with open(paths["bad-base64"] / "client-response.jsonl", "ab") as f:
        f.write(b'{"t": 0.2, "b64": "!!not base64!!"}\n')
    request = orjson.loads((paths["bad-base64"] / "client-request.json").read_bytes())
    request["body"] = {"encoding": "base64", "base64": "%%%"}
    (paths["bad-base64"] / "client-request.json").write_bytes(orjson.dumps(request))
    paths["text-5"] = _exchange(store, good)
    with open(paths["text-5"] / "client-response.jsonl", "ab") as f:
        f.write(b'{"t": "soon", "text": 5}\n{"t": 0.3, "status": "200", "headers": {"a": "b"}}\n')
    paths["wrong-types"] = _exchange(store, good, meta={
        "form": 5, "model": "m", "usage": [1, 2], "timing_ms": {"total": "slow", "first_token": [1]},
        "status": {"client": "200"}, "notes": [5, {"kind": "error"}, {"kind": "warning", "message": 7}],
        "tool_calls": "Write", "started": 5, "error": "bad", "complete": "yes", "stop_reason": 1,
        "chunks": [], "translate_options": "x", "seq": "one", "kind": 9, "redacted": {"x": "y"}})
    paths["request-list"] = _exchange(store, good)
    (paths["request-list"] / "client-request.json").write_bytes(b"[1, 2]")
    (paths["request-list"] / "exchange.json").write_bytes(b'"done"')
    paths["bad-blocks"] = _exchange(store, {
        "model": "m", "system": 5, "tools": "Write", "messages": [
            5, {"role": 7, "content": 9},
            {"role": "user", "content": [5, {"type": "text", "text": 5}, {"type": "image", "source": "x"},
                                         {"type": "tool_result", "tool_use_id": 1, "content": 3}]},
            {"role": "assistant", "content": [{"type": "tool_use", "name": 5, "input": "ls"},
                                              {"type": "thinking", "thinking": ["x"]}]}]},
        chunks=(b'{"type": "message", "content": "just text", "usage": 5, "error": "oops"}',))
    (root / next(iter(store.sessions.values()))[0].name / "session.json").write_bytes(b"[]")
    return paths


def _line(record: dict) -> bytes:
    return orjson.dumps(record) + b"\n"


def _answer_lines(shape: str) -> bytes | None:
    """The client-response.jsonl of one shape (None: no file at all)."""
    sse = [{"t": 0.01, "text": SSE_OK.decode()},
           {"t": 0.02, "text": 'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
                               '"content_block":{"type":"text","text":""}}\n\n'},
           {"t": 0.03, "text": 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
                               '"delta":{"type":"text_delta","text":"recorded answer"}}\n\n'},
           {"t": 0.04, "text": 'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
                               'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":'
                               '"end_turn"},"usage":{"output_tokens":2}}\n\nevent: message_stop\n'
                               'data: {"type":"message_stop"}\n\n'}]
    head = {"t": 0.0, "status": 200, "headers": [["content-type", "text/event-stream"]]}
    if shape == "no-answer":
        return None
    if shape == "head-only":
        return _line(head)
    if shape.startswith("status-"):
        return b"".join(_line(r) for r in [{**head, "status": int(shape.split("-")[1])}, *sse])
    if shape == "html-502":
        return _line({"t": 0.0, "status": 502, "headers": [["content-type", "text/html"]]}) + _line(
            {"t": 0.01, "text": "<html><body><h1>502 Bad Gateway</h1></body></html>"})
    if shape == "not-sse":
        return _line(head) + _line({"t": 0.01, "text": "hello, this is no event stream\n"})
    if shape == "binary":
        return _line({**head, "headers": [["content-type", "application/json"]]}) + _line(
            {"t": 0.01, "b64": "/9j/4AAQSkZJRgABAQAAAQABAAD//gA7"})
    if shape == "json-list":
        return _line({**head, "headers": [["content-type", "application/json"]]}) + _line({"t": 0.01, "text": "[1, 2]"})
    if shape == "empty-text":
        return _line(head) + _line({"t": 0.01, "text": ""})
    if shape == "bad-headers":
        bad = [["content-type", "text/event-stream"], ["bad name", "x"], [":colon", "x"], ["\u00fcml", "x"],
               ["x-crlf", "a\r\nx-injected: 1"], ["x-nul", "a\u0000b"], ["x-euro", "\u20ac"], ["", "empty"],
               ["content-encoding", "gzip"], ["content-length", "999"], ["transfer-encoding", "chunked"],
               ["request-id", "req_kept"]]
        return b"".join(_line(r) for r in [{**head, "headers": bad}, *sse])
    if shape == "huge-times":
        return b"".join(_line(r) for r in [head, *({**r, "t": 1e300 if i % 2 else -5.0} for i, r in enumerate(sse))])
    raise ValueError(shape)


def hostile_request(shape: str) -> dict:
    return {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": shape}]}


def hostile_session(root: Path) -> dict[str, Path]:
    """Write the session of ``ANSWER_SHAPES`` under ``root``; returns each shape's exchange folder."""
    store = RecordingStore(root)
    paths: dict[str, Path] = {}
    for shape in ANSWER_SHAPES:
        w = store.exchange(session_id="hostile-answers", id_source="header", client="claude-cli/2.1.328",
                           kind="messages", meta={"started": "2026-11-21T16:56:00.000000Z"})
        assert w is not None
        w.requests({"method": "POST", "path": "/v1/messages", "url": "http://127.0.0.1:4000/v1/messages",
                    "headers": [("content-type", "application/json")],
                    "body": orjson.dumps(hostile_request(shape))}, None)
        w.finish({"form": "anthropic", "status": {"client": 200, "backend": 200}, "stream": True,
                  "model": {"requested": "m", "backend": "m"}, "timing_ms": {"total": 40.0}})
        lines = _answer_lines(shape)
        if lines is not None:
            (w.path / "client-response.jsonl").write_bytes(lines)
        paths[shape] = w.path
    return paths
