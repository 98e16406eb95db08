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
"""

from __future__ import annotations

from pathlib import Path

import orjson

from inspector.recording import RecordingStore

SHAPES = ("gateway-400", "jsonl-5", "bad-base64", "text-5", "wrong-types", "request-list", "bad-blocks")
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
    w.finish(meta or {"form": "ollama", "status": {"client": status, "backend": None}})
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
