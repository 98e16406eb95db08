"""14.8: every malformed request is refused with ``InvalidRequest`` naming the field, every
well-formed one parses (and translates), and nothing else is ever raised.

The judge is ``inspector.testing.request_shapes.SPEC`` — the Messages API's request shape as a JSON
Schema, written from the API's types, independent of the parser."""

import orjson
import pytest
from hypothesis import HealthCheck, given, settings

from inspector.protocol import (
    InvalidRequest,
    TranslateOptions,
    count_tokens,
    ollama_request,
    openai_request,
    parse_request,
    validate_request,
)
from inspector.testing.profiles import examples
from inspector.testing.request_shapes import mutated_requests, names_a_problem, spec_problems, valid_requests

FUZZ = settings(max_examples=examples(400), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _judge(body) -> str:
    """'valid' or 'invalid', after checking the parser agrees with the spec on this body."""
    problems = spec_problems(body)
    raw = orjson.dumps(body)
    try:
        req = parse_request(raw)
    except InvalidRequest as e:
        assert problems, f"refused a request the API's shape accepts: {e}"
        assert names_a_problem(str(e), problems), f"{e!s} names none of {sorted(problems)}"
        return "invalid"
    assert not problems, f"accepted a malformed request (wrong: {sorted(problems)})"
    # What parses must also translate and count, for either backend form.
    ollama_request(req, model="m", options=TranslateOptions(num_ctx=4096))
    openai_request(parse_request(raw), model="m", options=TranslateOptions(reasoning_effort="auto"))
    assert count_tokens(raw)["input_tokens"] >= 1
    return "valid"


@FUZZ
@given(mutated_requests())
def test_mutated_requests_are_refused_naming_the_field_or_parse(body):
    _judge(body)


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_requests())
def test_every_request_of_the_apis_shape_parses_and_translates(body):
    assert _judge(body) == "valid"


BASE = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}


def _user(*blocks):
    return {**BASE, "messages": [{"role": "user", "content": list(blocks)}]}


def _assistant(*blocks):
    return {**BASE, "messages": [{"role": "user", "content": "go"}, {"role": "assistant", "content": list(blocks)}]}


@pytest.mark.parametrize("body, field", [
    # each of these answered HTTP 500 (or logged a traceback) before
    ({**BASE, "metadata": "user-1"}, "metadata: must be an object, not a string"),
    ({**BASE, "metadata": ["user-1"]}, "metadata: must be an object, not a list"),
    ({**BASE, "metadata": {"user_id": 5}}, "metadata.user_id: must be a string"),
    ({**BASE, "stop_sequences": 5}, "stop_sequences: must be a list of strings, not an integer 5"),
    ({**BASE, "stop_sequences": ["a", 5]}, "stop_sequences.1: must be a string"),
    (_user({"type": "image", "source": "QUJD"}), "messages.0.content.0.source: field required (an object"),
    (_user({"type": "document", "source": ["x"]}), "messages.0.content.0.source: field required (an object"),
    (_user({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": 5}}),
     "messages.0.content.0.source.data: field required (a string), not an integer 5"),
    (_assistant({"type": "thinking", "thinking": 5}), "messages.1.content.0.thinking: field required (a string)"),
    (_user({"type": "text", "text": 5}), "messages.0.content.0.text: field required (a string), not an integer"),
    (_user({"text": "no type"}), "messages.0.content.0.type: field required"),
    (_user({"type": 5}), "messages.0.content.0.type: field required (a string naming the block type), not an integer"),
    (_user("hi"), "messages.0.content.0: must be a content block"),
    (_user({"type": "tool_result", "tool_use_id": "t", "content": 5}), "messages.0.content.0.content: must be"),
    (_user({"type": "tool_result", "tool_use_id": "t", "content": [{"type": "image", "source": 1}]}),
     "messages.0.content.0.content.0.source"),
    (_assistant({"type": "tool_use", "id": "t", "name": "Bash", "input": "ls"}), "messages.1.content.0.input"),
    (_assistant({"type": "image", "source": "x"}), "messages.1.content.0.source"),
    ({**BASE, "messages": "hi"}, "messages: field required (a list of messages), not a string"),
    ({**BASE, "temperature": "hot"}, "temperature: must be a number"),
    ({**BASE, "top_k": 1.5}, "top_k: must be a non-negative integer"),
    ({**BASE, "stream": "yes"}, "stream: must be true or false"),
    ({**BASE, "tool_choice": {"type": "tool"}}, "tool_choice.name"),
    ({**BASE, "tool_choice": {"type": "sometimes"}}, "tool_choice.type: must be one of"),
    ({**BASE, "thinking": {"type": "enabled"}}, "thinking.budget_tokens"),
    ({**BASE, "tools": [{"name": "Bash", "input_schema": "object"}]}, "tools.0.input_schema"),
    ({**BASE, "tools": [{"name": "Bash", "type": 5}]}, "tools.0.type"),
    ({**BASE, "system": [{"type": "text", "text": None}]}, "system.0.text: field required"),
])
def test_each_malformed_field_is_named(body, field):
    with pytest.raises(InvalidRequest) as e:
        parse_request(orjson.dumps(body))
    assert str(e.value).startswith(field)
    with pytest.raises(InvalidRequest):
        validate_request(body)


def test_count_tokens_with_bad_metadata_is_an_invalid_request():
    with pytest.raises(InvalidRequest, match="^metadata: must be an object"):
        count_tokens(orjson.dumps({"model": "m", "messages": [], "metadata": "x"}))


def test_lenient_where_the_api_grows(claude_code_request):
    # optional fields may be null; block and tool types the API adds later pass, dropped with a note
    r = parse_request(orjson.dumps({**BASE, "temperature": None, "metadata": None, "stop_sequences": None,
                                    "messages": [{"role": "user", "content": [
                                        {"type": "search_result", "source": "anything", "content": []},
                                        {"type": "text", "text": "hi"}]}]}))
    assert any("search_result" in str(n) for n in r.notes)
    assert validate_request(claude_code_request)["model"]
