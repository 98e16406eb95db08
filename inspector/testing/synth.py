"""Synthetic sessions for edge cases, written by the real recording writer (RecordingStore).

Each exchange is a real Messages request and an SSE answer made by the project's own encoder,
recorded as the gateway records them; only the times and figures are chosen by the test.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import orjson

from inspector.protocol import MessageStreamEncoder
from inspector.recording import ExchangeMeta, RecordingStore, list_sessions
from inspector.recording._schema import utc_iso
from inspector.testing.samples import samples_dir

T0 = 1_795_000_000.0  # 2026-11-18, a fixed wall clock so screens do not depend on today
CLIENT = "claude-cli/2.1.328 (external, cli)"
SECRET = "sk-ant-api03-DO-NOT-LEAK-0123456789"


@dataclass
class Spec:
    """One exchange: when it started (seconds after T0), how it went, what it said."""

    at: float = 0.0
    ms: float = 20.0
    status: int = 200
    prompt: str = "Write 'hi' into hi.txt"
    answer: str = "Done."
    tool: tuple[str, dict[str, Any]] | None = None  # a tool call the answer makes
    tool_result: tuple[str, str, bool] | None = None  # (tool_use_id, content, is_error) the request carries
    system: str = "You are Claude Code."
    model: str = "claude-opus-5-5"
    backend_model: str = "qwen3:8b"
    purpose: str = "main"
    kind: str = "messages"
    error: tuple[str, str] | None = None  # (type, message) the client got
    rounds: int = 0  # earlier tool round trips the conversation carries before the prompt
    extra_meta: dict[str, Any] = field(default_factory=dict)
    notes: list[dict[str, Any]] = field(default_factory=list)


def request_body(spec: Spec) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    for n in range(spec.rounds):
        messages += [
            {"role": "user", "content": f"earlier request {n}"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": f"toolu_r{n}", "name": "Read",
                                               "input": {"file_path": f"f{n}.py"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"toolu_r{n}",
                                          "content": f"contents of f{n}.py"}]},
            {"role": "assistant", "content": f"earlier answer {n}"},
        ]
    messages.append({"role": "user", "content": spec.prompt})
    if spec.tool_result is not None:
        use_id, content, is_error = spec.tool_result
        messages += [
            {"role": "assistant", "content": [{"type": "tool_use", "id": use_id, "name": "Write",
                                               "input": {"file_path": "hi.txt", "content": "hi\n"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use_id, "content": content,
                                          "is_error": is_error}]},
        ]
    return {"model": spec.model, "max_tokens": 32000, "stream": True,
            "system": [{"type": "text", "text": spec.system}], "messages": messages,
            "tools": [{"name": "Write", "description": "write a file",
                       "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"},
                                                                          "content": {"type": "string"}}}}]}


def answer_stream(spec: Spec) -> bytes:
    enc = MessageStreamEncoder(model=spec.backend_model, input_tokens=42)
    out = enc.start()
    if spec.answer:
        out += enc.text(spec.answer)
    if spec.tool is not None:
        out += enc.tool_use("toolu_01synthetic", spec.tool[0], spec.tool[1])
    out += enc.finish(stop_reason="tool_use" if spec.tool else "end_turn", output_tokens=7)
    return out


def write_session(root: Path, specs: list[Spec], *, session_id: str = "5e55a0a0-1111-4222-8333-444455556666",
                  client: str = CLIENT) -> Path:
    store = RecordingStore(root)
    for spec in specs:
        body = request_body(spec)
        w = store.exchange(session_id=session_id, id_source="header", client=client, kind=spec.kind,
                           meta={"started": utc_iso(T0 + spec.at)})
        assert w is not None
        raw = orjson.dumps(body)
        w.requests({"method": "POST", "url": "http://127.0.0.1:4000/v1/messages?beta=true",
                    "path": "/v1/messages?beta=true",
                    "headers": [("content-type", "application/json"), ("x-api-key", SECRET),
                                ("user-agent", client)],
                    "body": raw, "content_type": "application/json", "json": body}, None)
        if spec.error is None:
            w.response_head("client", spec.status, [("content-type", "text/event-stream")])
            w.chunk("client", answer_stream(spec))
        else:
            w.response_head("client", spec.status, [("content-type", "application/json")])
            w.chunk("client", orjson.dumps({"type": "error", "error": {"type": spec.error[0],
                                                                         "message": spec.error[1]}}))
        w.finish(cast(ExchangeMeta, {  # with whatever extra_meta a test adds
            "form": "ollama", "purpose": spec.purpose, "mode": "reverse", "local": False, "stream": True,
            "client": client, "session_id": session_id,
            "model": {"requested": spec.model, "backend": spec.backend_model},
            "backend": "http://127.0.0.1:11434", "status": {"client": spec.status, "backend": spec.status},
            "timing_ms": {"backend_first_byte": spec.ms / 2, "first_token": spec.ms / 2, "total": spec.ms},
            "usage": {"input_tokens": 42, "output_tokens": 7} if spec.error is None else {},
            "stop_reason": ("tool_use" if spec.tool else "end_turn") if spec.error is None else None,
            "tool_calls": [{"name": spec.tool[0], "id": "toolu_01synthetic", "input": spec.tool[1]}]
            if spec.tool else [],
            "error": {"type": spec.error[0], "message": spec.error[1]} if spec.error else None,
            "incomplete": None, "notes": spec.notes, **spec.extra_meta,
        }))
    return store.sessions[session_id][0]


def retry_storm(root: Path) -> Path:
    """Claude Code retrying a gateway 502 for two minutes: 11 failures 12 s apart, then an answer."""
    specs = [Spec(at=12.0 * i, ms=5.0, status=502, error=("api_error", f"cannot reach the Ollama backend (try {i})"))
             for i in range(11)]
    specs.append(Spec(at=12.0 * 11, ms=900.0, answer="Finally.", tool=("Write", {"file_path": "hi.txt",
                                                                                  "content": "hi\n"})))
    return write_session(root, specs)


def with_repairs(tmp_path: Path) -> Path:
    """The sample tool round trip, as if the model had printed its call as text and sent a string number."""
    source = list_sessions(samples_dir())[1]
    shutil.copytree(source.path, tmp_path / source.name)
    first = sorted((tmp_path / source.name).glob("0001_*"))[0] / "exchange.json"
    meta = orjson.loads(first.read_bytes())
    meta["notes"] += [
        {"kind": "repaired", "message": "Write: the model printed the call as text (tool_call-tag) '<tool_call>…'; "
                                        "sent as a tool call", "count": 1, "rule": "text-call:tool_call-tag"},
        {"kind": "error", "message": "Write: (arguments): 'content' is a required property", "count": 1,
         "rule": "schema:missing-required"},
    ]
    first.write_bytes(orjson.dumps(meta))
    return tmp_path


def growing_session(turns: int = 40, grow: int = 3000) -> list[dict[str, Any]]:
    """The requests of a Claude Code session that grows like a real one: its real first request
    (tests/data, ≈50 KB), then each turn a tool round trip of about ``grow`` bytes more — a Read
    call and its result — with ``cache_control`` moving to the last block, as Claude Code moves it."""
    first = orjson.loads((Path(__file__).resolve().parents[2] / "tests" / "data" / "claude-code-request.json")
                         .read_bytes())
    messages: list[dict[str, Any]] = [dict(m) for m in first["messages"]]
    bodies = []
    for turn in range(turns):
        if turn:
            lines = "".join(f"{n:5}  line {n} of file {turn}: value = compute({turn}, {n})\n"
                            for n in range(grow // 60))
            messages.append({"role": "assistant", "content": [
                {"type": "text", "text": f"Let me read file {turn}."},
                {"type": "tool_use", "id": f"toolu_{turn:04d}", "name": "Read",
                 "input": {"file_path": f"/work/src/file{turn}.py"}}]})
            messages.append({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": f"toolu_{turn:04d}", "content": lines}]})
        marked = []
        for i, m in enumerate(messages):
            content = m["content"]
            if isinstance(content, list):
                content = [{k: v for k, v in b.items() if k != "cache_control"} for b in content]
                if i == len(messages) - 1:
                    content[-1] = {**content[-1], "cache_control": {"type": "ephemeral"}}
            marked.append({**m, "content": content})
        bodies.append({**first, "messages": marked})
    return bodies
