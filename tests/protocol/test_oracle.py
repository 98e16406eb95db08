"""An oracle nobody here wrote (issue 20 §5): other implementations' published test cases for these
conversions — inputs and the outputs *they* expect — run through our translators.

The cases are data (tests/data/oracle/*.json; sources and licences in SOURCES.md). Each says what the
other implementation expects; a case where we differ on purpose carries ``by_design`` (the reason,
also in the README's "What gets translated" table) and ``ours`` — what we produce instead, so the
difference itself stays pinned. Expectations match as a subset: a key the source asserts must
match, a key it does not mention is free (sources assert partially; so do we).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from inspector.protocol import (
    InvalidRequest,
    OllamaStreamTranslator,
    OpenAIStreamTranslator,
    TranslateOptions,
    ollama_request,
    ollama_response,
    openai_request,
    openai_response,
    parse_request,
    stream_problems,
)
from inspector.testing.sdk import accumulate, cut_calls, feed_split, parse_message

ORACLE = Path(__file__).resolve().parent.parent / "data" / "oracle"
FILES = sorted(ORACLE.glob("*.json"))
CASES = [(f.stem, case) for f in FILES for case in json.loads(f.read_text())["cases"]]
OPTIONS = TranslateOptions(system_messages="merge")


def subset(expected: Any, actual: Any, where: str = "") -> list[str]:
    """Where ``actual`` differs from what ``expected`` asserts (dicts: only the keys it names)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {actual!r}"]
        return [p for k, v in expected.items() for p in
                (subset(v, actual[k], f"{where}.{k}") if k in actual else [f"{where}.{k}: missing"])]
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{where}: expected {len(expected)} items, got {actual!r}"]
        return [p for i, (e, a) in enumerate(zip(expected, actual, strict=True)) for p in subset(e, a, f"{where}[{i}]")]
    return [] if expected == actual else [f"{where}: expected {expected!r}, got {actual!r}"]


def _sse(chunks: list[Any]) -> bytes:
    return b"".join(b"data: " + (c.encode() if isinstance(c, str) else orjson.dumps(c)) + b"\n\n" for c in chunks)


def _message_view(msg: Any) -> dict[str, Any]:
    """An SDK Message as plain data: what the sources assert about an Anthropic answer."""
    content = []
    for b in msg.content:
        if b.type == "text":
            content.append({"type": "text", "text": b.text})
        elif b.type == "thinking":
            content.append({"type": "thinking", "thinking": b.thinking})
        elif b.type == "tool_use":
            content.append({"type": "tool_use", "id": b.id, "name": b.name, "input": b.input})
    usage = {k: v for k, v in msg.usage.model_dump().items() if isinstance(v, int)}
    return {"content": content, "stop_reason": msg.stop_reason, "stop_sequence": msg.stop_sequence, "usage": usage}


def run(case: dict[str, Any]) -> dict[str, Any]:
    """Our output for a case, in the shape its expectation is written in."""
    kind, data = case["kind"], case["input"]
    tools = case.get("tools")
    if kind in ("request-openai", "request-ollama"):
        try:
            req = parse_request(orjson.dumps(data))
        except InvalidRequest as e:
            return {"error": str(e)}
        build = openai_request if kind == "request-openai" else ollama_request
        body = build(req, model=data["model"], options=OPTIONS)
        return {**body, "notes": [n.rule or n.message for n in req.notes]}
    if kind == "openai-stream":
        raw = (ORACLE / data).read_bytes() if isinstance(data, str) else _sse(data)
        t = OpenAIStreamTranslator(model="claude-x", tools=tools)
        out = feed_split(t, raw)
        assert stream_problems(out) == [], out
        view = _message_view(accumulate(out))
        view["cut"] = cut_calls(out)
        if view["cut"]:  # the open block the answer was cut inside of: not a call (it is always last)
            view["content"] = view["content"][:-1]
        return view
    if kind == "ollama-stream":
        t = OllamaStreamTranslator(model="claude-x", tools=tools)
        out = feed_split(t, b"".join(orjson.dumps(line) + b"\n" for line in data))
        assert stream_problems(out) == [], out
        return _message_view(accumulate(out))
    if kind == "openai-whole":
        return _message_view(parse_message(openai_response(data, model="claude-x", tools=tools)))
    if kind == "ollama-whole":
        return _message_view(parse_message(ollama_response(data, model="claude-x", tools=tools)))
    raise AssertionError(f"unknown kind {kind}")


@pytest.mark.parametrize("source, case", CASES, ids=[f"{s}:{c['id']}" for s, c in CASES])
def test_other_implementations_expectations(source, case):
    got = run(case)
    if "by_design" in case:
        assert subset(case["ours"], got) == [], "the by-design difference changed: update the case and the README"
        assert subset(case["expect"], got), "we now agree with the source: drop by_design"
        return
    problems = subset(case["expect"], got)
    assert problems == [], problems


def test_every_by_design_difference_is_in_the_readme():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("## What gets translated", 1)[1].split("\n## ", 1)[0]
    for source, case in CASES:
        if "by_design" in case:
            assert case["readme"] in table, f"{source}:{case['id']}: README row {case['readme']!r} missing"


def test_the_corpus_is_big_enough_and_sourced():
    assert len(CASES) >= 60
    sources = (ORACLE / "SOURCES.md").read_text()
    for f in FILES:
        assert f"`{f.name}`" in sources, f"{f.name} has no row in SOURCES.md"
    assert all(c.get("source") for _, c in CASES)
